//! Running, stopping and closing a loop, and [`run`] (asyncio `asyncio.run`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::context;
use crate::core::{Core, EventLoop};
use crate::error::Error;
use crate::executor::THREAD_JOIN_TIMEOUT;
use crate::handle::{Call, Entry, EntryRef, Handle};
use crate::ready::Ready;
use crate::sys;
use crate::task::join::{spawn_on, tasks_settled};
use crate::task::state::TaskKind;

pub use crate::io::linger::FLUSH_TIMEOUT;

/// `run_until_complete`'s done callback (asyncio `_run_until_complete_cb`): stops the loop when
/// the future ends, unless `run_until_complete` has already returned and detached it.
#[derive(Default)]
struct DoneCallback {
    /// `run_until_complete` is still waiting (asyncio: the callback is still attached).
    attached: bool,
    /// The `stop` scheduled when the future ended, until it runs.
    scheduled: Option<Handle>,
}

type DoneCell = Rc<RefCell<DoneCallback>>;

/// Schedules `stop()` with `call_soon` when dropped (the future ended, however it ended), if
/// the done callback is still attached.
struct StopOnDrop {
    core: Weak<Core>,
    done: DoneCell,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        if core.is_closed() || !self.done.borrow().attached {
            return;
        }
        let weak = Rc::downgrade(&core);
        let entry: EntryRef = Rc::new(Entry::new(Call::new(move || {
            if let Some(core) = weak.upgrade() {
                core.stopping.set(true);
            }
        })));
        if let Ok(mut ready) = core.local.ready.try_borrow_mut() {
            ready.push_back(Ready::Call(entry.clone()));
            self.done.borrow_mut().scheduled = Some(Handle { entry });
        }
    }
}

/// Detaches the done callback when `run_until_complete` returns, however it returns: a stop
/// already scheduled is cancelled, and the future, which keeps running as a task, no longer
/// stops the loop when it ends (asyncio `remove_done_callback` in `finally`).
struct Detach(DoneCell);

impl Drop for Detach {
    fn drop(&mut self) {
        let mut done = self.0.borrow_mut();
        done.attached = false;
        if let Some(h) = done.scheduled.take() {
            h.cancel();
        }
    }
}

// ===== impl EventLoop: running =====

impl EventLoop {
    /// The checks of `run_*` (LIFE-03, LIFE-05), done before anything is created.
    fn check_can_run(&self) -> Result<(), Error> {
        self.core.check_open()?;
        if self.core.running.get() {
            return Err(Error::already_running());
        }
        if context::any_running() {
            return Err(Error::other_loop_running());
        }
        Ok(())
    }

    fn enter(&self) -> Result<context::RunGuard, Error> {
        self.check_can_run()?;
        Ok(context::enter(&self.core))
    }

    /// Runs one iteration (see the module docs). Blocks if nothing is ready and no timer is due.
    pub fn run_once(&self) -> Result<(), Error> {
        let _guard = self.enter()?;
        self.iterate()
    }

    /// Runs until [`stop`](EventLoop::stop) is called. `stop()` before `run_forever` runs
    /// exactly one iteration with a zero timeout (LIFE-01).
    pub fn run_forever(&self) -> Result<(), Error> {
        let _guard = self.enter()?;
        loop {
            self.iterate()?;
            if self.core.stopping.get() {
                return Ok(());
            }
        }
    }

