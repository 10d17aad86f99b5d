//! WASI 0.3 backend (wasm32-wasip2 with the `wasi-p3` feature): waits on one persistent
//! waitable set (docs/wasi-p3.md).
//!
//! # How readiness maps onto completions
//!
//! WASI 0.3 streams complete operations instead of reporting readiness, and the component
//! model's waitable sets are persistent: an operation in flight joins the set once, and a wait
//! returns only what completed. A wait therefore costs nothing per idle source, where WASI 0.2
//! polls every armed pollable on every wait.
//!
//! * **In flight whenever it would block.** Each source keeps at most one operation in flight
//!   per direction (a 0-length read or write as the readiness check of a stream, an accept, a
//!   connect, a datagram receive or send; a read or write that cannot complete at once is
//!   cancelled, which hands back what was done, and replaced by the check). An operation that cannot complete at once
//!   stays in flight and its completion wakes a waker bound to `(token, direction)`, which
//!   queues an [`Event`] for the next wait. `arm` starts such an operation for a source that
//!   has none (or queues the event at once when the direction is ready), so the loop's
//!   readiness protocol works unchanged.
//! * **wit-bindgen's futures, our set.** The operations are wit-bindgen futures. They register
//!   their waitables with "the current task" found through the C symbol `wasip3_task_set`; the
//!   [`reactor`] installs its own vtable there (while the loop runs, and around every poll or
//!   drop of an operation and every wait), joins each waitable to its one set, and calls
//!   wit-bindgen's completion callback when `waitable-set.wait` reports it. Any wit-bindgen future awaited in a task (a name
//!   lookup) works the same way: its callback wakes the task.
//! * **Timers.** One `monotonic-clock.wait-until` subtask for the nearest deadline, kept while
//!   the deadline stays the same (the common case: many waits before a timer is due), replaced
//!   when it changes. A zero timeout yields to the host, then takes what completed without
//!   blocking.
//! * **Never block on nothing.** A wait with no timeout, nothing in the set and no queued event
//!   returns [`Wait::Stalled`].
//! * The guest must be entered through an `async func` export: wasmtime 48 traps when a
//!   component blocks inside a synchronously lifted one.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use wasip3::clocks::monotonic_clock;

mod addr;
pub(crate) mod dns;
#[cfg(feature = "macros")]
pub(crate) mod entry;
mod error;
pub(crate) mod net;
#[path = "../wasi/process.rs"]
pub(crate) mod process;
mod raw;
mod reactor;
#[path = "../wasi/signal.rs"]
pub(crate) mod signal;
mod stream;
pub(crate) mod udp;
#[path = "../wasi/unix.rs"]
pub(crate) mod unix;

pub(crate) use self::raw::{RawSource, pollables_supported, wait_handle};

use super::{Direction, Event, Token, Wait, ready};

/// wasm32-wasip2 has no threads: the executor runs blocking functions on the loop.
pub(crate) const THREADS: bool = false;

/// wasm32-wasip2 cannot unwind: a panic aborts the instance.
pub(crate) const CATCHES_PANICS: bool = false;

/// The most one read asks the host for.
pub(crate) const MAX_READ: usize = 64 * 1024;

/// Whether a read that returned `n` bytes of the `asked` drained the stream: shorter than
/// both the buffer and the cap.
pub(crate) fn read_drained(n: usize, asked: usize) -> bool {
    n < asked.min(MAX_READ)
}

/// What `arm` needs: nothing but whether the direction can ever become ready (`None`: never,
/// e.g. writing to a listener). The driver finds the source through its token.
pub(crate) type WaitHandle = Option<()>;

/// A boxed operation in flight (wit-bindgen futures borrow their stream; the box owns both).
pub(crate) type Op<T> = Pin<Box<dyn Future<Output = T>>>;

/// What a source does when a task starts waiting on it in a direction.
pub(crate) trait Kick {
    /// Starts the operation whose completion ends a wait in `dir`, unless one is in flight;
    /// when the direction is ready already, queues its event through `waker`.
    fn kick(&self, dir: Direction);
}

/// The events queued by completions, shared with the wakers of the sources.
#[derive(Default)]
struct Queue {
    events: Mutex<Vec<Event>>,
}

