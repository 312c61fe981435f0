//! The analysis of many spright-bench runs, from their files alone: every run an evaluation
//! indexed in its `runs.csv` is loaded with its `summary.csv` into one table (polars), runs are
//! grouped across repetitions (median and min-max), backends are set side by side per
//! repetition (ratios computed within a repetition, then summarised), and the paper's claims are
//! checked one by one (`claims.csv`, `claims.md`).
//!
//! Percentiles are never averaged across runs: a group's p50 or p99 is the median of the runs'
//! own p50s or p99s (with their min and max), and the tables say so.
//!
//! It is a crate of its own because polars compiles slowly; only its eager API and CSV reader are
//! enabled.

mod claims;

pub use claims::{saturated, stands, verdict, Claim, Expect, Verdict};

use anyhow::{Context, Result};
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// What [`analyze`] needs to know beyond the files.
pub struct Inputs {
    /// The evaluation directory (`runs.csv`, `sweep/comparison.csv`, run directories).
    pub dir: PathBuf,
    /// Online cores of the machine that ran it.
    pub cores: usize,
    /// Functions of the Online Boutique chain.
    pub boutique_functions: usize,
    /// A reference evaluation or sweep from a larger machine, cited where this one cannot show
    /// a claim.
    pub reference: Option<Reference>,
    /// The command that made the directory, for the claims' sources.
    pub command: String,
}

/// A reference run: its directory (a sweep's `comparison.csv` is read from it) and the machine
/// it ran on, as its manifest names it.
#[derive(Debug, Clone)]
pub struct Reference {
    pub dir: PathBuf,
    pub machine: String,
}

impl Reference {
    /// Whether its sweep is there to cite.
    pub fn found(&self) -> bool {
        self.dir.join("comparison.csv").is_file()
    }
}

/// What [`analyze`] wrote, for the evaluation's `summary.md`.
pub struct Analysis {
    pub claims: Vec<Claim>,
    pub claims_md: String,
    pub aggregate_md: String,
}

/// The metrics of a run the analysis uses, from its `summary.csv`.
pub const METRICS: &[&str] = &[
    "achieved_rps",
    "p50_us",
    "p99_us",
    "errors",
    "ok",
    "sut_cpu_s",
    "sut_cpu_s_per_1k",
    "cold_requests",
    "fn_cpu_pct",
    "fn_pss_mib",
];

/// The index columns of `runs.csv`.
pub const KEYS: &[&str] = &["experiment", "series", "backend", "users"];

fn read_csv(path: &Path) -> Result<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(anyhow::Error::from)
        .with_context(|| format!("read {}", path.display()))
}

/// Every run of `dir/runs.csv` with its summary's [`METRICS`] (as floats; a metric not measured
/// is null). A run whose directory has no `summary.csv` (interrupted before it was written) is
/// left out.
pub fn load_runs(dir: &Path) -> Result<DataFrame> {
    let index = read_csv(&dir.join("runs.csv"))?;
    let rel = index.column("dir")?.str()?.clone();
    let mut out: Option<DataFrame> = None;
    for i in 0..index.height() {
        let Some(d) = rel.get(i) else { continue };
        let path = dir.join(d).join("summary.csv");
        if !path.is_file() {
            continue;
        }
        let s = read_csv(&path)?;
        let mut cols: Vec<Column> = Vec::new();
        for k in KEYS.iter().chain(&["repetition", "dir"]) {
            let c = index.column(k)?.slice(i as i64, 1);
            let c = if *k == "users" || *k == "repetition" {
                c.cast(&DataType::Int64)?
            } else {
                c.cast(&DataType::String)?
            };
            cols.push(c);
        }
        for m in METRICS {
            let c = match s.column(m) {
                Ok(c) => c.slice(0, 1).cast(&DataType::Float64)?,
                Err(_) => Column::full_null((*m).into(), 1, &DataType::Float64),
            };
            cols.push(c.with_name((*m).into()));
        }
        let row = DataFrame::new_infer_height(cols)?;
        out = Some(match out {
            None => row,
            Some(mut df) => {
                df.vstack_mut(&row)?;
                df
            }
        });
    }
    out.map_or_else(empty_runs, Ok)
}

