//! [`Child`]: a running (or finished) child process, its exit status and its signals; the
//! exit watcher that reaps it.
//!
//! # Ground rules
//!
//! * Every child has an exit watcher: an internal task of kind `Watch` that waits for the exit
//!   and reaps the child, whether or not anyone holds the [`Child`] or awaits
//!   [`wait`](Child::wait). A child is therefore never left a zombie while its loop runs.
//! * The watcher is not cancelled by `cancel_all_tasks` and `wasio::run` does not wait for it.
//!   Closing (or dropping) the loop destroys it, and its guard ends the child: an exited
//!   child is reaped and never signalled; a running one is killed (`SIGKILL`) and reaped when
//!   it was spawned with `kill_on_close(true)` (the default), else left running and reaped by
//!   a thread when it exits.
//! * The status is recorded once, by whoever reaps first (the watcher, `wait`, `try_wait`, or
//!   a signal that found the child exited), and every waiter gets it (SUB-03).
//! * Signals follow asyncio (SUB-04): a signal sent after the child exited is ignored, until
//!   the status was collected (a `wait` or `try_wait` returned it); then the child is gone and
//!   signalling it is an error (`ProcessLookupError`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::AsyncRead;

use super::pipe::{ChildStderr, ChildStdin, ChildStdout};
use crate::core::Core;
use crate::io::ops;
use crate::io::registration::Registration;
use crate::sys::{self, Direction};
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;

/// How a child ended, as recorded.
#[derive(Clone)]
enum Exit {
    /// Reaped with this status.
    Status(ExitStatus),
    /// Not reaped by us (left running when the loop closed, or reaped by someone else's
    /// `waitpid`): the error every waiter gets.
    Lost(io::ErrorKind, Arc<str>),
}

impl Exit {
    fn result(&self) -> io::Result<ExitStatus> {
        match self {
            Exit::Status(s) => Ok(*s),
            Exit::Lost(kind, msg) => Err(io::Error::new(*kind, msg.to_string())),
        }
    }
}

/// The state a [`Child`] and its exit watcher share.
struct ProcInner {
    /// First: deregisters the exit watch before the backend closes it.
    reg: Registration,
    /// The backend process; `None` once it was reaped, or handed off when the loop closed.
    sys: RefCell<Option<sys::process::Process>>,
    pid: u32,
    /// How the child ended, once known.
    exit: RefCell<Option<Exit>>,
    /// A `wait` or `try_wait` returned the status: the child is gone for signals.
    collected: Cell<bool>,
    /// Kill the child if it still runs when the loop closes.
    kill_on_close: bool,
}

impl ProcInner {
    fn recorded(&self) -> Option<Exit> {
        self.exit.borrow().clone()
    }

    /// Records how the child ended, closes the exit watch (its registry slot goes now) and
    /// drops the backend process. Whoever waits for the exit (any number of `wait`s, the exit
    /// watcher) is woken and finds the status: once the watch is closed no event could ever
    /// wake them, whichever path reaped the child (a `try_wait`, a signal that found it
    /// exited, the loop closing).
    fn record(&self, exit: Exit) {
        let mut slot = self.exit.borrow_mut();
        if slot.is_none() {
            *slot = Some(exit);
        }
        drop(slot);
        // The registration goes before the backend process it watches (as on drop).
        self.reg.close();
        if let Ok(mut sys) = self.sys.try_borrow_mut() {
            sys.take();
        }
    }

    /// Completes once the child has exited and was reaped (by this call or anyone else). Any
    /// number of tasks may wait: the exit wakes them all.
    fn poll_exit(&self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(exit) = self.recorded() {
            return Poll::Ready(exit.result());
        }
        let mut sys = self.sys.borrow_mut();
        let Some(process) = sys.as_mut() else {
            return Poll::Ready(Err(io::Error::other("the child process is gone")));
        };
        let res = self.reg.poll_io(cx, Direction::Read, || process.try_reap());
        drop(sys);
        match res {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(status)) => {
                self.record(Exit::Status(status));
                Poll::Ready(Ok(status))
            }
            Poll::Ready(Err(e)) if e.raw_os_error().is_some() => {
                // `waitpid` failed (`ECHILD`: someone else reaped it): nothing will change.
                let exit = Exit::Lost(
                    e.kind(),
                    format!("the status of child {} was lost: {e}", self.pid).into(),
                );
                self.record(exit.clone());
                Poll::Ready(exit.result())
            }
            // The loop is gone: its close ends the child (see `finish`).
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    /// The loop closes (the watcher is destroyed) or the watcher ended: ends a child whose
    /// exit was not recorded (see the module docs).
    fn finish(&self) {
        if self.exit.borrow().is_some() {
            return;
        }
        let Some(process) = self.sys.try_borrow_mut().ok().and_then(|mut s| s.take()) else {
            return;
        };
        let exit = match process.close(self.kill_on_close) {
            Some(status) => Exit::Status(status),
            None => Exit::Lost(
                io::ErrorKind::Other,
                format!(
                    "the loop closed while child {} was running; it was left running (kill_on_close(false))",
                    self.pid
                )
                .into(),
            ),
        };
        self.record(exit);
    }
}

/// Ends the child when the watcher goes (see [`ProcInner::finish`]).
struct CloseGuard(Rc<ProcInner>);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// The exit watcher: reaps the child when it exits; its guard ends it if the loop closes first.
///
/// The guard is an argument, not a local: the future owns it from the moment it is created,
/// so a watcher discarded before its first poll (spawned in the loop's last iteration, then
/// the loop closed) still ends the child.
async fn watch(guard: CloseGuard) {
    let _ = poll_fn(|cx| guard.0.poll_exit(cx)).await;
}

/// `ProcessLookupError`: the child's status was collected, so it no longer exists.
fn process_lookup_error(pid: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("ProcessLookupError: child {pid} has exited and its status was collected"),
    )
}

