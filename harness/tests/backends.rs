//! Behaviour every backend must show, written once and instantiated per backend by
//! `backend_tests!` (as ripgrep runs each test on both regex engines). These run for real: real
//! processes, real sockets, real load. A new backend adds one line at the bottom.

mod common;

use common::*;
use harness::loadgen::http::{request, request_once};
use harness::run::{run, RunOptions};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use workloads::LoadOverrides;

/// Every route of every synthetic chain answers exactly the golden reply (an oracle that shares
/// no code with the project) and what the in-process reference execution gives, byte for byte;
/// bad HTTP gets the documented status codes.
pub fn responses_equal_reference(backend: &str) {
    let _g = serial();
    for name in ["synthetic-2", "synthetic-5", "call-tree"] {
        let chain = chain(name);
        let dir = scratch("ref");
        let dep = deploy(backend, &chain, &dir);
        let addr = dep.endpoint().addr;
        let host = dep.endpoint().host.unwrap_or_else(|| addr.to_string());
        for route in &chain.routes {
            for (case, body) in GOLDEN_CASES {
                let (status, got) = request_once(addr, &format!("/{}", route.name), &host, body).unwrap();
                assert_eq!(status, 200, "{name}/{}: {}", route.name, String::from_utf8_lossy(&got));
                // The independent oracle first, then the in-process reference.
                assert_eq!(
                    got,
                    golden(name, &route.name, case),
                    "{name}/{} ({case}) differs from the golden reply",
                    route.name
                );
                assert_eq!(got, workloads::reference::execute(&chain, route, body).unwrap());
                // The numeric id selects the same route.
                let (_, by_id) = request_once(addr, &format!("/{}/extra", route.id), &host, body).unwrap();
                assert_eq!(by_id, got);
            }
        }
        let (status, _) = request_once(addr, "/no-such-route", &host, b"x").unwrap();
        assert_eq!(status, 404);
        let big = vec![0u8; chain.max_body_bytes + 1];
        let (status, _) = request_once(addr, &format!("/{}", chain.routes[0].name), &host, &big).unwrap();
        assert_eq!(status, 413);
        // Malformed request line: the server answers 400 or closes, in time; either way it keeps serving.
        let got = raw_exchange(addr, b"BLAH\r\n\r\n");
        assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&got));
        let (status, _) = request_once(addr, &format!("/{}", chain.routes[0].name), &host, b"still serving").unwrap();
        assert_eq!(status, 200);
        let pids: Vec<u32> = dep.components().iter().map(|c| c.pid).collect();
        let exits = dep.teardown();
        assert!(exits.iter().all(|e| !e.died_during_run), "a component died: {exits:?}");
        for p in pids {
            assert!(!harness::run::pid_alive(p), "pid {p} alive after teardown");
        }
    }
}

/// The paper's motion and parking chains (issue 11): every route answers the golden reply and
/// the reference's. Their functions have 32 workers; on d-spright each worker is a poller, so
/// this deploys it with `poll=backoff` (64-160 busy pollers cannot share 2 cores).
pub fn iot_chains_equal_golden(backend: &str) {
    let _g = serial();
    for name in ["motion", "parking"] {
        let mut chain = chain(name);
        let dir = scratch(name);
        let opts: &[&str] = if backend == "d-spright" { &["poll=backoff"] } else { &[] };
        if backend == "d-spright" {
            // Every D-SPRIGHT worker polls: parking's 5 x 32 of them keep 2 cores so busy that
            // the last function may miss its ready timeout. Replies do not depend on workers.
            chain = chain_with(&chain, "workers = 32", "workers = 2");
        }
        let dep = try_deploy(backend, &chain, &dir, opts).unwrap_or_else(|e| panic!("deploy {name} on {backend}: {e}"));
        let addr = dep.endpoint().addr;
        let host = dep.endpoint().host.unwrap_or_else(|| addr.to_string());
        for route in &chain.routes {
            let (case, body) = GOLDEN_CASES[2];
            let (status, got) = request_once(addr, &format!("/{}", route.name), &host, body).unwrap();
            assert_eq!(status, 200, "{name}/{}: {}", route.name, String::from_utf8_lossy(&got));
            assert_eq!(
                got,
                golden(name, &route.name, case),
                "{backend}: {name}/{} differs from the golden reply",
                route.name
            );
            assert_eq!(got, workloads::reference::execute(&chain, route, body).unwrap());
        }
        let exits = dep.teardown();
        assert!(exits.iter().all(|e| !e.died_during_run), "a component died: {exits:?}");
    }
}

