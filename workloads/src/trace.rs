//! Trace replay: an open-loop arrival pattern read from a file of event times.
//!
//! A trace file has one event time per line (seconds or milliseconds, as the spec or flag says;
//! `#` lines and blank lines are skipped). Times must not decrease. Arrivals are replayed
//! relative to the first event (the paper replays the gaps between a motion trace's event
//! start times), each multiplied by `time_scale` (0.1 replays ten times faster).
//!
//! Files may be huge or hostile: they are read as a stream, a line at a time, each line at most
//! [`MAX_LINE`] bytes, both when validated ([`validate`], before load starts) and when
//! replayed ([`TraceReader`]); nothing is ever loaded whole.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Longest line accepted (a number with room for spaces and a comment).
pub const MAX_LINE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceUnit {
    Seconds,
    Millis,
}

impl TraceUnit {
    pub fn from_name(s: &str) -> Option<TraceUnit> {
        match s {
            "s" => Some(TraceUnit::Seconds),
            "ms" => Some(TraceUnit::Millis),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TraceUnit::Seconds => "s",
            TraceUnit::Millis => "ms",
        }
    }

    fn ns(self) -> f64 {
        match self {
            TraceUnit::Seconds => 1e9,
            TraceUnit::Millis => 1e6,
        }
    }
}

/// Which trace, in which unit, at which speed.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpec {
    pub file: PathBuf,
    pub unit: TraceUnit,
    /// Every time (relative to the first event) is multiplied by this.
    pub time_scale: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{}: cannot read trace: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}: {problem}", file.display())]
    Line { file: PathBuf, line: u64, problem: String },
    #[error("{}: no event times (only blank or # lines)", file.display())]
    Empty { file: PathBuf },
}

/// What a validated trace holds, in replayed (scaled) seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceStats {
    pub events: u64,
    /// From the first event to the last.
    pub span_s: f64,
    pub longest_gap_s: f64,
    /// Gaps between consecutive events longer than 30 s (Knative's default scale-to-zero grace
    /// period), scaled: how often a function may have gone cold.
    pub gaps_over_30s: u64,
}

/// Reads event times one line at a time.
pub struct TraceReader {
    file: PathBuf,
    input: BufReader<Box<dyn Read + Send>>,
    line: u64,
    buf: Vec<u8>,
    first: Option<f64>,
    last: f64,
    unit_ns: f64,
    scale: f64,
}

impl TraceReader {
    pub fn open(spec: &TraceSpec) -> Result<Self, TraceError> {
        let f =
            std::fs::File::open(&spec.file).map_err(|source| TraceError::Read { file: spec.file.clone(), source })?;
        Ok(Self::from_reader(&spec.file, Box::new(f), spec.unit, spec.time_scale))
    }

    pub fn from_reader(file: &Path, input: Box<dyn Read + Send>, unit: TraceUnit, time_scale: f64) -> Self {
        TraceReader {
            file: file.to_path_buf(),
            input: BufReader::new(input),
            line: 0,
            buf: Vec::with_capacity(MAX_LINE + 1),
            first: None,
            last: f64::NEG_INFINITY,
            unit_ns: unit.ns(),
            scale: time_scale,
        }
    }

    fn bad<T>(&self, problem: impl Into<String>) -> Result<T, TraceError> {
        Err(TraceError::Line { file: self.file.clone(), line: self.line, problem: problem.into() })
    }

    /// The next event's replay time in ns after the first event's, or `None` at the end.
    pub fn next_ns(&mut self) -> Result<Option<u64>, TraceError> {
        loop {
            self.buf.clear();
            let n = (&mut self.input)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| TraceError::Read { file: self.file.clone(), source })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if self.buf.len() > MAX_LINE {
                return self.bad(format!("line longer than {MAX_LINE} bytes"));
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else { return self.bad("not text") };
            let text = text.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let Ok(t) = text.parse::<f64>() else { return self.bad(format!("{text:?} is not a number")) };
            if !t.is_finite() || t < 0.0 {
                return self.bad(format!("{text} must be a finite time >= 0"));
            }
            if t < self.last {
                return self
                    .bad(format!("{text} is earlier than the line before ({}): times must not decrease", self.last));
            }
            self.last = t;
            let first = *self.first.get_or_insert(t);
            let ns = (t - first) * self.unit_ns * self.scale;
            if ns > 3.15e18 {
                return self.bad(format!("{text} is more than a century after the first event"));
            }
            return Ok(Some(ns as u64));
        }
    }
}

/// Read the whole trace once, as a stream, and check every line; the events it holds.
pub fn validate(spec: &TraceSpec) -> Result<TraceStats, TraceError> {
    let mut r = TraceReader::open(spec)?;
    let mut stats = TraceStats { events: 0, span_s: 0.0, longest_gap_s: 0.0, gaps_over_30s: 0 };
    let mut prev: Option<u64> = None;
    while let Some(t) = r.next_ns()? {
        if let Some(p) = prev {
            let gap = (t - p) as f64 / 1e9;
            stats.longest_gap_s = stats.longest_gap_s.max(gap);
            stats.gaps_over_30s += (gap > 30.0) as u64;
        }
        stats.events += 1;
        stats.span_s = t as f64 / 1e9;
        prev = Some(t);
    }
    if stats.events == 0 {
        return Err(TraceError::Empty { file: spec.file.clone() });
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, unit: TraceUnit, scale: f64) -> Result<Vec<u64>, TraceError> {
        let mut r =
            TraceReader::from_reader(Path::new("t.txt"), Box::new(std::io::Cursor::new(text.to_string())), unit, scale);
        std::iter::from_fn(|| r.next_ns().transpose()).collect()
    }

    fn line_error(text: &str) -> (u64, String) {
        match read(text, TraceUnit::Seconds, 1.0) {
            Err(TraceError::Line { line, problem, .. }) => (line, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn times_are_relative_to_the_first_event_and_scaled() {
        assert_eq!(
            read("# c\n10\n\n10.5\n12\n", TraceUnit::Seconds, 1.0).unwrap(),
            vec![0, 500_000_000, 2_000_000_000]
        );
        assert_eq!(read("1000\n1250\n", TraceUnit::Millis, 0.1).unwrap(), vec![0, 25_000_000]);
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(line_error("1\n3\n2\n").0, 3);
        assert!(line_error("1\n3\n2\n").1.contains("must not decrease"));
        assert_eq!(line_error("-1\n").0, 1);
        assert!(line_error("1\nabc\n").1.contains("not a number"));
        assert_eq!(line_error("1\nabc\n").0, 2);
        assert!(line_error("inf\n").1.contains("finite"));
        assert!(line_error(&format!("1\n{}\n", "7".repeat(1000))).1.contains("longer than"));
        assert!(line_error("0\n1e300\n").1.contains("century"));
    }

    #[test]
    fn an_empty_trace_is_an_error() {
        let file = std::env::temp_dir().join(format!("sb-trace-empty-{}", std::process::id()));
        std::fs::write(&file, "# nothing\n\n").unwrap();
        let spec = TraceSpec { file: file.clone(), unit: TraceUnit::Seconds, time_scale: 1.0 };
        assert!(matches!(validate(&spec), Err(TraceError::Empty { .. })));
        std::fs::write(&file, "0\n40\n41\n").unwrap();
        let s = validate(&spec).unwrap();
        assert_eq!((s.events, s.gaps_over_30s), (3, 1));
        assert_eq!((s.span_s, s.longest_gap_s), (41.0, 40.0));
        std::fs::remove_file(&file).unwrap();
    }
}
