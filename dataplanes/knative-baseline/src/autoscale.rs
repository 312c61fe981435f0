//! The autoscaler's arithmetic, as pure functions: how many instances a service wants, when the
//! activator sits in its path, and how a cold start splits into phases. The control loop
//! ([`crate::control`]) applies them; the tests here pin them to hand-computed values.

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
}
