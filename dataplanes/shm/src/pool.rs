//! The pool itself: mapping, slot allocation, descriptor validation.

use crate::Descriptor;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const MAGIC: u64 = 0x3154_4847_4952_5053; // "SPRIGHT1" little-endian
const VERSION: u32 = 2;
/// Most free lists a pool keeps ([`Pool::create_striped`]): one per gateway event loop, whose
/// option allows at most 64.
pub const MAX_STRIPES: u32 = 64;
/// The pool header (64 bytes, then a cache line per free list) occupies the first 8 KiB.
const HEADER_BYTES: usize = 8192;
/// Bytes before a slot's body.
pub const SLOT_HEADER_BYTES: usize = 192;
/// `SlotMeta::from` value meaning "the request has just entered `node`".
pub const NO_NODE: u16 = u16::MAX;
const HUGE_PAGE: usize = 2 << 20;

#[repr(C, align(64))]
struct PoolHeader {
    magic: u64,
    version: u32,
    slot_size: u32,
    slots: u32,
    /// Free lists in use: slot `i` is on list `i % stripes` while it is free.
    stripes: u32,
    bad_descriptors: AtomicU64,
    free: [FreeList; MAX_STRIPES as usize],
}

/// One free list, alone on its cache line, so that processes (or threads) that each take
/// slots from a list of their own never write a line another one writes.
#[repr(C, align(64))]
struct FreeList {
    /// Head: tag in the upper 32 bits, slot index + 1 in the lower (0 = empty).
    head: AtomicU64,
    count: AtomicU32,
    /// Slots its takers got from other lists, this one being empty: how often a striped pool's
    /// locality failed (a gateway lane's request then travels on another lane's slot).
    borrowed: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<PoolHeader>() <= HEADER_BYTES);

/// Control words of a slot, always accessed atomically.
#[repr(C)]
struct SlotCtl {
    /// Who has the slot and how, changed only as one word: `holder << 32 | gen << 2 | state`
    /// (see [`Ctl`]). One word, so that claiming a slot checks holder, generation and state at
    /// once: a duplicate of a descriptor (a forged one, or a replay) can never be received twice.
    word: AtomicU64,
    /// The store's word ([`STORE_WORD_OFFSET`]): the free-list link of a mapped pool.
    next_free: AtomicU32,
    _reserved: u32,
}

/// A slot is free, held by one process (which may use it), or handed over and in transit to
/// its next holder (which claims it when it receives the descriptor).
const FREE: u64 = 0;
const HELD: u64 = 1;
const SENT: u64 = 2;
/// Generations have 30 bits (they wrap).
const GEN_MASK: u32 = (1 << 30) - 1;

/// The fields of [`SlotCtl::word`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ctl {
    holder: u32,
    gen: u32,
    state: u64,
}

impl Ctl {
    fn of(w: u64) -> Ctl {
        Ctl { holder: (w >> 32) as u32, gen: (w as u32) >> 2, state: w & 3 }
    }
    fn word(self) -> u64 {
        (self.holder as u64) << 32 | ((self.gen & GEN_MASK) as u64) << 2 | self.state
    }
}

/// The request header in a slot, written only by the slot's current holder.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SlotMeta {
    pub route: u16,
    pub node: u16,
    /// Node whose result just returned to `node`, or [`NO_NODE`] on entry.
    pub from: u16,
    /// 0 = ok; otherwise an error the gateway turns into a 502.
    pub status: u16,
    /// Monotonic ns when the gateway admitted the request.
    pub admitted_ns: u64,
    pub state: workloads::State,
}

/// Offset in a slot of a 4-byte word the protocol leaves to the [`SlotStore`]: a mapped pool
/// links its free list through it; a store that finds free slots another way (D-SPRIGHT's
/// `rte_mempool`) may keep its own per-slot data there (it must only use it atomically).
pub const STORE_WORD_OFFSET: usize = std::mem::offset_of!(SlotCtl, next_free);

