//! A pollable the loop watches for a pollable reader (`wasio::os::wasi`).
//!
//! # Ground rules
//!
//! * The source owns its pollable; the driver only holds an alias of it while armed, so the
//!   source is always disarmed (interest off) before it is dropped.
//! * Level-triggered: a pollable stays ready once ready, and the driver's entries are one-shot,
//!   so [`RawSource::rearm`] after each callback makes the next wait report it again while it
//!   is ready. Only the read direction exists: a pollable has one readiness.

use std::io;

use wasip2::io::poll::Pollable;

use super::{Driver, wait_handle};
use crate::sys::{Direction, Token};

/// A watched pollable.
pub(crate) struct RawSource {
    pollable: Pollable,
}

impl RawSource {
    /// Watches `pollable` (not armed until [`set_interest`](Self::set_interest)).
    pub(crate) fn new(pollable: Pollable) -> RawSource {
        RawSource { pollable }
    }

    /// Arms the pollable while `read` is wanted, disarms it otherwise (`write` never applies).
    pub(crate) fn set_interest(
        &mut self,
        driver: &mut Driver,
        token: Token,
        read: bool,
        _write: bool,
    ) -> io::Result<()> {
        if read {
            driver.arm(token, Direction::Read, wait_handle(&self.pollable));
        } else {
            driver.disarm(token);
        }
        Ok(())
    }

    /// After a callback ran: arms the pollable again (entries fire once).
    pub(crate) fn rearm(&self, driver: &mut Driver, token: Token) -> io::Result<()> {
        driver.arm(token, Direction::Read, wait_handle(&self.pollable));
        Ok(())
    }
}

/// Pollables can be awaited with this backend (the WASI 0.3 one cannot).
pub(crate) fn pollables_supported() -> io::Result<()> {
    Ok(())
}
