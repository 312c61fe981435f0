//! Sending and receiving descriptors on a socket-map socket: exactly 16 bytes each way. Whether
//! a send waits is the socket's own setting (the gateway's is non-blocking); a receive waits
//! only when asked to.

use shm::{Descriptor, DESCRIPTOR_BYTES};
use spright::BATCH;
use std::io;
use std::os::fd::RawFd;

/// Send one descriptor. With the SK_MSG program attached the bytes never reach the peer: they
/// are redirected to the destination's receive queue, or dropped (an error here) when the
/// destination is unknown, dead or in another chain.
pub fn send(fd: RawFd, d: &Descriptor) -> io::Result<()> {
    let b = d.to_bytes();
    loop {
        // SAFETY: sending from a valid 16-byte buffer.
        let n = unsafe { libc::send(fd, b.as_ptr().cast(), DESCRIPTOR_BYTES, libc::MSG_NOSIGNAL) };
        if n == DESCRIPTOR_BYTES as isize {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if n < 0 && e.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n >= 0 {
            return Err(io::Error::other(format!("short send of a descriptor ({n} bytes)")));
        }
        return Err(e);
    }
}

/// Send each of `ds` as a message of its own, in order, with one system call per [`BATCH`]
/// (`sendmmsg`). The program still runs once per message, so each is redirected, counted or
/// dropped as [`send`]'s would be (one descriptor per message, the rule of issue 12; a single
/// message of many descriptors would leave a drop's effect on the rest to the kernel).
/// `Err((n, e))`: the first `n` were delivered and `ds[n]` was not, for reason `e`; none after
/// it was sent. (`sendmmsg` stops at a message that fails and reports only how many went before
/// it; that one is sent again alone to learn why, which is safe: a message the program drops or
/// cannot redirect is not delivered.)
pub fn send_batch(fd: RawFd, ds: &[Descriptor]) -> Result<(), (usize, io::Error)> {
    let mut done = 0;
    while done < ds.len() {
        let chunk = &ds[done..ds.len().min(done + BATCH)];
        let mut bytes = [[0u8; DESCRIPTOR_BYTES]; BATCH];
        // SAFETY: zeroed iovec and mmsghdr are valid (null pointers, zero lengths); every one
        // used is filled in below.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, d) in chunk.iter().enumerate() {
            bytes[i] = d.to_bytes();
            iov[i] = libc::iovec { iov_base: bytes[i].as_mut_ptr().cast(), iov_len: DESCRIPTOR_BYTES };
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `chunk.len()` headers, each pointing at one iovec over 16 live bytes.
        let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), chunk.len() as libc::c_uint, libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err((done, e));
        }
        let n = n as usize;
        if let Some(h) = hdrs[..n].iter().find(|h| h.msg_len as usize != DESCRIPTOR_BYTES) {
            return Err((done, io::Error::other(format!("short send of a descriptor ({} bytes)", h.msg_len))));
        }
        done += n;
        if n < chunk.len() {
            send(fd, &ds[done]).map_err(|e| (done, e))?;
            done += 1;
        }
    }
    Ok(())
}

/// Receive one descriptor (all 16 bytes); `None` when the connection is closed. With `wait`,
/// a blocking socket waits for one; without, `WouldBlock` when there is none.
pub fn recv(fd: RawFd, wait: bool) -> io::Result<Option<Descriptor>> {
    let mut b = [0u8; DESCRIPTOR_BYTES];
    match recv_into(fd, &mut b, if wait { libc::MSG_WAITALL } else { libc::MSG_DONTWAIT })? {
        DESCRIPTOR_BYTES => Ok(Some(Descriptor::from_bytes(b))),
        0 => Ok(None),
        n => Err(io::Error::other(format!("partial descriptor ({n} bytes)"))),
    }
}

/// One `recv()` into `buf` with `flags`, retried when a signal interrupts it: the bytes received.
fn recv_into(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: receiving into a valid buffer of the length given.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receive every descriptor waiting on `fd`, up to [`BATCH`], appending them to `out` in order:
/// one system call (and one take of the socket's lock) for all of them. `Ok(false)` when the
/// connection is closed; with `wait`, a blocking socket waits for the first; without,
/// `WouldBlock` when there is none.
pub fn recv_batch(fd: RawFd, wait: bool, out: &mut std::collections::VecDeque<Descriptor>) -> io::Result<bool> {
    let mut b = [0u8; DESCRIPTOR_BYTES * BATCH];
    let n = recv_into(fd, &mut b, if wait { 0 } else { libc::MSG_DONTWAIT })?;
    if n == 0 {
        return Ok(false);
    }
    // Every message the program lets through is one whole descriptor, and the receive queue
    // hands out whole messages while the buffer has room for them.
    if n % DESCRIPTOR_BYTES != 0 {
        return Err(io::Error::other(format!("partial descriptor ({} bytes)", n % DESCRIPTOR_BYTES)));
    }
    out.extend(b[..n].chunks_exact(DESCRIPTOR_BYTES).map(|c| Descriptor::from_bytes(c.try_into().expect("16 bytes"))));
    Ok(true)
}
