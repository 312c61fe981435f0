//! How the sweep finds a backend's ceiling: the saturation rule, a ladder of open-loop rates up
//! to the first saturated point, bisection below it, and the check of the load generator's
//! connection pool.
//!
//! A point counts as saturated when the achieved throughput falls below 90% of the offered
//! rate, more than 1% of requests fail, or p99 exceeds 500 ms (the client-side queue is
//! growing). The ramp stops at the first saturated point: beyond it, an open-loop generator
//! only measures its own queue.
//!
//! An open-loop point's throughput is also bounded by the load generator's connections: one
//! request at a time on each, so at most the pool over the mean latency. From the client, a
//! saturated backend and a saturated pool look the same, so the sweep checks the pool where it
//! may bind ([`ramp_checking_pool`]): a saturated point whose pool was busy is measured again
//! with four times the connections, and only if that saturates too is the ceiling the
//! backend's; if it holds, the first pool is measured once more, to tell its limit from a stall
//! that did not repeat. Every point stays in `comparison.csv` (its `connections` column tells
//! them apart).

use crate::results::Summary;
use anyhow::Result;

/// The saturation rule ([`spright_analysis::saturated`]): achieved below 90% of offered, more
/// than 1% of requests failed, or p99 above 500 ms. Each bound itself is not saturated.
pub fn saturated(s: &Summary) -> bool {
    spright_analysis::saturated(s.offered_rps.unwrap_or(0.0), s.achieved_rps, s.ok as f64, s.errors as f64, s.p99_us)
}

/// How the offered rate moves: a ladder from `start`, times `step` a point, at most
/// `max_points` points, up to and including the first saturated one (beyond it an open-loop
/// generator only measures its own queue); then bisection between the last unsaturated and the
/// first saturated rate until they are within a factor `refine` (the ladder alone quantises
/// every capacity to a power of `step`); `refine <= 1` skips it.
#[derive(Debug, Clone, Copy)]
pub struct Ramp {
    pub start: f64,
    pub step: f64,
    pub max_points: usize,
    pub refine: f64,
}

/// Most bisection points after the ladder (2x down to 1.1x takes 3).
const MAX_REFINE_POINTS: usize = 8;

/// Run the ramp `r` of one backend and chain; points in order of offered rate. `None` from
/// `measure` (interrupted) ends it.
pub fn ramp(r: &Ramp, mut measure: impl FnMut(f64) -> Result<Option<Summary>>) -> Result<Vec<Summary>> {
    let mut out = Vec::new();
    let mut rate = r.start;
    let (mut lo, mut hi) = (None, None);
    for _ in 0..r.max_points {
        let Some(s) = measure(rate)? else { return Ok(out) };
        let sat = saturated(&s);
        out.push(s);
        if sat {
            hi = Some(rate);
            break;
        }
        lo = Some(rate);
        rate = (rate * r.step).round();
    }
    if let (Some(mut lo), Some(mut hi)) = (lo, hi) {
        for _ in 0..MAX_REFINE_POINTS {
            if hi / lo <= r.refine.max(1.0) || r.refine <= 1.0 {
                break;
            }
            let mid = (lo * hi).sqrt().round();
            if mid <= lo || mid >= hi {
                break;
            }
            let Some(s) = measure(mid)? else { break };
            if saturated(&s) {
                hi = mid;
            } else {
                lo = mid;
            }
            out.push(s);
        }
    }
    out.sort_by(|a, b| a.offered_rps.unwrap_or(0.0).total_cmp(&b.offered_rps.unwrap_or(0.0)));
    Ok(out)
}

/// How a ramp checks the load generator's pool ([`ramp_checking_pool`]).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct PoolCheck {
    /// The pool of a check's second measurement is the first's times this.
    pub growth: u32,
    /// No check grows the pool beyond this many connections.
    pub max: u32,
}

impl PoolCheck {
    /// Four times the pool, up to 1,024 connections: 64 -> 256 -> 1,024, enough for 100,000
    /// req/s at 10 ms of mean latency.
    pub const DEFAULT: PoolCheck = PoolCheck { growth: 4, max: 1024 };

