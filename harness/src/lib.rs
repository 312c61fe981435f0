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

/// The process-wide stop flag, set by Ctrl-C (SIGINT) and SIGTERM. Load stops, the deployment
/// is torn down, and whatever was measured is written, marked as interrupted.
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                eprintln!("second interrupt: exiting without cleanup");
                std::process::exit(130);
            }
            eprintln!("interrupted: stopping load, tearing down (Ctrl-C again to abort)");
        });
        flag
    })
    .clone()
}
