//! Which client requests waited for a cold start, and their latency apart from the others.
//!
//! A backend records a cold start where it made a call wait for an instance (the Knative
//! model's activator), not which client request that call belonged to. A client request counts
//! as having waited when a cold-started call both began and ended inside it (between its
//! intended send time and its reply). Matched by time: a request that was merely in flight
//! beside a cold start, without waiting for it, counts too; with the sparse and bursty loads
//! where cold starts happen the two coincide, and the rule never misses a request that waited.

use crate::loadgen::record::{hist, latency_ns, put, Logged};
use dataplane_api::ColdStart;
use hdrhistogram::Histogram;

/// The measured requests split by whether they waited for a cold start.
pub struct ColdSplit {
    /// Successful requests that waited.
    pub cold: Histogram<u64>,
    /// Successful requests that did not.
    pub warm: Histogram<u64>,
    /// Per logged request (same order as the log): whether it waited.
    pub waited: Vec<bool>,
}

/// Split `log` by `cold` (cold starts; their `arrived_ns` on the same clock as the log).
pub fn split(log: &[Logged], cold: &[ColdStart]) -> ColdSplit {
    // Intervals of the cold-started calls, sorted by start.
    let mut calls: Vec<(u64, u64)> =
        cold.iter().map(|c| (c.arrived_ns, c.arrived_ns + (c.total_us * 1e3).round() as u64)).collect();
    calls.sort_unstable();
    let mut out = ColdSplit { cold: hist(3), warm: hist(3), waited: Vec::with_capacity(log.len()) };
    for l in log {
        // Calls that began inside the request: a contiguous run of the sorted starts.
        let first = calls.partition_point(|&(s, _)| s < l.origin_ns);
        let waited = calls[first..].iter().take_while(|&&(s, _)| s <= l.done_ns).any(|&(_, e)| e <= l.done_ns);
        out.waited.push(waited);
        if l.ok {
            let lat = latency_ns(l.origin_ns, l.done_ns);
            put(if waited { &mut out.cold } else { &mut out.warm }, lat);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin_ns: u64, done_ns: u64) -> Logged {
        Logged { origin_ns, done_ns, route: 0, ok: true }
    }

    fn cold(arrived_ns: u64, total_us: f64) -> ColdStart {
        ColdStart {
            service: "f".into(),
            arrived_ns,
            scheduling_us: 0.0,
            process_start_us: 0.0,
            readiness_us: 0.0,
            routing_us: 0.0,
            forwarding_us: total_us,
            total_us,
        }
    }

    #[test]
    fn a_request_waited_when_a_cold_call_began_and_ended_inside_it() {
        let log = [
            req(1_000, 2_000),                           // before any cold start
            req(10_000, 30_000),                         // holds the call 12,000-20,000
            req(11_000, 15_000),                         // ended before that call did: it did not wait for it
            req(40_000, 60_000),                         // holds the call 50,000-60,000 (ends with it)
            req(70_000, 80_000),                         // the call 65,000-75,000 began before it
            Logged { ok: false, ..req(50_000, 61_000) }, // failed: classified, not in a histogram
        ];
        let calls = [cold(12_000, 8.0), cold(50_000, 10.0), cold(65_000, 10.0)];
        let s = split(&log, &calls);
        assert_eq!(s.waited, [false, true, false, true, false, true]);
        assert_eq!((s.cold.len(), s.warm.len()), (2, 3));
        assert!(s.cold.equivalent(s.cold.max(), 20_000));
        assert!(s.warm.equivalent(s.warm.max(), 10_000));
    }

    #[test]
    fn no_cold_starts_leave_every_request_warm() {
        let log = [req(0, 5_000), req(1_000, 9_000)];
        let s = split(&log, &[]);
        assert_eq!(s.waited, [false, false]);
        assert_eq!((s.cold.len(), s.warm.len()), (0, 2));
    }
}
