//! The command line: bad input gets a clear message and a non-zero exit, never a panic and
//! never a results directory; Ctrl-C stops a run cleanly and still writes what was measured.

mod common;

use common::*;
use std::process::{Command, Output};
use std::time::Duration;

fn cli(args: &[&str]) -> Output {
    Command::new(exe()).args(args).output().unwrap()
}

fn fails_with(args: &[&str], needle: &str) {
    let out = cli(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.contains(needle), "{args:?}: stderr {err:?} should mention {needle:?}");
}

#[test]
fn bad_arguments_fail_clearly_and_write_nothing() {
    let out = scratch("cli");
    let o = out.to_str().unwrap();
    let chain = chain_path("synthetic-2");
    let c = chain.to_str().unwrap();
    fails_with(&["run", "--backend", "nope", "--chain", c, "--out", o], "unknown backend \"nope\"");
    fails_with(&["run", "--backend", "grpc", "--chain", "/no/such.toml", "--out", o], "/no/such.toml");
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--rate=-5", "--out", o], "--rate -5");
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--duration", "0", "--out", o], "--duration");
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--pattern", "wave", "--out", o], "wave");
    fails_with(&["run", "--backend", "grpc", "--out", o], "--chain");
    fails_with(&["run", "--backend", "knative-remote", "--chain", c, "--out", o], "needs --backend-opt ingress=");
    fails_with(
        &["run", "--backend", "d-spright", "--chain", c, "--backend-opt", "colour=red", "--out", o],
        "backend d-spright has no option \"colour\"; its options: poll, pool, cpus",
    );
    fails_with(
        &["run", "--backend", "d-spright", "--chain", c, "--backend-opt", "cpus=3-1", "--out", o],
        "--backend-opt cpus=3-1: a DPDK cpuset",
    );
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--backend-opt", "x", "--out", o], "expected KEY=VALUE");
    fails_with(
        &["reproduce", "--backends", "grpc,s-spright", "--backend-opt", "poll=busy", "--out", o],
        "none of the backends run (grpc, s-spright) has an option \"poll\"",
    );
    fails_with(
        &["reproduce", "--backends", "grpc", "--backend-opt", "d-spright:poll=busy", "--out", o],
        "backend d-spright is not among those run (grpc)",
    );
    fails_with(&["knative", "manifests", "--chain", "/no/such.toml", "--out", o], "/no/such.toml");
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--think-ms", "9", "--out", o], "MIN-MAX");
    let bad = scratch("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[[functions]]\nid = 1\nname = \"a\"\nhandler = \"synthetic\"\n[[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"b\"]\n").unwrap();
    fails_with(
        &["run", "--backend", "grpc", "--chain", bad.to_str().unwrap(), "--out", o],
        "routes[0] \"r\".functions[0]: unknown function \"b\"",
    );
    assert!(!out.exists(), "a failed run must not create its results directory");
    assert!(!out.with_file_name(format!("{}.partial", out.file_name().unwrap().to_string_lossy())).exists());
    let _ = std::fs::remove_file(bad);
}

#[test]
fn existing_results_are_never_overwritten() {
    let out = scratch("exists");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "data").unwrap();
    let chain = chain_path("synthetic-2");
    fails_with(
        &["run", "--backend", "grpc", "--chain", chain.to_str().unwrap(), "--out", out.to_str().unwrap()],
        "already exists",
    );
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "data");
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn help_explains_every_run_option() {
    let out = cli(&["run", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--backend",
        "--chain",
        "--rate",
        "--duration",
        "--out",
        "--pattern",
        "--users",
        "--think-ms",
        "--connections",
        "--warmup",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
    let out = cli(&["backends"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for b in harness::registry::all() {
        assert!(text.contains(b.name()), "backends lacks {}", b.name());
    }
    assert!(text.contains("--backend-opt poll=busy|backoff (default busy)"), "{text}");
    assert!(text.contains("--backend-opt ingress=VALUE (required)"), "{text}");
}

#[test]
fn knative_manifests_are_written() {
    let out = scratch("manifests");
    let c = chain_path("synthetic-5");
    let r = cli(&["knative", "manifests", "--chain", c.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for f in ["services.yaml", "Dockerfile", "chain.toml"] {
        assert!(out.join(f).is_file(), "{f} missing");
        assert!(String::from_utf8_lossy(&r.stdout).contains(f), "the paths written are printed");
    }
    let yaml = std::fs::read_to_string(out.join("services.yaml")).unwrap();
    assert_eq!(yaml.matches("kind: Service\n").count(), 6, "five functions and the gateway");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn env_reports_the_machine() {
    let out = cli(&["env", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(v["cores_online"].as_u64().unwrap() >= 1);
    // This machine and CI are set up by scripts/setup.sh: the kernel features must be there.
    assert!(v["sockmap"].get("Ok").is_some(), "SOCKMAP probe failed: {}", v["sockmap"]);
    assert_eq!(v["bpffs_mounted"], true);
    assert!(v["hugepages_total"].as_u64().unwrap() > 0);
}

#[test]
fn ctrl_c_stops_the_run_and_cleans_up() {
    let _g = serial();
    for backend in harness::registry::local().iter().map(|b| b.name()) {
        let out = scratch("sigint");
        let chain = chain_path("synthetic-2");
        let child = Command::new(exe())
            .args([
                "run",
                "--backend",
                backend,
                "--chain",
                chain.to_str().unwrap(),
                "--rate",
                "100",
                "--duration",
                "30",
            ])
            .args(["--warmup", "0.5", "--quiet", "--out", out.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let driver = child.id();
        std::thread::sleep(Duration::from_secs(3));
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(driver as i32, libc::SIGINT) };
        let t0 = std::time::Instant::now();
        let res = child.wait_with_output().unwrap();
        assert!(t0.elapsed() < Duration::from_secs(15), "{backend}: interrupt took {:?}", t0.elapsed());
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(res.status.success(), "{backend}: exit {:?}: {err}", res.status);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["interrupted"], true);
        assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("interrupted"));
        assert!(pids_with(out.to_str().unwrap()).is_empty(), "{backend}: processes of the run are still alive");
        // Host state of the run: its pool file and DPDK runtime directory are gone.
        let mine = |dir: &str, prefix: &str| -> Vec<String> {
            std::fs::read_dir(dir)
                .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.starts_with(prefix))
                .collect()
        };
        assert!(mine(shm::POOL_DIR, &format!("{driver}-")).is_empty(), "{backend}: pool file left");
        assert!(mine("/var/run/dpdk", &format!("sbd{driver}c")).is_empty(), "{backend}: DPDK runtime dir left");
        std::fs::remove_dir_all(out).unwrap();
    }
}
