//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The threads of process `pid` (`/proc/<pid>/task/<tid>`).
pub fn tasks(pid: u32) -> Vec<PathBuf> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap_or_else(|e| panic!("threads of {pid}: {e}"));
    dir.flatten().map(|t| t.path()).collect()
}

/// Every thread's `Cpus_allowed_list` of process `pid`, as procfs shows it.
pub fn thread_cpus(pid: u32) -> Vec<String> {
    tasks(pid).iter().filter_map(|t| task_cpus(t)).collect()
}

/// One thread's (`/proc/<pid>/task/<tid>`) `Cpus_allowed_list`; `None` once it is gone.
pub fn task_cpus(task: &Path) -> Option<String> {
    task_status(task, "Cpus_allowed_list")
}

/// The value of `field` in one thread's (`/proc/<pid>/task/<tid>`) `status`; `None` once the
/// thread is gone.
pub fn task_status(task: &Path, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')).map(|v| v.trim().to_string())
}

/// Tests that put load on the machine run one at a time: on 2 cores, two at once would measure
/// each other.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_spright-bench"))
}

pub fn chain_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/chains").join(format!("{name}.toml"))
}

pub fn chain(name: &str) -> workloads::Chain {
    workloads::load_chain(&chain_path(name)).unwrap()
}

/// `chain` with `from` replaced by `to` in its spec text (which must contain it), re-validated.
pub fn chain_with(chain: &workloads::Chain, from: &str, to: &str) -> workloads::Chain {
    assert!(chain.spec_text.contains(from), "{} has no {from:?}", chain.name);
    workloads::parse_chain(&chain.spec_text.replace(from, to), &chain.source).unwrap()
}

/// `spright-bench reproduce --experiments sweep ARGS --chains-dir CHAINS --out OUT`, which must
/// succeed; the rows of its `comparison.csv`.
pub fn sweep(args: &[&str], chains: &Path, out: &Path) -> Vec<harness::results::Summary> {
    let r = std::process::Command::new(exe())
        .args(["reproduce", "--experiments", "sweep"])
        .args(args)
        .arg("--chains-dir")
        .arg(chains)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{args:?}: {}", String::from_utf8_lossy(&r.stderr));
    harness::results::read_summaries(&out.join("sweep/comparison.csv")).unwrap()
}

/// A fresh path under the system temp dir (not created), removed with whatever is under it
/// when the test that made it passes; a failed test's (its run directories, its components'
/// logs) stays for reading, and the failure names it.
pub fn scratch(tag: &str) -> Scratch {
    static N: AtomicU32 = AtomicU32::new(0);
    Scratch(std::env::temp_dir().join(format!(
        "sb-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )))
}

/// A [`scratch`] path.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Scratch {
    /// The path, no longer removed here: the caller removes it.
    pub fn keep(self) -> PathBuf {
        std::mem::take(&mut std::mem::ManuallyDrop::new(self).0)
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match std::thread::panicking() {
            true if self.0.exists() => eprintln!("kept for reading: {}", self.0.display()),
            true => {}
            false => {
                let _ = std::fs::remove_dir_all(&self.0).or_else(|_| std::fs::remove_file(&self.0));
            }
        }
    }
}

/// `backend`'s options from `KEY=VALUE` strings, validated as the command line does.
pub fn backend_options(backend: &str, opts: &[&str]) -> dataplane_api::BackendOptions {
    let given: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
    harness::registry::options(harness::registry::get(backend).unwrap(), &given)
        .unwrap_or_else(|e| panic!("{backend} {opts:?}: {e}"))
}

/// What a deployment of `backend` with options `opts` gets from the driver, logging into `dir`.
pub fn deploy_env(backend: &str, dir: &Path, opts: &[&str]) -> dataplane_api::DeployEnv {
    let options = backend_options(backend, opts);
    dataplane_api::DeployEnv {
        exe: exe(),
        log_dir: dir.join("logs"),
        ready_timeout: Duration::from_secs(20),
        options,
        placement: dataplane_api::Placement::default(),
    }
}

/// Deploy `chain` on `backend` with options `opts`.
pub fn try_deploy(
    backend: &str,
    chain: &workloads::Chain,
    dir: &Path,
    opts: &[&str],
) -> Result<Box<dyn dataplane_api::Deployment>, dataplane_api::DeployError> {
    try_deploy_placed(backend, chain, dir, opts, dataplane_api::Placement::default())
}

/// [`try_deploy`] under `placement`.
pub fn try_deploy_placed(
    backend: &str,
    chain: &workloads::Chain,
    dir: &Path,
    opts: &[&str],
    placement: dataplane_api::Placement,
) -> Result<Box<dyn dataplane_api::Deployment>, dataplane_api::DeployError> {
    let env = dataplane_api::DeployEnv { placement, ..deploy_env(backend, dir, opts) };
    harness::registry::get(backend).unwrap().deploy(chain, &env)
}

/// Deploy `chain` on `backend` with its default options.
pub fn deploy(backend: &str, chain: &workloads::Chain, dir: &Path) -> Box<dyn dataplane_api::Deployment> {
    try_deploy(backend, chain, dir, &[]).unwrap_or_else(|e| panic!("deploy {} on {backend}: {e}", chain.name))
}

/// A run of `chain` on `backend` (default options) into a fresh directory, as tests drive it.
pub fn run_options(backend: &str, chain: workloads::Chain) -> harness::run::RunOptions {
    run_options_with(backend, chain, &[])
}

/// [`run_options`] with backend options `opts`.
pub fn run_options_with(backend: &str, chain: workloads::Chain, opts: &[&str]) -> harness::run::RunOptions {
    harness::run::RunOptions {
        backend: backend.into(),
        backend_options: backend_options(backend, opts),
        chain,
        out: scratch("run").keep(),
        sample_interval: Duration::from_millis(100),
        exe: exe(),
        progress: false,
        command_line: vec!["test".into()],
        ready_timeout: Duration::from_secs(20),
        prewarm_lead_s: None,
        placement: dataplane_api::Placement::default(),
        loadgen_threads: 1,
    }
}

/// Pids of live processes whose command line contains `needle`.
pub fn pids_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = cmdline(pid).join(" ");
        if cmd.contains(needle) && harness::run::pid_alive(pid) {
            out.push(pid);
        }
    }
    out
}

