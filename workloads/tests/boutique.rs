//! Online Boutique's reference execution against the golden replies of
//! `scripts/golden-boutique.py`, which shares no code with the project: it reimplements the
//! services' logic and the page format from their documentation, and counts visits from the
//! call graphs by hand. A wrong conversion, Luhn check, fan-out or page changes the reference
//! execution and every backend alike; only this oracle catches it.

use workloads::boutique::golden;
use workloads::reference::Reference;

#[test]
fn reference_execution_equals_the_golden_session() {
    let chain =
        workloads::load_chain(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chains/online-boutique.toml"))
            .unwrap();
    let reference = Reference::new(&chain);
    let cases = golden::cases();
    for c in &cases {
        let got = reference.request(&c.method, &c.path, &c.user, c.body.as_bytes()).unwrap();
        let (status, want) = golden::reply(&c.name);
        assert_eq!(
            (got.status, golden::masked(&got.body)),
            (status, want.clone()),
            "{}: reference differs from the golden reply\n got: {}\nwant: {}",
            c.name,
            String::from_utf8_lossy(&got.body),
            String::from_utf8_lossy(&want)
        );
    }
    assert_eq!(cases.len(), 31);
}
