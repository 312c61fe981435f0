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

/// More open-loop connections than S-SPRIGHT's pool slots is a warning that names both (the
/// requests beyond the slots are refused); gRPC, which has no slots, gets none.
#[test]
fn more_connections_than_pool_slots_is_a_warning() {
    let _g = serial();
    let dir = scratch("slots");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(chain_path("synthetic-2")).unwrap();
    let file = dir.join("four-slots.toml");
    std::fs::write(&file, text.replacen("[[functions]]", "pool_slots = 4\n\n[[functions]]", 1)).unwrap();
    for (backend, warned) in [("s-spright", true), ("grpc", false)] {
        let out = dir.join(backend);
        let args = ["--connections", "8", "--rate", "100", "--duration", "0.5", "--warmup", "0"];
        let run = Command::new(exe())
            .args(["run", "--backend", backend, "--chain", file.to_str().unwrap(), "--quiet", "--out"])
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{backend}: {err}");
        let said = err.contains(
            "8 connections, but s-spright admits at most 4 requests of synthetic-2 at once (its pool slots): \
             requests beyond them are refused (503) and count as errors; raise pool_slots in the chain's file \
             or lower --connections",
        );
        assert_eq!(said, warned, "{backend}: {err}");
    }
}

#[test]
fn bad_arguments_fail_clearly_and_write_nothing() {
    let out = scratch("cli");
    let o = out.to_str().unwrap();
    let chain = chain_path("synthetic-2");
    let c = chain.to_str().unwrap();
    fails_with(&["run", "--backend", "nope", "--chain", c, "--out", o], "unknown backend \"nope\"");
    // The cause is named once: the chain error's message already ends with it.
    fails_with(
        &["run", "--backend", "grpc", "--chain", "/no/such.toml", "--out", o],
        "/no/such.toml: cannot read chain spec: No such file or directory (os error 2)\n",
    );
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--rate=-5", "--out", o], "--rate -5");
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--duration", "0", "--out", o], "--duration");
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--pattern", "wave", "--out", o], "wave");
    fails_with(&["run", "--backend", "grpc", "--out", o], "--chain");
    fails_with(&["run", "--backend", "knative-remote", "--chain", c, "--out", o], "needs --backend-opt ingress=");
    fails_with(
        &["run", "--backend", "d-spright", "--chain", c, "--backend-opt", "colour=red", "--out", o],
        "backend d-spright has no option \"colour\"; its options: poll, pool",
    );
    fails_with(
        &["run", "--backend", "s-spright", "--chain", c, "--placement", "gateway=9999", "--out", o],
        "--placement: CPU 9999 (for gateway) is not one this process may use (allowed: ",
    );
    fails_with(
        &["run", "--backend", "s-spright", "--chain", c, "--placement", "gateway=0,nope=1", "--out", o],
        "--placement: no component \"nope\" in chain synthetic-2",
    );
    fails_with(
        &["reproduce", "--placement", "fast", "--out", o],
        "--placement \"fast\": expected none, paper, one-core or a map",
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
    // reproduce, summarize and load refuse bad input as clearly.
    fails_with(&["reproduce", "--start-rate", "0", "--out", o], "--start-rate");
    fails_with(&["reproduce", "--max-points", "0", "--out", o], "--max-points");
    fails_with(&["reproduce", "--refine", "0.5", "--out", o], "--refine 0.5 must be >= 1");
    fails_with(&["reproduce", "--chains", "nope", "--out", o], "nope.toml");
    fails_with(&["reproduce", "--backends", "grpc,nope", "--out", o], "unknown backend \"nope\"");
    fails_with(&["reproduce", "--experiments", "sweep,nope", "--out", o], "unknown experiment \"nope\"; use sweep,");
    fails_with(&["reproduce", "--users-factor", "0", "--out", o], "--users-factor 0 must be in (0, 20]");
    fails_with(&["reproduce", "--compress", "2", "--out", o], "--compress 2 must be in (0, 1]");
    fails_with(&["reproduce", "--quick", "--full", "--out", o], "cannot be used with");
    let chains = chain_path("online-boutique").parent().unwrap().to_str().unwrap().to_string();
    fails_with(
        &["reproduce", "--experiments", "boutique", "--backends", "s-spright", "--chains-dir", &chains, "--out", o],
        "calibrates its user scale on knative or grpc",
    );
    // A backend option refused for one of the chains, or options that need each other, fail
    // before the first step (the sweep's synthetic-2 would relay; Online Boutique cannot).
    fails_with(
        &[
            "reproduce",
            "--experiments",
            "sweep",
            "--chains",
            "synthetic-2,online-boutique",
            "--backends",
            "grpc,s-spright",
            "--backend-opt",
            "function-runtime=relay",
            "--chains-dir",
            &chains,
            "--out",
            o,
        ],
        "s-spright on chain online-boutique",
    );
    fails_with(
        &[
            "reproduce",
            "--experiments",
            "sweep",
            "--chains",
            "online-boutique",
            "--backends",
            "d-spright",
            "--backend-opt",
            "function-runtime=relay",
            "--chains-dir",
            &chains,
            "--out",
            o,
        ],
        "is a call tree",
    );
    fails_with(
        &[
            "reproduce",
            "--backends",
            "s-spright",
            "--backend-opt",
            "worker-cpus=by-queue",
            "--chains-dir",
            &chains,
            "--out",
            o,
        ],
        "it needs queues=per-worker",
    );
    fails_with(
        &["reproduce", "--experiments", "sweep", "--start-rate", "4000", "--max-points", "20", "--out", o],
        "--start-rate 4000 with --step 2 and --max-points 20 would offer up to 2097152000 req/s; the most a point may offer is 10000000",
    );
    fails_with(
        &["run", "--backend", "grpc", "--chain", c, "--rate", "1e308", "--out", o],
        "at most 10000000 requests per second",
    );
    fails_with(&["summarize", "/no/such/dir"], "/no/such/dir: no such directory");
    let garbage = scratch("garbage");
    std::fs::create_dir_all(garbage.join("logs")).unwrap();
    // The parent of a sweep and a run: summarize names what it holds.
    for (child, marker) in [("s1", "comparison.csv"), ("r1", "summary.csv")] {
        std::fs::create_dir_all(garbage.join("runs").join(child)).unwrap();
        std::fs::write(garbage.join("runs").join(child).join(marker), "").unwrap();
    }
    fails_with(
        &["summarize", garbage.join("runs").to_str().unwrap()],
        "neither a reproduce directory (paper.json), a sweep (comparison.csv) nor a run (summary.csv); it holds: r1 (run), s1 (sweep)\n",
    );
    fails_with(&["summarize", garbage.to_str().unwrap()], "nor a run (summary.csv)\n");
    std::fs::write(garbage.join("comparison.csv"), "not,a\nsummary,row\n").unwrap();
    std::fs::write(garbage.join("reproduce.json"), "{}").unwrap();
    fails_with(&["summarize", garbage.to_str().unwrap()], "reproduce.json");
    std::fs::write(
        garbage.join("reproduce.json"),
        r#"{"command_line":[],"machine":"m","duration_s":1,"warmup_s":0,"start_rate":1}"#,
    )
    .unwrap();
    fails_with(&["summarize", garbage.to_str().unwrap()], "comparison.csv");
    std::fs::write(garbage.join("paper.json"), "{").unwrap();
    fails_with(&["summarize", garbage.to_str().unwrap()], "parse paper.json");
    fails_with(&["load", "--url", "https://127.0.0.1/"], "must start with http://");
    fails_with(&["load", "--url", "http://127.0.0.1:1/a b"], "the path has a space or a control character");
    fails_with(&["load", "--url", "http://127.0.0.1:1/", "--header", "no colon"], "expected 'Name: value'");
    fails_with(&["load", "--url", "http://127.0.0.1:1/", "--rate=-1"], "--rate -1");
    fails_with(
        &["load", "--url", "http://127.0.0.1:1/", "--pattern", "closed", "--rate", "5"],
        "applies only to --pattern open",
    );
    // A bad trace is refused before anything is deployed, naming the line (issue 11).
    let trace = scratch("trace.txt");
    std::fs::write(&trace, "0\n5\n3\n").unwrap();
    let t = trace.to_str().unwrap();
    fails_with(
        &["run", "--backend", "grpc", "--chain", c, "--pattern", "trace", "--trace", t, "--out", o],
        ":3: 3 is earlier",
    );
    std::fs::write(&trace, "0\nfive\n").unwrap();
    fails_with(
        &["run", "--backend", "grpc", "--chain", c, "--pattern", "trace", "--trace", t, "--out", o],
        ":2: \"five\" is not a number",
    );
    fails_with(&["run", "--backend", "grpc", "--chain", c, "--pattern", "trace", "--out", o], "needs a trace file");
    fails_with(
        &["run", "--backend", "grpc", "--chain", c, "--trace", t, "--out", o],
        "applies only to --pattern trace",
    );
    fails_with(
        &[
            "run",
            "--backend",
            "grpc",
            "--chain",
            c,
            "--pattern",
            "trace",
            "--trace",
            t,
            "--time-scale",
            "0",
            "--out",
            o,
        ],
        "--time-scale 0",
    );
    let _ = std::fs::remove_file(&trace);
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
    // How idle CPUs wait, read from sysfs independently here.
    let driver = std::fs::read_to_string("/sys/devices/system/cpu/cpuidle/current_driver").unwrap_or_default();
    match driver.trim() {
        "" => assert!(v["cpu_idle"].is_null(), "{}", v["cpu_idle"]),
        d => assert!(v["cpu_idle"].as_str().is_some_and(|s| s.starts_with(&format!("{d}/"))), "{}", v["cpu_idle"]),
    }
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
        // Interrupt once the run is under load: its chain deployed, half a second more.
        wait_for("the run's chain deployed", 60, || {
            pids_with(out.to_str().unwrap()).iter().any(|&p| cmdline(p).iter().any(|a| a == "--id=2"))
        });
        std::thread::sleep(Duration::from_millis(1500));
        // Twice, 20 ms apart, as GNU `timeout` does (the command, then its process group): one
        // interrupt, still cleaned up. SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(driver as i32, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(20));
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
    }
}

