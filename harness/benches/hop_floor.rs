//! The SK_MSG per-hop floor, measured the way `scripts/per-hop.sh` measures S-SPRIGHT's hop.
//!
//! `floors` times back-to-back round trips: both processes stay hot and the core never idles.
//! A chain under a paced load is different: between requests every process sleeps and the core
//! may halt, so each hop wakes a process whose caches and TLB entries have gone cold. A per-hop
//! target read against the back-to-back floor mixes that cost of the load pattern with the cost
//! of the dataplane's code. This benchmark removes the dataplane's code instead: bare relay
//! processes that pass a 16-byte message on through the real SK_MSG program and SOCKHASH
//! (receive, rewrite the destination, send; no pool, no handler), driven exactly as
//! `per-hop.sh` drives a chain:
//!
//! - a client (the gateway's and load generator's place) sends at a constant rate, pacing with
//!   an absolute-time sleep, and times each message until it comes back;
//! - a chain of 1 relay (2 redirects, like synthetic-1) and one of 5 (6 redirects, like
//!   synthetic-5) at the same rate; the marginal cost of a hop is the difference of the medians
//!   divided by the 4 extra hops, the same formula as `per-hop.sh`;
//! - every process is pinned as the harness's `--placement` policy pins the gateway (the
//!   client) and function `i` (relay `i`), resolved by the same code.
//!
//! ```text
//! cargo bench -p spright-bench --bench hop_floor -- [--rates 500,4000] [--placements paper,one-core]
//!     [--sched normal|batch] [--seconds 5]
//! ```

mod common;

use clap::Parser;
use common::{fork_peer, pin, tcp_pair, xfer, Peer};
use dataplane_api::placement::{Placement, Slot};
use dataplane_api::Role;
use ebpf_sk_msg::sched_batch;
use harness::clock::now_ns;
use hdrhistogram::Histogram;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};

#[derive(Parser)]
#[command(about = "SK_MSG per-hop floor under a paced load, per placement (see the module docs)")]
struct Args {
    /// Constant send rates, messages per second.
    #[arg(long, value_delimiter = ',', default_value = "500,4000", value_parser = clap::value_parser!(u32).range(1..))]
    rates: Vec<u32>,
    /// Placement policies, as `spright-bench run --placement` takes them (none, paper, one-core).
    #[arg(long, value_delimiter = ',', default_value = "paper,one-core")]
    placements: Vec<String>,
    /// How the relays are scheduled, as S-SPRIGHT's `sched` option schedules function workers:
    /// normal (SCHED_OTHER) or batch (SCHED_BATCH: a woken relay does not preempt its sender).
    #[arg(long, value_parser = ["normal", "batch"], default_value = "normal")]
    sched: String,
    /// Measured seconds per chain length, after one second of warm-up.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
    /// A benchmark name filter, as `cargo bench -- FILTER` passes to every bench: this one runs
    /// only when "hop_floor" contains it.
    #[arg(hide = true)]
    filter: Option<String>,
}

/// A relay pinned to `cpus` (and under SCHED_BATCH with `batch`) that passes every message on
/// to `next`: a descriptor's first four bytes are its destination key, the next four its source.
fn fork_relay(cpus: Option<&[usize]>, batch: bool, fd: RawFd, me: u32, next: u32) -> Peer {
    fork_peer(cpus, || {
        if batch && sched_batch().is_err() {
            return; // the client then reports the relay gone
        }
        let mut buf = [0u8; 16];
        while xfer(fd, &mut buf, false) {
            buf[..4].copy_from_slice(&next.to_ne_bytes());
            buf[4..8].copy_from_slice(&me.to_ne_bytes());
            if !xfer(fd, &mut buf, true) {
                return;
            }
        }
    })
}

