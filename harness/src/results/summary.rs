//! The headline numbers of a run: [`Summary`], one row of `summary.csv` and of a reproduce's
//! `comparison.csv`. Its fields are the columns (written and read by serde, in this order), so
//! the column list exists once.
//!
//! Summaries are computed here directly from the HdrHistograms, not re-derived from CSV with a
//! dataframe library: percentiles of the full-resolution histogram are exact to 3 significant
//! digits, which percentiles of per-second rows are not.

use super::RunInputs;
use crate::cpu::Sample;
use anyhow::{Context, Result};
use dataplane_api::Role;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Percentiles {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Percentiles {
    /// The percentiles of `h`; NaN for all where it holds no sample (no request succeeded):
    /// written as an empty cell, never as a latency of zero.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            let n = f64::NAN;
            return Percentiles { p50_us: n, p90_us: n, p99_us: n, p999_us: n, max_us: n, mean_us: n };
        }
        let q = |x: f64| h.value_at_quantile(x) as f64 / 1000.0;
        Percentiles {
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: h.max() as f64 / 1000.0,
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// CPU of one role over the measurement window.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleCpu {
    pub role: String,
    pub processes: usize,
    pub cpu_s: f64,
    /// Mean %CPU over the window (100 = one core).
    pub cpu_pct: f64,
}

/// A CSV cell of `x` with `decimals` decimals; empty where it was not measured (NaN).
pub(crate) fn cell(x: f64, decimals: usize) -> String {
    match x.is_nan() {
        true => String::new(),
        false => format!("{x:.decimals$}"),
    }
}

/// Numbers are written with three decimals; a number that was not measured (NaN) is an empty
/// cell, and reads back as NaN.
mod fixed3 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::cell(*x, 3))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let t = String::deserialize(d)?;
        if t.is_empty() {
            return Ok(f64::NAN);
        }
        t.parse().map_err(D::Error::custom)
    }

    /// The same for a number that does not apply (an empty cell).
    pub mod option {
        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(&x.unwrap_or(f64::NAN), s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            super::deserialize(d).map(|x| (!x.is_nan()).then_some(x))
        }
    }
}

/// One row of `summary.csv` / `comparison.csv` (see README for every column).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub backend: String,
    pub chain: String,
    /// `open`, `closed` or `burst`.
    pub pattern: String,
    /// Offered rate of an open-loop run, requests/s.
    #[serde(with = "fixed3::option")]
    pub offered_rps: Option<f64>,
    #[serde(with = "fixed3")]
    pub duration_s: f64,
    pub ok: u64,
    pub errors: u64,
    #[serde(with = "fixed3")]
    pub achieved_rps: f64,
    #[serde(with = "fixed3")]
    pub p50_us: f64,
    #[serde(with = "fixed3")]
    pub p90_us: f64,
    #[serde(with = "fixed3")]
    pub p99_us: f64,
    #[serde(with = "fixed3")]
    pub p999_us: f64,
    #[serde(with = "fixed3")]
    pub max_us: f64,
    #[serde(with = "fixed3")]
    pub mean_us: f64,
    /// CPU of the system under test (all components, not the load generator) in the window;
    /// NaN when it could not be measured.
    #[serde(with = "fixed3")]
    pub sut_cpu_s: f64,
    #[serde(with = "fixed3")]
    pub sut_cpu_s_per_1k: f64,
    #[serde(with = "fixed3")]
    pub loadgen_cpu_pct: f64,
    /// Machine-wide busy CPU that was neither the system under test nor the load generator.
    #[serde(with = "fixed3")]
    pub background_cpu_pct: f64,
    /// Load generator's send lag behind the intended times (see `Recorder::send_lag`).
    #[serde(with = "fixed3")]
    pub send_lag_p50_us: f64,
    #[serde(with = "fixed3")]
    pub send_lag_p99_us: f64,
    /// Requests that waited for a function instance to start.
    #[serde(default)]
    pub cold_starts: u64,
    /// Peak memory of the system under test in the window, MiB: PSS and RSS summed over its
    /// processes, and hugepages (private ones summed, a shared mapping such as the pool counted
    /// once), which RSS and PSS do not include. NaN when not measured.
    #[serde(default = "nan", with = "fixed3")]
    pub sut_pss_mib: f64,
    #[serde(default = "nan", with = "fixed3")]
    pub sut_rss_mib: f64,
    #[serde(default = "nan", with = "fixed3")]
    pub sut_hugetlb_mib: f64,
    /// Measured requests that waited for a cold start (matched by time, [`super::coldsplit`]),
    /// and the latency of the successful ones apart from the others (NaN where there are none).
    #[serde(default)]
    pub cold_requests: u64,
    #[serde(default = "nan", with = "fixed3")]
    pub p50_warm_us: f64,
    #[serde(default = "nan", with = "fixed3")]
    pub p99_warm_us: f64,
    #[serde(default = "nan", with = "fixed3")]
    pub p50_cold_us: f64,
    #[serde(default = "nan", with = "fixed3")]
    pub p99_cold_us: f64,
    /// What one function process costs while it exists: mean %CPU over the window and peak PSS
    /// (MiB), averaged over the function processes (with sparse load, mostly what keeping a
    /// function warm costs). NaN when not measured.
    #[serde(default = "nan", with = "fixed3")]
    pub fn_cpu_pct: f64,
    #[serde(default = "nan", with = "fixed3")]
    pub fn_pss_mib: f64,
    /// Connections the load generator could use ([`crate::loadgen::connections`]): in an open
    /// loop at most this many requests are in flight, and throughput is at most this many over
    /// the mean latency. 0 in rows of runs that did not record it.
    #[serde(default)]
    pub connections: u64,
    /// The placement policy (`--placement`) the run had.
    #[serde(default = "unpinned")]
    pub placement: String,
    pub interrupted: bool,
    /// CPU per role (in `summary.md`, not in the row).
    #[serde(skip)]
    pub roles: Vec<RoleCpu>,
}

