//! The load generator: an epoll loop (mio) per thread, non-blocking HTTP/1.1 connections; with
//! several threads ([`spawn`]) each drives its share of the arrivals or users and their
//! histograms are merged exactly at the end.
//!
//! Open loop (constant or Poisson) and bursts follow a [`schedule::Schedule`] of intended send
//! times; a due request goes out on the first free connection and its latency is measured from
//! its *intended* time, so a stalled server shows up as latency, never as fewer samples (no
//! coordinated omission, as in wrk2). Closed loop gives each user its own connection: send,
//! wait for the response, think (uniform in the profile's range), repeat; latency is from the
//! actual send.
//!
//! Why not tokio/hyper here: tokio's timer wheel has 1 ms granularity, which would add up to a
//! millisecond of false latency to requests whose hops cost microseconds. This loop sleeps on a
//! `timerfd` with an absolute deadline and 1 ns timer slack, and its framing is a few hundred
//! lines, which keeps a single core competitive with wrk (see README).

pub mod http;
pub mod record;
pub mod schedule;
pub mod url;

use crate::clock::now_ns;
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use record::Recorder;
use schedule::{Schedule, Share};
use std::collections::{BinaryHeap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use workloads::load::{LoadProfile, Pattern};
use workloads::rng::SplitMix64;
use workloads::users::{Choice, Users};
use workloads::Mix;

/// What to send.
#[derive(Clone)]
pub struct LoadSpec {
    pub target: SocketAddr,
    /// `Host` header value.
    pub host: String,
    /// Further headers every request carries.
    pub headers: Vec<(String, String)>,
    /// HTTP method (`POST` for chains).
    pub method: String,
    /// (route id, route name, request path, body) for every route in the mix.
    pub routes: Vec<(u16, String, String, Vec<u8>)>,
    pub mix: Option<Mix>,
    pub profile: LoadProfile,
    /// Locust-style users: when set, every request comes from a user's task (identity, path and
    /// body from the templates) instead of the route mix.
    pub users: Option<Users>,
    /// Local addresses connections are spread over (connection `c` uses `c % len`); empty:
    /// the kernel's choice. Tens of thousands of connections to one loopback port would
    /// otherwise nearly exhaust one address's ephemeral ports ([`source_addresses`]).
    pub sources: Vec<std::net::Ipv4Addr>,
    /// Close a connection after each task (each request, without users), so that a user holds
    /// no socket while thinking: for more users than the open-file limit allows
    /// ([`crate::limits`]).
    pub close_idle: bool,
    /// CPUs the generator's thread is pinned to (`--placement`); `None`: not pinned.
    pub cpus: Option<Vec<usize>>,
}

/// The arrival process: the profile's, except that with users an open-loop arrival is a task,
/// so tasks arrive at the rate divided by the requests a task sends on average, and the
/// offered rate stays requests per second.
fn arrivals(spec: &LoadSpec) -> Pattern {
    match (&spec.profile.pattern, &spec.users) {
        (Pattern::Open { arrival, rate }, Some(u)) => {
            Pattern::Open { arrival: *arrival, rate: rate / u.requests_per_task() }
        }
        (p, _) => p.clone(),
    }
}

/// The spec's headers, plus `Connection: close` if `close`.
fn headers(spec: &LoadSpec, close: bool) -> Vec<(String, String)> {
    let mut h = spec.headers.clone();
    if close {
        h.push(("Connection".into(), "close".into()));
    }
    h
}

/// Connections the generator opens at most: one per closed-loop user, else its pool.
pub fn connections(p: &LoadProfile) -> usize {
    match p.pattern {
        Pattern::Closed { users, .. } => users as usize,
        Pattern::Burst { size, .. } => (size as usize).max(p.connections as usize),
        Pattern::Open { .. } | Pattern::Trace(_) => p.connections as usize,
    }
}

/// Open loop with users: the users of thread `index` of `of` (every `of`-th of the pool from
/// `index` on), so that no two threads act as one user.
fn users_of_share(pool: u32, share: Share) -> Vec<u32> {
    (share.index..pool as u64).step_by(share.of as usize).map(|u| u as u32).collect()
}

/// The connections each of `threads` generator threads opens in an open loop.
fn connections_per_thread(p: &LoadProfile, threads: usize) -> usize {
    connections(p).div_ceil(threads.max(1)).max(1)
}

/// Open loop with users: an arrival starts a task of a user that is not running one (as a
/// Locust user runs one task at a time), so every thread needs at least as many users of its
/// own as it has connections, each of which may be running a task.
pub fn check_users(p: &LoadProfile, users: Option<&Users>, threads: usize) -> Result<(), String> {
    if matches!(p.pattern, Pattern::Closed { .. }) {
        return Ok(());
    }
    let (Some(u), Some(most)) = (users, most_connections(users, threads)) else { return Ok(()) };
    let of = threads.max(1);
    let conns = connections_per_thread(p, of);
    match connections(p) <= most {
        true => Ok(()),
        false => Err(format!(
            "a user pool of {} is too small for {} connections on {of} generator thread(s): a task runs on a user not running one, \
             so each thread needs a user for each of its {conns} connections; use a pool of at least {}",
            u.pool,
            connections(p),
            conns * of
        )),
    }
}

/// The most open-loop connections `threads` generator threads may open with the user pool of
/// `users` ([`check_users`]); `None`: no users, no bound.
pub fn most_connections(users: Option<&Users>, threads: usize) -> Option<usize> {
    let of = threads.max(1);
    // Thread i has every of-th user from i on ([`users_of_share`]): the last thread the fewest,
    // and each thread opens its share of the connections rounded up.
    users.map(|u| u.pool as usize / of * of)
}

/// Connections one source address should carry at most: well inside the default ephemeral
/// port range (32768-60999), leaving room for TIME_WAIT sockets of an earlier run.
pub const CONNECTIONS_PER_SOURCE: usize = 12_000;

/// Source addresses for `connections` connections to `target`: `127.0.0.1`, `127.0.0.2`, ...
/// (all of 127/8 is loopback on Linux) when the target is on loopback and one address would
/// carry more than [`CONNECTIONS_PER_SOURCE`]; none otherwise.
pub fn source_addresses(target: SocketAddr, connections: usize) -> Vec<std::net::Ipv4Addr> {
    let n = connections.div_ceil(CONNECTIONS_PER_SOURCE);
    if !target.ip().is_loopback() || n <= 1 {
        return Vec::new();
    }
    (1..=n.min(254) as u8).map(|i| std::net::Ipv4Addr::new(127, 0, 0, i)).collect()
}

/// A non-blocking connect to `target`, from `source` if given. The source is bound with
/// `IP_BIND_ADDRESS_NO_PORT`, so the kernel picks the port at connect time per 4-tuple and
/// every source address has the whole ephemeral range. With `reset_on_close` the socket lingers
/// 0 s: closing it (after a complete response) resets it instead of leaving a TIME_WAIT socket,
/// which thousands of users reconnecting every few seconds would pile up by the hundred thousand.
fn connect_from(
    target: SocketAddr,
    source: Option<std::net::Ipv4Addr>,
    reset_on_close: bool,
) -> std::io::Result<TcpStream> {
    let domain = if target.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    if reset_on_close {
        sock.set_linger(Some(std::time::Duration::ZERO))?;
    }
    if let Some(src) = source {
        let one: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option value of the right size.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        sock.bind(&SocketAddr::new(src.into(), 0).into())?;
    }
    match sock.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

/// Live counters for progress display.
#[derive(Default)]
pub struct Progress {
    pub ok: AtomicU64,
    pub errors: AtomicU64,
}

pub struct LoadResult {
    pub recorder: Recorder,
    /// Measurement window actually covered, seconds (shorter if interrupted).
    pub measured_s: f64,
    pub interrupted: bool,
    /// Monotonic ns when the load (warm-up included) started.
    pub start_ns: u64,
    /// Each generator thread: its share of the requests and how late it sent them.
    pub threads: Vec<ThreadReport>,
}

/// One generator thread's part of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ThreadReport {
    /// Kernel thread id, for CPU accounting.
    pub tid: u32,
    /// Requests it measured (ok and failed).
    pub requests: u64,
    pub send_lag_p50_us: f64,
    pub send_lag_p99_us: f64,
}

const TIMER: Token = Token(usize::MAX);
const TICK_NS: u64 = 20_000_000;

struct InFlight {
    route: usize,
    origin_ns: u64,
    deadline_ns: u64,
}

struct Conn {
    stream: Option<TcpStream>,
    connected: bool,
    req: Option<InFlight>,
    out_route: usize,
    out_pos: usize,
    inbuf: Vec<u8>,
    /// With users: the task this connection's user is running (task, next request, variables),
    /// the request being sent, and whether the user has run its start task.
    task: Option<(usize, usize, Choice)>,
    user: u32,
    out: Vec<u8>,
    started: bool,
    /// Closed loop: this user has woken up once (counted in the active users).
    spawned: bool,
}

impl Conn {
    fn new() -> Self {
        Conn {
            stream: None,
            connected: false,
            req: None,
            out_route: 0,
            out_pos: usize::MAX,
            inbuf: Vec::with_capacity(8192),
            task: None,
            user: 0,
            out: Vec::new(),
            started: false,
            spawned: false,
        }
    }
}

/// Closed-loop user wake-up, ordered earliest first.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Wake(std::cmp::Reverse<u64>, usize);

struct Engine<'a> {
    spec: &'a LoadSpec,
    poll: Poll,
    timer: OwnedFd,
    armed_ns: u64,
    conns: Vec<Conn>,
    idle: VecDeque<usize>,
    requests: Vec<Vec<u8>>,
    rec: Recorder,
    rng: SplitMix64,
    schedule: Option<Schedule>,
    users: BinaryHeap<Wake>,
    think: (u64, u64),
    end_ns: u64,
    progress: &'a Progress,
    /// Closed-loop users started so far.
    spawned: u32,
    /// Open loop with users: this thread's users that are not running a task, the ones an
    /// arrival may start one on.
    free_users: Vec<u32>,
}