/// Slot layout: `SlotCtl` (16 bytes), body length (8 bytes with padding), `SlotMeta`, body.
const LEN_OFFSET: usize = std::mem::size_of::<SlotCtl>();
const META_OFFSET: usize = LEN_OFFSET + 8;
const _: () = assert!(META_OFFSET + std::mem::size_of::<SlotMeta>() <= SLOT_HEADER_BYTES);

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{}: not a spright pool (bad magic or version)", path.display())]
    NotAPool { path: PathBuf },
    #[error("slot size {slot_size} must be a multiple of 64 between 128 and 64 MiB, and slots between 1 and 1048576 (got {slots})")]
    BadGeometry { slots: u32, slot_size: u32 },
    #[error("a pool of {slots} slots keeps 1 to {} free lists (got {stripes})", MAX_STRIPES.min(*slots))]
    BadStripes { stripes: u32, slots: u32 },
    #[error("mmap of {len} bytes failed: {source} (are enough hugepages reserved? see scripts/setup.sh)")]
    Map { len: usize, source: std::io::Error },
    #[error("{} is not on hugetlbfs: SPRIGHT's pools live in hugepages (mount hugetlbfs on /dev/hugepages: scripts/setup.sh)", dir.display())]
    NotHugepages { dir: PathBuf },
}

/// Why a descriptor was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadDescriptor {
    #[error("slot {0} is out of bounds")]
    OutOfBounds(u32),
    #[error("slot {0} is not allocated")]
    NotAllocated(u32),
    #[error("slot {slot} has generation {have}, descriptor says {want}")]
    StaleGeneration { slot: u32, have: u32, want: u32 },
    #[error("slot {slot} is held by {holder:#x}, not by the receiver {me:#x}")]
    NotHolder { slot: u32, holder: u32, me: u32 },
    #[error("slot {0} was not sent to its holder, or was already received: a duplicate descriptor")]
    NotInTransit(u32),
}

/// Where a pool's slots live and how free ones are found. [`Pool`] implements the request
/// protocol (generations, holders, validation) on top of any store: a mapped file with a
/// lock-free free list (the default, [`Pool::create`]), or memory another allocator owns, such
/// as D-SPRIGHT's optional DPDK `rte_mempool` ([`Pool::from_store`]).
///
/// # Safety
/// For every `idx < slots()`, `slot_ptr(idx)` must return the address of `slot_size()` bytes,
/// 64-byte aligned, valid for the store's lifetime and shared by every process of the chain, and
/// the first [`SLOT_HEADER_BYTES`] of every slot must be zero when the store is first created.
/// `pop_free` must never hand out an index twice without a `push_free` of it in between.
/// A store may keep its free slots in stripes (slot `i` in stripe `i % stripes`) and prefer
/// stripe `near` in `pop_free`; one that does not ignores `near`.
pub unsafe trait SlotStore: Send + Sync {
    fn slots(&self) -> u32;
    fn slot_size(&self) -> u32;
    fn slot_ptr(&self, idx: u32) -> *mut u8;
    fn pop_free(&self, near: u32) -> Option<u32>;
    /// How many stripes `pop_free` knows (1: none).
    fn stripes(&self) -> u32 {
        1
    }
    /// How many slots `pop_free(near)` with `near == stripe` took from another stripe.
    fn borrowed(&self, stripe: u32) -> u64 {
        let _ = stripe;
        0
    }
    fn push_free(&self, idx: u32);
    fn free_count(&self) -> u32;
    /// Count a rejected descriptor, shared by the chain's processes where the store can.
    fn note_bad(&self);
    fn bad_descriptors(&self) -> u64;
}

/// The slots of a chain: the protocol of [`Pool::alloc`], [`Pool::validate`],
/// [`Pool::hand_over`] and [`Pool::free`] over a [`SlotStore`].
pub struct Pool {
    store: Box<dyn SlotStore>,
    slots: u32,
    slot_size: u32,
}

