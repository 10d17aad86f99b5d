//! The ready FIFO: callbacks, fired timers and task steps waiting for their turn.
//!
//! # Ground rules
//!
//! * One FIFO for every kind of work, so `call_soon` callbacks, task steps and fired timers run
//!   in the order they became ready (SCH-01, TSK-01).
//! * A task step is the `async_task::Runnable` itself: waking a task allocates nothing.
//! * The queue and the loop's `closed` flag live together in [`LocalQueue`], the one piece of
//!   loop state that wakers on the loop's thread reach directly (through the thread-local
//!   table of `shared.rs`), without going through the loop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;

use crate::handle::{EntryRef, TsEntry};
use crate::task::state::Runnable;

/// One entry of the ready FIFO.
pub(crate) enum Ready {
    /// A `call_soon` callback or a fired timer.
    Call(EntryRef),
    /// A `call_soon_threadsafe` callback.
    Threadsafe(Arc<TsEntry>),
    /// A task step.
    Task(Runnable),
    /// A fired `sleep`: wake its task (an index into the timer queue's sleeps).
    Wake(u32),
}

/// The ready FIFO of one loop, and whether that loop is closed.
pub(crate) struct LocalQueue {
    /// The loop's id (the same as its `Shared`'s).
    pub(crate) id: u64,
    pub(crate) ready: RefCell<VecDeque<Ready>>,
    /// Set by `close()`: nothing is queued any more, and new work is dropped.
    pub(crate) closed: Cell<bool>,
}

impl LocalQueue {
    pub(crate) fn new(id: u64) -> LocalQueue {
        LocalQueue {
            id,
            ready: RefCell::new(VecDeque::new()),
            closed: Cell::new(false),
        }
    }

    /// Appends an entry.
    pub(crate) fn push(&self, item: Ready) {
        self.ready.borrow_mut().push_back(item);
    }

    /// Pops the next entry.
    pub(crate) fn pop(&self) -> Option<Ready> {
        self.ready.borrow_mut().pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.ready.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ready.borrow().is_empty()
    }
}
