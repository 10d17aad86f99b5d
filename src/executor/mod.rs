//! Running blocking functions off the loop: [`EventLoop::run_in_executor`] (asyncio
//! `loop.run_in_executor`), the default executor, and [`ThreadPool`].
//!
//! # Ground rules
//!
//! * The default executor is a [`ThreadPool`] created on first use, with asyncio's size
//!   (`min(32, cpus + 4)`) unless [`EventLoop::set_default_executor`] gave another (EXE-01,
//!   EXE-02).
//! * The result reaches the awaiting task through its waker, from the worker thread (the
//!   loop's cross-thread queue wakes the loop).
//! * Dropping the returned [`Blocking`] future (cancelling the task that awaits it) cancels a
//!   function that has not started: it never runs (asyncio cancels the concurrent future with
//!   it). One already running cannot be stopped (threads cannot be killed); its result is
//!   dropped when it comes.
//! * After [`EventLoop::shutdown_default_executor`] (or `close()`), the default executor is
//!   refused with [`Error::is_executor_shutdown`]; an explicit pool still works (EXE-03).
//! * Without threads (wasm32-wasip2) the function runs on the loop itself, in a later
//!   iteration, like a `call_soon` callback: the future still completes, but a blocking
//!   function blocks the loop while it runs (divergence `executor`).

pub(crate) mod pool;

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use self::pool::Job;
pub use self::pool::{ThreadPool, default_max_workers};
use crate::context::try_current_core;
use crate::core::{Core, EventLoop};
use crate::error::{Error, JoinError};
use crate::handle::{Call, Entry, EntryRef};
use crate::ready::Ready;
use crate::sys;

/// How long `wasio::run` waits for the default executor's threads (asyncio
/// `THREAD_JOIN_TIMEOUT`).
pub const THREAD_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a job's result waits for its future.
struct Slot<T> {
    result: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
    /// The future was dropped: the result is dropped when it comes.
    abandoned: bool,
}

type Shared<T> = Arc<Mutex<Slot<T>>>;

fn lock<T>(s: &Shared<T>) -> std::sync::MutexGuard<'_, Slot<T>> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The future of a function run by [`EventLoop::run_in_executor`]: its value, or a
/// [`JoinError`] if it panicked (natively).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Blocking<T> {
    slot: Shared<T>,
    done: bool,
}

