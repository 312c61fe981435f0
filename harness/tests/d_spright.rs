//! D-SPRIGHT specifics, run for real as root: the polling contrast (idle CPU next to
//! S-SPRIGHT's in the same test), clear EAL failures, and cleanup of DPDK state.

mod common;

use common::*;
use dataplane_api::{Deployment, Role};
use harness::loadgen::http::request_once;
use std::process::Command;
use std::time::{Duration, Instant};

fn deploy(backend: &str, name: &str) -> (Box<dyn Deployment>, Scratch) {
    let dir = scratch(backend);
    (common::deploy(backend, &chain(name), &dir), dir)
}

/// The paper's central contrast, both figures from one test: with no load, every D-SPRIGHT
/// poller burns a core (as many as the machine has), S-SPRIGHT burns nothing.
#[test]
fn idle_pollers_burn_cores_while_sk_msg_sleeps() {
    let _g = serial();
    let (s, _sdir) = deploy("s-spright", "synthetic-2");
    let s_pct = cpu_pct_until(&*s, |p| p < 1.0);
    s.teardown();
    let (d, _ddir) = deploy("d-spright", "synthetic-2");
    let addr = d.endpoint().addr;
    assert_eq!(request_once(addr, "/pipe", &addr.to_string(), b"x").unwrap().0, 200);
    let pollers = d.components().iter().filter(|c| matches!(c.role, Role::Function | Role::Gateway)).count();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let expect = 100.0 * pollers.min(cores) as f64;
    let d_pct = cpu_pct_until(&*d, |p| p > 0.8 * expect);
    d.teardown();
    eprintln!("idle CPU: s-spright {s_pct:.2}%, d-spright {d_pct:.1}% ({pollers} pollers, {cores} cores)");
    assert!(s_pct < 1.0, "s-spright idle {s_pct:.2}%");
    assert!(d_pct > 0.8 * expect, "d-spright idle {d_pct:.1}%, expected about {expect}% (a core per poller)");
}

fn component(args: &[&str]) -> (bool, String, Duration) {
    let t0 = Instant::now();
    let out = Command::new(exe()).args(["component", "d-spright"]).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string(), t0.elapsed())
}

/// EAL failures end the process quickly with a message that says what to check; no hang.
#[test]
fn eal_failures_are_clear_errors() {
    let _g = serial();
    let chain = chain_path("synthetic-2");
    let chain = format!("--chain={}", chain.display());
    // A secondary whose primary does not exist.
    let (ok, err, took) =
        component(&["function", &chain, "--pool=/nonexistent", "--chain-id=1", "--prefix=sbnoprimary", "--id=1"]);
    assert!(!ok && took < Duration::from_secs(20), "took {took:?}");
    assert!(err.contains("EAL init failed") && err.contains("primary"), "{err}");
    // No hugepages where the primary is told to look.
    let (ok, err, took) = component(&[
        "gateway",
        &chain,
        "--pool=/nonexistent",
        "--chain-id=1",
        "--prefix=sbnohuge",
        "--eal-extra=--huge-dir=/nonexistent",
    ]);
    assert!(!ok && took < Duration::from_secs(20), "took {took:?}");
    assert!(err.contains("EAL init failed") && err.contains("hugepages"), "{err}");
    // A failed EAL init still creates its runtime directory.
    for p in ["sbnoprimary", "sbnohuge"] {
        let _ = std::fs::remove_dir_all(std::path::Path::new("/var/run/dpdk").join(p));
    }
    // A ring that the (running) primary never created.
    let (d, _dir) = deploy("d-spright", "synthetic-2");
    let gw = d.components()[0].pid;
    let get = |flag: &str| format!("{flag}{}", arg_value(gw, flag.trim_end_matches('=')));
    let (ok, err, took) =
        component(&["function", &chain, &get("--pool="), "--chain-id=999", &get("--prefix="), "--id=1"]);
    assert!(!ok && took < Duration::from_secs(20), "took {took:?}");
    assert!(err.contains("ring sb-999-1 not found"), "{err}");
    d.teardown();
}

