//! Component processes: start, wait for readiness, kill and reap.
//!
//! Why socket activation: the supervisor binds each component's listening socket itself (on
//! `127.0.0.1:0`) and passes it as fd 3 (`LISTEN_FDS=1`, as systemd does; further descriptors,
//! such as S-SPRIGHT's socket-map sockets, follow as fd 4, 5, ...). Every address is
//! known before any process starts, so components can be given their peers' addresses on the
//! command line, clients' connections queue in the backlog until the component accepts, and
//! there is no port-picking race and no start-order sleep (the paper artifact's weakness).
//!
//! Readiness: a component prints one line `READY <now_ns>` on stdout when it can serve (the
//! time it could, on the host's one clock, [`crate::now_ns`]). Its stderr
//! and the rest of its stdout go to `<log_dir>/<name>.log`.
//!
//! Cleanup: children run in their own process group (a terminal's Ctrl-C reaches only the
//! driver, which then tears down in order) with `PR_SET_PDEATHSIG = SIGKILL` (if the driver is
//! killed outright, they die with it). [`Supervisor::shutdown`] (also run on drop) sends SIGTERM
//! to each process group, SIGKILL after a grace period, and reaps every child.

use crate::{Component, DeployError, Exit, Role};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How to start one component.
#[derive(Debug)]
pub struct ComponentSpec {
    pub name: String,
    pub role: Role,
    /// Arguments after `<exe> component <backend>`.
    pub args: Vec<String>,
    /// Descriptors handed to the process as fds 3, 4, ... in order (`LISTEN_FDS` = count).
    pub fds: Vec<OwnedFd>,
    /// The chain function (id, name) this process runs or serves (a function, its sidecar), for
    /// placement.
    pub function: Option<(u16, String)>,
}

impl ComponentSpec {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        ComponentSpec { name: name.into(), role, args: Vec::new(), fds: Vec::new(), function: None }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<S: Into<String>>(mut self, a: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }
    /// The process runs (or serves) chain function `id` called `name`.
    pub fn function(mut self, id: u16, name: impl Into<String>) -> Self {
        self.function = Some((id, name.into()));
        self
    }
    /// Pass a listening socket (or any descriptor) as the next fd.
    pub fn fd(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.fds.push(fd.into());
        self
    }
}

struct Running {
    component: Component,
    child: Child,
}

/// Owns the processes of one deployment.
pub struct Supervisor {
    exe: PathBuf,
    backend: String,
    log_dir: PathBuf,
    ready_timeout: Duration,
    placement: crate::Placement,
    running: Vec<Running>,
    done: bool,
}

/// Fd number of the first descriptor a component is given (its listener, where it has one).
pub const FIRST_FD: i32 = 3;
const MAX_FDS: usize = 16;
const GRACE: Duration = Duration::from_secs(2);

impl Supervisor {
    pub fn new(env: &crate::DeployEnv, backend: &str) -> Result<Self, DeployError> {
        std::fs::create_dir_all(&env.log_dir)
            .map_err(|source| DeployError::Io { what: format!("create log dir {}", env.log_dir.display()), source })?;
        Ok(Supervisor {
            exe: env.exe.clone(),
            backend: backend.to_string(),
            log_dir: env.log_dir.clone(),
            ready_timeout: env.ready_timeout,
            placement: env.placement.clone(),
            running: Vec::new(),
            done: false,
        })
    }

