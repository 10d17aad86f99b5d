//! Native child processes: std spawns them, mio watches their pipes and their exit.
//!
//! # Ground rules
//!
//! * `std::process::Command` spawns (exec errors come back as spawn errors, and std's pipes are
//!   close-on-exec, so a child inherits no other child's pipe). Our ends of the pipes are made
//!   non-blocking and registered with mio; the child's ends stay blocking.
//! * The exit is a descriptor that becomes readable once the child has exited: a pidfd
//!   (`pidfd_open`, Linux 5.3+) or, where there is none (an older kernel, a seccomp filter,
//!   another Unix, or `WASIO_NO_PIDFD` set), the read end of a pipe whose write end a waiter
//!   thread closes once `waitid(WEXITED | WNOWAIT)` saw the exit. Neither reaps: the child is
//!   reaped only by [`Process::try_reap`] (`waitpid(WNOHANG)` through std's `Child`, which
//!   keeps the status), on the loop's thread.
//! * A pid is signalled only while the child is not reaped, so the kernel cannot have given it
//!   to another process; an exited child is reaped instead of signalled.
//! * [`Process::close`] (the loop closing): an exited child is reaped and never signalled; a
//!   running one is killed and reaped, or, if it is to be left running, handed to a thread that
//!   reaps it when it exits. No child is left a zombie.

use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};

use mio::Interest;
use mio::unix::pipe::{Receiver, Sender};

use super::{Driver, WaitHandle};
use crate::sys::Token;

/// `SIGKILL`, sent by `Child::kill`.
pub(crate) const SIGKILL: i32 = libc::SIGKILL;
/// `SIGTERM`, sent by `Child::terminate`.
pub(crate) const SIGTERM: i32 = libc::SIGTERM;

/// Subprocesses are supported natively.
pub(crate) fn supported() -> io::Result<()> {
    Ok(())
}

/// asyncio's `returncode`: the exit code, or minus the signal that ended the child.
pub(crate) fn returncode(status: &ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => -sig,
        // Neither exited nor signalled (stopped or continued): not a status `wait` returns.
        (None, None) => i32::MIN,
    }
}

/// A spawned child and our ends of the pipes that were asked for.
pub(crate) struct Spawned {
    pub(crate) process: Process,
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: Option<PipeReader>,
    pub(crate) stderr: Option<PipeReader>,
}

/// Spawns `cmd`. If anything fails once the child exists (a pipe, the exit watch), the child
/// is killed and reaped before the error is returned, and every descriptor is closed (SUB-05).
pub(crate) fn spawn(cmd: &mut Command) -> io::Result<Spawned> {
    let mut child = cmd.spawn()?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let parts = (|| {
        Ok::<_, io::Error>((
            ExitWatch::new(child.id())?,
            stdin.map(PipeWriter::new).transpose()?,
            stdout.map(PipeReader::new).transpose()?,
            stderr.map(PipeReader::new).transpose()?,
        ))
    })();
    match parts {
        Ok((exit, stdin, stdout, stderr)) => Ok(Spawned {
            process: Process { exit, child },
            stdin,
            stdout,
            stderr,
        }),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// What becomes readable when the child exits.
enum ExitWatch {
    /// A pidfd: readable once the process has exited.
    #[cfg(target_os = "linux")]
    PidFd(std::os::fd::OwnedFd),
    /// A pipe whose write end the waiter thread closes after the exit: readable (end of file)
    /// then.
    Thread(Receiver),
}

impl ExitWatch {
    fn new(pid: u32) -> io::Result<ExitWatch> {
        let no_pidfd = std::env::var_os("WASIO_NO_PIDFD").is_some_and(|v| !v.is_empty());
        #[cfg(target_os = "linux")]
        if !no_pidfd && let Some(fd) = pidfd_open(pid)? {
            return Ok(ExitWatch::PidFd(fd));
        }
        let _ = no_pidfd;
        let (tx, rx) = mio::unix::pipe::new()?;
        std::thread::Builder::new()
            .name(format!("wasio-exit-{pid}"))
            .spawn(move || {
                wait_exited(pid);
                drop(tx);
            })?;
        Ok(ExitWatch::Thread(rx))
    }
}

/// A pidfd for `pid`, or `None` where the kernel or a sandbox refuses `pidfd_open`.
#[cfg(target_os = "linux")]
fn pidfd_open(pid: u32) -> io::Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;

    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no memory
    // is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            // No pidfd here (kernel < 5.3, or a seccomp filter): use the waiter thread.
            Some(libc::ENOSYS | libc::EPERM | libc::EINVAL | libc::EACCES) => Ok(None),
            _ => Err(e),
        };
    }
    let fd = i32::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: `fd` is a descriptor pidfd_open just returned; nothing else owns it. It is
    // close-on-exec (pidfd_open always sets the flag).
    Ok(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
}

