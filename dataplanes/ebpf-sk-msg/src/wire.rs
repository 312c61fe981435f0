//! Sending and receiving descriptors on a socket-map socket: exactly 16 bytes each way.

use shm::{Descriptor, DESCRIPTOR_BYTES};
use std::io;
use std::os::fd::RawFd;

/// Send one descriptor. With the SK_MSG program attached the bytes never reach the peer: they
/// are redirected to the destination's receive queue, or dropped (an error here) when the
/// destination is unknown, dead or in another chain.
pub fn send(fd: RawFd, d: &Descriptor, nonblocking: bool) -> io::Result<()> {
    let b = d.to_bytes();
    let flags = libc::MSG_NOSIGNAL | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    loop {
        // SAFETY: sending from a valid 16-byte buffer.
        let n = unsafe { libc::send(fd, b.as_ptr().cast(), DESCRIPTOR_BYTES, flags) };
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

/// Outcome of reading from the socket.
pub enum Recv {
    Desc(Descriptor),
    /// Non-blocking socket with nothing to read.
    Empty,
    Closed,
}

/// Receive one descriptor (all 16 bytes, `MSG_WAITALL` when blocking).
pub fn recv(fd: RawFd, nonblocking: bool) -> io::Result<Recv> {
    let mut b = [0u8; DESCRIPTOR_BYTES];
    let flags = if nonblocking { libc::MSG_DONTWAIT } else { libc::MSG_WAITALL };
    loop {
        // SAFETY: receiving into a valid 16-byte buffer.
        let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), DESCRIPTOR_BYTES, flags) };
        match n {
            16 => return Ok(Recv::Desc(Descriptor::from_bytes(b))),
            0 => return Ok(Recv::Closed),
            n if n > 0 => return Err(io::Error::other(format!("partial descriptor ({n} bytes)"))),
            _ => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return Ok(Recv::Empty),
                    _ => return Err(e),
                }
            }
        }
    }
}
