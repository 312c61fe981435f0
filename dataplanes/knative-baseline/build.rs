// Generates the gRPC function service from proto/chain.proto (needs `protoc`, Debian package
// protobuf-compiler, installed by scripts/setup.sh).
fn main() {
    println!("cargo:rerun-if-changed=proto/chain.proto");
    if let Err(e) = tonic_prost_build::compile_protos("proto/chain.proto") {
        panic!("cannot compile proto/chain.proto ({e}); is protoc installed? run scripts/setup.sh");
    }
}
