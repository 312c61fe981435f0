//! The golden Online Boutique session (`workloads/tests/boutique/`): a request list replayed in
//! order and the replies `scripts/golden-boutique.py` wrote for it, read here once for the tests
//! of every crate (the reference's and every backend's).

use std::path::{Path, PathBuf};

/// One line of `requests.txt`: `NAME METHOD PATH USER BODY` (`-` for no identity / no body).
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub method: String,
    pub path: String,
    pub user: String,
    pub body: String,
}

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boutique")
}

/// The session's requests, in order.
pub fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("requests.txt")).expect("tests/boutique/requests.txt");
    let dash = |s: &str| if s == "-" { String::new() } else { s.to_string() };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 5, "requests.txt: {l:?} is not NAME METHOD PATH USER BODY");
            Case { name: f[0].into(), method: f[1].into(), path: f[2].into(), user: dash(f[3]), body: dash(f[4]) }
        })
        .collect()
}

/// The golden reply of case `name`: its status, and the reply with the digest as 16 dots.
pub fn reply(name: &str) -> (u16, Vec<u8>) {
    let path = dir().join(format!("replies/{name}.reply"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let nl = text.iter().position(|&b| b == b'\n').expect("a status line");
    let status = std::str::from_utf8(&text[5..nl]).ok().and_then(|s| s.parse().ok()).expect("HTTP <status>");
    (status, text[nl + 1..].to_vec())
}

/// `reply` with its digest's 16 hex digits as dots (the golden files cannot know them: the
/// digest hashes the request state's bytes).
pub fn masked(reply: &[u8]) -> Vec<u8> {
    let mut r = reply.to_vec();
    if r.starts_with(b"digest=") && r.len() >= 23 {
        r[7..23].fill(b'.');
    }
    r
}
