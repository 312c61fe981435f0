//! Raw floors: the cost of one 16-byte round trip between two threads over each kernel
//! mechanism a dataplane can build on, under the same placement. Every dataplane's per-hop cost
//! is read against these.
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

fn floors(c: &mut Criterion) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut placements = vec![("same-core", 0usize)];
    if cpus > 1 {
        placements.push(("cross-core", 1));
    }
    let mut g = c.benchmark_group("round_trip_16B");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (placement, peer_cpu) in placements {
        pin(0);
        let (a, b) = UnixStream::pair().unwrap();
        let mut s = echo_pair(a, b, peer_cpu);
        g.bench_function(BenchmarkId::new("unix_stream", placement), |bch| {
            bch.iter(|| round_trip(&mut s))
        });
        drop(s);
        let (a, b) = tcp_pair();
        let mut s = echo_pair(a, b, peer_cpu);
        g.bench_function(BenchmarkId::new("loopback_tcp", placement), |bch| {
            bch.iter(|| round_trip(&mut s))
        });
    }
    g.finish();
}

criterion_group!(benches, floors);
criterion_main!(benches);
