//! Handles to scheduled callbacks: [`Handle`], [`TimerHandle`] and [`ThreadsafeHandle`].
//!
//! # Ground rules
//!
//! * A callback is boxed exactly once: the handle, the ready queue and the timer heap share one
//!   `Rc` allocation holding the closure (`Entry<dyn Action>`).
//! * `cancel()` drops the closure at once (asyncio sets `_callback = None`), so whatever it
//!   captured is released even while the entry still sits in the heap until lazy removal.
//! * `cancelled()` becomes true on the first `cancel()`, even after the callback ran (as in
//!   asyncio); cancelling after the run has no other effect.
//! * Only a timer still in the heap counts towards the loop's cancelled-timer counter, and only
//!   once (TMR-05); that counter drives the timer queue's purge rule.

use std::cell::Cell;
use std::error::Error as StdError;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::clock::{Clock, Tick};

/// What a callback produced: `Ok` or an error for the exception handler (or [`crate::Fatal`]).
pub(crate) type Outcome = Result<(), Box<dyn StdError>>;

/// The return type of a callback: `()` or `Result<(), E>`.
///
/// A callback that returns `Err(e)` is reported to the loop's exception handler with the message
/// `Exception in callback <name>` and the loop keeps running (EXC-02). Returning
/// `Err(wasio::Fatal::new(..))` stops the loop instead.
pub trait CallbackResult {
    /// Converts into the loop's internal outcome.
    fn into_outcome(self) -> Result<(), Box<dyn StdError>>;
}

impl CallbackResult for () {
    fn into_outcome(self) -> Outcome {
        Ok(())
    }
}

impl<E: Into<Box<dyn StdError>>> CallbackResult for Result<(), E> {
    fn into_outcome(self) -> Outcome {
        self.map_err(Into::into)
    }
}

/// The work an entry does when it runs. Object-safe so entries of different closures share one
/// queue.
pub(crate) trait Action {
    /// Runs the action once; `None` if it had already been taken (ran or cancelled).
    fn run(&self) -> Option<Outcome>;
    /// Drops whatever the action captured.
    fn clear(&self);
    /// A name for logs: the closure's type name, or `sleep` for a waker.
    fn describe(&self) -> &'static str;
}

/// A boxed-once `FnOnce` callback.
pub(crate) struct Call<F> {
    f: Cell<Option<F>>,
}

impl<F> Call<F> {
    pub(crate) fn new(f: F) -> Call<F> {
        Call {
            f: Cell::new(Some(f)),
        }
    }
}

impl<F, R> Action for Call<F>
where
    F: FnOnce() -> R,
    R: CallbackResult,
{
    fn run(&self) -> Option<Outcome> {
        self.f.take().map(|f| f().into_outcome())
    }
    fn clear(&self) {
        drop(self.f.take());
    }
    fn describe(&self) -> &'static str {
        std::any::type_name::<F>()
    }
}

/// One scheduled callback: a `call_soon` entry in the ready queue or a timer in the heap.
pub(crate) struct Entry<A: ?Sized> {
    /// Set by the first `cancel()`; a cancelled entry is skipped when its turn comes.
    cancelled: Cell<bool>,
    /// True while the entry is in the timer heap (asyncio `_scheduled`).
    scheduled: Cell<bool>,
    /// Deadline in loop ticks (timers only; 0 for `call_soon`).
    pub(crate) when: Tick,
    /// The loop's cancelled-timer counter, for timers; `None` for `call_soon` entries.
    counter: Option<Rc<Cell<usize>>>,
    /// The closure or waker. Last field so `Entry<Call<F>>` coerces to `Entry<dyn Action>`.
    action: A,
}

pub(crate) type EntryRef = Rc<Entry<dyn Action>>;

impl<A: Action> Entry<A> {
    pub(crate) fn new(action: A) -> Entry<A> {
        Entry {
            cancelled: Cell::new(false),
            scheduled: Cell::new(false),
            when: 0,
            counter: None,
            action,
        }
    }

