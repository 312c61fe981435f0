//! The Knative model's own behaviour (issue 5): the path is real (every hop through the ingress
//! and a queue-proxy), containerConcurrency queues, scale to zero and back through the
//! activator with the cold start recorded, clear errors for bad input, and `knative-remote`
//! measuring a chain through an ingress URL. The behaviour shared with every backend
//! (reference responses, results files, a function killed mid-run) is in `backends.rs`.

mod common;

use common::*;
use dataplane_api::{Counter, Deployment, Role};
use harness::loadgen::http::request_once;
use harness::run::{pid_alive, run};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workloads::LoadOverrides;

fn deploy(chain: &workloads::Chain, dir: &std::path::Path) -> Box<dyn Deployment> {
    common::deploy("knative", chain, dir)
}

/// The sum of the samples of metric `name` that carry `label`, whatever the component.
fn labelled(cs: &[Counter], name: &str, label: &str) -> u64 {
    cs.iter().filter(|c| c.name.split('{').next() == Some(name) && c.name.contains(label)).map(|c| c.value).sum()
}

/// A chain spec from a shipped one with extra TOML appended (knobs, handler parameters).
fn custom_chain(base: &str, edit: impl Fn(String) -> String) -> workloads::Chain {
    let text = edit(std::fs::read_to_string(chain_path(base)).unwrap());
    workloads::parse_chain(&text, &chain_path(base)).unwrap()
}

/// synthetic-2 whose first function holds each request `sleep_ns`, with `[knative]` knobs.
fn slow_first(sleep_ns: u64, knobs: &str) -> workloads::Chain {
    custom_chain("synthetic-2", |t| {
        t.replacen("params = { work_ns = 1000 }", &format!("params = {{ work_ns = 1000, sleep_ns = {sleep_ns} }}"), 1)
            + "\n[knative]\n"
            + knobs
    })
}

/// `n` requests on the chain's first route at once, each from its own client; their replies.
fn at_once(d: &dyn Deployment, n: usize, body: &'static [u8]) -> Vec<(u16, Vec<u8>)> {
    let ep = d.endpoint();
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let ep = ep.clone();
            std::thread::spawn(move || request_once(ep.addr, "/pipe", ep.host.as_deref().unwrap(), body).unwrap())
        })
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).collect()
}

fn post(d: &dyn Deployment, route: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let ep = d.endpoint();
    request_once(ep.addr, &format!("/{route}"), ep.host.as_deref().unwrap(), body).unwrap()
}

/// Ingress count = client requests + calls between services; every call also passes exactly
/// one queue-proxy; nothing goes through the activator while every service is warm.
#[test]
fn every_hop_goes_through_the_ingress_and_a_queue_proxy() {
    let _g = serial();
    for name in ["synthetic-5", "call-tree"] {
        let chain = chain(name);
        let dir = scratch("kn-path");
        let d = deploy(&chain, &dir);
        let n = 20u64;
        let mut calls = 0u64; // gateway -> first function, and function -> function
        let mut visits_of = std::collections::HashMap::new();
        for i in 0..n {
            let route = &chain.routes[i as usize % chain.routes.len()];
            let (status, body) = post(&*d, &route.name, b"x");
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            calls += route.nodes.len() as u64;
            for node in &route.nodes {
                *visits_of.entry(node.func).or_insert(0u64) += 1;
            }
        }
        let cs = d.counters();
        let ingress = counter_sum(&cs, |c| c == "ingress", "ingress_requests_total");
        assert_eq!(ingress, n + calls, "{name}: ingress saw {ingress}, expected {n} client requests + {calls} calls");
        let gw = knative_baseline::names::gateway_service(&chain);
        assert_eq!(labelled(&cs, "ingress_requests_total", &format!("host=\"{gw}.")), n);
        assert_eq!(counter_sum(&cs, |c| c == "qp-gateway", "queue_requests_total"), n);
        for f in &chain.functions {
            let want = visits_of.get(&f.id).copied().unwrap_or(0);
            let qp = format!("qp-{}-{}", f.id, f.name);
            assert_eq!(counter_sum(&cs, |c| c == qp, "queue_requests_total"), want, "{name}: {qp}");
        }
        assert_eq!(counter_sum(&cs, |c| c == "activator", "activator_cold_waits_total"), 0);
        let roles: Vec<Role> = d.components().iter().map(|c| c.role).collect();
        for r in [Role::Ingress, Role::Activator, Role::Gateway, Role::Sidecar, Role::Function] {
            assert!(roles.contains(&r), "{name}: no {r} process");
        }
        d.teardown();
    }
}