/// A mapped pool file (or anonymous mapping): a header with the free list and counters, then
/// the slots. Unmapped on drop; the file is unlinked on drop by the process that created it.
struct Mapped {
    base: *mut u8,
    len: usize,
    slots: u32,
    slot_size: u32,
    stripes: u32,
    unlink: Option<PathBuf>,
}

// SAFETY: all shared state in the mapping is accessed through atomics or by the single holder of
// a slot (a protocol enforced by `Pool::validate`); the raw pointer itself is just an address.
unsafe impl Send for Mapped {}
// SAFETY: see above.
unsafe impl Sync for Mapped {}

fn map_len(slots: u32, slot_size: u32, huge: bool) -> usize {
    let raw = HEADER_BYTES + slots as usize * slot_size as usize;
    if huge {
        raw.div_ceil(HUGE_PAGE) * HUGE_PAGE
    } else {
        raw.div_ceil(4096) * 4096
    }
}

fn check_geometry(slots: u32, slot_size: u32) -> Result<(), PoolError> {
    if !(1..=1 << 20).contains(&slots) || !(128..=64 << 20).contains(&slot_size) || slot_size % 64 != 0 {
        return Err(PoolError::BadGeometry { slots, slot_size });
    }
    Ok(())
}

fn check_stripes(stripes: u32, slots: u32) -> Result<(), PoolError> {
    if !(1..=MAX_STRIPES.min(slots)).contains(&stripes) {
        return Err(PoolError::BadStripes { stripes, slots });
    }
    Ok(())
}

impl Pool {
    /// Create a pool file at `path` (on hugetlbfs for real runs), mode 0600, failing if it
    /// exists. The returned pool unlinks the file when dropped.
    pub fn create(path: &Path, slots: u32, slot_size: u32) -> Result<Pool, PoolError> {
        Pool::create_striped(path, slots, slot_size, 1)
    }

