//! What the floor benchmarks share: pinning, forked peer processes, and moving exactly 16
//! bytes over a socket.

use std::net::TcpStream;
use std::os::fd::RawFd;

/// Pin the calling thread to `cpus`.
pub fn pin(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is valid; sets the calling thread's affinity only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A forked peer process; killed and reaped on drop.
pub struct Peer(libc::pid_t);

impl Drop for Peer {
    fn drop(&mut self) {
        // SAFETY: our own child.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

/// Fork a child, pinned to `cpus` where given, that runs `serve` and exits. The child must only
/// make system calls and touch shared memory (no allocation, no locks, no panics), which is
/// what is safe after `fork`.
pub fn fork_peer(cpus: Option<&[usize]>, serve: impl FnOnce()) -> Peer {
    // SAFETY: see above; the child leaves with _exit, running no destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        if let Some(c) = cpus {
            pin(c);
        }
        serve();
        // SAFETY: end the child without unwinding into the parent's state.
        unsafe { libc::_exit(0) };
    }
    Peer(pid)
}

/// Send (`write`) or receive exactly 16 bytes; false once the socket is closed or broken.
pub fn xfer(fd: RawFd, buf: &mut [u8; 16], write: bool) -> bool {
    let mut done = 0;
    while done < 16 {
        // SAFETY: reading into / writing from a valid 16-byte buffer.
        let n = unsafe {
            if write {
                libc::send(fd, buf[done..].as_ptr().cast(), 16 - done, libc::MSG_NOSIGNAL)
            } else {
                libc::recv(fd, buf[done..].as_mut_ptr().cast(), 16 - done, 0)
            }
        };
        if n <= 0 {
            return false;
        }
        done += n as usize;
    }
    true
}

/// A connected loopback TCP pair, Nagle off.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let (c, s) = ebpf_sk_msg::tcp_pair().unwrap();
    c.set_nodelay(true).unwrap();
    s.set_nodelay(true).unwrap();
    (c, s)
}