impl Queue {
    fn push(&self, ev: Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ev);
    }
}

/// A waker bound to one direction of one source: waking it queues that source's event.
struct DirWaker {
    queue: Arc<Queue>,
    event: Event,
}

impl Wake for DirWaker {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.event);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.push(self.event);
    }
}

/// The wakers of a registered source, one per direction.
#[derive(Clone)]
pub(crate) struct Wakers {
    pub(crate) read: Waker,
    pub(crate) write: Waker,
}

impl Wakers {
    /// The waker of `dir`.
    pub(crate) fn get(&self, dir: Direction) -> &Waker {
        match dir {
            Direction::Read => &self.read,
            Direction::Write => &self.write,
        }
    }
}

/// Polls `op` once with `waker`, with the reactor installed (the operation may register its
/// waitable). Every poll of an operation goes through here.
pub(crate) fn poll_op<T>(op: &mut Op<T>, waker: &Waker) -> Poll<T> {
    let _reactor = reactor::install();
    op.as_mut().poll(&mut Context::from_waker(waker))
}

/// Drops an operation (cancelling it if in flight) with the reactor installed.
pub(crate) fn drop_op<T>(op: Option<Op<T>>) {
    if op.is_some() {
        let _reactor = reactor::install();
        drop(op);
    }
}

/// Held by the loop while it runs, closes or is dropped: every future polled or dropped then
/// (a task's, with any `wasip3` future in it) registers with the loop's waitable set.
pub(crate) type Entered = reactor::Installed;

/// See [`Entered`]: registrations count for `driver`'s loop.
pub(crate) fn enter(driver: &Driver) -> Entered {
    reactor::install_for(driver.owner)
}

/// The nearest deadline's clock subtask.
struct Timer {
    /// `monotonic-clock` instant it fires at.
    at: u64,
    op: Op<()>,
}

/// One driver per loop; every driver shares the thread's one waitable set.
pub(crate) struct Driver {
    /// What the operations this loop starts count for in the set (see `reactor`).
    owner: u32,
    queue: Arc<Queue>,
    /// By token index: the source to kick when a task starts waiting on it.
    sources: RefCell<Vec<Option<Weak<dyn Kick>>>>,
    timer: Option<Timer>,
    /// Fires when the timer completes (it queues nothing: the loop reads the clock).
    timer_waker: Waker,
    /// Reused to take the queued events without holding the lock while dispatching.
    taken: Vec<Event>,
    /// Where the next wait starts reporting (see [`Driver::wait`]).
    rotation: usize,
}

/// No threads on WASI: nothing can unpark from outside, so this does nothing.
#[derive(Clone)]
pub(crate) struct Unparker {
    _private: (),
}

/// A token no source has: the timer's waker queues events the loop ignores.
const NO_TOKEN: usize = usize::MAX;

impl Driver {
    pub(crate) fn new() -> io::Result<(Driver, Unparker)> {
        let queue = Arc::new(Queue::default());
        let timer_waker = Waker::from(Arc::new(DirWaker {
            queue: queue.clone(),
            event: Event {
                token: Token(NO_TOKEN),
                bits: 0,
            },
        }));
        let driver = Driver {
            owner: reactor::new_owner(),
            queue,
            sources: RefCell::new(Vec::new()),
            timer: None,
            timer_waker,
            taken: Vec::new(),
            rotation: 0,
        };
        Ok((driver, Unparker { _private: () }))
    }

