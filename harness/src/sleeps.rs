//! How long a function's short blocking sleep really lasts on this machine.
//!
//! The paper's motion functions sleep 1 us with `nanosleep`; the kernel rounds a sleep up by the
//! thread's timer slack (50 us by default) and the wake-up, so the "1 us" of work lasts tens of
//! microseconds. The functions keep the paper's sleep; the driver measures what such a sleep
//! costs here, on a thread with the default timer slack as the functions have, and records it
//! with the run, so a reader knows what the chain's service time actually was.

use serde::Serialize;
use std::time::{Duration, Instant};

/// Sleeps shorter than this are measured (longer ones are what they say, within a fraction).
pub const MEASURED_BELOW_NS: u64 = 1_000_000;
const SAMPLES: usize = 200;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EffectiveSleep {
    pub sleep_ns: u64,
    pub median_ns: u64,
    pub p99_ns: u64,
    pub samples: usize,
}

/// Measure each distinct short sleep of the chain's functions (none if there is none).
pub fn measure(chain: &workloads::Chain) -> Vec<EffectiveSleep> {
    let mut sleeps: Vec<u64> = chain
        .functions
        .iter()
        .filter_map(|f| match &f.handler {
            workloads::handler::HandlerSpec::Synthetic(p) => Some(p.sleep_ns),
            _ => None,
        })
        .filter(|&ns| ns > 0 && ns < MEASURED_BELOW_NS)
        .collect();
    sleeps.sort_unstable();
    sleeps.dedup();
    sleeps.into_iter().filter_map(measure_one).collect()
}

/// On a fresh thread, which gets the default timer slack whatever the driver's other threads use.
fn measure_one(sleep_ns: u64) -> Option<EffectiveSleep> {
    std::thread::spawn(move || {
        let mut d: Vec<u64> = (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                std::thread::sleep(Duration::from_nanos(sleep_ns));
                t.elapsed().as_nanos() as u64
            })
            .collect();
        d.sort_unstable();
        EffectiveSleep { sleep_ns, median_ns: d[SAMPLES / 2], p99_ns: d[SAMPLES * 99 / 100], samples: SAMPLES }
    })
    .join()
    .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sleep_lasts_at_least_what_it_asks() {
        let e = super::measure_one(1_000).unwrap();
        assert!(e.median_ns >= 1_000 && e.p99_ns >= e.median_ns, "{e:?}");
    }
}
