//! Raw floors: the cost of one 16-byte round trip between two processes over each mechanism a
//! dataplane can build on, under the same placement. Every dataplane's per-hop cost is read
//! against these.
//!
//! - `sk_msg_redirect`: S-SPRIGHT's mechanism. Both ends are sockets in the SOCKHASH of the real
//!   SK_MSG program; each direction is one redirect to the peer's ingress queue.
//! - `rte_ring_busy_poll`: D-SPRIGHT's mechanism. Two DPDK rings of 16-byte elements, both sides
//!   busy-polling.
//! - `unix_stream`, `loopback_tcp`: the kernel's ordinary paths, for reference.
//!
//! The echo side is a forked child process (it inherits the sockets, and the DPDK hugepage
//! memory, which is mapped shared), so every handoff crosses a process boundary as it does in a
//! deployed chain. Placement matters more than the mechanism on small VMs (a wake-up across an
//! idle core costs 50-70 us, on the same core ~8 us), so each mechanism is measured with both
//! processes pinned to CPU 0 (`same-core`) and pinned to CPUs 0 and 1 (`cross-core`, skipped on
//! 1-CPU machines).

mod common;

use common::{fork_peer, pin, tcp_pair, xfer, Peer};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dpdk_poll::dpdk::Ring;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Echo 16-byte messages on `fd`, passing each through `rewrite` (the SK_MSG peer must address
/// its answer).
fn echo(fd: RawFd, rewrite: impl Fn(&mut [u8; 16])) {
    let mut buf = [0u8; 16];
    while xfer(fd, &mut buf, false) {
        rewrite(&mut buf);
        if !xfer(fd, &mut buf, true) {
            return;
        }
    }
}

/// A client socket and the echo process on the other side.
struct SocketClient {
    fd: RawFd,
    msg: [u8; 16],
    _keep: Vec<Box<dyn std::any::Any>>,
    _peer: Peer,
}

impl SocketClient {
    fn round_trip(&mut self) {
        let mut buf = self.msg;
        assert!(xfer(self.fd, &mut buf, true) && xfer(self.fd, &mut buf, false), "peer gone");
    }
}

fn unix_client(cpu: usize) -> SocketClient {
    let (a, b) = UnixStream::pair().unwrap();
    let peer = fork_peer(Some(&[cpu]), || echo(b.as_raw_fd(), |_| {}));
    SocketClient { fd: a.as_raw_fd(), msg: [7; 16], _keep: vec![Box::new(a), Box::new(b)], _peer: peer }
}

fn tcp_client(cpu: usize) -> SocketClient {
    let (a, b) = tcp_pair();
    let peer = fork_peer(Some(&[cpu]), || echo(b.as_raw_fd(), |_| {}));
    SocketClient { fd: a.as_raw_fd(), msg: [7; 16], _keep: vec![Box::new(a), Box::new(b)], _peer: peer }
}

/// Two sockets registered in the SK_MSG program's SOCKHASH under keys of a fresh chain; the
/// peer answers each descriptor by addressing it back.
fn sk_msg_client(node: &std::sync::Mutex<ebpf_sk_msg::node::EbpfNode>, cpu: usize) -> SocketClient {
    // Chain ids of this benchmark process only (no deployment runs beside it).
    static NEXT_CHAIN: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(1);
    let chain = NEXT_CHAIN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (here, there) = (shm::key(chain, 1), shm::key(chain, 2));
    let (a, a_peer) = tcp_pair();
    let (b, b_peer) = tcp_pair();
    node.lock().unwrap().register(here, &[&a]).unwrap();
    node.lock().unwrap().register(there, &[&b]).unwrap();
    let peer = fork_peer(Some(&[cpu]), || echo(b.as_raw_fd(), |m| m[..4].copy_from_slice(&here.to_ne_bytes())));
    let msg = shm::Descriptor { dst: there, src: here, slot: 0, gen: 0 }.to_bytes();
    // The peer ends stay open: the kernel only redirects into established connections.
    SocketClient {
        fd: a.as_raw_fd(),
        msg,
        _keep: vec![Box::new(a), Box::new(a_peer), Box::new(b), Box::new(b_peer)],
        _peer: peer,
    }
}

/// rte_ring ping-pong with a busy-polling echo process.
struct RingClient {
    to: Ring,
    from: Ring,
    _peer: Peer,
}

impl RingClient {
    fn round_trip(&self) {
        let d = shm::Descriptor { dst: 2, src: 1, slot: 0, gen: 0 };
        while !self.to.enqueue(&d) {}
        while self.from.dequeue().is_none() {
            std::hint::spin_loop();
        }
    }
}

fn ring_client(tag: &str, cpu: usize) -> RingClient {
    let to = Ring::create(&format!("bench-{tag}-to"), 1024).unwrap();
    let from = Ring::create(&format!("bench-{tag}-from"), 1024).unwrap();
    let peer = fork_peer(Some(&[cpu]), || loop {
        match to.dequeue() {
            Some(d) => while !from.enqueue(&d) {},
            None => std::hint::spin_loop(),
        }
    });
    RingClient { to, from, _peer: peer }
}

fn eal_prefix() -> String {
    format!("sbbench{}", std::process::id())
}

fn floors(c: &mut Criterion) {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    dpdk_poll::dpdk::eal_init(&[
        "floors".into(),
        "--proc-type=primary".into(),
        format!("--file-prefix={}", eal_prefix()),
        "--no-pci".into(),
        "--no-telemetry".into(),
        "--iova-mode=va".into(),
        "-m".into(),
        "16".into(),
        format!("--lcores=0@(0-{})", cpus - 1),
    ])
    .expect("DPDK EAL (hugepages: scripts/setup.sh)");
    let node = ebpf_sk_msg::node::EbpfNode::shared().expect("load the SK_MSG program (root; scripts/setup.sh)");
    let mut placements = vec![("same-core", 0usize)];
    if cpus > 1 {
        placements.push(("cross-core", 1));
    }
    let mut g = c.benchmark_group("round_trip_16B");
    g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (placement, peer_cpu) in placements {
        pin(&[0]);
        let mut s = unix_client(peer_cpu);
        g.bench_function(BenchmarkId::new("unix_stream", placement), |b| b.iter(|| s.round_trip()));
        drop(s);
        let mut s = tcp_client(peer_cpu);
        g.bench_function(BenchmarkId::new("loopback_tcp", placement), |b| b.iter(|| s.round_trip()));
        drop(s);
        let mut s = sk_msg_client(&node, peer_cpu);
        g.bench_function(BenchmarkId::new("sk_msg_redirect", placement), |b| b.iter(|| s.round_trip()));
        drop(s);
        let r = ring_client(placement, peer_cpu);
        g.bench_function(BenchmarkId::new("rte_ring_busy_poll", placement), |b| b.iter(|| r.round_trip()));
    }
    g.finish();
}

/// The EAL leaves a runtime directory and hugepage files behind; remove them.
fn cleanup(_: &mut Criterion) {
    let prefix = eal_prefix();
    let _ = std::fs::remove_dir_all(std::path::Path::new("/var/run/dpdk").join(&prefix));
    for e in std::fs::read_dir("/dev/hugepages").into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

criterion_group!(benches, floors, cleanup);
criterion_main!(benches);
