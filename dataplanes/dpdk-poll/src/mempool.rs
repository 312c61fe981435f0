//! Optional slot storage for D-SPRIGHT in a DPDK `rte_mempool`, as the paper's D-SPRIGHT keeps
//! its messages (option `pool=mempool`). The request protocol is still [`shm::Pool`]'s;
//! only where slots live and how free ones are found change (see [`shm::SlotStore`]).
//!
//! Descriptors still carry slot indices, never addresses: every process builds the same
//! index -> object table by walking the pool's object list (shared memory, so the same order
//! everywhere), and the primary writes each object's index into it when it creates the pool,
//! so a `rte_mempool_get` result is mapped back to its index and checked against the table.

use crate::dpdk::DpdkError;
use dpdk_poll_sys as sys;
use std::ffi::CString;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Shared counters in the mempool's private area.
#[repr(C)]
struct Shared {
    bad_descriptors: AtomicU64,
}

pub struct MempoolStore {
    mp: *mut sys::rte_mempool,
    objs: Vec<*mut u8>,
    slot_size: u32,
    shared: *const Shared,
}

// SAFETY: rte_mempool get/put are multi-producer/multi-consumer safe across threads and
// processes; the object table is immutable after construction; `shared` holds atomics only.
unsafe impl Send for MempoolStore {}
// SAFETY: see above.
unsafe impl Sync for MempoolStore {}

/// The slot's index lives in the word of the slot header the pool protocol leaves to the store.
const INDEX_OFFSET: usize = shm::STORE_WORD_OFFSET;

fn index_word(obj: *mut u8) -> &'static AtomicU32 {
    // SAFETY: objects are at least SLOT_HEADER_BYTES long and 64-byte aligned; the word is only
    // accessed atomically.
    unsafe { &*(obj.add(INDEX_OFFSET) as *const AtomicU32) }
}

impl MempoolStore {
    /// Create the pool (DPDK primary only): `slots` objects of `slot_size` bytes.
    pub fn create(name: &str, slots: u32, slot_size: u32) -> Result<Self, DpdkError> {
        let c =
            CString::new(name).map_err(|_| DpdkError::Mempool { name: name.into(), reason: "NUL in name".into() })?;
        // SAFETY: valid name; the EAL is initialised.
        let mp = unsafe { sys::sb_mempool_create(c.as_ptr(), slots, slot_size, std::mem::size_of::<Shared>() as u32) };
        if mp.is_null() {
            return Err(DpdkError::Mempool { name: name.into(), reason: crate::dpdk::last_error() });
        }
        let store = Self::attach(name, mp, slots)?;
        for (i, &obj) in store.objs.iter().enumerate() {
            // SAFETY: a fresh object of slot_size bytes that nobody else uses yet.
            unsafe { std::ptr::write_bytes(obj, 0, shm::SLOT_HEADER_BYTES) };
            index_word(obj).store(i as u32, Ordering::Relaxed);
        }
        // SAFETY: the private area is sized for `Shared` and not yet shared with anyone.
        unsafe { (*(store.shared as *mut Shared)).bad_descriptors.store(0, Ordering::Relaxed) };
        Ok(store)
    }

    /// Attach to the pool the primary created.
    pub fn lookup(name: &str) -> Result<Self, DpdkError> {
        let c =
            CString::new(name).map_err(|_| DpdkError::Mempool { name: name.into(), reason: "NUL in name".into() })?;
        // SAFETY: valid name; the EAL is initialised.
        let mp = unsafe { sys::sb_mempool_lookup(c.as_ptr()) };
        if mp.is_null() {
            return Err(DpdkError::Mempool { name: name.into(), reason: "not found: is the primary running?".into() });
        }
        let store = Self::attach(name, mp, u32::MAX)?;
        for (i, &obj) in store.objs.iter().enumerate() {
            if index_word(obj).load(Ordering::Relaxed) != i as u32 {
                return Err(DpdkError::Mempool {
                    name: name.into(),
                    reason: format!("object {i} is not where the primary put it"),
                });
            }
        }
        Ok(store)
    }

    fn attach(name: &str, mp: *mut sys::rte_mempool, expect: u32) -> Result<Self, DpdkError> {
        // SAFETY: mp is a valid mempool.
        let slot_size = unsafe { sys::sb_mempool_elt_size(mp) };
        let max = if expect == u32::MAX { 1 << 20 } else { expect };
        let mut objs: Vec<*mut libc::c_void> = vec![std::ptr::null_mut(); max as usize];
        // SAFETY: `objs` has room for `max` pointers.
        let n = unsafe { sys::sb_mempool_objs(mp, objs.as_mut_ptr(), max) };
        objs.truncate(n as usize);
        if n == 0 || (expect != u32::MAX && n != expect) || objs.iter().any(|o| (*o as usize) % 64 != 0) {
            return Err(DpdkError::Mempool { name: name.into(), reason: format!("unexpected layout ({n} objects)") });
        }
        // SAFETY: the private area was sized for `Shared` at creation.
        let shared = unsafe { sys::sb_mempool_priv(mp) } as *const Shared;
        Ok(MempoolStore { mp, objs: objs.into_iter().map(|o| o.cast()).collect(), slot_size, shared })
    }
}

// SAFETY: objects are `slot_size` bytes, 64-byte aligned (checked in `attach`), live in DPDK
// shared memory for as long as the EAL runs, and their headers are zeroed by `create`; the
// mempool hands out each object once until it is put back.
unsafe impl shm::SlotStore for MempoolStore {
    fn slots(&self) -> u32 {
        self.objs.len() as u32
    }

    fn slot_size(&self) -> u32 {
        self.slot_size
    }

    fn slot_ptr(&self, idx: u32) -> *mut u8 {
        self.objs[idx as usize]
    }

    /// The mempool has no stripes: `near` is ignored.
    fn pop_free(&self, _near: u32) -> Option<u32> {
        let mut obj: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: valid mempool; obj receives one object.
        if unsafe { sys::sb_mempool_get(self.mp, &mut obj) } != 0 {
            return None;
        }
        let idx = index_word(obj.cast()).load(Ordering::Relaxed);
        if self.objs.get(idx as usize) != Some(&obj.cast()) {
            return None; // not one of ours: refuse it rather than use it
        }
        Some(idx)
    }

    fn push_free(&self, idx: u32) {
        if let Some(&obj) = self.objs.get(idx as usize) {
            // SAFETY: an object of this mempool that the caller held.
            unsafe { sys::sb_mempool_put(self.mp, obj.cast()) };
        }
    }

    fn free_count(&self) -> u32 {
        // SAFETY: valid mempool.
        unsafe { sys::sb_mempool_avail(self.mp) }
    }

    fn note_bad(&self) {
        // SAFETY: `shared` points at atomics in the mempool's private area.
        unsafe { (*self.shared).bad_descriptors.fetch_add(1, Ordering::Relaxed) };
    }

    fn bad_descriptors(&self) -> u64 {
        // SAFETY: see note_bad.
        unsafe { (*self.shared).bad_descriptors.load(Ordering::Relaxed) }
    }
}
