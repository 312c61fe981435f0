//! The shipped motion trace has the properties the paper's experiment needs (issue 11), checked
//! from the file itself: a diurnal profile between 0 and ~300 events an hour, bursts, and idle
//! gaps longer than the 30 s scale-to-zero grace period.

use workloads::trace::{validate, TraceReader, TraceSpec, TraceUnit};

#[test]
fn the_generated_motion_trace_is_a_bursty_mostly_idle_day() {
    let spec = TraceSpec {
        file: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/motion-day.txt"),
        unit: TraceUnit::Seconds,
        time_scale: 1.0,
    };
    let stats = validate(&spec).unwrap();
    let mut r = TraceReader::open(&spec).unwrap();
    let times: Vec<f64> = std::iter::from_fn(|| r.next_ns().unwrap()).map(|ns| ns as f64 / 1e9).collect();
    assert_eq!(times.len() as u64, stats.events);
    assert!(stats.span_s > 23.0 * 3600.0 && stats.span_s <= 24.0 * 3600.0, "one day: {}", stats.span_s);
    let mut per_hour = [0u32; 24];
    for t in &times {
        per_hour[((t / 3600.0) as usize).min(23)] += 1;
    }
    assert!(per_hour.iter().all(|&n| n <= 320), "at most ~300 an hour: {per_hour:?}");
    assert!(per_hour.iter().filter(|&&n| n <= 5).count() >= 4, "quiet night hours: {per_hour:?}");
    assert!(per_hour.iter().any(|&n| n >= 150), "busy hours: {per_hour:?}");
    // Bursts: disjoint windows of 10 s holding 10 or more events.
    let (mut bursts, mut i) = (0, 0);
    while i < times.len() {
        let j = times[i..].iter().take_while(|&&t| t - times[i] <= 10.0).count();
        if j >= 10 {
            bursts += 1;
            i += j;
        } else {
            i += 1;
        }
    }
    assert!(bursts >= 10, "{bursts} bursts");
    let share = stats.gaps_over_30s as f64 / (stats.events - 1) as f64;
    assert!(share >= 0.30, "{share:.2} of gaps exceed 30 s");
}