/// target-burst-capacity -1 keeps the activator in the path of warm services (Knative's
/// setting for absorbing bursts); it forwards every call and holds none.
#[test]
fn target_burst_capacity_minus_one_keeps_the_activator_in_the_path() {
    let _g = serial();
    let chain = custom_chain("synthetic-2", |t| t + "\n[knative]\ntarget-burst-capacity = -1\n");
    let dir = scratch("kn-tbc");
    let d = deploy(&chain, &dir);
    for _ in 0..5 {
        assert_eq!(post(&*d, &chain.routes[0].name, b"b").0, 200);
    }
    let cs = d.counters();
    for f in &chain.functions {
        let svc = knative_baseline::names::function_service(&chain, f);
        assert_eq!(labelled(&cs, "activator_requests_total", &format!("service=\"{svc}\"")), 5, "{svc}");
    }
    let gw = knative_baseline::names::gateway_service(&chain);
    assert_eq!(
        labelled(&cs, "activator_requests_total", &format!("service=\"{gw}\"")),
        0,
        "the gateway is always direct"
    );
    assert_eq!(counter_sum(&cs, |c| c == "activator", "activator_cold_waits_total"), 0);
    d.teardown();
}

/// containerConcurrency 1 and two requests at once: the second waits in the queue-proxy (its
/// metrics show it), and both succeed.
#[test]
fn container_concurrency_queues_the_second_request() {
    let _g = serial();
    let chain = slow_first(300_000_000, "containerConcurrency = 1\n");
    let dir = scratch("kn-cc");
    let d = deploy(&chain, &dir);
    let want = workloads::reference::execute(&chain, &chain.routes[0], b"q").unwrap();
    let t0 = Instant::now();
    for (status, body) in at_once(&*d, 2, b"q") {
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(body, want);
    }
    assert!(t0.elapsed() >= Duration::from_millis(600), "two 300 ms requests with concurrency 1 ran in parallel");
    let cs = d.counters();
    let first = &chain.functions[0];
    let qp = format!("qp-{}-{}", first.id, first.name);
    assert_eq!(counter_sum(&cs, |c| c == qp, "queue_waited_total"), 1, "{cs:?}");
    assert_eq!(counter_sum(&cs, |c| c == qp, "queue_rejected_total"), 0);
    assert_eq!(counter_sum(&cs, |c| c == qp, "queue_container_concurrency"), 1);
    d.teardown();
}

/// Instances of function 1 (its process and any scaled-up ones, `fn-1-first.N`).
fn first_function_instances(d: &dyn Deployment) -> usize {
    d.components().iter().filter(|c| c.role == Role::Function && c.name.starts_with("fn-1-")).count()
}

