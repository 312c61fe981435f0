//! Load profiles and request mixes: how a chain is driven, as data in the chain spec (`[load]`,
//! route `weight` and `payload_bytes`), overridable from the command line ([`LoadOverrides`]).
//!
//! The one load model: its defaults ([`LoadProfile::default`], [`Pattern::default_of`]) and its
//! checks ([`LoadProfile::validate`]) exist here once, for spec files and flags alike; a
//! [`LoadError`] names the parameter as either spells it ([`LoadField`]).

use crate::chain::Chain;
use crate::rng::SplitMix64;
use crate::trace::{TraceSpec, TraceUnit};

#[derive(Debug, Clone, PartialEq)]
pub struct LoadProfile {
    pub pattern: Pattern,
    /// Measured time, after the warm-up.
    pub duration_s: f64,
    /// Time driven before measurement starts; its requests are not recorded.
    pub warmup_s: f64,
    /// Connections the open-loop and burst generators may use at once. When all are busy, due
    /// requests wait in the client and their wait counts as latency.
    pub connections: u32,
    /// A request without a response after this long is counted as a timeout.
    pub timeout_ms: u64,
    /// Seed for arrivals, think times and the route mix.
    pub seed: u64,
}

impl Default for LoadProfile {
    fn default() -> Self {
        LoadProfile {
            pattern: Pattern::default_of("open").expect("a pattern name"),
            duration_s: 10.0,
            warmup_s: 1.0,
            connections: 64,
            timeout_ms: 5000,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Requests arrive on a schedule whatever the system does; latency is measured from each
    /// request's intended send time, so queueing is never hidden (no coordinated omission).
    Open { arrival: Arrival, rate: f64 },
    /// `users` clients each send a request, wait for the response, think, and repeat (the paper's
    /// Locust clients). Latency is from the actual send.
    Closed { users: u32, think_min_ms: u64, think_max_ms: u64 },
    /// `size` requests at once every `every_s` seconds (the parking chain's image uploads).
    Burst { size: u32, every_s: f64 },
    /// Arrivals at the event times of a trace file ([`crate::trace`]), open loop like `Open`.
    Trace(TraceSpec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Constant,
    Poisson,
}

impl Arrival {
    pub fn from_name(name: &str) -> Option<Arrival> {
        match name {
            "constant" => Some(Arrival::Constant),
            "poisson" => Some(Arrival::Poisson),
            _ => None,
        }
    }
}

impl Pattern {
    pub const NAMES: &'static [&'static str] = &["open", "closed", "burst", "trace"];

    /// The pattern called `name` with its default parameters: open loop at 100 req/s (Poisson),
    /// 10 closed-loop users thinking 1-10 s (the paper's Locust users), bursts of 10 every 10 s.
    pub fn default_of(name: &str) -> Option<Pattern> {
        match name {
            "open" => Some(Pattern::Open { arrival: Arrival::Poisson, rate: 100.0 }),
            "closed" => Some(Pattern::Closed { users: 10, think_min_ms: 1000, think_max_ms: 10_000 }),
            "burst" => Some(Pattern::Burst { size: 10, every_s: 10.0 }),
            "trace" => Some(Pattern::Trace(TraceSpec {
                file: std::path::PathBuf::new(),
                unit: TraceUnit::Seconds,
                time_scale: 1.0,
            })),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Pattern::Open { .. } => "open",
            Pattern::Closed { .. } => "closed",
            Pattern::Burst { .. } => "burst",
            Pattern::Trace(_) => "trace",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Pattern::Open { arrival, rate } => {
                format!("open loop, {arrival:?} arrivals at {rate} req/s")
            }
            Pattern::Closed { users, think_min_ms, think_max_ms } => {
                format!("closed loop, {users} users, think {think_min_ms}-{think_max_ms} ms")
            }
            Pattern::Burst { size, every_s } => format!("bursts of {size} every {every_s} s"),
            Pattern::Trace(t) => {
                format!("trace {} (times in {}, x{} time scale)", t.file.display(), t.unit.name(), t.time_scale)
            }
        }
    }
}

/// A load parameter, as a chain spec and the command line name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadField {
    Pattern,
    Arrival,
    Rate,
    Users,
    ThinkMs,
    BurstSize,
    BurstEvery,
    Duration,
    Warmup,
    Connections,
    Timeout,
    Trace,
    TraceUnit,
    TimeScale,
}

impl LoadField {
    /// The key in a chain spec.
    pub fn spec_key(self) -> &'static str {
        match self {
            LoadField::Pattern => "load.pattern",
            LoadField::Arrival => "load.arrival",
            LoadField::Rate => "load.rate",
            LoadField::Users => "load.users",
            LoadField::ThinkMs => "load.think_max_ms",
            LoadField::BurstSize => "load.burst_size",
            LoadField::BurstEvery => "load.burst_every_s",
            LoadField::Duration => "load.duration_s",
            LoadField::Warmup => "load.warmup_s",
            LoadField::Connections => "load.connections",
            LoadField::Timeout => "load.timeout_ms",
            LoadField::Trace => "load.trace",
            LoadField::TraceUnit => "load.trace_unit",
            LoadField::TimeScale => "load.time_scale",
        }
    }

    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            LoadField::Pattern => "--pattern",
            LoadField::Arrival => "--arrival",
            LoadField::Rate => "--rate",
            LoadField::Users => "--users",
            LoadField::ThinkMs => "--think-ms",
            LoadField::BurstSize => "--burst-size",
            LoadField::BurstEvery => "--burst-every",
            LoadField::Duration => "--duration",
            LoadField::Warmup => "--warmup",
            LoadField::Connections => "--connections",
            LoadField::Timeout => "--timeout-ms",
            LoadField::Trace => "--trace",
            LoadField::TraceUnit => "--trace-unit",
            LoadField::TimeScale => "--time-scale",
        }
    }
}

