//! [`Registration`]: a source's membership in its loop's registry, and the readiness protocol
//! every I/O future follows.
//!
//! # Ground rules
//!
//! * Readiness first: an operation runs only when the driver recorded readiness in its
//!   direction, so an idle direction costs no system call or host call. When the operation
//!   finds nothing to do (`WouldBlock`), the readiness is cleared and the task waits for the
//!   next event. Operations that are cheap and need no readiness (a native flush, a connect
//!   that may be done) try first ([`Registration::poll_io_try_first`]).
//! * Waiting arms the driver for that direction (a no-op natively; on WASI the source's
//!   pollable joins the poll list until it fires).
//! * A registration holds its loop weakly: sources do not keep a loop alive. Once the loop is
//!   gone, operations run without waiting, and one that would still wait fails instead of
//!   spinning.
//! * Dropping a registration disarms the driver before the source's own fields (its WASI
//!   pollables) are dropped: a source declares its registration first.
//! * Every waiter always learns the outcome. Closing a source ([`Registration::close`]: the
//!   slot goes at once, not when the value is dropped), replacing its wait handles and
//!   shutting a direction down wake whoever waits, and the woken operation reports the error.

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use super::registry::Readiness;
use crate::core::Core;
use crate::error::Error;
use crate::sys::{self, Direction, Token, WaitHandle, ready};

/// A source's slot in its loop's registry; deregisters on drop.
pub(crate) struct Registration {
    core: Weak<Core>,
    token: Token,
    /// [`close`](Registration::close) removed the slot: the token may already name another
    /// source, so it is never used again.
    closed: Cell<bool>,
}

fn loop_gone() -> io::Error {
    io::Error::other(Error::closed())
}

fn source_closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the source was closed")
}

impl Registration {
    /// Registers a source: `register` makes it known to the driver (the mio registration
    /// natively) and returns what its directions wait on.
    pub(crate) fn new(
        core: &Rc<Core>,
        register: impl FnOnce(&sys::Driver, Token) -> io::Result<[WaitHandle; 2]>,
    ) -> io::Result<Registration> {
        if core.is_closed() {
            return Err(loop_gone());
        }
        let token = core.io.borrow_mut().insert(Default::default());
        let reg = Registration {
            core: Rc::downgrade(core),
            token,
            closed: Cell::new(false),
        };
        let handles = register(&core.driver.borrow(), token)?;
        core.io.borrow_mut().set_handles(token, handles);
        Ok(reg)
    }

    /// The loop this source belongs to, while it exists.
    pub(crate) fn core(&self) -> io::Result<Rc<Core>> {
        self.core.upgrade().ok_or_else(loop_gone)
    }

    /// Replaces the wait handles (a WASI connect that finished, a UDP connect that replaced its
    /// streams): disarms the old ones first, then wakes whoever waited in either direction, so
    /// each waits again on the new handles instead of on ones the driver no longer watches.
    pub(crate) fn set_handles(&self, handles: [WaitHandle; 2]) {
        if self.closed.get() {
            return;
        }
        if let Some(core) = self.core.upgrade() {
            core.driver.borrow_mut().disarm(self.token);
            let mut wake = Vec::new();
            {
                let mut io = core.io.borrow_mut();
                io.set_handles(self.token, handles);
                io.take_waiters(self.token, &mut wake);
            }
            for w in wake {
                w.wake();
            }
        }
    }

    /// Marks `dir` ready and wakes its waiters: the source changed state in a way the driver
    /// may never report (a direction shut down, a child reaped by another path), so each
    /// waiter runs its operation again and sees the outcome.
    pub(crate) fn wake(&self, dir: Direction) {
        if self.closed.get() {
            return;
        }
        if let Some(core) = self.core.upgrade() {
            let mut wake = Vec::new();
            core.io
                .borrow_mut()
                .set_ready(self.token, dir.mask(), &mut wake);
            for w in wake {
                w.wake();
            }
        }
    }

