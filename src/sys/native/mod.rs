//! Native backend: a mio `Poll` (epoll/kqueue) and a `mio::Waker` for other threads.
//!
//! # Ground rules
//!
//! * mio rounds poll timeouts up to the selector's granularity (milliseconds for epoll), so a
//!   deadline is never reached early by the wait itself (TMR-04).
//! * mio is edge-triggered and every source is registered for both directions at once, so
//!   arming is a no-op: the selector reports every new edge, and the shared layer records it.
//!   An operation that returns `WouldBlock` clears its readiness and waits for the next edge.

use std::io;
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod dns;
pub(crate) mod net;
pub(crate) mod process;
mod raw;
pub(crate) mod signal;
pub(crate) mod udp;
pub(crate) mod unix;

pub(crate) use self::raw::RawSource;

use super::{Direction, Event, Token, Wait, ready};

/// Token reserved for the unparker's waker.
const WAKER: mio::Token = mio::Token(usize::MAX);

/// Whether a read that returned `n` bytes of the `asked` drained the socket: a short read
/// means the kernel buffer is empty.
pub(crate) fn read_drained(n: usize, asked: usize) -> bool {
    n < asked
}

/// Nothing to set up while a loop runs (the WASI 0.3 backend installs its reactor).
pub(crate) struct Entered;

/// See [`Entered`].
pub(crate) fn enter(_driver: &Driver) -> Entered {
    Entered
}

/// Native targets have threads: the executor runs blocking functions on a pool.
pub(crate) const THREADS: bool = true;

/// Native targets unwind: a panic is caught where the loop runs user code.
pub(crate) const CATCHES_PANICS: bool = true;

/// Nothing is needed to wait on a native source: mio watches it from registration on.
pub(crate) type WaitHandle = ();

/// The OS selector.
pub(crate) struct Driver {
    poll: mio::Poll,
    /// Reused event buffer: no allocation per wait.
    events: mio::Events,
}

/// Wakes a `Driver` blocked in `wait` from any thread.
#[derive(Clone)]
pub(crate) struct Unparker {
    waker: Arc<mio::Waker>,
}

impl Driver {
    pub(crate) fn new() -> io::Result<(Driver, Unparker)> {
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let driver = Driver {
            poll,
            events: mio::Events::with_capacity(1024),
        };
        Ok((driver, Unparker { waker }))
    }

    /// Waits for readiness; every event becomes an [`Event`] in `out`, in the order the
    /// selector reported them.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<Wait> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            // A signal interrupted the wait: return early, the loop simply iterates again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Wait::Waited),
            Err(e) => return Err(e),
        }
        for ev in self.events.iter() {
            if ev.token() == WAKER {
                continue;
            }
            let mut bits = 0;
            if ev.is_readable() {
                bits |= ready::READABLE;
            }
            if ev.is_writable() {
                bits |= ready::WRITABLE;
            }
            if ev.is_read_closed() {
                bits |= ready::READABLE | ready::READ_CLOSED;
            }
            if ev.is_write_closed() {
                bits |= ready::WRITABLE | ready::WRITE_CLOSED;
            }
            if ev.is_error() {
                bits |= ready::READABLE | ready::WRITABLE | ready::ERROR;
            }
            out.push(Event {
                token: Token(ev.token().0),
                bits,
            });
        }
        Ok(Wait::Waited)
    }

    /// Nothing to do: mio reports both directions of every registered source.
    #[inline]
    pub(crate) fn arm(&mut self, _token: Token, _dir: Direction, _handle: WaitHandle) {}

    /// Nothing to do: closing a source's descriptor removes it from the selector.
    #[inline]
    pub(crate) fn disarm(&mut self, _token: Token) {}

    /// Natively nothing is armed explicitly.
    pub(crate) fn armed(&self) -> usize {
        0
    }

    /// The mio registry, for sources to register with.
    pub(crate) fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }
}

impl Unparker {
    pub(crate) fn unpark(&self) {
        if let Err(err) = self.waker.wake() {
            // Full or closed eventfd/pipe: the loop is awake or gone either way (SCH-06).
            tracing::trace!(target: "wasio", %err, "unpark failed (ignored)");
        }
    }
}

/// Resolution of `CLOCK_MONOTONIC`, which backs `Instant` here.
pub(crate) fn clock_resolution() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) };
        if rc == 0 {
            let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
            let nanos = u32::try_from(ts.tv_nsec).unwrap_or(1);
            return Duration::new(secs, nanos).max(Duration::from_nanos(1));
        }
    }
    Duration::from_nanos(1)
}
