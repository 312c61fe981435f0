//! A run's latencies in HdrHistogram's own formats, for the tools that read them:
//! - `latency.hlog`: an interval log (V2, deflate-compressed histograms: the format of
//!   HdrHistogram's `HistogramLogWriter`, which its `HistogramLogProcessor` and the Rust crate
//!   read and merge). One interval per second of the window (every route, 2 significant digits),
//!   then intervals covering the whole window, tagged `all` and `route:<name>` (3 significant
//!   digits). Values in ns; the max column in ms.
//! - `latency.hgrm`: the percentile distribution table that wrk2 and HdrHistogram print, of
//!   the whole window (values in ms).

use crate::loadgen::record::Recorder;
use anyhow::{Context, Result};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Write `latency.hlog` and `latency.hgrm` into `dir`; `start` is when the window opened and
/// `measured_s` how long it lasted.
pub fn write(dir: &Path, rec: &Recorder, start: SystemTime, measured_s: f64) -> Result<()> {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(
            "spright-bench latencies (ns): one interval per second, then the whole window tagged all and route:<name>",
        )
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1e6)
        .begin_log_with(&mut buf, &mut serializer)
        .context("begin latency.hlog")?;
    let second = Duration::from_secs(1);
    let err = |e| anyhow::anyhow!("write latency.hlog: {e:?}");
    for (k, s) in rec.seconds.iter().enumerate() {
        log.write_histogram(&s.latency, second * k as u32, second, None).map_err(err)?;
    }
    let window = Duration::from_secs_f64(measured_s.max(0.0));
    log.write_histogram(&rec.overall, Duration::ZERO, window, Tag::new("all")).map_err(err)?;
    for r in &rec.routes {
        let tag = format!("route:{}", r.name);
        log.write_histogram(&r.latency, Duration::ZERO, window, Tag::new(&tag)).map_err(err)?;
    }
    drop(log);
    std::fs::write(dir.join("latency.hlog"), buf).context("write latency.hlog")?;
    std::fs::write(dir.join("latency.hgrm"), percentile_table(&rec.overall)).context("write latency.hgrm")
}

/// HdrHistogram's percentile distribution of `h` (ns values), in ms, five ticks per half
/// distance to 100%.
pub fn percentile_table(h: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = h.highest_equivalent(v.value_iterated_to()) as f64 / 1e6;
        if q < 1.0 {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10} {:14.2}", 1.0 / (1.0 - q));
        } else {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
        }
    }
    let sub_buckets = 1u64 << (2.0 * 10f64.powi(i32::from(h.sigfig()))).log2().ceil() as u32;
    let _ = writeln!(out, "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]", h.mean() / 1e6, h.stdev() / 1e6);
    let _ = writeln!(out, "#[Max     = {:12.3}, Total count    = {:12}]", h.max() as f64 / 1e6, h.len());
    let _ = writeln!(out, "#[Buckets = {:12}, SubBuckets     = {:12}]", h.buckets(), sub_buckets);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::{Deserializer, Serializer};

    /// What makes the serialized form worth keeping: histograms of two runs, written as a run
    /// writes them (V2, deflate) and read back, add up to exactly the histogram of the union of
    /// their samples; percentiles averaged across the runs would not.
    #[test]
    fn merged_serialized_histograms_equal_the_histogram_of_the_union() {
        let a_samples: Vec<u64> = (1..=1000).map(|i| i * 1_000).collect(); // 1-1000 us
        let b_samples: Vec<u64> = (1..=100).map(|i| 5_000_000 + i * 10_000).collect(); // 5-6 ms
        let hist = |v: &[u64]| {
            let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
            v.iter().for_each(|x| h.record(*x).unwrap());
            h
        };
        let round_trip = |h: &Histogram<u64>| -> Histogram<u64> {
            let mut bytes = Vec::new();
            V2DeflateSerializer::new().serialize(h, &mut bytes).unwrap();
            Deserializer::new().deserialize(&mut &bytes[..]).unwrap()
        };
        let mut merged = round_trip(&hist(&a_samples));
        merged.add(round_trip(&hist(&b_samples))).unwrap();
        let union = hist(&[a_samples.clone(), b_samples.clone()].concat());
        assert_eq!(merged.len(), 1100);
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            assert_eq!(merged.value_at_quantile(q), union.value_at_quantile(q), "q {q}");
        }
        assert!(merged == union, "bucket for bucket");
        // p99 of the union is in b's range (the 1,089th of 1,100 samples); the mean of the two
        // runs' p99s is not what the union says.
        let p99 = |h: &Histogram<u64>| h.value_at_quantile(0.99);
        assert!(union.value_at_quantile(0.99) > 5_000_000);
        assert_ne!((p99(&hist(&a_samples)) + p99(&hist(&b_samples))) / 2, p99(&union));
    }
}
