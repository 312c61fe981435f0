//! Where each process runs: the placement policy, an experiment knob for every backend alike.
//!
//! Why: on a small machine the wake-ups between processes on different cores dominate latency,
//! and the paper pinned its gateway and every function to cores of their own. The policy is
//! resolved per process when it starts ([`Placement::cpus`]): the supervisor sets the CPU
//! affinity before `exec`, so every thread the process starts inherits it (DPDK's EAL takes its
//! core list from it too), and the load generator's thread is pinned by the driver.
//!
//! Policies (`--placement`):
//! - `none`: nothing pinned;
//! - `paper`: on 3 or more allowed CPUs, the load generator on the first (a CPU per generator
//!   thread, as long as the functions keep one), the gateway (with the Knative model's ingress
//!   and activator) on the next (the next three where there are 8 or more, as the paper gave its
//!   gateway three cores), function `i` (and its queue-proxy) on the rest round robin; on 2 CPUs
//!   the load generator and gateway share the first and the functions the second; on 1,
//!   everything on it;
//! - `one-core`: everything, load generator included, on the first allowed CPU;
//! - a map, `gateway=0,fn1=1,fn2=2-3,loadgen=0`: keys `loadgen`, `gateway`, `ingress`,
//!   `activator`, `fn<ID>` or a function's name (its queue-proxy follows it), or `functions`
//!   for every function no key of its own names; values a CPU or a range; components not named
//!   are not pinned.

use crate::Role;
use std::fmt;

/// A set of CPU numbers, ascending, without duplicates.
pub type Cpus = Vec<usize>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    None,
    Paper,
    OneCore,
    Map(Vec<(String, Cpus)>),
}

/// A policy resolved against the CPUs this process may use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    pub policy: Policy,
    /// The CPUs the driver may use (its affinity when it started), ascending.
    pub allowed: Cpus,
    /// Threads of the load generator (`paper` gives each a core where there are enough; 0 is
    /// taken as 1).
    pub loadgen_threads: usize,
}

/// What a process is, for placement: its role and, for a function and its sidecar, the
/// function's id and name.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub role: Role,
    pub function: Option<(u16, &'a str)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("--placement {0:?}: expected none, paper, one-core or a map such as gateway=0,fn1=1,loadgen=0")]
    Syntax(String),
    #[error("--placement: CPU {cpu} (for {key}) is not one this process may use (allowed: {allowed})")]
    NotAllowed { key: String, cpu: usize, allowed: String },
    #[error("--placement: no component {key:?} in chain {chain} (keys: loadgen, gateway, ingress, activator, functions, fn<ID> or a function name: {names})")]
    UnknownComponent { key: String, chain: String, names: String },
}

