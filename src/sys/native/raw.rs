//! A raw file descriptor the loop watches for `add_reader` / `add_writer`.
//!
//! # Ground rules
//!
//! * The descriptor is borrowed, never owned: it is registered with mio through `SourceFd`,
//!   deregistered on removal, and never closed here.
//! * Level-triggered on top of an edge-triggered selector: mio always registers with `EPOLLET`
//!   (`EV_CLEAR` on kqueue), so a source that stays ready would be reported once. After each
//!   callback, [`RawSource::rearm`] re-registers the descriptor (`EPOLL_CTL_MOD`; `EV_ADD` on
//!   kqueue), which makes the kernel look at its readiness again and queue an event if it is
//!   still ready. That costs one system call per callback run, keeps readiness the callback
//!   consumed from being reported, and loses no edge (data arriving after the re-registration
//!   is a new edge). A zero-timeout `poll(2)` per watched descriptor would cost as much and
//!   report outside the selector's order.

use std::io;
use std::os::fd::RawFd;

use mio::Interest;
use mio::unix::SourceFd;

use super::Driver;
use crate::sys::Token;

/// A watched descriptor and the interest it is registered with.
pub(crate) struct RawSource {
    fd: RawFd,
    /// `None` while not registered.
    registered: Option<Interest>,
}

fn interest(read: bool, write: bool) -> Option<Interest> {
    match (read, write) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    }
}

impl RawSource {
    /// Watches `fd` (nothing is registered until [`set_interest`](Self::set_interest)).
    pub(crate) fn new(fd: RawFd) -> RawSource {
        RawSource {
            fd,
            registered: None,
        }
    }

    /// Registers, re-registers (which also re-evaluates readiness) or, with neither direction,
    /// deregisters the descriptor.
    pub(crate) fn set_interest(
        &mut self,
        driver: &mut Driver,
        token: Token,
        read: bool,
        write: bool,
    ) -> io::Result<()> {
        let registry = driver.registry();
        let fd = self.fd;
        let mut src = SourceFd(&fd);
        match (self.registered, interest(read, write)) {
            (None, None) => Ok(()),
            (Some(_), None) => {
                self.registered = None;
                registry.deregister(&mut src)
            }
            (None, Some(i)) => {
                registry.register(&mut src, mio::Token(token.0), i)?;
                self.registered = Some(i);
                Ok(())
            }
            (Some(_), Some(i)) => {
                reregister(registry, fd, token, i)?;
                self.registered = Some(i);
                Ok(())
            }
        }
    }

    /// After a callback ran: makes the selector report the descriptor again if it is still
    /// ready (see the module docs).
    pub(crate) fn rearm(&self, driver: &mut Driver, token: Token) -> io::Result<()> {
        match self.registered {
            Some(i) => reregister(driver.registry(), self.fd, token, i),
            None => Ok(()),
        }
    }
}

/// `reregister`, or `register` if the kernel forgot the descriptor (it was closed and its
/// number reused without `remove_*`: the caller asked to watch the descriptor it has now).
fn reregister(registry: &mio::Registry, fd: RawFd, token: Token, i: Interest) -> io::Result<()> {
    let mut src = SourceFd(&fd);
    match registry.reregister(&mut src, mio::Token(token.0), i) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            registry.register(&mut src, mio::Token(token.0), i)
        }
        other => other,
    }
}