    /// [`Pool::create`] with its free slots kept in `stripes` free lists, slot `i` in list
    /// `i % stripes`, so that takers of different stripes ([`Pool::alloc_in`]) share no free
    /// list and get slots `s`, `s + stripes`, ... (the SPRIGHT gateway's event loop per lane
    /// takes the slots of its own lane, a slot's lane being `slot % lanes`).
    pub fn create_striped(path: &Path, slots: u32, slot_size: u32, stripes: u32) -> Result<Pool, PoolError> {
        check_geometry(slots, slot_size)?;
        check_stripes(stripes, slots)?;
        let io = |what, source| PoolError::Io { what, path: path.to_path_buf(), source };
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| io("path", std::io::Error::other(e)))?;
        // SAFETY: valid NUL-terminated path.
        let fd =
            unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o600) };
        if fd < 0 {
            return Err(io("create", std::io::Error::last_os_error()));
        }
        let huge = is_hugetlbfs(path.parent().unwrap_or(Path::new("/")));
        let len = map_len(slots, slot_size, huge);
        // SAFETY: fd is ours.
        let r = unsafe { libc::ftruncate(fd, len as libc::off_t) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: fd is ours; path was created by us.
            unsafe {
                libc::close(fd);
                libc::unlink(c.as_ptr());
            }
            return Err(io("size", e));
        }
        let mapped = map_fd(fd, len);
        // SAFETY: the mapping (if any) keeps the file referenced; the fd is no longer needed.
        unsafe { libc::close(fd) };
        let base = match mapped {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: path was created by us.
                unsafe { libc::unlink(c.as_ptr()) };
                return Err(e);
            }
        };
        let m = Mapped { base, len, slots, slot_size, stripes, unlink: Some(path.to_path_buf()) };
        m.init();
        Ok(Pool::wrap(m))
    }

    /// Map an existing pool file created by [`Pool::create`].
    pub fn open(path: &Path) -> Result<Pool, PoolError> {
        let io = |what, source| PoolError::Io { what, path: path.to_path_buf(), source };
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| io("open", e))?;
        let len = file.metadata().map_err(|e| io("stat", e))?.len() as usize;
        if len < HEADER_BYTES {
            return Err(PoolError::NotAPool { path: path.to_path_buf() });
        }
        let base = map_fd(std::os::fd::AsRawFd::as_raw_fd(&file), len)?;
        let mut m = Mapped { base, len, slots: 0, slot_size: 0, stripes: 0, unlink: None };
        let h = m.header();
        if h.magic != MAGIC || h.version != VERSION {
            return Err(PoolError::NotAPool { path: path.to_path_buf() });
        }
        let (slots, slot_size, stripes) = (h.slots, h.slot_size, h.stripes);
        check_geometry(slots, slot_size)?;
        check_stripes(stripes, slots)?;
        if map_len(slots, slot_size, false) > len {
            return Err(PoolError::NotAPool { path: path.to_path_buf() });
        }
        (m.slots, m.slot_size, m.stripes) = (slots, slot_size, stripes);
        Ok(Pool::wrap(m))
    }

    /// A pool in ordinary shared anonymous memory (inherited across `fork`): for tests and
    /// benchmarks that need no hugepages.
    pub fn anonymous(slots: u32, slot_size: u32) -> Result<Pool, PoolError> {
        Pool::anonymous_striped(slots, slot_size, 1)
    }

    /// [`Pool::anonymous`] with `stripes` free lists (see [`Pool::create_striped`]).
    pub fn anonymous_striped(slots: u32, slot_size: u32, stripes: u32) -> Result<Pool, PoolError> {
        check_geometry(slots, slot_size)?;
        check_stripes(stripes, slots)?;
        let len = map_len(slots, slot_size, false);
        // SAFETY: anonymous shared mapping with no address hint.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(PoolError::Map { len, source: std::io::Error::last_os_error() });
        }
        let m = Mapped { base: p.cast(), len, slots, slot_size, stripes, unlink: None };
        m.init();
        Ok(Pool::wrap(m))
    }

    fn wrap(m: Mapped) -> Pool {
        let (slots, slot_size) = (m.slots, m.slot_size);
        Pool { store: Box::new(m), slots, slot_size }
    }

    /// A pool over another allocator's memory (see [`SlotStore`]).
    pub fn from_store(store: Box<dyn SlotStore>) -> Result<Pool, PoolError> {
        let (slots, slot_size) = (store.slots(), store.slot_size());
        check_geometry(slots, slot_size)?;
        Ok(Pool { store, slots, slot_size })
    }

    fn ctl(&self, idx: u32) -> &SlotCtl {
        // SAFETY: in bounds (callers check idx < slots), 64-byte aligned (SlotStore contract),
        // atomics only.
        unsafe { &*(self.store.slot_ptr(idx) as *const SlotCtl) }
    }

    pub fn slots(&self) -> u32 {
        self.slots
    }

    pub fn slot_size(&self) -> u32 {
        self.slot_size
    }

    /// Free lists the pool keeps ([`Pool::create_striped`]; 1 for a store without stripes).
    pub fn stripes(&self) -> u32 {
        self.store.stripes()
    }

    /// How many slots [`Pool::alloc_in`] gave takers of free list `stripe` from other lists,
    /// their own being empty.
    pub fn borrowed(&self, stripe: u32) -> u64 {
        self.store.borrowed(stripe)
    }

    /// Largest body a slot holds.
    pub fn body_capacity(&self) -> usize {
        self.slot_size as usize - SLOT_HEADER_BYTES
    }

    pub fn free_count(&self) -> u32 {
        self.store.free_count()
    }

    /// Descriptors rejected by [`Pool::validate`] in any process of the chain.
    pub fn bad_descriptors(&self) -> u64 {
        self.store.bad_descriptors()
    }

    /// Take a free slot for `holder`; returns its index and new generation. `None` when the
    /// pool is exhausted.
    pub fn alloc(&self, holder: u32) -> Option<(u32, u32)> {
        self.alloc_in(holder, 0)
    }

    /// [`Pool::alloc`] from free list `stripe` of a striped pool ([`Pool::create_striped`]:
    /// a slot `i` with `i % stripes == stripe`) while it has one, else from the next list that
    /// has one: a taker whose own list ran dry gets a slot of another stripe rather than none.
    /// An unstriped pool (or store) has one list.
    pub fn alloc_in(&self, holder: u32, stripe: u32) -> Option<(u32, u32)> {
        let idx = self.store.pop_free(stripe)?;
        if idx >= self.slots {
            return None; // a corrupted store: refuse rather than go out of bounds
        }
        let w = &self.ctl(idx).word;
        // Popped from the free list: nobody else touches the slot until it is handed over.
        let gen = Ctl::of(w.load(Ordering::Acquire)).gen.wrapping_add(1) & GEN_MASK;
        w.store(Ctl { holder, gen, state: HELD }.word(), Ordering::Release);
        Some((idx, gen))
    }

    /// Return a slot its holder has (received or allocated) to the free list. Freeing a slot
    /// that is free or in transit is ignored and counted as a bad descriptor (it would otherwise
    /// be on the free list twice, or freed under its next holder).
    pub fn free(&self, idx: u32) {
        if idx >= self.slots {
            self.note_bad();
            return;
        }
        let w = &self.ctl(idx).word;
        let mut cur = w.load(Ordering::Acquire);
        loop {
            let c = Ctl::of(cur);
            if c.state != HELD {
                self.note_bad();
                return;
            }
            match w.compare_exchange(
                cur,
                Ctl { holder: 0, state: FREE, ..c }.word(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.store.push_free(idx);
    }

    pub fn note_bad(&self) {
        self.store.note_bad();
    }

    /// Check a received descriptor against the pool and claim its slot for `me`, before
    /// anything of the slot is used: in bounds, allocated, this generation, handed to `me`, and
    /// not received yet. Failures are counted in the pool (see [`Pool::bad_descriptors`]).
    pub fn validate(&self, d: &Descriptor, me: u32) -> Result<u32, BadDescriptor> {
        let r = self.claim(d, me);
        if r.is_err() {
            self.note_bad();
        }
        r
    }

    fn claim(&self, d: &Descriptor, me: u32) -> Result<u32, BadDescriptor> {
        if d.slot >= self.slots {
            return Err(BadDescriptor::OutOfBounds(d.slot));
        }
        let w = &self.ctl(d.slot).word;
        let mut cur = w.load(Ordering::Acquire);
        loop {
            let c = Ctl::of(cur);
            if c.state == FREE {
                return Err(BadDescriptor::NotAllocated(d.slot));
            }
            if c.gen != d.gen {
                return Err(BadDescriptor::StaleGeneration { slot: d.slot, have: c.gen, want: d.gen });
            }
            if c.holder != me {
                return Err(BadDescriptor::NotHolder { slot: d.slot, holder: c.holder, me });
            }
            if c.state != SENT {
                return Err(BadDescriptor::NotInTransit(d.slot));
            }
            match w.compare_exchange(cur, Ctl { state: HELD, ..c }.word(), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(d.slot),
                Err(now) => cur = now,
            }
        }
    }

    /// Generation and holder of slot `idx` if it is allocated (for inspection: a test or a tool
    /// looking at a live pool; the protocol itself never needs it).
    pub fn slot_state(&self, idx: u32) -> Option<(u32, u32)> {
        if idx >= self.slots {
            return None;
        }
        let c = Ctl::of(self.ctl(idx).word.load(Ordering::Acquire));
        (c.state != FREE).then_some((c.gen, c.holder))
    }

    /// Hand the slot its caller holds to `to` (right before sending `to` the descriptor); `to`
    /// claims it when the descriptor arrives ([`Pool::validate`]).
    pub fn hand_over(&self, idx: u32, to: u32) {
        self.set_holder(idx, to, SENT);
    }

    /// Take back a slot the caller handed over but could not send (nobody received it).
    pub fn take_back(&self, idx: u32, me: u32) {
        self.set_holder(idx, me, HELD);
    }

    fn set_holder(&self, idx: u32, holder: u32, state: u64) {
        if idx < self.slots {
            let w = &self.ctl(idx).word;
            let c = Ctl::of(w.load(Ordering::Acquire));
            w.store(Ctl { holder, state, ..c }.word(), Ordering::Release);
        }
    }

    /// The request header and body of slot `idx`.
    ///
    /// # Safety
    /// The caller must hold the slot: it allocated it, or [`Pool::validate`] accepted a
    /// descriptor for it, and it has not handed it over since. No other reference to the same
    /// slot may be alive in this process.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slot(&self, idx: u32) -> (&mut SlotMeta, SlotBody<'_>) {
        assert!(idx < self.slots, "slot index checked by validate/alloc");
        let p = self.store.slot_ptr(idx);
        // Three disjoint regions of the slot: metadata, body length, body.
        let meta = &mut *(p.add(META_OFFSET) as *mut SlotMeta);
        let len = &mut *(p.add(LEN_OFFSET) as *mut u32);
        let body = std::slice::from_raw_parts_mut(p.add(SLOT_HEADER_BYTES), self.body_capacity());
        (meta, SlotBody { len, buf: body })
    }
}

/// The body region of a slot, as a [`workloads::Body`] of fixed capacity.
pub struct SlotBody<'a> {
    len: &'a mut u32,
    buf: &'a mut [u8],
}