/// Scale-up beyond one instance, and the max-scale cap (issue 12): with containerConcurrency 1
/// and eight clients at once, the autoscaler wants ceil(8 / 0.7) = 12 instances of the first
/// function; max-scale 3 caps it at 3. Every request succeeds meanwhile.
#[test]
fn concurrency_scales_a_service_up_to_its_max_scale() {
    let _g = serial();
    let chain = slow_first(50_000_000, "containerConcurrency = 1\nmax-scale = 3\nstable-window = \"2s\"\n");
    let dir = scratch("kn-scale");
    let d = deploy(&chain, &dir);
    assert_eq!(first_function_instances(&*d), 1);
    let stop = Arc::new(AtomicBool::new(false));
    let ep = d.endpoint();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (stop, ep) = (stop.clone(), ep.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    statuses.push(request_once(ep.addr, "/pipe", ep.host.as_deref().unwrap(), b"s").unwrap().0);
                }
                statuses
            })
        })
        .collect();
    let t0 = Instant::now();
    let mut most = 0;
    while t0.elapsed() < Duration::from_secs(30) {
        most = most.max(first_function_instances(&*d));
        if most >= 3 && t0.elapsed() > Duration::from_secs(5) {
            break; // at the cap, and held there a while past the stable window
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses: Vec<u16> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert_eq!(most, 3, "instances of the first function: at most {most}, max-scale 3");
    assert!(statuses.iter().all(|&s| s == 200), "every request succeeds while scaling: {statuses:?}");
    assert!(statuses.len() > 100, "{} requests", statuses.len());
    let cs = d.counters();
    let served: Vec<u64> = (0..3)
        .map(|i| {
            let qp = if i == 0 { "qp-1-first".to_string() } else { format!("qp-1-first.{i}") };
            counter_sum(&cs, |c| c == qp, "queue_requests_total")
        })
        .collect();
    assert!(served.iter().all(|&n| n > 0), "every instance took requests: {served:?}");
    d.teardown();
}

/// The queue-proxy's limits (issue 12): with containerConcurrency 1 its queue holds 10 more
/// requests and it answers the next with 503; a request longer than timeoutSeconds gets 504.
/// Either reaches the client as a failed request with the queue-proxy's reason.
#[test]
fn queue_proxy_overflow_is_503_and_timeout_is_504() {
    let _g = serial();
    let chain = slow_first(400_000_000, "containerConcurrency = 1\ntimeoutSeconds = 3\n");
    let dir = scratch("kn-limits");
    let d = deploy(&chain, &dir);
    // 1 running + 10 queued fill it; 4 more are turned away.
    let replies = at_once(&*d, 15, b"q");
    let failed: Vec<String> =
        replies.iter().filter(|r| r.0 != 200).map(|r| String::from_utf8_lossy(&r.1).to_string()).collect();
    let cs = d.counters();
    let rejected = counter_sum(&cs, |c| c == "qp-1-first", "queue_rejected_total");
    let timeouts = counter_sum(&cs, |c| c == "qp-1-first", "queue_timeouts_total");
    // 400 ms each, one at a time: those queued behind more than seven others pass timeoutSeconds.
    assert_eq!(rejected, 4, "{failed:?}");
    assert!(timeouts >= 1, "requests queued past timeoutSeconds time out: {failed:?}");
    assert_eq!(failed.len() as u64, rejected + timeouts, "{failed:?}");
    assert_eq!(failed.iter().filter(|m| m.contains("queue full")).count() as u64, rejected, "{failed:?}");
    d.teardown();
}

fn function_pids(d: &dyn Deployment) -> Vec<u32> {
    d.components().iter().filter(|c| c.role == Role::Function).map(|c| c.pid).collect()
}

/// min-scale 0: no function runs until a request comes; the activator holds it while the
/// function and its queue-proxy start; after the grace period they are gone again, and the next
/// request is a cold start again. Each one is recorded with its phases.
#[test]
fn scale_to_zero_and_back_through_the_activator() {
    let _g = serial();
    let chain =
        custom_chain("synthetic-2", |t| t + "\n[knative]\nmin-scale = 0\nscale-to-zero-grace-period = \"600ms\"\n");
    let dir = scratch("kn-zero");
    let d = deploy(&chain, &dir);
    assert!(function_pids(&*d).is_empty(), "min-scale 0 starts no function");
    let route = &chain.routes[0];
    let want = workloads::reference::execute(&chain, route, b"cold").unwrap();
    let mut seen = Vec::new();
    for round in 1..=2 {
        let t0 = Instant::now();
        let (status, body) = post(&*d, &route.name, b"cold");
        let latency = t0.elapsed();
        assert_eq!(status, 200, "round {round}: {}", String::from_utf8_lossy(&body));
        assert_eq!(body, want);
        let pids = function_pids(&*d);
        assert_eq!(pids.len(), chain.functions.len(), "round {round}: every function was started");
        let cold = d.cold_starts();
        assert_eq!(cold.len(), round * chain.functions.len(), "round {round}: {cold:?}");
        // The phases add up by construction; the evidence is how their sum compares with the
        // latency the client saw: within it, and most of it (the first function's cold start
        // contains the second's, and the rest of the path is a few proxy hops).
        let seen_us = latency.as_secs_f64() * 1e6;
        let mut longest: f64 = 0.0;
        for c in &cold[cold.len() - chain.functions.len()..] {
            let parts = c.scheduling_us + c.process_start_us + c.readiness_us + c.routing_us + c.forwarding_us;
            assert!((parts - c.total_us).abs() < 1.0, "phases add up: {c:?}");
            assert!(c.process_start_us > 0.0 && c.readiness_us > 0.0, "{c:?}");
            assert!(parts < seen_us, "round {round}: a cold start of {parts} us in a request of {seen_us} us");
            longest = longest.max(parts);
        }
        assert!(
            longest > 0.5 * seen_us,
            "round {round}: cold starts of at most {longest} us in a request of {seen_us} us"
        );
        // Idle for longer than the grace period: every function process goes away.
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|&p| pid_alive(p)) || !function_pids(&*d).is_empty() {
            assert!(Instant::now() < deadline, "round {round}: functions still running after the grace period");
            std::thread::sleep(Duration::from_millis(50));
        }
        seen.extend(pids);
    }
    let cs = d.counters();
    assert_eq!(counter_sum(&cs, |c| c == "activator", "activator_cold_waits_total"), 2 * chain.functions.len() as u64);
    // Counters of the instances that were scaled away are kept.
    let first = &chain.functions[0];
    assert_eq!(counter_sum(&cs, |c| c.starts_with(&format!("qp-{}-", first.id)), "queue_requests_total"), 2);
    let exits = d.teardown();
    assert!(exits.iter().all(|e| !e.died_during_run), "{exits:?}");
    assert!(seen.iter().all(|&p| !pid_alive(p)));
}

