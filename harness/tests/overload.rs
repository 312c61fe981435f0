//! Overload and recovery (issue 12): a chain whose capacity is known from its spec (one function,
//! one worker, 5 ms of CPU per request: at most 200 req/s) is driven at 50 req/s, then at twice
//! its capacity, then at half of it, on one deployment. Overload shows as counted errors; once
//! the load is back under capacity the errors stop within a stated time, latency returns to its
//! earlier level, and every pool slot (or queue-proxy place) comes back.
//!
//! The sweep's capacity is the backend's, not the load generator's pool (issue 13): with a pool
//! known to bind, the sweep measures the saturated point again on a larger pool.

mod common;

use common::*;
use dataplane_api::Deployment;
use harness::loadgen::{self, LoadResult, Progress};
use harness::results::Percentiles;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use workloads::{Arrival, LoadProfile, Pattern};

const SPEC: &str = "name = \"capacity-200\"\n\
    [[functions]]\nid = 1\nname = \"work\"\nhandler = \"synthetic\"\nworkers = 1\nparams = { work_ns = 5000000 }\n\
    [[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"work\"]\npayload_bytes = 64\n";

/// After the overload, the seconds of the recovery phase that may still see errors (the backlog
/// the overload left, which the function still works off).
const ERRORS_STOP_WITHIN_S: usize = 6;
/// Seconds of the recovery phase, at half the capacity.
const RECOVERY_S: usize = 10;

fn drive(d: &dyn Deployment, chain: &workloads::Chain, rate: f64, secs: f64) -> LoadResult {
    let mut spec = harness::run::load_spec(chain, &d.endpoint());
    spec.profile = LoadProfile {
        pattern: Pattern::Open { arrival: Arrival::Constant, rate },
        duration_s: secs,
        warmup_s: 0.0,
        connections: 256,
        timeout_ms: 1000,
        seed: 1,
    };
    loadgen::run(&spec, &AtomicBool::new(false), &Progress::default()).unwrap()
}

