//! Forged descriptors through the DPDK rings (issue 12), the counterpart of S-SPRIGHT's test
//! through the kernel. This test process joins the deployment as a DPDK secondary (so it is a
//! test binary of its own: the EAL is initialised once per process) and puts descriptors straight
//! into the rings: for a live slot, to processes that do not hold it, with the wrong generation,
//! a duplicate to its very holder, and out-of-bounds and unallocated slots. Each is dropped and
//! counted, the request the live slot belongs to completes, and the chain keeps serving.

mod common;

use common::*;
use dpdk_poll::dpdk::{eal_init, ring_name, Ring};
use harness::loadgen::http::request_once;
use shm::{key, Descriptor};

#[test]
fn forged_descriptors_in_the_rings_are_rejected_and_counted() {
    let _g = serial();
    let chain = slow_chain();
    let dir = scratch("dforge");
    let d = deploy("d-spright", &chain, &dir);
    let gw = d.components()[0].pid;
    let id: u16 = arg_value(gw, "--chain-id").parse().unwrap();
    let prefix = arg_value(gw, "--prefix");
    let pool = shm::Pool::open(std::path::Path::new(&arg_value(gw, "--pool"))).unwrap();

    // Join as a secondary and find the chain's rings.
    eal_init(&[
        "sb-test".to_string(),
        "--proc-type=secondary".into(),
        format!("--file-prefix={prefix}"),
        "--no-pci".into(),
        "--no-telemetry".into(),
        "--iova-mode=va".into(),
        "--huge-dir=/dev/hugepages".into(),
        "--log-level=lib.eal:warning".into(),
    ])
    .unwrap();
    let ring = |f: u16| Ring::lookup(&ring_name(id, f)).unwrap();
    let (to_gw, to_fn1, to_fn2) = (ring(0), ring(1), ring(2));

    let addr = d.endpoint().addr;
    let slow = std::thread::spawn(move || request_once(addr, "/r", &addr.to_string(), b"live").unwrap());
    let mut live = None;
    wait_for("the request in the slow function", 10, || {
        live = (0..4).find_map(|i| pool.slot_state(i).filter(|s| s.1 == key(id, 1)).map(|s| (i, s.0)));
        live.is_some()
    });
    let (slot, gen) = live.unwrap();
    let src = key(id, 0x7ff4);
    let forged = [
        (&to_fn2, Descriptor { dst: key(id, 2), src, slot, gen }), // a function that does not hold it
        (&to_gw, Descriptor { dst: key(id, 0), src, slot, gen }),  // the gateway, which does not hold it
        (&to_fn1, Descriptor { dst: key(id, 1), src, slot, gen: gen.wrapping_add(1) }), // wrong generation
        (&to_fn1, Descriptor { dst: key(id, 1), src, slot, gen }), // a duplicate to its holder
        (&to_fn1, Descriptor { dst: key(id, 9), src, slot, gen }), // naming a function the chain lacks
        (&to_fn1, Descriptor { dst: key(id, 1), src, slot: 4, gen: 1 }), // out of bounds
        (&to_fn2, Descriptor { dst: key(id, 2), src, slot: (slot + 1) % 4, gen: 1 }), // not allocated
    ];
    for (r, f) in &forged {
        assert!(r.enqueue(f), "the ring took the forged descriptor");
    }
    let (status, body) = slow.join().unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, workloads::reference::execute(&chain, &chain.routes[0], b"live").unwrap());
    wait_for("every forged descriptor counted", 10, || {
        counter(&d.counters(), "pool", "bad_descriptors") >= forged.len() as u64
    });
    assert_eq!(counter(&d.counters(), "pool", "bad_descriptors"), forged.len() as u64);
    let (status, _) = request_once(addr, "/r", &addr.to_string(), b"again").unwrap();
    assert_eq!(status, 200, "still serving");
    wait_for("every slot back in the pool", 10, || counter(&d.counters(), "pool", "free_slots") == 4);
    let exits = d.teardown();
    assert!(exits.iter().all(|e| !e.died_during_run), "{exits:?}");
}