    /// Makes a source known: `arm` on `token` kicks it, and its operations wake the returned
    /// wakers. Called from the sources' `register`.
    pub(crate) fn attach<K: Kick + 'static>(&self, token: Token, source: &Rc<K>) -> Wakers {
        let source: Weak<dyn Kick> = Rc::downgrade(source) as Weak<K>;
        let mut sources = self.sources.borrow_mut();
        if sources.len() <= token.0 {
            sources.resize_with(token.0 + 1, || None);
        }
        sources[token.0] = Some(source);
        let waker = |bits| {
            Waker::from(Arc::new(DirWaker {
                queue: self.queue.clone(),
                event: Event { token, bits },
            }))
        };
        Wakers {
            read: waker(ready::READABLE),
            write: waker(ready::WRITABLE),
        }
    }

    /// A task waits on `token` in `dir`: the source starts the operation that ends the wait.
    pub(crate) fn arm(&mut self, token: Token, dir: Direction, handle: WaitHandle) {
        if handle.is_none() {
            return;
        }
        let source = self
            .sources
            .borrow()
            .get(token.0)
            .and_then(|s| s.as_ref())
            .and_then(Weak::upgrade);
        if let Some(source) = source {
            source.kick(dir);
        }
    }

    /// Nothing to do: the operations in flight belong to the source and end with it (or keep
    /// running for its next wait, e.g. when the shared layer takes new handles after a
    /// connect). The table holds the source weakly, so a source that went is never kicked,
    /// and the next source registered with its token replaces it.
    pub(crate) fn disarm(&mut self, _token: Token) {}

    /// This loop's operations in the thread's waitable set (its timer included).
    pub(crate) fn armed(&self) -> usize {
        reactor::registered(self.owner)
    }

    /// Waits for completions: at most `timeout` (`None`: until one), without blocking when it
    /// is zero or events are already queued.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<Wait> {
        let _reactor = reactor::install_for(self.owner);
        let queued = !self
            .queue
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty();
        match timeout {
            // Never only a non-blocking look: the host runs its side of the streams (the
            // sockets' readiness) while the guest yields or waits, and a guest that always
            // found something queued would starve every connection the host has not served
            // yet (measured: one of 50 connections got no round trip at all).
            _ if queued || timeout.is_some_and(|t| t.is_zero()) => {
                reactor::yield_now();
                reactor::drain();
            }
            Some(t) => {
                if self.set_timer(t) {
                    reactor::wait();
                } else {
                    reactor::yield_now();
                }
                reactor::drain();
            }
            None => {
                // Only this loop's own operations can end its wait: another live loop's in
                // the same set do not count.
                if reactor::registered(self.owner) == 0 {
                    return Ok(Wait::Stalled);
                }
                reactor::wait();
                reactor::drain();
            }
        }
        // A timer that fired is spent: the next wait with a timeout starts another.
        if let Some(t) = &mut self.timer
            && poll_op(&mut t.op, &self.timer_waker).is_ready()
        {
            self.timer = None;
        }
        {
            let mut q = self
                .queue
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut *q, &mut self.taken);
        }
        let first = out.len();
        out.extend(self.taken.drain(..).filter(|e| e.token.0 != NO_TOKEN));
        // As on WASI 0.2: served in the order the host completed them, the same connections
        // would always go first (measured at C=500: the slowest connection got 0.3x the round
        // trips of the fastest). Rotating by a counter that grows each wait spreads it.
        let fired = &mut out[first..];
        if fired.len() > 1 {
            self.rotation = self.rotation.wrapping_add(1);
            let k = self.rotation % fired.len();
            fired.rotate_left(k);
        }
        Ok(Wait::Waited)
    }

    /// Makes the clock subtask fire at `now + t`: keeps the current one when it fires at most
    /// a millisecond earlier (an early wake-up only costs one more wait) and not later.
    /// Returns whether a subtask is in flight (not when the deadline had already passed).
    fn set_timer(&mut self, t: Duration) -> bool {
        let now = monotonic_clock::now();
        let at = now.saturating_add(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        if let Some(cur) = &self.timer
            && cur.at <= at
            && at - cur.at <= 1_000_000
        {
            return true;
        }
        drop_op(self.timer.take().map(|t| t.op));
        let mut op: Op<()> = Box::pin(monotonic_clock::wait_until(at));
        if poll_op(&mut op, &self.timer_waker).is_pending() {
            self.timer = Some(Timer { at, op });
            true
        } else {
            false
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _reactor = reactor::install_for(self.owner);
        drop_op(self.timer.take().map(|t| t.op));
        reactor::release_if_idle();
    }
}

impl Unparker {
    pub(crate) fn unpark(&self) {}
}

/// `wasi:clocks/monotonic-clock.get-resolution()`.
pub(crate) fn clock_resolution() -> Duration {
    Duration::from_nanos(monotonic_clock::get_resolution().max(1))
}
