//! asyncio's `gather`, `shield` and `wait_for`, the Rust way: [`gather`], [`try_gather`],
//! [`shield`] and [`JoinHandle::wait_for`].
//!
//! # Ground rules
//!
//! * [`gather`] and [`try_gather`] poll their futures in place, inside the awaiting task, where
//!   asyncio wraps each in a task: the futures run concurrently all the same, and the outputs
//!   come back in input order. Each future has its own waker, so a wake-up polls only the
//!   future it was for, and each gets at most one poll per loop iteration (a future that wakes
//!   itself at once, like `yield_now`, runs again in the next iteration, as a task would).
//! * Dropping a `gather` future (its task was cancelled, or a `timeout` elapsed) drops the
//!   futures it holds, which cancels them, as asyncio's cancelled `gather` cancels its
//!   children. A [`JoinHandle`] is the exception: dropping one detaches its task, so the
//!   tasks of a gathered set of handles keep running (use a
//!   [`TaskGroup`](super::TaskGroup) to have them cancelled).
//! * `return_exceptions=True` is [`gather`] over futures returning `Result` (every outcome
//!   comes back, in order); the default (`False`) is [`try_gather`], which returns the first
//!   `Err` as soon as it happens. asyncio leaves the other children running then; here they
//!   are dropped (cancelled) with the `try_gather` future: to keep them running, spawn them
//!   and gather their handles.
//! * [`shield`] runs its future as a task: if the awaiting task is cancelled, the cancellation
//!   is delivered to the awaiting task as usual (asyncio: the awaiter gets `CancelledError`),
//!   and the shielded task runs on, detached.
//! * `wait_for`: [`timeout`](crate::timeout) already is asyncio's `wait_for` for a plain
//!   future, since dropping the future at the deadline cancels it. For a task it is not:
//!   dropping a [`JoinHandle`] detaches the task, which runs on. [`JoinHandle::wait_for`]
//!   cancels the task at the deadline and waits until it has ended, as asyncio does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use super::join::{JoinHandle, spawn};
use crate::error::JoinError;
use crate::time::{Elapsed, timeout};

// ===== gather =====

/// What the wakers of a gather's futures share with it.
struct Shared {
    /// Indices of the futures woken since the last poll, each at most once.
    ready: Mutex<Vec<usize>>,
    /// The awaiting task's waker.
    waker: Mutex<Option<Waker>>,
}

/// The waker of one future of a gather.
struct ChildWaker {
    index: usize,
    /// Already in `ready` (a second wake before the poll adds nothing).
    queued: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.shared
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self.index);
        }
        let waker = self
            .shared
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// One future of a gather.
enum Slot<F: Future> {
    Running(Pin<Box<F>>, Arc<ChildWaker>),
    Done(F::Output),
    Taken,
}

/// The machinery `gather` and `try_gather` share: polls the woken futures once each.
struct Set<F: Future> {
    slots: Vec<Slot<F>>,
    shared: Arc<Shared>,
    running: usize,
}

impl<F: Future> Set<F> {
    fn new(futures: impl IntoIterator<Item = F>) -> Set<F> {
        let shared = Arc::new(Shared {
            ready: Mutex::new(Vec::new()),
            waker: Mutex::new(None),
        });
        let slots: Vec<Slot<F>> = futures
            .into_iter()
            .enumerate()
            .map(|(index, f)| {
                let waker = Arc::new(ChildWaker {
                    index,
                    // Every future is polled on the first poll.
                    queued: AtomicBool::new(true),
                    shared: shared.clone(),
                });
                Slot::Running(Box::pin(f), waker)
            })
            .collect();
        *shared.ready.lock().unwrap_or_else(PoisonError::into_inner) = (0..slots.len()).collect();
        Set {
            running: slots.len(),
            slots,
            shared,
        }
    }