/// Sleep until `deadline`, in nanoseconds of CLOCK_MONOTONIC (the harness's [`now_ns`]), so
/// that pacing does not drift.
fn sleep_until(deadline: u64) {
    let ts = libc::timespec { tv_sec: (deadline / 1_000_000_000) as i64, tv_nsec: (deadline % 1_000_000_000) as i64 };
    // SAFETY: valid timespec; an interrupted sleep only returns early, which the caller tolerates.
    unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
}

/// Median round trip, in microseconds, through `relays` relays (under SCHED_BATCH with
/// `batch`) at `rate` under `placement`.
fn median_us(
    node: &std::sync::Mutex<ebpf_sk_msg::node::EbpfNode>,
    placement: &Placement,
    batch: bool,
    relays: u16,
    rate: u32,
    seconds: u64,
) -> f64 {
    static NEXT_CHAIN: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(1);
    let chain = NEXT_CHAIN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let keys: Vec<u32> = (0..=relays).map(|i| shm::key(chain, i)).collect();
    // The peer ends stay open: the kernel only redirects into established connections.
    let pairs: Vec<(TcpStream, TcpStream)> = keys.iter().map(|_| tcp_pair()).collect();
    for (k, (s, _)) in keys.iter().zip(&pairs) {
        node.lock().unwrap().register(*k, &[s]).unwrap();
    }
    let gateway = placement.cpus(Slot { role: Role::Gateway, function: None });
    let _relays: Vec<Peer> = (1..=relays)
        .map(|i| {
            let cpus = placement.cpus(Slot { role: Role::Function, function: Some((i, "relay")) });
            let next = keys[(i as usize + 1) % keys.len()];
            fork_relay(cpus.as_deref(), batch, pairs[i as usize].0.as_raw_fd(), keys[i as usize], next)
        })
        .collect();
    if let Some(c) = &gateway {
        pin(c);
    }
    let fd = pairs[0].0.as_raw_fd();
    let msg = shm::Descriptor { dst: keys[1], src: keys[0], slot: 0, gen: 0 }.to_bytes();
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let period = 1_000_000_000 / rate as u64;
    let start = now_ns();
    let (warm_until, end) = (start + 1_000_000_000, start + (1 + seconds) * 1_000_000_000);
    let mut next = start;
    loop {
        sleep_until(next);
        let sent = now_ns();
        if sent >= end {
            break;
        }
        let mut buf = msg;
        assert!(xfer(fd, &mut buf, true) && xfer(fd, &mut buf, false), "a relay is gone");
        if sent >= warm_until {
            h.saturating_record(now_ns() - sent);
        }
        next = (next + period).max(sent);
    }
    for (k, (s, _)) in keys.iter().zip(&pairs) {
        node.lock().unwrap().unregister(*k, &[s.local_addr().unwrap().port()]);
    }
    h.value_at_quantile(0.5) as f64 / 1000.0
}

fn main() {
    let args = Args::parse();
    if args.filter.as_deref().is_some_and(|f| !"hop_floor".contains(f)) {
        return;
    }
    let allowed = Placement::allowed_here();
    // Every placement is checked before anything is measured.
    let placements: Vec<Placement> =
        match args.placements.iter().map(|p| Placement::parse(p, allowed.clone())).collect() {
            Ok(list) => list,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
    let node = ebpf_sk_msg::node::EbpfNode::shared().expect("load the SK_MSG program (root; scripts/setup.sh)");
    println!("placement rate p50_1relay_us p50_5relays_us marginal_us_per_hop");
    for (p, placement) in args.placements.iter().zip(&placements) {
        for &rate in &args.rates {
            let batch = args.sched == "batch";
            let one = median_us(&node, placement, batch, 1, rate, args.seconds);
            let five = median_us(&node, placement, batch, 5, rate, args.seconds);
            println!("{p} {rate} {one:.1} {five:.1} {:.1}", (five - one) / 4.0);
            // The client thread was pinned for this placement; the next one starts unpinned.
            pin(&allowed);
        }
    }
}
