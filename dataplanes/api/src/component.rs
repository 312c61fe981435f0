//! Helpers for component processes (the other side of [`crate::supervisor`]).

use crate::supervisor::LISTEN_FD;
use std::io::Write;
use std::os::fd::FromRawFd;

/// The listening socket the supervisor passed as fd 3.
pub fn take_listener() -> std::io::Result<std::net::TcpListener> {
    if std::env::var("LISTEN_FDS").as_deref() != Ok("1") {
        return Err(std::io::Error::other(
            "no listening socket passed (LISTEN_FDS=1 with fd 3); components are started by `spright-bench run`",
        ));
    }
    // SAFETY: the supervisor dup'ed a listening TCP socket to fd 3 and nothing else owns it.
    let l = unsafe { std::net::TcpListener::from_raw_fd(LISTEN_FD) };
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Tell the supervisor this component can serve.
pub fn signal_ready(info: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY {info}");
    let _ = out.flush();
}

/// Log to stderr (the component's log file), level from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
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
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

/// Parse `ID=ADDR` peer arguments.
pub fn parse_peer(s: &str) -> Result<(u16, String), String> {
    let (id, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected ID=HOST:PORT"))?;
    let id = id
        .parse::<u16>()
        .map_err(|e| format!("{s:?}: bad function id: {e}"))?;
    Ok((id, addr.to_string()))
}
