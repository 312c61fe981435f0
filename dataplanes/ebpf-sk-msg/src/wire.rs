//! Sending and receiving descriptors on a socket-map socket: exactly 16 bytes each way. Whether
//! a send waits is the socket's own setting (the gateway's is non-blocking); a receive waits
//! only when asked to.

use shm::{Descriptor, DESCRIPTOR_BYTES};
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

/// Receive one descriptor (all 16 bytes); `None` when the connection is closed. With `wait`,
/// a blocking socket waits for one; without, `WouldBlock` when there is none.
pub fn recv(fd: RawFd, wait: bool) -> io::Result<Option<Descriptor>> {
    let mut b = [0u8; DESCRIPTOR_BYTES];
    let flags = if wait { libc::MSG_WAITALL } else { libc::MSG_DONTWAIT };
    loop {
        // SAFETY: receiving into a valid 16-byte buffer.
        let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), DESCRIPTOR_BYTES, flags) };
        match n {
            16 => return Ok(Some(Descriptor::from_bytes(b))),
            0 => return Ok(None),
            n if n > 0 => return Err(io::Error::other(format!("partial descriptor ({n} bytes)"))),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}
