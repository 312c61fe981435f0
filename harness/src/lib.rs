//! spright-bench's driver: deploys a chain on a dataplane backend, drives load, measures
//! latency (HdrHistogram), throughput and CPU (procfs), and writes results and figures.
//!
//! - [`run`]: one run end to end, into `results/runs/<id>/` ([`results`], [`figures`]).
//! - [`loadgen`]: open loop (constant, Poisson), closed loop, bursts; latency from the intended
//!   send time for open loop.
//! - [`cpu`]: per-process CPU from procfs, by role; the load generator separately.
//! - [`evaluation`]: the paper's evaluation behind `make reproduce` (its synthetic sweep in
//!   [`sweep`]), both running on a [`testbed`].
//! - [`coldstart`]: one function started on demand in a running chain, phase by phase.
//! - [`deploy`]: a chain served for any client until Ctrl-C.
//! - [`registry`]: the backends; [`envinfo`]: what the machine has.
//!
//! Errors: this crate is the application layer, so it uses `anyhow` with context; the libraries
//! under it (`workloads`, `dataplane-api`) return typed errors that carry what a user needs.

pub mod clock;
pub mod coldstart;
pub mod cpu;
pub mod deploy;
pub mod envinfo;
pub mod evaluation;
pub mod figures;
pub mod limits;
pub mod loadgen;
pub mod registry;
pub mod results;
pub mod run;
pub mod sleeps;
pub mod sweep;
pub mod testbed;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A second interrupt this soon after the first is the same one delivered twice: GNU `timeout`
/// signals its command and then the command's process group, so the driver gets two at once.
const SAME_INTERRUPT: std::time::Duration = std::time::Duration::from_millis(100);

/// The process-wide stop flag, set by Ctrl-C (SIGINT) and SIGTERM. Load stops, the deployment
/// is torn down, and whatever was measured is written, marked as interrupted. A second
/// interrupt (after [`SAME_INTERRUPT`]) exits at once, without cleanup.
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let first = OnceLock::new();
        let _ = ctrlc::set_handler(move || {
            let at = *first.get_or_init(std::time::Instant::now);
            if !f.swap(true, Ordering::SeqCst) {
                eprintln!("interrupted: stopping, then tearing down (Ctrl-C again to exit without cleanup)");
            } else if at.elapsed() > SAME_INTERRUPT {
                eprintln!("second interrupt: exiting without cleanup");
                std::process::exit(130);
            }
        });
        flag
    })
    .clone()
}

/// An error and its causes on one line, as `error: ...` shows it. Each cause is appended after
/// `: ` unless the text so far already ends with it: the libraries' typed errors name their
/// cause in their own message (components print them alone) and also return it as `source()`,
/// which anyhow's `{:#}` would print a second time.
pub fn error_report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_report;
    use anyhow::Context;

    #[test]
    fn an_error_report_names_each_cause_once() {
        let missing = std::path::Path::new("/nonexistent/chain.toml");
        let e = workloads::load_chain(missing).context("chain for run").unwrap_err();
        assert_eq!(
            error_report(e.as_ref()),
            "chain for run: /nonexistent/chain.toml: cannot read chain spec: No such file or directory (os error 2)"
        );
        // A cause the message does not name is still appended.
        let e = anyhow::Error::new(std::io::Error::other("disk gone")).context("write summary.csv");
        assert_eq!(error_report(e.as_ref()), "write summary.csv: disk gone");
    }
}
