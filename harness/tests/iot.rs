//! The paper's IoT chains on the backends that matter for them (issue 11): parking's bursts of
//! 164 concurrent uploads, and motion's sparse trace, which finds Knative's functions scaled to
//! zero while S-SPRIGHT's stay warm at no CPU cost.

mod common;

use common::*;
use harness::run::run;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use workloads::LoadOverrides;

/// The parking chain's burst (issue 11): 164 concurrent uploads, 9:1 across the routes, all
/// succeed; functions with 32 workers queue the rest (the Knative model: at each queue-proxy's
/// containerConcurrency 32).
fn parking_burst_all_succeed(backend: &str) {
    let _g = serial();
    let mut chain = chain("parking");
    LoadOverrides { duration_s: Some(1.0), ..Default::default() }.apply(&mut chain.load).unwrap();
    let outcome = run(&run_options(backend, chain), &Arc::new(AtomicBool::new(false))).unwrap();
    let s = &outcome.summary;
    assert_eq!((s.ok, s.errors), (164, 0), "{backend}: one burst of 164");
    let latency = harness::figures::read_csv(&outcome.dir.join("latency.csv")).unwrap();
    let ok = |r: &str| -> u64 { latency.iter().find(|x| x["route"] == r).map_or(0, |x| x["ok"].parse().unwrap()) };
    assert!((5..=35).contains(&ok("a")), "route a got {} of 164 (weight 1 in 10)", ok("a"));
    assert_eq!(ok("a") + ok("b"), 164);
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}

#[test]
fn parking_burst_on_s_spright() {
    parking_burst_all_succeed("s-spright");
}

#[test]
fn parking_burst_on_the_knative_model() {
    parking_burst_all_succeed("knative");
}

/// Motion driven by a short trace with two idle gaps ten times the (shortened) grace period.
fn motion_run(backend: &str) -> harness::run::RunOutcome {
    let chain = chain("motion");
    // The spec's 30 s and 60 s, compressed by its 0.1, are 3 s and 6 s: shortened to 0.3 s and 1 s.
    let chain = chain_with(&chain, "scale-to-zero-grace-period = \"30s\"", "scale-to-zero-grace-period = \"3s\"");
    let mut chain = chain_with(&chain, "stable-window = \"60s\"", "stable-window = \"10s\"");
    assert_eq!(chain.scale_to_zero_grace, std::time::Duration::from_millis(300));
    let trace = scratch("motion-trace.txt");
    std::fs::write(&trace, "# two events, 3 s idle, two, 3 s idle, one\n0\n0.05\n3\n3.05\n6\n").unwrap();
    let mut replay = LoadOverrides { trace: Some(trace.to_path_buf()), duration_s: Some(7.0), ..Default::default() };
    (replay.time_scale, replay.warmup_s) = (Some(1.0), Some(0.0));
    replay.apply(&mut chain.load).unwrap();
    let outcome = run(&run_options(backend, chain), &Arc::new(AtomicBool::new(false))).unwrap();
    let _ = std::fs::remove_file(trace);
    outcome
}

#[test]
fn motion_after_idle_gaps_is_cold_on_the_knative_model() {
    let _g = serial();
    let outcome = motion_run("knative");
    let s = &outcome.summary;
    assert_eq!((s.ok, s.errors), (5, 0));
    assert!(s.cold_starts >= 2, "events after each idle gap wait for an instance: {}", s.cold_starts);
    let rows = harness::figures::read_csv(&outcome.dir.join("cold_starts.csv")).unwrap();
    let us = |r: &std::collections::BTreeMap<String, String>, k: &str| r[k].parse::<f64>().unwrap();
    const PHASES: [&str; 5] = ["scheduling_us", "process_start_us", "readiness_us", "routing_us", "forwarding_us"];
    for r in &rows {
        let sum: f64 = PHASES.iter().map(|p| us(r, p)).sum();
        assert!((sum - us(r, "total_us")).abs() < 1.0, "phases add up to the total: {r:?}");
    }
    // After each idle gap (the events at 0, 3 and 6 s) both functions start again, and the
    // request that found each at zero waited for its process to start. A later request that
    // joined a start in progress counts only the phases left (on a slow machine the event at
    // 0.05 s reaches the actuator after its process is up, so its process start is zero).
    for service in ["fn1-motion-sensor", "fn2-motion-actuator"] {
        for t in [0.0, 3.0, 6.0] {
            let first = rows
                .iter()
                .filter(|r| r["service"] == service && (t..t + 1.0).contains(&us(r, "at_s")))
                .min_by(|a, b| us(a, "at_s").total_cmp(&us(b, "at_s")));
            let first = first.unwrap_or_else(|| panic!("no cold start of {service} after {t} s: {rows:?}"));
            assert!(us(first, "process_start_us") > 0.0, "{service} at {t} s: process start recorded: {rows:?}");
        }
    }
    // Every request is in requests.csv; those right after an idle gap (at 3 s and 6 s) waited.
    let reqs = harness::figures::read_csv(&outcome.dir.join("requests.csv")).unwrap();
    assert_eq!(reqs.len(), 5);
    let cold_at = |t: f64| {
        let r = reqs.iter().find(|r| (r["sent_s"].parse::<f64>().unwrap() - t).abs() < 0.01);
        r.unwrap_or_else(|| panic!("no request sent at {t} s: {reqs:?}"))["cold"] == "1"
    };
    assert!(cold_at(3.0) && cold_at(6.0), "{reqs:?}");
    let marked = reqs.iter().filter(|r| r["cold"] == "1").count() as u64;
    assert_eq!(s.cold_requests, marked);
    assert!(s.p50_cold_us > 1000.0, "a cold request waits for processes to start: {} us", s.p50_cold_us);
    // The figure of every request (Fig. 11's shape), its cold ones marked.
    let svg = std::fs::read_to_string(outcome.dir.join("requests.svg")).unwrap();
    assert!(svg.contains("waited for a cold start") && svg.contains("queue-proxies"), "requests.svg");
    assert!(std::fs::metadata(outcome.dir.join("requests.png")).unwrap().len() > 1000);
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}

