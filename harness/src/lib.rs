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
                eprintln!("interrupted: stopping load, tearing down (Ctrl-C again to abort)");
            } else if at.elapsed() > SAME_INTERRUPT {
                eprintln!("second interrupt: exiting without cleanup");
                std::process::exit(130);
            }
        });
        flag
    })
    .clone()
}