/// Through the driver: bursts after idle periods are cold starts; the results record them
/// (summary column, cold_starts.csv, summary.md) and the latencies include them.
#[test]
fn driver_records_cold_starts() {
    let _g = serial();
    let mut chain =
        custom_chain("synthetic-2", |t| t + "\n[knative]\nmin-scale = 0\nscale-to-zero-grace-period = \"300ms\"\n");
    LoadOverrides {
        pattern: Some("burst".into()),
        burst_size: Some(2),
        // Ten times the grace period between bursts: ample for the scale to zero in between,
        // even on a machine busy with a parallel build.
        burst_every_s: Some(3.0),
        duration_s: Some(6.0),
        warmup_s: Some(0.0),
        ..Default::default()
    }
    .apply(&mut chain.load)
    .unwrap();
    let opts = run_options("knative", chain);
    let outcome = run(&opts, &Arc::new(AtomicBool::new(false))).unwrap();
    let s = &outcome.summary;
    assert_eq!(s.errors, 0);
    assert!(s.cold_starts >= 2, "each burst after an idle period is a cold start: {}", s.cold_starts);
    let rows = harness::figures::read_csv(&outcome.dir.join("cold_starts.csv")).unwrap();
    assert_eq!(rows.len() as u64, s.cold_starts);
    assert_eq!(
        csv_header(&outcome.dir.join("cold_starts.csv")).join(","),
        "at_s,service,scheduling_us,process_start_us,readiness_us,routing_us,forwarding_us,total_us",
        "the columns the README documents"
    );
    let longest = rows.iter().map(|r| r["total_us"].parse::<f64>().unwrap()).fold(0.0, f64::max);
    assert!(s.max_us >= longest, "max latency {} us < cold start {longest} us", s.max_us);
    let md = std::fs::read_to_string(outcome.dir.join("summary.md")).unwrap();
    assert!(md.contains("Cold starts:") && md.contains("local model of Knative"), "{md}");
    // Instances started during the run are accounted for CPU too.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("manifest.json")).unwrap()).unwrap();
    let fns = manifest["components"].as_array().unwrap().iter().filter(|c| c["role"] == "function").count();
    assert!(fns >= 2 * opts.chain.functions.len(), "scaled-up functions in the manifest: {fns}");
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}

/// Unknown Host, a crashed function: clear errors, quickly, and the system keeps serving.
#[test]
fn bad_input_gives_clear_errors() {
    let _g = serial();
    let chain = chain("synthetic-2");
    let dir = scratch("kn-bad");
    let d = deploy(&chain, &dir);
    let ep = d.endpoint();
    let (status, body) = request_once(ep.addr, "/pipe", "nobody.spright.example.com", b"x").unwrap();
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("no service for host \"nobody.spright.example.com\""));
    let route = chain.routes[0].name.clone();
    let big = vec![0u8; chain.max_body_bytes + 1];
    let (status, body) = post(&*d, &route, &big);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    // Crash the last function: the chain answers 502 naming the queue-proxy's reason, at once.
    let last = chain.functions.last().unwrap();
    let victim = d.components().into_iter().find(|c| c.name == format!("fn-{}-{}", last.id, last.name)).unwrap();
    // SAFETY: kill(2) of a process this test deployed.
    unsafe { libc::kill(victim.pid as i32, libc::SIGKILL) };
    while pid_alive(victim.pid) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let t0 = Instant::now();
    let (status, body) = post(&*d, &route, b"x");
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("queue-proxy"), "{}", String::from_utf8_lossy(&body));
    assert!(t0.elapsed() < Duration::from_secs(3), "no stuck request");
    let cs = d.counters();
    assert_eq!(counter_sum(&cs, |c| c == "ingress", "ingress_unknown_host_total"), 1);
    assert!(counter_sum(&cs, |c| c.starts_with("qp-"), "queue_upstream_errors_total") >= 1);
    let exits = d.teardown();
    assert_eq!(exits.iter().filter(|e| e.died_during_run).count(), 1);
}

