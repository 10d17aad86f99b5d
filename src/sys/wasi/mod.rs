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
use wasip2::io::poll::{self, Pollable};

pub(crate) mod dns;
mod error;
pub(crate) mod net;

use super::Wait;
use crate::io::{Direction, Registry, Token, ready};

/// Per-source backend data: the pollable that signals readiness in each direction
/// (`[read, write]`), polled only while a task waits in that direction.
///
/// The pollables are children of the source's stream or socket: the source deregisters (which
/// drops them) before it drops its streams and socket.
#[derive(Debug, Default)]
pub(crate) struct SourceData {
    pub(crate) pollables: [Option<Pollable>; 2],
}

/// The pollable set.
pub(crate) struct Driver {
    /// For each entry of the last poll list: which source and direction it stands for
    /// (reused between waits).
    map: Vec<(Token, u8)>,
    /// Capacity kept for the list of pollable references (always empty between waits).
    list: Vec<&'static Pollable>,
}

/// No threads on WASI: nothing can unpark from outside, so this does nothing. The loop checks
/// its remote queue before every wait, which covers same-thread `call_soon_threadsafe`.
#[derive(Clone)]
pub(crate) struct Unparker {
    _private: (),
}

impl Driver {
    pub(crate) fn new() -> io::Result<(Driver, Unparker)> {
        let driver = Driver {
            map: Vec::with_capacity(64),
            list: Vec::with_capacity(64),
        };
        Ok((driver, Unparker { _private: () }))
    }

    /// One `wasi:io/poll.poll` over the pollables of sources with a waiting task, plus one clock
    /// pollable for `timeout` (a fresh zero-duration one when it is zero).
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        io: &Registry,
        out: &mut Vec<(Token, u8)>,
    ) -> io::Result<Wait> {
        // Reuse the list's allocation: covariance turns `&'static` into the borrow's lifetime.
        let mut list: Vec<&Pollable> = std::mem::take(&mut self.list);
        self.map.clear();
        if io.waiting() > 0 {
            for (token, slot) in io.iter() {
                for (dir, bit) in [
                    (Direction::Read, ready::READABLE),
                    (Direction::Write, ready::WRITABLE),
                ] {
                    if slot.is_waiting(dir)
                        && let Some(p) = &slot.sys.pollables[dir as usize]
                    {
                        list.push(p);
                        self.map.push((token, bit));
                    }
                }
            }
        }
        let clock = timeout.map(|t| {
            let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            monotonic_clock::subscribe_duration(nanos)
        });
        if let Some(c) = &clock {
            list.push(c);
        }
        if list.is_empty() {
            // Polling an empty list traps; nothing could ever end this wait.
            self.list = Vec::new();
            return Ok(Wait::Stalled);
        }
        let ready_idx = poll::poll(&list);
        for i in ready_idx {
            if let Some(&ev) = usize::try_from(i).ok().and_then(|i| self.map.get(i)) {
                out.push(ev);
            }
        }
        list.clear();
        self.list = recycle(list);
        Ok(Wait::Waited)
    }
}

/// Gives an emptied list's allocation back with a longer lifetime. The vector is empty, so
/// nothing is converted; std's in-place collect keeps the allocation.
#[allow(
    clippy::unnecessary_filter_map,
    reason = "filter_map over an empty vector is what lets in-place collect change the lifetime"
)]
fn recycle<'b>(list: Vec<&Pollable>) -> Vec<&'b Pollable> {
    debug_assert!(list.is_empty());
    list.into_iter().filter_map(|_| None).collect()
}

impl Unparker {
    pub(crate) fn unpark(&self) {}
}

/// `wasi:clocks/monotonic-clock.resolution()`.
pub(crate) fn clock_resolution() -> Duration {
    Duration::from_nanos(monotonic_clock::resolution().max(1))
}