/// A command run in a private mount namespace after `setup` (shell), so that mounts made to
/// hide something from it do not touch the machine.
fn in_private_mounts(setup: &str, args: &[&str]) -> Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!("{setup} && exec '{}' {}", exe().display(), quoted.join(" "));
    Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap()
}

/// Regression (issue 12): on a machine without a font, a run stopped at its first figure and its
/// measurements were lost. The font is built in: with every installed font hidden, the figures
/// are still drawn. And a figure that cannot be written loses nothing: summary.md is written
/// first and the failure is a warning that says how to redraw.
#[test]
fn figures_need_no_installed_font_and_never_cost_a_measurement() {
    let run = scratch("fonts");
    std::fs::create_dir_all(&run).unwrap();
    let files = [
        (
            "summary.csv",
            "backend,chain,pattern,offered_rps,duration_s,ok,errors,achieved_rps,p50_us,p90_us,p99_us,p999_us,max_us,mean_us,sut_cpu_s,sut_cpu_s_per_1k,loadgen_cpu_pct,background_cpu_pct,send_lag_p50_us,send_lag_p99_us,cold_starts,interrupted\n\
             grpc,c,open,100.000,2.000,200,0,100.000,500.000,600.000,700.000,800.000,900.000,510.000,0.100,0.500,1.000,0.500,10.000,20.000,0,false\n",
        ),
        ("timeseries.csv", "second,ok,errors,p50_us,p90_us,p99_us,max_us\n0,100,0,500.0,600.0,700.0,900.0\n1,100,0,510.0,610.0,720.0,880.0\n"),
        ("cpu.csv", "t_s,component,role,pid,cpu_pct,cpu_s,alive\n0.5,fn-1,function,1,10.0,0.05,true\n1.0,fn-1,function,1,12.0,0.11,true\n"),
    ];
    for (f, text) in files {
        std::fs::write(run.join(f), text).unwrap();
    }
    let out = in_private_mounts("mount -t tmpfs none /usr/share/fonts", &["summarize", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["timeline.png", "timeline.svg", "cpu.png", "cpu.svg"] {
        assert!(std::fs::metadata(run.join(f)).map(|m| m.len() > 1000).unwrap_or(false), "{f} not drawn");
    }
    // A reproduce directory whose figure cannot be written (a directory stands in its place).
    let rep = scratch("figfail");
    std::fs::create_dir_all(rep.join("latency_vs_throughput.png")).unwrap();
    // A second row as knative-remote writes it: CPU not measured, empty cells.
    let unmeasured = "knative-remote,c,open,100.000,2.000,200,0,100.000,900.000,950.000,990.000,999.000,999.000,910.000,,,1.000,0.500,10.000,20.000,0,false\n";
    std::fs::write(rep.join("comparison.csv"), format!("{}{unmeasured}", files[0].1)).unwrap();
    std::fs::write(
        rep.join("reproduce.json"),
        r#"{"command_line":["x"],"machine":"m","duration_s":2.0,"warmup_s":0.5,"start_rate":100.0}"#,
    )
    .unwrap();
    let out = cli(&["summarize", rep.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("figures not drawn") && err.contains("spright-bench summarize"), "{err}");
    let md = std::fs::read_to_string(rep.join("summary.md")).unwrap();
    assert!(md.contains("| grpc | 100 | not recorded | 100 | 500 | 700 |"), "{md}");
    assert!(
        md.contains("| knative-remote | 100 | not recorded | 100 | 900 | 990 | 0 | not measured |"),
        "unmeasured CPU stays unmeasured: {md}"
    );
}

/// Regression (issue 12): with hugetlbfs gone, S-SPRIGHT ran on ordinary memory under a label
/// that says hugepages. It refuses, clearly, before anything starts.
#[test]
fn shared_memory_backends_refuse_a_pool_outside_hugetlbfs() {
    let _g = serial();
    let chain = chain_path("synthetic-2");
    for backend in ["s-spright", "u-spright"] {
        let out = scratch("nohuge");
        let r = in_private_mounts(
            "mount -t tmpfs none /dev/hugepages",
            &[
                "run",
                "--backend",
                backend,
                "--chain",
                chain.to_str().unwrap(),
                "--duration",
                "1",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{backend}: ran without hugepages: {err}");
        assert!(err.contains("/dev/hugepages is not on hugetlbfs"), "{backend}: {err}");
        assert!(!out.exists(), "{backend}: a refused run leaves no results directory");
    }
}
