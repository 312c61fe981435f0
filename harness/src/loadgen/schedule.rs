//! When requests are due: the open-loop, burst and trace arrival schedules.
//!
//! The schedule is a lazy, monotone sequence of intended send times (ns on the monotonic clock).
//! The generator never materialises a queue of due requests: a request is "due" when its time
//! has passed, and the oldest due request is sent as soon as a connection is free. Its latency
//! is measured from the intended time, so time spent waiting for a connection counts.

use workloads::load::Pattern;
use workloads::rng::SplitMix64;
use workloads::trace::TraceReader;
use workloads::Arrival;

pub struct Schedule {
    kind: Kind,
    next: Option<u64>,
    end_ns: u64,
    rng: SplitMix64,
    k: u64,
    start_ns: u64,
    share: Share,
    /// The last arrival of the whole schedule, this share's or not (Poisson gaps chain on it).
    last: u64,
}

/// Which arrivals a generator thread sends: those whose index in the whole schedule is
/// `index` modulo `of`. Every thread computes the same schedule (same seed) and keeps its
/// share, so the shares partition the one-thread schedule exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub index: u64,
    pub of: u64,
}

impl Share {
    pub const ALL: Share = Share { index: 0, of: 1 };

    /// Whether item `k` (an arrival, a closed-loop user) belongs to this share.
    pub fn has(&self, k: u64) -> bool {
        k % self.of == self.index
    }
}

enum Kind {
    Constant {
        interval_ns: f64,
    },
    Poisson {
        mean_ns: f64,
    },
    Burst {
        size: u64,
        every_ns: f64,
    },
    /// Read as the load goes (validated before it started); a line that fails now ends it.
    Trace(Box<TraceReader>),
}

impl Schedule {
    /// Arrivals in `[start_ns, end_ns)`. Returns `None` for closed-loop patterns; fails if a
    /// trace file cannot be opened.
    pub fn new(
        pattern: &Pattern,
        start_ns: u64,
        end_ns: u64,
        seed: u64,
        share: Share,
    ) -> Result<Option<Self>, workloads::trace::TraceError> {
        let kind = match pattern {
            Pattern::Open { arrival: Arrival::Constant, rate } => Kind::Constant { interval_ns: 1e9 / rate },
            Pattern::Open { arrival: Arrival::Poisson, rate } => Kind::Poisson { mean_ns: 1e9 / rate },
            Pattern::Burst { size, every_s } => Kind::Burst { size: *size as u64, every_ns: every_s * 1e9 },
            Pattern::Trace(t) => Kind::Trace(Box::new(TraceReader::open(t)?)),
            Pattern::Closed { .. } => return Ok(None),
        };
        let mut s =
            Schedule { kind, next: None, end_ns, rng: SplitMix64::new(seed), k: 0, start_ns, share, last: start_ns };
        s.next = s.compute();
        Ok(Some(s))
    }

    /// The next arrival of this share.
    fn compute(&mut self) -> Option<u64> {
        loop {
            let k = self.k;
            let t = self.raw(self.last)?;
            self.last = t;
            if self.share.has(k) {
                return Some(t);
            }
        }
    }

    /// The next arrival of the whole schedule.
    fn raw(&mut self, prev: u64) -> Option<u64> {
        let t = match &mut self.kind {
            Kind::Constant { interval_ns } => self.start_ns + (self.k as f64 * *interval_ns) as u64,
            Kind::Poisson { mean_ns } => {
                if self.k == 0 {
                    self.start_ns
                } else {
                    prev + self.rng.next_exp(*mean_ns) as u64
                }
            }
            Kind::Burst { size, every_ns } => self.start_ns + ((self.k / *size) as f64 * *every_ns) as u64,
            Kind::Trace(r) => match r.next_ns() {
                Ok(Some(offset)) => self.start_ns.saturating_add(offset),
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!("trace replay stopped: {e}");
                    return None;
                }
            },
        };
        self.k += 1;
        (t < self.end_ns).then_some(t)
    }

    /// Intended time of the next arrival, if any is left.
    pub fn peek(&self) -> Option<u64> {
        self.next
    }

    pub fn pop(&mut self) -> Option<u64> {
        let t = self.next?;
        self.next = self.compute();
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut s: Schedule) -> Vec<u64> {
        std::iter::from_fn(|| s.pop()).collect()
    }

    #[test]
    fn constant_rate_spacing() {
        let s =
            Schedule::new(&Pattern::Open { arrival: Arrival::Constant, rate: 1000.0 }, 0, 1_000_000_000, 1, Share::ALL)
                .unwrap()
                .unwrap();
        let v = drain(s);
        assert_eq!(v.len(), 1000);
        assert_eq!(v[1] - v[0], 1_000_000);
    }

    #[test]
    fn poisson_count_is_close_to_rate() {
        let s = Schedule::new(
            &Pattern::Open { arrival: Arrival::Poisson, rate: 10_000.0 },
            0,
            10_000_000_000,
            3,
            Share::ALL,
        )
        .unwrap()
        .unwrap();
        let n = drain(s).len() as f64;
        assert!((n - 100_000.0).abs() < 1500.0, "{n}");
    }

    #[test]
    fn bursts_arrive_together() {
        let s =
            Schedule::new(&Pattern::Burst { size: 3, every_s: 1.0 }, 5, 2_500_000_005, 1, Share::ALL).unwrap().unwrap();
        assert_eq!(
            drain(s),
            vec![5, 5, 5, 1_000_000_005, 1_000_000_005, 1_000_000_005, 2_000_000_005, 2_000_000_005, 2_000_000_005]
        );
    }

    /// Three shares of a schedule partition it exactly: together they are the one-thread
    /// schedule, time for time, for every kind of arrival.
    #[test]
    fn shares_partition_the_schedule() {
        let patterns = [
            Pattern::Open { arrival: Arrival::Constant, rate: 1000.0 },
            Pattern::Open { arrival: Arrival::Poisson, rate: 5000.0 },
            Pattern::Burst { size: 7, every_s: 0.01 },
        ];
        for p in patterns {
            let one = drain(Schedule::new(&p, 0, 1_000_000_000, 9, Share::ALL).unwrap().unwrap());
            let mut all: Vec<u64> = (0..3)
                .flat_map(|index| {
                    drain(Schedule::new(&p, 0, 1_000_000_000, 9, Share { index, of: 3 }).unwrap().unwrap())
                })
                .collect();
            all.sort_unstable();
            assert!(one.len() > 100, "{p:?}");
            assert_eq!(all, one, "{p:?}");
        }
    }
}