/// Online Boutique (issue 10): the golden session, every request type with carts of 0, 1 and 3
/// items, two users whose carts and currencies stay apart, failed payments, bad input. Each reply
/// equals the independent golden reply (status and page; the digest is masked there) and the
/// reference execution's, digest included. A failed payment leaves the cart as it was, issues no
/// order and renders no mail (the golden replies show it), and leaves no pool slot taken.
pub fn boutique_session_equals_golden(backend: &str) {
    use workloads::boutique::golden;
    let _g = serial();
    let chain = chain("online-boutique");
    let dir = scratch("boutique");
    let dep = deploy(backend, &chain, &dir);
    let addr = dep.endpoint().addr;
    let host = dep.endpoint().host.unwrap_or_else(|| addr.to_string());
    let reference = workloads::reference::Reference::new(&chain);
    for c in golden::cases() {
        let headers: Vec<(String, String)> =
            if c.user.is_empty() { vec![] } else { vec![("x-user".into(), c.user.clone())] };
        let (status, got) = request(addr, &c.method, &c.path, &host, &headers, c.body.as_bytes()).unwrap();
        let (want_status, want) = golden::reply(&c.name);
        assert_eq!(
            (status, golden::masked(&got)),
            (want_status, want),
            "{backend}: {} differs from the golden reply: {}",
            c.name,
            String::from_utf8_lossy(&got)
        );
        let local = reference.request(&c.method, &c.path, &c.user, c.body.as_bytes()).unwrap();
        assert_eq!(got, local.body, "{backend}: {} differs from the reference execution", c.name);
    }
    // The identity may come as Online Boutique's session cookie instead of the header.
    let cookie = vec![("Cookie".to_string(), "x=1; shop_session-id=carol".to_string())];
    let (status, page) = request(addr, "GET", "/cart", &host, &cookie, b"").unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains(r#""user":"carol""#));
    // HTTP-level refusals, the same on every backend.
    let user = vec![("x-user".to_string(), "alice".to_string())];
    let long = format!("/product/{}", "A".repeat(33));
    for (method, path, headers, want) in [
        ("DELETE", "/cart", &user, 405),
        ("GET", "/setCurrency", &user, 405),
        ("GET", "/no/such/page", &user, 404),
        ("GET", long.as_str(), &user, 400),
        ("GET", "/product/a%20b", &user, 400),
        ("GET", "/", &vec![("x-user".to_string(), "x".repeat(41))], 400),
    ] {
        let (status, body) = request(addr, method, path, &host, headers, b"").unwrap();
        assert_eq!(status, want, "{backend}: {method} {path}: {}", String::from_utf8_lossy(&body));
    }
    let cs = dep.counters();
    if cs.iter().any(|c| c.component == "pool") {
        assert_eq!(counter(&cs, "pool", "free_slots"), counter(&cs, "pool", "slots"), "a slot was left taken");
        assert_eq!(counter(&cs, "pool", "bad_descriptors"), 0);
    }
    let exits = dep.teardown();
    assert!(exits.iter().all(|e| !e.died_during_run), "a component died: {exits:?}");

    // A cart holds at most `cart_max_items` distinct products; one more is a 409 with the reason.
    let small = chain_with(&chain, "cart_max_items = 10", "cart_max_items = 2");
    let dep = deploy(backend, &small, &dir);
    let addr = dep.endpoint().addr;
    let host = dep.endpoint().host.unwrap_or_else(|| addr.to_string());
    for (i, id) in ["OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O"].iter().enumerate() {
        let body = format!("product_id={id}&quantity=1");
        let (status, page) = request(addr, "POST", "/cart", &host, &user, body.as_bytes()).unwrap();
        let page = String::from_utf8_lossy(&page);
        if i < 2 {
            assert_eq!(status, 200, "{page}");
        } else {
            assert_eq!(status, 409, "{page}");
            assert!(page.contains("the cart is full: at most 2 distinct products"), "{page}");
        }
    }
    let (_, page) = request(addr, "GET", "/cart", &host, &user, b"").unwrap();
    assert!(String::from_utf8_lossy(&page).contains(r#""cart_size":2"#), "the refused item stayed out");
    dep.teardown();
}

/// Body integrity (issue 12): random bodies of every size up to `max_body_bytes` come back
/// through three functions exactly as sent, compared in full at the client. The digest covers
/// only a body's length and ends, so this is what catches a byte corrupted in the middle.
pub fn bodies_arrive_intact(backend: &str) {
    let _g = serial();
    let chain = chain("echo");
    let dir = scratch("echo");
    let dep = deploy(backend, &chain, &dir);
    let addr = dep.endpoint().addr;
    let host = dep.endpoint().host.unwrap_or_else(|| addr.to_string());
    let max = chain.max_body_bytes;
    let mut rng = workloads::rng::SplitMix64::new(0xb0d1);
    for len in [0, 1, 63, 64, 65, 127, 129, 4095, 4097, 65_000, max - 1, max] {
        let body: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let (status, reply) = request_once(addr, "/echo", &host, &body).unwrap();
        assert_eq!(status, 200, "{len}: {}", String::from_utf8_lossy(&reply));
        let line = reply.iter().position(|&b| b == b'\n').expect("a digest line") + 1;
        assert!(reply.starts_with(b"digest=") && reply[..line].ends_with(b" visits=3 route=1\n"));
        let got = &reply[line..];
        let first_bad = got.iter().zip(&body).position(|(a, b)| a != b);
        assert!(
            got.len() == len && first_bad.is_none(),
            "{len}-byte body: {} bytes back, first difference at {first_bad:?}",
            got.len()
        );
    }
    dep.teardown();
}

fn run_opts(backend: &str, chain_name: &str, rate: f64, duration: f64) -> RunOptions {
    let mut chain = chain(chain_name);
    LoadOverrides { rate: Some(rate), duration_s: Some(duration), warmup_s: Some(0.5), ..Default::default() }
        .apply(&mut chain.load)
        .unwrap();
    run_options(backend, chain)
}

/// The Locust export of a run: Locust's columns, spelled out here as WORKLOADS.md lists them,
/// and numbers that agree with the run's own summary.
fn locust_files_agree(d: &std::path::Path, s: &harness::results::Summary, seconds: usize, name: &str) {
    let pcts = "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
    assert_eq!(
        csv_header(&d.join("locust_stats.csv")).join(","),
        format!(
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
             Max Response Time,Average Content Size,Requests/s,Failures/s,{pcts}"
        )
    );
    assert_eq!(
        csv_header(&d.join("locust_stats_history.csv")).join(","),
        format!(
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,{pcts},Total Request Count,Total Failure Count,\
             Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,\
             Total Average Content Size"
        )
    );
    assert_eq!(std::fs::read_to_string(d.join("locust_failures.csv")).unwrap(), "Method,Name,Error,Occurrences\n");
    let stats = harness::figures::read_csv(&d.join("locust_stats.csv")).unwrap();
    let agg = stats.last().unwrap();
    assert_eq!(agg["Name"], "Aggregated", "{name}");
    let n = |r: &std::collections::BTreeMap<String, String>, c: &str| r[c].parse::<f64>().unwrap();
    assert_eq!(n(agg, "Request Count") as u64, s.ok + s.errors, "{name}");
    let by_route: f64 = stats[..stats.len() - 1].iter().map(|r| n(r, "Request Count")).sum();
    assert_eq!(by_route as u64, s.ok, "{name}: route rows add up");
    assert!((n(agg, "Median Response Time") - s.p50_us / 1e3).abs() <= 0.5, "{name}: median {agg:?} vs {}", s.p50_us);
    assert!((n(agg, "Requests/s") - s.achieved_rps).abs() < 0.01 * s.achieved_rps, "{name}: {agg:?}");
    assert!(n(agg, "Average Content Size") > 0.0, "{name}: replies have bodies");
    let history = harness::figures::read_csv(&d.join("locust_stats_history.csv")).unwrap();
    assert_eq!(history.len(), seconds, "{name}: a row per second");
    let last = history.last().unwrap();
    let per_second: f64 = history.iter().map(|r| n(r, "Requests/s")).sum();
    assert_eq!(n(last, "Total Request Count"), per_second, "{name}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - n(last, "Timestamp")).abs() < 60.0, "{name}: Unix seconds: {last:?}");
}

/// The HdrHistogram interval log reads back with HdrHistogram's own deserializer: the seconds
/// add up to the time series, the `all` interval is the run's histogram, a route interval per
/// route; the `.hgrm` table ends with the run's count and has its median.
fn hdr_files_agree(d: &std::path::Path, s: &harness::results::Summary, per_second: u64, name: &str) {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    let bytes = std::fs::read(d.join("latency.hlog")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("#[StartTime: ") && text.contains("#[BaseTime: "), "{name}: {text}");
    let mut de = Deserializer::new();
    let (mut seconds, mut all, mut routes) = (0u64, None, 0);
    for e in IntervalLogIterator::new(&bytes) {
        let LogEntry::Interval(h) = e.unwrap() else { continue };
        let decoded =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, h.encoded_histogram()).unwrap();
        let hist: hdrhistogram::Histogram<u64> = de.deserialize(&mut &decoded[..]).unwrap();
        match h.tag().map(|t| t.as_str().to_string()) {
            None => seconds += hist.len(),
            Some(t) if t == "all" => all = Some(hist),
            Some(t) => {
                assert!(t.starts_with("route:"), "{name}: tag {t}");
                routes += 1;
            }
        }
    }
    assert_eq!(seconds, per_second, "{name}: the per-second intervals add up to the time series");
    let all = all.expect("an interval tagged all");
    assert_eq!(all.len(), s.ok, "{name}");
    assert!((all.value_at_quantile(0.5) as f64 / 1e3 - s.p50_us).abs() < 0.01, "{name}: p50 {}", s.p50_us);
    assert!(routes >= 1, "{name}");
    let hgrm = std::fs::read_to_string(d.join("latency.hgrm")).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"), "{name}: {hgrm}");
    assert!(hgrm.contains(&format!("Total count    = {:>12}]", s.ok)), "{name}: {hgrm}");
    let median = hgrm.lines().find(|l| l.split_whitespace().nth(1) == Some("0.500000000000")).unwrap();
    let ms: f64 = median.split_whitespace().next().unwrap().parse().unwrap();
    assert!((ms * 1e3 - s.p50_us).abs() <= 0.001 * s.p50_us + 1.0, "{name}: {median} vs p50 {} us", s.p50_us);
}

/// A run through the driver: every request succeeds, the results directory has every promised
/// file and column, every function used CPU, and no process is left.
pub fn run_writes_complete_results(backend: &str) {
    let _g = serial();
    for name in ["synthetic-2", "call-tree"] {
        let opts = run_opts(backend, name, 200.0, 2.0);
        let outcome = run(&opts, &Arc::new(AtomicBool::new(false))).unwrap();
        let s = &outcome.summary;
        assert!(s.ok >= 300, "{name}: only {} ok", s.ok);
        assert_eq!(s.errors, 0, "{name}: errors {:?}", std::fs::read_to_string(outcome.dir.join("errors.csv")));
        let d = &outcome.dir;
        assert!(!d.with_file_name(format!("{}.partial", d.file_name().unwrap().to_string_lossy())).exists());
        for f in ["timeline.png", "timeline.svg", "cpu.png", "cpu.svg"] {
            let len = std::fs::metadata(d.join(f)).map(|m| m.len()).unwrap_or(0);
            assert!(len > 1000, "{name}: figure {f} not drawn ({len} bytes)");
        }
        // Values only a working run produces: one row per second of the window whose requests
        // add up to the run's; no error rows; the summary names the backend and its options.
        let ts = harness::figures::read_csv(&d.join("timeseries.csv")).unwrap();
        let per_second: u64 = ts.iter().map(|r| r["ok"].parse::<u64>().unwrap()).sum();
        assert!((2..=3).contains(&ts.len()), "{name}: {} rows for a 2 s window", ts.len());
        assert!(per_second.abs_diff(s.ok) <= s.ok / 10, "{name}: {per_second} ok per second, {} in all", s.ok);
        assert_eq!(std::fs::read_to_string(d.join("errors.csv")).unwrap(), "kind,count\n");
        let md = std::fs::read_to_string(d.join("summary.md")).unwrap();
        assert!(md.contains(&format!("Backend: `{backend}`")) && md.contains("Backend options: "), "{md}");
        // The columns the README documents, spelled out here rather than taken from the writer.
        for (file, columns) in [
            ("latency.csv", "route,ok,errors,p50_us,p90_us,p99_us,p999_us,max_us,mean_us"),
            ("timeseries.csv", "second,ok,errors,p50_us,p90_us,p99_us,max_us,users"),
            (
                "cpu.csv",
                "t_s,component,role,pid,cpu_pct,cpu_s,alive,rss_kib,pss_kib,hugetlb_shared_kib,hugetlb_private_kib",
            ),
            (
                "summary.csv",
                "backend,chain,pattern,offered_rps,duration_s,ok,errors,achieved_rps,p50_us,p90_us,p99_us,p999_us,\
                 max_us,mean_us,sut_cpu_s,sut_cpu_s_per_1k,loadgen_cpu_pct,background_cpu_pct,send_lag_p50_us,\
                 send_lag_p99_us,cold_starts,sut_pss_mib,sut_rss_mib,sut_hugetlb_mib,cold_requests,p50_warm_us,\
                 p99_warm_us,p50_cold_us,p99_cold_us,fn_cpu_pct,fn_pss_mib,connections,placement,interrupted",
            ),
        ] {
            assert_eq!(csv_header(&d.join(file)).join(","), columns, "{name}: {file}");
        }
        let row = &harness::results::read_summaries(&d.join("summary.csv")).unwrap()[0];
        assert_eq!((row.backend.as_str(), row.ok, row.errors), (backend, s.ok, 0), "{name}: summary.csv");
        // The chain files set no connections: the load profile's default pool of 64.
        assert_eq!(row.connections, 64, "{name}: summary.csv connections");
        // Every route got traffic in proportion to its weight, and the rows add up to the total.
        let latency = harness::figures::read_csv(&d.join("latency.csv")).unwrap();
        let ok_of = |route: &str| -> u64 {
            let row = latency.iter().find(|r| r["route"] == route).unwrap_or_else(|| panic!("{name}: no row {route}"));
            row["ok"].parse().unwrap()
        };
        let total_weight: f64 = opts.chain.routes.iter().map(|r| r.weight).sum();
        let per_route: u64 = opts.chain.routes.iter().map(|r| ok_of(&r.name)).sum();
        assert_eq!((per_route, ok_of("*all*")), (s.ok, s.ok), "{name}: latency.csv rows");
        for r in &opts.chain.routes {
            let share = ok_of(&r.name) as f64 / s.ok as f64;
            let want = r.weight / total_weight;
            assert!(
                (share - want).abs() < 0.1,
                "{name}: route {} got {share:.2} of the requests, its weight {want:.2}",
                r.name
            );
        }
        locust_files_agree(d, s, ts.len(), name);
        hdr_files_agree(d, s, per_second, name);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["complete"], true);
        assert_eq!(manifest["backend"]["name"], backend);
        assert!(manifest["environment"]["kernel"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(manifest["chain"]["spec"].as_str().unwrap().contains(&opts.chain.name));
        // Every function process used CPU (last cumulative sample > 0).
        let cpu = harness::figures::read_csv(&d.join("cpu.csv")).unwrap();
        let functions: Vec<&str> = manifest["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["role"] == "function")
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(functions.len(), opts.chain.functions.len());
        for f in functions {
            let used = cpu
                .iter()
                .filter(|r| r["component"] == f)
                .map(|r| r["cpu_s"].parse::<f64>().unwrap())
                .fold(0.0, f64::max);
            assert!(used > 0.0, "{name}: function {f} used no CPU");
        }
        assert!(cpu.iter().any(|r| r["role"] == "loadgen"), "load generator not sampled");
        for c in manifest["components"].as_array().unwrap() {
            assert!(!harness::run::pid_alive(c["pid"].as_u64().unwrap() as u32));
        }
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Killing a function mid-run: requests fail with counted errors, the run still finishes and
/// reports them, and teardown leaves nothing behind.
pub fn function_killed_mid_run(backend: &str) {
    let _g = serial();
    let opts = run_opts(backend, "synthetic-2", 100.0, 4.0);
    let marker = format!("{}.partial/logs/chain.toml", opts.out.display());
    let killer = std::thread::spawn(move || {
        // Deployed (the gateway and the last function run), then well into the load.
        let has = |arg: &str| pids_with(&marker).into_iter().filter(|&p| cmdline(p).iter().any(|a| a == arg)).count();
        wait_for("the chain deployed", 60, || has("--id=2") == 1 && has("gateway") >= 1);
        std::thread::sleep(Duration::from_millis(1500));
        let victims: Vec<u32> =
            pids_with(&marker).into_iter().filter(|&p| cmdline(p).iter().any(|a| a == "--id=2")).collect();
        assert_eq!(victims.len(), 1, "expected one process of function 2, found {victims:?}");
        // SAFETY: plain kill(2) of a process this test's run started.
        unsafe { libc::kill(victims[0] as i32, libc::SIGKILL) };
        victims[0]
    });
    let outcome = run(&opts, &Arc::new(AtomicBool::new(false))).unwrap();
    let victim = killer.join().unwrap();
    let s = &outcome.summary;
    assert!(s.ok > 50, "requests before the kill should succeed: {}", s.ok);
    assert!(s.errors > 50, "requests after the kill must be counted as errors: {}", s.errors);
    let errors = std::fs::read_to_string(outcome.dir.join("errors.csv")).unwrap();
    assert!(errors.lines().count() >= 2, "errors.csv names the kinds: {errors}");
    let died: Vec<_> = outcome.exits.iter().filter(|e| e.died_during_run).collect();
    assert_eq!(died.len(), 1);
    assert_eq!(died[0].component.pid, victim);
    assert!(std::fs::read_to_string(outcome.dir.join("summary.md")).unwrap().contains("died during the run"));
    assert!(pids_with(&outcome.dir.display().to_string()).is_empty(), "processes of the run are still alive");
    std::fs::remove_dir_all(&outcome.dir).unwrap();
}

macro_rules! backend_tests {
    ($($module:ident => $backend:literal),* $(,)?) => {$(
        mod $module {
            #[test]
            fn responses_equal_reference() { super::responses_equal_reference($backend) }
            #[test]
            fn run_writes_complete_results() { super::run_writes_complete_results($backend) }
            #[test]
            fn function_killed_mid_run() { super::function_killed_mid_run($backend) }
            #[test]
            fn bodies_arrive_intact() { super::bodies_arrive_intact($backend) }
            #[test]
            fn boutique_session_equals_golden() { super::boutique_session_equals_golden($backend) }
            #[test]
            fn iot_chains_equal_golden() { super::iot_chains_equal_golden($backend) }
        }
    )*};
}

backend_tests! {
    grpc => "grpc",
    s_spright => "s-spright",
    d_spright => "d-spright",
    knative => "knative",
    u_spright => "u-spright",
}
