//! Pool behaviour: allocation, validation of untrusted descriptors, the C/Rust layout
//! agreement, a multi-process stress test, and a real hugetlbfs pool.

use shm::{BadDescriptor, Descriptor, Pool};
use std::sync::atomic::{AtomicU32, Ordering};
use workloads::Body;

extern "C" {
    fn spright_desc_size() -> usize;
    fn spright_desc_off_dst() -> usize;
    fn spright_desc_off_src() -> usize;
    fn spright_desc_off_slot() -> usize;
    fn spright_desc_off_gen() -> usize;
    fn spright_key(chain: u32, func: u32) -> u32;
}

#[test]
fn c_and_rust_agree_on_the_descriptor() {
    // SAFETY: the probe functions take no arguments and return constants.
    unsafe {
        assert_eq!(spright_desc_size(), std::mem::size_of::<Descriptor>());
        assert_eq!(spright_desc_off_dst(), std::mem::offset_of!(Descriptor, dst));
        assert_eq!(spright_desc_off_src(), std::mem::offset_of!(Descriptor, src));
        assert_eq!(spright_desc_off_slot(), std::mem::offset_of!(Descriptor, slot));
        assert_eq!(spright_desc_off_gen(), std::mem::offset_of!(Descriptor, gen));
        assert_eq!(spright_key(3, 7), shm::key(3, 7));
        assert_eq!(spright_key(0xffff, 0xffff), shm::key(0xffff, 0xffff));
    }
    assert_eq!(shm::DESCRIPTOR_BYTES, 16);
    assert_eq!(shm::key_chain(shm::key(5, 9)), 5);
    assert_eq!(shm::key_function(shm::key(5, 9)), 9);
}

#[test]
fn alloc_until_exhausted_then_free_restores() {
    let p = Pool::anonymous(8, 256).unwrap();
    assert_eq!(p.free_count(), 8);
    let got: Vec<(u32, u32)> = (0..8).map(|_| p.alloc(1).unwrap()).collect();
    let mut idx: Vec<u32> = got.iter().map(|g| g.0).collect();
    idx.sort();
    assert_eq!(idx, (0..8).collect::<Vec<_>>(), "every slot handed out once");
    assert!(p.alloc(1).is_none(), "exhausted");
    for (i, _) in &got {
        p.free(*i);
    }
    assert_eq!(p.free_count(), 8);
    let (i, g) = p.alloc(1).unwrap();
    assert!(g >= 2, "a reused slot has a new generation");
    p.free(i);
    p.free(i); // double free: ignored and counted
    assert_eq!(p.free_count(), 8);
    assert_eq!(p.bad_descriptors(), 1);
}

#[test]
fn descriptors_are_validated_before_use() {
    let p = Pool::anonymous(4, 256).unwrap();
    let (slot, gen) = p.alloc(shm::key(1, 0)).unwrap();
    p.hand_over(slot, shm::key(1, 2));
    let d = Descriptor { dst: shm::key(1, 2), src: shm::key(1, 0), slot, gen };
    assert_eq!(p.validate(&d, shm::key(1, 2)), Ok(slot));
    assert_eq!(p.validate(&Descriptor { slot: 4, ..d }, shm::key(1, 2)), Err(BadDescriptor::OutOfBounds(4)));
    assert_eq!(
        p.validate(&Descriptor { slot: u32::MAX, ..d }, shm::key(1, 2)),
        Err(BadDescriptor::OutOfBounds(u32::MAX))
    );
    assert!(matches!(
        p.validate(&Descriptor { gen: gen + 1, ..d }, shm::key(1, 2)),
        Err(BadDescriptor::StaleGeneration { .. })
    ));
    assert!(matches!(p.validate(&d, shm::key(1, 3)), Err(BadDescriptor::NotHolder { .. })));
    let other = if slot == 0 { 1 } else { 0 };
    assert_eq!(p.validate(&Descriptor { slot: other, ..d }, shm::key(1, 2)), Err(BadDescriptor::NotAllocated(other)));
    p.free(slot);
    assert_eq!(p.validate(&d, shm::key(1, 2)), Err(BadDescriptor::NotAllocated(slot)), "a freed slot is rejected");
    assert_eq!(p.bad_descriptors(), 6);
}