/// The table of [`load_runs`] without rows (an evaluation of the sweep alone).
fn empty_runs() -> Result<DataFrame> {
    let mut cols: Vec<Column> = Vec::new();
    for k in KEYS.iter().chain(&["repetition", "dir"]) {
        let t = if *k == "users" || *k == "repetition" { DataType::Int64 } else { DataType::String };
        cols.push(Column::full_null((*k).into(), 0, &t));
    }
    for m in METRICS {
        cols.push(Column::full_null((*m).into(), 0, &DataType::Float64));
    }
    Ok(DataFrame::new_infer_height(cols)?)
}

/// Median, min and max of one metric over the runs of a group (repetitions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// Of the non-null, finite values of `c`; `None` if there are none.
    pub fn of(c: &Column) -> Result<Option<Spread>> {
        let v: Vec<f64> = c.cast(&DataType::Float64)?.f64()?.iter().flatten().filter(|x| x.is_finite()).collect();
        Ok(Spread::of_values(&v))
    }

    pub fn of_values(v: &[f64]) -> Option<Spread> {
        if v.is_empty() {
            return None;
        }
        let s = Series::new("v".into(), v);
        Some(Spread {
            median: s.median()?,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n: v.len(),
        })
    }

    /// `median [min-max]`, or the one value.
    pub fn show(&self, digits: usize) -> String {
        if self.n == 1 {
            format!("{:.*}", digits, self.median)
        } else {
            format!("{:.*} [{:.*}-{:.*}]", digits, self.median, digits, self.min, digits, self.max)
        }
    }
}

/// Runs of one experiment and series.
pub fn select(runs: &DataFrame, experiment: &str, series: &str) -> Result<DataFrame> {
    let mask = runs.column("experiment")?.str()?.equal(experiment) & runs.column("series")?.str()?.equal(series);
    Ok(runs.filter(&mask)?)
}

/// Runs of one backend.
pub fn of_backend(runs: &DataFrame, backend: &str) -> Result<DataFrame> {
    Ok(runs.filter(&runs.column("backend")?.str()?.equal(backend))?)
}

/// `metric` of backend `num` over the same of `den`, computed within each repetition (the runs
/// of one repetition ran next to each other), then summarised; `None` where either is missing.
pub fn ratio_per_repetition(runs: &DataFrame, metric: &str, num: &str, den: &str) -> Result<Option<Spread>> {
    let side = |b: &str, name: &str| -> Result<DataFrame> {
        let d = of_backend(runs, b)?;
        Ok(DataFrame::new_infer_height(vec![
            d.column("repetition")?.clone(),
            d.column(metric)?.clone().with_name(name.into()),
        ])?)
    };
    let j = side(num, "num")?.join(
        &side(den, "den")?,
        ["repetition"],
        ["repetition"],
        JoinArgs::new(JoinType::Inner),
        None,
    )?;
    let r = (j.column("num")?.as_materialized_series() / j.column("den")?.as_materialized_series())?;
    Spread::of(&r.into())
}

/// One metric of one backend over the runs given (its repetitions).
pub fn spread_of(runs: &DataFrame, backend: &str, metric: &str) -> Result<Option<Spread>> {
    Spread::of(of_backend(runs, backend)?.column(metric)?)
}

