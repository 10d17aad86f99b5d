//! The part of a loop other threads may touch: [`Shared`], the cross-thread queue.
//!
//! # Ground rules
//!
//! * Work scheduled on the loop's own thread (a waker, `call_soon_threadsafe`) goes straight
//!   into the ready FIFO, FIFO with `call_soon` (SCH-06). The thread-local table [`LOCALS`]
//!   maps a loop's id to its [`LocalQueue`], so a waker finds it without the loop.
//! * Work from other threads goes into a mutex-protected queue, drained at step 4 of the next
//!   iteration; the driver is unparked only when that queue becomes non-empty.
//! * Work for a closed loop is dropped on the loop's thread: a task scheduled then can never
//!   run, and dropping its runnable there destroys it instead of leaking it in a queue nobody
//!   drains. A local task is never dropped on a foreign thread (async-task forbids it); it is
//!   leaked instead.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::Error;
use crate::handle::{CallbackResult, ThreadsafeHandle, TsEntry, thread_no};
use crate::ready::{LocalQueue, Ready};
use crate::sys;
use crate::task::state::Runnable;

/// Work queued by other threads (or by wakers while the loop's queue was busy).
pub(crate) enum Foreign {
    Call(Arc<TsEntry>),
    Task(Runnable),
}

thread_local! {
    /// The ready queue of every loop created on this thread, by loop id.
    static LOCALS: RefCell<Vec<Weak<LocalQueue>>> = const { RefCell::new(Vec::new()) };
}

/// Makes `queue` reachable from wakers on this thread (at loop creation).
pub(crate) fn register_local(queue: &Rc<LocalQueue>) {
    LOCALS.with(|l| {
        let mut l = l.borrow_mut();
        l.retain(|w| w.strong_count() > 0);
        l.push(Rc::downgrade(queue));
    });
}

/// The ready queue of loop `id`, if it was created on this thread and still exists.
fn local(id: u64) -> Option<Rc<LocalQueue>> {
    LOCALS
        .try_with(|l| {
            l.try_borrow()
                .ok()?
                .iter()
                .filter_map(Weak::upgrade)
                .find(|q| q.id == id)
        })
        .ok()
        .flatten()
}

/// The part of a loop other threads may touch.
pub(crate) struct Shared {
    /// Distinguishes loops.
    pub(crate) id: u64,
    /// The thread that created the loop.
    owner: u64,
    /// Callbacks and task wakes queued from other threads, drained in step 4.
    remote: Mutex<VecDeque<Foreign>>,
    /// Set when `remote` became non-empty; the unparker is only kicked on that transition.
    has_remote: AtomicBool,
    /// Set by `close()`; `call_soon_threadsafe` then fails.
    closed: AtomicBool,
    /// Wakes a blocked `wait` (mio `Waker` natively; a no-op on WASI, which has no threads).
    unparker: sys::Unparker,
}

impl Shared {
    pub(crate) fn new(unparker: sys::Unparker) -> Shared {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            owner: thread_no(),
            remote: Mutex::new(VecDeque::new()),
            has_remote: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            unparker,
        }
    }

    /// Pushes `item` straight into the ready FIFO when called on the loop's own thread. Gives
    /// it back when called from another thread, or when the queue is busy. Drops it when the
    /// loop is closed or gone.
    fn push_local(&self, item: Ready) -> Option<Ready> {
        if thread_no() != self.owner {
            return Some(item);
        }
        match local(self.id) {
            Some(q) if !q.closed.get() => match q.ready.try_borrow_mut() {
                Ok(mut ready) => {
                    ready.push_back(item);
                    None
                }
                Err(_) => Some(item),
            },
            _ if self.is_closed() => {
                drop(item);
                None
            }
            _ => Some(item),
        }
    }

    /// Schedules a woken task: into the ready FIFO on the loop's thread, else through the
    /// remote queue (which wakes the loop).
    pub(crate) fn schedule_task(&self, runnable: Runnable) {
        if let Some(Ready::Task(r)) = self.push_local(Ready::Task(runnable)) {
            self.push_remote(Foreign::Task(r));
        }
    }

    fn push_remote(&self, item: Foreign) {
        self.remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(item);
        if !self.has_remote.swap(true, Ordering::AcqRel) {
            self.unparker.unpark();
        }
    }

    /// Whether work from other threads is waiting.
    pub(crate) fn has_remote(&self) -> bool {
        self.has_remote.load(Ordering::Acquire)
    }

    /// Moves the queued work into `into` (an empty buffer the caller keeps, so no allocation
    /// is thrown away per batch).
    pub(crate) fn take_remote(&self, into: &mut VecDeque<Foreign>) {
        if !self.has_remote.swap(false, Ordering::AcqRel) {
            return;
        }
        std::mem::swap(
            &mut *self.remote.lock().unwrap_or_else(PoisonError::into_inner),
            into,
        );
    }

    /// Takes everything queued (loop close).
    pub(crate) fn drain_remote(&self) -> VecDeque<Foreign> {
        self.has_remote.store(false, Ordering::Release);
        std::mem::take(&mut *self.remote.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Marks the loop closed for other threads.
    pub(crate) fn set_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `call_soon_threadsafe` from any thread (SCH-06).
    pub(crate) fn call_soon_threadsafe<F, R>(&self, f: F) -> Result<ThreadsafeHandle, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: CallbackResult,
    {
        if self.is_closed() {
            return Err(Error::closed());
        }
        let entry = TsEntry::new(f);
        let handle = ThreadsafeHandle {
            entry: entry.clone(),
        };
        // On the loop's own thread: FIFO with call_soon (SCH-06).
        if let Some(Ready::Threadsafe(e)) = self.push_local(Ready::Threadsafe(entry)) {
            self.push_remote(Foreign::Call(e));
        }
        Ok(handle)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let items = std::mem::take(
            self.remote
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let here = thread_no() == self.owner;
        for item in items {
            match item {
                // A local task may only be dropped on its own thread (async-task checks this);
                // leaking it beats panicking on a foreign thread.
                Foreign::Task(r) if !here => std::mem::forget(r),
                other => drop(other),
            }
        }
    }
}
