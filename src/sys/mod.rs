//! Platform backends: the only place that switches on the target.
//!
//! Exactly one backend is compiled: `native` (mio + socket2) everywhere except WASI, `wasi`
//! (`wasi:io/poll` + `wasi:sockets`) on wasm32-wasip2. Both export the same names, and the
//! compiler checks them, since shared code uses them without any `cfg`:
//!
//! * `Driver`: owns the OS selector (native: `mio::Poll`) or the pollable set (WASI).
//!   - `Driver::new() -> io::Result<(Driver, Unparker)>`
//!   - `Driver::wait(&mut self, timeout: Option<Duration>) -> io::Result<Wait>`: blocks at most
//!     `timeout` (`None`: until something happens); `Some(ZERO)` must not block. Returns
//!     [`Wait::Stalled`] instead of blocking when nothing at all could end the wait (WASI, where
//!     polling an empty list traps). An interrupted wait (`EINTR`) is a normal, early return.
//! * `Unparker`: `Clone + Send + Sync`; `unpark()` makes the current or next `wait` return
//!   early. It never fails: errors of the wake-up write are swallowed (asyncio
//!   `_write_to_self`). On WASI, which has no threads, it is a no-op.
//! * `clock_resolution() -> Duration`: resolution of the monotonic clock behind `Instant`
//!   (TMR-03).
//!
//! Shared code never reads readiness as truth: drivers may report spurious wake-ups.

use std::time::Duration;

/// How a [`Driver`] wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The wait returned (timeout, readiness, or an unpark); the loop goes on.
    Waited,
    /// Nothing registered and no timeout: waiting would never return (WASI only).
    Stalled,
}

#[cfg(not(target_os = "wasi"))]
mod native;
#[cfg(not(target_os = "wasi"))]
pub(crate) use self::native::*;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod wasi;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub(crate) use self::wasi::*;

#[allow(
    dead_code,
    reason = "documents the contract; each backend defines its own"
)]
const _: Option<Duration> = None;
