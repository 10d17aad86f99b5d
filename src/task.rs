//! Tasks: [`JoinHandle`], [`spawn`], cancellation ([`catch_cancel`]), and failure reports.
//!
//! A task is an `async_task` task whose `Runnable` goes through the same ready FIFO as
//! `call_soon` callbacks, so a wake costs no allocation and a new task's first step runs in the
//! next iteration, in order with other callbacks (TSK-01).
//!
//! # Ground rules
//!
//! * Cancellation follows asyncio (TSK-03): [`JoinHandle::cancel`] only *requests* it and wakes
//!   the task. When the task next runs, the request is delivered to the innermost
//!   [`catch_cancel`] scope that is being polled, which drops its future and returns
//!   `Err(Cancelled)`; the task may then go on and return a value. With no such scope the whole
//!   future is dropped at its current `.await` and the task ends cancelled.
//! * A panicking task (native targets) ends with a [`JoinError`]; if nobody retrieves it (the
//!   handle was dropped or detached), the exception handler gets `Task exception was never
//!   retrieved` (TSK-05).
//! * A task destroyed before it finished (its last waker dropped, or the loop closed) reports
//!   `Task was destroyed but it is pending!`, except the one `run_until_complete` created.
//! * Dropping a [`JoinHandle`] detaches the task; it keeps running.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use crate::error::JoinError;
use crate::event_loop::{Core, EventLoop, with_core};
use crate::exception::{self, PanicError};

/// async-task metadata: what the loop needs to name a runnable in logs (`Send + Sync`).
#[derive(Debug)]
pub(crate) struct TaskMeta {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
}

impl fmt::Display for TaskMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => f.write_str(n),
            None => write!(f, "Task-{}", self.id),
        }
    }
}

pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// Why a task ended without a value.
pub(crate) enum Failure {
    Cancelled,
    Panicked(Box<str>),
}

/// Per-task state shared by the task's future and its [`JoinHandle`].
pub(crate) struct TaskHeader {
    id: u64,
    name: Option<Arc<str>>,
    /// A cancel request not yet delivered (asyncio `_must_cancel`).
    cancel_pending: Cell<bool>,
    /// Number of `cancel()` calls (asyncio `cancelling()`).
    cancelling: Cell<u32>,
    /// Ids of the active `catch_cancel` scopes, in registration order; the last one is the
    /// innermost and receives a cancel request. Scopes may end in any order (`join!`).
    scopes: RefCell<Vec<u32>>,
    /// Next scope id.
    next_scope: Cell<u32>,
    /// Set on first poll, when the task's waker is stored in the loop's task set.
    polled: Cell<bool>,
    /// The handle was dropped or detached.
    detached: Cell<bool>,
    /// The future finished (value, cancel or panic).
    finished: Cell<bool>,
    /// It finished by cancellation.
    ended_cancelled: Cell<bool>,
    /// A panic message nobody retrieved yet.
    failure: RefCell<Option<Box<str>>>,
    /// Do not report this task as destroyed while pending (`run_until_complete`'s own task).
    pub(crate) quiet: Cell<bool>,
    /// Index in the loop's task set.
    slot: Cell<usize>,
    core: Weak<Core>,
}

