//! Errors of the event loop itself, as opposed to I/O errors.
//!
//! I/O keeps returning [`std::io::Result`], as mio, async-io and asyncio (`OSError`) do. Misuse of
//! the loop (running it twice, using it after `close`) returns [`Error`], an opaque type with one
//! `is_*()` predicate per kind, so new kinds can be added without breaking callers. Task outcomes
//! that are not values (cancelled, panicked) are [`JoinError`].

use std::fmt;
use std::io;

/// An error of the event loop itself (not of an I/O operation).
///
/// Which kinds are permanent:
///
/// * [`is_closed`](Error::is_closed): the loop was closed; permanent, create a new loop.
/// * [`is_already_running`](Error::is_already_running), [`is_other_loop_running`](Error::is_other_loop_running),
///   [`is_close_running`](Error::is_close_running): a programming error in the caller; the loop
///   itself is unharmed.
/// * [`is_stopped`](Error::is_stopped): `run_until_complete` returned because `stop()` was called
///   before its future finished; the future keeps running as a task on the next run.
/// * [`is_cancelled`](Error::is_cancelled) / [`is_panic`](Error::is_panic): the future given to
///   `run_until_complete` was cancelled or panicked.
/// * [`is_fatal`](Error::is_fatal): a callback returned [`Fatal`]; the loop stopped at once
///   (asyncio's `SystemExit`/`KeyboardInterrupt` path).
/// * [`is_stalled`](Error::is_stalled): nothing could ever wake the loop again (no timer, no I/O
///   source, no other thread). Only on WASI, where waiting on nothing would trap.
/// * [`is_no_running_loop`](Error::is_no_running_loop): a function that needs the running loop was
///   called outside of one.
/// * [`is_invalid_input`](Error::is_invalid_input): bad arguments; nothing was changed.
/// * [`is_executor_shutdown`](Error::is_executor_shutdown): work for an executor that was shut
///   down; permanent for that executor.
/// * [`is_io`](Error::is_io): the OS selector or pollable set failed; see [`Error::io_error`].
/// * [`is_task_group_closed`](Error::is_task_group_closed): a task was spawned into a task group
///   that is shutting down or finished; permanent for that group.
pub struct Error {
    kind: Kind,
    detail: Option<Box<str>>,
    io: Option<io::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Closed,
    AlreadyRunning,
    OtherLoopRunning,
    CloseRunning,
    Stopped,
    Cancelled,
    Panic,
    Fatal,
    Stalled,
    NoRunningLoop,
    InvalidInput,
    ExecutorShutdown,
    Io,
    TaskGroupClosed,
}

impl Error {
    fn new(kind: Kind) -> Error {
        Error {
            kind,
            detail: None,
            io: None,
        }
    }

    fn with_detail(kind: Kind, detail: impl Into<Box<str>>) -> Error {
        Error {
            kind,
            detail: Some(detail.into()),
            io: None,
        }
    }

    pub(crate) fn closed() -> Error {
        Error::new(Kind::Closed)
    }
    pub(crate) fn already_running() -> Error {
        Error::new(Kind::AlreadyRunning)
    }
    pub(crate) fn other_loop_running() -> Error {
        Error::new(Kind::OtherLoopRunning)
    }
    pub(crate) fn close_running() -> Error {
        Error::new(Kind::CloseRunning)
    }
    pub(crate) fn stopped() -> Error {
        Error::new(Kind::Stopped)
    }
    pub(crate) fn cancelled() -> Error {
        Error::new(Kind::Cancelled)
    }
    pub(crate) fn panic(message: impl Into<Box<str>>) -> Error {
        Error::with_detail(Kind::Panic, message)
    }
    pub(crate) fn fatal(message: impl Into<Box<str>>) -> Error {
        Error::with_detail(Kind::Fatal, message)
    }
    pub(crate) fn stalled() -> Error {
        Error::new(Kind::Stalled)
    }
    pub(crate) fn no_running_loop() -> Error {
        Error::new(Kind::NoRunningLoop)
    }
    pub(crate) fn invalid_input(detail: impl Into<Box<str>>) -> Error {
        Error::with_detail(Kind::InvalidInput, detail)
    }
    pub(crate) fn executor_shutdown(detail: impl Into<Box<str>>) -> Error {
        Error::with_detail(Kind::ExecutorShutdown, detail)
    }
    pub(crate) fn task_group_closed(detail: impl Into<Box<str>>) -> Error {
        Error::with_detail(Kind::TaskGroupClosed, detail)
    }
    pub(crate) fn io(err: io::Error) -> Error {
        Error {
            kind: Kind::Io,
            detail: None,
            io: Some(err),
        }
    }

