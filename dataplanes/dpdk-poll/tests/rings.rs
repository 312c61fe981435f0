//! D-SPRIGHT's transport in bursts, on real DPDK rings: a test binary of its own, because the
//! EAL is initialised once per process. Runs the EAL without hugepages (`--no-huge`, one
//! process, nothing shared), so it needs neither root nor a deployment.

use dpdk_poll::dpdk::{eal_init, Ring};
use dpdk_poll::transport::{PollMode, Rings};
use shm::{key, Descriptor};
use spright::Transport;
use std::collections::HashMap;
use std::io::ErrorKind;

const CHAIN: u16 = 7;

fn d(to: u16, slot: u32) -> Descriptor {
    Descriptor { dst: key(CHAIN, to), src: key(CHAIN, 1), slot, gen: 1 }
}

fn slots(ds: &[Descriptor]) -> Vec<u32> {
    ds.iter().map(|d| d.slot).collect()
}

/// Everything on `r` now, one dequeue at a time (not the code under test).
fn drain(r: &Ring) -> Vec<u32> {
    std::iter::from_fn(|| r.dequeue()).map(|d| d.slot).collect()
}

/// The EAL's runtime directory for this test's file prefix (created even with `--no-shconf`),
/// removed when the test ends, passed or failed: each run would otherwise leave one behind.
struct RuntimeDir(std::path::PathBuf);

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bursts_keep_order_per_ring_stop_at_an_unknown_destination_and_wait_for_room() {
    let prefix = format!("sbrt{}", std::process::id());
    let _runtime = RuntimeDir(std::path::Path::new("/var/run/dpdk").join(&prefix));
    eal_init(&[
        "sb-rings-test".to_string(),
        "--no-huge".into(),
        "-m".into(),
        "64".into(),
        "--no-shconf".into(),
        "--no-pci".into(),
        "--no-telemetry".into(),
        "--log-level=lib.eal:warning".into(),
        format!("--file-prefix={prefix}"),
    ])
    .expect("EAL without hugepages");
    // The gateway's ring, function 1's and function 2's; function 2's holds 15 (a ring of 16
    // without RING_F_EXACT_SZ keeps one entry free).
    let rings: HashMap<u16, Ring> =
        [(0, 1024), (1, 1024), (2, 16)].map(|(f, n)| (f, Ring::create(&format!("t-{f}"), n).unwrap())).into();
    let rings_of = |own: u16, alone: bool| Rings::new(rings[&own], rings.clone(), PollMode::Busy, alone);
    let sender = rings_of(1, true);

    // Runs for different destinations, interleaved: each ring gets its own in the batch's order.
    let batch = [d(2, 10), d(2, 11), d(0, 12), d(2, 13), d(0, 14), d(0, 15)];
    sender.send_batch(&batch).unwrap();
    assert_eq!(drain(&rings[&0]), [12, 14, 15]);

    // A poller alone on its ring takes everything waiting in one receive, up to 32.
    let mut got = Vec::new();
    for s in 16..26 {
        rings[&2].enqueue(&d(2, s));
    }
    let two = rings_of(2, true);
    assert!(two.recv_batch(&mut got).unwrap());
    assert_eq!(slots(&got), [10, 11, 13, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    got.clear();
    let gw = rings_of(0, true);
    sender.send_batch(&(100..140).map(|s| d(0, s)).collect::<Vec<_>>()).unwrap();
    assert!(gw.recv_batch(&mut got).unwrap());
    assert_eq!(slots(&got), (100..132).collect::<Vec<_>>(), "the first receive takes 32");
    got.clear();
    assert!(gw.recv_batch(&mut got).unwrap());
    assert_eq!(slots(&got), (132..140).collect::<Vec<_>>(), "the second the other 8");

    // Workers sharing a ring take one descriptor each.
    let shared = rings_of(2, false);
    for s in 26..29 {
        rings[&2].enqueue(&d(2, s));
    }
    got.clear();
    assert!(shared.recv_batch(&mut got).unwrap());
    assert_eq!(slots(&got), [26], "one, with three waiting");
    assert_eq!(drain(&rings[&2]), [27, 28]);

    // A destination without a ring: the ones before it went, it and the rest did not.
    let (n, e) = sender.send_batch(&[d(0, 30), d(0, 31), d(9, 32), d(0, 33)]).unwrap_err();
    assert_eq!((n, e.kind()), (2, ErrorKind::NotFound));
    assert_eq!(drain(&rings[&0]), [30, 31]);

    // A burst larger than the room on the ring waits for its poller, and loses nothing.
    let receiver = std::thread::spawn({
        let ring = rings[&2];
        move || {
            let (mut seen, deadline) = (Vec::new(), std::time::Instant::now() + std::time::Duration::from_secs(10));
            while seen.len() < 40 && std::time::Instant::now() < deadline {
                match ring.dequeue() {
                    Some(d) => seen.push(d.slot),
                    None => std::hint::spin_loop(),
                }
            }
            seen
        }
    });
    sender.send_batch(&(200..240).map(|s| d(2, s)).collect::<Vec<_>>()).unwrap();
    assert_eq!(receiver.join().unwrap(), (200..240).collect::<Vec<_>>());
}
