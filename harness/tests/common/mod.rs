//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

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

/// A fresh path under the system temp dir (not created).
pub fn scratch(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!("sb-test-{}-{}-{tag}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
}

pub fn deploy_env(dir: &Path) -> dataplane_api::DeployEnv {
    dataplane_api::DeployEnv { exe: exe(), log_dir: dir.join("logs"), ready_timeout: Duration::from_secs(20) }
}

/// Pids of live processes whose command line contains `needle`.
pub fn pids_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
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