/// `0-3,5` for a CPU set.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if j == i { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// Parse a CPU list as procfs and [`cpu_list`] write it (`0-2,5`); `None` if malformed.
pub fn parse_cpu_list(list: &str) -> Option<Cpus> {
    let mut out: Cpus = Vec::new();
    for part in list.trim().split(',') {
        out.extend(parse_cpus(part)?);
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Parse `N` or `A-B`.
fn parse_cpus(v: &str) -> Option<Cpus> {
    match v.split_once('-') {
        None => v.trim().parse().ok().map(|c| vec![c]),
        Some((a, b)) => {
            let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then(|| (a..=b).collect())
        }
    }
}

impl Placement {
    /// Parse a policy and check a map's CPUs against `allowed`.
    pub fn parse(text: &str, allowed: Cpus) -> Result<Placement, PlacementError> {
        let policy = match text.trim() {
            "none" => Policy::None,
            "paper" => Policy::Paper,
            "one-core" => Policy::OneCore,
            map => {
                let mut entries = Vec::new();
                for part in map.split(',') {
                    let (k, v) = part.split_once('=').ok_or_else(|| PlacementError::Syntax(text.into()))?;
                    let k = k.trim();
                    let cpus =
                        parse_cpus(v).filter(|_| !k.is_empty()).ok_or_else(|| PlacementError::Syntax(text.into()))?;
                    if let Some(&cpu) = cpus.iter().find(|c| !allowed.contains(c)) {
                        return Err(PlacementError::NotAllowed { key: k.into(), cpu, allowed: cpu_list(&allowed) });
                    }
                    entries.push((k.to_string(), cpus));
                }
                Policy::Map(entries)
            }
        };
        Ok(Placement { policy, allowed, loadgen_threads: 1 })
    }

    /// The same policy for a load generator of `threads` threads.
    pub fn with_loadgen_threads(self, threads: usize) -> Placement {
        Placement { loadgen_threads: threads, ..self }
    }

    /// The CPUs this process may use now.
    pub fn allowed_here() -> Cpus {
        // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } == 0;
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        match ok {
            true => (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect(),
            false => (0..n).collect(),
        }
    }

    /// Every map key names something in a chain with `functions` ((id, name) pairs).
    pub fn check_names(&self, chain: &str, functions: &[(u16, String)]) -> Result<(), PlacementError> {
        let Policy::Map(entries) = &self.policy else { return Ok(()) };
        for (k, _) in entries {
            let known = ["loadgen", "gateway", "ingress", "activator", "functions"].contains(&k.as_str())
                || functions.iter().any(|(id, name)| *k == format!("fn{id}") || k == name);
            if !known {
                let names: Vec<&str> = functions.iter().map(|(_, n)| n.as_str()).collect();
                return Err(PlacementError::UnknownComponent {
                    key: k.clone(),
                    chain: chain.into(),
                    names: names.join(", "),
                });
            }
        }
        Ok(())
    }

    fn map_get(&self, key: &str) -> Option<Cpus> {
        match &self.policy {
            Policy::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, c)| c.clone()),
            _ => None,
        }
    }

    /// Where the process `s` runs; `None`: not pinned.
    pub fn cpus(&self, s: Slot<'_>) -> Option<Cpus> {
        let a = &self.allowed;
        let first = *a.first()?;
        match &self.policy {
            Policy::None => None,
            Policy::OneCore => Some(vec![first]),
            Policy::Paper => {
                let n = a.len();
                if n < 3 {
                    // Load generator and gateway share the first CPU, the functions the second.
                    return Some(match (s.role, n) {
                        (_, 1) | (Role::LoadGenerator | Role::Gateway | Role::Ingress | Role::Activator, _) => {
                            vec![first]
                        }
                        _ => vec![a[1]],
                    });
                }
                let gateway = gateway_cores(n);
                // The generator's threads get a core each, as long as the functions keep one.
                let lg = self.loadgen_threads.clamp(1, (n - gateway - 1).max(1));
                let rest = &a[lg + gateway..];
                Some(match (s.role, s.function) {
                    (Role::LoadGenerator, _) => a[..lg].to_vec(),
                    (Role::Function | Role::Sidecar, f) => {
                        let id = f.map_or(1, |(id, _)| id as usize);
                        vec![rest[id.saturating_sub(1) % rest.len()]]
                    }
                    _ => a[lg..lg + gateway].to_vec(),
                })
            }
            Policy::Map(_) => match (s.role, s.function) {
                (Role::Function | Role::Sidecar, Some((id, name))) => self
                    .map_get(&format!("fn{id}"))
                    .or_else(|| self.map_get(name))
                    .or_else(|| self.map_get("functions")),
                (role, _) => self.map_get(match role {
                    Role::LoadGenerator => "loadgen",
                    Role::Ingress => "ingress",
                    Role::Activator => "activator",
                    _ => "gateway",
                }),
            },
        }
    }

    /// The load generator's CPUs.
    pub fn loadgen(&self) -> Option<Cpus> {
        self.cpus(Slot { role: Role::LoadGenerator, function: None })
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.policy {
            Policy::None => write!(f, "none"),
            Policy::Paper => write!(f, "paper"),
            Policy::OneCore => write!(f, "one-core"),
            Policy::Map(entries) => {
                let parts: Vec<String> = entries.iter().map(|(k, c)| format!("{k}={}", cpu_list(c))).collect();
                write!(f, "{}", parts.join(","))
            }
        }
    }
}

/// The gateway's share of a machine with `allowed` CPUs: the paper gave its gateway three cores,
/// and so does the `paper` policy where there are 8 or more (a D-SPRIGHT gateway has at least
/// two busy threads, HTTP and its ring's poller); one on smaller machines. SPRIGHT gateways
/// size their HTTP event loop by it too (option `gateway-threads=auto`).
pub fn gateway_cores(allowed: usize) -> usize {
    if allowed >= 8 {
        3
    } else {
        1
    }
}

/// The CPU of the `i`-th receive queue or gateway lane of a process that may use `cpus`: the
/// `i`-th, round robin, so that queue (or lane) `i` of every process with the same CPUs shares
/// one (S-SPRIGHT's `worker-cpus=by-queue` and `gateway-cpus=by-lane`); `None` without CPUs.
pub fn nth_cpu(i: usize, cpus: &[usize]) -> Option<usize> {
    (!cpus.is_empty()).then(|| cpus[i % cpus.len()])
}

/// Pin the calling thread (`tid` 0) or process to `cpus`. Async-signal-safe (used before exec).
pub fn set_affinity(tid: i32, cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays inside it for CPUs below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: plain syscall on a valid set.
    match unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: &Placement, role: Role, function: Option<(u16, &str)>) -> Option<Cpus> {
        p.cpus(Slot { role, function })
    }

    /// Queue (or lane) `i` runs on the `i`-th CPU, round robin, the same for every process
    /// given the same CPUs (hand-written).
    #[test]
    fn queues_take_their_process_s_cpus_round_robin() {
        let cpus = [6, 7, 9];
        let got: Vec<Option<usize>> = (0..5).map(|q| nth_cpu(q, &cpus)).collect();
        assert_eq!(got, [Some(6), Some(7), Some(9), Some(6), Some(7)]);
        assert_eq!(nth_cpu(0, &[]), None, "no CPUs: not pinned");
    }

    #[test]
    fn paper_on_two_cores_puts_functions_on_the_second() {
        let p = Placement::parse("paper", vec![0, 1]).unwrap();
        assert_eq!(p.loadgen(), Some(vec![0]));
        assert_eq!(at(&p, Role::Gateway, None), Some(vec![0]));
        assert_eq!(at(&p, Role::Ingress, None), Some(vec![0]));
        assert_eq!(at(&p, Role::Function, Some((1, "a"))), Some(vec![1]));
        assert_eq!(at(&p, Role::Sidecar, Some((7, "g"))), Some(vec![1]));
    }

    #[test]
    fn paper_on_many_cores_gives_each_function_its_own_round_robin() {
        let p = Placement::parse("paper", vec![0, 1, 2, 3, 4]).unwrap();
        assert_eq!(p.loadgen(), Some(vec![0]));
        assert_eq!(at(&p, Role::Gateway, None), Some(vec![1]));
        assert_eq!(at(&p, Role::Activator, None), Some(vec![1]));
        let fns: Vec<usize> = (1..=5).map(|id| at(&p, Role::Function, Some((id, "f"))).unwrap()[0]).collect();
        assert_eq!(fns, [2, 3, 4, 2, 3]);
        assert_eq!(at(&p, Role::Sidecar, Some((2, "f"))), Some(vec![3]), "a queue-proxy with its function");
        let big = Placement::parse("paper", (0..16).collect()).unwrap();
        assert_eq!(at(&big, Role::Gateway, None), Some(vec![1, 2, 3]), "three cores, as the paper's gateway");
        let fns: Vec<usize> =
            [1, 10, 12, 13].iter().map(|&id| at(&big, Role::Function, Some((id, "f"))).unwrap()[0]).collect();
        assert_eq!(fns, [4, 13, 15, 4]);
        let three = big.clone().with_loadgen_threads(3);
        assert_eq!(three.loadgen(), Some(vec![0, 1, 2]), "a core per generator thread");
        assert_eq!(at(&three, Role::Gateway, None), Some(vec![3, 4, 5]));
        let fns: Vec<usize> =
            [1, 10, 11].iter().map(|&id| at(&three, Role::Function, Some((id, "f"))).unwrap()[0]).collect();
        assert_eq!(fns, [6, 15, 6]);
        let small = Placement::parse("paper", vec![0, 1, 2, 3]).unwrap().with_loadgen_threads(4);
        assert_eq!(
            (small.loadgen(), at(&small, Role::Gateway, None)),
            (Some(vec![0, 1]), Some(vec![2])),
            "functions keep a core"
        );
        assert_eq!(at(&small, Role::Function, Some((5, "f"))), Some(vec![3]));
        let two = Placement::parse("paper", vec![0, 1]).unwrap().with_loadgen_threads(4);
        assert_eq!((two.loadgen(), at(&two, Role::Function, Some((1, "f")))), (Some(vec![0]), Some(vec![1])));
        let one = Placement::parse("paper", vec![3]).unwrap();
        assert_eq!((one.loadgen(), at(&one, Role::Function, Some((2, "f")))), (Some(vec![3]), Some(vec![3])));
    }

    #[test]
    fn one_core_and_none() {
        let p = Placement::parse("one-core", vec![2, 3]).unwrap();
        assert_eq!((p.loadgen(), at(&p, Role::Function, Some((1, "a")))), (Some(vec![2]), Some(vec![2])));
        assert_eq!(Placement::parse("none", vec![0, 1]).unwrap().loadgen(), None);
    }

    #[test]
    fn maps_name_components_and_ranges() {
        let p = Placement::parse("gateway=0,fn1=1,second=0-1,loadgen=1", vec![0, 1]).unwrap();
        assert_eq!(at(&p, Role::Gateway, None), Some(vec![0]));
        assert_eq!(at(&p, Role::Function, Some((1, "first"))), Some(vec![1]));
        assert_eq!(at(&p, Role::Sidecar, Some((2, "second"))), Some(vec![0, 1]));
        assert_eq!(at(&p, Role::Function, Some((3, "third"))), None, "not named: not pinned");
        let every = Placement::parse("functions=2-3,fn2=1", vec![0, 1, 2, 3]).unwrap();
        assert_eq!(at(&every, Role::Function, Some((1, "first"))), Some(vec![2, 3]), "functions");
        assert_eq!(at(&every, Role::Sidecar, Some((7, "x"))), Some(vec![2, 3]), "a queue-proxy follows");
        assert_eq!(at(&every, Role::Function, Some((2, "second"))), Some(vec![1]), "its own key first");
        assert_eq!(at(&every, Role::Gateway, None), None);
        assert!(every.check_names("c", &[(1, "first".to_string()), (2, "second".to_string())]).is_ok());
        assert_eq!(p.loadgen(), Some(vec![1]));
        assert_eq!(p.to_string(), "gateway=0,fn1=1,second=0-1,loadgen=1");
        let fns = [(1, "first".to_string()), (2, "second".to_string())];
        assert!(p.check_names("c", &fns).is_ok());
        let bad = Placement::parse("gateway=0,nope=1", vec![0, 1]).unwrap();
        assert!(
            matches!(bad.check_names("c", &fns), Err(PlacementError::UnknownComponent { key, .. }) if key == "nope")
        );
    }

    #[test]
    fn bad_maps_are_errors() {
        assert!(matches!(Placement::parse("gateway=5", vec![0, 1]), Err(PlacementError::NotAllowed { cpu: 5, .. })));
        for bad in ["", "gateway", "gateway=x", "=1", "gateway=3-1", "fast"] {
            assert!(matches!(Placement::parse(bad, vec![0, 1]), Err(PlacementError::Syntax(_))), "{bad:?}");
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(cpu_list(&[3]), "3");
        assert_eq!(parse_cpu_list("7-8,0-2,5,1"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(parse_cpu_list("3"), Some(vec![3]));
        assert_eq!(parse_cpu_list("1,x"), None);
    }
}