/// Run the load described by `spec` on the calling thread until its duration is over, `stop`
/// is set, or (after the end) every in-flight request has finished or timed out.
pub fn run(spec: &LoadSpec, stop: &AtomicBool, progress: &Progress) -> std::io::Result<LoadResult> {
    run_share(spec, Share::ALL, now_ns() + 5_000_000, stop, progress)
}

/// [`run`] for one generator thread of several: its `share` of the arrivals (or closed-loop
/// users), on a window starting at `start_ns` that every thread shares.
fn run_share(
    spec: &LoadSpec,
    share: Share,
    start_ns: u64,
    stop: &AtomicBool,
    progress: &Progress,
) -> std::io::Result<LoadResult> {
    // SAFETY: plain prctl; 1 ns slack makes timerfd wake-ups as precise as the kernel allows.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1u64) };
    let p = &spec.profile;
    if let Some(u) = &spec.users {
        if u.tasks.iter().flat_map(|t| &t.requests).any(|r| r.route >= spec.routes.len()) {
            return Err(std::io::Error::new(ErrorKind::InvalidInput, "a user task names a route the load has not"));
        }
    }
    check_users(p, spec.users.as_ref(), share.of as usize)
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
    let measure_start = start_ns + (p.warmup_s * 1e9) as u64;
    let end_ns = measure_start + (p.duration_s * 1e9) as u64;
    let routes: Vec<(u16, String)> = spec.routes.iter().map(|r| (r.0, r.1.clone())).collect();
    // SAFETY: creating a timerfd has no memory-safety preconditions.
    let tfd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    if tfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: tfd is a fresh descriptor we own.
    let timer = unsafe { OwnedFd::from_raw_fd(tfd) };
    let poll = Poll::new()?;
    poll.registry().register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
    // Closed loop: this thread's users (global ids kept); otherwise its part of the pool.
    let my_users: Vec<usize> = match p.pattern {
        Pattern::Closed { .. } => (0..connections(p)).filter(|&u| share.has(u as u64)).collect(),
        _ => Vec::new(),
    };
    let n_conns = match p.pattern {
        Pattern::Closed { .. } => my_users.len(),
        _ => connections_per_thread(p, share.of as usize),
    };
    let free_users = match (&p.pattern, &spec.users) {
        (Pattern::Closed { .. }, _) | (_, None) => Vec::new(),
        (_, Some(u)) => users_of_share(u.pool, share),
    };
    let mut e = Engine {
        spec,
        poll,
        timer,
        armed_ns: 0,
        conns: (0..n_conns).map(|_| Conn::new()).collect(),
        idle: (0..n_conns).collect(),
        requests: spec
            .routes
            .iter()
            .map(|r| http::build_request(&spec.method, &r.2, &spec.host, &headers(spec, spec.close_idle), &r.3))
            .collect(),
        rec: Recorder::new(&routes, measure_start, end_ns),
        rng: SplitMix64::new(p.seed ^ 0x5eed ^ share.index.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        schedule: Schedule::new(&arrivals(spec), start_ns, end_ns, p.seed, share)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e.to_string()))?,
        users: BinaryHeap::new(),
        think: (0, 0),
        end_ns,
        progress,
        spawned: 0,
        free_users,
    };
    if let Pattern::Closed { think_min_ms, think_max_ms, .. } = p.pattern {
        e.think = (think_min_ms * 1_000_000, think_max_ms * 1_000_000);
        let spawn_rate = spec.users.as_ref().map_or(0.0, |u| u.spawn_rate);
        for (c, &u) in my_users.iter().enumerate() {
            // Users start at the spawn rate, or else spread over one think time, as a load
            // tool's spawn phase would.
            let at = if spawn_rate > 0.0 {
                start_ns + (u as f64 * 1e9 / spawn_rate) as u64
            } else {
                start_ns + e.rng.next_range(0, e.think.1.max(1_000_000))
            };
            e.conns[c].user = u as u32;
            e.users.push(Wake(std::cmp::Reverse(at), c));
        }
        e.idle.clear();
    }
    let interrupted = e.event_loop(stop)?;
    let measured_s = if interrupted {
        (now_ns().saturating_sub(measure_start) as f64 / 1e9).clamp(0.0, p.duration_s)
    } else {
        p.duration_s
    };
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;
    let lag = crate::results::Percentiles::of(&e.rec.send_lag);
    let report = ThreadReport {
        tid,
        requests: e.rec.ok_total() + e.rec.error_total(),
        send_lag_p50_us: lag.p50_us,
        send_lag_p99_us: lag.p99_us,
    };
    Ok(LoadResult { recorder: e.rec, measured_s, interrupted, start_ns, threads: vec![report] })
}