    /// Polls every future woken since the last call, once, in wake order (the first time: all,
    /// in input order). `on_done` sees each output as it comes and may stop early with `Some`.
    fn poll_woken<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut on_done: impl FnMut(&mut Slot<F>, F::Output) -> Option<R>,
    ) -> Option<R> {
        *self
            .shared
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        let woken = std::mem::take(
            &mut *self
                .shared
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for index in woken {
            let Some(slot) = self.slots.get_mut(index) else {
                continue;
            };
            let Slot::Running(fut, waker) = slot else {
                continue;
            };
            waker.queued.store(false, Ordering::Release);
            let child_waker = Waker::from(waker.clone());
            let mut child_cx = Context::from_waker(&child_waker);
            if let Poll::Ready(out) = fut.as_mut().poll(&mut child_cx) {
                self.running -= 1;
                if let Some(r) = on_done(slot, out) {
                    return Some(r);
                }
            }
        }
        None
    }

    /// Every output, in input order (call once all are done).
    fn take_outputs(&mut self) -> Vec<F::Output> {
        std::mem::take(&mut self.slots)
            .into_iter()
            .filter_map(|s| match s {
                Slot::Done(v) => Some(v),
                _ => None,
            })
            .collect()
    }
}

/// Runs `futures` concurrently and returns their outputs in input order (asyncio
/// `gather(*aws)`; with futures returning `Result`, `gather(*aws, return_exceptions=True)`).
///
/// The futures are polled inside the awaiting task (see the [module docs](crate::task)); dropping the
/// returned future drops them. An empty input completes at once with an empty `Vec`.
///
/// ```
/// use std::time::Duration;
/// let out = wasio::run(async {
///     let slow_first = async {
///         wasio::sleep(Duration::from_millis(5)).await;
///         "slow"
///     };
///     let fast = async { "fast" };
///     let pair: [std::pin::Pin<Box<dyn Future<Output = &str>>>; 2] =
///         [Box::pin(slow_first), Box::pin(fast)];
///     wasio::gather(pair).await
/// })
/// .unwrap();
/// assert_eq!(out, ["slow", "fast"]);
/// ```
pub fn gather<I>(futures: I) -> Gather<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    Gather {
        set: Set::new(futures),
    }
}

/// Future returned by [`gather`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Gather<F: Future> {
    set: Set<F>,
}

// The futures are boxed and outputs are never pinned, so moving a gather is fine.
impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let set = &mut self.get_mut().set;
        set.poll_woken(cx, |slot, out| {
            *slot = Slot::Done(out);
            None::<()>
        });
        if set.running == 0 {
            Poll::Ready(set.take_outputs())
        } else {
            Poll::Pending
        }
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("futures", &self.set.slots.len())
            .field("running", &self.set.running)
            .finish()
    }
}

/// Runs `futures` concurrently; the outputs in input order if all succeed, else the first
/// `Err` as soon as it happens (asyncio `gather(*aws)`, which raises the first exception).
///
/// At the first `Err` the other futures are dropped (cancelled), where asyncio leaves its
/// child tasks running; gather [`JoinHandle`]s to keep them running (see the
/// [module docs](crate::task)).
///
/// ```
/// let out = wasio::run(async {
///     let jobs = (1..=3).map(|n| async move {
///         wasio::yield_now().await;
///         if n == 2 { Err(format!("job {n} failed")) } else { Ok(n) }
///     });
///     wasio::try_gather(jobs).await
/// })
/// .unwrap();
/// assert_eq!(out, Err("job 2 failed".to_string()));
/// ```
pub fn try_gather<I, T, E>(futures: I) -> TryGather<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryGather {
        set: Set::new(futures),
    }
}

/// Future returned by [`try_gather`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryGather<F: Future> {
    set: Set<F>,
}

impl<F: Future> Unpin for TryGather<F> {}

impl<T, E, F: Future<Output = Result<T, E>>> Future for TryGather<F> {
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<T>, E>> {
        let set = &mut self.get_mut().set;
        let failed = set.poll_woken(cx, |slot, out| match out {
            Ok(v) => {
                *slot = Slot::Done(Ok(v));
                None
            }
            Err(e) => {
                *slot = Slot::Taken;
                Some(e)
            }
        });
        if let Some(e) = failed {
            // Drop (cancel) the others now, not when the caller drops this future.
            set.slots.clear();
            return Poll::Ready(Err(e));
        }
        if set.running == 0 {
            let outputs = set.take_outputs().into_iter().filter_map(Result::ok);
            Poll::Ready(Ok(outputs.collect()))
        } else {
            Poll::Pending
        }
    }
}