/// Blocks until `pid` has exited, without reaping it (`WNOWAIT`), or until it is no child of
/// ours any more (already reaped).
fn wait_exited(id: libc::id_t) {
    loop {
        // SAFETY: siginfo_t is plain data; zeroed is a valid value for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
        let rc = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// A child process: its exit watch and std's handle, which reaps it and keeps the status.
pub(crate) struct Process {
    exit: ExitWatch,
    child: Child,
}

impl Process {
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Registers the exit watch: it turns readable when the child exits.
    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        let token = mio::Token(token.0);
        match &mut self.exit {
            #[cfg(target_os = "linux")]
            ExitWatch::PidFd(fd) => {
                use std::os::fd::AsRawFd;
                driver.registry().register(
                    &mut mio::unix::SourceFd(&fd.as_raw_fd()),
                    token,
                    Interest::READABLE,
                )
            }
            ExitWatch::Thread(rx) => driver.registry().register(rx, token, Interest::READABLE),
        }
    }

    /// The exit is waited for in [`Direction::Read`](crate::sys::Direction::Read).
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    /// Reaps the child if it has exited (`WouldBlock` while it runs). Once reaped, std keeps
    /// the status, so later calls return it again.
    pub(crate) fn try_reap(&mut self) -> io::Result<ExitStatus> {
        match self.child.try_wait()? {
            Some(status) => Ok(status),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Sends `sig` to the child unless it has exited; then nothing is sent, and the status of
    /// the reaped child is returned for the caller to record.
    pub(crate) fn signal(&mut self, sig: i32) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(Some(status));
        }
        let pid = libc::pid_t::try_from(self.child.id()).map_err(io::Error::other)?;
        // SAFETY: kill takes plain integers. The child is not reaped (checked just above, and
        // only this thread reaps it), so `pid` is still this child's.
        if unsafe { libc::kill(pid, sig) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(None)
    }

    /// The loop is closing: reaps an exited child without signalling it; kills and reaps a
    /// running one if `kill`, else hands it to a thread that reaps it when it exits. Returns
    /// the status when the child was reaped here.
    pub(crate) fn close(mut self, kill: bool) -> Option<ExitStatus> {
        match self.child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            // Not our child any more (reaped elsewhere): nothing to signal or reap.
            Err(_) => return None,
        }
        if kill {
            let _ = self.child.kill();
            // SIGKILL cannot be caught: the wait is as long as the kernel takes to end it.
            return self.child.wait().ok();
        }
        let mut child = self.child;
        let pid = child.id();
        let reaper = std::thread::Builder::new()
            .name(format!("wasio-reap-{pid}"))
            .spawn(move || {
                let _ = child.wait();
            });
        if let Err(e) = reaper {
            tracing::warn!(target: "wasio", pid, error = %e, "no thread to reap a child left running; it stays a zombie after it exits");
        }
        None
    }
}

/// Our end of a child's stdout or stderr.
pub(crate) struct PipeReader {
    rx: Receiver,
}

impl PipeReader {
    fn new(pipe: impl Into<Receiver>) -> io::Result<PipeReader> {
        let rx = pipe.into();
        rx.set_nonblocking(true)?;
        Ok(PipeReader { rx })
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        driver
            .registry()
            .register(&mut self.rx, mio::Token(token.0), Interest::READABLE)
    }

    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.rx).read(buf)
    }
}

/// Our end of a child's stdin.
pub(crate) struct PipeWriter {
    tx: Sender,
}

impl PipeWriter {
    fn new(pipe: impl Into<Sender>) -> io::Result<PipeWriter> {
        let tx = pipe.into();
        tx.set_nonblocking(true)?;
        Ok(PipeWriter { tx })
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        driver
            .registry()
            .register(&mut self.tx, mio::Token(token.0), Interest::WRITABLE)
    }

    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    /// Writes without blocking. A child that closed its stdin gives `BrokenPipe` (Rust
    /// programs ignore `SIGPIPE`; a host that does not must ignore it too).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.tx).write(buf)
    }
}
