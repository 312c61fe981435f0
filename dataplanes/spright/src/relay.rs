//! A function runtime that is not SPRIGHT's: bare relays in the functions' places, so that the
//! transport's per-hop floor is measured exactly as a SPRIGHT chain is (option
//! `function-runtime=relay` of every SPRIGHT backend).
//!
//! Why: a hop's cost read against a floor measured elsewhere mixes in whatever else differs
//! between the two setups. On one core of this project's 2-core VMs at 4,000 req/s,
//! `hop_floor`'s relays (forked from the benchmark, driven by a bare client) cost 2.6-2.7 us a
//! hop, and these relays, in component processes behind the chain's gateway and the load
//! generator, 3.7-4.6 us (README, "The floor in the functions' own places").
//! With this runtime every function process receives descriptors with the backend's own
//! transport and sends them on (a received batch together, as SPRIGHT's functions do,
//! [`crate::serve_batches`]), untouched, to the function after it in the chain's pipeline: no
//! validation, no route step, no handler, no pool access, except that the last relay hands the
//! slot to the gateway (which validates it as always). The gateway, the processes, the
//! transport, the load and the placement are those of a SPRIGHT run, so what a SPRIGHT hop
//! costs over a relay's is what the function runtime adds.
//!
//! Only chains whose routes are all pipelines, each function with one successor in all of
//! them, can be relayed ([`successors`]; refused before anything starts otherwise). A relayed
//! request's reply has no visits: `digest=` the route id's alone, `visits=0`, and the request's
//! own body. A send that fails is logged and the request left to the gateway's timeout (a relay
//! holds no slot to give back).

use crate::{serve_batches, Transport};
use dataplane_api::OptionSpec;
use shm::{gateway_key, key, key_chain, Descriptor, Pool};
use std::collections::BTreeMap;
use std::sync::Arc;
use workloads::{Chain, FnId, RouteKind};

/// Option `function-runtime` of every SPRIGHT backend.
pub const RUNTIME: OptionSpec = OptionSpec::choice(
    "function-runtime",
    "what a function process does with a descriptor: spright (validate it, run the handler on the slot in place and advance the request along its route) or relay (not SPRIGHT: pass it on untouched to the next function of the chain's pipeline, the last one to the gateway; the transport's per-hop floor under the same gateway, load and placement; pipeline chains only, replies with visits=0)",
    &["spright", "relay"],
);

/// Where each function of `chain` passes a descriptor on to: the function after it in every
/// pipeline it is in, 0 (the gateway) where it is last; or why the chain cannot be relayed.
pub fn successors(chain: &Chain) -> Result<BTreeMap<FnId, FnId>, String> {
    let mut next: BTreeMap<FnId, FnId> = BTreeMap::new();
    for route in &chain.routes {
        if route.kind != RouteKind::Pipeline {
            return Err(format!(
                "function-runtime=relay passes descriptors along pipelines; route {:?} of chain {} is a call tree",
                route.name, chain.name
            ));
        }
        let funcs: Vec<FnId> = route.nodes.iter().map(|n| n.func).chain([0]).collect();
        for pair in funcs.windows(2) {
            if let Some(other) = next.insert(pair[0], pair[1]).filter(|&o| o != pair[1]) {
                return Err(format!(
                    "function-runtime=relay needs one successor per function; in chain {} function {} is followed by {} and by {}",
                    chain.name,
                    name_of(chain, pair[0]),
                    name_of(chain, other),
                    name_of(chain, pair[1])
                ));
            }
        }
    }
    Ok(next)
}

fn name_of(chain: &Chain, id: FnId) -> String {
    match id {
        0 => "the gateway".into(),
        _ => chain.function(id).map_or_else(|| id.to_string(), |f| f.name.clone()),
    }
}

/// Relay descriptors addressed to function key `me` on to `next` (a function id of the same
/// chain, 0 for the gateway) on `workers` threads (the calling thread is one), until the
/// transport closes.
pub fn serve<T: Transport>(transport: T, pool: Pool, me: u32, next: FnId, workers: usize) -> std::io::Result<()> {
    let relay = Arc::new(Relay { transport, pool, me, next: key(key_chain(me), next) });
    for w in 1..workers {
        let r = relay.clone();
        std::thread::Builder::new().name(format!("relay-{w}")).spawn(move || r.run())?;
    }
    relay.run()
}

struct Relay<T> {
    transport: T,
    pool: Pool,
    me: u32,
    next: u32,
}

impl<T: Transport> Relay<T> {
    fn run(&self) -> std::io::Result<()> {
        let to_gateway = self.next == gateway_key(key_chain(self.me));
        serve_batches(
            &self.transport,
            crate::SEND_WITHIN,
            |d| {
                if to_gateway {
                    self.pool.hand_over(d.slot, self.next);
                }
                Some(Descriptor { dst: self.next, src: self.me, ..d })
            },
            |_, e| tracing::warn!("relay cannot reach {:#x}: {e}", self.next),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(name: &str) -> Chain {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workloads/chains");
        workloads::load_chain(&dir.join(format!("{name}.toml"))).unwrap()
    }

    /// Successors written out by hand from the chain files: synthetic-5 is f1..f5 in order,
    /// synthetic-1 its one function; call trees and a function with two successors are refused.
    #[test]
    fn successors_follow_the_pipelines() {
        let five: Vec<(FnId, FnId)> = successors(&chain("synthetic-5")).unwrap().into_iter().collect();
        assert_eq!(five, [(1, 2), (2, 3), (3, 4), (4, 5), (5, 0)]);
        let one: Vec<(FnId, FnId)> = successors(&chain("synthetic-1")).unwrap().into_iter().collect();
        assert_eq!(one, [(1, 0)]);
        let e = successors(&chain("call-tree")).unwrap_err();
        assert!(e.contains("call tree"), "{e}");
        // Parking: search is followed by index on route A and by charging on route B.
        let e = successors(&chain("parking")).unwrap_err();
        assert!(e.contains("one successor"), "{e}");
    }
}
