// Compiles bpf/sk_msg.bpf.c with clang (Debian package `clang`, plus `libbpf-dev` for
// bpf_helpers.h) into an eBPF object embedded in the binary. No prebuilt object is kept in git.
// Also compiles a C probe of bpf/spright_counters.h for the layout test in src/node.rs.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("sk_msg.bpf.o");
    let shm_include = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../shm/include");
    println!("cargo:rerun-if-changed=bpf/sk_msg.bpf.c");
    println!("cargo:rerun-if-changed=bpf/spright_counters.h");
    println!("cargo:rerun-if-changed=bpf/layout_probe.c");
    println!("cargo:rerun-if-changed=../shm/include/spright_desc.h");
    cc::Build::new().file("bpf/layout_probe.c").include("bpf").compile("spright_counters_probe");
    // asm/types.h lives under the multiarch include directory on Debian.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => other,
    };
    let status = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{arch}"))
        .arg(format!("-I{}", shm_include.display()))
        .args(["-c", "bpf/sk_msg.bpf.c", "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("clang failed to compile bpf/sk_msg.bpf.c ({s})"),
        Err(e) => panic!("cannot run clang ({e}); install clang and libbpf-dev (scripts/setup.sh)"),
    }
}