    /// [`Self::DEFAULT`], never growing the pool beyond what the chain's users allow `threads`
    /// generator threads ([`crate::loadgen::most_connections`]), nor beyond the requests the
    /// backend admits at once (`admits`, [`dataplane_api::Dataplane::admits_at_once`]): past
    /// that, more connections only turn a wait in the client into a refusal, which counts as
    /// saturation. (D-SPRIGHT on 2 cores, synthetic-5's 512 slots, 9,500 req/s offered: 2.8%
    /// refused on 1,024 connections, none on 512.) Also says what capped it, if anything did.
    pub(super) fn for_chain(
        chain: &workloads::Chain,
        threads: usize,
        admits: Option<dataplane_api::Admission>,
    ) -> (PoolCheck, Option<String>) {
        let users = crate::loadgen::most_connections(chain.users.as_ref(), threads)
            .map(|u| (u32::try_from(u).unwrap_or(u32::MAX), "its users allow".to_string()));
        let admits = admits.map(|a| (a.most, format!("the backend's {} admit at once", a.held)));
        let (mut check, mut why) = (Self::DEFAULT, None);
        for (cap, what) in [users, admits].into_iter().flatten() {
            if cap < check.max {
                (check.max, why) = (cap, Some(what));
            }
        }
        (check, why)
    }
}

/// A chain whose pool checks stop below [`PoolCheck::DEFAULT`]'s most connections, on some
/// backends, and why ([`PoolCheck::for_chain`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolCap {
    pub chain: String,
    pub backends: Vec<String>,
    pub connections: u32,
    pub why: String,
}

impl PoolCap {
    /// Add `backend` to the cap of `chain` at `connections` for `why`, once.
    pub(super) fn note(caps: &mut Vec<PoolCap>, chain: &str, backend: &str, connections: u32, why: &str) {
        match caps.iter_mut().find(|c| c.chain == chain && c.connections == connections && c.why == why) {
            Some(c) if c.backends.iter().any(|b| b == backend) => {}
            Some(c) => c.backends.push(backend.into()),
            None => {
                caps.push(PoolCap { chain: chain.into(), backends: vec![backend.into()], connections, why: why.into() })
            }
        }
    }
}

/// Whether a point's requests kept at least half its connections busy on average: by Little's
/// law, throughput x mean latency requests were in the system at once (the latency counts
/// from the intended send time, so those waiting in the client for a connection count too).
fn pool_was_busy(s: &Summary) -> bool {
    s.connections > 0 && s.achieved_rps * s.mean_us / 1e6 >= 0.5 * s.connections as f64
}

/// [`ramp`], with each point measured on a pool of connections (`measure(rate, connections)`)
/// that starts at `start` and is checked where it may bind: a saturated point whose pool was
/// busy ([`pool_was_busy`]) is measured again at the same rate with `check.growth` times the
/// connections (at most `check.max`), and the ramp goes on from that measurement with that
/// pool. If the larger pool saturates too, the ceiling is the backend's and no later point is
/// checked. If not, the first pool is measured once more at the same rate (A-B-A: on a noisy
/// machine a point can saturate on a stall that does not repeat), and later saturated points
/// are checked again. The points the checks replaced come back too, each before its
/// replacement ([`pool_checks`] reads them back).
pub fn ramp_checking_pool(
    r: &Ramp,
    start: u32,
    check: Option<PoolCheck>,
    mut measure: impl FnMut(f64, u32) -> Result<Option<Summary>>,
) -> Result<Vec<Summary>> {
    let mut pool = start;
    let mut confirmed = false;
    let mut replaced = Vec::new();
    let mut points = ramp(r, |rate| {
        let Some(s) = measure(rate, pool)? else { return Ok(None) };
        let grown = match check {
            Some(c) if !confirmed && saturated(&s) && pool_was_busy(&s) => pool.saturating_mul(c.growth).min(c.max),
            _ => pool,
        };
        if grown <= pool {
            return Ok(Some(s));
        }
        // Interrupted during the check: keep what was measured.
        let Some(again) = measure(rate, grown)? else { return Ok(Some(s)) };
        let first = std::mem::replace(&mut pool, grown);
        confirmed = saturated(&again);
        replaced.push(s);
        if !confirmed {
            replaced.extend(measure(rate, first)?);
        }
        Ok(Some(again))
    })?;
    points.extend(replaced);
    points.sort_by(by_rate_then_pool);
    Ok(points)
}

/// Points in order of offered rate; at one rate, a pool check's first point before its second.
fn by_rate_then_pool(a: &Summary, b: &Summary) -> std::cmp::Ordering {
    a.offered_rps.unwrap_or(0.0).total_cmp(&b.offered_rps.unwrap_or(0.0)).then(a.connections.cmp(&b.connections))
}

/// A pool check among one backend's points ([`ramp_checking_pool`]).
pub(super) struct Checked<'a> {
    /// The saturated point on the first pool.
    pub first: &'a Summary,
    /// The same rate on the larger pool.
    pub again: &'a Summary,
    /// The first pool once more, where the larger one held.
    pub repeat: Option<&'a Summary>,
}

