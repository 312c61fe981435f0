//! The paper's Figs. 9-12, drawn from the CSV files of an evaluation's runs alone (`runs.csv`
//! and each run's `timeseries.csv`, `latency_cdf.csv`, `cpu.csv`, `requests.csv`), one colour
//! per backend ([`backend_color`]), p50 solid and p99 dashed.

use super::{IndexRow, Meta};
use crate::figures::{backend_color, draw, read_csv, Panel, Series};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn index(out: &Path) -> Result<Vec<IndexRow>> {
    let path = out.join("runs.csv");
    let mut r = csv::Reader::from_path(&path).with_context(|| format!("read {}", path.display()))?;
    r.deserialize().collect::<Result<_, _>>().with_context(|| format!("read {}", path.display()))
}

/// The first repetition's directory of each backend in `series` of `experiment`, where it has
/// a summary (it finished).
fn first_runs<'a>(rows: &'a [IndexRow], out: &Path, experiment: &str, series: &str) -> Vec<(&'a str, PathBuf)> {
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    for r in rows.iter().filter(|r| r.experiment == experiment && r.series == series) {
        let dir = out.join(&r.dir);
        if dir.join("summary.csv").is_file() && !seen.iter().any(|(b, _)| *b == r.backend) {
            seen.push((&r.backend, dir));
        }
    }
    seen
}

fn num(r: &BTreeMap<String, String>, c: &str) -> Option<f64> {
    r.get(c)?.parse().ok()
}

/// `column` of a run's `timeseries.csv` against the middle of each second.
fn per_second(dir: &Path, column: &str, scale: f64) -> Result<Vec<(f64, f64)>> {
    Ok(read_csv(&dir.join("timeseries.csv"))?
        .iter()
        .filter_map(|r| Some((num(r, "second")? + 0.5, num(r, column)? * scale)))
        .collect())
}