/// A load parameter out of range; shown as `--flag VALUE: problem` (see [`LoadField`] for the
/// spec's spelling).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{flag}{sep}{value}: {problem}", flag = .field.flag(), sep = if .value.is_empty() { "" } else { " " })]
pub struct LoadError {
    pub field: LoadField,
    pub value: String,
    pub problem: String,
}

/// A number as an error shows it: as written for ordinary values, in exponent form for huge or
/// tiny ones (Rust writes 1e308 with all 309 digits).
fn num(x: f64) -> String {
    match x != 0.0 && x.is_finite() && (x.abs() >= 1e15 || x.abs() < 1e-4) {
        true => format!("{x:e}"),
        false => x.to_string(),
    }
}

fn check(ok: bool, field: LoadField, value: impl ToString, problem: &str) -> Result<(), LoadError> {
    if ok {
        Ok(())
    } else {
        Err(LoadError { field, value: value.to_string(), problem: problem.into() })
    }
}

/// The most requests per second a profile may offer. Far above what one machine's HTTP stack
/// carries, and a bound on the work of closing a schedule: requests due but never sent are
/// counted one by one (an unbounded rate left the generator counting for ever).
pub const MAX_RATE: f64 = 10_000_000.0;

/// The longest a measurement, a warm-up, a think time or a request's timeout may last: a week
/// (the paper's longest run, motion's trace, is an hour). Longer times would overflow the
/// generator's nanosecond clock.
pub const MAX_SECONDS: f64 = 604_800.0;