/// A descriptor is received once (issue 12): a duplicate that arrives while its holder has the
/// slot, or after the slot has moved on, is rejected; so is freeing a slot that is in transit.
#[test]
fn a_descriptor_is_received_once() {
    let p = Pool::anonymous(2, 256).unwrap();
    let (gw, f1, f2) = (shm::key(1, 0), shm::key(1, 1), shm::key(1, 2));
    let (slot, gen) = p.alloc(gw).unwrap();
    p.hand_over(slot, f1);
    let d = Descriptor { dst: f1, src: gw, slot, gen };
    assert_eq!(p.slot_state(slot), Some((gen, f1)));
    assert_eq!(p.validate(&d, f1), Ok(slot));
    assert_eq!(p.validate(&d, f1), Err(BadDescriptor::NotInTransit(slot)), "a duplicate while f1 holds it");
    p.hand_over(slot, f2);
    assert!(matches!(p.validate(&d, f1), Err(BadDescriptor::NotHolder { .. })), "a duplicate after it moved on");
    p.free(slot); // in transit to f2: refused
    assert_eq!(p.free_count(), 1);
    let d2 = Descriptor { dst: f2, src: f1, slot, gen };
    assert_eq!(p.validate(&d2, f2), Ok(slot));
    p.free(slot);
    assert_eq!(p.free_count(), 2);
    assert_eq!(p.bad_descriptors(), 3);
    // Taking back a slot whose send failed makes it the sender's again.
    let (slot, gen) = p.alloc(gw).unwrap();
    p.hand_over(slot, f1);
    p.take_back(slot, gw);
    assert_eq!(p.slot_state(slot), Some((gen, gw)));
    p.free(slot);
    assert_eq!(p.free_count(), 2);
}

#[test]
fn slot_body_has_fixed_capacity() {
    let p = Pool::anonymous(1, 256).unwrap();
    let (i, _) = p.alloc(1).unwrap();
    // SAFETY: we hold the slot we just allocated and take one reference.
    let (meta, mut body) = unsafe { p.slot(i) };
    meta.route = 3;
    assert_eq!(p.body_capacity(), 256 - shm::SLOT_HEADER_BYTES);
    body.set(b"hello").unwrap();
    assert_eq!(body.bytes(), b"hello");
    let err = body.resize(p.body_capacity() + 1).unwrap_err();
    assert_eq!(err.capacity, p.body_capacity());
    body.resize(8).unwrap();
    assert_eq!(body.bytes(), b"hello\0\0\0");
}

#[test]
fn bad_geometry_is_an_error() {
    assert!(Pool::anonymous(0, 256).is_err());
    assert!(Pool::anonymous(4, 100).is_err());
    assert!(Pool::anonymous_striped(4, 256, 0).is_err(), "no free list");
    assert!(Pool::anonymous_striped(4, 256, 5).is_err(), "more lists than slots");
    assert!(Pool::anonymous_striped(100, 256, shm::MAX_STRIPES + 1).is_err());
    assert_eq!(Pool::anonymous_striped(100, 256, shm::MAX_STRIPES).unwrap().stripes(), shm::MAX_STRIPES);
}

/// A striped pool hands a taker the slots of its own stripe (`i % stripes`) first, in order,
/// then those of the next stripes rather than none; a freed slot goes back to its own stripe.
/// Every sequence written out by hand: 10 slots in 3 stripes are {0,3,6,9}, {1,4,7}, {2,5,8}.
#[test]
fn a_striped_pool_serves_each_stripe_its_own_slots_first() {
    let p = Pool::anonymous_striped(10, 256, 3).unwrap();
    assert_eq!((p.stripes(), p.free_count()), (3, 10));
    let take = |stripe, n| (0..n).map(|_| p.alloc_in(7, stripe).unwrap().0).collect::<Vec<u32>>();
    assert_eq!(take(1, 3), [1, 4, 7], "stripe 1's own slots");
    assert_eq!(take(1, 3), [2, 5, 8], "then stripe 2's");
    assert_eq!(take(1, 4), [0, 3, 6, 9], "then stripe 0's");
    assert!(p.alloc_in(7, 1).is_none(), "exhausted");
    assert_eq!(p.free_count(), 0);
    for slot in [4, 9] {
        p.free(slot);
    }
    assert_eq!(take(0, 1), [9], "9 went back to stripe 0");
    assert_eq!(take(0, 1), [4], "stripe 0 empty again: 4, from stripe 1");
    assert_eq!(take(5, 0), [] as [u32; 0]);
    for slot in (0..10).rev() {
        p.free(slot); // each list a stack: the lowest slot freed last is on top
    }
    assert_eq!(p.free_count(), 10);
    assert_eq!(take(2 + 3, 2), [2, 5], "a stripe number wraps around the stripes");
    // Borrowed from other lists, counted for the taker's own: stripe 1 took 3 + 4 (slots 2, 5,
    // 8 and 0, 3, 6, 9), stripe 0 one (slot 4), stripe 2 none.
    assert_eq!((0..3).map(|s| p.borrowed(s)).collect::<Vec<u64>>(), [1, 7, 0]);
    assert_eq!(Pool::anonymous(4, 256).unwrap().stripes(), 1);
}