/// Write `rows` as a CSV file of [`Summary`] rows.
pub fn write_summaries(path: &Path, rows: &[Summary]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("create {}", path.display()))?;
    for r in rows {
        w.serialize(r).with_context(|| format!("write {}", path.display()))?;
    }
    w.flush().with_context(|| format!("write {}", path.display()))
}

/// Read a CSV file of [`Summary`] rows.
pub fn read_summaries(path: &Path) -> Result<Vec<Summary>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("open {}", path.display()))?;
    r.deserialize().collect::<Result<_, _>>().with_context(|| format!("read {}", path.display()))
}

/// CPU seconds the sampled process `name` used inside `[from_s, to_s]` of the sampler's
/// timeline. Its total is known at each sample and interpolated linearly between two, so a
/// window bound between ticks counts the part of that tick on its side, and a window shorter
/// than a tick (a point cut short by Ctrl-C) gets its share, not zero. Before its first sample
/// a process counts nothing (one started later is accounted from its first sample, which holds
/// its start-up); after its last, its final total stands.
fn window_cpu(samples: &[Sample], name: &str, from_s: f64, to_s: f64) -> f64 {
    let mine: Vec<(f64, f64)> = samples.iter().filter(|s| s.name == name).map(|s| (s.t_s, s.cpu_s)).collect();
    let at = |t: f64| {
        let next = mine.partition_point(|&(ts, _)| ts <= t + 1e-9);
        match (next.checked_sub(1).map(|i| mine[i]), mine.get(next)) {
            (None, _) => 0.0,
            (Some((t0, c0)), Some(&(t1, c1))) if t1 > t0 => c0 + (c1 - c0) * (t - t0) / (t1 - t0),
            (Some((_, c0)), _) => c0,
        }
    };
    (at(to_s) - at(from_s)).max(0.0)
}

fn nan() -> f64 {
    f64::NAN
}

fn unpinned() -> String {
    "none".into()
}

/// Peak (PSS, RSS, hugepages) of the system under test over the samples in `[from_s, to_s]`, MiB.
fn peak_memory(samples: &[Sample], from_s: f64, to_s: f64) -> Option<(f64, f64, f64)> {
    let mut ticks: Vec<(f64, u64, u64, u64, u64)> = Vec::new();
    for s in samples.iter().filter(|s| s.role != Role::LoadGenerator && s.t_s >= from_s && s.t_s <= to_s + 1e-9) {
        let Some(m) = s.mem else { continue };
        if ticks.last().is_none_or(|t| t.0 != s.t_s) {
            ticks.push((s.t_s, 0, 0, 0, 0));
        }
        let t = ticks.last_mut().expect("pushed");
        t.1 += m.pss_kib;
        t.2 += m.rss_kib;
        t.3 += m.hugetlb_private_kib;
        t.4 = t.4.max(m.hugetlb_shared_kib);
    }
    let mib = |k: u64| k as f64 / 1024.0;
    ticks.iter().map(|t| (mib(t.1), mib(t.2), mib(t.3 + t.4))).reduce(|a, b| (a.0.max(b.0), a.1.max(b.1), a.2.max(b.2)))
}