    pub(crate) fn timer(action: A, when: Tick, counter: Rc<Cell<usize>>) -> Entry<A> {
        Entry {
            scheduled: Cell::new(true),
            when,
            counter: Some(counter),
            ..Entry::new(action)
        }
    }
}

impl<A: Action + ?Sized> Entry<A> {
    /// Runs the callback unless it was cancelled. `None` means nothing ran.
    pub(crate) fn run(&self) -> Option<Outcome> {
        if self.cancelled.get() {
            return None;
        }
        self.action.run()
    }

    pub(crate) fn cancel(&self) {
        if self.cancelled.replace(true) {
            return;
        }
        if self.scheduled.get()
            && let Some(counter) = &self.counter
        {
            counter.set(counter.get() + 1);
        }
        self.action.clear();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Whether the entry is a timer (created by `call_later`/`call_at`/`sleep`).
    pub(crate) fn is_timer(&self) -> bool {
        self.counter.is_some()
    }

    /// Called by the timer queue when the entry leaves the heap.
    pub(crate) fn unschedule(&self) {
        self.scheduled.set(false);
    }

    pub(crate) fn describe(&self) -> &'static str {
        self.action.describe()
    }
}

/// A callback scheduled with [`EventLoop::call_soon`](crate::EventLoop::call_soon).
///
/// Dropping the handle does **not** cancel the callback.
#[derive(Clone)]
pub struct Handle {
    pub(crate) entry: EntryRef,
}

impl Handle {
    /// Cancels the callback: it will not run, and the closure is dropped now. Idempotent; no
    /// effect on a callback that already ran (but `cancelled()` then reports `true`, as asyncio).
    pub fn cancel(&self) {
        self.entry.cancel();
    }
    /// Whether [`cancel`](Handle::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.entry.is_cancelled()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("callback", &self.entry.describe())
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A callback scheduled with [`EventLoop::call_later`](crate::EventLoop::call_later) or
/// [`call_at`](crate::EventLoop::call_at).
///
/// Dropping the handle does **not** cancel the timer.
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) entry: EntryRef,
    pub(crate) clock: Clock,
}

impl TimerHandle {
    /// Cancels the timer and drops its closure at once. The entry leaves the heap lazily (when it
    /// reaches the head, or in a bulk purge). Idempotent.
    pub fn cancel(&self) {
        self.entry.cancel();
    }
    /// Whether [`cancel`](TimerHandle::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.entry.is_cancelled()
    }
    /// The absolute deadline; unchanged by `cancel()` and by firing (TMR-01).
    pub fn when(&self) -> Instant {
        self.clock.instant_of(self.entry.when)
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("callback", &self.entry.describe())
            .field("when_tick", &self.entry.when)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

// ===== thread-safe handles =====

/// The closure of a thread-safe entry, behind the entry's mutex (object-safe, so one `Arc`
/// holds both the state and the closure).
pub(crate) trait TsCall: Send {
    /// Takes and runs the closure; `None` if it was already taken.
    fn take_run(&mut self) -> Option<Outcome>;
    /// Drops the closure.
    fn clear(&mut self);
}

struct TsFn<F> {
    f: Option<F>,
}

impl<F, R> TsCall for TsFn<F>
where
    F: FnOnce() -> R + Send,
    R: CallbackResult,
{
    fn take_run(&mut self) -> Option<Outcome> {
        self.f.take().map(|f| f().into_outcome())
    }
    fn clear(&mut self) {
        self.f = None;
    }
}

/// Shared state of a [`ThreadsafeHandle`]: one allocation with the closure at the end.
pub(crate) struct TsEntry<C: ?Sized = dyn TsCall> {
    cancelled: AtomicBool,
    /// Thread number of the thread running the callback right now (0: not running). Lets a
    /// callback cancel its own handle without deadlocking on `call`.
    running_on: AtomicU64,
    name: &'static str,
    /// The closure. The loop holds this lock while the callback runs, so a `cancel()` from
    /// another thread blocks until the callback has finished (asyncio's RLock, SCH-06).
    call: Mutex<C>,
}

/// A small per-thread number (never 0), cheaper than `thread::current().id()`.
pub(crate) fn thread_no() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static NO: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NO.with(|n| *n)
}