/// A child process started by [`Command::spawn`](super::Command::spawn),
/// [`subprocess_exec`](super::subprocess_exec) or [`subprocess_shell`](super::subprocess_shell)
/// (asyncio's `Process`).
///
/// The pipes that were asked for are in [`stdin`](Child::stdin), [`stdout`](Child::stdout)
/// and [`stderr`](Child::stderr); take them out to use them from other tasks.
///
/// Dropping a `Child` neither kills nor waits for the child: the loop keeps watching it, reaps
/// it when it exits, and kills it when the loop closes if it still runs (unless spawned with
/// `kill_on_close(false)`).
pub struct Child {
    /// Our end of the child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// Our end of the child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// Our end of the child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    proc: Rc<ProcInner>,
}

impl Child {
    /// Registers a spawned child and its pipes with `core` and starts its exit watcher. On
    /// failure the child is killed and reaped (SUB-05).
    pub(crate) fn start(
        core: &Rc<Core>,
        spawned: sys::process::Spawned,
        kill_on_close: bool,
    ) -> io::Result<Child> {
        let sys::process::Spawned {
            mut process,
            stdin,
            stdout,
            stderr,
        } = spawned;
        let reg = match Registration::new(core, |driver, token| {
            process.register(driver, token)?;
            Ok(process.wait_handles())
        }) {
            Ok(reg) => reg,
            Err(e) => {
                process.close(true);
                return Err(e);
            }
        };
        let proc = Rc::new(ProcInner {
            reg,
            pid: process.id(),
            sys: RefCell::new(Some(process)),
            exit: RefCell::new(None),
            collected: Cell::new(false),
            kill_on_close,
        });
        let pipes = (|| {
            Ok::<_, io::Error>((
                stdin.map(|p| ChildStdin::new(core, p)).transpose()?,
                stdout.map(|p| ChildStdout::new(core, p)).transpose()?,
                stderr.map(|p| ChildStderr::new(core, p)).transpose()?,
            ))
        })();
        let (stdin, stdout, stderr) = match pipes {
            Ok(p) => p,
            Err(e) => {
                // Kills and reaps: the loop is open, so this is what its close would do.
                if let Some(process) = proc.sys.borrow_mut().take() {
                    process.close(true);
                }
                return Err(e);
            }
        };
        let name = format!("wasio-child-{}", proc.pid);
        let watcher = spawn_on(
            core,
            Some(name.into()),
            TaskKind::Watch,
            watch(CloseGuard(proc.clone())),
        );
        watcher.set_quiet();
        watcher.detach();
        Ok(Child {
            stdin,
            stdout,
            stderr,
            proc,
        })
    }

    /// The child's process id (asyncio `pid`). Once the child was reaped the system may give
    /// the id to another process.
    pub fn id(&self) -> u32 {
        self.proc.pid
    }

    /// Waits for the child to exit and returns its status (asyncio `wait()`). Any number of
    /// tasks may wait at once; each gets the status, and so does every later call (SUB-03).
    ///
    /// It resolves when the child has exited, whatever its pipes hold: unread output stays
    /// readable until end of file. (asyncio also waits for the pipes to close, because its
    /// transport reads them itself; here the caller reads them, and waiting for that would
    /// deadlock a caller that waits first.) It does not close stdin.
    pub async fn wait(&self) -> io::Result<ExitStatus> {
        let res = poll_fn(|cx| self.proc.poll_exit(cx)).await;
        self.proc.collected.set(true);
        res
    }