    /// Start a component and wait until it prints `READY`. Returns when it was ready: the time
    /// on its `READY` line ([`crate::now_ns`]), or the time the line was read if it has none.
    pub fn start(&mut self, spec: ComponentSpec) -> Result<u64, DeployError> {
        let log_path = self.log_dir.join(format!("{}.log", spec.name));
        let io = |what: &str, source| DeployError::Io { what: format!("{what} {}", log_path.display()), source };
        let log = File::create(&log_path).map_err(|e| io("create", e))?;
        let log_err = log.try_clone().map_err(|e| io("open", e))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("component").arg(&self.backend).args(&spec.args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log_err));
        let raw: Vec<i32> = spec.fds.iter().map(|f| f.as_raw_fd()).collect();
        if raw.len() > MAX_FDS {
            return Err(DeployError::Io {
                what: format!("start {}", spec.name),
                source: std::io::Error::other("too many descriptors"),
            });
        }
        if !raw.is_empty() {
            cmd.env("LISTEN_FDS", raw.len().to_string());
        }
        let function = spec.function.as_ref().map(|(id, name)| (*id, name.as_str()));
        let cpus = self.placement.cpus(crate::Slot { role: spec.role, function }).unwrap_or_default();
        // SAFETY: the closure only makes async-signal-safe calls (setpgid, prctl, sched_setaffinity,
        // fcntl, dup2).
        unsafe {
            cmd.pre_exec(move || {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // Every thread the process starts inherits this.
                if !cpus.is_empty() {
                    crate::placement::set_affinity(0, &cpus)?;
                }
                // Move every descriptor out of the way first, so that placing one at 3 + i
                // never overwrites another still to be placed; the copies close at exec.
                let mut high = [0i32; MAX_FDS];
                for (i, &fd) in raw.iter().enumerate() {
                    high[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 64);
                    if high[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (i, &h) in high.iter().enumerate().take(raw.len()) {
                    if libc::dup2(h, FIRST_FD + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|source| DeployError::Spawn { name: spec.name.clone(), source })?;
        drop(spec.fds); // the child holds its own copies now
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        let mut log_out = log;
        std::thread::Builder::new()
            .name(format!("stdout-{}", spec.name))
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let mut sent = false;
                while let Some(Ok(line)) = lines.next() {
                    if !sent {
                        if let Some(rest) = line.strip_prefix("READY") {
                            let _ = tx.send(rest.trim().parse().unwrap_or_else(|_| crate::now_ns()));
                            sent = true;
                            continue;
                        }
                    }
                    let _ = writeln!(log_out, "{line}");
                }
            })
            .map_err(|source| DeployError::Io { what: "spawn stdout reader".into(), source })?;
        let component = Component { pid: child.id(), role: spec.role, name: spec.name.clone() };
        self.running.push(Running { component, child });
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(ready) => return Ok(ready),
                Err(mpsc::RecvTimeoutError::Timeout) | Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            let r = self.running.last_mut().expect("just pushed");
            if let Ok(Some(status)) = r.child.try_wait() {
                // Give the reader a moment to flush the last lines into the log.
                std::thread::sleep(Duration::from_millis(50));
                return Err(DeployError::DiedEarly {
                    name: spec.name,
                    status: describe(status),
                    log_tail: tail(&log_path),
                });
            }
            if Instant::now() > deadline {
                return Err(DeployError::NotReady {
                    name: spec.name,
                    timeout: self.ready_timeout,
                    log_tail: tail(&log_path),
                });
            }
        }
    }

    pub fn components(&self) -> Vec<Component> {
        self.running.iter().map(|r| r.component.clone()).collect()
    }

    /// Kill (SIGTERM, then SIGKILL after a grace period) and reap the component `name`, the others
    /// running on. `None` if there is none of that name.
    pub fn stop_one(&mut self, name: &str) -> Option<Exit> {
        let i = self.running.iter().position(|r| r.component.name == name)?;
        let mut r = self.running.remove(i);
        if let Ok(Some(status)) = r.child.try_wait() {
            kill_group(r.component.pid, libc::SIGKILL);
            return Some(Exit { component: r.component, status: Some(describe(status)), died_during_run: true });
        }
        kill_group(r.component.pid, libc::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while matches!(r.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        kill_group(r.component.pid, libc::SIGKILL);
        let _ = r.child.wait();
        Some(Exit { component: r.component, status: None, died_during_run: false })
    }

    /// Kill (SIGTERM, then SIGKILL after a grace period) and reap every process, newest first.
    pub fn shutdown(mut self) -> Vec<Exit> {
        self.stop()
    }

    /// [`Supervisor::shutdown`] for an owner that cannot give the supervisor up (its own `Drop`
    /// follows the same order). Only the first call stops anything.
    pub fn stop(&mut self) -> Vec<Exit> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut exits = Vec::new();
        let mut pending = Vec::new();
        for mut r in self.running.drain(..).rev() {
            match r.child.try_wait() {
                Ok(Some(status)) => {
                    exits.push(Exit {
                        component: r.component.clone(),
                        status: Some(describe(status)),
                        died_during_run: true,
                    });
                    kill_group(r.component.pid, libc::SIGKILL);
                }
                _ => {
                    kill_group(r.component.pid, libc::SIGTERM);
                    pending.push(r);
                }
            }
        }
        let deadline = Instant::now() + GRACE;
        while !pending.is_empty() {
            pending.retain_mut(|r| match r.child.try_wait() {
                Ok(Some(_)) => {
                    exits.push(Exit { component: r.component.clone(), status: None, died_during_run: false });
                    kill_group(r.component.pid, libc::SIGKILL);
                    false
                }
                Ok(None) if Instant::now() > deadline => {
                    kill_group(r.component.pid, libc::SIGKILL);
                    let _ = r.child.wait();
                    exits.push(Exit { component: r.component.clone(), status: None, died_during_run: false });
                    false
                }
                Ok(None) => true,
                Err(_) => false,
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        exits
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Signal the process group a component leads (it and anything it started).
fn kill_group(pid: u32, sig: i32) {
    // SAFETY: plain syscall; a group that no longer exists gives ESRCH, which is fine.
    unsafe {
        libc::kill(-(pid as i32), sig);
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// Last lines of a log file, for error messages.
pub fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Bind a listening socket on loopback with an ephemeral port; returns it with its address
/// (which every caller passes on to the component's peers or clients).
pub fn loopback_listener() -> Result<(TcpListener, std::net::SocketAddr), DeployError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|source| DeployError::Io { what: "bind 127.0.0.1:0".into(), source })?;
    let addr = l.local_addr().map_err(DeployError::io("listener address"))?;
    Ok((l, addr))
}