impl LoadProfile {
    /// Every parameter in its range.
    pub fn validate(&self) -> Result<(), LoadError> {
        use LoadField as F;
        match self.pattern {
            Pattern::Open { rate, .. } => check(
                rate > 0.0 && rate <= MAX_RATE,
                F::Rate,
                num(rate),
                &format!("must be > 0 and at most {MAX_RATE} requests per second"),
            )?,
            Pattern::Closed { users, think_min_ms, think_max_ms } => {
                check((1..=100_000).contains(&users), F::Users, users, "must be between 1 and 100000")?;
                check(
                    think_min_ms <= think_max_ms,
                    F::ThinkMs,
                    format!("{think_min_ms}-{think_max_ms}"),
                    "is an empty range",
                )?;
                check(
                    think_max_ms as f64 <= MAX_SECONDS * 1e3,
                    F::ThinkMs,
                    format!("{think_min_ms}-{think_max_ms}"),
                    &format!("must end at most {} ms (a week)", MAX_SECONDS * 1e3),
                )?;
            }
            Pattern::Burst { size, every_s } => {
                check((1..=100_000).contains(&size), F::BurstSize, size, "must be between 1 and 100000")?;
                check(every_s.is_finite() && every_s > 0.0, F::BurstEvery, num(every_s), "must be > 0 seconds")?;
                check(
                    size as f64 / every_s <= MAX_RATE,
                    F::BurstEvery,
                    num(every_s),
                    &format!("bursts of {size} this often offer more than {MAX_RATE} requests per second"),
                )?;
            }
            Pattern::Trace(ref t) => {
                check(!t.file.as_os_str().is_empty(), F::Trace, "", "a trace pattern needs a trace file")?;
                check(
                    t.time_scale.is_finite() && t.time_scale > 0.0,
                    F::TimeScale,
                    num(t.time_scale),
                    "must be > 0 (0.1 replays ten times faster)",
                )?;
            }
        }
        check(
            self.duration_s > 0.0 && self.duration_s <= MAX_SECONDS,
            F::Duration,
            num(self.duration_s),
            &format!("must be > 0 and at most {MAX_SECONDS} seconds (a week)"),
        )?;
        check(
            self.warmup_s >= 0.0 && self.warmup_s <= MAX_SECONDS,
            F::Warmup,
            num(self.warmup_s),
            &format!("must be >= 0 and at most {MAX_SECONDS} seconds (a week)"),
        )?;
        check(
            (1..=10_000).contains(&self.connections),
            F::Connections,
            self.connections,
            "must be between 1 and 10000",
        )?;
        check(
            self.timeout_ms > 0 && self.timeout_ms as f64 <= MAX_SECONDS * 1e3,
            F::Timeout,
            self.timeout_ms,
            &format!("must be > 0 and at most {} ms (a week)", MAX_SECONDS * 1e3),
        )
    }
}

/// Changes to a profile (command-line flags, or a program such as `reproduce`). A parameter of
/// another pattern than the resulting one is an error, not silently ignored.
#[derive(Debug, Clone, Default)]
pub struct LoadOverrides {
    pub pattern: Option<String>,
    pub rate: Option<f64>,
    pub arrival: Option<String>,
    pub users: Option<u32>,
    pub think_min_ms: Option<u64>,
    pub think_max_ms: Option<u64>,
    pub burst_size: Option<u32>,
    pub burst_every_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub warmup_s: Option<f64>,
    pub connections: Option<u32>,
    pub timeout_ms: Option<u64>,
    pub seed: Option<u64>,
    pub trace: Option<std::path::PathBuf>,
    pub trace_unit: Option<String>,
    pub time_scale: Option<f64>,
}

