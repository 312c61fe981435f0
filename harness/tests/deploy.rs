//! `spright-bench deploy` (issue 13): a chain served for an outside client with what the client
//! needs printed, its CPU logged, and everything torn down on SIGTERM.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn deploy_serves_any_client_until_sigterm() {
    let _g = serial();
    for backend in ["s-spright", "knative"] {
        let dir = scratch("deploy");
        let cpu_log = dir.join("cpu.csv");
        let mut child = Command::new(exe())
            .args(["deploy", "--backend", backend, "--sample-ms", "50", "--chain"])
            .arg(chain_path("synthetic-2"))
            .arg("--cpu-log")
            .arg(&cpu_log)
            .arg("--log-dir")
            .arg(dir.join("logs"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("serving until");
            printed.push(line);
            if done {
                break;
            }
        }
        let field = |prefix: &str| {
            printed
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in {printed:?}"))
        };
        let addr: std::net::SocketAddr = field("endpoint: http://").parse().unwrap();
        let host = field("host header: ").split_whitespace().next().unwrap().to_string();
        let host = if host == "any" { addr.to_string() } else { host };
        assert!(printed.iter().any(|l| l.trim() == "POST /pipe  (route pipe, weight 1, 64 body bytes by default)"));
        let pids: Vec<u32> = printed
            .iter()
            .filter_map(|l| l.trim().strip_prefix("pid "))
            .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
            .collect();
        assert!(pids.len() >= 3 && pids.iter().all(|&p| harness::run::pid_alive(p)), "{backend}: {printed:?}");
        // A plain HTTP client, with the printed Host header.
        let (status, body) = harness::loadgen::http::request_once(addr, "/pipe", &host, b"hello").unwrap();
        assert_eq!(status, 200, "{backend}: {}", String::from_utf8_lossy(&body));
        // The sampler samples every 50 ms: three periods give it samples to write; then SIGTERM
        // and everything goes.
        std::thread::sleep(Duration::from_millis(150));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        let status = child.wait().unwrap();
        assert!(status.success(), "{backend}: exit {status:?}");
        assert!(t.elapsed() < Duration::from_secs(10));
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(rest.iter().any(|l| l.starts_with("torn down:")), "{backend}: {rest:?}");
        assert!(pids.iter().all(|&p| !harness::run::pid_alive(p)), "{backend}: processes left");
        let cpu = harness::figures::read_csv(&cpu_log).unwrap();
        for &p in &pids {
            assert!(cpu.iter().any(|r| r["pid"] == p.to_string()), "{backend}: pid {p} not in the CPU log");
        }
    }
}

/// A CPU log that cannot be written is refused before anything is deployed (it was found only
/// at teardown, losing the samples of the whole session). A deploy that serves instead is
/// stopped, so the test fails rather than waits.
#[test]
fn a_cpu_log_it_cannot_write_is_refused_before_deploying() {
    let dir = scratch("deploy-cpu-log");
    let child = Command::new(exe())
        .args(["deploy", "--backend", "grpc", "--cpu-log", "/proc/version/cpu.csv", "--chain"])
        .arg(chain_path("synthetic-2"))
        .arg("--log-dir")
        .arg(dir.join("logs"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let refused = (0..1000).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !harness::run::pid_alive(pid)
    });
    if !refused {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(refused, "deploy served with a CPU log it cannot write: {err}");
    assert!(err.contains("error: --cpu-log /proc/version/cpu.csv: "), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ready") && !dir.join("logs").exists(), "{err}");
}
