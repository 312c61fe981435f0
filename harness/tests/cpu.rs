//! CPU accounting against an independent source (issue 12): a child process burns a known amount
//! of CPU, part of it in a thread that exits early; the sampler's figure is checked against the
//! kernel's own account of the child, its `wait4` rusage.

mod common;

use dataplane_api::Role;
use harness::cpu::{Sampler, Tracked};
use std::io::Write;
use std::time::Duration;

/// Burns 0.4 s of CPU in its main thread and 0.3 s in a thread that then exits, once told to on
/// stdin, then idles 0.4 s so the sampler sees the total before the process goes.
const CHILD: &str = r#"
import sys, threading, time
def burn(s):
    t = time.thread_time()
    while time.thread_time() - t < s:
        pass
sys.stdin.readline()
w = threading.Thread(target=burn, args=(0.3,))
w.start()
burn(0.4)
w.join()
time.sleep(0.4)
"#;

#[test]
fn sampled_cpu_agrees_with_the_kernels_rusage() {
    let _g = common::serial();
    // Reaped below with wait4, which `Child` cannot do: it is what gives the rusage.
    #[allow(clippy::zombie_processes)]
    let mut child = std::process::Command::new("python3")
        .args(["-c", CHILD])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let pid = child.id();
    let tracked = Tracked { pid, tid: None, role: Role::Function, name: "burner".into() };
    let sampler = Sampler::start(vec![tracked], Duration::from_millis(50)).unwrap();
    std::thread::sleep(Duration::from_millis(200)); // the sampler's baseline, before any burning
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for (and reaping) our own child; `child` is not waited on again.
    let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
    assert_eq!(r, pid as i32);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed: {status:#x}");
    let (samples, _) = sampler.finish();
    let sampled = samples.iter().filter(|s| s.name == "burner").map(|s| s.cpu_s).fold(0.0, f64::max);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let kernel = secs(ru.ru_utime) + secs(ru.ru_stime);
    eprintln!("burned 0.7 s; sampler {sampled:.3} s, rusage {kernel:.3} s");
    // The kernel's figure: the 0.7 s burned plus the interpreter's start-up (before the sampler).
    assert!((0.69..1.2).contains(&kernel), "rusage {kernel:.3} s for 0.7 s burned");
    // The sampler: at least what was burned after it started (the exited thread included), and
    // never more than the kernel saw.
    assert!(sampled >= 0.68, "sampler saw {sampled:.3} s of 0.7 s burned (the exited thread lost?)");
    assert!(sampled <= kernel + 0.01, "sampler {sampled:.3} s above the kernel's {kernel:.3} s");
}

/// Memory sampling (issue 11): a child that allocates and touches 64 MiB shows it in RSS and PSS
/// (within 8 MiB below and 40 MiB above: the interpreter's own pages), and a hugepage pool the
/// child maps shows in the hugetlb fields, not in RSS.
#[test]
fn sampled_memory_shows_touched_pages_and_hugepages_apart() {
    let _g = common::serial();
    let mut rss_child = std::process::Command::new("python3")
        .args(["-c", "import sys, time\nb = bytearray(b'x' * (64 << 20))\nprint(flush=True)\ntime.sleep(30)"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(rss_child.stdout.as_mut().unwrap()), &mut line).unwrap();
    let sample = |pid: u32| {
        let tracked = Tracked { pid, tid: None, role: Role::Function, name: "mem".into() };
        let s = Sampler::start(vec![tracked], Duration::from_millis(20)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.finish().0.into_iter().filter_map(|s| s.mem).next_back().expect("a memory sample")
    };
    let m = sample(rss_child.id());
    let _ = rss_child.kill();
    let _ = rss_child.wait();
    for kib in [m.rss_kib, m.pss_kib] {
        assert!((56 << 10..(104 << 10)).contains(&kib), "64 MiB touched, sampled {kib} KiB: {m:?}");
    }
    assert_eq!(m.hugetlb_shared_kib + m.hugetlb_private_kib, 0);

    // A 16 MiB pool on hugetlbfs, mapped and touched by a child process of this test.
    let path = std::path::Path::new(shm::POOL_DIR).join(format!("{}-memtest", std::process::id()));
    std::fs::create_dir_all(shm::POOL_DIR).unwrap();
    // Kept until the end: dropping the pool removes its file.
    let pool = shm::Pool::create(&path, 256, 64 * 1024).expect("a hugetlbfs pool (scripts/setup.sh)");
    let script = format!(
        "import mmap, os, sys, time\nf = os.open('{}', os.O_RDWR)\nm = mmap.mmap(f, os.fstat(f).st_size)\n\
         for i in range(0, len(m), 4096): m[i] = 1\nprint(flush=True)\ntime.sleep(30)",
        path.display()
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    let h = sample(child.id());
    let _ = child.kill();
    let _ = child.wait();
    drop(pool);
    assert!(h.hugetlb_shared_kib >= 16 << 10, "the pool's 16 MiB+ of hugepages: {h:?}");
    assert!(h.rss_kib < 16 << 10, "hugepages are not in RSS: {h:?}");
}
