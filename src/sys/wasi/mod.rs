//! WASI backend (wasm32-wasip2): waits with `wasi:io/poll`.
//!
//! # Ground rules
//!
//! * Never poll an empty list: it traps and kills the instance. With nothing armed and no
//!   timeout the driver returns [`Wait::Stalled`] and the loop reports an error instead.
//! * The driver owns no pollable. Every source owns its pollables (declared before the stream
//!   or socket they were subscribed from, because a parent dropped before its children traps)
//!   and hands out their handles; the driver keeps only non-owning aliases of the armed ones,
//!   in a dense list updated when a task starts waiting (`arm`), when an entry fires, and when a
//!   source goes (`disarm`). A wait costs O(armed), never O(sources).
//! * One clock pollable per wait, for the nearest deadline only; a zero timeout uses a fresh
//!   zero-duration pollable, so the host yields once and a busy guest cannot starve host I/O.
//! * A ready index is a hint: callers retry and treat empty reads as "not yet".

use std::io;
use std::mem::ManuallyDrop;
use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{self, Pollable};

pub(crate) mod dns;
mod error;
pub(crate) mod net;
pub(crate) mod process;
mod raw;
pub(crate) mod signal;
pub(crate) mod udp;
pub(crate) mod unix;

pub(crate) use self::raw::{RawSource, pollables_supported};

use super::{Direction, Event, Token, Wait, ready};

/// Nothing to set up while a loop runs (the WASI 0.3 backend installs its reactor).
pub(crate) struct Entered;

/// See [`Entered`].
pub(crate) fn enter(_driver: &Driver) -> Entered {
    Entered
}

/// wasm32-wasip2 has no threads: the executor runs blocking functions on the loop.
pub(crate) const THREADS: bool = false;

/// wasm32-wasip2 cannot unwind: a panic aborts the instance.
pub(crate) const CATCHES_PANICS: bool = false;

/// The host returns at most 64 KiB per `input-stream.read`.
const MAX_READ: usize = 64 * 1024;

/// Whether a read that returned `n` bytes of the `asked` drained the stream: shorter than
/// both the buffer and the host's cap.
pub(crate) fn read_drained(n: usize, asked: usize) -> bool {
    n < asked.min(MAX_READ)
}

/// The handle of the pollable one direction of a source waits on (`None`: that direction never
/// becomes ready, e.g. writing to a listener).
pub(crate) type WaitHandle = Option<u32>;

/// The handle of a pollable, for [`Driver::arm`].
pub(crate) fn wait_handle(p: &Pollable) -> WaitHandle {
    Some(p.handle())
}

/// One armed direction of a source.
struct Armed {
    /// A non-owning alias of the source's pollable: never dropped here.
    pollable: ManuallyDrop<Pollable>,
    token: Token,
    dir: Direction,
}

