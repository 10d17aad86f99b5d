//! WASI-only extras: await any `wasi:io/poll` pollable from a task ([`AsyncPollable`]), or run
//! a callback while one is ready ([`EventLoop::add_pollable_reader`], the WASI counterpart of
//! the native `add_reader`).
//!
//! # Ground rules
//!
//! * The loop polls an [`AsyncPollable`] only while a task waits on it, together with every
//!   other waiting source and the nearest timer, in one `wasi:io/poll.poll` call per iteration.
//! * A pollable reader is level-triggered, as asyncio's selector: its callback runs once per
//!   iteration for as long as the pollable is ready, until it is removed. The loop owns the
//!   pollable from `add_pollable_reader` until `remove_pollable_reader` (or `close()`), which
//!   drops it before the callback. A pollable's parent (stream, socket) must outlive it: WASI
//!   traps if a parent is dropped first, so remove the reader before dropping its parent.
//!
//! # With the WASI 0.3 backend (`wasi-p3` feature)
//!
//! The loop waits on a waitable set, which a WASI 0.2 pollable cannot join: [`AsyncPollable::new`]
//! and [`EventLoop::add_pollable_reader`] return `Unsupported`. Instead, any future of the
//! WASI 0.3 bindings (re-exported as `wasio::os::wasi::wasip3`) can be awaited in a task: its
//! operation joins the loop's waitable set, and its completion wakes the task.
//!
//! ```ignore
//! // With `features = ["wasi-p3"]`, in an `async func` export.
//! use wasio::os::wasi::wasip3;
//!
//! wasio::run(async {
//!     wasip3::clocks::monotonic_clock::wait_for(1_000_000).await;
//! })
//! # ;
//! ```
//!
//! ```no_run
//! use wasio::os::wasi::{AsyncPollable, wasip2};
//!
//! # fn main() -> Result<(), wasio::Error> {
//! wasio::run(async {
//!     let clock = wasip2::clocks::monotonic_clock::subscribe_duration(1_000_000);
//!     let p = AsyncPollable::new(clock).expect("inside a running loop");
//!     p.ready().await;
//! })
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};

use crate::context::try_current_core;
use crate::core::EventLoop;
use crate::error::Error;
use crate::event_loop::watch;
use crate::handle::CallbackResult;
use crate::io::registration::Registration;
use crate::sys::{self, Direction, RawSource, ready, wait_handle};

pub use wasip2;
use wasip2::io::poll::Pollable;
/// The WASI 0.3 bindings the `wasi-p3` backend is built on (`wasip3` 0.7, `wasi:*@0.3.0`).
#[cfg(feature = "wasi-p3")]
#[cfg_attr(docsrs, doc(cfg(feature = "wasi-p3")))]
pub use wasip3;

/// A pollable registered with the running loop, so tasks can `.await` it.
///
/// The pollable is owned by this value and dropped (or handed back by
/// [`into_inner`](AsyncPollable::into_inner)) after it is deregistered. Its parent resource
/// (stream, socket) must outlive it: WASI traps if a parent is dropped before its pollables.
pub struct AsyncPollable {
    /// First: disarms the driver before the pollable is dropped.
    reg: Registration,
    pollable: Pollable,
}

impl AsyncPollable {
    /// Registers `pollable` with the loop running on this thread.
    pub fn new(pollable: Pollable) -> io::Result<AsyncPollable> {
        sys::pollables_supported()?;
        let core = try_current_core().map_err(io::Error::other)?;
        let handle = wait_handle(&pollable);
        let reg = Registration::new(&core, |_, _| Ok([handle, None]))?;
        Ok(AsyncPollable { reg, pollable })
    }

    /// Waits until the pollable is ready. Each call waits for a fresh readiness check, so a
    /// level-triggered pollable that is still ready completes again at once.
    pub fn ready(&self) -> ReadyFuture<'_> {
        ReadyFuture { p: self }
    }

    /// Deregisters and returns the pollable.
    pub fn into_inner(self) -> Pollable {
        let AsyncPollable { reg, pollable } = self;
        drop(reg);
        pollable
    }
}

impl fmt::Debug for AsyncPollable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPollable")
            .field("reg", &self.reg)
            .finish()
    }
}

/// Future returned by [`AsyncPollable::ready`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct ReadyFuture<'a> {
    p: &'a AsyncPollable,
}

impl Future for ReadyFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.p.reg.poll_ready(cx, Direction::Read) {
            Poll::Ready(_) => {
                self.p.reg.clear(ready::READABLE);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Waits once for `pollable` and hands it back.
pub async fn wait_for(pollable: Pollable) -> io::Result<Pollable> {
    let p = AsyncPollable::new(pollable)?;
    p.ready().await;
    Ok(p.into_inner())
}

/// A callback registered with [`EventLoop::add_pollable_reader`]; give it to
/// [`EventLoop::remove_pollable_reader`] to stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PollableReader {
    key: i64,
}

#[cfg_attr(docsrs, doc(cfg(all(target_os = "wasi", target_env = "p2"))))]
impl EventLoop {
    /// Runs `callback` in every iteration in which `pollable` is ready, until
    /// [`remove_pollable_reader`](EventLoop::remove_pollable_reader): the WASI counterpart of
    /// the native `add_reader`. The loop owns the pollable until then.
    ///
    /// `callback` returns `()` or `Result<(), E>`; an error goes to the exception handler like
    /// any callback's. On a closed loop this fails with [`Error::is_closed`] (and the pollable
    /// is dropped).
    ///
    /// ```no_run
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use wasio::os::wasi::wasip2;
    ///
    /// let lp = wasio::EventLoop::new().unwrap();
    /// let ready = wasip2::clocks::monotonic_clock::subscribe_duration(0);
    /// let runs = Rc::new(Cell::new(0));
    /// let r = runs.clone();
    /// let reader = lp.add_pollable_reader(ready, move || r.set(r.get() + 1)).unwrap();
    /// lp.run_once().unwrap();
    /// lp.run_once().unwrap();
    /// assert_eq!(runs.get(), 2, "still ready: the callback runs in each iteration");
    /// assert!(lp.remove_pollable_reader(reader));
    /// lp.close().unwrap();
    /// ```
    pub fn add_pollable_reader<F, R>(
        &self,
        pollable: Pollable,
        callback: F,
    ) -> Result<PollableReader, Error>
    where
        F: FnMut() -> R + 'static,
        R: CallbackResult,
    {
        static NEXT: AtomicI64 = AtomicI64::new(1);
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        let source = move || RawSource::new(pollable);
        watch::add(&self.core, key, Direction::Read, source, callback)?;
        Ok(PollableReader { key })
    }

    /// Stops a pollable reader and drops its pollable (before its callback); returns whether
    /// it was registered. A run already queued is skipped. Always `false` on a closed loop
    /// (LIFE-05), where `close()` already removed every reader.
    pub fn remove_pollable_reader(&self, reader: PollableReader) -> bool {
        watch::remove(&self.core, reader.key, Direction::Read)
    }
}
