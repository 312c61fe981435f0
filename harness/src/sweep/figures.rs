//! The sweep's figures, from `comparison.csv` alone: latency against throughput and CPU per
//! 1,000 requests, a panel per chain (and placement), a colour per backend.

use super::Meta;
use crate::figures::{self, Panel, Series};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// A curve is the backend's: only the rows of `comparison.csv` that stand
/// ([`spright_analysis::stands`]).
pub(super) fn drop_replaced(rows: &mut Vec<BTreeMap<String, String>>) {
    let keys: Vec<_> = rows
        .iter()
        .map(|r| {
            let key = ["chain", "placement", "backend", "offered_rps"].map(|k| r.get(k).cloned().unwrap_or_default());
            (key, r.get("connections").and_then(|c| c.parse::<u64>().ok()).unwrap_or(0))
        })
        .collect();
    let mut standing = spright_analysis::stands(&keys).into_iter();
    rows.retain(|_| standing.next().unwrap_or(true));
}

/// Figures from `comparison.csv` alone.
pub fn draw_comparison(out: &Path) -> Result<()> {
    // Titles name the machine (its core count) when reproduce.json says it.
    let machine = std::fs::read(out.join("reproduce.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
        .and_then(|m| m.machine.split_once(" cores)").and_then(|(a, _)| a.rsplit_once('(')).map(|(_, n)| n.to_string()))
        .map_or(String::new(), |n| format!(", {n} cores"));
    let mut rows = figures::read_csv(&out.join("comparison.csv"))?;
    drop_replaced(&mut rows);
    // With several placements, each chain under each is a panel of its own.
    let mut policies: Vec<String> = rows.iter().filter_map(|r| r.get("placement").cloned()).collect();
    policies.sort();
    policies.dedup();
    if policies.len() > 1 {
        for r in &mut rows {
            let chain = format!("{} @ {}", r["chain"], r["placement"]);
            r.insert("chain".into(), chain);
        }
    }
    let mut keys: Vec<(String, String)> = rows.iter().map(|r| (r["chain"].clone(), r["backend"].clone())).collect();
    keys.dedup();
    let mut chains: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
    chains.dedup();
    let series = |chain: &str, x: &str, y: &str, suffix: &str| -> Vec<Series> {
        keys.iter()
            .filter(|(c, _)| c == chain)
            .map(|(c, b)| {
                Series::line(
                    format!("{b}{suffix}"),
                    rows.iter()
                        .filter(|r| &r["chain"] == c && &r["backend"] == b)
                        .filter_map(|r| Some((r[x].parse().ok()?, r[y].parse().ok()?)))
                        .collect(),
                )
                .color(figures::backend_color(b))
            })
            .collect()
    };
    // One panel per chain: every backend's p50 (solid) and p99 (dashed) against the throughput
    // it achieved.
    let panels: Vec<Panel> = chains
        .iter()
        .map(|c| {
            let mut lat = series(c, "achieved_rps", "p50_us", " p50");
            lat.extend(series(c, "achieved_rps", "p99_us", " p99").into_iter().map(Series::dashed));
            Panel {
                title: format!("{c}: latency vs throughput (open loop{machine})"),
                x_label: "achieved requests/s".into(),
                y_label: "latency (us)".into(),
                series: lat,
                log_y: true,
                log_x: true,
            }
        })
        .collect();
    figures::draw(&panels, &out.join("latency_vs_throughput"))?;
    // The same panels for CPU: in one panel, a backend's colour would stand for every chain and
    // placement at once.
    let panels: Vec<Panel> = chains
        .iter()
        .map(|c| Panel {
            title: format!("{c}: CPU of the system under test per 1,000 requests (open loop{machine})"),
            x_label: "offered requests/s".into(),
            y_label: "CPU seconds per 1k requests".into(),
            series: series(c, "offered_rps", "sut_cpu_s_per_1k", ""),
            log_y: true,
            log_x: true,
        })
        .collect();
    figures::draw(&panels, &out.join("cpu_per_1k"))
}