impl SlotBody<'_> {
    pub fn set(&mut self, bytes: &[u8]) -> Result<(), workloads::BodyFull> {
        workloads::Body::resize(self, bytes.len())?;
        self.buf[..bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

impl workloads::Body for SlotBody<'_> {
    fn bytes(&self) -> &[u8] {
        &self.buf[..(*self.len as usize).min(self.buf.len())]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        let n = (*self.len as usize).min(self.buf.len());
        &mut self.buf[..n]
    }
    fn resize(&mut self, len: usize) -> Result<(), workloads::BodyFull> {
        if len > self.buf.len() {
            return Err(workloads::BodyFull { wanted: len, capacity: self.buf.len() });
        }
        let old = *self.len as usize;
        if len > old {
            self.buf[old..len].fill(0);
        }
        *self.len = len as u32;
        Ok(())
    }
}

impl Mapped {
    fn init(&self) {
        // SAFETY: the header lies within the mapping and nobody else uses the pool yet.
        let h = unsafe { &mut *(self.base as *mut PoolHeader) };
        h.magic = MAGIC;
        h.version = VERSION;
        h.slot_size = self.slot_size;
        h.slots = self.slots;
        h.stripes = self.stripes;
        for list in &h.free {
            list.head.store(0, Ordering::Relaxed);
            list.count.store(0, Ordering::Relaxed);
        }
        h.bad_descriptors.store(0, Ordering::Relaxed);
        for i in (0..self.slots).rev() {
            self.push_free(i);
        }
    }

    fn header(&self) -> &PoolHeader {
        // SAFETY: the mapping is at least HEADER_BYTES long and suitably aligned (page).
        unsafe { &*(self.base as *const PoolHeader) }
    }

    fn next_free(&self, idx: u32) -> &AtomicU32 {
        // SAFETY: in bounds (idx < slots), 64-byte aligned, atomics only.
        unsafe { &(*(self.slot_ptr(idx) as *const SlotCtl)).next_free }
    }

    fn list(&self, stripe: u32) -> &FreeList {
        &self.header().free[(stripe % self.stripes) as usize]
    }

    /// Pop the top of free list `stripe`; `None` when it is empty.
    fn pop_list(&self, stripe: u32) -> Option<u32> {
        let list = self.list(stripe);
        let mut head = list.head.load(Ordering::Acquire);
        let idx = loop {
            let top = head as u32;
            if top == 0 {
                return None;
            }
            let idx = top - 1;
            if idx >= self.slots {
                return None; // corrupted head: refuse rather than go out of bounds
            }
            let next = self.next_free(idx).load(Ordering::Relaxed);
            let new = ((head >> 32).wrapping_add(1) << 32) | next as u64;
            match list.head.compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break idx,
                Err(h2) => head = h2,
            }
        };
        list.count.fetch_sub(1, Ordering::Relaxed);
        Some(idx)
    }
}

