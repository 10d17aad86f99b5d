//! Pinning processes to cores (`sched_setaffinity`), so the load generator and the server do
//! not share a core when the machine has two or more.

use std::io;

/// The number of cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins the process or thread `pid` (0: the calling thread) to `core`.
///
/// Threads created afterwards inherit the mask, so pinning a process before it starts any
/// thread (from `pre_exec`, or first thing in `main`) pins all of it.
pub fn pin(pid: libc::pid_t, core: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is the valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is checked against the set's capacity (CPU_SETSIZE bits) before CPU_SET
    // writes the bit.
    unsafe {
        if core >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "core out of range",
            ));
        }
        libc::CPU_SET(core, &mut set);
    }
    // SAFETY: `set` is a valid, initialised `cpu_set_t` and the size passed is its own.
    let rc = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (children inherit it): the
/// idle-connection runs keep 10,000 sockets open on each side. Returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid `rlimit` for the kernel to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid `rlimit` whose soft limit does not exceed its hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}
