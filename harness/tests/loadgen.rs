//! The load generator against small in-process HTTP servers (no root, no backend): open-loop
//! latency arithmetic, closed loop, bursts, errors and timeouts. The tests run one at a time
//! ([`common::serial`]): each times what it sends, and two at once on 2 cores measure each
//! other (20,000 req/s from two generator threads failed 567 requests beside the others).

mod common;

use harness::loadgen::{self, LoadSpec, Progress};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workloads::load::{LoadProfile, Pattern};
use workloads::Arrival;

/// A keep-alive HTTP/1.1 server, a thread per connection. `behave(n, request)` is called for
/// the n-th request (its head, a blank line, its body) and returns the status and how long to
/// wait before answering.
fn server(behave: impl Fn(u64, &str) -> (u16, Duration) + Send + Sync + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let behave = Arc::new(behave);
    let count = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let behave = behave.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // Requests from the generator have a Content-Length body.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        let request = String::from_utf8_lossy(&buf[..end + 4 + len]).to_string();
                        buf.drain(..end + 4 + len);
                        let (status, wait) = behave(count.fetch_add(1, Ordering::SeqCst), &request);
                        std::thread::sleep(wait);
                        let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok");
                        if s.write_all(resp.as_bytes()).is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

fn spec(addr: SocketAddr, pattern: Pattern, duration_s: f64, connections: u32, timeout_ms: u64) -> LoadSpec {
    LoadSpec {
        target: addr,
        host: addr.to_string(),
        headers: Vec::new(),
        method: "POST".into(),
        routes: vec![(1, "r".into(), "/r".into(), b"payload".to_vec())],
        mix: None,
        profile: LoadProfile { pattern, duration_s, warmup_s: 0.0, connections, timeout_ms, seed: 1 },
        users: None,
        sources: Vec::new(),
        close_idle: false,
        cpus: None,
    }
}

fn go(spec: &LoadSpec) -> loadgen::LoadResult {
    loadgen::run(spec, &AtomicBool::new(false), &Progress::default()).unwrap()
}

/// The regression guard for coordinated omission: a server that stalls for 500 ms must show up
/// as latency (every scheduled request is still counted), not as fewer samples.
#[test]
fn stalled_server_shows_up_as_latency_not_fewer_samples() {
    let _g = common::serial();
    let start = Instant::now();
    let stall_at = Duration::from_millis(600);
    let stalled = Arc::new(AtomicBool::new(false));
    let addr = server(move |_, _| {
        if start.elapsed() > stall_at && !stalled.swap(true, Ordering::SeqCst) {
            (200, Duration::from_millis(500))
        } else {
            (200, Duration::ZERO)
        }
    });
    // One connection: while it is stuck, every due request waits in the client.
    let r = go(&spec(addr, Pattern::Open { arrival: Arrival::Constant, rate: 200.0 }, 2.0, 1, 5000));
    let rec = &r.recorder;
    assert_eq!(rec.ok_total(), 400, "every scheduled request must be sent and counted");
    assert_eq!(rec.error_total(), 0);
    let max_ms = rec.overall.max() as f64 / 1e6;
    assert!(max_ms >= 450.0, "the stall must appear as latency, max was {max_ms} ms");
    // About 100 requests were due during the stall: they all carry part of it.
    let over_100ms = rec.overall.count_between(100_000_000, u64::MAX);
    assert!(over_100ms >= 60, "only {over_100ms} requests saw the stall");
    assert!(rec.send_lag.max() >= 400_000_000, "the stall shows as client send lag too");
}

#[test]
fn errors_are_counted_by_kind_and_timeouts_expire() {
    let _g = common::serial();
    let addr = server(|n, _| match n % 4 {
        0 => (503, Duration::ZERO),
        1 => (200, Duration::from_millis(400)),
        _ => (200, Duration::ZERO),
    });
    let r = go(&spec(addr, Pattern::Open { arrival: Arrival::Constant, rate: 40.0 }, 1.0, 8, 100));
    let rec = &r.recorder;
    assert_eq!(rec.ok_total() + rec.error_total(), 40, "every request is an outcome");
    assert!(rec.errors.get("http 503").copied().unwrap_or(0) >= 5, "{:?}", rec.errors);
    assert!(rec.errors.get("timeout").copied().unwrap_or(0) >= 5, "{:?}", rec.errors);
}

#[test]
fn refused_connections_are_errors_not_a_crash() {
    let _g = common::serial();
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed again: nothing listens there
    let r = go(&spec(addr, Pattern::Open { arrival: Arrival::Constant, rate: 50.0 }, 0.5, 4, 1000));
    assert_eq!(r.recorder.ok_total(), 0);
    assert_eq!(r.recorder.error_total(), 25);
    assert!(r.recorder.errors.keys().any(|k| k.starts_with("connect")), "{:?}", r.recorder.errors);
}

#[test]
fn closed_loop_users_wait_for_responses_and_think() {
    let _g = common::serial();
    let addr = server(|_, _| (200, Duration::from_millis(10)));
    // 2 users, 10 ms service, 40 ms think: about 2 / 50 ms = 40 req/s.
    let r = go(&spec(addr, Pattern::Closed { users: 2, think_min_ms: 40, think_max_ms: 40 }, 2.0, 1, 5000));
    let n = r.recorder.ok_total();
    assert!((30..=90).contains(&n), "closed loop sent {n} requests in 2 s");
    assert!(r.recorder.overall.min() >= 9_000_000, "latency from the actual send covers the 10 ms service");
}

#[test]
fn bursts_arrive_together() {
    let _g = common::serial();
    let addr = server(|_, _| (200, Duration::from_millis(50)));
    let r = go(&spec(addr, Pattern::Burst { size: 20, every_s: 0.5 }, 1.2, 1, 5000));
    assert_eq!(r.recorder.ok_total(), 60, "three bursts of 20");
    // A burst's requests are concurrent (one connection each), so none waits for another.
    assert!(r.recorder.overall.max() < 400_000_000, "max {} ns", r.recorder.overall.max());
}

#[test]
fn stop_flag_interrupts() {
    let _g = common::serial();
    let addr = server(|_, _| (200, Duration::ZERO));
    let stop = Arc::new(AtomicBool::new(false));
    let (h, _) = loadgen::spawn(
        spec(addr, Pattern::Open { arrival: Arrival::Poisson, rate: 100.0 }, 30.0, 4, 1000),
        1,
        stop.clone(),
        Arc::new(Progress::default()),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let r = h.join().unwrap();
    assert!(r.interrupted);
    assert!(r.measured_s < 5.0);
}

/// Locust-style users (issue 10) from Online Boutique's spec: each user starts with the home
/// page, then runs tasks by weight; a multi-request task sends its requests in order on one
/// identity with the same product; task shares follow the weights; users start at the spawn
/// rate. Tasks are recovered from what the server received, so the test does not trust the
/// generator's own bookkeeping.
#[test]
fn users_run_weighted_tasks_in_order_on_their_identity() {
    let _g = common::serial();
    type Log = std::sync::Mutex<Vec<(Instant, String, String, String)>>;
    let log: Arc<Log> = Arc::default();
    let l2 = log.clone();
    let addr = server(move |_, req| {
        let (head, body) = req.split_once("\r\n\r\n").unwrap();
        let line = head.lines().next().unwrap().rsplit_once(' ').unwrap().0.to_string();
        let user = head.lines().find_map(|l| l.strip_prefix("x-user: ")).unwrap_or("").to_string();
        l2.lock().unwrap().push((Instant::now(), user, line, body.to_string()));
        (200, Duration::ZERO)
    });
    let n = 40;
    let mut s = boutique_users(addr);
    s.profile = spec(addr, Pattern::Closed { users: n, think_min_ms: 0, think_max_ms: 2 }, 3.0, 1, 5000).profile;
    s.users.as_mut().unwrap().spawn_rate = 200.0;
    let r = go(&s);
    assert_eq!(r.recorder.error_total(), 0);
    let log = log.lock().unwrap();
    let mut per_user: std::collections::BTreeMap<String, Vec<(Instant, String, String)>> = Default::default();
    for (t, u, line, body) in log.iter() {
        per_user.entry(u.clone()).or_default().push((*t, line.clone(), body.clone()));
    }
    assert_eq!(per_user.len(), n as usize, "one identity per user");
    // Users start at the spawn rate: user k's first request no earlier than k / rate.
    let t0 = per_user["u0"][0].0;
    let last_start = per_user.values().map(|v| v[0].0).max().unwrap();
    assert!(last_start - t0 >= Duration::from_millis((n as u64 - 1) * 1000 / 200 * 9 / 10), "spawned too fast");
    let mut tasks: std::collections::BTreeMap<&str, usize> = Default::default();
    for (user, reqs) in &per_user {
        assert_eq!(reqs[0].1, "GET /", "{user} starts with the home page");
        let mut i = 1;
        while i < reqs.len() {
            let (line, body) = (&reqs[i].1, &reqs[i].2);
            let product = line.strip_prefix("GET /product/");
            let next = reqs.get(i + 1).map(|r| (r.1.as_str(), r.2.as_str()));
            let task = match (line.as_str(), product, next) {
                ("GET /", ..) => "index",
                ("POST /setCurrency", ..) => "setCurrency",
                ("GET /cart", ..) => "viewCart",
                (_, Some(p), Some(("POST /cart", add))) => {
                    assert!(add.starts_with(&format!("product_id={p}&quantity=")), "{user}: {add} after {p}");
                    i += 1;
                    match reqs.get(i + 1).map(|r| r.1.as_str()) {
                        Some("POST /cart/checkout") => {
                            i += 1;
                            "checkout"
                        }
                        _ => "addToCart",
                    }
                }
                (_, Some(_), _) => "browseProduct",
                other => panic!("{user}: {other:?} is not the start of any task"),
            };
            assert!(!body.is_empty() || !line.starts_with("POST"), "{user}: {line} without a body");
            *tasks.entry(task).or_default() += 1;
            i += 1;
        }
    }
    let total: usize = tasks.values().sum();
    assert!(total >= 2000, "only {total} tasks: {tasks:?}");
    // Weights 1, 2, 10, 2, 3, 1 of 19; each share within 3 points (binomial sd < 1.2 points here).
    for (task, w) in [
        ("index", 1.0),
        ("setCurrency", 2.0),
        ("browseProduct", 10.0),
        ("addToCart", 2.0),
        ("viewCart", 3.0),
        ("checkout", 1.0),
    ] {
        let share = tasks.get(task).copied().unwrap_or(0) as f64 / total as f64;
        assert!((share - w / 19.0).abs() < 0.03, "{task}: {share:.3} vs {:.3} ({tasks:?})", w / 19.0);
    }
}

/// Issue 10: closed-loop users start at the spawn rate and then hold; the time series records
/// how many are active each second. 100 users at 50/s: about 50 by the end of the first second
/// (never more: none starts early), all 100 from then on.
#[test]
fn active_users_rise_at_the_spawn_rate_and_hold() {
    let _g = common::serial();
    let addr = server(|_, _| (200, Duration::ZERO));
    let mut s = boutique_users(addr);
    s.profile = spec(addr, Pattern::Closed { users: 100, think_min_ms: 10, think_max_ms: 50 }, 4.0, 1, 5000).profile;
    s.users.as_mut().unwrap().spawn_rate = 50.0;
    let r = go(&s);
    let users: Vec<u32> = r.recorder.seconds.iter().map(|s| s.users).collect();
    assert!(users.len() >= 4, "{users:?}");
    assert!((25..=51).contains(&users[0]), "first second: {users:?}");
    assert!(users[1] <= 100 && users[1] >= users[0], "{users:?}");
    assert_eq!(users[3], 100, "all users active after the ramp: {users:?}");
    assert_eq!(r.recorder.error_total(), 0);
}

/// With more users than open files (issue 10), a user closes its connection after each task and
/// reconnects for the next: the server sees `Connection: close` on a task's last request only,
/// and a new connection per task.
#[test]
fn close_idle_users_reconnect_for_each_task() {
    let _g = common::serial();
    let log: Arc<std::sync::Mutex<Vec<bool>>> = Arc::default();
    let l2 = log.clone();
    let addr = server(move |_, req| {
        l2.lock().unwrap().push(req.to_ascii_lowercase().contains("connection: close"));
        (200, Duration::ZERO)
    });
    let mut s = boutique_users(addr);
    s.profile = spec(addr, Pattern::Closed { users: 20, think_min_ms: 5, think_max_ms: 20 }, 2.0, 1, 5000).profile;
    s.close_idle = true;
    s.sources = loadgen::source_addresses(addr, 30_000);
    assert_eq!(s.sources.len(), 3);
    let r = go(&s);
    assert_eq!(r.recorder.error_total(), 0, "{:?}", r.recorder.errors);
    let log = log.lock().unwrap();
    let closing = log.iter().filter(|&&c| c).count();
    // Every task ends with exactly one closing request; tasks average 23/19 requests.
    let ratio = log.len() as f64 / closing as f64;
    assert!(closing > 200 && (1.1..1.35).contains(&ratio), "{closing} of {} requests closed", log.len());
}

/// What `run` sends for Online Boutique (its [load.user] tasks), aimed at `addr`.
fn boutique_users(addr: SocketAddr) -> LoadSpec {
    let chain = workloads::load_chain(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../workloads/chains/online-boutique.toml"
    )))
    .unwrap();
    harness::run::load_spec(&chain, &dataplane_api::Endpoint { addr, host: None })
}