    /// The loop is closed (asyncio: `RuntimeError('Event loop is closed')`).
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }
    /// `run_*` was called on a loop that is already running, including a nested
    /// `run_until_complete` from inside one of its own tasks.
    pub fn is_already_running(&self) -> bool {
        self.kind == Kind::AlreadyRunning
    }
    /// `run_*` was called while another loop is running on this thread.
    pub fn is_other_loop_running(&self) -> bool {
        self.kind == Kind::OtherLoopRunning
    }
    /// `close()` was called on a running loop.
    pub fn is_close_running(&self) -> bool {
        self.kind == Kind::CloseRunning
    }
    /// The loop stopped before the future given to `run_until_complete` completed.
    pub fn is_stopped(&self) -> bool {
        self.kind == Kind::Stopped
    }
    /// The future given to `run_until_complete` was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind == Kind::Cancelled
    }
    /// The future given to `run_until_complete` panicked (native targets only: a panic aborts
    /// a wasm32-wasip2 instance).
    pub fn is_panic(&self) -> bool {
        self.kind == Kind::Panic
    }
    /// A callback returned [`Fatal`], which stops the loop at once.
    pub fn is_fatal(&self) -> bool {
        self.kind == Kind::Fatal
    }
    /// Nothing can ever wake the loop again: no ready callback, no timer, no I/O source with a
    /// waiting task. Native loops can still be woken from another thread and block instead.
    pub fn is_stalled(&self) -> bool {
        self.kind == Kind::Stalled
    }
    /// No wasio loop is running on this thread.
    pub fn is_no_running_loop(&self) -> bool {
        self.kind == Kind::NoRunningLoop
    }
    /// An argument was out of range or a combination of options was invalid.
    pub fn is_invalid_input(&self) -> bool {
        self.kind == Kind::InvalidInput
    }
    /// The executor refused the work: the default executor was shut down
    /// (`shutdown_default_executor` or `close`), or the pool given was (asyncio: `RuntimeError`).
    pub fn is_executor_shutdown(&self) -> bool {
        self.kind == Kind::ExecutorShutdown
    }
    /// The OS selector (or the WASI pollable set) failed.
    pub fn is_io(&self) -> bool {
        self.kind == Kind::Io
    }
    /// The underlying I/O error, for [`is_io`](Error::is_io) errors.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io.as_ref()
    }
    /// A task was spawned into a task group that is shutting down after a failure or a
    /// `cancel()` (asyncio: `RuntimeError('TaskGroup … is shutting down')`), or that has
    /// finished (`… is finished`); the future was dropped. Permanent for that group.
    pub fn is_task_group_closed(&self) -> bool {
        self.kind == Kind::TaskGroupClosed
    }
    /// The panic message or fatal reason, or the detail of an invalid-input error.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.kind {
            Kind::Closed => "event loop is closed; create a new EventLoop",
            Kind::AlreadyRunning => "this event loop is already running",
            Kind::OtherLoopRunning => {
                "cannot run the event loop while another loop is running on this thread"
            }
            Kind::CloseRunning => "cannot close a running event loop; call stop() first",
            Kind::Stopped => "event loop stopped before the future completed",
            Kind::Cancelled => "the future was cancelled",
            Kind::Panic => "the future panicked",
            Kind::Fatal => "a callback raised a fatal error",
            Kind::Stalled => {
                "event loop stalled: nothing is ready and no timer or I/O source can wake it"
            }
            Kind::NoRunningLoop => {
                "no wasio event loop is running on this thread; use EventLoop::run_until_complete or wasio::run"
            }
            Kind::InvalidInput => "invalid argument",
            Kind::ExecutorShutdown => "the executor is shut down",
            Kind::Io => "event loop driver failed",
            Kind::TaskGroupClosed => "the task group takes no more tasks",
        };
        f.write_str(text)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(io) = &self.io {
            write!(f, ": {io}")?;
        }
        Ok(())
    }
}

