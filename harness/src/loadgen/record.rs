//! Latency and outcome recording: HdrHistograms per route and overall, per-second series, and
//! an error count per kind. A failed request is a counted outcome, never a crash.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// A latency histogram: nanoseconds from 100 ns, at `sigfig` significant digits, sized for 10
/// minutes and growing past them (HdrHistogram's auto-resize), so that no latency is clamped:
/// an open-loop request that waited in a saturated run's queue, or a long `--timeout-ms`,
/// shows as long as it was. Histograms of different sizes merge.
pub fn hist(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(100, 600_000_000_000, sigfig).expect("static histogram bounds are valid");
    h.auto(true);
    h
}

/// A latency as recorded: at least the histograms' 100 ns resolution.
pub fn latency_ns(origin_ns: u64, done_ns: u64) -> u64 {
    done_ns.saturating_sub(origin_ns).max(100)
}

/// Record `ns` in `h` (made by [`hist`]), growing it where needed. (HdrHistogram's
/// `saturating_record` clamps even where the histogram could grow; growing fails only where
/// its counts would not fit a `usize`, never on 64 bits, and there it clamps.)
pub fn put(h: &mut Histogram<u64>, ns: u64) {
    if h.record(ns).is_err() {
        h.saturating_record(ns);
    }
}

#[derive(Clone)]
pub struct RouteStats {
    pub id: u16,
    pub name: String,
    pub ok: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
    /// Response body bytes of the successful requests.
    pub bytes: u64,
    /// Failed requests by kind (the run's [`Recorder::errors`], for this route).
    pub error_kinds: BTreeMap<String, u64>,
}

/// One second of the measurement window (by completion time).
#[derive(Clone)]
pub struct Second {
    pub ok: u64,
    pub errors: u64,
    /// Closed loop: users started so far (the spawn ramp, then the plateau); open loop:
    /// connections busy with a request. The most seen during the second.
    pub users: u32,
    /// 2 significant digits: enough for a time series, small enough for long runs.
    pub latency: Histogram<u64>,
}

/// One measured request, for the per-request log ([`Recorder::log`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Its intended send time (open loop) or actual send time (closed loop), monotonic ns.
    pub origin_ns: u64,
    pub done_ns: u64,
    /// Index into [`Recorder::routes`].
    pub route: u16,
    pub ok: bool,
}

/// Most requests the per-request log keeps (24 bytes each: 48 MiB); later ones are counted in
/// the histograms only and the log says it was cut.
pub const LOG_CAP: usize = 2_000_000;

#[derive(Clone)]
pub struct Recorder {
    /// Start of the measurement window (end of warm-up), ns on the monotonic clock.
    pub measure_start_ns: u64,
    pub routes: Vec<RouteStats>,
    pub overall: Histogram<u64>,
    pub seconds: Vec<Second>,
    /// Error kind -> count (e.g. `http 502`, `timeout`, `connect: Connection refused`).
    pub errors: BTreeMap<String, u64>,
    /// Requests sent during warm-up (not recorded).
    pub warmup_requests: u64,
    /// How late the generator put each request on the wire relative to its intended time
    /// (timer wake-up, waiting for a free connection). Part of every open-loop latency; shown
    /// separately so a slow client is never mistaken for a slow server.
    pub send_lag: Histogram<u64>,
    /// Successful responses that arrived inside the measurement window, whenever they were
    /// due: the generator's raw delivered rate, which is what a capacity comparison with a
    /// closed-loop tool like wrk needs when the open-loop schedule is beyond reach.
    pub completed_in_window: u64,
    pub measure_end_ns: u64,
    /// Every measured request in completion order, up to [`LOG_CAP`]: what matching requests
    /// to cold starts and drawing each request over time need.
    pub log: Vec<Logged>,
    /// Requests measured beyond [`LOG_CAP`] (not in the log).
    pub log_dropped: u64,
}

impl Recorder {
    pub fn new(routes: &[(u16, String)], measure_start_ns: u64, measure_end_ns: u64) -> Self {
        Recorder {
            measure_start_ns,
            routes: routes
                .iter()
                .map(|(id, name)| RouteStats {
                    id: *id,
                    name: name.clone(),
                    ok: 0,
                    errors: 0,
                    latency: hist(3),
                    bytes: 0,
                    error_kinds: BTreeMap::new(),
                })
                .collect(),
            overall: hist(3),
            seconds: Vec::new(),
            errors: BTreeMap::new(),
            warmup_requests: 0,
            send_lag: hist(2),
            completed_in_window: 0,
            measure_end_ns,
            log: Vec::new(),
            log_dropped: 0,
        }
    }