impl TaskHeader {
    fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.to_string(),
            None => format!("Task-{}", self.id),
        }
    }

    /// Requests cancellation; false if the task already finished.
    pub(crate) fn cancel(&self) -> bool {
        if self.finished.get() {
            return false;
        }
        self.cancelling.set(self.cancelling.get().saturating_add(1));
        self.rearm_cancel();
        true
    }

    /// Whether no `catch_cancel` scope is active.
    fn no_scope(&self) -> bool {
        self.scopes.borrow().is_empty()
    }

    /// Makes a cancel request pending again (without counting a new request) and schedules the
    /// task.
    fn rearm_cancel(&self) {
        self.cancel_pending.set(true);
        if let Some(core) = self.core.upgrade() {
            let waker = core.tasks.borrow().waker(self.slot.get());
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    fn report(&self, ctx: exception::Context) {
        if let Some(core) = self.core.upgrade() {
            EventLoop::from_core(core).call_exception_handler(ctx);
        }
    }
}

/// The set of live tasks of a loop (for `cancel_all_tasks` and `wasio::run`'s clean-up).
///
/// It also holds each task's own waker (stored on its first poll), so `cancel()` can schedule
/// the task. Keeping the waker here rather than in the task's header avoids a reference cycle:
/// a detached task that waits on nothing stays alive until the loop closes, and is then
/// destroyed and reported as pending, instead of leaking.
#[derive(Default)]
pub(crate) struct TaskSet {
    slots: Vec<Option<(Weak<TaskHeader>, Option<Waker>)>>,
    free: Vec<usize>,
    live: usize,
    /// Woken when at most one task is left (see [`others_finished`]).
    idle: Option<Waker>,
}

impl TaskSet {
    fn insert(&mut self, h: &Rc<TaskHeader>) {
        let weak = Some((Rc::downgrade(h), None));
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = weak;
                i
            }
            None => {
                self.slots.push(weak);
                self.slots.len() - 1
            }
        };
        h.slot.set(slot);
        self.live += 1;
    }

    /// Removes a task; returns the idle waker to wake (outside the borrow) if it is due.
    fn remove(&mut self, slot: usize) -> Option<Waker> {
        if let Some(s) = self.slots.get_mut(slot)
            && s.take().is_some()
        {
            self.free.push(slot);
            self.live -= 1;
        }
        if self.live <= 1 {
            self.idle.take()
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Headers of every live task (strong references, so the caller can act outside the borrow).
    pub(crate) fn snapshot(&self) -> Vec<Rc<TaskHeader>> {
        self.slots
            .iter()
            .filter_map(|s| s.as_ref().and_then(|(h, _)| h.upgrade()))
            .collect()
    }

    fn waker(&self, slot: usize) -> Option<Waker> {
        self.slots.get(slot)?.as_ref()?.1.clone()
    }

    fn set_waker_once(&mut self, slot: usize, waker: &Waker) {
        if let Some(Some((_, w @ None))) = self.slots.get_mut(slot) {
            *w = Some(waker.clone());
        }
    }

    /// Takes every stored waker (loop close): dropping them destroys tasks nothing else holds.
    pub(crate) fn take_wakers(&mut self) -> Vec<Waker> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.as_mut().and_then(|(_, w)| w.take()))
            .collect()
    }
}

thread_local! {
    /// The task being polled on this thread, for `catch_cancel` and `current_name`.
    static CURRENT_TASK: RefCell<Option<Rc<TaskHeader>>> = const { RefCell::new(None) };
}

/// Restores the previous current task on drop (also on unwind).
struct EnterTask(Option<Rc<TaskHeader>>);

impl EnterTask {
    fn new(h: &Rc<TaskHeader>) -> EnterTask {
        EnterTask(CURRENT_TASK.with(|c| c.borrow_mut().replace(h.clone())))
    }
}

impl Drop for EnterTask {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT_TASK.with(|c| *c.borrow_mut() = prev);
    }
}

fn current_header() -> Option<Rc<TaskHeader>> {
    CURRENT_TASK.with(|c| c.borrow().clone())
}

/// Requests cancellation of the task running on this thread (used to pass a cancellation on
/// after cleaning up, as `raise` after `except CancelledError` does).
pub(crate) fn cancel_current() {
    if let Some(h) = current_header()
        && !h.finished.get()
    {
        h.rearm_cancel();
    }
}

/// The name of the task running on this thread (`Task-<n>` unless named), if any.
pub fn current_name() -> Option<String> {
    current_header().map(|h| h.display_name())
}

/// Dropped with the task's future: removes the task from the loop's set and reports a task
/// destroyed while pending.
struct Lifetime(Rc<TaskHeader>);

impl Drop for Lifetime {
    fn drop(&mut self) {
        let h = &self.0;
        if let Some(core) = h.core.upgrade() {
            let idle = core.tasks.borrow_mut().remove(h.slot.get());
            if let Some(w) = idle {
                w.wake();
            }
        }
        if !h.finished.get() && !h.quiet.get() && !h.cancel_pending.get() {
            h.report(
                exception::Context::new("Task was destroyed but it is pending!")
                    .with("task", h.display_name()),
            );
        }
    }
}

