//! What the machine has, recorded in every run's manifest and printed by `spright-bench env`.
//! Every latency number depends on it (wake-ups across idle cores cost 50-70 us on these VMs),
//! so it is never optional.

use serde::Serialize;
use std::process::Command;

#[derive(Debug, Clone, Serialize)]
pub struct EnvReport {
    pub hostname: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cores_online: usize,
    /// CPUs this process may run on (its affinity mask).
    pub cpus_allowed: Vec<usize>,
    /// How an idle CPU waits (cpuidle driver and governor; on a guest with haltpoll, how long
    /// it polls before it halts): what a wake-up across cores costs depends on it.
    pub cpu_idle: Option<String>,
    pub memory_gib: f64,
    pub load_average: [f64; 3],
    pub hugepages_total: u64,
    pub hugepages_free: u64,
    pub hugepage_size_kib: u64,
    pub hugetlbfs_mounted: bool,
    pub bpffs_mounted: bool,
    pub btf: bool,
    /// Whether a SOCKMAP could be created (needs root and CONFIG_BPF_STREAM_PARSER).
    pub sockmap: Result<(), String>,
    pub dpdk: Option<String>,
    pub clang: Option<String>,
    pub bpftool: Option<String>,
    pub protoc: Option<String>,
    pub commit: Option<String>,
    pub commit_dirty: bool,
    pub tool_version: String,
}

impl EnvReport {
    /// The machine in one line, as summaries name it: CPU, cores, kernel, commit.
    pub fn machine(&self) -> String {
        format!(
            "{} ({} cores), kernel {}, commit {}{}",
            self.cpu_model,
            self.cores_online,
            self.kernel,
            self.commit.as_deref().unwrap_or("unknown"),
            if self.commit_dirty { " (dirty)" } else { "" }
        )
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.lines().find(|l| !l.trim().is_empty())?.trim().to_string();
    Some(line)
}

fn meminfo(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn mounted(fstype: &str) -> bool {
    read("/proc/mounts").lines().any(|l| l.split_whitespace().nth(2) == Some(fstype))
}

/// Try to create (and immediately close) a SOCKMAP with the raw bpf(2) syscall.
pub fn probe_sockmap() -> Result<(), String> {
    #[repr(C)]
    struct MapCreate {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
    }
    const BPF_MAP_CREATE: libc::c_long = 0;
    const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
    let mut attr = [0u8; 128];
    let req = MapCreate { map_type: BPF_MAP_TYPE_SOCKMAP, key_size: 4, value_size: 4, max_entries: 1, map_flags: 0 };
    // SAFETY: MapCreate is plain data no larger than the zeroed attribute buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&req as *const MapCreate).cast::<u8>(),
            attr.as_mut_ptr(),
            std::mem::size_of::<MapCreate>(),
        )
    };
    // SAFETY: bpf(BPF_MAP_CREATE) with a valid, zero-padded attribute buffer of the given size.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_MAP_CREATE, attr.as_ptr(), attr.len() as u32) };
    if fd < 0 {
        return Err(format!("cannot create a SOCKMAP: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just returned to us by the kernel.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it for this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&i| libc::CPU_ISSET(i, &set)).collect()
    }
}

/// `driver/governor`, and the haltpoll driver's `guest_halt_poll_ns` where it is loaded (0: an
/// idle vCPU halts at once, and waking it costs a trip through the hypervisor).
fn cpu_idle() -> Option<String> {
    let dir = "/sys/devices/system/cpu/cpuidle";
    let driver = read(&format!("{dir}/current_driver")).trim().to_string();
    if driver.is_empty() {
        return None;
    }
    let governor = read(&format!("{dir}/current_governor_ro")).trim().to_string();
    let poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns").trim().to_string();
    let mut s = format!(
        "{driver}/{}",
        if governor.is_empty() { read(&format!("{dir}/current_governor")).trim().to_string() } else { governor }
    );
    if !poll.is_empty() {
        s += &format!(", guest_halt_poll_ns={poll}");
    }
    Some(s)
}

pub fn collect() -> EnvReport {
    let mem = read("/proc/meminfo");
    let la: Vec<f64> = read("/proc/loadavg").split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
    let commit = first_line("git", &["rev-parse", "HEAD"]);
    let dirty = commit.is_some()
        && Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
    EnvReport {
        hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        cpu_model: read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
            .unwrap_or_else(|| "unknown".into()),
        cores_online: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpus_allowed: allowed_cpus(),
        cpu_idle: cpu_idle(),
        memory_gib: meminfo(&mem, "MemTotal") as f64 / 1024.0 / 1024.0,
        load_average: [
            la.first().copied().unwrap_or(0.0),
            la.get(1).copied().unwrap_or(0.0),
            la.get(2).copied().unwrap_or(0.0),
        ],
        hugepages_total: meminfo(&mem, "HugePages_Total"),
        hugepages_free: meminfo(&mem, "HugePages_Free"),
        hugepage_size_kib: meminfo(&mem, "Hugepagesize"),
        hugetlbfs_mounted: mounted("hugetlbfs"),
        bpffs_mounted: mounted("bpf"),
        btf: std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
        sockmap: probe_sockmap(),
        dpdk: first_line("pkg-config", &["--modversion", "libdpdk"]),
        clang: first_line("clang", &["--version"]),
        bpftool: first_line("bpftool", &["version"]),
        protoc: first_line("protoc", &["--version"]),
        commit,
        commit_dirty: dirty,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

impl EnvReport {
    /// Human-readable report for `spright-bench env`.
    pub fn render(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "not found".into());
        let mut s = String::new();
        s += &format!("kernel          {}\n", self.kernel);
        s += &format!(
            "cpu             {} ({} cores online, allowed {:?})\n",
            self.cpu_model, self.cores_online, self.cpus_allowed
        );
        s += &format!("cpu idle        {}\n", self.cpu_idle.as_deref().unwrap_or("unknown"));
        s += &format!("memory          {:.1} GiB, load average {:?}\n", self.memory_gib, self.load_average);
        s += &format!(
            "hugepages       {} total, {} free, {} KiB each; hugetlbfs mounted: {}\n",
            self.hugepages_total,
            self.hugepages_free,
            self.hugepage_size_kib,
            yes(self.hugetlbfs_mounted)
        );
        s += &format!("bpffs mounted   {}\nBTF             {}\n", yes(self.bpffs_mounted), yes(self.btf));
        s += &format!(
            "SOCKMAP         {}\n",
            match &self.sockmap {
                Ok(()) => "yes".to_string(),
                Err(e) => format!("NO ({e})"),
            }
        );
        s += &format!("DPDK            {}\n", opt(&self.dpdk));
        s += &format!("clang           {}\n", opt(&self.clang));
        s += &format!("bpftool         {}\n", opt(&self.bpftool));
        s += &format!("protoc          {}\n", opt(&self.protoc));
        s += &format!(
            "commit          {}{}\n",
            opt(&self.commit),
            if self.commit_dirty { " (with uncommitted changes)" } else { "" }
        );
        if self.hugepages_total == 0 || !self.bpffs_mounted {
            s += "\nhint: run scripts/setup.sh as root to install packages, mount bpffs/hugetlbfs and reserve hugepages\n";
        }
        s
    }
}
