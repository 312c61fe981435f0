//! Starting one S-SPRIGHT function on demand in a running chain (`spright-bench cold-start`):
//! the request waits in the parked function's socket, the function starts when it is there,
//! and the phases account for the whole latency the client saw.

mod common;

use common::*;
use std::time::Duration;

/// A parked function's request is delivered into its socket (counted by the eBPF program, not
/// dropped) and waits there, unanswered, until the function's process is started; then it is
/// answered as before, by a new process.
#[test]
fn a_parked_function_keeps_its_requests_until_it_starts() {
    let _g = serial();
    let chain = chain("cold-start");
    let dir = scratch("park");
    let mut d = deploy("s-spright", &chain, &dir);
    let addr = d.endpoint().addr;
    let post = move || harness::loadgen::http::request_once(addr, "/pipe", "x", b"hello").unwrap();
    let (status, warm) = post();
    assert_eq!(status, 200);
    let pid_of =
        |d: &dyn dataplane_api::Deployment| d.components().iter().find(|c| c.name == "fn-2-second").map(|c| c.pid);
    let before = pid_of(&*d).expect("second runs");

    d.park("second").unwrap();
    assert_eq!(pid_of(&*d), None, "parked: no process");
    assert!(!harness::run::pid_alive(before), "the old process is gone");
    let client = std::thread::spawn(post);
    wait_for("the request to reach the parked function's socket", 10, || {
        counter(&d.counters(), "fn-2-second", "ebpf_messages") == 1
    });
    assert!(!client.is_finished(), "nobody may answer while the function is parked");

    let a = d.start_parked("second", Duration::from_secs(10)).unwrap();
    assert!(a.spawn <= a.process_ready && a.process_ready == a.proxy_ready, "{a:?}");
    let (status, cold) = client.join().unwrap();
    assert_eq!((status, &cold), (200, &warm), "the same reply as before parking");
    let after = pid_of(&*d).expect("second runs again");
    assert_ne!(after, before);
    let cs = d.counters();
    assert_eq!(counter(&cs, "node", "ebpf_dropped_unknown_destination"), 0);
    assert_eq!(counter(&cs, "node", "ebpf_returned_to_gateway"), 0, "it queued for the parked function");
    let exits = d.teardown();
    assert!(exits.iter().all(|e| !e.died_during_run), "{exits:?}");
    assert!(!harness::run::pid_alive(after));
}

/// Backends that cannot tell when a request waits for a stopped function say so and leave the
/// function running.
#[test]
fn backends_without_a_mailbox_refuse_to_park() {
    let _g = serial();
    let chain = chain("cold-start");
    for backend in ["d-spright", "knative"] {
        let dir = scratch("nopark");
        let opts: &[&str] = if backend == "d-spright" { &["poll=backoff"] } else { &[] };
        let mut d = try_deploy(backend, &chain, &dir, opts).unwrap();
        let before = d.components();
        let e = d.park("second").unwrap_err();
        assert!(matches!(e, dataplane_api::DeployError::Unsupported(_)), "{backend}: {e}");
        assert_eq!(d.components(), before, "{backend}: nothing stopped");
        d.teardown();
    }
}

