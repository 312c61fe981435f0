//! SPRIGHT, written once for every transport.
//!
//! The paper's two dataplanes differ only in how a 16-byte descriptor reaches the next process:
//! an eBPF SK_MSG redirect between sockets (S-SPRIGHT) or a DPDK ring that the receiver polls
//! (D-SPRIGHT). Everything else is the same, and lives here once:
//! - [`protocol`]: admit a request into a pool slot, advance it along its route, roll a failed
//!   send back, finish it into a reply;
//! - the gateway ([`gateway`]): HTTP in, one copy into the pool, descriptors out, replies
//!   matched to waiting requests by slot and generation ([`Waiters`]);
//! - the function runtime ([`function`]): worker threads that receive, validate, run the
//!   handler in place and send the next descriptor;
//! - the deployment ([`deploy`]): the pool, the processes, their command lines, counters and
//!   teardown, and the component entry point ([`component`]);
//! - [`relay`]: bare relays in the functions' places, the transport's per-hop floor measured
//!   exactly as a chain is (not SPRIGHT; option `function-runtime=relay`).
//!
//! A dataplane adds two things: a [`Transport`] (send a descriptor to the key it names, receive
//! the next one) used inside its processes, and a [`Backend`] that sets the transport up on the
//! host for one chain and connects a process to it. [`Spright`] turns a backend into a
//! [`dataplane_api::Dataplane`].

pub mod component;
pub mod deploy;
pub mod function;
pub mod gateway;
pub mod protocol;
pub mod relay;
mod waiters;

pub use deploy::Spright;
pub use waiters::Waiters;