    /// The status if the child has exited (reaping it), `None` while it runs. Never waits.
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        if let Some(exit) = self.proc.recorded() {
            self.proc.collected.set(true);
            return exit.result().map(Some);
        }
        let reaped = match self.proc.sys.borrow_mut().as_mut() {
            Some(process) => process.try_reap(),
            None => Err(io::Error::other("the child process is gone")),
        };
        match reaped {
            Ok(status) => {
                self.proc.record(Exit::Status(status));
                self.proc.collected.set(true);
                Ok(Some(status))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// asyncio's `returncode`: `None` until the loop (or a `wait`) saw the child exit, then
    /// the exit code, or minus the signal that ended it (`-9` after [`kill`](Child::kill)).
    pub fn returncode(&self) -> Option<i32> {
        match self.proc.recorded()? {
            Exit::Status(s) => Some(sys::process::returncode(&s)),
            Exit::Lost(..) => None,
        }
    }

    /// Sends signal `sig` (asyncio `send_signal`, SUB-04). A child that has exited is not
    /// signalled, and that is no error; once its status was collected (by [`wait`] or
    /// [`try_wait`]) it no longer exists, and signalling it fails with `NotFound`
    /// (asyncio's `ProcessLookupError`).
    ///
    /// [`wait`]: Child::wait
    /// [`try_wait`]: Child::try_wait
    pub fn send_signal(&self, sig: i32) -> io::Result<()> {
        let pid = self.proc.pid;
        if self.proc.exit.borrow().is_some() {
            return if self.proc.collected.get() {
                Err(process_lookup_error(pid))
            } else {
                Ok(())
            };
        }
        let signalled = match self.proc.sys.borrow_mut().as_mut() {
            Some(process) => process.signal(sig),
            None => return Err(process_lookup_error(pid)),
        };
        if let Some(status) = signalled? {
            // It had exited: reaped instead of signalled.
            self.proc.record(Exit::Status(status));
        }
        Ok(())
    }

    /// Kills the child with `SIGKILL` (asyncio `kill()`); see
    /// [`send_signal`](Child::send_signal).
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(sys::process::SIGKILL)
    }

    /// Asks the child to end with `SIGTERM` (asyncio `terminate()`); see
    /// [`send_signal`](Child::send_signal).
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(sys::process::SIGTERM)
    }

    /// asyncio's `communicate()`: writes `input` to stdin (if piped) and closes it, reads
    /// stdout and stderr (if piped) to the end, all at once, then waits for the child to exit.
    /// The pipes are taken out of the `Child`. A child that exits without reading all its
    /// input is no error (`BrokenPipe` on stdin is ignored, as asyncio does).
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<std::process::Output> {
        let (stdin, stdout, stderr) = (self.stdin.take(), self.stdout.take(), self.stderr.take());
        let feed = async {
            let Some(stdin) = stdin else { return Ok(()) };
            let written = match input {
                Some(input) => stdin.write_all(input).await,
                None => Ok(()),
            };
            drop(stdin);
            match written {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
                _ => Ok(()),
            }
        };
        let (fed, out, err) = join3(feed, drain(stdout), drain(stderr)).await;
        fed?;
        let (stdout, stderr) = (out?, err?);
        let status = self.wait().await?;
        Ok(std::process::Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Reads a pipe, if there is one, to its end.
async fn drain<R: AsyncRead + Unpin>(pipe: Option<R>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(mut pipe) = pipe {
        ops::read_to_end(|cx, b| Pin::new(&mut pipe).poll_read(cx, b), &mut out).await?;
    }
    Ok(out)
}

/// Runs three futures concurrently on this task and returns their outputs.
async fn join3<A, B, C>(
    a: impl Future<Output = A>,
    b: impl Future<Output = B>,
    c: impl Future<Output = C>,
) -> (A, B, C) {
    let (mut a, mut b, mut c) = (std::pin::pin!(a), std::pin::pin!(b), std::pin::pin!(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            ra = poll_once(a.as_mut(), cx);
        }
        if rb.is_none() {
            rb = poll_once(b.as_mut(), cx);
        }
        if rc.is_none() {
            rc = poll_once(c.as_mut(), cx);
        }
        match (ra.take(), rb.take(), rc.take()) {
            (Some(a), Some(b), Some(c)) => Poll::Ready((a, b, c)),
            (a, b, c) => {
                (ra, rb, rc) = (a, b, c);
                Poll::Pending
            }
        }
    })
    .await
}

fn poll_once<F: Future>(f: Pin<&mut F>, cx: &mut Context<'_>) -> Option<F::Output> {
    match f.poll(cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.proc.pid)
            .field("returncode", &self.returncode())
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .finish()
    }
}
