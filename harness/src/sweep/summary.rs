//! What a comparison directory's `summary.md` says, from its `comparison.csv` and
//! `reproduce.json` alone: how the points were measured, each chain's table, each backend's
//! highest unsaturated rate with its pool checks, and the backends side by side.

use super::ramp::{pool_checks, saturated, Checked};
use super::Meta;
use crate::registry;
use crate::results::{read_summaries, Summary};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// A saturated point where the load generator used this much of its core may be the
/// generator's limit, not the backend's.
const GENERATOR_BOUND_PCT: f64 = 85.0;

pub(super) fn write_summary(out: &Path) -> Result<()> {
    let meta: Meta = serde_json::from_slice(&std::fs::read(out.join("reproduce.json")).context("read reproduce.json")?)
        .context("parse reproduce.json")?;
    let all = read_summaries(&out.join("comparison.csv"))?;
    let mut md = String::new();
    writeln!(md, "# spright-bench reproduce\n")?;
    writeln!(md, "Command: `{}`", meta.command_line.join(" "))?;
    writeln!(md, "Machine: {}.\n", meta.machine)?;
    writeln!(
        md,
        "Open-loop Poisson load, {} s measured per point after {} s warm-up; latency from each request's intended send time. \
         Rates grow by x{} from {} req/s until a backend saturates (achieved < 90% of offered, > 1% errors, or p99 > 500 ms){}. \
         Placement (`--placement`): {}; each point's manifest records every process's CPUs, and backends are compared only under the same placement.\n",
        meta.duration_s,
        meta.warmup_s,
        meta.step,
        meta.start_rate,
        match meta.refine > 1.0 {
            true => format!(", then bisect between the last unsaturated and the first saturated rate until they are within x{}", meta.refine),
            false => String::new(),
        },
        placements(&all).iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    )?;
    let mut pools: Vec<u64> = all.iter().map(|s| s.connections).filter(|&c| c > 0).collect();
    pools.sort();
    pools.dedup();
    if !pools.is_empty() {
        writeln!(
            md,
            "The load generator had {} connections (`--connections`), one request at a time on each: a request due while all are busy waits for one, and the wait counts as latency. A point's throughput is at most the connections over the mean time a request holds one, so a backend's ceiling can be the pool's. {}\n",
            pools.iter().map(u64::to_string).collect::<Vec<_>>().join(" or "),
            match meta.pool_check {
                Some(c) => format!("Where a point saturated with at least half its connections busy (rate x mean latency), it was measured again with {}x the connections (at most {}{}), and the ramp went on with that pool; where that held, the first pool was measured once more (a limit of the pool saturates again, a stall need not). Each check is listed under its chain.", c.growth, c.max,
                    meta.pool_caps.iter().map(|c| format!("; {} for {} on {}, as {}", c.connections, c.chain, c.backends.join(", "), c.why)).collect::<String>()),
                None => "This sweep did not check its pool (`--no-pool-check`, or a run before the check): rerunning with more connections tells.".into(),
            }
        )?;
    }
    let several = placements(&all).len() > 1;
    let full = &all[..];
    let mut names: Vec<&str> = all.iter().map(|s| s.backend.as_str()).collect();
    names.sort();
    names.dedup();
    writeln!(md, "Backends:\n")?;
    for n in names {
        let label = registry::get(n).map(|b| b.label()).unwrap_or("not registered in this build");
        match meta.backend_options.get(n) {
            Some(opts) => writeln!(md, "- `{n}`: {label} (options: {opts})")?,
            None => writeln!(md, "- `{n}`: {label}")?,
        }
    }
    writeln!(md)?;
    let mut groups: Vec<(&str, &str)> = full.iter().map(|s| (s.chain.as_str(), s.placement.as_str())).collect();
    groups.dedup();
    for (chain, placement) in groups {
        let group: Vec<Summary> =
            full.iter().filter(|s| s.chain == chain && s.placement == placement).cloned().collect();
        let all = &group[..];
        match several {
            true => writeln!(md, "## {chain}, placement `{placement}`\n")?,
            false => writeln!(md, "## {chain}\n")?,
        }
        writeln!(md, "| backend | offered req/s | connections | achieved req/s | p50 us | p99 us | errors | SUT CPU-s per 1k req | loadgen %CPU (all threads) |")?;
        writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for s in all.iter().filter(|s| s.chain == chain) {
            writeln!(
                md,
                "| {} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {:.0} |",
                s.backend,
                s.offered_rps.unwrap_or(0.0),
                match s.connections {
                    0 => "not recorded".to_string(),
                    c => c.to_string(),
                },
                s.achieved_rps,
                s.p50_us,
                s.p99_us,
                s.errors,
                cpu(s.sut_cpu_s_per_1k),
                s.loadgen_cpu_pct
            )?;
        }
        writeln!(md, "\nHighest throughput reached without saturating, per backend:\n")?;
        let mut backends: Vec<&str> = all.iter().filter(|s| s.chain == chain).map(|s| s.backend.as_str()).collect();
        backends.dedup();
        let standing = standing(all);
        let best = |b: &str| {
            standing
                .iter()
                .filter(|s| s.chain == chain && s.backend == b && !saturated(s))
                .map(|s| s.achieved_rps)
                .fold(0.0, f64::max)
        };
        for b in &backends {
            let peak =
                all.iter().filter(|s| s.chain == chain && s.backend == *b).map(|s| s.achieved_rps).fold(0.0, f64::max);
            // A generator at its limit saturates too: say so rather than blame the backend. Its
            // %CPU is summed over its threads, which share the cores the placement gives it.
            let cores = meta.loadgen_cores.get(placement).copied().unwrap_or(1).max(1);
            let generator = all
                .iter()
                .filter(|s| s.chain == chain && s.backend == *b && saturated(s))
                .map(|s| s.loadgen_cpu_pct / cores as f64)
                .fold(0.0, f64::max);
            let note = match (generator >= GENERATOR_BOUND_PCT, cores) {
                (false, _) => String::new(),
                (true, 1) => format!(" (the load generator used {generator:.0}% of its core where it saturated: the ceiling may be the generator's)"),
                (true, n) => format!(" (the load generator used {generator:.0}% of each of its {n} cores where it saturated: the ceiling may be the generator's)"),
            };
            // A point cut short by Ctrl-C or a time limit counts as measured, but is no ceiling.
            let cut =
                all.iter().find(|s| s.chain == chain && s.backend == *b && s.interrupted).map_or(String::new(), |s| {
                    format!(
                        " (interrupted at {:.0} req/s offered: that point's numbers are partial)",
                        s.offered_rps.unwrap_or(0.0)
                    )
                });
            writeln!(md, "- {b}: {:.0} req/s unsaturated; peak achieved {peak:.0} req/s{note}{cut}", best(b))?;
            for Checked { first, again, repeat } in
                pool_checks(all.iter().filter(|s| s.chain == chain && s.backend == *b))
            {
                let held = format!("reached {:.0} req/s unsaturated", again.achieved_rps);
                let verdict = match (saturated(again), repeat) {
                    (true, _) => "saturated too: the ceiling is the backend's".to_string(),
                    (false, Some(r)) if saturated(r) => format!(
                        "{held}, and {} again saturated ({:.0} req/s achieved): the limit was the pool's",
                        r.connections, r.achieved_rps
                    ),
                    (false, Some(r)) => format!(
                        "{held}, but {} again reached {:.0} req/s unsaturated: the first point met a stall, not the pool's limit",
                        r.connections, r.achieved_rps
                    ),
                    (false, None) => format!("{held}: the limit was the pool's, or a stall that did not repeat"),
                };
                writeln!(
                    md,
                    "  - pool check at {:.0} req/s offered: {} connections saturated ({:.0} req/s achieved); {} connections {verdict}",
                    first.offered_rps.unwrap_or(0.0),
                    first.connections,
                    first.achieved_rps,
                    again.connections,
                )?;
            }
        }
        if backends.len() > 1 {
            side_by_side(&mut md, &standing, chain, &backends, best(backends[0]), &best)?;
        }
        writeln!(md)?;
    }
    writeln!(md, "Figures: `latency_vs_throughput.png`/`.svg`, `cpu_per_1k.png`/`.svg`; raw data: `comparison.csv` and `points/*/`.")?;
    std::fs::write(out.join("summary.md"), md).context("write summary.md")?;
    Ok(())
}