impl<T> Future for Blocking<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.done {
            return Poll::Ready(Err(JoinError::cancelled(
                "run_in_executor (already awaited)",
            )));
        }
        let mut slot = lock(&self.slot);
        match slot.result.take() {
            Some(r) => {
                drop(slot);
                self.done = true;
                Poll::Ready(r.map_err(|payload| {
                    JoinError::panicked(
                        "run_in_executor",
                        crate::exception::panic_message(&*payload),
                    )
                }))
            }
            None => {
                match &slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => slot.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Blocking<T> {
    fn drop(&mut self) {
        let mut slot = lock(&self.slot);
        slot.abandoned = true;
        let result = slot.result.take();
        slot.waker = None;
        drop(slot);
        drop(result);
    }
}

impl<T> fmt::Debug for Blocking<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocking")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Wraps `f` into a job that stores its result (or its panic) and wakes the awaiting task.
fn job<F, T>(f: F) -> (Job, Blocking<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot: Shared<T> = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
        abandoned: false,
    }));
    let theirs = slot.clone();
    let job: Job = Box::new(move || {
        if lock(&theirs).abandoned {
            // Cancelled while queued: never started, never runs.
            return;
        }
        let out = catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut s = lock(&theirs);
            if s.abandoned {
                None
            } else {
                s.result = Some(out);
                s.waker.take()
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    (job, Blocking { slot, done: false })
}

/// Runs `job` on the loop, in a later iteration (no threads).
fn run_on_loop(core: &Rc<Core>, job: Job) {
    let entry: EntryRef = Rc::new(Entry::new(Call::new(job)));
    core.local.push(Ready::Call(entry));
}

/// Submits to `pool`, or runs on the loop where there are no threads.
fn submit<F, T>(core: &Rc<Core>, pool: Option<&ThreadPool>, f: F) -> Result<Blocking<T>, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if pool.is_some_and(ThreadPool::is_shutdown) {
        return Err(Error::executor_shutdown(
            "cannot schedule new futures after shutdown",
        ));
    }
    let (job, fut) = job(f);
    match pool {
        Some(pool) if sys::THREADS => match pool.submit(job) {
            Ok(()) => Ok(fut),
            Err((_, _)) if pool.is_shutdown() => Err(Error::executor_shutdown(
                "cannot schedule new futures after shutdown",
            )),
            Err((_, e)) => Err(Error::io(e)),
        },
        _ => {
            run_on_loop(core, job);
            Ok(fut)
        }
    }
}

// ===== impl EventLoop: executor =====

impl EventLoop {
    /// Runs `f` on the default executor and returns a future of its result (asyncio
    /// `run_in_executor(None, f)`): natively a thread of the default [`ThreadPool`], created
    /// on first use; on wasm32-wasip2, which has no threads, the loop itself in a later
    /// iteration.
    ///
    /// Errors: the loop is closed, or the default executor was shut down
    /// ([`Error::is_executor_shutdown`]).
    ///
    /// ```
    /// let sum = wasio::run(async {
    ///     let lp = wasio::current();
    ///     let job = lp.run_in_executor(|| (1..=10).sum::<u32>()).unwrap();
    ///     job.await.unwrap()
    /// })
    /// .unwrap();
    /// assert_eq!(sum, 55);
    /// ```
    pub fn run_in_executor<F, T>(&self, f: F) -> Result<Blocking<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.core.check_open()?;
        let pool = {
            let mut ex = self.core.executor.borrow_mut();
            if ex.shutdown_called {
                return Err(Error::executor_shutdown(
                    "Executor shutdown has been called",
                ));
            }
            if sys::THREADS && ex.pool.is_none() {
                let pool = ThreadPool::new(default_max_workers()).map_err(Error::io)?;
                ex.pool = Some(pool);
            }
            ex.pool.clone()
        };
        submit(&self.core, pool.as_ref(), f)
    }

    /// Runs `f` on `pool` (asyncio `run_in_executor(executor, f)`); an explicit pool works even
    /// after the default executor was shut down. On wasm32-wasip2, which has no threads, `f`
    /// runs on the loop.
    pub fn run_in_pool<F, T>(&self, pool: &ThreadPool, f: F) -> Result<Blocking<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.core.check_open()?;
        submit(&self.core, Some(pool), f)
    }

    /// Makes `pool` the default executor (asyncio `set_default_executor`). The previous
    /// default, if any, is shut down without waiting.
    pub fn set_default_executor(&self, pool: ThreadPool) {
        let old = self.core.executor.borrow_mut().pool.replace(pool);
        if let Some(old) = old {
            old.shutdown(false);
        }
    }

    /// Shuts the default executor down and waits, at most `timeout` (`None`: as long as it
    /// takes), for its threads to finish, without blocking the loop: they are joined from
    /// another thread (asyncio `shutdown_default_executor`). If the limit passes, a warning is
    /// logged and the threads are left to finish on their own. Marks the default executor
    /// shut down even if none was created.
    pub async fn shutdown_default_executor(&self, timeout: Option<Duration>) {
        let pool = {
            let mut ex = self.core.executor.borrow_mut();
            ex.shutdown_called = true;
            ex.pool.take()
        };
        let Some(pool) = pool else { return };
        let joined: Shared<()> = Arc::new(Mutex::new(Slot {
            result: None,
            waker: None,
            abandoned: false,
        }));
        let theirs = joined.clone();
        let p = pool.clone();
        let spawned = std::thread::Builder::new()
            .name("wasio-executor-join".into())
            .spawn(move || {
                p.shutdown(true);
                let w = {
                    let mut s = lock(&theirs);
                    s.result = Some(Ok(()));
                    s.waker.take()
                };
                if let Some(w) = w {
                    w.wake();
                }
            });
        if spawned.is_err() {
            pool.shutdown(false);
            return;
        }
        let wait = Blocking {
            slot: joined,
            done: false,
        };
        let finished = match timeout {
            None => wait.await.is_ok(),
            Some(limit) => matches!(crate::time::timeout(limit, wait).await, Ok(Ok(()))),
        };
        if !finished {
            let secs = timeout.map_or(0.0, |t| t.as_secs_f64());
            tracing::warn!(
                target: "wasio",
                "The executor did not finishing joining its threads within {secs} seconds."
            );
            pool.shutdown(false);
        }
    }
}

/// [`EventLoop::run_in_executor`] on the loop running on this thread.
pub fn run_in_executor<F, T>(f: F) -> Result<Blocking<T>, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    EventLoop {
        core: try_current_core()?,
    }
    .run_in_executor(f)
}