/// The armed pollables.
pub(crate) struct Driver {
    /// Dense list of armed (source, direction) pairs, in arming order.
    armed: Vec<Armed>,
    /// By token index: position + 1 in `armed` of each direction (0: not armed).
    pos: Vec<[u32; 2]>,
    /// Capacity kept for the list of pollable references (always empty between waits).
    list: Vec<&'static Pollable>,
    /// Indices of the entries that fired in the last poll (reused).
    fired: Vec<usize>,
    /// Where the next wait starts reporting (see [`Driver::wait`]).
    rotation: usize,
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
            armed: Vec::with_capacity(64),
            pos: Vec::new(),
            list: Vec::with_capacity(64),
            fired: Vec::new(),
            rotation: 0,
        };
        Ok((driver, Unparker { _private: () }))
    }

    /// Adds the pollable behind `handle` to the list the next waits poll, until it fires.
    pub(crate) fn arm(&mut self, token: Token, dir: Direction, handle: WaitHandle) {
        let Some(handle) = handle else { return };
        if self.pos.len() <= token.0 {
            self.pos.resize(token.0 + 1, [0, 0]);
        }
        if self.pos[token.0][dir as usize] != 0 {
            return;
        }
        // SAFETY: the alias is never dropped (`ManuallyDrop`), so it cannot end the resource.
        // It is only used while the pollable exists: sources disarm (through their
        // registration) before their pollables are dropped, and a driver whose loop is gone
        // never polls again.
        let pollable = ManuallyDrop::new(unsafe { Pollable::from_handle(handle) });
        self.armed.push(Armed {
            pollable,
            token,
            dir,
        });
        self.pos[token.0][dir as usize] = u32::try_from(self.armed.len()).unwrap_or(u32::MAX);
    }

    /// Forgets every armed direction of `token`.
    pub(crate) fn disarm(&mut self, token: Token) {
        for dir in Direction::BOTH {
            if let Some(p) = self.pos.get(token.0).map(|p| p[dir as usize])
                && p != 0
            {
                self.remove(p as usize - 1);
            }
        }
    }

    /// Number of armed (source, direction) pairs.
    pub(crate) fn armed(&self) -> usize {
        self.armed.len()
    }

    /// Removes entry `i` (swap with the last one, whose position is updated).
    fn remove(&mut self, i: usize) {
        let gone = self.armed.swap_remove(i);
        if let Some(p) = self.pos.get_mut(gone.token.0) {
            p[gone.dir as usize] = 0;
        }
        if let Some(moved) = self.armed.get(i)
            && let Some(p) = self.pos.get_mut(moved.token.0)
        {
            p[moved.dir as usize] = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        // `gone.pollable` is an alias: forgetting it leaves the source's pollable alone.
    }

    /// One `wasi:io/poll.poll` over the armed pollables plus one clock pollable for `timeout`
    /// (a fresh zero-duration one when it is zero). Entries that fired are disarmed.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<Wait> {
        // Reuse the list's allocation: covariance turns `&'static` into the borrow's lifetime.
        let mut list: Vec<&Pollable> = std::mem::take(&mut self.list);
        list.extend(self.armed.iter().map(|a| &*a.pollable));
        let clock = timeout.map(|t| {
            let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            monotonic_clock::subscribe_duration(nanos)
        });
        if let Some(c) = &clock {
            list.push(c);
        }
        if list.is_empty() {
            // Polling an empty list traps; nothing could ever end this wait.
            self.list = recycle(list);
            return Ok(Wait::Stalled);
        }
        let ready_idx = poll::poll(&list);
        list.clear();
        self.list = recycle(list);
        drop(clock);
        self.fired.clear();
        let first = out.len();
        for i in ready_idx {
            let Ok(i) = usize::try_from(i) else { continue };
            if let Some(a) = self.armed.get(i) {
                out.push(Event {
                    token: a.token,
                    bits: match a.dir {
                        Direction::Read => ready::READABLE,
                        Direction::Write => ready::WRITABLE,
                    },
                });
                self.fired.push(i);
            }
        }
        // wasmtime reports ready pollables in the order of their resource-table index, not of
        // the list: served in that order, the oldest connections would always go first, answer
        // first and be ready first again (measured: the slowest of 50 echo connections got half
        // the round trips of the fastest). Rotating the fired events by a counter that grows by
        // one per such wait spreads it.
        let fired = &mut out[first..];
        if fired.len() > 1 {
            self.rotation = self.rotation.wrapping_add(1);
            let k = self.rotation % fired.len();
            fired.rotate_left(k);
        }
        // One-shot: remove what fired, highest index first so the others keep their place.
        let mut fired = std::mem::take(&mut self.fired);
        fired.sort_unstable_by(|a, b| b.cmp(a));
        fired.dedup();
        for &i in &fired {
            self.remove(i);
        }
        self.fired = fired;
        Ok(Wait::Waited)
    }
}

/// Gives an emptied list's allocation back with a longer lifetime. The vector is empty, so
/// nothing is converted; std's in-place collect keeps the allocation.
#[allow(
    clippy::unnecessary_filter_map,
    reason = "filter_map over an empty vector is what lets in-place collect change the lifetime"
)]
fn recycle<'b>(mut list: Vec<&Pollable>) -> Vec<&'b Pollable> {
    list.clear();
    list.into_iter().filter_map(|_| None).collect()
}

impl Unparker {
    pub(crate) fn unpark(&self) {}
}

/// `wasi:clocks/monotonic-clock.resolution()`.
pub(crate) fn clock_resolution() -> Duration {
    Duration::from_nanos(monotonic_clock::resolution().max(1))
}
