//! What `make reproduce` will do, said before it starts, and how far it has got: every step of
//! the plan with an estimated duration, and while it runs a progress bar (on a terminal) and a
//! line per step with the time spent and the estimated time left for the whole plan.
//!
//! Estimates are deliberately simple: a run costs its load window plus a fixed overhead for
//! deploying and tearing down; a rate ramp is counted at [`RAMP_POINTS_ESTIMATE`] points. As
//! steps finish, the time left is scaled by how the finished steps compared with their
//! estimates.

use std::cell::Cell;
use std::fmt::Write as _;
use std::time::Instant;

/// Seconds a run costs beyond its load window: deploying, waiting for readiness, tearing down,
/// writing results (measured here: 2-6 s; the Knative model's sidecars take longest).
pub const RUN_OVERHEAD_S: f64 = 5.0;

/// Points a rate ramp is estimated at (ladder to saturation plus bisection, as on this 2-core
/// machine; a larger machine climbs further).
pub const RAMP_POINTS_ESTIMATE: f64 = 7.0;

/// One step of the plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// The experiment it belongs to (`sweep`, `boutique`, `motion`, `parking`).
    pub experiment: &'static str,
    /// What it runs, for people.
    pub what: String,
    pub estimate_s: f64,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn add(&mut self, experiment: &'static str, what: impl Into<String>, estimate_s: f64) {
        self.steps.push(Step { experiment, what: what.into(), estimate_s });
    }

    pub fn total_s(&self) -> f64 {
        self.steps.iter().map(|s| s.estimate_s).sum()
    }

    /// The plan as people read it: per experiment, its steps and estimated time.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut experiments: Vec<&str> = self.steps.iter().map(|s| s.experiment).collect();
        experiments.dedup();
        let _ = writeln!(out, "plan: {} steps, about {} in all", self.steps.len(), clock(self.total_s()));
        for e in experiments {
            let steps: Vec<&Step> = self.steps.iter().filter(|s| s.experiment == e).collect();
            let t: f64 = steps.iter().map(|s| s.estimate_s).sum();
            let _ = writeln!(out, "  {e}: {} steps, about {}", steps.len(), clock(t));
            for s in steps {
                let _ = writeln!(out, "    - {} (~{})", s.what, clock(s.estimate_s));
            }
        }
        out
    }
}

/// `h:mm:ss` or `m:ss`.
pub fn clock(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", (s % 3600) / 60, s % 60),
    }
}

/// The plan as it runs. Steps are begun in plan order; each `begin` ends the one before.
pub struct Progress {
    plan: Plan,
    started: Instant,
    next: Cell<usize>,
    bar: indicatif::ProgressBar,
}

impl Progress {
    pub fn new(plan: Plan) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some((plan.total_s() * 10.0) as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("reproduce [{bar:40}] {percent}% of the plan, ~{msg} left")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { plan, started: Instant::now(), next: Cell::new(0), bar }
    }

    /// A progress that shows nothing (a plan of its own inside a larger one, tests).
    pub fn hidden() -> Self {
        let p = Progress::new(Plan::default());
        p.bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        p
    }

    fn done_estimate(&self) -> f64 {
        self.plan.steps[..self.next.get().saturating_sub(1).min(self.plan.steps.len())]
            .iter()
            .map(|s| s.estimate_s)
            .sum()
    }

    /// Seconds left for the whole plan: the estimates of the steps not finished, scaled by how
    /// long the finished ones took against theirs.
    pub fn left_s(&self) -> f64 {
        let done = self.done_estimate();
        let left = self.plan.total_s() - done;
        let elapsed = self.started.elapsed().as_secs_f64();
        let pace = if done > 60.0 { (elapsed / done).clamp(0.5, 3.0) } else { 1.0 };
        left * pace
    }

    /// Step `i` of the plan begins (the previous one is done); says so with the time left.
    pub fn begin(&self, what: &str) {
        let i = self.next.get();
        self.next.set(i + 1);
        let n = self.plan.steps.len();
        self.bar.set_position((self.done_estimate() * 10.0) as u64);
        self.bar.set_message(clock(self.left_s()));
        if n == 0 {
            return;
        }
        self.bar.suspend(|| {
            eprintln!(
                "[{}/{n}] {what} (elapsed {}, about {} left)",
                (i + 1).min(n),
                clock(self.started.elapsed().as_secs_f64()),
                clock(self.left_s())
            )
        });
    }

    /// Print a line without disturbing the bar.
    pub fn say(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
        if !self.plan.steps.is_empty() {
            eprintln!(
                "plan done in {} (estimated {})",
                clock(self.started.elapsed().as_secs_f64()),
                clock(self.plan.total_s())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_as_minutes_and_hours() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(59.6), "1:00");
        assert_eq!(clock(754.0), "12:34");
        assert_eq!(clock(3723.0), "1:02:03");
    }

    #[test]
    fn plan_totals_and_renders_per_experiment() {
        let mut p = Plan::default();
        p.add("sweep", "synthetic-5 on grpc", 60.0);
        p.add("boutique", "calibration", 120.0);
        p.add("boutique", "knative, 300 users", 75.0);
        assert_eq!(p.total_s(), 255.0);
        let r = p.render();
        assert!(r.starts_with("plan: 3 steps, about 4:15 in all"), "{r}");
        assert!(r.contains("  boutique: 2 steps, about 3:15"), "{r}");
    }
}
