//! WASI backend (wasm32-wasip2): waits with `wasi:io/poll`.
//!
//! # Ground rules
//!
//! * Never poll an empty list: it traps and kills the instance. With nothing to wait for and no
//!   timeout the driver returns [`Wait::Stalled`] and the loop reports an error instead.
//! * One clock pollable per wait, for the nearest deadline only; a zero timeout uses a fresh
//!   zero-duration pollable, so the host yields once and a busy guest cannot starve host I/O.
//! * A ready index is a hint: callers retry and treat empty reads as "not yet".

use std::io;
use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::io::poll;

use super::Wait;

/// The pollable set.
pub(crate) struct Driver {
    _private: (),
}

/// No threads on WASI: nothing can unpark from outside, so this does nothing. The loop checks
/// its remote queue before every wait, which covers same-thread `call_soon_threadsafe`.
#[derive(Clone)]
pub(crate) struct Unparker {
    _private: (),
}

impl Driver {
    pub(crate) fn new() -> io::Result<(Driver, Unparker)> {
        Ok((Driver { _private: () }, Unparker { _private: () }))
    }

    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Wait> {
        let Some(timeout) = timeout else {
            return Ok(Wait::Stalled);
        };
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let clock = monotonic_clock::subscribe_duration(nanos);
        let ready = poll::poll(&[&clock]);
        debug_assert!(!ready.is_empty(), "poll returns at least one index");
        Ok(Wait::Waited)
    }
}

impl Unparker {
    pub(crate) fn unpark(&self) {}
}

/// `wasi:clocks/monotonic-clock.resolution()`.
pub(crate) fn clock_resolution() -> Duration {
    Duration::from_nanos(monotonic_clock::resolution().max(1))
}
