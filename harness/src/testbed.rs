//! What an experiment of many runs runs on, and how each of its runs starts: the backends and
//! their options, where chain specs live, the binary that runs components, the load
//! generator's threads and the command line to record. One value, shared by the synthetic sweep
//! and the paper's evaluation (which runs the sweep as one of its experiments), so that both
//! start their runs the same way and record the same things.

use crate::registry;
use crate::run::RunOptions;
use anyhow::{bail, Result};
use dataplane_api::{options, BackendOptions, Dataplane, Placement};
use std::path::PathBuf;
use std::time::Duration;
use workloads::Chain;

#[derive(Debug, Clone)]
pub struct Testbed {
    /// Where `<chain>.toml` specs are read from.
    pub chains_dir: PathBuf,
    /// Backends by name; empty: the paper's four.
    pub backends: Vec<String>,
    /// `[BACKEND:]KEY=VALUE` backend options, as given.
    pub backend_options: Vec<String>,
    /// The multi-call binary that runs components.
    pub exe: PathBuf,
    /// The command line to record in every manifest and summary.
    pub command_line: Vec<String>,
    /// Load generator threads per run.
    pub loadgen_threads: usize,
}

impl Testbed {
    /// The chosen backends, in the order given (the paper's four when none are).
    pub fn dataplanes(&self) -> Result<Vec<&'static dyn Dataplane>> {
        if self.backends.is_empty() {
            return Ok(registry::paper());
        }
        Ok(self.backends.iter().map(|b| registry::get(b)).collect::<Result<_, _>>()?)
    }

    /// The options of each of `backends`, validated before anything runs: `[BACKEND:]KEY=VALUE`
    /// with a backend is for that one; without, for every backend that declares the key (at
    /// least one must).
    pub fn options(&self, backends: &[&'static dyn Dataplane]) -> Result<Vec<BackendOptions>> {
        let names = || backends.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ");
        let mut per: Vec<Vec<String>> = vec![Vec::new(); backends.len()];
        for g in &self.backend_options {
            let (scope, kv) = match g.split_once(':') {
                Some((b, kv)) if !b.contains('=') => (Some(b), kv),
                _ => (None, g.as_str()),
            };
            let (key, _) = options::parse_assignment(kv)?;
            let chosen: Vec<usize> = match scope {
                Some(b) => backends.iter().position(|x| x.name() == b).into_iter().collect(),
                None => (0..backends.len()).filter(|&i| backends[i].options().iter().any(|o| o.key == key)).collect(),
            };
            match (scope, chosen.is_empty()) {
                (Some(b), true) => bail!("--backend-opt {g}: backend {b} is not among those run ({})", names()),
                (None, true) => {
                    bail!("--backend-opt {g}: none of the backends run ({}) has an option {key:?}", names())
                }
                _ => chosen.into_iter().for_each(|i| per[i].push(kv.to_string())),
            }
        }
        backends.iter().zip(per).map(|(b, p)| Ok(registry::options(*b, &p)?)).collect()
    }

    /// The spec file of the chain `name`.
    pub fn chain_file(&self, name: &str) -> PathBuf {
        self.chains_dir.join(format!("{name}.toml"))
    }

    /// One run of `chain` on `backend` into `out`, started as every run of an experiment is
    /// (no progress bar of its own, CPU sampled every 250 ms, 20 s for the chain to be ready).
    pub fn run_options(
        &self,
        backend: &str,
        backend_options: BackendOptions,
        chain: Chain,
        out: PathBuf,
        placement: Placement,
    ) -> RunOptions {
        RunOptions {
            backend: backend.to_string(),
            backend_options,
            chain,
            out,
            sample_interval: Duration::from_millis(250),
            exe: self.exe.clone(),
            progress: false,
            command_line: self.command_line.clone(),
            ready_timeout: Duration::from_secs(20),
            prewarm_lead_s: None,
            placement,
            loadgen_threads: self.loadgen_threads,
        }
    }
}
