//! The run in Locust's CSV format (`locust_stats.csv`, `locust_stats_history.csv`,
//! `locust_failures.csv`, the files `locust --csv=locust` writes), so that the paper's plotting
//! scripts and Locust users' tooling read spright-bench runs. Columns are Locust's exactly
//! (../shared/reference/WORKLOADS.md); times in ms.
//!
//! Where ours differ from Locust's numbers: response times are those of successful requests
//! (Locust mixes failures in), open-loop latencies count from the intended send time, a history
//! row covers one second (Locust's is a moving average), and every history row carries the
//! run's average content size (it is not kept per second).

use super::RunInputs;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use std::path::Path;

pub const PERCENTILES: [f64; 11] = [0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0];
pub const STATS_COLUMNS: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,\
99.99%,100%";
pub const HISTORY_COLUMNS: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,\
99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,\
Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";
pub const FAILURES_COLUMNS: &str = "Method,Name,Error,Occurrences";

/// A percentile in whole ms, as Locust prints them; `N/A` without data.
fn pct(h: &Histogram<u64>, q: f64) -> String {
    if h.is_empty() {
        return "N/A".into();
    }
    format!("{:.0}", h.value_at_quantile(q) as f64 / 1e6)
}

fn ms(ns: f64) -> String {
    format!("{:.3}", ns / 1e6)
}

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>> {
    csv::Writer::from_path(path).with_context(|| format!("create {}", path.display()))
}

fn header(w: &mut csv::Writer<std::fs::File>, columns: &str) -> Result<()> {
    w.write_record(columns.split(','))?;
    Ok(())
}

/// Write the three files into `dir`.
pub fn write(dir: &Path, i: &RunInputs) -> Result<()> {
    let rec = &i.load.recorder;
    let secs = i.load.measured_s.max(1e-9);
    let method = |id: u16| {
        let r = i.chain.routes.iter().find(|r| r.id == id);
        r.and_then(|r| r.http.as_ref()).map_or("POST".to_string(), |p| p.method.clone())
    };
    let row = |kind: &str, name: &str, ok: u64, errors: u64, h: &Histogram<u64>, bytes: u64| {
        let mut v = vec![kind.to_string(), name.to_string(), (ok + errors).to_string(), errors.to_string()];
        let empty = h.is_empty();
        v.push(pct(h, 0.5));
        v.push(if empty { "0".into() } else { ms(h.mean()) });
        v.push(if empty { "0".into() } else { ms(h.min() as f64) });
        v.push(if empty { "0".into() } else { ms(h.max() as f64) });
        v.push(if ok > 0 { format!("{:.2}", bytes as f64 / ok as f64) } else { "0".into() });
        v.push(format!("{:.3}", (ok + errors) as f64 / secs));
        v.push(format!("{:.3}", errors as f64 / secs));
        v.extend(PERCENTILES.iter().map(|&q| pct(h, q)));
        v
    };
    let mut w = writer(&dir.join("locust_stats.csv"))?;
    header(&mut w, STATS_COLUMNS)?;
    for r in &rec.routes {
        w.write_record(row(&method(r.id), &r.name, r.ok, r.errors, &r.latency, r.bytes))?;
    }
    let bytes: u64 = rec.routes.iter().map(|r| r.bytes).sum();
    w.write_record(row("", "Aggregated", rec.ok_total(), rec.error_total(), &rec.overall, bytes))?;
    w.flush()?;

    let mut w = writer(&dir.join("locust_failures.csv"))?;
    header(&mut w, FAILURES_COLUMNS)?;
    for r in &rec.routes {
        for (kind, n) in &r.error_kinds {
            w.write_record([method(r.id), r.name.clone(), kind.clone(), n.to_string()])?;
        }
    }
    w.flush()?;

    let start_unix = super::window_start(rec).duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let avg_size = if rec.ok_total() > 0 { format!("{:.2}", bytes as f64 / rec.ok_total() as f64) } else { "0".into() };
    let mut total = crate::loadgen::record::hist(2);
    let (mut count, mut failures) = (0u64, 0u64);
    let mut w = writer(&dir.join("locust_stats_history.csv"))?;
    header(&mut w, HISTORY_COLUMNS)?;
    for (k, s) in rec.seconds.iter().enumerate() {
        total.add(&s.latency).context("merge a second's latencies")?;
        (count, failures) = (count + s.ok + s.errors, failures + s.errors);
        let mut v = vec![
            format!("{:.0}", start_unix + k as f64 + 1.0),
            s.users.to_string(),
            String::new(),
            "Aggregated".into(),
            (s.ok + s.errors).to_string(),
            s.errors.to_string(),
        ];
        v.extend(PERCENTILES.iter().map(|&q| pct(&s.latency, q)));
        v.push(count.to_string());
        v.push(failures.to_string());
        v.push(pct(&total, 0.5));
        let empty = total.is_empty();
        v.push(if empty { "0".into() } else { ms(total.mean()) });
        v.push(if empty { "0".into() } else { ms(total.min() as f64) });
        v.push(if empty { "0".into() } else { ms(total.max() as f64) });
        v.push(avg_size.clone());
        w.write_record(v)?;
    }
    w.flush()?;
    Ok(())
}