/// One step of a task: deliver a pending cancel, else poll the user's future (catching panics).
fn step<F: Future>(
    h: &Rc<TaskHeader>,
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Failure>> {
    let _enter = EnterTask::new(h);
    if !h.polled.replace(true)
        && let Some(core) = h.core.upgrade()
    {
        core.tasks
            .borrow_mut()
            .set_waker_once(h.slot.get(), cx.waker());
    }
    if h.cancel_pending.get() && h.no_scope() {
        h.cancel_pending.set(false);
        h.finished.set(true);
        h.ended_cancelled.set(true);
        return Poll::Ready(Err(Failure::Cancelled));
    }
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Ready(v)) => {
            h.finished.set(true);
            Poll::Ready(Ok(v))
        }
        Ok(Poll::Pending) => {
            if h.cancel_pending.get() && h.no_scope() {
                // A catch scope ended without taking the request: deliver it next time.
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }
        Err(payload) => {
            let msg = exception::panic_message(&*payload);
            h.finished.set(true);
            if h.detached.get() {
                report_unretrieved(h, &msg);
            } else {
                *h.failure.borrow_mut() = Some(msg.clone());
            }
            Poll::Ready(Err(Failure::Panicked(msg)))
        }
    }
}

fn report_unretrieved(h: &TaskHeader, msg: &str) {
    h.report(
        exception::Context::new("Task exception was never retrieved")
            .with_error(PanicError::new(msg.into()))
            .with("future", h.display_name()),
    );
}

/// Creates a task on `core`; the caller queues the returned runnable.
pub(crate) fn create<F>(
    core: &Rc<Core>,
    name: Option<Arc<str>>,
    future: F,
) -> (Runnable, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let header = Rc::new(TaskHeader {
        id,
        name: name.clone(),
        cancel_pending: Cell::new(false),
        cancelling: Cell::new(0),
        scopes: RefCell::new(Vec::new()),
        next_scope: Cell::new(1),
        polled: Cell::new(false),
        detached: Cell::new(false),
        finished: Cell::new(false),
        ended_cancelled: Cell::new(false),
        failure: RefCell::new(None),
        quiet: Cell::new(false),
        slot: Cell::new(usize::MAX),
        core: Rc::downgrade(core),
    });
    core.tasks.borrow_mut().insert(&header);
    // Built outside the async block so that it is dropped (and reports) even if the task is
    // destroyed before its first step.
    let lifetime = Lifetime(header.clone());
    let wrapped = async move {
        let lifetime = lifetime;
        let mut fut = pin!(future);
        std::future::poll_fn(|cx| step(&lifetime.0, fut.as_mut(), cx)).await
    };
    let shared = core.shared.clone();
    let (runnable, task) = async_task::Builder::new()
        .metadata(TaskMeta { id, name })
        .spawn_local(move |_| wrapped, move |r| shared.schedule_task(r));
    let handle = JoinHandle {
        task: Some(task.fallible()),
        header,
    };
    (runnable, handle)
}

/// Spawns a task on the loop running on this thread; it first runs in the next iteration.
///
/// # Panics
///
/// If no wasio loop is running on this thread (use [`EventLoop::create_task`] otherwise).
///
/// ```
/// let v = wasio::run(async {
///     let t = wasio::spawn(async { 6 * 7 });
///     t.await.unwrap()
/// })
/// .unwrap();
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_core(|core| core.spawn_local(None, future))
}

/// Like [`spawn`], with a task name for logs and reports.
#[track_caller]
pub fn spawn_named<F>(name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_core(|core| core.spawn_local(Some(Arc::from(name)), future))
}

