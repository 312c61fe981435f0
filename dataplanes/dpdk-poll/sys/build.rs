// Finds the system DPDK with pkg-config (Debian: libdpdk-dev, installed by scripts/setup.sh) and
// compiles the C shim against it. The crates.io `dpdk-sys` binds a much older DPDK and does not
// build against 22.11, hence this crate.
use std::process::Command;

fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config").args(args).arg("libdpdk").output();
    match out {
        Ok(o) if o.status.success() => {
            String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect()
        }
        _ => panic!("pkg-config cannot find libdpdk: install libdpdk-dev and pkg-config (scripts/setup.sh)"),
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    let mut build = cc::Build::new();
    build.file("src/shim.c").warnings(false);
    let cflags = pkg_config(&["--cflags"]);
    let mut it = cflags.iter();
    while let Some(f) = it.next() {
        if let Some(dir) = f.strip_prefix("-I") {
            build.include(dir);
        } else if f == "-include" {
            if let Some(h) = it.next() {
                build.flag("-include").flag(h);
            }
        } else {
            build.flag(f);
        }
    }
    build.compile("sb_dpdk_shim");
    for f in pkg_config(&["--libs-only-L"]) {
        if let Some(dir) = f.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }
    for lib in ["rte_mempool", "rte_ring", "rte_eal"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}