// SAFETY: slots are laid out after the header at `slot_size` strides inside the mapping (page
// aligned, `slot_size` a multiple of 64); a fresh mapping is zero; each free list is a tagged
// Treiber stack, and a slot is only ever pushed on list `idx % stripes`, so an index is popped
// at most once per push.
unsafe impl SlotStore for Mapped {
    fn slots(&self) -> u32 {
        self.slots
    }

    fn slot_size(&self) -> u32 {
        self.slot_size
    }

    fn slot_ptr(&self, idx: u32) -> *mut u8 {
        debug_assert!(idx < self.slots);
        // SAFETY: idx < slots, so the slot lies within the mapping.
        unsafe { self.base.add(HEADER_BYTES + idx as usize * self.slot_size as usize) }
    }

    fn push_free(&self, idx: u32) {
        let list = self.list(idx);
        let next = self.next_free(idx);
        let mut head = list.head.load(Ordering::Acquire);
        loop {
            next.store(head as u32, Ordering::Relaxed);
            let new = ((head >> 32).wrapping_add(1) << 32) | (idx as u64 + 1);
            match list.head.compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(h2) => head = h2,
            }
        }
        list.count.fetch_add(1, Ordering::Relaxed);
    }

    fn pop_free(&self, near: u32) -> Option<u32> {
        if let Some(idx) = self.pop_list(near) {
            return Some(idx);
        }
        let idx = (1..self.stripes).find_map(|i| self.pop_list(near.wrapping_add(i)))?;
        self.list(near).borrowed.fetch_add(1, Ordering::Relaxed);
        Some(idx)
    }

    fn stripes(&self) -> u32 {
        self.stripes
    }

    fn borrowed(&self, stripe: u32) -> u64 {
        self.list(stripe).borrowed.load(Ordering::Relaxed)
    }

    fn free_count(&self) -> u32 {
        self.header().free[..self.stripes as usize].iter().map(|l| l.count.load(Ordering::Relaxed)).sum()
    }

    fn note_bad(&self) {
        self.header().bad_descriptors.fetch_add(1, Ordering::Relaxed);
    }

    fn bad_descriptors(&self) -> u64 {
        self.header().bad_descriptors.load(Ordering::Relaxed)
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: base/len describe our own mapping.
        unsafe { libc::munmap(self.base.cast(), self.len) };
        if let Some(p) = &self.unlink {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn map_fd(fd: i32, len: usize) -> Result<*mut u8, PoolError> {
    // SAFETY: shared mapping of a file we opened read-write, no address hint.
    let p =
        unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(PoolError::Map { len, source: std::io::Error::last_os_error() });
    }
    Ok(p.cast())
}

/// Whether `dir` lives on hugetlbfs.
pub(crate) fn is_hugetlbfs(dir: &Path) -> bool {
    const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs into a zeroed struct with a valid path.
    unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut s) == 0 && s.f_type as i64 == HUGETLBFS_MAGIC
    }
}
