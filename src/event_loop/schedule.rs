//! Creating a loop and scheduling work on it.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::ticks;
use crate::core::{Core, EventLoop};
use crate::error::Error;
use crate::handle::{
    Call, CallbackResult, Entry, EntryRef, Handle, ThreadsafeHandle, TimerHandle, TsEntry,
};
use crate::ready::Ready;
use crate::task::join::{JoinHandle, spawn_on};
use crate::task::state::TaskKind;

use super::remote::Remote;

// ===== impl EventLoop: creation and scheduling =====

impl EventLoop {
    /// Creates a loop with its own driver (a mio `Poll` natively).
    ///
    /// Debug mode starts on when the environment variable `WASIO_DEBUG` is set and non-empty
    /// (asyncio: `PYTHONASYNCIODEBUG`).
    pub fn new() -> std::io::Result<EventLoop> {
        Ok(EventLoop {
            core: Rc::new(Core::new()?),
        })
    }

    /// Schedules `f` to run in a later iteration, FIFO with other `call_soon` callbacks (SCH-01).
    ///
    /// `f` returns `()` or `Result<(), E>`; an error goes to the exception handler.
    pub fn call_soon<F, R>(&self, f: F) -> Result<Handle, Error>
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let entry: EntryRef = Rc::new(Entry::new(Call::new(f)));
        self.core.local.push(Ready::Call(entry.clone()));
        Ok(Handle { entry })
    }

    /// Schedules `f` to run `delay` from now; exactly `call_at(self.time() + delay, f)`.
    ///
    /// Any `Duration` is accepted; a delay past the clock's range never fires.
    pub fn call_later<F, R>(&self, delay: Duration, f: F) -> Result<TimerHandle, Error>
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let when = self.core.clock.now().saturating_add(ticks(delay));
        Ok(self.insert_timer(when, f))
    }

    /// Schedules `f` at the absolute instant `when`. Equal deadlines fire in scheduling order;
    /// deadlines in the past (even before the loop was created) fire on the next iteration,
    /// in deadline order.
    pub fn call_at<F, R>(&self, when: Instant, f: F) -> Result<TimerHandle, Error>
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let when = self.core.clock.tick_of(when);
        Ok(self.insert_timer(when, f))
    }

    fn insert_timer<F, R>(&self, when: i64, f: F) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        let entry: EntryRef = self.core.timers.borrow_mut().insert(when, Call::new(f));
        TimerHandle {
            entry,
            clock: self.core.clock,
        }
    }

    /// Schedules `f` from any thread (here: the loop's own thread) and wakes the loop.
    ///
    /// On the loop's thread it is FIFO with [`call_soon`](EventLoop::call_soon). Other threads
    /// use [`EventLoop::remote`]. On WASI there are no other threads: this is `call_soon` with
    /// a thread-safe handle.
    pub fn call_soon_threadsafe<F, R>(&self, f: F) -> Result<ThreadsafeHandle, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let entry = TsEntry::new(f);
        self.core.local.push(Ready::Threadsafe(entry.clone()));
        Ok(ThreadsafeHandle { entry })
    }

    /// A `Send + Sync` handle for other threads: `call_soon_threadsafe` and `stop`.
    pub fn remote(&self) -> Remote {
        Remote::new(self.core.shared.clone())
    }

    /// The loop's clock (monotonic; asyncio `loop.time()`).
    pub fn time(&self) -> Instant {
        self.core.clock.instant_of(self.core.clock.now())
    }

    /// Wraps `future` in a task whose first step runs in the next iteration (TSK-01).
    ///
    /// On a closed loop the future is dropped and an error returned (TSK-04).
    pub fn create_task<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Error>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.check_open()?;
        Ok(spawn_on(&self.core, None, TaskKind::User, future))
    }

    /// Like [`create_task`](EventLoop::create_task), with a name for logs and reports.
    pub fn create_named_task<F>(
        &self,
        name: &str,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Error>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.check_open()?;
        Ok(spawn_on(
            &self.core,
            Some(Arc::from(name)),
            TaskKind::User,
            future,
        ))
    }

    /// Requests cancellation of every live task the user started; returns how many were
    /// asked. Internal work (a dropped stream still flushing) is left alone.
    pub fn cancel_all_tasks(&self) -> usize {
        let tasks = self.core.tasks.borrow().user_tasks();
        tasks.iter().filter(|t| t.cancel()).count()
    }
}
