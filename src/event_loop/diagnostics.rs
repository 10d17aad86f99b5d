//! The exception handler, debug mode and the loop's counters.

use std::rc::Rc;
use std::time::Duration;

use crate::core::{EventLoop, ExceptionHandler};
use crate::exception::{self, Context};
use crate::handle::CallbackResult;

// ===== impl EventLoop: exceptions, debug, introspection =====

impl EventLoop {
    /// Installs a custom exception handler, called as `handler(loop, context)`.
    ///
    /// The handler returns `()` or `Result<(), E>`. A handler that returns `Err` (or panics,
    /// on native targets) is reported by the default handler as `Unhandled error in exception
    /// handler`, with the original context under the `context` key; the loop goes on (asyncio
    /// `call_exception_handler`).
    pub fn set_exception_handler<H, R>(&self, handler: H)
    where
        H: Fn(&EventLoop, &Context) -> R + 'static,
        R: CallbackResult,
    {
        let handler: ExceptionHandler = Rc::new(move |lp, ctx| handler(lp, ctx).into_outcome());
        *self.core.handler.borrow_mut() = Some(handler);
    }

    /// Restores the default handler (asyncio `set_exception_handler(None)`).
    pub fn clear_exception_handler(&self) {
        *self.core.handler.borrow_mut() = None;
    }

    /// The custom handler, or `None` while the default is in use.
    pub fn exception_handler(&self) -> Option<ExceptionHandler> {
        self.core.handler.borrow().clone()
    }

    /// Reports `context` to the exception handler (custom or default). Nothing escapes: see
    /// [`set_exception_handler`](EventLoop::set_exception_handler).
    pub fn call_exception_handler(&self, context: Context) {
        self.core.call_exception_handler(&context);
    }

    /// The default handler, for custom handlers that want to log too.
    pub fn default_exception_handler(&self, context: &Context) {
        exception::default_handler_guarded(context, "Exception in default exception handler");
    }

    /// Turns debug mode on or off: in debug mode every callback and task step is timed and
    /// those taking at least [`slow_callback_duration`](EventLoop::slow_callback_duration) are
    /// logged as a `tracing` WARN on target `wasio` (DBG-01).
    pub fn set_debug(&self, on: bool) {
        self.core.debug.set(on);
    }

    /// Whether debug mode is on.
    pub fn debug(&self) -> bool {
        self.core.debug.get()
    }

    /// Sets the slow-callback threshold (default 100 ms).
    pub fn set_slow_callback_duration(&self, threshold: Duration) {
        self.core.slow_callback.set(threshold);
    }

    /// The slow-callback threshold.
    pub fn slow_callback_duration(&self) -> Duration {
        self.core.slow_callback.get()
    }

    /// Counters for tests and diagnostics.
    pub fn stats(&self) -> LoopStats {
        let core = &self.core;
        let timers = core.timers.borrow();
        let tasks = core.tasks.borrow();
        LoopStats {
            ready: core.local.len(),
            scheduled_timers: timers.len(),
            cancelled_timers: timers.cancelled(),
            tasks: tasks.len(),
            internal_tasks: tasks.internal(),
            io_sources: core.io.borrow().len(),
            armed: core.driver.borrow().armed(),
        }
    }
}

/// A snapshot of a loop's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopStats {
    /// Entries in the ready FIFO (cancelled ones included).
    pub ready: usize,
    /// Timers in the heap, cancelled ones included (asyncio `len(_scheduled)`).
    pub scheduled_timers: usize,
    /// Cancelled timers still in the heap (asyncio `_timer_cancelled_count`).
    pub cancelled_timers: usize,
    /// Live tasks, internal ones included.
    pub tasks: usize,
    /// Live internal tasks: streams dropped with writes still unflushed, flushing, and the exit
    /// watchers of child processes that have not been reaped yet.
    pub internal_tasks: usize,
    /// Registered I/O sources.
    pub io_sources: usize,
    /// Directions of sources the driver watches explicitly (WASI pollables in the poll list;
    /// always 0 natively, where the selector watches every registered source).
    pub armed: usize,
}