/// %CPU over time per component group as the paper names them (functions, queue-proxy,
/// gateway, ingress, activator); the load generator is not the system's (the paper did not
/// measure it either).
fn cpu_by_group(dir: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>> {
    crate::figures::cpu_by_group(dir, |role| match role {
        "loadgen" => None,
        "function" => Some("functions".to_string()),
        "sidecar" => Some("queue-proxy".to_string()),
        other => Some(other.to_string()),
    })
}

/// The machine in a few words, for titles: "2 cores".
fn machine(meta: &Meta) -> String {
    format!("{} cores", meta.cores)
}

/// Draw every figure the evaluation's runs allow; returns the stems drawn.
pub fn draw_all(out: &Path, meta: &Meta) -> Result<Vec<String>> {
    let rows = index(out)?;
    let mut drawn = Vec::new();
    if boutique(out, meta, &rows)? {
        drawn.extend(
            ["fig9_boutique_rps", "fig10_boutique_cdf", "fig10_boutique_time", "fig10_boutique_cpu"].map(String::from),
        );
    }
    for (e, fig) in [("motion", "fig11_motion"), ("parking", "fig12_parking")] {
        if iot(out, meta, &rows, e, fig)? {
            drawn.push(fig.to_string());
        }
    }
    Ok(drawn)
}

/// Figs. 9 and 10. Fig. 9 is the paper's: SPRIGHT at its (scaled) 25,000 users, Knative and
/// gRPC at their 5,000; Fig. 10 compares every backend like for like, at the scaled 5,000.
fn boutique(out: &Path, meta: &Meta, rows: &[IndexRow]) -> Result<bool> {
    let lfl = first_runs(rows, out, "boutique", "like-for-like");
    if lfl.is_empty() {
        return Ok(false);
    }
    let paper = first_runs(rows, out, "boutique", "paper-users");
    let (k, s) = (meta.knative_users.unwrap_or(0), meta.spright_users.unwrap_or(0));
    let load = format!("closed loop, users thinking 1-10 s, {}", machine(meta));

    // Fig. 9: each backend as the paper loaded it.
    let mut fig9: Vec<Series> = Vec::new();
    for (b, dir) in &lfl {
        let (dir, users) = match paper.iter().find(|(p, _)| p == b) {
            Some((_, d)) => (d, s),
            None => (dir, k),
        };
        fig9.push(Series::line(format!("{b} ({users} users)"), per_second(dir, "ok", 1.0)?).color(backend_color(b)));
    }
    draw(
        &[Panel {
            title: format!("Fig. 9: Online Boutique, successful requests/s ({load})"),
            x_label: "time in the measured window (s)".into(),
            y_label: "requests/s".into(),
            series: fig9,
            log_y: false,
            log_x: false,
        }],
        &out.join("fig9_boutique_rps"),
    )?;

    // Fig. 10a-c: response-time CDF per request type, like for like.
    let mut routes: Vec<String> = Vec::new();
    let mut cdfs: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for (b, dir) in &lfl {
        for r in read_csv(&dir.join("latency_cdf.csv"))? {
            let (Some(route), Some(p), Some(v)) = (r.get("route"), num(&r, "percentile"), num(&r, "latency_us")) else {
                continue;
            };
            if route == "*all*" {
                continue;
            }
            if !routes.contains(route) {
                routes.push(route.clone());
            }
            cdfs.entry((route.clone(), b.to_string())).or_default().push((v / 1e3, p / 100.0));
        }
    }
    let panels: Vec<Panel> = routes
        .iter()
        .map(|route| Panel {
            title: format!("Fig. 10: {route}, response-time CDF ({k} users each, {load})"),
            x_label: "response time (ms)".into(),
            y_label: "fraction of requests".into(),
            series: lfl
                .iter()
                .map(|(b, _)| {
                    Series::line(b.to_string(), cdfs.get(&(route.clone(), b.to_string())).cloned().unwrap_or_default())
                        .color(backend_color(b))
                })
                .collect(),
            log_y: false,
            log_x: true,
        })
        .collect();
    draw(&panels, &out.join("fig10_boutique_cdf"))?;

    // Fig. 10d-f: response time over time.
    let mut series = Vec::new();
    for (b, dir) in &lfl {
        series.push(Series::line(format!("{b} p50"), per_second(dir, "p50_us", 1e-3)?).color(backend_color(b)));
        series
            .push(Series::line(format!("{b} p99"), per_second(dir, "p99_us", 1e-3)?).color(backend_color(b)).dashed());
    }
    draw(
        &[Panel {
            title: format!("Fig. 10: Online Boutique, response time per second ({k} users each, {load})"),
            x_label: "time in the measured window (s)".into(),
            y_label: "response time (ms)".into(),
            series,
            log_y: true,
            log_x: false,
        }],
        &out.join("fig10_boutique_time"),
    )?;

    // Fig. 10g-i: %CPU over time per component group, one panel per backend.
    let mut panels = Vec::new();
    for (b, dir) in &lfl {
        let groups = cpu_by_group(dir)?;
        panels.push(Panel {
            title: format!("Fig. 10: {b}, %CPU per component group ({k} users, 100% = one core)"),
            x_label: "time since the load started (s)".into(),
            y_label: "%CPU".into(),
            series: groups.into_iter().map(|(g, pts)| Series::line(g, pts)).collect(),
            log_y: false,
            log_x: false,
        });
    }
    draw(&panels, &out.join("fig10_boutique_cpu"))?;
    Ok(true)
}

/// Figs. 11 and 12: every request's response time over time, those that waited for a cold
/// start drawn apart, above the %CPU of the functions (and Knative's queue-proxies).
fn iot(out: &Path, meta: &Meta, rows: &[IndexRow], experiment: &str, stem: &str) -> Result<bool> {
    let runs = first_runs(rows, out, experiment, "paper");
    if runs.is_empty() {
        return Ok(false);
    }
    let (fig, load) = match experiment {
        "motion" => ("Fig. 11: motion detection", "trace replayed open loop"),
        _ => ("Fig. 12: parking", "bursts of 164 uploads, open loop"),
    };
    let mut requests = Vec::new();
    let mut cpu = Vec::new();
    for (b, dir) in &runs {
        let rows = match dir.join("requests.csv").is_file() {
            true => read_csv(&dir.join("requests.csv"))?,
            false => Vec::new(),
        };
        let pick = |cold: &str| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r.get("cold").map(String::as_str) == Some(cold))
                .filter_map(|r| Some((num(r, "sent_s")?, num(r, "latency_us")? / 1e3)))
                .collect()
        };
        requests.push(Series::dots(b.to_string(), pick("0")).color(backend_color(b)));
        let cold = pick("1");
        if !cold.is_empty() {
            requests.push(Series::dots(format!("{b}, waited for a cold start"), cold).color(RGB_COLD));
        }
        for (g, pts) in cpu_by_group(dir)? {
            if g == "functions" || g == "queue-proxy" {
                let s = Series::line(format!("{b} {g}"), pts).color(backend_color(b));
                cpu.push(if g == "queue-proxy" { s.dashed() } else { s });
            }
        }
    }
    draw(
        &[
            Panel {
                title: format!("{fig}: response time of every request ({load}, {})", machine(meta)),
                x_label: "time since the load started (s)".into(),
                y_label: "response time (ms)".into(),
                series: requests,
                log_y: true,
                log_x: false,
            },
            Panel {
                title: format!("{fig}: %CPU of functions (solid) and queue-proxies (dashed), 100% = one core"),
                x_label: "time since the load started (s)".into(),
                y_label: "%CPU".into(),
                series: cpu,
                log_y: false,
                log_x: false,
            },
        ],
        &out.join(stem),
    )?;
    Ok(true)
}

/// Requests that waited for a cold start, in every figure.
const RGB_COLD: plotters::style::RGBColor = plotters::style::RGBColor(0, 0, 0);
