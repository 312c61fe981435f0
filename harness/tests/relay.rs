//! Option `function-runtime=relay` of every SPRIGHT backend: bare relays in the functions'
//! places (`spright::relay`), the per-hop floor of `scripts/per-hop.sh`.

mod common;

use common::*;
use harness::loadgen::http::request_once;

/// FNV-1a 64 started from its offset basis 0xcbf29ce484222325 and continued over route id 1 as
/// two little-endian bytes (01 00), with no visit folded in (README, "Clients and the gateway
/// protocol"); worked out by hand with the FNV prime 0x100000001b3, and equal to what
/// `python3 -c` over the same bytes gives.
const ROUTE_1_ALONE: &str = "digest=082f2207b4e88cc4 visits=0 route=1\n";

/// Every request goes through five relays untouched and comes back: the reply has no visits,
/// the digest of its route id alone and the body as sent, where SPRIGHT's function runtime
/// would have folded in five visits and replaced the body. On s-spright the program counted
/// one message per request into each function and the gateway (a relay that skipped its
/// successor would show); every slot is free again and none was refused.
fn relays_pass_requests_along_the_pipeline(backend: &str) {
    let _g = serial();
    let chain = chain("synthetic-5");
    let dir = scratch("relay");
    let d = try_deploy(backend, &chain, &dir, &["function-runtime=relay"])
        .unwrap_or_else(|e| panic!("deploy synthetic-5 with relays on {backend}: {e}"));
    let addr = d.endpoint().addr;
    let n = 20;
    for i in 0..n {
        let body = format!("request {i}");
        let (status, got) = request_once(addr, "/pipe", "x", body.as_bytes()).unwrap();
        assert_eq!(status, 200, "{backend}: {}", String::from_utf8_lossy(&got));
        assert_eq!(String::from_utf8_lossy(&got), format!("{ROUTE_1_ALONE}{body}"), "{backend}");
    }
    let cs = d.counters();
    assert_eq!(counter(&cs, "pool", "free_slots"), counter(&cs, "pool", "slots"), "{backend}: a slot is held");
    assert_eq!(counter(&cs, "pool", "bad_descriptors"), 0, "{backend}");
    if backend == "s-spright" {
        for f in &chain.functions {
            let got = counter(&cs, &format!("fn-{}-{}", f.id, f.name), "ebpf_messages");
            assert_eq!(got, n, "{backend}: messages into {}", f.name);
        }
        assert_eq!(counter(&cs, "gateway", "ebpf_messages"), n, "{backend}: messages into the gateway");
    }
    let exits = d.teardown();
    assert!(exits.iter().all(|e| !e.died_during_run), "{backend}: {exits:?}");
}

/// A call tree cannot be relayed: refused before any process starts, saying why.
fn call_trees_are_refused(backend: &str) {
    let dir = scratch("relay-refused");
    let e = try_deploy(backend, &chain("call-tree"), &dir, &["function-runtime=relay"]).err().expect("refused");
    assert!(e.to_string().contains("is a call tree"), "{backend}: {e}");
    assert!(pids_with(&dir.display().to_string()).is_empty(), "{backend}: a process started");
}

/// Every SPRIGHT backend, one after the other.
const SPRIGHT: [&str; 3] = ["s-spright", "d-spright", "u-spright"];

#[test]
fn relays_pass_requests_along_the_pipeline_on_every_spright_backend() {
    SPRIGHT.into_iter().for_each(relays_pass_requests_along_the_pipeline);
}

#[test]
fn call_trees_are_refused_on_every_spright_backend() {
    SPRIGHT.into_iter().for_each(call_trees_are_refused);
}