/// Completes when the calling task is the only task left on its loop.
pub(crate) async fn others_finished() {
    std::future::poll_fn(|cx| {
        with_core(|core| {
            let mut tasks = core.tasks.borrow_mut();
            if tasks.live <= 1 {
                Poll::Ready(())
            } else {
                tasks.idle = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    })
    .await
}

/// A handle to a task: a future of its outcome, and the way to cancel it.
///
/// Dropping it detaches the task (it keeps running).
pub struct JoinHandle<T> {
    task: Option<async_task::FallibleTask<Result<T, Failure>, TaskMeta>>,
    header: Rc<TaskHeader>,
}

impl<T> JoinHandle<T> {
    /// Requests cancellation (asyncio `Task.cancel()`). Returns `false` if the task already
    /// finished. See the [module docs](crate::task) for how the request is delivered.
    pub fn cancel(&self) -> bool {
        self.header.cancel()
    }

    /// How many times `cancel()` was called (asyncio `cancelling()`).
    pub fn cancelling(&self) -> u32 {
        self.header.cancelling.get()
    }

    /// Whether the task finished (with a value, cancelled or panicked).
    pub fn is_finished(&self) -> bool {
        self.header.finished.get()
    }

    /// Whether the task finished cancelled (false while a cancel request is pending).
    pub fn is_cancelled(&self) -> bool {
        self.header.ended_cancelled.get()
    }

    /// The task's name: the one given, or `Task-<n>`.
    pub fn name(&self) -> String {
        self.header.display_name()
    }

    /// Lets the task run on without a handle (same as dropping the handle).
    pub fn detach(self) {}

    pub(crate) fn set_quiet(&self) {
        self.header.quiet.set(true);
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(task) = self.task.as_mut() else {
            panic!("JoinHandle polled after it returned Ready");
        };
        let out = match Pin::new(task).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        self.task = None;
        Poll::Ready(match out {
            Some(Ok(v)) => Ok(v),
            Some(Err(Failure::Cancelled)) | None => {
                Err(JoinError::cancelled(&self.header.display_name()))
            }
            Some(Err(Failure::Panicked(msg))) => {
                self.header.failure.borrow_mut().take();
                Err(JoinError::panicked(&self.header.display_name(), msg))
            }
        })
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        self.header.detached.set(true);
        let unretrieved = self.header.failure.borrow_mut().take();
        if let Some(msg) = unretrieved {
            report_unretrieved(&self.header, &msg);
        }
        task.detach();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("name", &self.header.display_name())
            .field("finished", &self.is_finished())
            .field("cancelling", &self.cancelling())
            .finish()
    }
}

/// The error of [`catch_cancel`]: the task was asked to cancel while the scope was active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled(());

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task cancellation requested")
    }
}

impl std::error::Error for Cancelled {}

/// Runs `future` so that a cancel request for the current task ends only `future`, as
/// `try: await fut / except CancelledError:` does in asyncio.
///
/// Returns `Err(Cancelled)` if the task's cancellation was requested while the scope was active
/// (the future is dropped at its current `.await`); the task then continues after the scope.
/// Outside a task it just awaits `future`.
///
/// ```
/// use std::time::Duration;
/// let out = wasio::run(async {
///     let t = wasio::spawn(async {
///         match wasio::task::catch_cancel(wasio::sleep(Duration::from_secs(3600))).await {
///             Ok(()) => "slept",
///             Err(_) => "cancelled, cleaned up",
///         }
///     });
///     wasio::yield_now().await; // let the task start
///     t.cancel();
///     t.await.unwrap()
/// })
/// .unwrap();
/// assert_eq!(out, "cancelled, cleaned up");
/// ```
pub fn catch_cancel<F: Future>(future: F) -> CatchCancel<F> {
    CatchCancel {
        future: Some(future),
        id: 0,
        header: None,
    }
}

/// Future returned by [`catch_cancel`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CatchCancel<F> {
    future: Option<F>,
    /// This scope's id while registered with the current task (0: not registered).
    id: u32,
    header: Option<Rc<TaskHeader>>,
}

impl<F> CatchCancel<F> {
    fn unregister(&mut self) {
        if let Some(h) = self.header.take() {
            let id = self.id;
            h.scopes.borrow_mut().retain(|s| *s != id);
        }
    }
}

impl<F: Future> Future for CatchCancel<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned. It is only dropped in place (set to `None`
        // through the pinned reference) and never moved; the other fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        if this.header.is_none()
            && this.id == 0
            && let Some(h) = current_header()
        {
            let id = h.next_scope.get();
            h.next_scope.set(id.wrapping_add(1).max(1));
            h.scopes.borrow_mut().push(id);
            this.id = id;
            this.header = Some(h);
        }
        if let Some(h) = &this.header
            && h.cancel_pending.get()
            && h.scopes.borrow().last() == Some(&this.id)
        {
            h.cancel_pending.set(false);
            this.future = None;
            this.unregister();
            return Poll::Ready(Err(Cancelled(())));
        }
        let Some(fut) = this.future.as_mut() else {
            return Poll::Ready(Err(Cancelled(())));
        };
        // SAFETY: see above; `fut` is inside the pinned `self` and does not move.
        let fut = unsafe { Pin::new_unchecked(fut) };
        match fut.poll(cx) {
            Poll::Ready(v) => {
                this.future = None;
                this.unregister();
                Poll::Ready(Ok(v))
            }
            Poll::Pending => {
                if let Some(h) = &this.header
                    && h.cancel_pending.get()
                    && h.scopes.borrow().last() == Some(&this.id)
                {
                    // Requested while the inner future ran: deliver on the next poll.
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}

impl<F> Drop for CatchCancel<F> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<F> fmt::Debug for CatchCancel<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatchCancel")
            .field("scope", &self.id)
            .finish()
    }
}