/// The driver's measurement: every round is a cold start with its phases, they add up to the
/// total, and the total agrees with the latency the client timed on its own clock.
#[test]
fn cold_start_rounds_account_for_the_client_latency() {
    let _g = serial();
    let out = scratch("coldstart");
    let o = harness::coldstart::ColdStartOptions {
        backend: "s-spright".into(),
        backend_options: backend_options("s-spright", &[]),
        chain: chain("cold-start"),
        function: "second".into(),
        route: None,
        rounds: 3,
        out: out.to_path_buf(),
        exe: exe(),
        command_line: vec!["test".into()],
        ready_timeout: Duration::from_secs(20),
    };
    let outcome = harness::coldstart::measure(&o, &std::sync::atomic::AtomicBool::new(false)).unwrap();
    assert_eq!(outcome.rounds.len(), 3);
    assert!(outcome.leftovers.is_empty());
    for r in &outcome.rounds {
        let c = &r.cold;
        assert_eq!(c.service, "second");
        assert!(c.scheduling_us > 0.0, "the process started after the request was sent: {c:?}");
        assert!(c.process_start_us > 0.0 && c.forwarding_us > 0.0, "{c:?}");
        assert_eq!((c.readiness_us, c.routing_us), (0.0, 0.0));
        let sum = c.scheduling_us + c.process_start_us + c.readiness_us + c.routing_us + c.forwarding_us;
        assert!((sum - c.total_us).abs() < 1.0, "phases {sum} vs total {}", c.total_us);
        assert!((c.total_us - r.client_cold_us).abs() < 1000.0, "total {} vs client {}", c.total_us, r.client_cold_us);
        assert!(r.client_warm_us < r.client_cold_us, "{r:?}");
    }
    let rows = harness::figures::read_csv(&outcome.dir.join("cold_starts.csv")).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        csv_header(&outcome.dir.join("cold_starts.csv")).join(","),
        "at_s,service,scheduling_us,process_start_us,readiness_us,routing_us,forwarding_us,total_us",
        "the Knative model's columns"
    );
    assert_eq!(harness::figures::read_csv(&outcome.dir.join("rounds.csv")).unwrap().len(), 3);
    let md = std::fs::read_to_string(outcome.dir.join("summary.md")).unwrap();
    assert!(md.contains("process start") && md.contains("Target"), "{md}");
}

/// Bad input is a clear error before anything is deployed.
#[test]
fn cold_start_rejects_unknown_functions_and_routes() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(exe())
            .arg("cold-start")
            .arg("--chain")
            .arg(chain_path("cold-start"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(&["--function", "nope", "--out", scratch("cs").to_str().unwrap()]);
    assert!(e.contains("no function \"nope\"") && e.contains("first, second"), "{e}");
    let e = run(&["--function", "second", "--route", "nope", "--out", scratch("cs").to_str().unwrap()]);
    assert!(e.contains("no route \"nope\""), "{e}");
    let e = run(&["--function", "second", "--rounds", "0", "--out", scratch("cs").to_str().unwrap()]);
    assert!(e.contains("--rounds must be > 0"), "{e}");
}

/// A parked function with a receive queue per worker starts for a request in any of its
/// queues, not only the first. The pool hands out slot 0 first; a request held in `slow` keeps
/// slot 0, so the next request takes slot 1 and waits in queue 1 of `second` (slot % 2).
#[test]
fn a_parked_function_with_per_worker_queues_starts_for_a_request_in_any_queue() {
    let _g = serial();
    let text = r#"
name = "park-queues"
description = "a function that holds a slot beside a parked two-queue function"
functions = [
  { id = 1, name = "slow", handler = "synthetic", params = { sleep_ns = 1000000000 } },
  { id = 2, name = "second", handler = "synthetic", workers = 2 },
]
routes = [
  { name = "hold", kind = "pipeline", functions = ["slow"] },
  { name = "pipe", kind = "pipeline", functions = ["second"] },
]
"#;
    let chain = workloads::parse_chain(text, std::path::Path::new("park-queues.toml")).unwrap();
    let dir = scratch("parkq");
    let mut d = try_deploy("s-spright", &chain, &dir, &["queues=per-worker"]).unwrap();
    let addr = d.endpoint().addr;
    let post = move |route: &str| harness::loadgen::http::request_once(addr, route, "x", b"hello").unwrap().0;
    assert_eq!(post("/pipe"), 200);
    d.park("second").unwrap();
    let holder = std::thread::spawn(move || post("/hold"));
    wait_for("the holding request to reach slow", 10, || counter(&d.counters(), "fn-1-slow", "ebpf_messages") == 1);
    let client = std::thread::spawn(move || post("/pipe"));
    wait_for("the request to reach the parked function", 10, || {
        counter(&d.counters(), "fn-2-second", "ebpf_messages") == 1
    });
    d.start_parked("second", Duration::from_secs(5)).expect("started for a request in its second queue");
    assert_eq!((client.join().unwrap(), holder.join().unwrap()), (200, 200));
    let exits = d.teardown();
    assert!(exits.iter().all(|e| !e.died_during_run), "{exits:?}");
}
