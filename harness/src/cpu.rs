//! CPU and memory accounting from procfs: per-process (or per-thread) CPU time and per-process
//! memory sampled at a fixed interval, tagged with the component's role.
//!
//! Memory comes from `smaps_rollup`: RSS, PSS (shared pages split between the processes that map
//! them, so a chain's processes add up without counting a shared library or pool twice) and the
//! hugetlb fields. Hugepage memory (the SPRIGHT pool, DPDK's heap) is in neither RSS nor PSS, so
//! it is reported on its own: otherwise a shared-memory backend would look lighter than it is.
//!
//! Two procfs sources, and the larger of the two is used: utime+stime from `stat` (the whole
//! process, exited threads included, but reported in clock ticks: 10 ms steps, which rounds a
//! function that used 3 ms of CPU down to zero) and the on-CPU nanoseconds of each live thread
//! from `task/<tid>/schedstat` (exact, but blind to threads that have exited). Event-driven
//! dataplanes use microseconds per request, so the tick-sized view alone would report them as
//! free.
//!
//! Why deltas of `/proc/<pid>/stat` rather than pidstat: we know every pid we started, so no
//! matching by process name; the sampling interval is ours; and the load generator is tracked
//! as its own thread (`/proc/self/task/<tid>/stat`) so its CPU is never mixed into the system
//! under test's. System-wide busy time (`/proc/stat`) is sampled too: what is neither ours nor
//! the load generator's is background load, recorded with every run.

use crate::clock::now_ns;
use dataplane_api::Role;
use procfs::FromRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A process, or one thread of a process, to account.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub pid: u32,
    pub tid: Option<u32>,
    pub role: Role,
    pub name: String,
}

impl From<&dataplane_api::Component> for Tracked {
    /// A deployment's component, accounted as a whole process.
    fn from(c: &dataplane_api::Component) -> Self {
        Tracked { pid: c.pid, tid: None, role: c.role, name: c.name.clone() }
    }
}

impl Tracked {
    fn stat_path(&self) -> String {
        match self.tid {
            Some(t) => format!("/proc/{}/task/{t}/stat", self.pid),
            None => format!("/proc/{}/stat", self.pid),
        }
    }
}

/// One sample of one tracked process.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds since the sampler started.
    pub t_s: f64,
    pub name: String,
    pub role: Role,
    pub pid: u32,
    /// %CPU over the interval ending at `t_s` (100 = one core).
    pub cpu_pct: f64,
    /// CPU seconds used since the sampler started.
    pub cpu_s: f64,
    pub alive: bool,
    /// Memory of the process (not sampled for a thread: the load generator's).
    pub mem: Option<Memory>,
}

/// One process's memory from `/proc/<pid>/smaps_rollup`, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub pss_kib: u64,
    /// Hugepages mapped shared (a pool file every process of a chain maps) and private.
    pub hugetlb_shared_kib: u64,
    pub hugetlb_private_kib: u64,
}

/// The fields of a `smaps_rollup` text (`None` if it has no `Rss:` line).
pub fn parse_smaps_rollup(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        text.lines().find_map(|l| l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("Rss:")?,
        pss_kib: field("Pss:").unwrap_or(0),
        hugetlb_shared_kib: field("Shared_Hugetlb:").unwrap_or(0),
        hugetlb_private_kib: field("Private_Hugetlb:").unwrap_or(0),
    })
}

fn read_memory(t: &Tracked) -> Option<Memory> {
    if t.tid.is_some() {
        return None;
    }
    parse_smaps_rollup(&std::fs::read_to_string(format!("/proc/{}/smaps_rollup", t.pid)).ok()?)
}

/// Machine-wide CPU over the run, from `/proc/stat`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemCpu {
    /// Busy core-seconds (everything but idle and iowait) during the sampling.
    pub busy_s: f64,
    pub wall_s: f64,
}