    fn second(&mut self, done_ns: u64) -> &mut Second {
        let s = (done_ns.saturating_sub(self.measure_start_ns) / 1_000_000_000) as usize;
        while self.seconds.len() <= s {
            self.seconds.push(Second { ok: 0, errors: 0, users: 0, latency: hist(2) });
        }
        &mut self.seconds[s]
    }

    /// A successful request on route index `route`, which should have been sent at `origin_ns`
    /// (open loop: its intended send time) and completed at `done_ns` with `body_len` bytes.
    pub fn ok(&mut self, route: usize, origin_ns: u64, done_ns: u64, body_len: usize) {
        if (self.measure_start_ns..self.measure_end_ns).contains(&done_ns) {
            self.completed_in_window += 1;
        }
        if origin_ns < self.measure_start_ns {
            self.warmup_requests += 1;
            return;
        }
        self.note(route, origin_ns, done_ns, true);
        let lat = latency_ns(origin_ns, done_ns);
        let r = &mut self.routes[route];
        r.ok += 1;
        r.bytes += body_len as u64;
        put(&mut r.latency, lat);
        put(&mut self.overall, lat);
        let s = self.second(done_ns);
        s.ok += 1;
        put(&mut s.latency, lat);
    }

    pub fn error(&mut self, route: usize, origin_ns: u64, done_ns: u64, kind: impl Into<String>) {
        if origin_ns < self.measure_start_ns {
            self.warmup_requests += 1;
            return;
        }
        self.note(route, origin_ns, done_ns, false);
        let kind = kind.into();
        let r = &mut self.routes[route];
        r.errors += 1;
        *r.error_kinds.entry(kind.clone()).or_default() += 1;
        *self.errors.entry(kind).or_default() += 1;
        self.second(done_ns).errors += 1;
    }

    fn note(&mut self, route: usize, origin_ns: u64, done_ns: u64, ok: bool) {
        if self.log.len() < LOG_CAP {
            self.log.push(Logged { origin_ns, done_ns, route: route as u16, ok });
        } else {
            self.log_dropped += 1;
        }
    }

    /// `n` users are active at `now_ns` (see [`Second::users`]); not recorded during warm-up.
    pub fn users(&mut self, now_ns: u64, n: u32) {
        if (self.measure_start_ns..self.measure_end_ns).contains(&now_ns) {
            let s = self.second(now_ns);
            s.users = s.users.max(n);
        }
    }

    pub fn sent(&mut self, origin_ns: u64, now_ns: u64) {
        if origin_ns >= self.measure_start_ns {
            put(&mut self.send_lag, latency_ns(origin_ns, now_ns));
        }
    }

