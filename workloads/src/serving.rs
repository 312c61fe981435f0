//! How an autoscaling platform serves each function: Knative's knobs, under Knative's names.
//!
//! These are deployment data, like the load profile: the Knative backends (the local model and
//! the generated Knative Service manifests) read them; the other backends ignore them. The
//! defaults are the paper's always-warm set-up: containerConcurrency 32, min-scale = max-scale
//! = 1, target-burst-capacity 0 (the activator is in the path only at zero scale).
//!
//! ```toml
//! [knative]                          # defaults for every function of the chain
//! containerConcurrency = 32          # requests one instance runs at once; 0 = unlimited
//! min-scale = 1                      # 0 allows scale to zero
//! max-scale = 1                      # 0 = unlimited
//! target-burst-capacity = 0          # -1 = activator always in the path
//! timeoutSeconds = 300               # the queue-proxy's request timeout
//! scale-to-zero-grace-period = "30s" # chain-wide, as in Knative's config-autoscaler
//! stable-window = "60s"              # chain-wide: the autoscaler averages concurrency over it
//!
//! [[functions]]
//! # ...
//! knative = { min-scale = 0 }        # per-function override
//! ```

use serde::Deserialize;
use std::time::Duration;

/// Per-function serving knobs (a Knative revision's annotations and spec fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serving {
    /// Requests one instance runs at once (the queue-proxy's breaker); 0 = unlimited.
    pub container_concurrency: u32,
    pub min_scale: u32,
    /// 0 = unlimited.
    pub max_scale: u32,
    /// Spare request capacity to keep; below it the activator stays in the path. -1 = always.
    pub target_burst_capacity: i32,
    /// The queue-proxy answers 504 after this long.
    pub timeout: Duration,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            container_concurrency: 32,
            min_scale: 1,
            max_scale: 1,
            target_burst_capacity: 0,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Knative's default `scale-to-zero-grace-period`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// Knative's default `stable-window`.
pub const DEFAULT_STABLE_WINDOW: Duration = Duration::from_secs(60);

/// The `[knative]` table and the per-function `knative = {..}` overrides, as written.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServing {
    #[serde(rename = "containerConcurrency")]
    container_concurrency: Option<i64>,
    #[serde(rename = "min-scale")]
    min_scale: Option<i64>,
    #[serde(rename = "max-scale")]
    max_scale: Option<i64>,
    #[serde(rename = "target-burst-capacity")]
    target_burst_capacity: Option<i64>,
    #[serde(rename = "timeoutSeconds")]
    timeout_seconds: Option<i64>,
    /// Only valid in the chain-level table.
    #[serde(rename = "scale-to-zero-grace-period")]
    pub(crate) scale_to_zero_grace_period: Option<String>,
    /// Only valid in the chain-level table.
    #[serde(rename = "stable-window")]
    pub(crate) stable_window: Option<String>,
}

impl RawServing {
    /// `self` over `base`, field by field.
    pub(crate) fn over(&self, base: &RawServing) -> RawServing {
        RawServing {
            container_concurrency: self.container_concurrency.or(base.container_concurrency),
            min_scale: self.min_scale.or(base.min_scale),
            max_scale: self.max_scale.or(base.max_scale),
            target_burst_capacity: self.target_burst_capacity.or(base.target_burst_capacity),
            timeout_seconds: self.timeout_seconds.or(base.timeout_seconds),
            scale_to_zero_grace_period: None,
            stable_window: None,
        }
    }

    /// Validate; errors are (knob name, problem).
    pub(crate) fn build(&self) -> Result<Serving, (&'static str, String)> {
        let d = Serving::default();
        let cc = self.container_concurrency.unwrap_or(d.container_concurrency as i64);
        if !(0..=1000).contains(&cc) {
            return Err(("containerConcurrency", format!("{cc} must be between 0 (unlimited) and 1000")));
        }
        let min = self.min_scale.unwrap_or(d.min_scale as i64);
        if !(0..=64).contains(&min) {
            return Err(("min-scale", format!("{min} must be between 0 and 64")));
        }
        let max = self.max_scale.unwrap_or(d.max_scale as i64);
        if !(0..=64).contains(&max) {
            return Err(("max-scale", format!("{max} must be between 0 (unlimited) and 64")));
        }
        if max != 0 && min > max {
            return Err(("min-scale", format!("{min} is above max-scale {max}")));
        }
        let tbc = self.target_burst_capacity.unwrap_or(d.target_burst_capacity as i64);
        if !(-1..=100_000).contains(&tbc) {
            return Err(("target-burst-capacity", format!("{tbc} must be -1 (always) or between 0 and 100000")));
        }
        let t = self.timeout_seconds.unwrap_or(d.timeout.as_secs() as i64);
        if !(1..=3600).contains(&t) {
            return Err(("timeoutSeconds", format!("{t} must be between 1 and 3600")));
        }
        Ok(Serving {
            container_concurrency: cc as u32,
            min_scale: min as u32,
            max_scale: max as u32,
            target_burst_capacity: tbc as i32,
            timeout: Duration::from_secs(t as u64),
        })
    }
}

/// Text that is not a [`parse_duration`] duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration such as \"30s\", \"500ms\" or \"1m30s\"")]
pub struct BadDuration(pub String);

/// A Kubernetes-style duration: `500ms`, `30s`, `2m`, `1h`, or a combination such as `1m30s`.
pub fn parse_duration(s: &str) -> Result<Duration, BadDuration> {
    let bad = || BadDuration(s.to_string());
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Render a duration the way [`parse_duration`] reads it (for manifests).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("").is_err());
        for d in [Duration::from_millis(1500), Duration::from_secs(30), Duration::ZERO] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