impl Engine<'_> {
    fn event_loop(&mut self, stop: &AtomicBool) -> std::io::Result<bool> {
        let mut events = Events::with_capacity(1024);
        let drain_deadline = self.end_ns + self.spec.profile.timeout_ms * 1_000_000;
        let mut next_tick = 0;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(true);
            }
            let now = now_ns();
            if now >= next_tick {
                self.expire(now);
                let active = match self.spec.profile.pattern {
                    Pattern::Closed { .. } => self.spawned,
                    _ => self.conns.iter().filter(|c| c.req.is_some()).count() as u32,
                };
                self.rec.users(now, active);
                next_tick = now + TICK_NS;
            }
            self.dispatch(now);
            if now >= self.end_ns {
                // Arrivals due before the end were just sent if a connection was free; what is
                // left had none.
                self.close_schedule(now);
            }
            let in_flight = self.conns.iter().any(|c| c.req.is_some());
            let more = self.schedule.as_ref().and_then(|s| s.peek()).is_some() || !self.users.is_empty();
            if !in_flight && !more {
                return Ok(false);
            }
            if now >= drain_deadline {
                self.give_up();
                return Ok(false);
            }
            let wake = self.next_wake(now).min(next_tick).min(drain_deadline);
            self.arm(wake)?;
            match self.poll.poll(&mut events, None) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                if ev.token() == TIMER {
                    let mut buf = [0u8; 8];
                    // SAFETY: reading 8 bytes into an 8-byte buffer from our timerfd.
                    unsafe { libc::read(self.timer.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                    self.armed_ns = 0;
                } else {
                    self.on_ready(ev.token().0);
                }
            }
        }
    }

    /// Earliest time something is due: the next open-loop arrival (if a connection is free to
    /// take it) or the next closed-loop user.
    fn next_wake(&self, now: u64) -> u64 {
        let mut t = u64::MAX;
        if !self.idle.is_empty() {
            if let Some(s) = self.schedule.as_ref().and_then(|s| s.peek()) {
                t = t.min(s);
            }
        }
        if let Some(Wake(std::cmp::Reverse(u), _)) = self.users.peek() {
            t = t.min(*u);
        }
        t.max(now)
    }

    fn arm(&mut self, at_ns: u64) -> std::io::Result<()> {
        if at_ns == self.armed_ns {
            return Ok(());
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: (at_ns / 1_000_000_000) as i64,
                tv_nsec: (at_ns % 1_000_000_000) as i64,
            },
        };
        // SAFETY: valid itimerspec; absolute CLOCK_MONOTONIC deadline on our own timerfd.
        let rc = unsafe {
            libc::timerfd_settime(self.timer.as_raw_fd(), libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut())
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.armed_ns = at_ns;
        Ok(())
    }

    fn dispatch(&mut self, now: u64) {
        while !self.idle.is_empty() {
            let Some(t) = self.schedule.as_mut().and_then(|s| s.peek().filter(|&t| t <= now).and_then(|_| s.pop()))
            else {
                break;
            };
            let c = self.idle.pop_front().expect("checked non-empty");
            let route = self.pick_route();
            self.start(c, route, t, now);
        }
        while let Some(Wake(std::cmp::Reverse(t), u)) = self.users.peek() {
            if *t > now {
                break;
            }
            let u = *u;
            self.users.pop();
            if now >= self.end_ns {
                continue; // this user is done
            }
            if !self.conns[u].spawned {
                self.conns[u].spawned = true;
                self.spawned += 1;
            }
            let route = self.pick_route();
            self.start(u, route, now, now);
        }
    }

    fn pick_route(&mut self) -> usize {
        match &self.spec.mix {
            Some(mix) => {
                let id = mix.pick(&mut self.rng);
                self.spec.routes.iter().position(|r| r.0 == id).unwrap_or(0)
            }
            None => 0,
        }
    }

    /// With users: begin a task on connection `c` (its user's start task first, in closed
    /// loop; an open-loop arrival belongs to a user drawn from the pool) and return the route
    /// of its first request.
    fn begin_task(&mut self, c: usize) -> usize {
        let users = self.spec.users.as_ref().expect("only with users");
        let closed = matches!(self.spec.profile.pattern, Pattern::Closed { .. });
        let task = match users.start {
            Some(s) if closed && !self.conns[c].started => s,
            _ => users.pick(&mut self.rng),
        };
        let choice = users.choose(&mut self.rng);
        if !closed {
            // One of this thread's users not running a task ([`check_users`]: there is one
            // for every connection), drawn uniformly; it is free again when the task ends.
            let k = self.rng.next_range(0, self.free_users.len() as u64 - 1) as usize;
            self.conns[c].user = self.free_users.swap_remove(k);
        }
        self.conns[c].started = true;
        self.conns[c].task = Some((task, 0, choice));
        self.prepare(c)
    }

    /// Build the next request of connection `c`'s task into its buffer; its route index.
    fn prepare(&mut self, c: usize) -> usize {
        let users = self.spec.users.as_ref().expect("only with users");
        let conn = &mut self.conns[c];
        let (task, step, choice) = conn.task.as_ref().expect("a task is running");
        let t = &users.tasks[*task].requests[*step];
        let path = t.path.replace("{param}", &users.fill(&t.param, choice));
        let last = *step + 1 == users.tasks[*task].requests.len();
        let mut headers = headers(self.spec, self.spec.close_idle && last);
        headers.push(("x-user".into(), format!("u{}", conn.user)));
        let body = users.fill(&t.body, choice);
        conn.out = http::build_request(&t.method, &path, &self.spec.host, &headers, body.as_bytes());
        t.route
    }

    fn start(&mut self, c: usize, route: usize, origin_ns: u64, now: u64) {
        let route = if self.spec.users.is_some() { self.begin_task(c) } else { route };
        self.send(c, route, origin_ns, now);
    }

    fn send(&mut self, c: usize, route: usize, origin_ns: u64, now: u64) {
        let deadline_ns = now.max(origin_ns) + self.spec.profile.timeout_ms * 1_000_000;
        self.rec.sent(origin_ns, now);
        let conn = &mut self.conns[c];
        conn.req = Some(InFlight { route, origin_ns, deadline_ns });
        conn.out_route = route;
        conn.out_pos = 0;
        conn.inbuf.clear();
        if conn.stream.is_none() {
            let source = (!self.spec.sources.is_empty()).then(|| self.spec.sources[c % self.spec.sources.len()]);
            match connect_from(self.spec.target, source, self.spec.close_idle) {
                Ok(mut s) => {
                    let _ = s.set_nodelay(true);
                    if let Err(e) =
                        self.poll.registry().register(&mut s, Token(c), Interest::READABLE | Interest::WRITABLE)
                    {
                        self.fail(c, format!("register: {e}"));
                        return;
                    }
                    conn.stream = Some(s);
                    conn.connected = false;
                    return; // the write happens when the socket becomes writable
                }
                Err(e) => {
                    self.fail(c, format!("connect: {}", e.kind()));
                    return;
                }
            }
        }
        self.flush(c);
    }

    fn on_ready(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        let Some(stream) = conn.stream.as_mut() else {
            return;
        };
        if !conn.connected {
            match stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    self.fail(c, format!("connect: {}", e.kind()));
                    return;
                }
                Ok(None) => {}
            }
            match stream.peer_addr() {
                Ok(_) => conn.connected = true,
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => {
                    self.fail(c, format!("connect: {}", e.kind()));
                    return;
                }
            }
        }
        self.flush(c);
        self.read(c);
    }

    fn flush(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        if !conn.connected || conn.req.is_none() {
            return;
        }
        let req = if self.spec.users.is_some() { &conn.out } else { &self.requests[conn.out_route] };
        let Some(stream) = conn.stream.as_mut() else {
            return;
        };
        while conn.out_pos < req.len() {
            match stream.write(&req[conn.out_pos..]) {
                Ok(0) => {
                    self.fail(c, "write: connection closed");
                    return;
                }
                Ok(n) => conn.out_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(c, format!("write: {}", e.kind()));
                    return;
                }
            }
        }
    }

    fn read(&mut self, c: usize) {
        let mut buf = [0u8; 16384];
        loop {
            let conn = &mut self.conns[c];
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            match stream.read(&mut buf) {
                Ok(0) => {
                    if conn.req.is_some() {
                        self.fail(c, "connection closed by server");
                    } else {
                        self.drop_stream(c);
                    }
                    return;
                }
                Ok(n) => {
                    conn.inbuf.extend_from_slice(&buf[..n]);
                    if conn.req.is_none() {
                        self.fail(c, "unsolicited response bytes");
                        return;
                    }
                    match http::parse_response(&conn.inbuf) {
                        http::Parsed::Incomplete => {}
                        http::Parsed::Invalid(why) => {
                            self.fail(c, format!("bad response: {why}"));
                            return;
                        }
                        http::Parsed::Complete { status, total, close, body_len, .. } => {
                            let now = now_ns();
                            let req = conn.req.take().expect("checked above");
                            conn.inbuf.drain(..total);
                            if (200..300).contains(&status) {
                                self.rec.ok(req.route, req.origin_ns, now, body_len);
                                self.progress.ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                self.rec.error(req.route, req.origin_ns, now, format!("http {status}"));
                                self.progress.errors.fetch_add(1, Ordering::Relaxed);
                            }
                            if close {
                                self.drop_stream(c);
                            }
                            if (200..300).contains(&status) && self.next_step(c) {
                                // The task's next request goes out at once, on the same user.
                                let route = self.prepare(c);
                                self.send(c, route, now, now);
                            } else {
                                self.release(c, now);
                            }
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(c, format!("read: {}", e.kind()));
                    return;
                }
            }
        }
    }

    /// The connection's request failed: count it, close the connection (a late response must
    /// never be taken for the next request's), and free the slot.
    fn fail(&mut self, c: usize, kind: impl Into<String>) {
        let now = now_ns();
        let req = self.conns[c].req.take();
        self.drop_stream(c);
        if let Some(req) = req {
            self.rec.error(req.route, req.origin_ns, now, kind);
            self.progress.errors.fetch_add(1, Ordering::Relaxed);
            self.release(c, now);
        }
    }

    fn drop_stream(&mut self, c: usize) {
        if let Some(mut s) = self.conns[c].stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        self.conns[c].connected = false;
        self.conns[c].inbuf.clear();
    }

    /// Move connection `c`'s task to its next request; false if the task is done (or there is
    /// none, or the load period is over).
    fn next_step(&mut self, c: usize) -> bool {
        let Some(users) = &self.spec.users else { return false };
        let Some((task, step, _)) = self.conns[c].task.as_mut() else { return false };
        if *step + 1 < users.tasks[*task].requests.len() && now_ns() < self.end_ns {
            *step += 1;
            true
        } else {
            false
        }
    }

    /// A connection has finished its request (its task, with users): closed-loop users think,
    /// open-loop connections go back to the idle pool; with `close_idle` the socket goes.
    fn release(&mut self, c: usize, now: u64) {
        let open = !matches!(self.spec.profile.pattern, Pattern::Closed { .. });
        if self.conns[c].task.take().is_some() && open {
            self.free_users.push(self.conns[c].user);
        }
        if self.spec.close_idle {
            self.drop_stream(c);
        }
        if !open {
            let think = self.rng.next_range(self.think.0, self.think.1);
            self.users.push(Wake(std::cmp::Reverse(now + think), c));
        } else {
            self.idle.push_back(c);
        }
    }

    fn expire(&mut self, now: u64) {
        for c in 0..self.conns.len() {
            if self.conns[c].req.as_ref().is_some_and(|r| r.deadline_ns <= now) {
                self.fail(c, "timeout");
            }
        }
    }

    /// The load period is over: nothing new is sent. Arrivals that were due but never got a
    /// free connection (the generator's queue when the system could not keep up) are counted as
    /// failed, never silently dropped; closed-loop users stop.
    fn close_schedule(&mut self, now: u64) {
        if let Some(mut s) = self.schedule.take() {
            let mut unsent = 0;
            while let Some(t) = s.pop() {
                let route = self.pick_route();
                self.rec.error(route, t, now, "not sent: no free connection before the end");
                unsent += 1;
            }
            self.progress.errors.fetch_add(unsent, Ordering::Relaxed);
        }
        self.users.clear();
    }

    /// The drain period after the end is over: whatever is still in flight timed out.
    fn give_up(&mut self) {
        for c in 0..self.conns.len() {
            if self.conns[c].req.is_some() {
                self.fail(c, "timeout");
            }
        }
    }
}

/// The load generator running on threads of its own ([`spawn`]).
pub struct Generator {
    handles: Vec<std::thread::JoinHandle<std::io::Result<LoadResult>>>,
}

impl Generator {
    pub fn is_finished(&self) -> bool {
        self.handles.iter().all(|h| h.is_finished())
    }

    /// Wait for every thread and merge what they recorded ([`Recorder::merge`]).
    pub fn join(self) -> std::io::Result<LoadResult> {
        let mut merged: Option<LoadResult> = None;
        for h in self.handles {
            let r = h.join().map_err(|_| std::io::Error::other("a load generator thread panicked"))??;
            match &mut merged {
                None => merged = Some(r),
                Some(m) => {
                    m.recorder.merge(r.recorder);
                    m.interrupted |= r.interrupted;
                    m.measured_s = m.measured_s.min(r.measured_s);
                    m.threads.extend(r.threads);
                }
            }
        }
        merged.ok_or_else(|| std::io::Error::other("no load generator thread"))
    }
}

/// Run `spec` on `threads` threads of its own (their CPU is the load generator's), each an event
/// loop with its share of the arrivals or users ([`Share`]) on one common window. Returns the
/// generator and its threads' kernel ids, known before the load starts so the CPU sampler can
/// watch them.
pub fn spawn(
    spec: LoadSpec,
    threads: usize,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> std::io::Result<(Generator, Vec<u32>)> {
    let of = threads.max(1);
    let spec = Arc::new(spec);
    // Every thread is up well before the window opens.
    let start_ns = now_ns() + 5_000_000 + 2_000_000 * of as u64;
    let (mut handles, mut tids) = (Vec::new(), Vec::new());
    for index in 0..of {
        let (tx, rx) = std::sync::mpsc::channel();
        let (spec, flag, progress) = (spec.clone(), stop.clone(), progress.clone());
        let name = if index == 0 { "loadgen".to_string() } else { format!("loadgen-{index}") };
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            // Pinned before anyone learns its id, so that what procfs shows is where it runs.
            if let Some(cpus) = &spec.cpus {
                dataplane_api::placement::set_affinity(0, cpus)?;
            }
            // SAFETY: gettid has no preconditions.
            let _ = tx.send(unsafe { libc::gettid() } as u32);
            let share = Share { index: index as u64, of: of as u64 };
            run_share(&spec, share, start_ns, &flag, &progress)
        })?;
        let Ok(tid) = rx.recv() else {
            // Threads already started run out their window on their own.
            let why = match handle.join() {
                Ok(Err(e)) => e,
                _ => std::io::Error::other("load generator thread died at start"),
            };
            return Err(std::io::Error::new(why.kind(), format!("load generator: {why}")));
        };
        handles.push(handle);
        tids.push(tid);
    }
    Ok((Generator { handles }, tids))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threads' shares of a user pool partition it, and the smallest share, which
    /// [`check_users`] takes as `pool / threads`, is what counting the shares gives.
    #[test]
    fn user_shares_partition_the_pool_and_the_last_is_the_smallest() {
        for pool in 0..40u32 {
            for of in 1..6u64 {
                let shares: Vec<Vec<u32>> = (0..of).map(|index| users_of_share(pool, Share { index, of })).collect();
                let mut all: Vec<u32> = shares.concat();
                all.sort();
                assert_eq!(all, (0..pool).collect::<Vec<_>>(), "pool {pool}, {of} threads");
                let fewest = shares.iter().map(Vec::len).min().unwrap();
                assert_eq!(fewest, pool as usize / of as usize, "pool {pool}, {of} threads");
            }
        }
    }
}
