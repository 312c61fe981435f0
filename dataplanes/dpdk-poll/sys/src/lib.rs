//! Raw FFI to the C shim in `src/shim.c` (DPDK 22.11, EAL and rte_ring). Use the safe wrappers
//! in the `dpdk-poll` crate instead.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

/// Opaque `struct rte_ring`.
#[repr(C)]
pub struct rte_ring {
    _private: [u8; 0],
}

/// Opaque `struct rte_mempool`.
#[repr(C)]
pub struct rte_mempool {
    _private: [u8; 0],
}

extern "C" {
    pub fn sb_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
    pub fn sb_errno() -> c_int;
    pub fn sb_strerror(e: c_int) -> *const c_char;
    pub fn sb_ring_create(name: *const c_char, count: c_uint) -> *mut rte_ring;
    pub fn sb_ring_lookup(name: *const c_char) -> *mut rte_ring;
    pub fn sb_ring_enqueue(r: *mut rte_ring, obj: *const c_void) -> c_int;
    pub fn sb_ring_dequeue(r: *mut rte_ring, obj: *mut c_void) -> c_int;
    pub fn sb_ring_enqueue_burst(r: *mut rte_ring, objs: *const c_void, n: c_uint) -> c_uint;
    pub fn sb_ring_dequeue_burst(r: *mut rte_ring, objs: *mut c_void, n: c_uint) -> c_uint;
    pub fn sb_elem_size() -> c_uint;
    pub fn sb_mempool_create(name: *const c_char, n: c_uint, elt_size: c_uint, priv_size: c_uint) -> *mut rte_mempool;
    pub fn sb_mempool_lookup(name: *const c_char) -> *mut rte_mempool;
    pub fn sb_mempool_get(mp: *mut rte_mempool, obj: *mut *mut c_void) -> c_int;
    pub fn sb_mempool_put(mp: *mut rte_mempool, obj: *mut c_void);
    pub fn sb_mempool_avail(mp: *const rte_mempool) -> c_uint;
    pub fn sb_mempool_elt_size(mp: *const rte_mempool) -> c_uint;
    pub fn sb_mempool_priv(mp: *mut rte_mempool) -> *mut c_void;
    pub fn sb_mempool_objs(mp: *mut rte_mempool, out: *mut *mut c_void, max: c_uint) -> c_uint;
}
