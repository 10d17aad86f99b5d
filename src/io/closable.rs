//! [`Closable`]: a backend socket that can be closed while the value that owns it lives on
//! (`close()` on listeners and datagram sockets), so that a task waiting on it learns at once.

use std::cell::RefCell;
use std::io;

use super::registration::Registration;

/// A backend socket, `None` once closed. The owner keeps its [`Registration`] beside it,
/// declared first (dropped first).
pub(crate) struct Closable<S> {
    sys: RefCell<Option<S>>,
    /// What the closed error names ("the listener", "the UDP socket").
    what: &'static str,
}

impl<S> Closable<S> {
    pub(crate) fn new(sys: S, what: &'static str) -> Closable<S> {
        Closable {
            sys: RefCell::new(Some(sys)),
            what,
        }
    }

    /// The error every operation on a closed socket returns.
    pub(crate) fn closed_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotConnected,
            format!("{} is closed", self.what),
        )
    }

    /// Runs `f` on the socket, or fails with the closed error.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&S) -> io::Result<R>) -> io::Result<R> {
        match &*self.sys.borrow() {
            Some(s) => f(s),
            None => Err(self.closed_error()),
        }
    }

    /// Runs `f` on the socket mutably, or fails with the closed error.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(&mut S) -> io::Result<R>) -> io::Result<R> {
        match &mut *self.sys.borrow_mut() {
            Some(s) => f(s),
            None => Err(self.closed_error()),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.sys.borrow().is_none()
    }

    /// Closes the socket: the registration goes first (the driver is disarmed before WASI
    /// pollables are dropped, and every waiter is woken to see the closed error), then the
    /// socket. Idempotent.
    pub(crate) fn close(&self, reg: &Registration) {
        drop(self.take(reg));
    }

    /// Like [`close`](Closable::close), but hands the socket to the caller instead of dropping
    /// it (to let it finish sending).
    pub(crate) fn take(&self, reg: &Registration) -> Option<S> {
        let taken = self.sys.borrow_mut().take();
        if taken.is_some() {
            reg.close();
        }
        taken
    }
}