/// The message, as `Display` gives it: `main() -> Result<(), wasio::Error>` prints an error
/// with `Debug` (`Error: event loop stalled: ...`), and that must say what happened.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<io::Error> for Error {
    /// An I/O error of the loop's driver ([`Error::is_io`]).
    fn from(err: io::Error) -> Error {
        Error::io(err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            Kind::InvalidInput => io::ErrorKind::InvalidInput,
            Kind::Io => {
                return err
                    .io
                    .unwrap_or_else(|| io::Error::other("event loop driver failed"));
            }
            Kind::Cancelled => io::ErrorKind::Interrupted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The outcome of a task that did not produce a value.
///
/// Returned by awaiting a [`JoinHandle`](crate::JoinHandle).
pub struct JoinError {
    panic: Option<Box<str>>,
    task: Box<str>,
}

impl JoinError {
    pub(crate) fn cancelled(task: &str) -> JoinError {
        JoinError {
            panic: None,
            task: task.into(),
        }
    }
    pub(crate) fn panicked(task: &str, message: Box<str>) -> JoinError {
        JoinError {
            panic: Some(message),
            task: task.into(),
        }
    }
    /// The task was cancelled (asyncio: `CancelledError`).
    pub fn is_cancelled(&self) -> bool {
        self.panic.is_none()
    }
    /// The task panicked (native targets only; a panic aborts a wasm32-wasip2 instance).
    pub fn is_panic(&self) -> bool {
        self.panic.is_some()
    }
    /// The panic message, if the task panicked with a string payload.
    pub fn panic_message(&self) -> Option<&str> {
        self.panic.as_deref()
    }
    /// The name of the task.
    pub fn task_name(&self) -> &str {
        &self.task
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.panic {
            None => write!(f, "task {} was cancelled", self.task),
            Some(msg) => write!(f, "task {} panicked: {msg}", self.task),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinError")
            .field("task", &self.task)
            .field("panic", &self.panic)
            .finish()
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for Error {
    fn from(err: JoinError) -> Error {
        match err.panic {
            None => Error::cancelled(),
            Some(msg) => Error::panic(msg),
        }
    }
}

/// A callback error that stops the loop instead of going to the exception handler.
///
/// asyncio sends ordinary exceptions from callbacks to the exception handler and lets
/// `SystemExit`/`KeyboardInterrupt` escape `run_forever`. wasio's equivalent: a callback that
/// returns `Err(e)` is reported and the loop goes on; one that returns `Err(Fatal)` makes
/// `run_forever` / `run_until_complete` return an [`Error`] with [`is_fatal`](Error::is_fatal).
/// This works on both targets, unlike a panic, which aborts a wasm32-wasip2 instance.
///
/// ```
/// let lp = wasio::EventLoop::new().unwrap();
/// lp.call_soon(|| Err(wasio::Fatal::new("shutdown requested"))).unwrap();
/// let err = lp.run_forever().unwrap_err();
/// assert!(err.is_fatal());
/// ```
#[derive(Debug, Clone)]
pub struct Fatal {
    reason: Box<str>,
}

impl Fatal {
    /// A fatal error with a reason that ends up in the loop's [`Error`].
    pub fn new(reason: impl Into<Box<str>>) -> Fatal {
        Fatal {
            reason: reason.into(),
        }
    }
    /// The reason given to [`Fatal::new`].
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fatal: {}", self.reason)
    }
}

impl std::error::Error for Fatal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_match_kind() {
        assert!(Error::closed().is_closed());
        assert!(!Error::closed().is_already_running());
        assert!(Error::stalled().is_stalled());
        let g = Error::task_group_closed("TaskGroup is finished");
        assert!(g.is_task_group_closed() && !g.is_closed());
        assert_eq!(
            g.to_string(),
            "the task group takes no more tasks: TaskGroup is finished"
        );
        let e = Error::invalid_input("delay is negative");
        assert!(e.is_invalid_input());
        assert_eq!(e.to_string(), "invalid argument: delay is negative");
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn join_error_kinds() {
        let c = JoinError::cancelled("Task-1");
        assert!(c.is_cancelled() && !c.is_panic());
        let p = JoinError::panicked("t", "boom".into());
        assert_eq!(p.panic_message(), Some("boom"));
        assert!(Error::from(p).is_panic());
    }
}