impl LoadOverrides {
    /// Apply to `profile`, with the checks of [`LoadProfile::validate`]; on error `profile` is
    /// unchanged.
    pub fn apply(&self, profile: &mut LoadProfile) -> Result<(), LoadError> {
        use LoadField as F;
        let mut p = profile.clone();
        if let Some(name) = &self.pattern {
            if name != p.pattern.name() {
                p.pattern = Pattern::default_of(name).ok_or_else(|| LoadError {
                    field: F::Pattern,
                    value: name.clone(),
                    problem: format!("is not a pattern; use {}", Pattern::NAMES.join(", ")),
                })?;
            }
        }
        let pattern = p.pattern.name();
        let only = |given: bool, field: LoadField, wants: &str| {
            check(!given || pattern == wants, field, "", &format!("applies only to --pattern {wants}, not {pattern}"))
        };
        only(self.arrival.is_some(), F::Arrival, "open")?;
        only(self.rate.is_some(), F::Rate, "open")?;
        only(self.users.is_some(), F::Users, "closed")?;
        only(self.think_min_ms.or(self.think_max_ms).is_some(), F::ThinkMs, "closed")?;
        only(self.burst_size.is_some(), F::BurstSize, "burst")?;
        only(self.burst_every_s.is_some(), F::BurstEvery, "burst")?;
        only(self.trace.is_some(), F::Trace, "trace")?;
        only(self.trace_unit.is_some(), F::TraceUnit, "trace")?;
        only(self.time_scale.is_some(), F::TimeScale, "trace")?;
        match &mut p.pattern {
            Pattern::Open { arrival, rate } => {
                if let Some(a) = &self.arrival {
                    *arrival = Arrival::from_name(a).ok_or_else(|| LoadError {
                        field: F::Arrival,
                        value: a.clone(),
                        problem: "is not an arrival process; use constant or poisson".into(),
                    })?;
                }
                *rate = self.rate.unwrap_or(*rate);
            }
            Pattern::Closed { users, think_min_ms, think_max_ms } => {
                *users = self.users.unwrap_or(*users);
                *think_min_ms = self.think_min_ms.unwrap_or(*think_min_ms);
                *think_max_ms = self.think_max_ms.unwrap_or(*think_max_ms);
            }
            Pattern::Burst { size, every_s } => {
                *size = self.burst_size.unwrap_or(*size);
                *every_s = self.burst_every_s.unwrap_or(*every_s);
            }
            Pattern::Trace(t) => {
                if let Some(f) = &self.trace {
                    t.file = f.clone();
                }
                if let Some(u) = &self.trace_unit {
                    t.unit = TraceUnit::from_name(u).ok_or_else(|| LoadError {
                        field: F::TraceUnit,
                        value: u.clone(),
                        problem: "is not a time unit; use s or ms".into(),
                    })?;
                }
                t.time_scale = self.time_scale.unwrap_or(t.time_scale);
            }
        }
        p.duration_s = self.duration_s.unwrap_or(p.duration_s);
        p.warmup_s = self.warmup_s.unwrap_or(p.warmup_s);
        p.connections = self.connections.unwrap_or(p.connections);
        p.timeout_ms = self.timeout_ms.unwrap_or(p.timeout_ms);
        p.seed = self.seed.unwrap_or(p.seed);
        p.validate()?;
        *profile = p;
        Ok(())
    }
}

/// Picks routes according to their weights.
#[derive(Debug, Clone)]
pub struct Mix {
    /// (route id, cumulative weight), last entry's weight is the total.
    cumulative: Vec<(u16, f64)>,
}

impl Mix {
    pub fn new(chain: &Chain) -> Self {
        let mut acc = 0.0;
        let cumulative = chain
            .routes
            .iter()
            .filter(|r| r.weight > 0.0)
            .map(|r| {
                acc += r.weight;
                (r.id, acc)
            })
            .collect();
        Mix { cumulative }
    }

