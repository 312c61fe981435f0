//! The shared-memory pool and message layout of both SPRIGHT dataplanes.
//!
//! One pool per deployed chain (the paper's security domain): a file on hugetlbfs, mode 0600,
//! mapped by the gateway and every function process of the chain. It holds fixed-size slots;
//! each slot is one request: a [`SlotMeta`] header (route position, status, the workloads
//! [`workloads::State`]) followed by the body. Payloads are copied once, by the gateway, into a
//! slot; after that functions work on the slot in place and pass only a 16-byte [`Descriptor`].
//!
//! Why offsets and not pointers: processes map the pool wherever their kernel puts it, and a
//! descriptor is untrusted input. A descriptor names a slot *index* and the slot's *generation*;
//! [`Pool::validate`] checks bounds, that the slot is allocated, that its generation matches
//! (a freed and reused slot has a new one) and that the slot was handed to the receiver, before
//! anything of the slot is read. A bad descriptor is counted and dropped, never dereferenced.
//!
//! The free list is a lock-free Treiber stack whose head carries a 32-bit tag against ABA, so
//! allocation and freeing are safe across processes with nothing but atomics in the mapping. A
//! pool may keep several (stripes, each on a cache line of its own): slot `i` is on list
//! `i % stripes`, so a gateway event loop per lane takes and frees slots of its own lane
//! without touching a line another one writes.

mod pool;

pub use pool::{
    BadDescriptor, Pool, PoolError, SlotBody, SlotMeta, SlotStore, MAX_STRIPES, NO_NODE, SLOT_HEADER_BYTES,
    STORE_WORD_OFFSET,
};

use bytemuck::{Pod, Zeroable};

/// The 16-byte message a function sends to pass a request on. Mirrors `struct spright_desc` in
/// `include/spright_desc.h` (the eBPF program reads `dst`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Descriptor {
    /// Destination key: `chain << 16 | function` (function 0 is the gateway).
    pub dst: u32,
    /// Sender key, same encoding.
    pub src: u32,
    /// Slot index in the chain's pool.
    pub slot: u32,
    /// Slot generation the sender saw.
    pub gen: u32,
}

pub const DESCRIPTOR_BYTES: usize = std::mem::size_of::<Descriptor>();

/// The socket-map key of function `func` (0 = gateway) of chain `chain`.
pub const fn key(chain: u16, func: u16) -> u32 {
    ((chain as u32) << 16) | func as u32
}

/// The key of chain `chain`'s gateway (function 0): where every request starts and ends.
pub const fn gateway_key(chain: u16) -> u32 {
    key(chain, 0)
}

/// The chain a key belongs to.
pub const fn key_chain(key: u32) -> u16 {
    (key >> 16) as u16
}

/// The function (0 = gateway) a key names.
pub const fn key_function(key: u32) -> u16 {
    key as u16
}

impl Descriptor {
    pub fn to_bytes(self) -> [u8; DESCRIPTOR_BYTES] {
        bytemuck::cast(self)
    }
    pub fn from_bytes(b: [u8; DESCRIPTOR_BYTES]) -> Self {
        bytemuck::cast(b)
    }
}

/// Where the SPRIGHT backends keep their pool files (a directory on hugetlbfs).
pub const POOL_DIR: &str = "/dev/hugepages/spright-bench";

/// Create the pool of one deployed chain: `POOL_DIR/<driver pid>-<chain>-<tag>`, sized from
/// the chain spec (`pool_slots` slots of `max_body_bytes` plus the slot header). Pool files
/// of drivers that are gone (a run killed with SIGKILL) are removed first, with a log line.
/// `POOL_DIR` must be on hugetlbfs: a pool silently on ordinary pages would run under a label
/// that says hugepages (regression, issue 12). `stripes`: its free lists
/// ([`Pool::create_striped`]).
pub fn create_chain_pool(
    chain: &workloads::Chain,
    tag: &str,
    stripes: u32,
) -> Result<(Pool, std::path::PathBuf), PoolError> {
    let dir = std::path::Path::new(POOL_DIR);
    let mount = dir.parent().unwrap_or(dir);
    if !pool::is_hugetlbfs(mount) {
        return Err(PoolError::NotHugepages { dir: mount.to_path_buf() });
    }
    std::fs::create_dir_all(dir).map_err(|source| PoolError::Io {
        what: "create the pool directory (is hugetlbfs mounted? scripts/setup.sh)",
        path: dir.to_path_buf(),
        source,
    })?;
    clean_stale_pools(dir);
    let path = dir.join(format!("{}-{}-{tag}", std::process::id(), chain.name));
    Ok((Pool::create_striped(&path, chain.pool_slots, slot_size(chain), stripes)?, path))
}

/// Bytes per slot for a chain: the slot header plus its largest body, in 64-byte units.
pub fn slot_size(chain: &workloads::Chain) -> u32 {
    ((chain.max_body_bytes + SLOT_HEADER_BYTES).div_ceil(64) * 64) as u32
}

/// Remove pool files in `dir` whose creating driver (the pid that starts the name) is gone.
pub fn clean_stale_pools(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return removed };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() && std::fs::remove_file(e.path()).is_ok() {
            tracing::warn!("removed stale pool file {} (its run, pid {pid}, is gone)", e.path().display());
            removed.push(e.path());
        }
    }
    removed
}