/// utime + stime in clock ticks from the text of a `stat` file.
pub fn cpu_ticks(stat_text: &str) -> Option<u64> {
    let st = procfs::process::Stat::from_read(stat_text.as_bytes()).ok()?;
    Some(st.utime + st.stime)
}

/// Busy and total ticks from the first line of `/proc/stat`.
pub fn system_ticks(proc_stat: &str) -> Option<(u64, u64)> {
    let line = proc_stat.lines().next()?;
    let mut it = line.split_whitespace();
    if it.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = it.filter_map(|x| x.parse().ok()).collect();
    if v.len() < 5 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is already in user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v[4];
    Some((total - idle, total))
}

/// On-CPU nanoseconds from the first field of a `schedstat` file.
pub fn schedstat_ns(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// CPU time of a tracked process or thread in nanoseconds (see the module docs).
fn read_cpu_ns(t: &Tracked, ns_per_tick: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(t.stat_path()).ok().and_then(|s| cpu_ticks(&s))?;
    let threads: u64 = match t.tid {
        Some(tid) => std::fs::read_to_string(format!("/proc/{}/task/{tid}/schedstat", t.pid))
            .ok()
            .and_then(|s| schedstat_ns(&s))
            .unwrap_or(0),
        None => std::fs::read_dir(format!("/proc/{}/task", t.pid))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
                    .filter_map(|s| schedstat_ns(&s))
                    .sum()
            })
            .unwrap_or(0),
    };
    Some(threads.max(stat * ns_per_tick))
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    add: std::sync::mpsc::Sender<Tracked>,
    handle: std::thread::JoinHandle<(Vec<Sample>, SystemCpu)>,
}

impl Sampler {
    pub fn start(tracked: Vec<Tracked>, interval: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (add, added) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("cpu-sampler".into())
            .spawn(move || sample_loop(tracked, &added, interval, &flag))?;
        Ok(Sampler { stop, add, handle })
    }

    /// Account a process that started after the sampler (a scaled-up instance) from its first
    /// nanosecond of CPU: its start-up is part of what the system spent.
    pub fn track(&self, t: Tracked) {
        let _ = self.add.send(t);
    }

