//! `summary.md`: a run's numbers for people, from the same inputs as the CSV files.

use super::summary::{Percentiles, Summary};
use super::{RunDir, RunInputs};
use anyhow::{Context, Result};
use dataplane_api::{ColdStart, Exit};

/// `summary.md`: the run for people.
pub fn write_summary_md(dir: &RunDir, i: &RunInputs, s: &Summary) -> Result<()> {
    let rec = &i.load.recorder;
    let mut md = String::new();
    md += &format!("# {} on {}\n\n", s.chain, s.backend);
    md += &format!("Backend: `{}`, {}.\n\n", s.backend, i.label);
    md += &format!("Backend options: {}.\n\n", i.options.describe());
    let cpus: Vec<String> = i.cpus.iter().map(|(n, c)| format!("{n} {c}")).collect();
    md += &format!(
        "Placement: policy `{}` over CPUs {}; each process could run on (procfs, during the run): {}. Backend: {}; the load generator is a thread of the driver.\n\n",
        i.policy,
        dataplane_api::placement::cpu_list(&i.policy.allowed),
        cpus.join("; "),
        i.placement
    );
    md += &format!(
        "Load: {}; {:.1} s measured after {:.1} s warm-up.\n",
        i.chain.load.pattern.describe(),
        s.duration_s,
        i.chain.load.warmup_s
    );
    for e in i.sleeps {
        md += &format!(
            "Functions' {} ns sleeps last {:.1} us here (median; p99 {:.1} us; {} sleeps measured by the driver with the default timer slack).\n",
            e.sleep_ns,
            e.median_ns as f64 / 1e3,
            e.p99_ns as f64 / 1e3,
            e.samples
        );
    }
    if let Some(at) = i.prewarms {
        let at: Vec<String> = at.iter().map(|t| format!("{t:.1}")).collect();
        md += &format!(
            "Prewarm: every function woken up at {} s (at the start and before each burst, as the paper's Knative client did).\n",
            at.join(", ")
        );
    }
    if i.chain.time_factor < 1.0 {
        md += &format!(
            "Time: compressed x{} (durations, burst spacing, trace times, grace period and stable window; `--full` runs the paper's length).\n",
            i.chain.time_factor
        );
    }
    md += match i.chain.load.pattern {
        workloads::Pattern::Closed { .. } => "Latency: closed loop, from each request's actual send time.\n\n",
        _ => "Latency: open loop, from each request's *intended* send time (waiting for a free connection counts).\n\n",
    };
    if s.interrupted {
        md += "**This run was interrupted; its numbers cover only the part that ran.**\n\n";
    }
    md += &format!("Requests: {} ok, {} failed; throughput {:.1} req/s.\n\n", s.ok, s.errors, s.achieved_rps);
    md += &format!(
        "Load generator send lag behind intended times (included in the latencies below): p50 {:.1} us, p99 {:.1} us.\n\n",
        s.send_lag_p50_us, s.send_lag_p99_us
    );
    if i.load.threads.len() > 1 {
        let per: Vec<String> = i
            .load
            .threads
            .iter()
            .map(|t| {
                format!("{} requests, lag p50 {:.1} us p99 {:.1} us", t.requests, t.send_lag_p50_us, t.send_lag_p99_us)
            })
            .collect();
        md += &format!(
            "The load generator ran {} threads, each with its share of the load, histograms merged exactly: {}.\n\n",
            i.load.threads.len(),
            per.join("; ")
        );
    }
    md += "| route | ok | errors | p50 us | p90 us | p99 us | p99.9 us | max us |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in &rec.routes {
        let p = Percentiles::of(&r.latency);
        md += &format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            r.name, r.ok, r.errors, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us
        );
    }
    md += &format!(
        "| **all** | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n\n",
        s.ok, s.errors, s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us
    );
    if !rec.errors.is_empty() {
        md += "Errors by kind:\n\n";
        for (k, v) in &rec.errors {
            md += &format!("- {k}: {v}\n");
        }
        md += "\n";
    }
    if let Some(why) = i.cpu_unavailable {
        md += &format!(
            "CPU of the system under test: **not measured**: {why}. (Load generator: {:.1}% CPU.)\n",
            s.loadgen_cpu_pct
        );
    } else {
        md += "CPU in the measurement window (procfs utime+stime; 100% = one core):\n\n| role | processes | CPU s | mean %CPU |\n|---|---:|---:|---:|\n";
        for r in &s.roles {
            md += &format!("| {} | {} | {:.3} | {:.1} |\n", r.role, r.processes, r.cpu_s, r.cpu_pct);
        }
        md += &format!(
            "\nSystem under test: {:.3} CPU s, {:.3} CPU s per 1,000 requests. Load generator (not included): {:.1}% CPU, driver peak RSS {:.1} MiB. Background load on the machine: {:.1}% CPU.\n",
            s.sut_cpu_s,
            s.sut_cpu_s_per_1k,
            s.loadgen_cpu_pct,
            i.driver_peak_rss_kib as f64 / 1024.0,
            s.background_cpu_pct
        );
        if !s.sut_pss_mib.is_nan() {
            md += &format!(
                "Memory of the system under test (peak in the window, procfs smaps_rollup): PSS {:.1} MiB, RSS {:.1} MiB; hugepages {:.1} MiB (pool, DPDK heap: in neither PSS nor RSS).\n",
                s.sut_pss_mib, s.sut_rss_mib, s.sut_hugetlb_mib
            );
        }
    }
    if !i.cold_starts.is_empty() {
        md += &format!(
            "\nCold starts: {} requests waited for a function instance to start (`cold_starts.csv`; their latencies above include it). Phases in ms, mean over those requests:\n\n| service | requests | scheduling | process start | readiness | routing | forwarding | total |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
            i.cold_starts.len()
        );
        let mut services: Vec<&str> = i.cold_starts.iter().map(|c| c.service.as_str()).collect();
        services.sort();
        services.dedup();
        for svc in services {
            let cs: Vec<&ColdStart> = i.cold_starts.iter().filter(|c| c.service == svc).collect();
            let n = cs.len() as f64;
            let mean = |f: fn(&ColdStart) -> f64| cs.iter().map(|c| f(c)).sum::<f64>() / n / 1000.0;
            md += &format!(
                "| {svc} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                cs.len(),
                mean(|c| c.scheduling_us),
                mean(|c| c.process_start_us),
                mean(|c| c.readiness_us),
                mean(|c| c.routing_us),
                mean(|c| c.forwarding_us),
                mean(|c| c.total_us)
            );
        }
    }
    if s.cold_starts > 0 || s.cold_requests > 0 {
        let share = if s.ok + s.errors > 0 { s.cold_requests as f64 / (s.ok + s.errors) as f64 * 100.0 } else { 0.0 };
        let ms = |p50: f64, p99: f64| match p50.is_nan() {
            true => "none".to_string(),
            false => format!("p50 {:.1} ms, p99 {:.1} ms", p50 / 1e3, p99 / 1e3),
        };
        md += &format!(
            "\nRequests that waited for a cold start (a cold-started call began and ended inside them; `requests.csv`): {} of {} ({share:.1}%). Latency of those: {}; of the others: {}.\n",
            s.cold_requests,
            s.ok + s.errors,
            ms(s.p50_cold_us, s.p99_cold_us),
            ms(s.p50_warm_us, s.p99_warm_us)
        );
    }
    if !s.fn_cpu_pct.is_nan() {
        md += &format!(
            "\nOne function process, mean over them: {:.2}% CPU over the window, peak PSS {:.1} MiB (what keeping a function warm costs when the load is sparse).\n",
            s.fn_cpu_pct, s.fn_pss_mib
        );
    }
    if !i.counters.is_empty() {
        md += "\nDataplane counters at the end of the run, warm-up included (`counters.csv`):\n\n| component | counter | value |\n|---|---|---:|\n";
        for c in i.counters {
            md += &format!("| {} | {} | {} |\n", c.component, c.name, c.value);
        }
    }
    let died: Vec<&Exit> = i.exits.iter().filter(|e| e.died_during_run).collect();
    if !died.is_empty() {
        md += "\nComponents that died during the run:\n\n";
        for e in died {
            md +=
                &format!("- {} (pid {}): {}\n", e.component.name, e.component.pid, e.status.as_deref().unwrap_or("?"));
        }
    }
    md += "\nFigures: `timeline.png`/`.svg` (throughput and latency per second), `cpu.png`/`.svg` (%CPU per role).\n";
    std::fs::write(dir.path("summary.md"), md).context("write summary.md")
}
