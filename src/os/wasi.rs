//! WASI-only extras: await any `wasi:io/poll` pollable from a task.
//!
//! The loop polls a registered pollable only while a task waits on it, together with every
//! other waiting source and the nearest timer, in one `wasi:io/poll.poll` call per iteration.
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
use std::task::{Context, Poll};

use crate::context::try_current_core;
use crate::io::registration::Registration;
use crate::sys::{Direction, ready, wait_handle};

pub use wasip2;
use wasip2::io::poll::Pollable;

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
