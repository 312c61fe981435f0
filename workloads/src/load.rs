//! Load profiles and request mixes: how a chain is driven, as data in the chain spec (`[load]`,
//! route `weight` and `payload_bytes`), overridable from the command line.

use crate::chain::Chain;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq)]
pub struct LoadProfile {
    pub pattern: Pattern,
    /// Measured time, after the warm-up.
    pub duration_s: f64,
    /// Time driven before measurement starts; its requests are not recorded.
    pub warmup_s: f64,
    /// Connections the open-loop and burst generators may use at once. When all are busy, due
    /// requests wait in the client and their wait counts as latency.
    pub connections: u32,
    /// A request without a response after this long is counted as a timeout.
    pub timeout_ms: u64,
    /// Seed for arrivals, think times and the route mix.
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Requests arrive on a schedule whatever the system does; latency is measured from each
    /// request's intended send time, so queueing is never hidden (no coordinated omission).
    Open { arrival: Arrival, rate: f64 },
    /// `users` clients each send a request, wait for the response, think, and repeat (the paper's
    /// Locust clients). Latency is from the actual send.
    Closed { users: u32, think_min_ms: u64, think_max_ms: u64 },
    /// `size` requests at once every `every_s` seconds (the parking chain's image uploads).
    Burst { size: u32, every_s: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Constant,
    Poisson,
}

impl Pattern {
    pub fn describe(&self) -> String {
        match self {
            Pattern::Open { arrival, rate } => {
                format!("open loop, {arrival:?} arrivals at {rate} req/s")
            }
            Pattern::Closed { users, think_min_ms, think_max_ms } => {
                format!("closed loop, {users} users, think {think_min_ms}-{think_max_ms} ms")
            }
            Pattern::Burst { size, every_s } => format!("bursts of {size} every {every_s} s"),
        }
    }
}

/// Picks routes according to their weights.
#[derive(Debug, Clone)]
pub struct Mix {
    /// (route id, cumulative weight), last entry's weight is the total.
    cumulative: Vec<(u16, f64)>,
}

impl Mix {
    pub fn new(chain: &Chain) -> Self {
        let mut acc = 0.0;
        let cumulative = chain
            .routes
            .iter()
            .filter(|r| r.weight > 0.0)
            .map(|r| {
                acc += r.weight;
                (r.id, acc)
            })
            .collect();
        Mix { cumulative }
    }

    pub fn pick(&self, rng: &mut SplitMix64) -> u16 {
        let total = self.cumulative.last().map(|c| c.1).unwrap_or(0.0);
        let x = rng.next_f64() * total;
        self.cumulative.iter().find(|c| x < c.1).or(self.cumulative.last()).map(|c| c.0).unwrap_or(1)
    }
}
