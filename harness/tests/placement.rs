//! `--placement` (issue 13): every thread of every process runs where the policy says, on every
//! backend; the load generator too; a bad map is an error before anything starts.

mod common;

use common::*;
use dataplane_api::{Deployment, Placement};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn deploy_with(backend: &str, chain: &workloads::Chain, placement: &str, opts: &[&str]) -> Box<dyn Deployment> {
    let placement = Placement::parse(placement, vec![0, 1]).unwrap();
    try_deploy_placed(backend, chain, &scratch("placement"), opts, placement)
        .unwrap_or_else(|e| panic!("{backend}: {e}"))
}

/// Each component's threads all have the CPUs `want` gives for its name.
fn check(backend: &str, d: &dyn Deployment, want: impl Fn(&str) -> &'static str) {
    let mut seen = BTreeMap::new();
    for c in d.components() {
        let cpus = thread_cpus(c.pid);
        assert!(!cpus.is_empty(), "{backend}: {} has no threads?", c.name);
        for t in &cpus {
            assert_eq!(t, want(&c.name), "{backend}: a thread of {} ({} threads: {cpus:?})", c.name, cpus.len());
        }
        seen.insert(c.name.clone(), cpus.len());
    }
    assert!(seen.len() >= 3, "{backend}: {seen:?}");
}

/// `paper` on 2 CPUs: the gateway side (Knative's ingress and activator too) on CPU 0, every
/// function and its queue-proxy on CPU 1, for every thread of every process.
#[test]
fn paper_placement_on_every_backend() {
    let _g = serial();
    let chain = chain("synthetic-2");
    for (backend, opts) in
        [("s-spright", &[][..]), ("d-spright", &["poll=backoff"][..]), ("grpc", &[][..]), ("knative", &[][..])]
    {
        let d = deploy_with(backend, &chain, "paper", opts);
        let addr = d.endpoint().addr;
        let host = d.endpoint().host.unwrap_or_else(|| addr.to_string());
        let (status, _) = harness::loadgen::http::request_once(addr, "/pipe", &host, b"x").unwrap();
        assert_eq!(status, 200, "{backend}");
        check(backend, &*d, |name| if name.starts_with("fn-") || name.starts_with("qp-") { "1" } else { "0" });
        d.teardown();
    }
}

/// `one-core` puts every thread on CPU 0; a map pins what it names and leaves the rest alone.
#[test]
fn one_core_and_maps() {
    let _g = serial();
    let chain = chain("synthetic-2");
    let d = deploy_with("s-spright", &chain, "one-core", &[]);
    check("s-spright", &*d, |_| "0");
    d.teardown();
    let d = deploy_with("s-spright", &chain, "gateway=1,fn1=0", &[]);
    check("s-spright", &*d, |name| match name {
        "gateway" => "1",
        "fn-1-first" => "0",
        _ => "0-1",
    });
    d.teardown();
}

/// A run under `paper` pins the load generator's thread to CPU 0 and records every process's
/// CPUs in the manifest and summary.
#[test]
fn runs_record_where_everything_ran() {
    let _g = serial();
    let mut chain = chain("synthetic-2");
    workloads::LoadOverrides { rate: Some(200.0), duration_s: Some(1.0), warmup_s: Some(0.2), ..Default::default() }
        .apply(&mut chain.load)
        .unwrap();
    let mut opts = run_options("s-spright", chain);
    opts.placement = Placement::parse("paper", vec![0, 1]).unwrap();
    let outcome = harness::run::run(&opts, &Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!((outcome.summary.errors, outcome.summary.placement.as_str()), (0, "paper"));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("manifest.json")).unwrap()).unwrap();
    let cpus = &m["placement"]["cpus"];
    assert_eq!(m["placement"]["policy"], "paper");
    assert_eq!(
        (&cpus["loadgen"], &cpus["gateway"], &cpus["fn-1-first"], &cpus["fn-2-second"]),
        (&serde_json::json!("0"), &serde_json::json!("0"), &serde_json::json!("1"), &serde_json::json!("1"))
    );
    let md = std::fs::read_to_string(outcome.dir.join("summary.md")).unwrap();
    assert!(md.contains("Placement: policy `paper` over CPUs 0-1") && md.contains("loadgen 0"), "{md}");
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}

/// `reproduce --placement none --placement paper` runs the sweep under each and compares
/// backends only within one placement.
#[test]
fn reproduce_sweeps_each_placement() {
    let _g = serial();
    let out = scratch("reproduce-placement");
    let args = ["--chains", "synthetic-2", "--backends", "s-spright,grpc", "--start-rate", "200", "--max-points", "1"];
    let when = ["--duration", "0.5", "--warmup", "0.2", "--placement", "none", "--placement", "paper"];
    let rows = sweep(&[&args[..], &when].concat(), chain_path("synthetic-2").parent().unwrap(), &out);
    let sweep = out.join("sweep");
    let got: Vec<(&str, &str)> = rows.iter().map(|r| (r.backend.as_str(), r.placement.as_str())).collect();
    assert_eq!(got, [("s-spright", "none"), ("grpc", "none"), ("s-spright", "paper"), ("grpc", "paper")]);
    let md = std::fs::read_to_string(sweep.join("summary.md")).unwrap();
    assert!(
        md.contains("## synthetic-2, placement `none`") && md.contains("## synthetic-2, placement `paper`"),
        "{md}"
    );
    assert_eq!(md.matches("grpc vs s-spright, side by side").count(), 2, "one comparison per placement: {md}");
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sweep.join("points/synthetic-2-s-spright-200-paper/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["placement"]["cpus"]["fn-1-first"], "1");
}

/// S-SPRIGHT's `sched=batch` puts every thread of every function (not the gateway) under
/// SCHED_BATCH, as procfs shows it; the default leaves them under SCHED_OTHER.
#[test]
fn s_spright_function_workers_can_run_as_batch() {
    let _g = serial();
    let policies = |pid: u32| -> Vec<String> {
        tasks(pid)
            .iter()
            .map(|t| {
                let sched = std::fs::read_to_string(t.join("sched")).unwrap_or_default();
                sched
                    .lines()
                    .find(|l| l.starts_with("policy"))
                    .map_or("?".into(), |l| l.split(':').nth(1).unwrap().trim().to_string())
            })
            .collect()
    };
    let chain = chain("synthetic-2");
    for (opts, function_policy) in [(&[][..], "0"), (&["sched=batch"][..], "3")] {
        let dir = scratch("sched");
        let d = try_deploy("s-spright", &chain, &dir, opts).unwrap();
        for c in d.components() {
            let want = if c.name.starts_with("fn-") { function_policy } else { "0" };
            let got = policies(c.pid);
            assert!(got.iter().all(|p| p == want), "{opts:?}: {} threads have policies {got:?}, want {want}", c.name);
        }
        let addr = d.endpoint().addr;
        assert_eq!(harness::loadgen::http::request_once(addr, "/pipe", "x", b"x").unwrap().0, 200);
        d.teardown();
    }
}
