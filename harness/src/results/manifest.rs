//! `manifest.json`: what was run, where, and how it ended, so that a run can be repeated and
//! compared (command line, commit, machine, chain spec, backend and its options, load profile,
//! placement, component pids and how each ended).

use super::summary::Summary;
use super::RunInputs;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use workloads::load::Pattern;

pub fn manifest(i: &RunInputs, s: &Summary) -> Value {
    let l = &i.chain.load;
    json!({
        "tool": "spright-bench",
        "command_line": i.command_line,
        "started_unix": i.started.0,
        "started": i.started.1,
        "complete": true,
        "interrupted": i.load.interrupted,
        "environment": i.env,
        "host_limits": i.host_limits,
        "driver_peak_rss_kib": i.driver_peak_rss_kib,
        "loadgen_threads": i.load.threads,
        "effective_sleeps": i.sleeps,
        "prewarm_at_s": i.prewarms,
        "backend": {
            "name": i.backend,
            "label": i.label,
            "options": i.options.iter().collect::<BTreeMap<_, _>>(),
        },
        "chain": {
            "name": i.chain.name,
            "source": i.chain.source,
            "spec": i.chain.spec_text,
            "time_factor": i.chain.time_factor,
            "time": if i.chain.time_factor < 1.0 { "compressed (the spec's compress); --full runs it at full length" } else { "as written" },
        },
        "load": {
            "pattern": l.pattern.describe(),
            "duration_s": l.duration_s,
            "measured_s": i.load.measured_s,
            "warmup_s": l.warmup_s,
            "connections": l.connections,
            "timeout_ms": l.timeout_ms,
            "seed": l.seed,
            "trace": i.trace.map(|t| json!({
                "events": t.events,
                "span_s": t.span_s,
                "longest_gap_s": t.longest_gap_s,
                "gaps_over_30s": t.gaps_over_30s,
            })),
            "users": i.chain.users.as_ref().map(|u| json!({
                "tasks": u.tasks.iter().map(|t| json!({"name": t.name, "weight": t.weight, "requests": t.requests.len()})).collect::<Vec<_>>(),
                "start": u.start.map(|s| u.tasks[s].name.clone()),
                "pool": u.pool,
                "spawn_rate": u.spawn_rate,
                "requests_per_task": u.requests_per_task(),
                "open_loop_arrival": "one task (its requests in order on the user's connection); tasks arrive at rate / requests_per_task, so the offered rate is requests/s",
            })),
            "latency_origin": if matches!(l.pattern, Pattern::Closed { .. }) { "actual send time (closed loop)" } else { "intended send time (open loop)" },
        },
        "placement": {
            "policy": i.policy.to_string(),
            "policy_cpus": dataplane_api::placement::cpu_list(&i.policy.allowed),
            "cpus": i.cpus.iter().map(|(n, c)| (n.clone(), serde_json::Value::from(c.clone()))).collect::<serde_json::Map<_, _>>(),
            "backend": i.placement,
            "cpus_allowed": i.env.cpus_allowed,
            "load_average_at_start": i.env.load_average,
            "background_cpu_pct": s.background_cpu_pct,
            "loadgen": "thread of the driver process, sampled separately (its CPUs: cpus.loadgen)",
        },
        "cpu_sample_interval_ms": i.sample_interval.as_millis() as u64,
        "components": i.components.iter().map(|c| json!({"name": c.name, "role": c.role.as_str(), "pid": c.pid})).collect::<Vec<_>>(),
        "exits": i.exits.iter().map(|e| json!({"name": e.component.name, "died_during_run": e.died_during_run, "status": e.status})).collect::<Vec<_>>(),
        "leftover_pids": i.leftovers,
        "warmup_requests": i.load.recorder.warmup_requests,
    })
}