    pub fn pick(&self, rng: &mut SplitMix64) -> u16 {
        let total = self.cumulative.last().map(|c| c.1).unwrap_or(0.0);
        let x = rng.next_f64() * total;
        self.cumulative.iter().find(|c| x < c.1).or(self.cumulative.last()).map(|c| c.0).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each route's share of many picks is its weight's share of the total (issue 12).
    #[test]
    fn the_mix_follows_the_weights() {
        let spec = "name = \"m\"\n[[functions]]\nid = 1\nname = \"f\"\nhandler = \"synthetic\"\n\
            [[routes]]\nname = \"a\"\nkind = \"pipeline\"\nfunctions = [\"f\"]\nweight = 1\n\
            [[routes]]\nname = \"b\"\nkind = \"pipeline\"\nfunctions = [\"f\"]\nweight = 3\n\
            [[routes]]\nname = \"never\"\nkind = \"pipeline\"\nfunctions = [\"f\"]\nweight = 0\n\
            [[routes]]\nname = \"c\"\nkind = \"pipeline\"\nfunctions = [\"f\"]\nweight = 6\n";
        let chain = crate::parse_chain(spec, std::path::Path::new("m.toml")).unwrap();
        let mix = Mix::new(&chain);
        let mut rng = SplitMix64::new(42);
        let n = 100_000;
        let mut counts = [0u32; 5];
        for _ in 0..n {
            counts[mix.pick(&mut rng) as usize] += 1;
        }
        // Route ids are 1-based: a = 1 (10%), b = 2 (30%), never = 3 (0%), c = 4 (60%).
        for (id, share) in [(1, 0.1), (2, 0.3), (3, 0.0), (4, 0.6)] {
            let got = counts[id] as f64 / n as f64;
            assert!((got - share).abs() < 0.01, "route {id}: {got:.3} of the picks, weight says {share}");
        }
    }

    #[test]
    fn overrides_switch_patterns_with_their_defaults_and_check_ranges() {
        let mut p = LoadProfile::default();
        LoadOverrides { pattern: Some("closed".into()), users: Some(5), ..Default::default() }.apply(&mut p).unwrap();
        assert_eq!(p.pattern, Pattern::Closed { users: 5, think_min_ms: 1000, think_max_ms: 10_000 });
        let before = p.clone();
        let e = LoadOverrides { rate: Some(10.0), ..Default::default() }.apply(&mut p).unwrap_err();
        assert_eq!(e.to_string(), "--rate: applies only to --pattern open, not closed");
        assert_eq!(p, before, "a failed override changes nothing");
        let e = LoadOverrides { think_min_ms: Some(9), think_max_ms: Some(1), ..Default::default() }
            .apply(&mut p)
            .unwrap_err();
        assert_eq!(e.to_string(), "--think-ms 9-1: is an empty range");
        let e = LoadOverrides { pattern: Some("wave".into()), ..Default::default() }.apply(&mut p).unwrap_err();
        assert_eq!(e.to_string(), "--pattern wave: is not a pattern; use open, closed, burst, trace");
        let e = LoadOverrides { pattern: Some("open".into()), rate: Some(-5.0), ..Default::default() }
            .apply(&mut p)
            .unwrap_err();
        assert_eq!(
            (e.field.spec_key(), e.to_string().as_str()),
            ("load.rate", "--rate -5: must be > 0 and at most 10000000 requests per second")
        );
        // Bounds the generator's work and its clock (an unbounded rate hung it).
        let open = |rate| LoadOverrides { pattern: Some("open".into()), rate: Some(rate), ..Default::default() };
        for rate in [f64::NAN, f64::INFINITY, 1e308, 10_000_001.0] {
            assert_eq!(open(rate).apply(&mut p).unwrap_err().field, LoadField::Rate, "{rate}");
        }
        let e = open(1e308).apply(&mut p).unwrap_err();
        assert_eq!(e.to_string(), "--rate 1e308: must be > 0 and at most 10000000 requests per second");
        open(10_000_000.0).apply(&mut p).unwrap();
        let e = LoadOverrides {
            burst_size: Some(100),
            burst_every_s: Some(1e-6),
            pattern: Some("burst".into()),
            ..Default::default()
        }
        .apply(&mut p)
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--burst-every 1e-6: bursts of 100 this often offer more than 10000000 requests per second"
        );
        let think = LoadOverrides {
            pattern: Some("closed".into()),
            think_min_ms: Some(0),
            think_max_ms: Some(604_800_001),
            ..Default::default()
        };
        assert_eq!(
            think.apply(&mut p).unwrap_err().to_string(),
            "--think-ms 0-604800001: must end at most 604800000 ms (a week)"
        );
        let e = LoadOverrides { timeout_ms: Some(604_800_001), ..Default::default() }.apply(&mut p).unwrap_err();
        assert_eq!(e.to_string(), "--timeout-ms 604800001: must be > 0 and at most 604800000 ms (a week)");
        for (d, w) in [(604_801.0, 0.0), (f64::NAN, 0.0), (1.0, 604_801.0), (1.0, f64::INFINITY)] {
            let e = LoadOverrides { duration_s: Some(d), warmup_s: Some(w), ..Default::default() }
                .apply(&mut p)
                .unwrap_err();
            assert!(matches!(e.field, LoadField::Duration | LoadField::Warmup), "{d} {w}: {e}");
        }
        let e = LoadOverrides { duration_s: Some(0.0), ..Default::default() }.apply(&mut p).unwrap_err();
        assert_eq!(e.field, LoadField::Duration);
    }
}