/// The placement policies of a comparison's rows, in order of first appearance.
fn placements(all: &[Summary]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in all {
        if !out.contains(&s.placement.as_str()) {
            out.push(&s.placement);
        }
    }
    out
}

/// CPU-s per 1k requests for a table: three decimals, or "not measured" (an empty CSV cell).
fn cpu(x: f64) -> String {
    if x.is_nan() {
        "not measured".into()
    } else {
        format!("{x:.3}")
    }
}

/// Each backend against the first one, at the offered rates both ran unsaturated, among the
/// points that stand ([`standing`]).
fn side_by_side(
    md: &mut String,
    standing: &[&Summary],
    chain: &str,
    backends: &[&str],
    base_best: f64,
    best: &dyn Fn(&str) -> f64,
) -> std::fmt::Result {
    let base = backends[0];
    let point = |b: &str, rate: f64| {
        standing.iter().find(|s| s.chain == chain && s.backend == b && s.offered_rps == Some(rate) && !saturated(s))
    };
    for other in &backends[1..] {
        writeln!(md, "\n{other} vs {base}, side by side in this run:\n")?;
        if base_best > 0.0 {
            writeln!(md, "- highest unsaturated throughput: {:.2}x", best(other) / base_best)?;
        }
        writeln!(md, "\n| offered req/s | p50 {other} / {base} (us) | ratio | p99 {other} / {base} (us) | ratio | CPU-s per 1k {other} / {base} | ratio |")?;
        writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|")?;
        let mut rates: Vec<f64> = standing.iter().filter(|s| s.chain == chain).filter_map(|s| s.offered_rps).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        for rate in rates {
            let (Some(o), Some(b)) = (point(other, rate), point(base, rate)) else { continue };
            let r = |x: f64, y: f64| if y > 0.0 && x.is_finite() { format!("{:.2}x", x / y) } else { "-".into() };
            writeln!(
                md,
                "| {rate:.0} | {:.0} / {:.0} | {} | {:.0} / {:.0} | {} | {} / {} | {} |",
                o.p50_us,
                b.p50_us,
                r(o.p50_us, b.p50_us),
                o.p99_us,
                b.p99_us,
                r(o.p99_us, b.p99_us),
                cpu(o.sut_cpu_s_per_1k),
                cpu(b.sut_cpu_s_per_1k),
                r(o.sut_cpu_s_per_1k, b.sut_cpu_s_per_1k)
            )?;
        }
    }
    Ok(())
}