    /// Add another generator thread's recording of the same window: counts add, histograms
    /// merge exactly (HdrHistogram addition, never averaged percentiles), per-second rows merge
    /// by second, logs interleave by completion time.
    pub fn merge(&mut self, o: Recorder) {
        for (r, x) in self.routes.iter_mut().zip(o.routes) {
            r.ok += x.ok;
            r.errors += x.errors;
            r.bytes += x.bytes;
            r.latency.add(&x.latency).expect("auto-resizing histograms merge");
            for (k, v) in x.error_kinds {
                *r.error_kinds.entry(k).or_default() += v;
            }
        }
        self.overall.add(&o.overall).expect("auto-resizing histograms merge");
        for (i, s) in o.seconds.into_iter().enumerate() {
            if self.seconds.len() <= i {
                self.seconds.push(Second { ok: 0, errors: 0, users: 0, latency: hist(2) });
            }
            let m = &mut self.seconds[i];
            (m.ok, m.errors, m.users) = (m.ok + s.ok, m.errors + s.errors, m.users + s.users);
            m.latency.add(&s.latency).expect("auto-resizing histograms merge");
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.warmup_requests += o.warmup_requests;
        self.send_lag.add(&o.send_lag).expect("auto-resizing histograms merge");
        self.completed_in_window += o.completed_in_window;
        self.log.extend(o.log);
        self.log.sort_by_key(|l| l.done_ns);
        self.log_dropped += o.log_dropped;
    }

    pub fn ok_total(&self) -> u64 {
        self.routes.iter().map(|r| r.ok).sum()
    }

    pub fn error_total(&self) -> u64 {
        self.routes.iter().map(|r| r.errors).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_from_origin_and_warmup_is_excluded() {
        let mut r = Recorder::new(&[(1, "a".into())], 1_000_000_000, 3_000_000_000);
        r.ok(0, 500_000_000, 1_100_000_000, 5); // warm-up: not recorded
        r.ok(0, 1_000_000_000, 1_000_050_000, 5); // 50 us
        r.ok(0, 1_000_000_000, 1_300_000_000, 7); // intended long ago: 300 ms, counted in full
        r.error(0, 2_000_000_000, 2_500_000_000, "timeout");
        assert_eq!(r.warmup_requests, 1);
        assert_eq!(r.completed_in_window, 3, "the warm-up request completed inside the window");
        assert_eq!(r.ok_total(), 2);
        assert_eq!(r.error_total(), 1);
        assert_eq!(r.errors["timeout"], 1);
        assert_eq!((r.routes[0].bytes, r.routes[0].error_kinds["timeout"]), (12, 1), "warm-up bytes not counted");
        assert!(r.overall.equivalent(r.overall.max(), 300_000_000));
        assert!(r.overall.equivalent(r.overall.min(), 50_000));
        assert_eq!(r.seconds.len(), 2);
        assert_eq!(r.seconds[0].ok, 2);
        assert_eq!(r.seconds[1].errors, 1);
        let logged: Vec<(u64, bool)> = r.log.iter().map(|l| (l.done_ns, l.ok)).collect();
        assert_eq!(
            logged,
            [(1_000_050_000, true), (1_300_000_000, true), (2_500_000_000, false)],
            "warm-up not logged"
        );
    }

    /// A latency past the histograms' initial 10 minutes (an open-loop request that waited in
    /// a saturated run's queue, or a long --timeout-ms) is recorded as it is, not clamped, and
    /// a thread's recording that holds one merges into another's.
    #[test]
    fn latencies_past_ten_minutes_are_recorded_as_they_are() {
        let hour = 3_600_000_000_000u64;
        let (start, end) = (1_000_000_000, 2 * hour);
        let (mut short, mut long) =
            (Recorder::new(&[(1, "a".into())], start, end), Recorder::new(&[(1, "a".into())], start, end));
        short.ok(0, start, start + 50_000, 1);
        long.ok(0, start, start + hour, 1);
        long.sent(start, start + hour / 2);
        for h in [&long.overall, &long.routes[0].latency, &long.seconds[3600].latency] {
            assert!(h.equivalent(h.max(), hour), "max {} ns, not an hour", h.max());
        }
        assert!(long.send_lag.equivalent(long.send_lag.max(), hour / 2));
        short.merge(long);
        assert_eq!(short.overall.len(), 2);
        assert!(short.overall.equivalent(short.overall.max(), hour));
        assert!(short.seconds[3600].latency.equivalent(short.seconds[3600].latency.max(), hour));
    }

    /// Two threads' recordings merged equal one recording of all their requests.
    #[test]
    fn merged_recorders_equal_one_recording_of_everything() {
        let (start, end) = (1_000_000_000, 4_000_000_000);
        let routes = [(1, "a".to_string()), (2, "b".to_string())];
        let (mut one, mut two, mut both) = (
            Recorder::new(&routes, start, end),
            Recorder::new(&routes, start, end),
            Recorder::new(&routes, start, end),
        );
        let mut x = 12345u64;
        for i in 0..5000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let origin = start + (x >> 40) % 2_500_000_000;
            let done = origin + 10_000 + (x >> 20) % 50_000_000;
            let route = (i % 2) as usize;
            for r in [if i % 3 == 0 { &mut one } else { &mut two }, &mut both] {
                if i % 97 == 0 {
                    r.error(route, origin, done, "timeout");
                } else {
                    r.ok(route, origin, done, 10);
                }
                r.sent(origin, origin + (x >> 50));
            }
        }
        one.merge(two);
        assert_eq!(one.overall, both.overall, "the merged histogram is the histogram of all samples");
        assert_eq!(one.send_lag, both.send_lag);
        for (m, b) in one.routes.iter().zip(&both.routes) {
            assert_eq!(
                (m.ok, m.errors, m.bytes, &m.latency, &m.error_kinds),
                (b.ok, b.errors, b.bytes, &b.latency, &b.error_kinds)
            );
        }
        assert_eq!(one.seconds.len(), both.seconds.len());
        for (m, b) in one.seconds.iter().zip(&both.seconds) {
            assert_eq!((m.ok, m.errors, &m.latency), (b.ok, b.errors, &b.latency));
        }
        assert_eq!((one.errors.clone(), one.completed_in_window), (both.errors.clone(), both.completed_in_window));
        let key = |l: &Logged| (l.done_ns, l.origin_ns, l.route, l.ok);
        assert!(one.log.windows(2).all(|w| w[0].done_ns <= w[1].done_ns), "in completion order");
        let (mut merged, mut all) = (one.log.clone(), both.log.clone());
        merged.sort_by_key(key);
        all.sort_by_key(key);
        assert_eq!(merged, all);
    }
}
