//! Backend `u-spright`'s own option: `batch=on` makes each function's worker (alone on its
//! socket) receive and send in batches.

mod common;

use common::*;
use dataplane_api::Role;
use harness::loadgen::http::request_once;

/// With `batch=on` every function process is told to batch (and with the default, none is),
/// and concurrent requests from 8 clients, which queue several descriptors at a function, are
/// all answered with the reference reply and give back every pool slot. Were a batch's
/// descriptors after the first lost, or sent to the wrong process, requests would time out or
/// come back wrong.
#[test]
fn batching_functions_answer_every_request() {
    let _g = serial();
    let c = chain("synthetic-5");
    for (opts, batching) in [(&[][..], false), (&["batch=on"][..], true)] {
        let dir = scratch("us");
        let d = try_deploy("u-spright", &c, &dir, opts).unwrap();
        for f in d.components().iter().filter(|c| c.role != Role::Gateway) {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", f.pid)).unwrap();
            let told = cmdline.split(|&b| b == 0).any(|a| a == b"--batch");
            assert_eq!(told, batching, "{opts:?}: {}", f.name);
        }
        let addr = d.endpoint().addr;
        let clients: Vec<_> = (0..8)
            .map(|k| {
                std::thread::spawn(move || {
                    (0..20)
                        .map(|i| {
                            let body = format!("c{k}r{i}");
                            (body.clone(), request_once(addr, "/pipe", &addr.to_string(), body.as_bytes()).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for client in clients {
            for (body, (status, got)) in client.join().unwrap() {
                assert_eq!(status, 200, "{opts:?}: {}", String::from_utf8_lossy(&got));
                assert_eq!(got, workloads::reference::execute(&c, &c.routes[0], body.as_bytes()).unwrap(), "{opts:?}");
            }
        }
        let cs = d.counters();
        assert_eq!(counter(&cs, "pool", "free_slots"), counter(&cs, "pool", "slots"), "{opts:?}");
        d.teardown();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