/// Every group of runs (experiment, series, backend, users), calibration left out, with each
/// metric's median, min and max over its repetitions: `aggregate.csv`, and a Markdown table.
pub fn aggregate(runs: &DataFrame) -> Result<(DataFrame, String)> {
    let keep = !runs.column("series")?.str()?.equal("calibration");
    let runs = runs.filter(&keep)?;
    let mut rows: Vec<DataFrame> = Vec::new();
    let mut md = String::from(
        "Median over repetitions [min-max]; a percentile is the median of the runs' own percentiles (never averaged).\n\n\
         | experiment | series | backend | users | runs | achieved req/s | errors | p50 ms | p99 ms | SUT CPU-s per 1k req | cold requests |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut groups = runs.partition_by_stable(KEYS.iter().copied(), true)?;
    groups.sort_by_key(|g| {
        let s = |k: &str| g.column(k).ok().and_then(|c| c.get(0).ok()).map(|v| v.to_string()).unwrap_or_default();
        (s("experiment"), s("series"), s("backend"))
    });
    for g in &groups {
        let mut cols: Vec<Column> =
            KEYS.iter().map(|k| g.column(k).map(|c| c.slice(0, 1))).collect::<Result<_, _>>()?;
        cols.push(Column::new("runs".into(), [g.height() as i64]));
        let mut shown: Vec<String> = Vec::new();
        for m in METRICS {
            let s = Spread::of(g.column(m)?)?;
            for (suffix, v) in [("median", s.map(|s| s.median)), ("min", s.map(|s| s.min)), ("max", s.map(|s| s.max))] {
                cols.push(Column::new(format!("{m}_{suffix}").into(), [v]));
            }
            let scale = if m.ends_with("_us") { 1e-3 } else { 1.0 };
            let digits = match *m {
                "achieved_rps" | "cold_requests" | "errors" => 0,
                "sut_cpu_s_per_1k" => 3,
                _ => 2,
            };
            shown.push(s.map_or("-".into(), |s| {
                Spread { median: s.median * scale, min: s.min * scale, max: s.max * scale, n: s.n }.show(digits)
            }));
        }
        let text =
            |k: &str| g.column(k).ok().and_then(|c| c.get(0).ok()).map(|v| v.to_string().trim_matches('"').to_string());
        let metric = |m: &str| shown[METRICS.iter().position(|x| *x == m).unwrap_or(0)].clone();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            text("experiment").unwrap_or_default(),
            text("series").unwrap_or_default(),
            text("backend").unwrap_or_default(),
            text("users").unwrap_or_default(),
            g.height(),
            metric("achieved_rps"),
            metric("errors"),
            metric("p50_us"),
            metric("p99_us"),
            metric("sut_cpu_s_per_1k"),
            metric("cold_requests"),
        ));
        rows.push(DataFrame::new_infer_height(cols)?);
    }
    let Some(mut out) = rows.first().cloned() else {
        return Ok((DataFrame::empty(), "No runs besides the sweep.\n".into()));
    };
    for r in &rows[1..] {
        out.vstack_mut(r)?;
    }
    Ok((out, md))
}

fn write_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    let mut f = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    CsvWriter::new(&mut f)
        .include_header(true)
        .finish(df)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("write {}", path.display()))
}

/// Load every run of an evaluation, write `aggregate.csv`, `claims.csv` and `claims.md`.
pub fn analyze(i: &Inputs) -> Result<Analysis> {
    let runs = load_runs(&i.dir)?;
    let (mut agg, aggregate_md) = aggregate(&runs)?;
    write_csv(&mut agg, &i.dir.join("aggregate.csv"))?;
    let claims = claims::check(i, &runs)?;
    let claims_md = claims::markdown(&claims);
    claims::write_csv(&claims, &i.dir.join("claims.csv"))?;
    std::fs::write(i.dir.join("claims.md"), format!("# The paper's claims, checked\n\n{claims_md}"))
        .context("write claims.md")?;
    Ok(Analysis { claims, claims_md, aggregate_md })
}

/// The rows of a sweep's `comparison.csv` (this run's or a reference's).
pub fn read_comparison(dir: &Path) -> Result<DataFrame> {
    read_csv(&dir.join("comparison.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: median of 5 values is the middle one, of 4 the mean of the middle two.
    #[test]
    fn spread_is_median_and_range() {
        let s = Spread::of_values(&[9.0, 1.0, 4.0, 100.0, 5.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (5.0, 1.0, 100.0, 5));
        assert_eq!(Spread::of_values(&[1.0, 2.0, 10.0, 4.0]).unwrap().median, 3.0);
        assert_eq!(s.show(1), "5.0 [1.0-100.0]");
        assert!(Spread::of_values(&[]).is_none());
    }

    /// Ratios are taken within a repetition, then summarised: (10/2, 30/3, 8/4) -> 5, 10, 2 ->
    /// median 5; the median of the ratios, not the ratio of the medians (10/3).
    #[test]
    fn ratios_are_per_repetition() {
        let df = df!(
            "backend" => ["a", "a", "a", "b", "b", "b"],
            "repetition" => [1i64, 2, 3, 1, 2, 3],
            "p50_us" => [10.0, 30.0, 8.0, 2.0, 3.0, 4.0],
        )
        .unwrap();
        let r = ratio_per_repetition(&df, "p50_us", "a", "b").unwrap().unwrap();
        assert_eq!((r.median, r.min, r.max, r.n), (5.0, 2.0, 10.0, 3));
    }
}