impl TsEntry {
    pub(crate) fn new<F, R>(f: F) -> Arc<TsEntry>
    where
        F: FnOnce() -> R + Send + 'static,
        R: CallbackResult,
    {
        Arc::new(TsEntry {
            cancelled: AtomicBool::new(false),
            running_on: AtomicU64::new(0),
            name: std::any::type_name::<F>(),
            call: Mutex::new(TsFn { f: Some(f) }),
        })
    }

    pub(crate) fn run(&self) -> Option<Outcome> {
        let mut guard = self.call.lock().unwrap_or_else(PoisonError::into_inner);
        if self.cancelled.load(Ordering::Acquire) {
            return None;
        }
        self.running_on.store(thread_no(), Ordering::Release);
        // Clears `running_on` even if the callback unwinds (native panics are caught by the
        // loop).
        struct Reset<'a>(&'a AtomicU64);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.store(0, Ordering::Release);
            }
        }
        let _reset = Reset(&self.running_on);
        guard.take_run()
    }

    fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.running_on.load(Ordering::Acquire) == thread_no() {
            // The callback cancels itself: it keeps running; nothing left to drop.
            return;
        }
        self.call
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn describe(&self) -> &'static str {
        self.name
    }
}

/// A callback scheduled with `call_soon_threadsafe`; `Send + Sync`, so it can be cancelled from
/// any thread.
///
/// `cancel()` from another thread before the callback starts prevents it from running; while the
/// callback runs, `cancel()` blocks until it has finished, and the callback completes (asyncio
/// `_ThreadSafeHandle`). A callback that cancels its own handle still runs to completion.
#[derive(Clone)]
pub struct ThreadsafeHandle {
    pub(crate) entry: Arc<TsEntry>,
}

impl ThreadsafeHandle {
    /// Cancels the callback; see the type docs for the cross-thread rules. Idempotent.
    pub fn cancel(&self) {
        self.entry.cancel();
    }
    /// Whether [`cancel`](ThreadsafeHandle::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.entry.cancelled.load(Ordering::Acquire)
    }
}

impl fmt::Debug for ThreadsafeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadsafeHandle")
            .field("callback", &self.entry.name)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_drops_closure_at_once() {
        let token = Rc::new(());
        let captured = token.clone();
        let entry: EntryRef = Rc::new(Entry::new(Call {
            f: Cell::new(Some(move || drop(captured))),
        }));
        assert_eq!(Rc::strong_count(&token), 2);
        entry.cancel();
        assert_eq!(Rc::strong_count(&token), 1, "cancel must drop the closure");
        assert!(entry.run().is_none(), "a cancelled entry must not run");
    }

    #[test]
    fn timer_cancel_counts_only_while_scheduled_and_once() {
        let counter = Rc::new(Cell::new(0));
        let e = Entry::timer(
            Call {
                f: Cell::new(Some(|| {})),
            },
            5,
            counter.clone(),
        );
        e.cancel();
        e.cancel();
        assert_eq!(counter.get(), 1);
        let fired = Entry::timer(
            Call {
                f: Cell::new(Some(|| {})),
            },
            5,
            counter.clone(),
        );
        fired.unschedule();
        assert!(fired.run().is_some());
        fired.cancel();
        assert_eq!(counter.get(), 1, "a fired timer must not count");
        assert!(fired.is_cancelled());
    }

    #[test]
    fn threadsafe_self_cancel_does_not_deadlock() {
        let slot: Arc<Mutex<Option<ThreadsafeHandle>>> = Arc::new(Mutex::new(None));
        let inside = slot.clone();
        let entry = TsEntry::new(move || {
            if let Some(h) = inside.lock().unwrap().as_ref() {
                h.cancel();
            }
        });
        *slot.lock().unwrap() = Some(ThreadsafeHandle {
            entry: entry.clone(),
        });
        assert!(
            matches!(entry.run(), Some(Ok(()))),
            "the callback must run to completion"
        );
        assert!(entry.cancelled.load(Ordering::Acquire));
    }
}