/// Regression (issue 12): the model's ingress routes by Host; `run` logs the Host to send, and
/// `spright-bench load --header` sends it, so a user's own client can reach the chain.
#[test]
fn load_reaches_the_ingress_with_the_host_header() {
    let _g = serial();
    let chain = chain("synthetic-2");
    let dir = scratch("kn-host");
    let d = deploy(&chain, &dir);
    let ep = d.endpoint();
    let url = format!("http://{}/{}", ep.addr, chain.routes[0].name);
    let load = |extra: &[&str]| {
        let mut args =
            vec!["load", "--url", &url, "--method", "POST", "--rate", "50", "--duration", "1", "--warmup", "0"];
        args.extend(extra);
        let out = std::process::Command::new(exe()).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let host = format!("Host: {}", ep.host.clone().unwrap());
    let with = load(&["--header", &host]);
    assert!(with.contains(" 0 errors"), "{with}");
    let without = load(&[]);
    assert!(without.starts_with("0 ok") && without.contains("error http 404"), "{without}");
    d.teardown();
}

/// `knative-remote` against an ingress URL (here the local model's ingress, which routes the
/// same Host names as the generated manifests): responses as the reference, CPU reported as
/// not measured rather than zero.
#[test]
fn knative_remote_measures_through_an_ingress_url() {
    let _g = serial();
    let chain = chain("synthetic-2");
    let dir = scratch("kn-remote");
    let d = deploy(&chain, &dir);
    let remote = harness::registry::get("knative-remote").unwrap();
    let err = harness::registry::options(remote, &[]).unwrap_err().to_string();
    assert!(err.contains("--backend-opt ingress="), "{err}");
    // Readiness: a chain the ingress does not know (another namespace) is a clear error.
    let ingress = format!("ingress={}", d.endpoint().addr);
    let err = try_deploy("knative-remote", &chain, &dir, &[&ingress, "namespace=elsewhere"]).err().unwrap().to_string();
    assert!(err.contains("has no service for host gw-synthetic-2.elsewhere.example.com"), "{err}");
    let mut c = chain.clone();
    LoadOverrides { rate: Some(100.0), duration_s: Some(1.5), warmup_s: Some(0.2), ..Default::default() }
        .apply(&mut c.load)
        .unwrap();
    let opts = run_options_with("knative-remote", c, &[&ingress]);
    let outcome = run(&opts, &Arc::new(AtomicBool::new(false))).unwrap();
    // Replies through the remote path are the golden ones.
    let remote_dep = try_deploy("knative-remote", &chain, &dir, &[&ingress]).unwrap();
    let ep = remote_dep.endpoint();
    let host = ep.host.clone().unwrap();
    for (case, body) in GOLDEN_CASES {
        let (status, got) = request_once(ep.addr, "/pipe", &host, body).unwrap();
        assert_eq!((status, got), (200, golden("synthetic-2", "pipe", case)), "{case}");
    }
    remote_dep.teardown();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["backend"]["options"]["ingress"], d.endpoint().addr.to_string());
    assert_eq!(manifest["backend"]["options"]["namespace"], "spright", "defaults are recorded too");
    assert!(outcome.summary.ok >= 100 && outcome.summary.errors == 0, "{:?}", outcome.summary);
    assert!(outcome.summary.sut_cpu_s.is_nan());
    let md = std::fs::read_to_string(outcome.dir.join("summary.md")).unwrap();
    assert!(md.contains("not measured"), "{md}");
    let row = harness::figures::read_csv(&outcome.dir.join("summary.csv")).unwrap();
    assert_eq!(row[0]["sut_cpu_s"], "", "unmeasured CPU is an empty cell, not 0");
    let cs = d.counters();
    assert!(counter_sum(&cs, |c| c == "ingress", "ingress_requests_total") >= outcome.summary.ok);
    d.teardown();
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}