    /// Runs `future` as a task until it completes and returns its output (LIFE-02).
    ///
    /// Errors: the loop is closed or already running; the loop was stopped first
    /// ([`is_stopped`](Error::is_stopped): the task stays scheduled and runs on with later
    /// runs, but its end no longer stops the loop); the future was cancelled or panicked; a
    /// callback returned [`Fatal`](crate::Fatal).
    pub fn run_until_complete<F>(&self, future: F) -> Result<F::Output, Error>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.check_can_run()?;
        let done: DoneCell = Rc::new(RefCell::new(DoneCallback {
            attached: true,
            scheduled: None,
        }));
        let stop = StopOnDrop {
            core: Rc::downgrade(&self.core),
            done: done.clone(),
        };
        let wrapped = async move {
            let _stop = stop;
            future.await
        };
        let mut handle = spawn_on(&self.core, None, TaskKind::User, wrapped);
        handle.set_quiet();
        let detach = Detach(done);
        self.run_forever()?;
        drop(detach);
        if !handle.is_finished() {
            return Err(Error::stopped());
        }
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut handle).poll(&mut cx) {
            Poll::Ready(Ok(v)) => Ok(v),
            Poll::Ready(Err(e)) => Err(e.into()),
            Poll::Pending => Err(Error::stopped()),
        }
    }

    /// Asks the loop to stop after the current iteration (every callback of that iteration still
    /// runs).
    pub fn stop(&self) {
        self.core.stopping.set(true);
    }

    /// Whether the loop is running.
    pub fn is_running(&self) -> bool {
        self.core.running.get()
    }

    /// Whether the loop is closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Cancels every live task and runs the loop until they have all finished (asyncio
    /// `asyncio.run`'s `_cancel_all_tasks`). A task that catches the cancellation and then waits
    /// forever keeps this waiting, as in asyncio.
    pub fn cancel_remaining_tasks(&self) -> Result<(), Error> {
        if self.cancel_all_tasks() == 0 {
            return Ok(());
        }
        // The waiting task itself is one user task.
        self.run_until_complete(tasks_settled(1, usize::MAX))
    }

    /// Lets the loop's internal work (dropped streams still flushing) finish, for at most
    /// `limit`; returns whether everything finished.
    pub(crate) fn finish_internal_work(&self, limit: Duration) -> Result<bool, Error> {
        if self.core.tasks.borrow().flushing() == 0 {
            return Ok(true);
        }
        let settled = crate::time::timeout(limit, tasks_settled(usize::MAX, 0));
        Ok(self.run_until_complete(settled)?.is_ok())
    }

    /// Closes the loop: pending callbacks, timers and queued task steps are dropped without
    /// running, and the default executor is shut down without waiting (LIFE-04). Fails on a
    /// running loop; idempotent.
    ///
    /// Order: mark closed (new calls fail), stop watching raw sources (`add_reader` and
    /// friends), then drop the ready queue, the timer heap and the
    /// remote queue, and wake every task (a task woken on a closed loop is destroyed),
    /// repeating until nothing new was queued by the destructors. Tasks destroyed this way
    /// report `Task was destroyed but it is pending!`. Child processes that still run are
    /// killed and reaped (their exit watchers are destroyed; see [`crate::process`]).
    pub fn close(&self) -> Result<(), Error> {
        let core = &self.core;
        // Tasks and sources are dropped below: with the backend's reactor (WASI 0.3).
        let _sys = sys::enter(&core.driver.borrow());
        if core.running.get() {
            return Err(Error::close_running());
        }
        if core.local.closed.replace(true) {
            return Ok(());
        }
        core.shared.set_closed();
        // Watched sources go first: deregistered, never closed (LIFE-05: adding fails from now).
        super::watch::remove_all(core);
        // Signal handlers go (asyncio `close` removes them); the signals' default actions come
        // back when the watcher task, which holds the source, is destroyed below.
        let signals = std::mem::take(&mut *core.signals.borrow_mut());
        drop(signals);
        // asyncio: `_executor_shutdown_called = True` and `shutdown(wait=False)` (LIFE-04).
        let pool = {
            let mut ex = core.executor.borrow_mut();
            ex.shutdown_called = true;
            ex.pool.take()
        };
        if let Some(pool) = pool {
            pool.shutdown(false);
        }
        loop {
            let ready = std::mem::take(&mut *core.local.ready.borrow_mut());
            let (timers, sleepers) = core.timers.borrow_mut().take_all();
            let remote = core.shared.drain_remote();
            let mut wakers = core.tasks.borrow().take_wakers();
            core.io.borrow_mut().take_wakers(&mut wakers);
            if ready.is_empty()
                && timers.is_empty()
                && sleepers.is_empty()
                && remote.is_empty()
                && wakers.is_empty()
            {
                break;
            }
            drop(ready);
            for t in &timers {
                t.cancel();
            }
            drop(timers);
            // A cancelled sleep drops its waker without waking (as a cancelled timer would).
            drop(sleepers);
            drop(remote);
            // Waking a task of a closed loop destroys it: its step is dropped instead of
            // queued. That also ends tasks whose wakers are held elsewhere (a server's
            // `serve_forever` waker, a `wait_closed` waiter), which dropping our copies alone
            // would leave alive in a cycle.
            for w in wakers {
                w.wake();
            }
        }
        tracing::debug!(target: "wasio", "event loop closed");
        Ok(())
    }
}

/// Runs `future` on a new loop until it completes, then shuts down as `asyncio.run` does, and
/// closes the loop:
///
/// 1. every task left over is cancelled, and the loop runs until they have finished;
/// 2. the loop's internal work (streams dropped with writes still unflushed) gets up to
///    [`FLUSH_TIMEOUT`] to finish, so a program that writes, drops its stream and returns
///    loses nothing;
/// 3. the default executor is shut down, waiting up to
///    [`THREAD_JOIN_TIMEOUT`](crate::THREAD_JOIN_TIMEOUT) for its threads;
/// 4. the loop is closed, which kills and reaps the child processes still running (see
///    [`crate::process`]); `run` never waits for a child.
///
/// After a [`Fatal`](crate::Fatal) error only step 4 runs.
///
/// ```
/// let answer = wasio::run(async { 42 }).unwrap();
/// assert_eq!(answer, 42);
/// ```
pub fn run<F>(future: F) -> Result<F::Output, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let lp = EventLoop::new().map_err(Error::io)?;
    let out = lp.run_until_complete(future);
    if !matches!(&out, Err(e) if e.is_fatal()) {
        lp.cancel_remaining_tasks()?;
        if !lp.finish_internal_work(FLUSH_TIMEOUT)? {
            tracing::warn!(
                target: "wasio",
                "internal work (stream flushes) did not finish within {FLUSH_TIMEOUT:?}; closing anyway"
            );
        }
        let lp2 = lp.clone();
        lp.run_until_complete(async move {
            lp2.shutdown_default_executor(Some(THREAD_JOIN_TIMEOUT))
                .await;
        })?;
    }
    lp.close()?;
    out
}
