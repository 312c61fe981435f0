// Compiles a tiny C probe of include/spright_desc.h so the layout test can compare the C view of
// the descriptor with the Rust one.
fn main() {
    println!("cargo:rerun-if-changed=include/spright_desc.h");
    println!("cargo:rerun-if-changed=src/layout_probe.c");
    cc::Build::new().file("src/layout_probe.c").include("include").compile("spright_layout_probe");
}