fn trace_file(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("sb-trace-{}-{tag}.txt", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn trace_pattern(file: &std::path::Path, unit: workloads::trace::TraceUnit, time_scale: f64) -> Pattern {
    Pattern::Trace(workloads::trace::TraceSpec { file: file.to_path_buf(), unit, time_scale })
}

/// Trace replay (issue 11): requests leave at the trace's times, relative to its first event and
/// scaled, with the open loop's accounting: the generator's median send lag stays under a
/// millisecond, and the server sees the gaps the trace has. (Of six requests one may leave late
/// when this shared machine deschedules the generator: once in about 80 runs the slowest one's
/// lag passed a millisecond, so the bound on it is the arrivals' tolerance.)
#[test]
fn trace_arrivals_leave_at_the_scaled_times() {
    let _g = common::serial();
    let seen: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let s2 = seen.clone();
    let addr = server(move |_, _| {
        s2.lock().unwrap().push(Instant::now());
        (200, Duration::ZERO)
    });
    // Milliseconds from 5,000; at x0.5: 0, 50, 55, 300, 300, 450 ms.
    let file = trace_file("times", "# t\n5000\n5100\n5110\n\n5600\n5600\n5900\n");
    let p = trace_pattern(&file, workloads::trace::TraceUnit::Millis, 0.5);
    let r = go(&spec(addr, p, 1.0, 4, 5000));
    let rec = &r.recorder;
    assert_eq!((rec.ok_total(), rec.error_total()), (6, 0));
    let lag = |q| rec.send_lag.value_at_quantile(q);
    assert!(lag(0.5) < 1_000_000 && lag(1.0) < 15_000_000, "send lag p50 {} ns, max {} ns", lag(0.5), lag(1.0));
    let seen = seen.lock().unwrap();
    let at: Vec<f64> = seen.iter().map(|t| t.duration_since(seen[0]).as_secs_f64() * 1e3).collect();
    for (got, want) in at.iter().zip([0.0, 50.0, 55.0, 300.0, 300.0, 450.0]) {
        assert!((got - want).abs() < 15.0, "arrivals at {at:?} ms");
    }
    std::fs::remove_file(file).unwrap();
}

/// A server that stalls during a trace replay shows the stall as latency of every request that
/// was due meanwhile (they are sent late and measured from their trace time).
#[test]
fn a_stalled_server_under_a_trace_shows_as_latency() {
    let _g = common::serial();
    let start = Instant::now();
    let stalled = Arc::new(AtomicBool::new(false));
    let addr = server(move |_, _| {
        if start.elapsed() > Duration::from_millis(200) && !stalled.swap(true, Ordering::SeqCst) {
            (200, Duration::from_millis(400))
        } else {
            (200, Duration::ZERO)
        }
    });
    let times: String = (0..100).map(|i| format!("{}\n", i * 10)).collect();
    let file = trace_file("stall", &times);
    let r = go(&spec(addr, trace_pattern(&file, workloads::trace::TraceUnit::Millis, 1.0), 1.5, 1, 5000));
    let rec = &r.recorder;
    assert_eq!(rec.ok_total(), 100, "every event is sent and counted");
    assert!(rec.overall.max() >= 350_000_000, "max latency {} ns", rec.overall.max());
    assert!(rec.overall.count_between(100_000_000, u64::MAX) >= 20, "requests due during the stall carry it");
    std::fs::remove_file(file).unwrap();
}

/// `--loadgen-threads` (issue 13): with 2 threads an offered 20,000 req/s against a local server
/// is met within 2%, each thread sends about half, and the merged result is the sum of both.
#[test]
fn two_generator_threads_meet_the_offered_rate() {
    let _g = common::serial();
    let served = Arc::new(AtomicU64::new(0));
    let s2 = served.clone();
    let addr = server(move |_, _| {
        s2.fetch_add(1, Ordering::Relaxed);
        (200, Duration::ZERO)
    });
    let s = spec(addr, Pattern::Open { arrival: Arrival::Poisson, rate: 20_000.0 }, 2.0, 32, 5000);
    let (g, tids) = loadgen::spawn(s, 2, Arc::new(AtomicBool::new(false)), Arc::new(Progress::default())).unwrap();
    assert_eq!(tids.len(), 2);
    let r = g.join().unwrap();
    let rec = &r.recorder;
    let rate = rec.ok_total() as f64 / r.measured_s;
    assert_eq!(rec.error_total(), 0);
    assert!((rate - 20_000.0).abs() < 400.0, "{rate:.0} req/s offered 20,000");
    assert_eq!(rec.overall.len(), rec.ok_total(), "the merged histogram holds every request");
    assert_eq!(r.threads.iter().map(|t| t.requests).sum::<u64>(), rec.ok_total());
    for t in &r.threads {
        assert!(
            (t.requests as f64 - rec.ok_total() as f64 / 2.0).abs() < 0.05 * rec.ok_total() as f64,
            "{:?}",
            r.threads
        );
    }
    assert!(served.load(Ordering::Relaxed) >= rec.ok_total());
}

/// An open-loop arrival starts its task on a user that is not running one, as a Locust user
/// runs one task at a time: with 24 users on 2 threads, 16 connections and 2 ms responses,
/// about 8 tasks run at once, so users drawn without regard to what they run would overlap in
/// about one task of three (and a checkout would find its cart emptied by another). From what
/// the server received: a user's next request never arrives before the 2 ms its last one took.
/// A pool smaller than the connections need is refused.
#[test]
fn open_loop_users_run_one_task_at_a_time() {
    let _g = common::serial();
    type Log = std::sync::Mutex<Vec<(String, Instant)>>;
    let log: Arc<Log> = Arc::default();
    let l2 = log.clone();
    let addr = server(move |_, req| {
        let user = req.lines().find_map(|l| l.strip_prefix("x-user: ")).unwrap_or("none").to_string();
        l2.lock().unwrap().push((user, Instant::now()));
        (200, Duration::from_millis(2))
    });
    let mut s = boutique_users(addr);
    s.profile = spec(addr, Pattern::Open { arrival: Arrival::Poisson, rate: 4000.0 }, 1.0, 16, 5000).profile;
    s.users.as_mut().unwrap().pool = 24;
    let (g, _) = loadgen::spawn(s.clone(), 2, Arc::new(AtomicBool::new(false)), Arc::new(Progress::default())).unwrap();
    let r = g.join().unwrap();
    assert_eq!(r.recorder.error_total(), 0);
    let mut per_user: std::collections::BTreeMap<String, Vec<Instant>> = Default::default();
    for (u, t) in log.lock().unwrap().iter() {
        per_user.entry(u.clone()).or_default().push(*t);
    }
    assert!(per_user.len() > 12 && per_user.keys().all(|u| u.starts_with('u')), "{:?}", per_user.keys());
    let total: usize = per_user.values().map(Vec::len).sum();
    assert!(total > 2000, "{total} requests");
    for (u, times) in &mut per_user {
        times.sort();
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_millis(2), "{u}: a request {:?} after the last", w[1] - w[0]);
        }
    }
    s.users.as_mut().unwrap().pool = 15;
    let e = loadgen::spawn(s, 2, Arc::new(AtomicBool::new(false)), Arc::new(Progress::default()))
        .and_then(|(g, _)| g.join())
        .err()
        .expect("15 users for 16 connections on 2 threads");
    assert!(e.to_string().contains("use a pool of at least 16"), "{e}");
}