impl<F: Future> fmt::Debug for TryGather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("futures", &self.set.slots.len())
            .field("running", &self.set.running)
            .finish()
    }
}

// ===== shield =====

/// Runs `future` as a task that a cancellation of the awaiting task does not reach (asyncio
/// `shield`).
///
/// Awaiting the returned future gives the task's outcome. If the awaiting task is cancelled
/// meanwhile, the cancellation is delivered to it as usual (it ends, or its
/// [`catch_cancel`](super::catch_cancel) scope gets `Err(Cancelled)`, asyncio's
/// `CancelledError`), and the shielded task runs on, detached: as after a dropped
/// [`JoinHandle`], a panic of it is then reported to the exception handler. A timeout around
/// `shield` behaves the same way (asyncio `wait_for(shield(aw), t)`).
///
/// # Panics
///
/// If no wasio loop is running on this thread (like [`spawn`]).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// let saved = wasio::run(async {
///     let saved = Rc::new(Cell::new(false));
///     let flag = saved.clone();
///     let caller = wasio::spawn(async move {
///         wasio::task::shield(async move {
///             wasio::sleep(Duration::from_millis(5)).await;
///             flag.set(true);
///         })
///         .await
///     });
///     wasio::yield_now().await;
///     caller.cancel();
///     assert!(caller.await.unwrap_err().is_cancelled());
///     // The caller is gone; the shielded work goes on and finishes.
///     while !saved.get() {
///         wasio::yield_now().await;
///     }
///     saved.get()
/// })
/// .unwrap();
/// assert!(saved);
/// ```
#[track_caller]
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Shield {
        handle: spawn(future),
    }
}

/// Future returned by [`shield`]: the shielded task's outcome.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Shield<T> {
    handle: JoinHandle<T>,
}

impl<T> Shield<T> {
    /// The shielded task (to cancel it explicitly, or to await it elsewhere).
    pub fn into_handle(self) -> JoinHandle<T> {
        self.handle
    }
}

impl<T> Future for Shield<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.handle).poll(cx)
    }
}

// ===== wait_for =====

impl<T> JoinHandle<T> {
    /// Waits at most `limit` for the task (asyncio `wait_for(task, limit)`); at the deadline
    /// the task is cancelled and awaited until it has ended.
    ///
    /// Returns what awaiting the handle returns, or `Err(Elapsed)` if the deadline passed and
    /// the task then ended cancelled. A task that catches the cancellation and returns a value
    /// (or panics) gives that outcome, as in asyncio; one that catches it and never ends keeps
    /// this waiting, as in asyncio. The task is checked before the deadline, so a task already
    /// finished wins even with a zero `limit`.
    ///
    /// For a plain future, [`timeout`](crate::timeout) already does this: dropping the future
    /// at the deadline cancels it. Dropping a `JoinHandle` only detaches its task, hence this
    /// method.
    ///
    /// ```
    /// use std::time::Duration;
    /// wasio::run(async {
    ///     let slow = wasio::spawn(wasio::sleep(Duration::from_secs(3600)));
    ///     assert!(slow.wait_for(Duration::from_millis(1)).await.is_err());
    ///     // The task has ended (cancelled), not merely been left behind: only this one is left.
    ///     assert_eq!(wasio::current().stats().tasks, 1);
    /// })
    /// .unwrap();
    /// ```
    pub async fn wait_for(mut self, limit: Duration) -> Result<Result<T, JoinError>, Elapsed> {
        if let Ok(outcome) = timeout(limit, &mut self).await {
            return Ok(outcome);
        }
        self.cancel();
        match (&mut self).await {
            Err(e) if e.is_cancelled() => Err(Elapsed::new()),
            outcome => Ok(outcome),
        }
    }
}
