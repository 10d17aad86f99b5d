//! CPU time of another process, all its threads, from `/proc` (Linux).
//!
//! `/proc/<pid>/task/<tid>/schedstat` gives each thread's time on a CPU in nanoseconds; where
//! it is missing (a kernel without schedstats) `/proc/<pid>/stat`'s `utime + stime` in clock
//! ticks (10 ms) is the fallback. A thread that ends between two samples takes its time with
//! it in the first method: the servers measured here keep their threads.

use std::fs;
use std::io;

/// CPU time consumed so far by every thread of `pid`, in nanoseconds.
pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    match schedstat_ns(pid) {
        Ok(ns) => Ok(ns),
        Err(_) => stat_ns(pid),
    }
}

fn schedstat_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0u64;
    let mut any = false;
    for entry in fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path().join("schedstat");
        // A thread may end while we list them: skip it.
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let first = text
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("unreadable {}", path.display())))?;
        total += first;
        any = true;
    }
    if any {
        Ok(total)
    } else {
        Err(io::Error::other("no schedstat"))
    }
}

fn stat_ns(pid: u32) -> io::Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: fields are counted after its ')'.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("unreadable /proc/<pid>/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at indices 11 and 12.
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other("unreadable utime/stime"))
    };
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok((ticks(11)? + ticks(12)?) * 1_000_000_000 / hz)
}