/// Several processes allocate and free concurrently; a side table claimed with CAS proves no
/// slot is ever handed out twice, and the free count proves none is lost. Once with one free
/// list, once with three, each process taking from a stripe of its own and, when that runs
/// dry, from the others.
#[test]
fn multi_process_stress_never_double_allocates() {
    for stripes in [1, 3] {
        stress(stripes);
    }
}

fn stress(stripes: u32) {
    const SLOTS: u32 = 16;
    const PROCS: usize = 4;
    const ROUNDS: usize = 20_000;
    let p = Pool::anonymous_striped(SLOTS, 128, stripes).unwrap();
    // SAFETY: anonymous shared mapping of SLOTS u32 counters, inherited by the children.
    let claims = unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(m, libc::MAP_FAILED);
        std::slice::from_raw_parts(m as *const AtomicU32, SLOTS as usize)
    };
    let mut children = Vec::new();
    for c in 0..PROCS {
        // SAFETY: the child only touches atomics in shared memory and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let me = c as u32 + 1;
            let mut held: [u32; 3] = [u32::MAX; 3];
            for r in 0..ROUNDS {
                let k = r % 3;
                if held[k] != u32::MAX {
                    if claims[held[k] as usize].compare_exchange(me, 0, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                        unsafe { libc::_exit(4) };
                    }
                    p.free(held[k]);
                    held[k] = u32::MAX;
                }
                if let Some((i, _)) = p.alloc_in(me, c as u32) {
                    if claims[i as usize].compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                        unsafe { libc::_exit(3) }; // someone else holds this slot: double allocation
                    }
                    held[k] = i;
                }
            }
            for h in held.iter().filter(|h| **h != u32::MAX) {
                claims[*h as usize].store(0, Ordering::SeqCst);
                p.free(*h);
            }
            unsafe { libc::_exit(0) };
        }
        children.push(pid);
    }
    for pid in children {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed with status {status:#x}");
    }
    assert_eq!(p.free_count(), SLOTS, "no slot lost");
    assert_eq!(p.bad_descriptors(), 0);
    let mut seen = std::collections::HashSet::new();
    while let Some((i, _)) = p.alloc(9) {
        assert!(seen.insert(i), "slot {i} on the free list twice");
    }
    assert_eq!(seen.len(), SLOTS as usize);
}

/// The real thing: a pool file on hugetlbfs, mode 0600, opened by a second mapping, unlinked
/// by its creator on drop. Needs root and a mounted hugetlbfs (scripts/setup.sh).
#[test]
fn hugetlbfs_pool_is_shared_and_cleaned_up() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::path::Path::new("/dev/hugepages");
    let path = dir.join(format!("spright-test-{}", std::process::id()));
    let creator = Pool::create_striped(&path, 64, 64 * 1024 + 64, 4)
        .expect("create a hugetlbfs pool (run scripts/setup.sh as root)");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let other = Pool::open(&path).unwrap();
    assert_eq!((other.slots(), other.stripes()), (64, 4));
    // One set of free lists for both mappings: what one takes from stripe 3 the other does not.
    let mine: Vec<u32> = (0..16).map(|_| creator.alloc_in(shm::key(2, 0), 3).unwrap().0).collect();
    assert_eq!(mine, (0..16).map(|i| 4 * i + 3).collect::<Vec<u32>>());
    assert_eq!(other.alloc_in(shm::key(2, 0), 3).unwrap().0, 0, "stripe 3 is empty: the next, stripe 0");
    other.free(0);
    for slot in mine {
        other.free(slot);
    }
    assert_eq!(creator.free_count(), 64);
    let (i, g) = creator.alloc(shm::key(2, 0)).unwrap();
    // SAFETY: we hold slot i.
    unsafe { creator.slot(i) }.1.set(b"across mappings").unwrap();
    creator.hand_over(i, shm::key(2, 1));
    let d = Descriptor { dst: shm::key(2, 1), src: shm::key(2, 0), slot: i, gen: g };
    let j = other.validate(&d, shm::key(2, 1)).unwrap();
    // SAFETY: validate accepted the descriptor for us.
    assert_eq!(unsafe { other.slot(j) }.1.bytes(), b"across mappings");
    assert!(Pool::create(&path, 64, 1024).is_err(), "create refuses an existing file");
    drop(other);
    drop(creator);
    assert!(!path.exists(), "the creator unlinks the pool file");
    assert!(Pool::open(&path).is_err());
}