/// The points that stand for their backend ([`spright_analysis::stands`]: at a rate measured
/// on several pools, the largest pool's).
fn standing(all: &[Summary]) -> Vec<&Summary> {
    let keys: Vec<_> = all
        .iter()
        .map(|s| ((&s.chain, &s.placement, &s.backend, s.offered_rps.map(f64::to_bits)), s.connections))
        .collect();
    all.iter().zip(spright_analysis::stands(&keys)).filter_map(|(s, stands)| stands.then_some(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::point;
    use super::*;
    use crate::results::write_summaries;

    /// The summary names the connection pool its rows record (two values when points differ),
    /// and says nothing of one that rows of older runs (0) do not record but that.
    #[test]
    fn the_summary_names_the_connection_pool() {
        for (pools, said) in [
            (vec![64, 64], Some("had 64 connections")),
            (vec![64, 256], Some("had 64 or 256 connections")),
            (vec![0], None),
        ] {
            let dir =
                std::env::temp_dir().join(format!("sb-sweep-pool-{}-{}", std::process::id(), pools[pools.len() - 1]));
            std::fs::create_dir_all(&dir).unwrap();
            let rows: Vec<Summary> = pools
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    let mut p = point(1000.0 * (i + 1) as f64, 1000.0 * (i + 1) as f64, 1000, 0, 1000.0);
                    p.connections = c;
                    p
                })
                .collect();
            write_summaries(&dir.join("comparison.csv"), &rows).unwrap();
            let meta = serde_json::json!({"command_line": ["test"], "machine": "m", "duration_s": 1.0,
                "warmup_s": 0.0, "start_rate": 1000.0});
            std::fs::write(dir.join("reproduce.json"), meta.to_string()).unwrap();
            write_summary(&dir).unwrap();
            let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
            match said {
                Some(s) => {
                    assert!(md.contains(&format!("The load generator {s} (`--connections`)")), "{pools:?}:\n{md}")
                }
                None => assert!(
                    !md.contains("connections (`--connections`)") && md.contains("| b | 1000 | not recorded | 1000 |"),
                    "{md}"
                ),
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// The generator note divides the summed %CPU by the cores its threads had: three threads
    /// on three cores at 150% in all are half-busy (no note), at 270% busy at 90% (noted); the
    /// same three threads sharing one core (`paper` pins the generator to the first CPU) are
    /// at their limit at 90%.
    #[test]
    fn a_multi_threaded_generator_is_judged_by_its_cores() {
        for (pct, placement, noted) in
            [(150.0, "none", Some(false)), (270.0, "none", Some(true)), (90.0, "paper", None)]
        {
            let dir = std::env::temp_dir().join(format!("sb-sweep-note-{}-{pct}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut p = point(4000.0, 2000.0, 1000, 0, 1000.0); // saturated: half the offered rate
            p.loadgen_cpu_pct = pct;
            p.placement = placement.into();
            write_summaries(&dir.join("comparison.csv"), &[p]).unwrap();
            let meta = serde_json::json!({"command_line": ["test"], "machine": "m", "duration_s": 1.0,
                "warmup_s": 0.0, "start_rate": 4000.0, "loadgen_cores": {"none": 3, "paper": 1}});
            std::fs::write(dir.join("reproduce.json"), meta.to_string()).unwrap();
            write_summary(&dir).unwrap();
            let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
            match noted {
                Some(noted) => {
                    assert_eq!(md.contains("used 90% of each of its 3 cores"), noted, "{pct}%:\n{md}");
                    assert!(!md.contains("of its core"), "{md}");
                }
                None => assert!(md.contains("used 90% of its core where"), "{md}"),
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
