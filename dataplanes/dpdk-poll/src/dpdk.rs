//! Safe wrappers over the DPDK shim: EAL initialisation and 16-byte-element rings.

use dpdk_poll_sys as sys;
use shm::Descriptor;
use std::ffi::{CStr, CString};

#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("DPDK EAL init failed ({args}): {reason}. Are hugepages reserved and hugetlbfs mounted (scripts/setup.sh)? For a secondary process: is the primary (the gateway) still running?")]
    EalInit { args: String, reason: String },
    #[error("EAL already initialised in this process")]
    AlreadyInitialised,
    #[error("cannot create ring {name}: {reason}")]
    RingCreate { name: String, reason: String },
    #[error("ring {name} not found: the primary process did not create it or is gone")]
    RingNotFound { name: String },
    #[error("mempool {name}: {reason}")]
    Mempool { name: String, reason: String },
}

pub(crate) fn last_error() -> String {
    // SAFETY: rte_strerror returns a static or thread-local NUL-terminated string.
    unsafe { CStr::from_ptr(sys::sb_strerror(sys::sb_errno())).to_string_lossy().into_owned() }
}

/// Initialise the EAL with `args` (argv[0] included). Once per process.
pub fn eal_init(args: &[String]) -> Result<(), DpdkError> {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(DpdkError::AlreadyInitialised);
    }
    let c: Vec<CString> = args.iter().map(|a| CString::new(a.as_str()).unwrap_or_default()).collect();
    let mut ptrs: Vec<*mut libc::c_char> = c.iter().map(|s| s.as_ptr() as *mut libc::c_char).collect();
    ptrs.push(std::ptr::null_mut());
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call (the EAL
    // may keep pointers into it, so `c` is leaked below).
    let rc = unsafe { sys::sb_eal_init(args.len() as i32, ptrs.as_mut_ptr()) };
    std::mem::forget(c);
    std::mem::forget(ptrs);
    if rc < 0 {
        return Err(DpdkError::EalInit { args: args.join(" "), reason: last_error() });
    }
    Ok(())
}

/// A multi-producer, multi-consumer ring of descriptors in DPDK shared memory.
#[derive(Clone, Copy)]
pub struct Ring {
    ptr: *mut sys::rte_ring,
}

// SAFETY: rte_ring's default (MP/MC) enqueue and dequeue are safe from any thread or process.
unsafe impl Send for Ring {}
// SAFETY: see above.
unsafe impl Sync for Ring {}

impl Ring {
    /// Create a ring (primary process only). `count` must be a power of two.
    pub fn create(name: &str, count: u32) -> Result<Ring, DpdkError> {
        if elem_size() != shm::DESCRIPTOR_BYTES {
            return Err(DpdkError::RingCreate {
                name: name.into(),
                reason: format!(
                    "the shim's ring element is {} bytes, a descriptor {}",
                    elem_size(),
                    shm::DESCRIPTOR_BYTES
                ),
            });
        }
        let c = CString::new(name)
            .map_err(|_| DpdkError::RingCreate { name: name.into(), reason: "NUL in name".into() })?;
        // SAFETY: valid C string; the EAL is initialised.
        let ptr = unsafe { sys::sb_ring_create(c.as_ptr(), count) };
        if ptr.is_null() {
            return Err(DpdkError::RingCreate { name: name.into(), reason: last_error() });
        }
        Ok(Ring { ptr })
    }

    pub fn lookup(name: &str) -> Result<Ring, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::RingNotFound { name: name.into() })?;
        // SAFETY: valid C string; the EAL is initialised.
        let ptr = unsafe { sys::sb_ring_lookup(c.as_ptr()) };
        if ptr.is_null() {
            return Err(DpdkError::RingNotFound { name: name.into() });
        }
        Ok(Ring { ptr })
    }

    /// False if the ring is full.
    pub fn enqueue(&self, d: &Descriptor) -> bool {
        // SAFETY: the ring's elements are 16 bytes, the size of a Descriptor.
        unsafe { sys::sb_ring_enqueue(self.ptr, (d as *const Descriptor).cast()) == 0 }
    }

    pub fn dequeue(&self) -> Option<Descriptor> {
        let mut d = Descriptor { dst: 0, src: 0, slot: 0, gen: 0 };
        // SAFETY: writes one 16-byte element into `d`.
        let rc = unsafe { sys::sb_ring_dequeue(self.ptr, (&mut d as *mut Descriptor).cast()) };
        (rc == 0).then_some(d)
    }

    /// Enqueue as many of `ds` as there is room for, in order, at once: how many went in.
    pub fn enqueue_burst(&self, ds: &[Descriptor]) -> usize {
        // SAFETY: reads `ds.len()` 16-byte elements, the size of a Descriptor, from `ds`.
        unsafe { sys::sb_ring_enqueue_burst(self.ptr, ds.as_ptr().cast(), ds.len() as u32) as usize }
    }

    /// Dequeue up to `out.len()` descriptors, oldest first, at once: how many were written to
    /// the start of `out`.
    pub fn dequeue_burst(&self, out: &mut [Descriptor]) -> usize {
        // SAFETY: writes at most `out.len()` 16-byte elements into `out`.
        unsafe { sys::sb_ring_dequeue_burst(self.ptr, out.as_mut_ptr().cast(), out.len() as u32) as usize }
    }
}

/// The ring of function `func` (0 = gateway) of chain `chain`.
pub fn ring_name(chain: u16, func: u16) -> String {
    format!("sb-{chain}-{func}")
}

/// The ring element size compiled into the shim (must be a descriptor's).
fn elem_size() -> usize {
    // SAFETY: returns a constant.
    unsafe { sys::sb_elem_size() as usize }
}
