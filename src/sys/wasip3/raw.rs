//! WASI 0.2 pollables under the WASI 0.3 backend: not supported.
//!
//! A `wasi:io/poll` pollable cannot join a waitable set, and the loop waits on the set, so it
//! could never learn that such a pollable is ready. `wasio::os::wasi` (awaiting a pollable,
//! pollable readers) therefore reports `Unsupported` with this backend instead of hanging.

use std::io;

use wasip2::io::poll::Pollable;

use super::{Driver, WaitHandle};
use crate::sys::Token;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "WASI 0.2 pollables cannot be awaited with the WASI 0.3 backend (a pollable cannot \
         join a waitable set)",
    )
}

/// `Unsupported`: see the module docs.
pub(crate) fn pollables_supported() -> io::Result<()> {
    Err(unsupported())
}

/// Never used to wait (see [`pollables_supported`]).
pub(crate) fn wait_handle(_p: &Pollable) -> WaitHandle {
    None
}

/// A pollable that can never be watched here.
pub(crate) struct RawSource {
    _pollable: Pollable,
}

impl RawSource {
    pub(crate) fn new(pollable: Pollable) -> RawSource {
        RawSource {
            _pollable: pollable,
        }
    }

    /// `Unsupported` for any interest; turning interest off succeeds (nothing is watched).
    pub(crate) fn set_interest(
        &mut self,
        _driver: &mut Driver,
        _token: Token,
        read: bool,
        write: bool,
    ) -> io::Result<()> {
        if read || write {
            Err(unsupported())
        } else {
            Ok(())
        }
    }

    pub(crate) fn rearm(&self, _driver: &mut Driver, _token: Token) -> io::Result<()> {
        Err(unsupported())
    }
}
