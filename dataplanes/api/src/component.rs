//! Helpers for component processes (the other side of [`crate::supervisor`]).

use crate::supervisor::FIRST_FD;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};

/// The `i`-th descriptor the supervisor passed (fd 3 + i). Each may be taken once.
pub fn take_fd(i: usize) -> std::io::Result<OwnedFd> {
    let n: usize = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if i >= n || i >= 64 {
        return Err(std::io::Error::other(format!(
            "descriptor {i} was not passed (LISTEN_FDS={n}); components are started by `spright-bench run`"
        )));
    }
    static TAKEN: std::sync::Mutex<u64> = std::sync::Mutex::new(0);
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    if *taken & (1 << i) != 0 {
        return Err(std::io::Error::other(format!("descriptor {i} was already taken")));
    }
    *taken |= 1 << i;
    // SAFETY: the supervisor placed an open descriptor at FIRST_FD + i that nothing else owns,
    // and the bit set above makes sure it is wrapped only once.
    Ok(unsafe { OwnedFd::from_raw_fd(FIRST_FD + i as i32) })
}

/// The listening socket the supervisor passed as fd 3, non-blocking.
pub fn take_listener() -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::from(take_fd(0)?);
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Tell the supervisor this component can serve, and when it could ([`crate::now_ns`]): the
/// supervisor may read the line later than that on a busy machine, and a cold start's phases
/// are timed from the component's own clock reading.
pub fn signal_ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY {}", crate::now_ns());
    let _ = out.flush();
}

/// Log to stderr (the component's log file), level from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

/// Name this process's main thread (shows in `ps`, `top`, `/proc/<pid>/comm`).
pub fn set_process_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, buf.as_ptr());
    }
}

/// A tokio runtime with `workers` threads: current-thread for one (no cross-thread wake-ups on
/// the request path), multi-thread otherwise.
pub fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("{0:?}: expected ID=HOST:PORT")]
    Shape(String),
    #[error("{arg:?}: bad function id: {source}")]
    Id { arg: String, source: std::num::ParseIntError },
}

/// Parse `ID=ADDR` peer arguments.
pub fn parse_peer(s: &str) -> Result<(u16, String), PeerError> {
    let (id, addr) = s.split_once('=').ok_or_else(|| PeerError::Shape(s.to_string()))?;
    let id = id.parse::<u16>().map_err(|source| PeerError::Id { arg: s.to_string(), source })?;
    Ok((id, addr.to_string()))
}