/// The pool checks among one backend's points: at a rate measured on more than one pool, the
/// first point on each pool against the first on the next larger one.
pub(super) fn pool_checks<'a>(points: impl Iterator<Item = &'a Summary>) -> Vec<Checked<'a>> {
    let mut by_rate: Vec<&Summary> = points.collect();
    by_rate.sort_by(|a, b| by_rate_then_pool(a, b));
    let mut out = Vec::new();
    for (i, p) in by_rate.iter().enumerate() {
        let same = |q: &&Summary| q.offered_rps == p.offered_rps;
        let (before, after) = (&by_rate[..i], &by_rate[i + 1..]);
        if before.last().is_some_and(|q| same(q) && q.connections == p.connections) {
            continue; // not the first on its pool
        }
        let Some(again) = after.iter().take_while(|q| same(q)).find(|q| q.connections > p.connections) else {
            continue;
        };
        let repeat = after.first().filter(|q| same(q) && q.connections == p.connections).copied();
        out.push(Checked { first: p, again, repeat });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{point, pooled};
    use super::*;
    use crate::registry;
    use std::path::Path;

    /// A check stops at the fewest of 1,024 connections, those the chain's users allow and the
    /// requests the backend admits at once, and says which; SPRIGHT admits a request per slot
    /// of the chain's pool (512 by default), gRPC has no such bound.
    #[test]
    fn a_pool_check_stops_where_the_users_or_the_slots_do() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/chains/online-boutique.toml");
        let mut c = workloads::load_chain(&file).unwrap();
        let (users, slots) =
            (Some("its users allow".to_string()), Some("the backend's pool slots admit at once".to_string()));
        let max = |c: &workloads::Chain, threads, most: Option<u32>| {
            let admits = most.map(|most| dataplane_api::Admission { most, held: "pool slots", raise: "" });
            let (check, why) = PoolCheck::for_chain(c, threads, admits);
            (check.max, why)
        };
        assert_eq!(max(&c, 1, None), (1024, None), "5,000 users allow more");
        assert_eq!(max(&c, 1, Some(512)), (512, slots.clone()));
        assert_eq!(max(&c, 1, Some(4096)), (1024, None));
        c.users.as_mut().unwrap().pool = 97;
        assert_eq!(max(&c, 1, Some(512)), (97, users.clone()));
        assert_eq!(max(&c, 2, Some(512)), (96, users), "48 users of each of 2 threads");
        assert_eq!(max(&c, 1, Some(64)), (64, slots));
        let admits = |b: &str| registry::get(b).unwrap().admits_at_once(&c).map(|a| a.most);
        assert_eq!(c.pool_slots, 512);
        assert_eq!((admits("s-spright"), admits("d-spright"), admits("grpc")), (Some(512), Some(512), None));
    }

    #[test]
    fn the_ramp_doubles_and_stops_at_the_first_saturated_point() {
        let mut asked = Vec::new();
        let ladder = Ramp { start: 250.0, step: 2.0, max_points: 9, refine: 1.0 };
        let pts = ramp(&ladder, |rate| {
            asked.push(rate);
            // Capacity 1,500 req/s: achieved is capped there.
            Ok(Some(point(rate, rate.min(1500.0), 1000, 0, 1000.0)))
        })
        .unwrap();
        assert_eq!(asked, [250.0, 500.0, 1000.0, 2000.0], "stops at 2,000, the first saturated point");
        assert_eq!(pts.len(), 4);
        let three = Ramp { max_points: 3, ..ladder };
        assert_eq!(ramp(&three, |r| Ok(Some(point(r, r, 1, 0, 1.0)))).unwrap().len(), 3, "at most max_points");
        assert!(ramp(&ladder, |_| Ok(None)).unwrap().is_empty(), "interrupted");
    }

    /// Bisection between 1,000 (unsaturated) and 2,000 (saturated) for a capacity of 1,500 req/s
    /// (saturated below 90% of offered: above 1,667): sqrt(1000 x 2000) = 1,414 holds, then
    /// 1,682 does not, then 1,542 holds; 1,682 / 1,542 < 1.1 ends it. Points come out in order.
    #[test]
    fn the_ramp_bisects_the_capacity_to_within_the_refine_factor() {
        let mut asked = Vec::new();
        let r = Ramp { start: 250.0, step: 2.0, max_points: 9, refine: 1.1 };
        let pts = ramp(&r, |rate| {
            asked.push(rate);
            Ok(Some(point(rate, rate.min(1500.0), 1000, 0, 1000.0)))
        })
        .unwrap();
        assert_eq!(asked, [250.0, 500.0, 1000.0, 2000.0, 1414.0, 1682.0, 1542.0]);
        let offered: Vec<f64> = pts.iter().map(|p| p.offered_rps.unwrap()).collect();
        assert_eq!(offered, [250.0, 500.0, 1000.0, 1414.0, 1542.0, 1682.0, 2000.0]);
        let best = pts.iter().filter(|p| !saturated(p)).map(|p| p.achieved_rps).fold(0.0, f64::max);
        assert_eq!(best, 1500.0, "the capacity, within 10%");
    }

    /// Issue 13: the pool, not the backend, capped the 16-core ceilings. At 8,000 req/s the 64
    /// connections saturate (6,400 achieved, all busy); 256 do not, so 64 are measured once more
    /// (they saturate again) and the ramp goes on with 256. At 16,000 the backend saturates;
    /// 1,024 connections saturate too (no repeat): the ceiling is the
    /// backend's, and the bisection below it runs on 1,024 connections without further checks
    /// (11,314 saturates, unchecked though 4,096 are allowed). The capacity found is the
    /// backend's 10,000, not 6,400.
    #[test]
    fn a_saturated_point_is_measured_again_on_a_larger_pool() {
        let mut asked = Vec::new();
        let r = Ramp { start: 1000.0, step: 2.0, max_points: 9, refine: 1.1 };
        let pts = ramp_checking_pool(&r, 64, Some(PoolCheck { growth: 4, max: 4096 }), |rate, c| {
            asked.push((rate, c));
            Ok(Some(pooled(rate, c)))
        })
        .unwrap();
        assert_eq!(
            asked,
            [
                (1000.0, 64),
                (2000.0, 64),
                (4000.0, 64),
                (8000.0, 64),
                (8000.0, 256),
                (8000.0, 64),
                (16000.0, 256),
                (16000.0, 1024),
                (11314.0, 1024),
                (9514.0, 1024),
                (10375.0, 1024)
            ]
        );
        let order: Vec<(f64, u64)> = pts.iter().map(|p| (p.offered_rps.unwrap(), p.connections)).collect();
        assert_eq!(
            order,
            [
                (1000.0, 64),
                (2000.0, 64),
                (4000.0, 64),
                (8000.0, 64),
                (8000.0, 64),
                (8000.0, 256),
                (9514.0, 1024),
                (10375.0, 1024),
                (11314.0, 1024),
                (16000.0, 256),
                (16000.0, 1024)
            ],
            "every point, a check's first (and its repeat) before its second"
        );
        let best = pts.iter().filter(|p| !saturated(p)).map(|p| p.achieved_rps).fold(0.0, f64::max);
        assert_eq!(best, 10_000.0);
        let checks: Vec<(f64, u64, u64, Option<u64>)> = pool_checks(pts.iter())
            .iter()
            .map(|c| {
                (
                    c.first.offered_rps.unwrap(),
                    c.first.connections,
                    c.again.connections,
                    c.repeat.map(|r| r.connections),
                )
            })
            .collect();
        assert_eq!(checks, [(8000.0, 64, 256, Some(64)), (16000.0, 256, 1024, None)]);
    }

    /// No check: without one, at the cap, or where the pool was not busy (a point saturated by
    /// errors at 1 ms of latency keeps 4 of 64 connections busy at 4,000 req/s).
    #[test]
    fn a_pool_is_checked_only_where_it_was_busy_and_may_grow() {
        let r = Ramp { start: 1000.0, step: 2.0, max_points: 9, refine: 1.0 };
        for (check, start) in
            [(None, 64), (Some(PoolCheck::DEFAULT), 1024), (Some(PoolCheck { growth: 4, max: 64 }), 64)]
        {
            let mut asked = Vec::new();
            ramp_checking_pool(&r, start, check, |rate, c| {
                asked.push(rate);
                Ok(Some(pooled(rate, c)))
            })
            .unwrap();
            let top = if start == 1024 { 16000.0 } else { 8000.0 };
            assert_eq!(asked.last(), Some(&top), "{check:?}, {start}: {asked:?}");
            assert!(asked.windows(2).all(|w| w[0] < w[1]), "no rate measured twice: {asked:?}");
        }
        let mut asked = Vec::new();
        ramp_checking_pool(&r, 64, Some(PoolCheck::DEFAULT), |rate, c| {
            asked.push((rate, c));
            let mut p = point(rate, rate, 1000, if rate >= 4000.0 { 50 } else { 0 }, 2000.0);
            (p.connections, p.mean_us) = (c.into(), 1000.0);
            Ok(Some(p))
        })
        .unwrap();
        assert_eq!(asked, [(1000.0, 64), (2000.0, 64), (4000.0, 64)]);
    }
}