/// After teardown no process, DPDK runtime directory or hugepage file of the run remains; the
/// state of a run killed outright is removed by the next deployment.
#[test]
fn teardown_removes_dpdk_state() {
    let _g = serial();
    let (d, _dir) = deploy("d-spright", "synthetic-2");
    let gw = d.components()[0].pid;
    let prefix = arg_value(gw, "--prefix");
    assert!(
        std::path::Path::new("/var/run/dpdk").join(&prefix).exists(),
        "the primary's runtime dir exists while deployed"
    );
    let pids: Vec<u32> = d.components().iter().map(|c| c.pid).collect();
    d.teardown();
    for p in pids {
        assert!(!harness::run::pid_alive(p), "pid {p} alive");
    }
    assert!(!std::path::Path::new("/var/run/dpdk").join(&prefix).exists(), "runtime dir left");
    let left: Vec<String> = std::fs::read_dir("/dev/hugepages")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "hugepage files left: {left:?}");
    // Leftovers of a dead run (a pid that is gone) are removed by the next deployment.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale_dir = std::path::Path::new("/var/run/dpdk").join(format!("sbd{dead}c1"));
    std::fs::create_dir_all(&stale_dir).unwrap();
    let (d, _dir2) = deploy("d-spright", "synthetic-2");
    assert!(!stale_dir.exists(), "stale DPDK runtime dir not removed");
    d.teardown();
}

/// The opt-in back-off mode is labelled in the placement every output records, and idles far
/// below a core per poller.
#[test]
fn backoff_mode_is_opt_in_and_labelled() {
    let _g = serial();
    let d = try_deploy("d-spright", &chain("synthetic-2"), &scratch("bo"), &["poll=backoff"]).unwrap();
    assert!(d.placement().contains("BACK-OFF"), "{}", d.placement());
    let addr = d.endpoint().addr;
    assert_eq!(request_once(addr, "/pipe", &addr.to_string(), b"x").unwrap().0, 200);
    let pollers = d.components().len() as f64;
    let pct = cpu_pct_until(&*d, |p| p < 0.5 * 100.0 * pollers.min(2.0));
    d.teardown();
    eprintln!("back-off idle CPU: {pct:.1}% for {pollers} pollers");
    assert!(pct < 0.5 * 100.0 * pollers.min(2.0), "back-off pollers idle at {pct:.1}% CPU");
    let d_spright = harness::registry::get("d-spright").unwrap();
    let err = harness::registry::options(d_spright, &["poll=lazy".into()]).unwrap_err().to_string();
    assert_eq!(err, "--backend-opt poll=lazy: use busy or backoff");
}

/// The rte_mempool option (`pool=mempool`): the same request protocol over slots
/// in a DPDK mempool answers exactly what the reference execution gives, reports where its
/// slots live, and leaves no DPDK state behind.
#[test]
fn mempool_option_serves_like_the_reference() {
    let _g = serial();
    for name in ["synthetic-2", "call-tree"] {
        let chain = chain(name);
        let dir = scratch("mp");
        let d = try_deploy("d-spright", &chain, &dir, &["pool=mempool"]).unwrap();
        assert!(d.placement().contains("rte_mempool"), "{}", d.placement());
        let addr = d.endpoint().addr;
        for route in &chain.routes {
            for body in [b"".to_vec(), vec![5u8; 4000]] {
                let (status, got) = request_once(addr, &format!("/{}", route.name), &addr.to_string(), &body).unwrap();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&got));
                assert_eq!(got, workloads::reference::execute(&chain, route, &body).unwrap(), "{name}/{}", route.name);
            }
        }
        let big = vec![0u8; chain.max_body_bytes + 1];
        assert_eq!(request_once(addr, &format!("/{}", chain.routes[0].name), &addr.to_string(), &big).unwrap().0, 413);
        let gw = d.components()[0].pid;
        let prefix = arg_value(gw, "--prefix");
        let exits = d.teardown();
        assert!(exits.iter().all(|e| !e.died_during_run), "{exits:?}");
        assert!(!std::path::Path::new("/var/run/dpdk").join(&prefix).exists(), "runtime dir left");
    }
    let d_spright = harness::registry::get("d-spright").unwrap();
    let err = harness::registry::options(d_spright, &["pool=heap".into()]).unwrap_err().to_string();
    assert_eq!(err, "--backend-opt pool=heap: use shm or mempool");
}