/// Option `pipeline=proxy` (issue 11): the chain's entry calls each pipeline function in turn,
/// as the paper drove motion and parking on Knative. With tail calls the first function's one
/// slot (containerConcurrency 1) is held until the second, slow function returns, so a request
/// 100 ms behind the first waits at its queue-proxy; driven as a proxy the first function is
/// done in a moment and nobody waits. Both give the reference's replies.
#[test]
fn proxy_pipelines_call_each_function_in_turn() {
    let _g = serial();
    let chain = custom_chain("synthetic-2", |t| {
        t.replacen(
            "params = { work_ns = 1000, payload_bytes = 256 }",
            "params = { work_ns = 1000, sleep_ns = 400000000, payload_bytes = 256 }",
            1,
        )
        .replacen(
            "params = { work_ns = 1000 }",
            "params = { work_ns = 1000 }\nknative = { containerConcurrency = 1 }",
            1,
        )
    });
    let want = workloads::reference::execute(&chain, &chain.routes[0], b"p").unwrap();
    for (mode, waits) in [("tail", true), ("proxy", false)] {
        let dir = scratch("kn-proxy");
        let opt = format!("pipeline={mode}");
        let d = try_deploy("knative", &chain, &dir, &[&opt]).unwrap();
        let ep = d.endpoint();
        let host = ep.host.clone().unwrap();
        let send = || request_once(ep.addr, "/pipe", &host, b"p").unwrap();
        let replies = std::thread::scope(|s| {
            let first = s.spawn(send);
            std::thread::sleep(Duration::from_millis(100));
            let second = send();
            [first.join().unwrap(), second]
        });
        for (status, body) in replies {
            assert_eq!((status, &body), (200, &want), "{mode}: {}", String::from_utf8_lossy(&body));
        }
        let cs = d.counters();
        let waited = counter_sum(&cs, |c| c == "qp-1-first", "queue_waited_total");
        assert_eq!(waited > 0, waits, "{mode}: {waited} requests waited at the first function");
        d.teardown();
    }
}

/// A burst wider than an HTTP/2 connection's default stream limit (hyper's 200) into a cold
/// pipeline: the gateway's calls to the first function and the first function's calls to the
/// second are all held by the activator at once, on the ingress's one HTTP/2 connection to it.
/// With the default limit the nested calls could not open their streams until the outer ones
/// ended, which waited for them (parking's bursts hung until the client's 60 s timeout). All
/// 500 must succeed before the 20 s timeout. (Timing decides whether the streams fill first:
/// before the fix this hung in two of three runs.)
#[test]
fn a_burst_wider_than_a_connections_streams_does_not_deadlock_the_activator() {
    let _g = serial();
    // Every service starts at zero; the first function lets 50 requests in at a time and works
    // on one (20 ms each: 10 s for the burst), so the calls held for it stay open while it
    // works through them.
    let mut chain = custom_chain("synthetic-2", |t| {
        t.replace("name = \"synthetic-2\"", "name = \"synthetic-2\"\ngateway_timeout_ms = 20000")
            .replacen(
                "workers = 1\nparams = { work_ns = 1000 }",
                "workers = 1\nparams = { work_ns = 1000, sleep_ns = 20000000 }\nknative = { containerConcurrency = 50 }",
                1,
            )
            + "\n[knative]\nmin-scale = 0\nmax-scale = 1\ntarget-burst-capacity = 0\nscale-to-zero-grace-period = \"30s\"\n"
    });
    LoadOverrides {
        pattern: Some("burst".into()),
        burst_size: Some(500),
        burst_every_s: Some(10.0),
        duration_s: Some(1.0),
        warmup_s: Some(0.0),
        timeout_ms: Some(20_000),
        ..Default::default()
    }
    .apply(&mut chain.load)
    .unwrap();
    let outcome = run(&run_options("knative", chain), &Arc::new(AtomicBool::new(false))).unwrap();
    let s = &outcome.summary;
    assert_eq!((s.ok, s.errors), (500, 0), "{:?}", std::fs::read_to_string(outcome.dir.join("errors.csv")));
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}