/// Everything the deployment holds for requests is free again: pool slots, or the queue-proxies'
/// places (waited for: the function may still be working off requests the client gave up on).
fn wait_until_drained(d: &dyn Deployment, backend: &str) {
    let t0 = Instant::now();
    loop {
        let cs = d.counters();
        let busy = if backend == "knative" {
            let qp = |c: &str| c.starts_with("qp-");
            counter_sum(&cs, qp, "queue_in_flight") + counter_sum(&cs, qp, "queue_waiting")
        } else {
            counter(&cs, "pool", "slots") - counter(&cs, "pool", "free_slots")
        };
        if busy == 0 {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{backend}: {busy} requests still held 20 s after the load");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn overload_and_recovery(backend: &str, opts: &[&str]) {
    let _g = serial();
    let chain = workloads::parse_chain(SPEC, std::path::Path::new("capacity-200.toml")).unwrap();
    let dir = scratch("overload");
    let d = try_deploy(backend, &chain, &dir, opts).unwrap();
    let base = drive(&*d, &chain, 50.0, 3.0);
    assert_eq!(base.recorder.error_total(), 0, "{backend}: errors under capacity");
    let base_p50 = Percentiles::of(&base.recorder.overall).p50_us;

    let over = drive(&*d, &chain, 400.0, 4.0);
    let r = &over.recorder;
    assert!(r.error_total() > 0, "{backend}: twice the capacity without an error?");
    assert!(r.ok_total() as f64 <= 4.0 * 200.0 * 1.1, "{backend}: {} ok in 4 s, above the capacity", r.ok_total());

    let rec = drive(&*d, &chain, 100.0, RECOVERY_S as f64);
    // Seconds are counted by completion: responses to the last requests may complete after the
    // run's last second (at a p50 of 10 ms, the one sent at 9.99 s does), in a partial second
    // of their own that is not a second of the recovery.
    let seconds = &rec.recorder.seconds[..rec.recorder.seconds.len().min(RECOVERY_S)];
    let last_error = seconds.iter().rposition(|s| s.errors > 0);
    eprintln!(
        "{backend}: baseline p50 {base_p50:.0} us; errors in recovery seconds {:?}",
        seconds.iter().map(|s| s.errors).collect::<Vec<_>>()
    );
    assert!(
        last_error.is_none_or(|i| i < ERRORS_STOP_WITHIN_S),
        "{backend}: errors still in second {last_error:?} of the recovery"
    );
    let tail: Vec<&loadgen::record::Second> = seconds.iter().skip(seconds.len().saturating_sub(3)).collect();
    assert!(tail.iter().all(|s| s.ok >= 80), "{backend}: the last seconds serve the offered 100 req/s");
    let mut h = tail[0].latency.clone();
    for s in &tail[1..] {
        h.add(&s.latency).unwrap();
    }
    let tail_p50 = h.value_at_quantile(0.5) as f64 / 1000.0;
    assert!(
        tail_p50 <= 3.0 * base_p50 + 2000.0,
        "{backend}: p50 {tail_p50:.0} us at the end of the recovery, {base_p50:.0} us before the overload"
    );
    wait_until_drained(&*d, backend);
    let exits = d.teardown();
    assert!(exits.iter().all(|e| !e.died_during_run), "{backend}: {exits:?}");
}

#[test]
fn s_spright_recovers_from_overload() {
    overload_and_recovery("s-spright", &[]);
}

/// With back-off polling: on 2 cores, busy pollers would take the cores the function's 5 ms of
/// work needs, and the chain would have no known capacity.
#[test]
fn d_spright_recovers_from_overload() {
    overload_and_recovery("d-spright", &["poll=backoff"]);
}

#[test]
fn knative_model_recovers_from_overload() {
    overload_and_recovery("knative", &[]);
}

/// The sleepy chain of the pool-check tests (sixteen workers sleeping 2 ms a request: 8,000
/// req/s), with `extra` lines at the top, in a fresh chains directory; and the sweep of its one
/// point at 3,000 req/s on 4 connections.
fn sleepy_sweep(extra: &str, out: &std::path::Path) -> Vec<harness::results::Summary> {
    let chains = scratch("pool-check-chains");
    std::fs::create_dir_all(&chains).unwrap();
    std::fs::write(
        chains.join("sleepy.toml"),
        format!(
            "name = \"sleepy\"\n{extra}[[functions]]\nid = 1\nname = \"wait\"\nhandler = \"synthetic\"\nworkers = 16\n\
             params = {{ sleep_ns = 2000000 }}\n[[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"wait\"]\npayload_bytes = 64\n"
        ),
    )
    .unwrap();
    let args = ["--chains", "sleepy", "--backends", "s-spright", "--connections", "4", "--start-rate", "3000"];
    sweep(
        &[&args[..], &["--max-points", "1", "--refine", "1", "--duration", "1", "--warmup", "0.3"]].concat(),
        &chains,
        out,
    )
}

/// Four connections carry at most 2,000 req/s of the sleepy chain (a request holds its
/// connection 2 ms or more), sixteen 8,000. At 3,000 req/s the first point saturates on 4
/// connections; the pool check measures it again on 16, where it holds, and on 4 once more,
/// where it saturates again: the sweep says the limit was the pool's.
#[test]
fn the_sweep_tells_a_binding_pool_from_the_backend() {
    let _g = serial();
    let out = scratch("pool-check");
    let rows = sleepy_sweep("", &out);
    let sweep = out.join("sweep");
    let got: Vec<(Option<f64>, u64, bool)> =
        rows.iter().map(|s| (s.offered_rps, s.connections, harness::sweep::saturated(s))).collect();
    assert_eq!(got, [(Some(3000.0), 4, true), (Some(3000.0), 4, true), (Some(3000.0), 16, false)], "{rows:?}");
    assert!(rows[0].achieved_rps <= 2000.0 * 1.05, "4 connections carried {} req/s", rows[0].achieved_rps);
    let md = std::fs::read_to_string(sweep.join("summary.md")).unwrap();
    assert!(md.contains("16 connections reached") && md.contains("and 4 again saturated"), "{md}");
    assert!(md.contains("the limit was the pool's\n"), "{md}");
    for point in ["sleepy-s-spright-3000-c16", "sleepy-s-spright-3000-again"] {
        assert!(sweep.join("points").join(point).join("manifest.json").is_file(), "{point}");
    }
}

/// The same saturated point on a chain of 4 pool slots: S-SPRIGHT admits 4 requests at once, so
/// 16 connections could only turn waits into refusals, and the pool is not checked; the summary
/// and `reproduce.json` say why.
#[test]
fn the_sweep_checks_no_pool_beyond_what_the_backend_admits() {
    let _g = serial();
    let out = scratch("pool-cap");
    let rows = sleepy_sweep("pool_slots = 4\n", &out);
    let got: Vec<(Option<f64>, u64, bool)> =
        rows.iter().map(|s| (s.offered_rps, s.connections, harness::sweep::saturated(s))).collect();
    assert_eq!(got, [(Some(3000.0), 4, true)], "{rows:?}");
    let md = std::fs::read_to_string(out.join("sweep/summary.md")).unwrap();
    assert!(
        md.contains("(at most 1024; 4 for sleepy on s-spright, as the backend's pool slots admit at once)"),
        "{md}"
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep/reproduce.json")).unwrap()).unwrap();
    assert_eq!(meta["pool_caps"][0]["connections"], 4, "{meta}");
}