/// Closed-loop users split over 3 threads without loss or overlap: 7 users, each identity seen,
/// none twice at once, each thread with its own users.
#[test]
fn users_split_over_threads_without_loss() {
    let _g = common::serial();
    let seen: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>> = Arc::default();
    let s2 = seen.clone();
    let addr = server(move |_, req| {
        let user = req.lines().find_map(|l| l.strip_prefix("x-user: ")).unwrap_or("none").to_string();
        s2.lock().unwrap().insert(user);
        (200, Duration::from_millis(1))
    });
    let mut s = boutique_users(addr);
    s.profile = spec(addr, Pattern::Closed { users: 7, think_min_ms: 1, think_max_ms: 5 }, 1.0, 1, 5000).profile;
    let (g, _) = loadgen::spawn(s, 3, Arc::new(AtomicBool::new(false)), Arc::new(Progress::default())).unwrap();
    let r = g.join().unwrap();
    assert_eq!(r.recorder.error_total(), 0);
    let want: std::collections::BTreeSet<String> = (0..7).map(|u| format!("u{u}")).collect();
    assert_eq!(*seen.lock().unwrap(), want, "every user, and no other");
    let per: Vec<u64> = r.threads.iter().map(|t| t.requests).collect();
    assert!(per.len() == 3 && per.iter().all(|&n| n > 0), "users 0,3,6 / 1,4 / 2,5: {per:?}");
}
