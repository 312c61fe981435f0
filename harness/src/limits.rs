//! Host limits a run with many users needs, raised before anything is deployed and recorded in
//! the manifest (`host_limits`).
//!
//! 25,000 closed-loop users are 25,000 client sockets in the driver and as many accepted ones in
//! the gateway: Debian's default open-file limit (here 20,000) refuses them. The driver raises
//! its own `RLIMIT_NOFILE` (soft and hard, as root with CAP_SYS_RESOURCE up to `fs.nr_open`);
//! every component inherits it. Where the hard limit cannot be raised (a container without
//! CAP_SYS_RESOURCE), users close their connection at the end of each task and reconnect for the
//! next ([`HostLimits::close_idle`]): while thinking a user then holds no socket, so 25,000
//! users thinking 1-10 s keep only the few in a task open. The ephemeral port range is left
//! alone: the load generator spreads its connections over several loopback source addresses
//! instead ([`crate::loadgen::source_addresses`]).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostLimits {
    /// `RLIMIT_NOFILE` (soft, hard) before and after.
    pub nofile_before: (u64, u64),
    pub nofile_after: (u64, u64),
    /// Source addresses the load generator uses (empty: the kernel's choice).
    pub source_addresses: Vec<String>,
    /// `net.ipv4.ip_local_port_range`, as read (not changed).
    pub local_port_range: String,
    /// Users close their connection after each task (the limit could not be raised enough).
    pub close_idle: bool,
}

fn get_nofile() -> (u64, u64) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid pointer to an rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    (r.rlim_cur, r.rlim_max)
}

/// File descriptors a run with `connections` client connections needs: the client side, the
/// gateway's side of each, and room for everything else.
pub fn nofile_needed(connections: usize) -> u64 {
    2 * connections as u64 + 4096
}

/// Raise the open-file limit towards `needed` (never lower it): the hard limit if the process
/// may (CAP_SYS_RESOURCE), else the soft one up to the hard. Returns the limits before and after.
pub fn raise_nofile(needed: u64) -> ((u64, u64), (u64, u64)) {
    let before = get_nofile();
    if before.0 >= needed {
        return (before, before);
    }
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok());
    let hard = before.1.max(needed.min(nr_open.unwrap_or(needed)));
    for (soft, hard) in [(hard, hard), (needed.min(before.1), before.1)] {
        let r = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: valid pointer to an rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0 {
            break;
        }
    }
    (before, get_nofile())
}

/// Prepare the host for `connections` client connections (before deploying, so components
/// inherit the limit); [`HostLimits::source_addresses`] is filled in once the target is known.
pub fn prepare(connections: usize) -> HostLimits {
    let needed = nofile_needed(connections);
    let (nofile_before, nofile_after) = raise_nofile(needed);
    let close_idle = nofile_after.0 < needed;
    if close_idle {
        tracing::warn!(
            "open-file limit {} < {needed} needed for {connections} connections (no CAP_SYS_RESOURCE?): \
             users close their connection after each task",
            nofile_after.0
        );
    }
    HostLimits {
        nofile_before,
        nofile_after,
        close_idle,
        source_addresses: Vec::new(),
        local_port_range: std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join("-"))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_only_goes_up() {
        let now = get_nofile();
        let (before, after) = raise_nofile(16);
        assert_eq!(before, now);
        assert_eq!(after, now, "a lower need changes nothing");
    }
}
