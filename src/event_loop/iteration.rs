//! One iteration of the loop (asyncio `BaseEventLoop._run_once`); see the module docs of
//! `event_loop` for the five steps.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use crate::clock::wait_timeout;
use crate::core::EventLoop;
use crate::error::{Error, Fatal};
use crate::exception::{self, PanicError};
use crate::handle::{EntryRef, Outcome};
use crate::ready::Ready;
use crate::shared::Foreign;
use crate::sys;
use crate::timer::Due;

/// A callback's name for logs and reports, built only when needed.
enum Describe {
    /// A closure's type name.
    Callback(&'static str),
    /// A task: id and optional name.
    Task(u64, Option<Arc<str>>),
}

impl fmt::Display for Describe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Describe::Callback(s) => f.write_str(s),
            Describe::Task(_, Some(name)) => f.write_str(name),
            Describe::Task(id, None) => write!(f, "Task-{id}"),
        }
    }
}

impl EventLoop {
    /// Steps 1-5 of an iteration.
    pub(super) fn iterate(&self) -> Result<(), Error> {
        let core = &*self.core;
        // 1. purge / pop cancelled timers
        core.timers.borrow_mut().prepare();
        // 2. timeout
        let busy = !core.local.is_empty() || core.stopping.get() || core.shared.has_remote();
        let now = core.clock.now();
        let timeout = wait_timeout(busy, core.timers.borrow_mut().next_deadline(), now);
        // 3. wait
        let outcome = {
            let mut events = core.events.borrow_mut();
            events.clear();
            core.driver
                .borrow_mut()
                .wait(timeout, &mut events)
                .map_err(Error::io)?
        };
        if outcome == sys::Wait::Stalled {
            return Err(Error::stalled());
        }
        // 4. queue remote work, I/O wakeups (event order), then due timers
        {
            let mut buf = core.remote_buf.borrow_mut();
            core.shared.take_remote(&mut buf);
            if !buf.is_empty() {
                let mut ready = core.local.ready.borrow_mut();
                ready.extend(buf.drain(..).map(|item| match item {
                    Foreign::Call(e) => Ready::Threadsafe(e),
                    Foreign::Task(r) => Ready::Task(r),
                }));
            }
        }
        self.dispatch_io();
        let end = core.clock.now().saturating_add(core.clock.resolution());
        let mut fired = 0usize;
        loop {
            let due = core.timers.borrow_mut().pop_due(end);
            let Some(due) = due else { break };
            core.local.push(match due {
                Due::Call(entry) => Ready::Call(entry),
                Due::Wake(index) => Ready::Wake(index),
            });
            fired += 1;
        }
        // 5. run the snapshot
        let n = core.local.len();
        tracing::trace!(target: "wasio", ?timeout, ready = n, fired, "run_once");
        for _ in 0..n {
            let Some(item) = core.local.pop() else { break };
            self.run_ready(item);
            if let Some(err) = core.fatal.borrow_mut().take() {
                return Err(err);
            }
        }
        Ok(())
    }

    /// Records the readiness of the last wait and wakes the tasks waiting on it (outside every
    /// borrow); the callbacks of watched sources are queued at their place in event order.
    fn dispatch_io(&self) {
        let core = &*self.core;
        let mut wake = core.wake_list.take();
        // (position in `wake`, entry): a watched source's callback goes before the wakers of
        // later events. Allocates only when a watched source fired.
        let mut calls: Vec<(usize, EntryRef)> = Vec::new();
        {
            let events = core.events.borrow();
            if events.is_empty() {
                core.wake_list.replace(wake);
                return;
            }
            let watchers = core.watchers.borrow();
            let mut io = core.io.borrow_mut();
            for ev in events.iter() {
                let watched = !watchers.is_empty()
                    && watchers.fire(ev.token, ev.bits, |e| calls.push((wake.len(), e)));
                if !watched {
                    io.set_ready(ev.token, ev.bits, &mut wake);
                }
            }
        }
        let mut calls = calls.into_iter().peekable();
        for (i, w) in wake.drain(..).enumerate() {
            while let Some((_, e)) = calls.next_if(|(at, _)| *at <= i) {
                core.local.push(Ready::Call(e));
            }
            w.wake();
        }
        for (_, e) in calls {
            core.local.push(Ready::Call(e));
        }
        core.wake_list.replace(wake);
    }

    /// Runs one ready entry. Failures go to the exception handler; nothing escapes.
    fn run_ready(&self, item: Ready) {
        let debug = self.core.debug.get();
        let t0 = debug.then(Instant::now);
        let (kind, describe, outcome) = match item {
            Ready::Call(entry) => {
                let kind = if entry.is_timer() {
                    "TimerHandle"
                } else {
                    "Handle"
                };
                let describe = Describe::Callback(entry.describe());
                (
                    kind,
                    describe,
                    catch_unwind(AssertUnwindSafe(|| entry.run())),
                )
            }
            Ready::Wake(index) => {
                // The waker is taken out of the queue's borrow before it runs.
                let waker = self.core.timers.borrow_mut().fire_wake(index);
                let res = catch_unwind(AssertUnwindSafe(|| {
                    if let Some(w) = waker {
                        w.wake();
                    }
                    None
                }));
                ("TimerHandle", Describe::Callback("sleep"), res)
            }
            Ready::Threadsafe(entry) => {
                let describe = Describe::Callback(entry.describe());
                let res = catch_unwind(AssertUnwindSafe(|| entry.run()));
                ("Handle", describe, res)
            }
            Ready::Task(r) => {
                // A task step reports its own failures; its name is only needed for the
                // slow-callback warning, so nothing is cloned unless debug mode is on.
                let describe = if debug {
                    let meta = r.metadata();
                    Describe::Task(meta.id, meta.name.clone())
                } else {
                    Describe::Callback("task")
                };
                let res = catch_unwind(AssertUnwindSafe(|| {
                    r.run();
                    None
                }));
                ("Task", describe, res)
            }
        };
        self.settle(kind, &describe, outcome);
        if let Some(t0) = t0 {
            let dt = t0.elapsed();
            if dt >= self.core.slow_callback.get() {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    tracing::warn!(
                        target: "wasio",
                        callback = %describe,
                        kind,
                        "Executing <{kind} {describe}> took {:.3} seconds",
                        dt.as_secs_f64()
                    );
                }));
            }
        }
    }

    /// Routes a callback's outcome: `Fatal` ends the iteration, any other error or a panic goes
    /// to the exception handler, which itself never lets anything escape.
    fn settle(
        &self,
        kind: &str,
        describe: &Describe,
        outcome: std::thread::Result<Option<Outcome>>,
    ) {
        let err: Box<dyn std::error::Error> = match outcome {
            Ok(None) | Ok(Some(Ok(()))) => return,
            Ok(Some(Err(err))) => err,
            Err(payload) => Box::new(PanicError::new(exception::panic_message(&*payload))),
        };
        if let Some(fatal) = err.downcast_ref::<Fatal>() {
            *self.core.fatal.borrow_mut() = Some(Error::fatal(fatal.reason()));
            return;
        }
        let ctx = exception::Context::new(format!("Exception in callback {describe}"))
            .with_error(err)
            .with("handle", format_args!("<{kind} {describe}>"));
        self.core.call_exception_handler(&ctx);
    }
}