/// Mean over function processes of each one's peak PSS in `[from_s, to_s]`, MiB.
fn function_pss(samples: &[Sample], from_s: f64, to_s: f64) -> Option<f64> {
    let mut peaks: Vec<(&str, u64)> = Vec::new();
    for s in samples.iter().filter(|s| s.role == Role::Function && s.t_s >= from_s && s.t_s <= to_s + 1e-9) {
        let Some(m) = s.mem else { continue };
        match peaks.iter_mut().find(|p| p.0 == s.name) {
            Some(p) => p.1 = p.1.max(m.pss_kib),
            None => peaks.push((&s.name, m.pss_kib)),
        }
    }
    (!peaks.is_empty()).then(|| peaks.iter().map(|p| p.1 as f64).sum::<f64>() / peaks.len() as f64 / 1024.0)
}

pub fn summarize(i: &RunInputs) -> Summary {
    let rec = &i.load.recorder;
    let (from, to) = i.window;
    let memory = if i.cpu_unavailable.is_some() { None } else { peak_memory(i.samples, from, to) };
    let span = (to - from).max(1e-9);
    let mut names: Vec<(&str, Role)> = Vec::new();
    for s in i.samples {
        if !names.iter().any(|(n, _)| *n == s.name) {
            names.push((&s.name, s.role));
        }
    }
    let mut roles: Vec<RoleCpu> = Vec::new();
    let mut sut = 0.0;
    let mut loadgen = 0.0;
    for (name, role) in &names {
        let c = window_cpu(i.samples, name, from, to);
        if *role == Role::LoadGenerator {
            loadgen += c;
            continue;
        }
        sut += c;
        match roles.iter_mut().find(|r| r.role == role.as_str()) {
            Some(r) => {
                r.processes += 1;
                r.cpu_s += c;
            }
            None => roles.push(RoleCpu { role: role.as_str().into(), processes: 1, cpu_s: c, cpu_pct: 0.0 }),
        }
    }
    for r in &mut roles {
        r.cpu_pct = r.cpu_s / span * 100.0;
    }
    let ok = rec.ok_total();
    let all_ours = sut + loadgen;
    let background = if i.system.wall_s > 0.0 {
        ((i.system.busy_s - all_ours * i.system.wall_s / span) / i.system.wall_s * 100.0).max(0.0)
    } else {
        0.0
    };
    let (pattern, offered) = match &i.chain.load.pattern {
        workloads::Pattern::Open { rate, .. } => ("open".to_string(), Some(*rate)),
        workloads::Pattern::Closed { .. } => ("closed".to_string(), None),
        workloads::Pattern::Burst { .. } => ("burst".to_string(), None),
        workloads::Pattern::Trace(_) => ("trace".to_string(), None),
    };
    let latency = Percentiles::of(&rec.overall);
    let lag = Percentiles::of(&rec.send_lag);
    let cold = i.cold;
    let pct = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            f64::NAN
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let functions = roles.iter().find(|r| r.role == Role::Function.as_str());
    let measured = i.cpu_unavailable.is_none();
    Summary {
        backend: i.backend.to_string(),
        chain: i.chain.name.clone(),
        pattern,
        offered_rps: offered,
        duration_s: i.load.measured_s,
        ok,
        errors: rec.error_total(),
        achieved_rps: if i.load.measured_s > 0.0 { ok as f64 / i.load.measured_s } else { 0.0 },
        p50_us: latency.p50_us,
        p90_us: latency.p90_us,
        p99_us: latency.p99_us,
        p999_us: latency.p999_us,
        max_us: latency.max_us,
        mean_us: latency.mean_us,
        sut_cpu_s: if i.cpu_unavailable.is_some() { f64::NAN } else { sut },
        sut_cpu_s_per_1k: match i.cpu_unavailable {
            Some(_) => f64::NAN,
            // No request succeeded: there is nothing to divide the CPU by.
            None if ok > 0 => sut / ok as f64 * 1000.0,
            None => f64::NAN,
        },
        loadgen_cpu_pct: loadgen / span * 100.0,
        background_cpu_pct: background,
        send_lag_p50_us: lag.p50_us,
        send_lag_p99_us: lag.p99_us,
        cold_starts: i.cold_starts.len() as u64,
        sut_pss_mib: memory.map_or(f64::NAN, |m| m.0),
        sut_rss_mib: memory.map_or(f64::NAN, |m| m.1),
        sut_hugetlb_mib: memory.map_or(f64::NAN, |m| m.2),
        cold_requests: cold.waited.iter().filter(|&&w| w).count() as u64,
        p50_warm_us: pct(&cold.warm, 0.5),
        p99_warm_us: pct(&cold.warm, 0.99),
        p50_cold_us: pct(&cold.cold, 0.5),
        p99_cold_us: pct(&cold.cold, 0.99),
        fn_cpu_pct: match functions {
            Some(f) if measured => f.cpu_pct / f.processes as f64,
            _ => f64::NAN,
        },
        fn_pss_mib: if measured { function_pss(i.samples, from, to).unwrap_or(f64::NAN) } else { f64::NAN },
        connections: crate::loadgen::connections(&i.chain.load) as u64,
        placement: i.policy.to_string(),
        interrupted: i.load.interrupted,
        roles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process's CPU in a window, from samples every 0.25 s whose totals are 0.1, 0.2, 0.5 and
    /// 0.6 s: bounds between ticks take their share of the tick (0.3 s is a fifth of the way
    /// from 0.1 to 0.2, 0.6 s two fifths from 0.2 to 0.5), a window inside one tick gets its
    /// share, and nothing counts before the first sample or after the last.
    #[test]
    fn window_cpu_interpolates_between_samples() {
        let sample = |t_s: f64, cpu_s: f64| Sample {
            t_s,
            name: "fn".into(),
            role: Role::Function,
            pid: 1,
            cpu_pct: 0.0,
            cpu_s,
            alive: true,
            mem: None,
        };
        let samples = [sample(0.25, 0.1), sample(0.5, 0.2), sample(0.75, 0.5), sample(1.0, 0.6)];
        let cpu = |from, to| (window_cpu(&samples, "fn", from, to) * 1e6).round() / 1e6;
        assert_eq!(cpu(0.3, 0.6), 0.2, "0.12 to 0.32");
        assert_eq!(cpu(0.55, 0.6), 0.06, "inside one tick: 0.26 to 0.32");
        assert_eq!(cpu(0.25, 1.0), 0.5, "on the ticks themselves");
        assert_eq!(cpu(0.0, 0.25), 0.1, "nothing before the first sample");
        assert_eq!(cpu(0.9, 5.0), 0.04, "the last total stands after it");
        assert_eq!(window_cpu(&samples, "other", 0.0, 1.0), 0.0);
    }

    /// A row written and read back is the same row; unmeasured CPU is an empty cell, a closed
    /// loop's offered rate too; rows of older runs without `cold_starts` still read.
    #[test]
    fn rows_round_trip_through_csv() {
        let dir = std::env::temp_dir().join(format!("sb-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rows.csv");
        let old = "backend,chain,pattern,offered_rps,duration_s,ok,errors,achieved_rps,p50_us,p90_us,p99_us,p999_us,max_us,mean_us,sut_cpu_s,sut_cpu_s_per_1k,loadgen_cpu_pct,background_cpu_pct,send_lag_p50_us,send_lag_p99_us,interrupted\n\
                   grpc,c,open,250.000,5.000,1307,0,261.400,536.575,814.591,1123.327,1266.687,1278.975,564.544,0.632,0.483,1.269,0.819,22.271,86.527,false\n";
        std::fs::write(&path, old).unwrap();
        let rows = read_summaries(&path).unwrap();
        assert_eq!((rows[0].ok, rows[0].p50_us, rows[0].cold_starts), (1307, 536.575, 0));
        let mut r = rows[0].clone();
        r.pattern = "closed".into();
        r.offered_rps = None;
        r.sut_cpu_s = f64::NAN;
        write_summaries(&path, &[r]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "backend,chain,pattern,offered_rps,duration_s,ok,errors,achieved_rps,p50_us,p90_us,p99_us,p999_us,\
             max_us,mean_us,sut_cpu_s,sut_cpu_s_per_1k,loadgen_cpu_pct,background_cpu_pct,send_lag_p50_us,\
             send_lag_p99_us,cold_starts,sut_pss_mib,sut_rss_mib,sut_hugetlb_mib,cold_requests,p50_warm_us,\
             p99_warm_us,p50_cold_us,p99_cold_us,fn_cpu_pct,fn_pss_mib,connections,placement,interrupted"
        );
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "grpc,c,closed,,5.000,1307,0,261.400,536.575,814.591,1123.327,1266.687,1278.975,564.544,,0.483,1.269,\
             0.819,22.271,86.527,0,,,,0,,,,,,,0,none,false"
        );
        let back = read_summaries(&path).unwrap();
        assert!(back[0].sut_cpu_s.is_nan() && back[0].offered_rps.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
