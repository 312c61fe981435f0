//! The results directory of one run, and the numbers in it, one concern per module:
//!
//! - [`rundir`]: `results/runs/<id>/`, written as `<id>.partial` and renamed when complete;
//! - [`summary`]: the headline numbers ([`Summary`], one row of `summary.csv`), computed from
//!   the full-resolution histograms;
//! - [`csvs`]: every CSV file (see README for every column): `latency.csv` (per route and
//!   overall), `timeseries.csv` (per second), `cpu.csv` (every sample of every component and of
//!   the load generator), `errors.csv`, `counters.csv`, `cold_starts.csv`, `summary.csv`;
//! - [`markdown`]: `summary.md`; [`manifest`]: `manifest.json`.
//!
//! Figures ([`crate::figures`]) are drawn from the CSV files only.

pub mod coldsplit;
pub mod csvs;
pub mod hlog;
pub mod locust;
pub mod manifest;
pub mod markdown;
pub mod rundir;
pub mod summary;

pub use csvs::{
    write_cold_starts, write_cpu, write_csvs, COLD_START_COLUMNS, CPU_COLUMNS, LATENCY_COLUMNS, TIMESERIES_COLUMNS,
};
pub use markdown::write_summary_md;
pub use rundir::RunDir;
pub use summary::{read_summaries, summarize, write_summaries, Percentiles, RoleCpu, Summary};

use crate::cpu::{Sample, SystemCpu};
use crate::envinfo::EnvReport;
use crate::loadgen::LoadResult;
use dataplane_api::{BackendOptions, ColdStart, Component, Counter, Exit};
use std::time::Duration;

/// Everything a run produced and was run with: what the files of its directory are written from.
pub struct RunInputs<'a> {
    pub backend: &'a str,
    /// What the backend is ([`dataplane_api::Dataplane::label`]).
    pub label: &'a str,
    /// The backend's options (`--backend-opt`).
    pub options: &'a BackendOptions,
    pub chain: &'a workloads::Chain,
    pub load: &'a LoadResult,
    pub samples: &'a [Sample],
    pub system: &'a SystemCpu,
    /// Where the measurement window starts and ends on the sampler's timeline, seconds.
    pub window: (f64, f64),
    pub sample_interval: Duration,
    /// What the backend says of where its components run ([`dataplane_api::Deployment::placement`]).
    pub placement: &'a str,
    /// The placement policy (`--placement`).
    pub policy: &'a dataplane_api::Placement,
    /// The CPUs each component (any of its threads) and the load generator (`loadgen`) could
    /// run on, as read from procfs during the run: (name, CPU list).
    pub cpus: &'a [(String, String)],
    /// Why CPU was not measured, if it was not (the system runs elsewhere).
    pub cpu_unavailable: Option<&'a str>,
    pub cold_starts: &'a [ColdStart],
    /// The measured requests split by whether they waited for one of `cold_starts`.
    pub cold: &'a coldsplit::ColdSplit,
    pub counters: &'a [Counter],
    /// Every process the deployment had during the run.
    pub components: &'a [Component],
    pub exits: &'a [Exit],
    /// Component pids still alive after teardown (must be none).
    pub leftovers: &'a [u32],
    pub env: &'a EnvReport,
    pub command_line: &'a [String],
    /// When the run started: Unix seconds and ISO 8601.
    pub started: &'a (u64, String),
    /// What the run changed on the host for its connections.
    pub host_limits: &'a crate::limits::HostLimits,
    /// Peak resident memory of the driver process (the load generator's thread, the CPU
    /// sampler), KiB: `VmHWM` at the end of the run.
    pub driver_peak_rss_kib: u64,
    /// The trace a trace-pattern run replayed, as validated.
    pub trace: Option<&'a workloads::trace::TraceStats>,
    /// What the functions' short sleeps really last here ([`crate::sleeps`]).
    pub sleeps: &'a [crate::sleeps::EffectiveSleep],
    /// When the run woke every function up (`--prewarm`), seconds after the load started.
    pub prewarms: Option<&'a [f64]>,
}

/// The wall-clock time the measurement window of `rec` opened, from the monotonic clock's
/// distance to now.
pub fn window_start(rec: &crate::loadgen::record::Recorder) -> std::time::SystemTime {
    std::time::SystemTime::now()
        - std::time::Duration::from_nanos(crate::clock::now_ns().saturating_sub(rec.measure_start_ns))
}