    /// Closes the registration now (the source was closed while the value lives on): disarms
    /// the driver, frees the slot and wakes every waiter, whose operation then reports the
    /// source's own error. Idempotent; dropping the registration afterwards does nothing.
    pub(crate) fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.deregister();
    }

    fn deregister(&self) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        // No borrow of these is held while user code (a destructor) runs, so they succeed; if
        // one ever did not, the slot would only be reclaimed with the loop.
        if let Ok(mut driver) = core.driver.try_borrow_mut() {
            driver.disarm(self.token);
        }
        let mut wake = Vec::new();
        if let Ok(mut io) = core.io.try_borrow_mut() {
            io.remove(self.token, &mut wake);
        }
        drop(core);
        // Whoever waited on the source sees it gone instead of waiting forever.
        for w in wake {
            w.wake();
        }
    }

    /// The readiness recorded in `dir`, or `Pending` with the task parked and the driver armed.
    /// `None` when the loop is gone.
    fn poll_ready_inner(&self, cx: &mut Context<'_>, dir: Direction) -> Option<Poll<u8>> {
        if self.closed.get() {
            return Some(Poll::Ready(dir.mask()));
        }
        let core = self.core.upgrade()?;
        // Wakers of a flushed waiter list (rare); no allocation otherwise.
        let mut flushed = Vec::new();
        let readiness = core
            .io
            .borrow_mut()
            .poll_ready(self.token, dir, cx.waker(), &mut flushed);
        let out = match readiness {
            Readiness::Ready(bits) => Poll::Ready(bits),
            Readiness::Gone => Poll::Ready(dir.mask()),
            Readiness::Parked(handle) => {
                core.driver.borrow_mut().arm(self.token, dir, handle);
                Poll::Pending
            }
        };
        for w in flushed {
            w.wake();
        }
        Some(out)
    }

    /// Waits until the source is ready in `dir`; returns the ready bits (every bit of the
    /// direction once the loop is gone).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<u8> {
        self.poll_ready_inner(cx, dir)
            .unwrap_or(Poll::Ready(dir.mask()))
    }

    /// Runs a non-blocking operation when `dir` is ready, until it stops saying `WouldBlock`
    /// (each `WouldBlock` clears the readiness and waits for the next event). `Interrupted` is
    /// retried.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let gone = match self.poll_ready_inner(cx, dir) {
                Some(Poll::Pending) => return Poll::Pending,
                Some(Poll::Ready(_)) => false,
                None => true,
            };
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.closed.get() {
                        return Poll::Ready(Err(source_closed()));
                    }
                    if gone {
                        return Poll::Ready(Err(loop_gone()));
                    }
                    self.clear(dir.mask());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return Poll::Ready(other),
            }
        }
    }

    /// A read through [`poll_io`](Self::poll_io): a read that drained the source (a short one)
    /// also clears the readiness, since the next one would find nothing.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let asked = buf.len();
        let res = self.poll_io(cx, Direction::Read, || read(buf));
        if let Poll::Ready(Ok(n)) = res
            && n > 0
            && sys::read_drained(n, asked)
        {
            self.clear(ready::READABLE);
        }
        res
    }

    /// A write through [`poll_io`](Self::poll_io): a short write also clears the readiness,
    /// since the next one would find no room.
    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let res = self.poll_io(cx, Direction::Write, || write(buf));
        if let Poll::Ready(Ok(n)) = res
            && n < buf.len()
        {
            self.clear(ready::WRITABLE);
        }
        res
    }

    /// Like [`poll_io`](Self::poll_io), but tries the operation before looking at readiness:
    /// for operations that usually succeed at once.
    pub(crate) fn poll_io_try_first<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear(dir.mask());
                self.poll_io(cx, dir, op)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => self.poll_io(cx, dir, op),
            other => Poll::Ready(other),
        }
    }

    /// Waits once for readiness in `dir`, then clears it.
    #[allow(
        dead_code,
        reason = "used by WASI name lookups and pollables; native sources use poll_io"
    )]
    pub(crate) async fn ready(&self, dir: Direction) {
        poll_fn(|cx| self.poll_ready(cx, dir)).await;
        self.clear(dir.mask());
    }

    /// Whether a task waits on this source in `dir`.
    pub(crate) fn is_waiting(&self, dir: Direction) -> bool {
        !self.closed.get()
            && self
                .core
                .upgrade()
                .is_some_and(|core| core.io.borrow().is_waiting(self.token, dir))
    }

    /// Clears readiness bits after an operation found nothing (more) to do.
    pub(crate) fn clear(&self, bits: u8) {
        if self.closed.get() {
            return;
        }
        if let Some(core) = self.core.upgrade() {
            core.io.borrow_mut().clear(self.token, bits);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.closed.get() {
            self.deregister();
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("token", &self.token)
            .finish()
    }
}