use dataplane_api::{BackendOptions, Counter, DeployEnv, DeployError};
use shm::{Descriptor, Pool};
use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};
use workloads::{Chain, FnId};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How descriptors move between the processes of one chain: the only thing SPRIGHT dataplanes
/// differ in. One value per process, shared by its threads.
pub trait Transport: Send + Sync + 'static {
    /// Deliver `d` to the process `d.dst` names. Returns once the transport has taken it; an
    /// error means it cannot be delivered (the destination is unknown or gone), and the sender
    /// still holds the slot.
    fn send(&self, d: &Descriptor) -> std::io::Result<()>;

    /// Wait for the next descriptor addressed to this process, as this transport waits (blocked
    /// in the kernel, or polling). `Ok(None)` once the transport is closed.
    fn recv(&self) -> std::io::Result<Option<Descriptor>>;

    /// Deliver `ds` in order, each as [`Transport::send`] would. `Err((n, e))`: the first `n`
    /// were delivered, `ds[n]` was not, for reason `e`, and those after it were not sent (their
    /// sender still holds every slot from `ds[n]` on). A transport whose sends cost a system call
    /// each makes one for many.
    fn send_batch(&self, ds: &[Descriptor]) -> Result<(), (usize, std::io::Error)> {
        send_each(self, ds)
    }

    /// Wait for the next descriptor as [`Transport::recv`] does, and append it to `out` with
    /// those that came with it: a transport that receives in batches hands over the whole
    /// batch. `Ok(false)` once the transport is closed.
    fn recv_batch(&self, out: &mut Vec<Descriptor>) -> std::io::Result<bool> {
        match self.recv()? {
            Some(d) => {
                out.push(d);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// For the gateway, which serves HTTP in an event loop (on one or more threads): its receive
    /// lanes, each a descriptor that becomes readable when [`Transport::recv_lane`] has something
    /// on that lane and writable when a send on it can go on. A descriptor for pool slot `s` is
    /// sent on lane [`lane`]`(s, n)` of `n` and comes back on the same lane. With lanes, the
    /// gateway's end is non-blocking and the event loop waits for all of them (with one thread,
    /// no cross-thread wake-up per request); with several, the gateway's threads do not share
    /// one socket. Without any (the default, for a polling transport), the gateway receives with
    /// [`Transport::recv`] on a thread of its own, and `send` must not wait long.
    fn lanes(&self) -> Vec<RawFd> {
        Vec::new()
    }

    /// The next descriptor that came back on `lane` of [`Transport::lanes`], without waiting:
    /// `WouldBlock` when there is none, `Ok(None)` once the transport is closed.
    fn recv_lane(&self, lane: usize) -> std::io::Result<Option<Descriptor>> {
        let _ = lane;
        self.recv()
    }

    /// How long a receiver polls for the next descriptor before it sleeps, when its last gap
    /// was shorter ([`Arrivals`]; zero: it sleeps at once). [`Transport::recv`] does this
    /// itself; the gateway's event loop asks, and polls its lanes, yielding to its other tasks
    /// between checks.
    fn spin(&self) -> Duration {
        Duration::ZERO
    }
}

/// The most descriptors a receiver takes at once ([`Transport::recv_batch`]) and a sender
/// sends with one call.
pub const BATCH: usize = 32;

/// The gateway lane, of `lanes`, that the descriptor for pool slot `slot` is sent and received
/// on: the slot modulo the lanes, as the S-SPRIGHT program spreads a destination's descriptors
/// over its receive queues (`slot % queues`).
pub fn lane(slot: u32, lanes: usize) -> usize {
    slot as usize % lanes.max(1)
}

/// Receive descriptors with `t` on the calling thread, a batch at a time, handing each to `on`,
/// until the transport closes (a polling gateway's receiver).
pub(crate) fn receive_each<T: Transport>(t: &T, mut on: impl FnMut(Descriptor)) -> std::io::Result<()> {
    use std::io::ErrorKind;
    let mut batch = Vec::new();
    loop {
        match t.recv_batch(&mut batch) {
            Ok(true) => batch.drain(..).for_each(&mut on),
            Ok(false) => return Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}

/// [`Transport::send_batch`] as one [`Transport::send`] after the other.
pub fn send_each<T: Transport + ?Sized>(t: &T, ds: &[Descriptor]) -> Result<(), (usize, std::io::Error)> {
    for (i, d) in ds.iter().enumerate() {
        t.send(d).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// How long the descriptors a worker has made wait to go out together ([`serve_batches`]): once
/// the first of them is this old, they are sent before the next descriptor is handled.
pub const SEND_WITHIN: Duration = Duration::from_micros(20);

/// Serve descriptors on the calling thread until the transport closes, a received batch at a
/// time (a function's or a relay's worker): `step` turns each descriptor into the one to send
/// next (`None`: nothing to send), and what a batch makes goes out with one
/// [`Transport::send_batch`]: one send where each used to cost a system call. The first of them
/// waits for the steps after it only while that takes under `within` ([`SEND_WITHIN`]), so a
/// slow handler's result is sent before the next is run. `failed` gets each descriptor that
/// could not be sent, with why; the rest of its batch still goes.
pub(crate) fn serve_batches<T: Transport>(
    t: &T,
    within: Duration,
    mut step: impl FnMut(Descriptor) -> Option<Descriptor>,
    mut failed: impl FnMut(Descriptor, std::io::Error),
) -> std::io::Result<()> {
    use std::io::ErrorKind;
    let (mut batch, mut out) = (Vec::new(), Vec::new());
    let mut flush = |out: &mut Vec<Descriptor>| {
        let mut sent = 0;
        while let Err((n, e)) = t.send_batch(&out[sent..]) {
            failed(out[sent + n], e);
            sent += n + 1;
        }
        out.clear();
    };
    loop {
        match t.recv_batch(&mut batch) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => continue,
            Err(e) => return Err(e),
        }
        if let [d] = batch[..] {
            // Alone: nothing to time (a polling transport's every batch).
            batch.clear();
            out.extend(step(d));
        }
        let mut oldest: Option<Instant> = None;
        for d in batch.drain(..) {
            if oldest.is_some_and(|t0| t0.elapsed() >= within) {
                flush(&mut out);
                oldest = None;
            }
            let started = Instant::now();
            if let Some(next) = step(d) {
                out.push(next);
                oldest.get_or_insert(started);
            }
        }
        flush(&mut out);
    }
}

/// What a receiver that polls before it sleeps ([`Transport::spin`]) knows of its arrivals: it
/// polls only when the gap between its last two descriptors was shorter than its window, that
/// is when the next one is likely to come within it. At rates where descriptors come further
/// apart than the window it sleeps at once, as without polling, and costs no more CPU.
#[derive(Debug, Default, Clone, Copy)]
pub struct Arrivals {
    last: Option<Instant>,
    gap: Option<Duration>,
}

impl Arrivals {
    /// Nothing seen yet (`const`, for a thread-local).
    pub const fn new() -> Self {
        Arrivals { last: None, gap: None }
    }

    /// A descriptor came at `now`.
    pub fn note(&mut self, now: Instant) {
        if let Some(last) = self.last {
            self.gap = Some(now.saturating_duration_since(last));
        }
        self.last = Some(now);
    }

    /// Whether to poll for up to `window` before sleeping.
    pub fn worth_polling(&self, window: Duration) -> bool {
        self.gap.is_some_and(|g| g < window)
    }
}

/// Whether `fd` has something to read now (`poll()` with no timeout: for a socket, a look at its
/// receive queue that takes no lock), for receivers that poll before they sleep.
pub fn readable_now(fd: RawFd) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; a zero timeout never waits.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// A process of a deployed chain: its gateway, or one of its functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Gateway,
    Function(FnId),
}

impl Who {
    /// The function id in the process's key (0 for the gateway).
    pub fn func(self) -> FnId {
        match self {
            Who::Gateway => 0,
            Who::Function(id) => id,
        }
    }

    /// The `i`-th descriptor the driver passed for the transport (after the gateway's HTTP
    /// listener, which is always the gateway's first).
    pub fn take_fd(self, i: usize) -> std::io::Result<OwnedFd> {
        dataplane_api::component::take_fd(i + usize::from(self == Who::Gateway))
    }
}

/// What a component process connects with ([`Backend::connect`]).
pub struct Connect<'a, A> {
    pub who: Who,
    pub chain: &'a Chain,
    /// The chain's security-domain id: the upper half of every key of its processes.
    pub chain_id: u16,
    /// The pool file, or the name of a pool the transport keeps ([`Host::own_pool`]).
    pub pool: &'a Path,
    /// The transport's own arguments ([`Host::component`]).
    pub args: &'a A,
}

/// A SPRIGHT dataplane: a transport, how to set it up on the host, and how a process joins it.
pub trait Backend: Send + Sync + 'static {
    /// Name used with `--backend`.
    const NAME: &'static str;
    /// What this backend is, printed in every output.
    const LABEL: &'static str;
    /// The options it accepts (`--backend-opt key=value`).
    const OPTIONS: &'static [dataplane_api::OptionSpec] = &[];
    /// Whether the gateway receives on a thread of its own that busy-polls (a core that
    /// `gateway-threads=auto` leaves to it).
    const GATEWAY_POLLS: bool = false;

    /// Whether this transport can carry `chain` with `options` ([`dataplane_api::Dataplane::check`]):
    /// checked before [`Backend::setup`], and before a plan of runs starts.
    fn check(&self, chain: &Chain, options: &BackendOptions) -> Result<(), DeployError> {
        let _ = (chain, options);
        Ok(())
    }

    /// The host state of one deployed chain; dropping it undoes that state, after the chain's
    /// processes are gone.
    type Host: Host;
    /// Driver side: set up what chain `chain_id` needs on the host (socket-map entries,
    /// DPDK's runtime files, ...).
    fn setup(&self, chain: &Chain, chain_id: u16, env: &DeployEnv) -> Result<Self::Host, DeployError>;

    /// The transport's own command-line arguments in component processes.
    type Args: clap::Args;
    type Transport: Transport;
    /// Process side: join the transport and open the chain's pool.
    fn connect(&self, c: &Connect<'_, Self::Args>) -> Result<(Self::Transport, Pool), BoxError>;
}

/// Host state of one deployed chain (see [`Backend::Host`]).
pub trait Host: Send + 'static {
    /// Descriptors (passed after the gateway's HTTP listener) and transport arguments for the
    /// component `who`, called once per component before it starts (the gateway first).
    fn component(&mut self, who: Who, name: &str) -> Result<(Vec<OwnedFd>, Vec<String>), DeployError>;
    /// Where the chain's slots live when not in the hugetlbfs pool file the deployment creates:
    /// the name the transport's processes create and find them under (passed as `--pool`).
    fn own_pool(&self) -> Option<String> {
        None
    }
    /// The transport's counters, read at the end of a run.
    fn counters(&self) -> Vec<Counter> {
        Vec::new()
    }
    /// Which of the descriptors [`Host::component`] gives a function become readable while a
    /// descriptor waits for it: this one and every one after it (one per receive queue), so
    /// that a parked function can be started on demand ([`dataplane_api::Deployment::park`]);
    /// `None` where the transport cannot tell. Calling [`Host::component`] again for a function
    /// replaces its place in the transport.
    fn mailbox(&self) -> Option<usize> {
        None
    }
    /// Where the transport runs its processes, when it decides (recorded in every run).
    fn placement(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A transport that hands out given batches and records every `send_batch` (by slot),
    /// failing the descriptor of slot `fail` once; for [`serve_batches`]'s own logic (the
    /// transports' batches are tested on each transport).
    struct Recorder {
        batches: Mutex<VecDeque<Vec<u32>>>,
        sent: Mutex<Vec<Vec<u32>>>,
        fail: Mutex<Option<u32>>,
    }

    impl Transport for Recorder {
        fn send(&self, _: &Descriptor) -> std::io::Result<()> {
            unreachable!("serve_batches sends in batches")
        }
        fn recv(&self) -> std::io::Result<Option<Descriptor>> {
            unreachable!("serve_batches receives in batches")
        }
        fn recv_batch(&self, out: &mut Vec<Descriptor>) -> std::io::Result<bool> {
            let Some(b) = self.batches.lock().unwrap().pop_front() else { return Ok(false) };
            out.extend(b.into_iter().map(|slot| Descriptor { dst: 2, src: 1, slot, gen: 0 }));
            Ok(true)
        }
        fn send_batch(&self, ds: &[Descriptor]) -> Result<(), (usize, std::io::Error)> {
            self.sent.lock().unwrap().push(ds.iter().map(|d| d.slot).collect());
            let mut fail = self.fail.lock().unwrap();
            match ds.iter().position(|d| Some(d.slot) == *fail) {
                Some(i) => {
                    *fail = None;
                    Err((i, std::io::Error::other("gone")))
                }
                None => Ok(()),
            }
        }
    }

    fn recorder(batches: &[&[u32]], fail: Option<u32>) -> Recorder {
        Recorder {
            batches: Mutex::new(batches.iter().map(|b| b.to_vec()).collect()),
            sent: Mutex::default(),
            fail: Mutex::new(fail),
        }
    }

    /// Expected sends written out by hand. A received batch's results go out in one send, those
    /// with nothing to send (slot 3) left out; a descriptor that cannot be sent (slot 1) goes to
    /// `failed` and the rest of its batch is sent after it; a batch of one is sent alone.
    #[test]
    fn a_batch_s_results_go_out_in_one_send() {
        let t = recorder(&[&[0, 1, 2, 3, 4], &[5], &[6, 7]], Some(1));
        let mut failed = Vec::new();
        let step = |d: Descriptor| (d.slot != 3).then_some(Descriptor { dst: 3, src: 2, ..d });
        serve_batches(&t, Duration::from_secs(60), step, |d, _| failed.push(d.slot)).unwrap();
        assert_eq!(*t.sent.lock().unwrap(), [vec![0, 1, 2, 4], vec![2, 4], vec![5], vec![6, 7]]);
        assert_eq!(failed, [1]);
    }

    /// Results wait for the steps after them only within the window: with none, each is sent
    /// before the next step runs (the sends seen from inside each step, by hand).
    #[test]
    fn results_older_than_the_window_go_before_the_next_step() {
        let t = recorder(&[&[0, 1, 2], &[3, 4]], None);
        let mut seen = Vec::new();
        let step = |d: Descriptor| {
            seen.push((d.slot, t.sent.lock().unwrap().len()));
            Some(d)
        };
        serve_batches(&t, Duration::ZERO, step, |_, _| unreachable!()).unwrap();
        assert_eq!(*t.sent.lock().unwrap(), [vec![0], vec![1], vec![2], vec![3], vec![4]]);
        assert_eq!(seen, [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]);
    }

    /// Hand-derived: a receiver polls after a gap shorter than its window, not after a longer
    /// one, nor before it has seen two descriptors.
    #[test]
    fn a_receiver_polls_only_after_short_gaps() {
        let (t0, us) = (Instant::now(), Duration::from_micros);
        let window = us(50);
        let mut a = Arrivals::new();
        assert!(!a.worth_polling(window), "nothing seen yet");
        a.note(t0);
        assert!(!a.worth_polling(window), "one descriptor: no gap yet");
        a.note(t0 + us(10));
        assert!(a.worth_polling(window), "10 us gap");
        a.note(t0 + us(110));
        assert!(!a.worth_polling(window), "100 us gap");
        a.note(t0 + us(159));
        assert!(a.worth_polling(window), "49 us gap");
        a.note(t0 + us(209));
        assert!(!a.worth_polling(window), "a gap of exactly the window");
        assert!(!a.worth_polling(Duration::ZERO), "a zero window never polls");
    }
}
