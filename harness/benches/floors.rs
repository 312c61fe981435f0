//! Raw floors: the cost of one 16-byte round trip between two threads over each kernel
//! mechanism a dataplane can build on, under the same placement. Every dataplane's per-hop cost
//! is read against these. `sk_msg_redirect` is S-SPRIGHT's mechanism: both ends are sockets in
//! the SOCKHASH of the real SK_MSG program, and each direction is one redirect to ingress.
//!
//! Placement matters more than the mechanism on small VMs (a wake-up across an idle core costs
//! 50-70 us, on the same core ~8 us), so each mechanism is measured twice: both threads pinned to
//! CPU 0 (`same-core`), and pinned to CPUs 0 and 1 (`cross-core`, skipped on 1-CPU machines).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; sets this thread's affinity only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// An echo peer on its own pinned thread; returns the client end.
fn echo_pair<S: Read + Write + Send + 'static>(client: S, mut server: S, cpu: usize) -> S {
    std::thread::spawn(move || {
        pin(cpu);
        let mut buf = [0u8; 16];
        while server.read_exact(&mut buf).is_ok() {
            if server.write_all(&buf).is_err() {
                return;
            }
        }
    });
    client
}

fn round_trip<S: Read + Write>(s: &mut S) {
    let mut buf = [7u8; 16];
    s.write_all(&buf).unwrap();
    s.read_exact(&mut buf).unwrap();
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    c.set_nodelay(true).unwrap();
    s.set_nodelay(true).unwrap();
    (c, s)
}

/// One end of an SK_MSG pair: a registered socket, its key, and the peer end kept open.
struct SkEnd {
    sock: TcpStream,
    _peer: TcpStream,
}

fn sk_end(node: &std::sync::Mutex<ebpf_sk_msg::node::EbpfNode>, key: u32) -> SkEnd {
    let (sock, peer) = tcp_pair();
    node.lock().unwrap().register(key, &sock).unwrap();
    SkEnd { sock, _peer: peer }
}

/// Client end of an SK_MSG echo: descriptors sent to `there` come back from the peer thread.
struct SkClient {
    end: SkEnd,
    there: u32,
}

impl SkClient {
    fn round_trip(&mut self) {
        let d = shm::Descriptor { dst: self.there, src: 0, slot: 0, gen: 0 };
        self.end.sock.write_all(&d.to_bytes()).unwrap();
        let mut buf = [0u8; 16];
        self.end.sock.read_exact(&mut buf).unwrap();
    }
}

fn sk_msg_pair(node: &std::sync::Mutex<ebpf_sk_msg::node::EbpfNode>, peer_cpu: usize) -> SkClient {
    let chain = node.lock().unwrap().new_chain_id();
    let (here, there) = (shm::key(chain, 1), shm::key(chain, 2));
    let a = sk_end(node, here);
    let b = sk_end(node, there);
    std::thread::spawn(move || {
        // Take the whole end: a closure capturing only `b.sock` would drop the peer socket,
        // and the kernel refuses to redirect into a connection that is no longer established.
        let mut b = b;
        pin(peer_cpu);
        let mut buf = [0u8; 16];
        while b.sock.read_exact(&mut buf).is_ok() {
            let mut d = shm::Descriptor::from_bytes(buf);
            d.dst = here;
            if b.sock.write_all(&d.to_bytes()).is_err() {
                return;
            }
        }
    });
    SkClient { end: a, there }
}

/// rte_ring ping-pong: two DPDK rings of 16-byte descriptors between two busy-polling threads
/// (D-SPRIGHT's mechanism). Needs the EAL, initialised once for the benchmark process.
struct RingClient {
    to: dpdk_poll::dpdk::Ring,
    from: dpdk_poll::dpdk::Ring,
    /// Stops the peer's poller, which would otherwise keep a core busy for the rest of the run.
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for RingClient {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl RingClient {
    fn round_trip(&self) {
        let d = shm::Descriptor { dst: 2, src: 1, slot: 0, gen: 0 };
        while !self.to.enqueue(&d) {}
        loop {
            if self.from.dequeue().is_some() {
                return;
            }
            std::hint::spin_loop();
        }
    }
}

fn eal_prefix() -> String {
    format!("sbbench{}", std::process::id())
}

fn ring_pair(tag: &str, peer_cpu: usize) -> RingClient {
    use dpdk_poll::dpdk::Ring;
    let to = Ring::create(&format!("bench-{tag}-to"), 1024).unwrap();
    let from = Ring::create(&format!("bench-{tag}-from"), 1024).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let quit = stop.clone();
    std::thread::spawn(move || {
        pin(peer_cpu);
        while !quit.load(std::sync::atomic::Ordering::Relaxed) {
            match to.dequeue() {
                Some(d) => while !from.enqueue(&d) {},
                None => std::hint::spin_loop(),
            }
        }
    });
    RingClient { to, from, stop }
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
        pin(0);
        let (a, b) = UnixStream::pair().unwrap();
        let mut s = echo_pair(a, b, peer_cpu);
        g.bench_function(BenchmarkId::new("unix_stream", placement), |bch| bch.iter(|| round_trip(&mut s)));
        drop(s);
        let (a, b) = tcp_pair();
        let mut s = echo_pair(a, b, peer_cpu);
        g.bench_function(BenchmarkId::new("loopback_tcp", placement), |bch| bch.iter(|| round_trip(&mut s)));
        drop(s);
        let mut sk = sk_msg_pair(&node, peer_cpu);
        g.bench_function(BenchmarkId::new("sk_msg_redirect", placement), |bch| bch.iter(|| sk.round_trip()));
        let ring = ring_pair(placement, peer_cpu);
        g.bench_function(BenchmarkId::new("rte_ring_busy_poll", placement), |bch| bch.iter(|| ring.round_trip()));
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