#[test]
fn motion_on_s_spright_stays_warm_at_no_cost() {
    let _g = serial();
    let outcome = motion_run("s-spright");
    let s = &outcome.summary;
    assert_eq!((s.ok, s.errors, s.cold_starts), (5, 0, 0));
    // Seven seconds, five requests: the warm chain (64 workers blocked in recv, an idle
    // gateway) used under 1.5% of one core.
    assert!(s.sut_cpu_s < 0.1, "idle CPU of a warm S-SPRIGHT chain: {} CPU-s in 7 s", s.sut_cpu_s);
    assert!(s.sut_pss_mib > 0.0, "memory of the warm chain is reported: {}", s.sut_pss_mib);
    // Per function: its idle CPU and memory; no request waited.
    assert!(s.fn_cpu_pct < 1.0 && s.fn_pss_mib > 0.0, "one warm function: {}% CPU, {} MiB", s.fn_cpu_pct, s.fn_pss_mib);
    assert!(s.fn_pss_mib < s.sut_pss_mib, "{} of {}", s.fn_pss_mib, s.sut_pss_mib);
    let reqs = harness::figures::read_csv(&outcome.dir.join("requests.csv")).unwrap();
    assert_eq!((reqs.len(), s.cold_requests), (5, 0));
    assert!(reqs.iter().all(|r| r["cold"] == "0" && r["ok"] == "1"), "{reqs:?}");
    assert_eq!(s.p50_warm_us, s.p50_us, "every request is warm");
    assert!(s.p50_cold_us.is_nan());
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}

/// `--prewarm` (issue 11): bursts 4 s apart with a 2 s grace period find the functions scaled
/// to zero, unless every function is woken up at the start and 1 s before each burst.
#[test]
fn prewarm_keeps_bursts_off_cold_starts() {
    let _g = serial();
    let chain =
        chain_with(&chain("cold-start"), "scale-to-zero-grace-period = \"1s\"", "scale-to-zero-grace-period = \"2s\"");
    let mut cold = Vec::new();
    for prewarm in [None, Some(1.0)] {
        let mut c = chain.clone();
        let mut bursts = LoadOverrides { pattern: Some("burst".into()), burst_size: Some(2), ..Default::default() };
        (bursts.burst_every_s, bursts.duration_s, bursts.warmup_s) = (Some(4.0), Some(9.0), Some(0.0));
        bursts.apply(&mut c.load).unwrap();
        let mut opts = run_options("knative", c);
        opts.prewarm_lead_s = prewarm;
        let outcome = run(&opts, &Arc::new(AtomicBool::new(false))).unwrap();
        assert_eq!((outcome.summary.ok, outcome.summary.errors), (6, 0));
        let md = std::fs::read_to_string(outcome.dir.join("summary.md")).unwrap();
        assert_eq!(md.contains("Prewarm: every function woken up at 0.0, 3.0, 7.0 s"), prewarm.is_some(), "{md}");
        cold.push(outcome.summary.cold_starts);
        std::fs::remove_dir_all(&outcome.dir).unwrap();
    }
    assert!(cold[0] >= 2, "without prewarm the later bursts are cold: {cold:?}");
    assert_eq!(cold[1], 0, "with prewarm none is: {cold:?}");
}

/// Parking's uploads are the JPEG its spec names, byte for byte, on both routes.
#[test]
fn parking_uploads_its_jpeg() {
    let chain = chain("parking");
    let endpoint = dataplane_api::Endpoint { addr: "127.0.0.1:9".parse().unwrap(), host: None };
    let spec = harness::run::load_spec(&chain, &endpoint);
    let jpeg = std::fs::read(chain_path("parking").with_file_name("../payloads/parking.jpg")).unwrap();
    assert_eq!(jpeg.len(), 3734);
    assert!(spec.routes.iter().all(|r| r.3 == jpeg), "every route sends the JPEG");
}