pub fn csv_header(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().next().unwrap_or("").split(',').map(str::to_string).collect()
}

/// The command line of a live process, one argument per element.
pub fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).split('\0').filter(|a| !a.is_empty()).map(str::to_string).collect()
}

/// The value of `--flag=value` on a process's command line.
pub fn arg_value(pid: u32, flag: &str) -> String {
    let prefix = format!("{flag}=");
    cmdline(pid)
        .iter()
        .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("pid {pid} has no {flag}"))
}

/// %CPU (100 = one core) that a deployment's processes use together over `secs` seconds.
pub fn cpu_pct(d: &dyn dataplane_api::Deployment, secs: u64) -> f64 {
    let tracked = d.components().iter().map(harness::cpu::Tracked::from).collect();
    let s = harness::cpu::Sampler::start(tracked, Duration::from_millis(500)).unwrap();
    std::thread::sleep(Duration::from_secs(secs));
    let (samples, _) = s.finish();
    let total: f64 = d
        .components()
        .iter()
        .map(|c| samples.iter().filter(|s| s.name == c.name).map(|s| s.cpu_s).fold(0.0, f64::max))
        .sum();
    total / secs as f64 * 100.0
}

/// %CPU of a deployment over successive 2 s windows until one satisfies `want`, for at most
/// 30 s; returns that window's figure, or the last one. A condition waited for, not a single
/// window that a busy machine (a parallel build) can spoil.
pub fn cpu_pct_until(d: &dyn dataplane_api::Deployment, want: impl Fn(f64) -> bool) -> f64 {
    let t0 = std::time::Instant::now();
    loop {
        let pct = cpu_pct(d, 2);
        if want(pct) || t0.elapsed() > Duration::from_secs(30) {
            return pct;
        }
    }
}

/// Wait for `cond`, checking every 20 ms, for at most `secs` seconds; panics naming `what`.
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(secs), "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The request bodies of the golden cases (`scripts/golden-replies.py`).
pub const GOLDEN_CASES: [(&str, &[u8]); 3] = [("empty", b""), ("hello", b"hello"), ("sevens", &[7u8; 3000])];

/// The golden reply of `route` of chain `chain` for case `case`, written by
/// `scripts/golden-replies.py` (which shares no code with the project).
pub fn golden(chain: &str, route: &str, case: &str) -> Vec<u8> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../workloads/tests/golden/{chain}/{route}-{case}.reply"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Send raw bytes to a server and read until it closes the connection. It must answer and close
/// (or just close) within 5 s: a server that hangs fails the test rather than passing as closed.
pub fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => buf,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => buf,
        Err(e) => panic!(
            "no answer to {:?} within 5 s ({e}); got {:?}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&buf)
        ),
    }
}

/// A chain whose first function holds each request 600 ms (4 workers), then a second one, in a
/// pool of 4 slots: a request stays in flight long enough to forge descriptors for its slot.
pub fn slow_chain() -> workloads::Chain {
    let spec = "name = \"slow\"\npool_slots = 4\n\
        [[functions]]\nid = 1\nname = \"slow\"\nhandler = \"synthetic\"\nworkers = 4\nparams = { sleep_ns = 600000000 }\n\
        [[functions]]\nid = 2\nname = \"next\"\nhandler = \"synthetic\"\n\
        [[routes]]\nname = \"r\"\nkind = \"pipeline\"\nfunctions = [\"slow\", \"next\"]\n";
    workloads::parse_chain(spec, Path::new("slow.toml")).unwrap()
}

/// The value of counter `name` of `component`; a counter the deployment lacks fails the test.
pub fn counter(cs: &[dataplane_api::Counter], component: &str, name: &str) -> u64 {
    cs.iter()
        .find(|c| c.component == component && c.name == name)
        .unwrap_or_else(|| panic!("no counter {component}/{name}: {cs:?}"))
        .value
}

/// The sum of every sample of metric `name` (whatever its labels) of the components `comp`
/// accepts: Prometheus-style counters of the Knative model's proxies.
pub fn counter_sum(cs: &[dataplane_api::Counter], comp: impl Fn(&str) -> bool, name: &str) -> u64 {
    cs.iter().filter(|c| comp(&c.component) && c.name.split('{').next() == Some(name)).map(|c| c.value).sum()
}