    pub fn finish(self) -> (Vec<Sample>, SystemCpu) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

fn sample_loop(
    mut tracked: Vec<Tracked>,
    added: &std::sync::mpsc::Receiver<Tracked>,
    interval: Duration,
    stop: &AtomicBool,
) -> (Vec<Sample>, SystemCpu) {
    let hz = procfs::ticks_per_second().max(1);
    let ns_per_tick = 1_000_000_000 / hz;
    let read = |t: &Tracked| read_cpu_ns(t, ns_per_tick);
    let start = now_ns();
    let sys = || std::fs::read_to_string("/proc/stat").ok().and_then(|s| system_ticks(&s));
    let sys0 = sys();
    let mut base: Vec<Option<u64>> = tracked.iter().map(read).collect();
    let mut last = base.clone();
    // A process seen gone gets one last sample (its final CPU time), then no more: a run that
    // scales to zero hundreds of times would otherwise write a row per tick for every instance
    // that ever lived.
    let mut gone = vec![false; tracked.len()];
    let mut last_t = start;
    let mut out = Vec::new();
    let mut tick = 0u64;
    loop {
        tick += 1;
        let due = start + tick * interval.as_nanos() as u64;
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping {
            let now = now_ns();
            if due > now {
                std::thread::sleep(Duration::from_nanos((due - now).min(interval.as_nanos() as u64)));
            }
        }
        for t in added.try_iter() {
            base.push(Some(0));
            last.push(Some(0));
            gone.push(false);
            tracked.push(t);
        }
        let now = now_ns();
        let dt = (now - last_t) as f64 / 1e9;
        let t_s = (now - start) as f64 / 1e9;
        for (i, t) in tracked.iter().enumerate() {
            if gone[i] {
                continue;
            }
            let cur = read(t);
            let alive = cur.is_some();
            gone[i] = !alive && last[i].is_some();
            // Never step backwards (a thread that exited takes its schedstat time with it).
            let cur = match (cur, last[i]) {
                (Some(c), Some(l)) => Some(c.max(l)),
                (c, l) => c.or(l),
            };
            let (Some(c), Some(b)) = (cur, base[i]) else {
                continue;
            };
            let prev = last[i].unwrap_or(c);
            out.push(Sample {
                t_s,
                name: t.name.clone(),
                role: t.role,
                pid: t.pid,
                cpu_pct: if dt > 0.0 { (c - prev) as f64 / 1e9 / dt * 100.0 } else { 0.0 },
                cpu_s: (c - b) as f64 / 1e9,
                alive,
                mem: if alive { read_memory(t) } else { None },
            });
            last[i] = Some(c);
        }
        last_t = now;
        if stopping || stop.load(Ordering::Relaxed) {
            let system = match (sys0, sys()) {
                (Some((b0, _)), Some((b1, _))) => SystemCpu { busy_s: (b1 - b0) as f64 / hz as f64, wall_s: t_s },
                _ => SystemCpu::default(),
            };
            return (out, system);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real /proc/<pid>/stat line, with a process name containing spaces and parentheses.
    const STAT: &str = "4242 (sb fn (1)) S 1 4242 4242 0 -1 4194560 1021 0 0 0 1250 340 0 0 20 0 3 0 \
        123456 1234567890 2345 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn parses_utime_plus_stime() {
        assert_eq!(cpu_ticks(STAT), Some(1250 + 340));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn schedstat_first_field_is_on_cpu_ns() {
        assert_eq!(schedstat_ns("92575693 12393993 330\n"), Some(92_575_693));
        assert_eq!(schedstat_ns(""), None);
    }

    #[test]
    fn smaps_rollup_fields() {
        let text =
            "5586-7fff ---p 00000000 00:00 0 [rollup]\nRss:                1728 kB\nPss:                 787 kB\n\
            Pss_Dirty:           112 kB\nShared_Hugetlb:    4096 kB\nPrivate_Hugetlb:   2048 kB\nSwap: 0 kB\n";
        let m = parse_smaps_rollup(text).unwrap();
        assert_eq!(m, Memory { rss_kib: 1728, pss_kib: 787, hugetlb_shared_kib: 4096, hugetlb_private_kib: 2048 });
        assert_eq!(parse_smaps_rollup("nothing"), None);
    }

    #[test]
    fn system_busy_excludes_idle_and_iowait() {
        let text = "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(system_ticks(text), Some((160, 1180)));
        assert_eq!(system_ticks("intr 1 2 3"), None);
    }

    #[test]
    fn samples_own_thread() {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let me = Tracked { pid: std::process::id(), tid: Some(tid), role: Role::LoadGenerator, name: "self".into() };
        let s = Sampler::start(vec![me], Duration::from_millis(20)).unwrap();
        workloads::handler::spin_cpu(150_000_000);
        let (samples, _) = s.finish();
        let last = samples.last().expect("samples were taken");
        assert!(last.alive);
        assert!(last.cpu_s >= 0.1, "spun 150 ms of CPU, sampler saw {} s", last.cpu_s);
    }

    /// A process that exits gets one more sample (not alive, its final CPU time), then none.
    #[test]
    fn an_exited_process_is_sampled_once_more_then_dropped() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read x"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let t = Tracked { pid: child.id(), tid: None, role: Role::Function, name: "child".into() };
        let s = Sampler::start(vec![t], Duration::from_millis(10)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(child.stdin.take());
        child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let (samples, _) = s.finish();
        let alive = samples.iter().filter(|s| s.alive).count();
        let gone: Vec<&Sample> = samples.iter().filter(|s| !s.alive).collect();
        assert!(alive >= 3, "sampled while it lived ({alive})");
        assert_eq!(gone.len(), 1, "one sample after it exited, then none (20 ticks passed)");
        assert!(std::ptr::eq(gone[0], samples.last().unwrap()), "the sample after exit is the last");
    }
}
