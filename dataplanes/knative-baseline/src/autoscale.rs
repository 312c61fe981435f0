//! The autoscaler's arithmetic, as pure functions: how many instances a service wants, when the
//! activator sits in its path, and how a cold start splits into phases. The control loop
//! ([`crate::control`]) applies them; the tests here pin them to hand-computed values.

use dataplane_api::ColdStart;
use std::time::Duration;
use workloads::Serving;

/// Knative's target utilisation of containerConcurrency.
pub const TARGET_UTILISATION: f64 = 0.7;
/// Concurrency target per instance when containerConcurrency is 0 (unlimited), and the capacity
/// target-burst-capacity reckons with.
pub const UNLIMITED_TARGET: f64 = 100.0;
/// Instances at most when max-scale is 0 (no bound in Knative; a bound on one machine).
pub const MAX_INSTANCES: u32 = 64;

/// Instances of a service with knobs `s`, KPA-like: ceil(mean concurrency over the stable window
/// (the chain's `stable-window`)
/// / (containerConcurrency x 70%)) within min-scale..max-scale, never below one while it is in
/// use; zero once a service with min-scale 0 has been idle for the grace period.
pub fn desired_instances(s: &Serving, mean_concurrency: f64, idle: Duration, grace: Duration) -> u32 {
    if s.min_scale == 0 && idle >= grace {
        return 0;
    }
    let target = if s.container_concurrency > 0 {
        s.container_concurrency as f64 * TARGET_UTILISATION
    } else {
        UNLIMITED_TARGET
    };
    let max = if s.max_scale == 0 { MAX_INSTANCES } else { s.max_scale };
    ((mean_concurrency / target).ceil() as u32).clamp(s.min_scale.max(1), max)
}

/// Whether the ingress sends a service's traffic to the activator: with no instance, always;
/// otherwise as target-burst-capacity says (-1: always; 0: never; N: while the spare capacity of
/// the instances, after the `observed` concurrency, is below N).
pub fn via_activator(s: &Serving, instances: usize, observed: f64) -> bool {
    if instances == 0 {
        return true;
    }
    match s.target_burst_capacity {
        -1 => true,
        0 => false,
        tbc => {
            let cap = if s.container_concurrency > 0 { s.container_concurrency as f64 } else { UNLIMITED_TARGET };
            instances as f64 * cap - observed - (tbc as f64) < 0.0
        }
    }
}

/// The timestamps ([`dataplane_api::now_ns`]) of one scale from zero.
#[derive(Debug, Clone, Copy)]
pub struct Activation {
    pub spawn: u64,
    /// The function process said it serves.
    pub process_ready: u64,
    /// Its queue-proxy started and probed it.
    pub proxy_ready: u64,
}

/// The phases of a request that arrived at `arrived`, waited for activation `a`, could be
/// routed at `routable` and was answered at `done`. A phase that ended before the request
/// arrived (it came while the instance was already starting) counts as zero.
pub fn cold_start(service: &str, a: &Activation, arrived: u64, routable: u64, done: u64) -> ColdStart {
    let at = |t: u64| t.max(arrived);
    let (b1, b2, b3, b4) = (at(a.spawn), at(a.process_ready), at(a.proxy_ready), at(routable));
    let us = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e3;
    ColdStart {
        service: service.to_string(),
        arrived_ns: arrived,
        scheduling_us: us(arrived, b1),
        process_start_us: us(b1, b2),
        readiness_us: us(b2, b3),
        routing_us: us(b3, b4),
        forwarding_us: us(b4, done),
        total_us: us(arrived, done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(cc: u32, min: u32, max: u32, tbc: i32) -> Serving {
        Serving {
            container_concurrency: cc,
            min_scale: min,
            max_scale: max,
            target_burst_capacity: tbc,
            ..Serving::default()
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn instances_follow_concurrency_within_the_scale_bounds() {
        let s = knobs(32, 1, 5, 0); // target 32 x 0.7 = 22.4 per instance
        assert_eq!(desired_instances(&s, 0.0, S, 30 * S), 1, "min-scale");
        assert_eq!(desired_instances(&s, 22.0, S, 30 * S), 1);
        assert_eq!(desired_instances(&s, 22.5, S, 30 * S), 2);
        assert_eq!(desired_instances(&s, 67.3, S, 30 * S), 4);
        assert_eq!(desired_instances(&s, 1000.0, S, 30 * S), 5, "max-scale");
        assert_eq!(desired_instances(&knobs(32, 1, 0, 0), 1e6, S, 30 * S), MAX_INSTANCES, "max-scale 0");
        assert_eq!(desired_instances(&knobs(0, 1, 0, 0), 250.0, S, 30 * S), 3, "unlimited: 100 each");
    }

    #[test]
    fn scale_to_zero_only_with_min_scale_zero_after_the_grace_period() {
        let zero = knobs(32, 0, 1, 0);
        assert_eq!(desired_instances(&zero, 0.0, 29 * S, 30 * S), 1, "idle, but not for long enough");
        assert_eq!(desired_instances(&zero, 0.0, 30 * S, 30 * S), 0);
        assert_eq!(desired_instances(&knobs(32, 1, 1, 0), 0.0, 300 * S, 30 * S), 1, "min-scale 1 stays");
    }

    #[test]
    fn target_burst_capacity_decides_the_activator() {
        assert!(via_activator(&knobs(32, 0, 1, 0), 0, 0.0), "no instance: always");
        assert!(via_activator(&knobs(32, 1, 1, -1), 3, 0.0), "-1: always");
        assert!(!via_activator(&knobs(32, 1, 1, 0), 1, 500.0), "0: never while instances exist");
        // One instance of 32 with 25 in use leaves 7 spare: below 10, so through the activator.
        assert!(via_activator(&knobs(32, 1, 1, 10), 1, 25.0));
        assert!(!via_activator(&knobs(32, 1, 1, 10), 1, 22.0), "10 spare");
        assert!(!via_activator(&knobs(0, 1, 1, 10), 1, 90.0), "unlimited counts as 100");
    }

    #[test]
    fn cold_start_phases_from_timestamps() {
        let a = Activation { spawn: 1_000_000, process_ready: 5_000_000, proxy_ready: 9_000_000 };
        let c = cold_start("svc", &a, 700_000, 9_500_000, 20_000_000);
        assert_eq!(
            (c.scheduling_us, c.process_start_us, c.readiness_us, c.routing_us, c.forwarding_us, c.total_us),
            (300.0, 4000.0, 4000.0, 500.0, 10_500.0, 19_300.0)
        );
        // Arrived while the process was starting: no scheduling, part of process start.
        let c = cold_start("svc", &a, 3_000_000, 9_500_000, 20_000_000);
        assert_eq!((c.scheduling_us, c.process_start_us, c.readiness_us), (0.0, 2000.0, 4000.0));
        assert_eq!(c.total_us, 17_000.0);
    }
}
