//! The reference execution against golden replies written by `scripts/golden-replies.py`, which
//! shares no code with this crate (it reimplements the digest and reply format from the README
//! and walks hand-derived visit sequences). A wrong handler, digest or step machine changes the
//! reference execution and every backend alike; only an independent oracle catches it.

use std::path::Path;

/// The request body of each golden case (the script's `CASES`).
fn body(case: &str) -> Vec<u8> {
    match case {
        "empty" => Vec::new(),
        "hello" => b"hello".to_vec(),
        "sevens" => vec![7u8; 3000],
        other => panic!("unknown golden case {other}"),
    }
}

#[test]
fn reference_execution_equals_the_golden_replies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for chain_dir in std::fs::read_dir(root.join("tests/golden")).unwrap().flatten() {
        let name = chain_dir.file_name().to_string_lossy().to_string();
        let chain = workloads::load_chain(&root.join("chains").join(format!("{name}.toml"))).unwrap();
        for f in std::fs::read_dir(chain_dir.path()).unwrap().flatten() {
            let file = f.file_name().to_string_lossy().to_string();
            let (route, case) = file.trim_end_matches(".reply").rsplit_once('-').unwrap();
            let route = chain.route_by_key(route).unwrap_or_else(|| panic!("{name}: no route {route}"));
            let got = workloads::reference::execute(&chain, route, &body(case)).unwrap();
            let want = std::fs::read(f.path()).unwrap();
            assert_eq!(got, want, "{name}/{file}: the reference execution differs from the golden reply");
            checked += 1;
        }
    }
    // Every shipped chain of synthetic functions, every route, three bodies.
    assert_eq!(checked, 27, "golden cases found");
}
