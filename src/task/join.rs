//! Spawning tasks on a loop: [`spawn`], [`JoinHandle`], and the reports of failed tasks.
//!
//! A task is an `async_task` task whose `Runnable` goes through the loop's ready FIFO, so a
//! wake costs no allocation and a new task's first step runs in the next iteration, in order
//! with other callbacks (TSK-01).
//!
//! # Ground rules
//!
//! * Cancellation follows asyncio (TSK-03): [`JoinHandle::cancel`] only *requests* it and wakes
//!   the task. When the task next runs, the request goes to the innermost active
//!   `catch_cancel` scope; with none, the whole future is dropped at its current `.await` and
//!   the task ends cancelled.
//! * A panicking task (native targets) ends with a [`JoinError`]; if nobody retrieves it (the
//!   handle was dropped or detached), the exception handler gets `Task exception was never
//!   retrieved` (TSK-05).
//! * A task destroyed before it finished (its last waker dropped, or the loop closed) reports
//!   `Task was destroyed but it is pending!`, except the one `run_until_complete` created.
//! * Dropping a [`JoinHandle`] detaches the task; it keeps running.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use super::state::{EnterTask, TaskHeader, TaskKind, TaskMeta};
use crate::context::with_core;
use crate::core::Core;
use crate::error::JoinError;
use crate::exception::{self, PanicError};
use crate::ready::Ready;

/// Why a task ended without a value.
pub(crate) enum Failure {
    Cancelled,
    Panicked(Box<str>),
}

/// Reports `ctx` to the loop's exception handler, if the loop still exists.
fn report(core: &Weak<Core>, ctx: exception::Context) {
    if let Some(core) = core.upgrade() {
        core.call_exception_handler(&ctx);
    }
}

/// Dropped with the task's future: removes the task from the loop's set and reports a task
/// destroyed while pending.
struct Lifetime {
    header: Rc<TaskHeader>,
    core: Weak<Core>,
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        let h = &self.header;
        if let Some(core) = self.core.upgrade() {
            let idle = core.tasks.borrow_mut().remove(h);
            if let Some(w) = idle {
                w.wake();
            }
        }
        if !h.finished.get() && !h.quiet.get() && !h.cancel_pending.get() {
            report(
                &self.core,
                exception::Context::new("Task was destroyed but it is pending!")
                    .with("task", h.display_name()),
            );
        }
    }
}

/// One step of a task: deliver a pending cancel, else poll the user's future (catching panics).
fn step<F: Future>(
    life: &Lifetime,
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Failure>> {
    let h = &life.header;
    let _enter = EnterTask::new(h);
    h.set_waker_once(cx.waker());
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
                report_unretrieved(&life.core, h, &msg);
            } else {
                *h.failure.borrow_mut() = Some(msg.clone());
            }
            Poll::Ready(Err(Failure::Panicked(msg)))
        }
    }
}

fn report_unretrieved(core: &Weak<Core>, h: &TaskHeader, msg: &str) {
    report(
        core,
        exception::Context::new("Task exception was never retrieved")
            .with_error(PanicError::new(msg.into()))
            .with("future", h.display_name()),
    );
}

pin_project_lite::pin_project! {
    /// The future a task runs: the user's future, then its [`Lifetime`]. Field order is drop
    /// order, in every state (never polled, pending, finished): the user's future (and what it
    /// owns) goes first, then the task reports itself destroyed if it was pending.
    struct TaskFuture<F> {
        #[pin]
        future: F,
        lifetime: Lifetime,
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = Result<F::Output, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        step(this.lifetime, this.future, cx)
    }
}

/// Creates a task on `core` and queues its first step (TSK-01). The caller checked that the
/// loop is open. `kind` tells who started it (see [`TaskKind`]).
pub(crate) fn spawn_on<F>(
    core: &Rc<Core>,
    name: Option<Arc<str>>,
    kind: TaskKind,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let header = Rc::new(TaskHeader::new(id, name.clone(), kind));
    core.tasks.borrow_mut().insert(&header);
    let wrapped = TaskFuture {
        future,
        lifetime: Lifetime {
            header: header.clone(),
            core: Rc::downgrade(core),
        },
    };
    let shared = core.shared.clone();
    let (runnable, task) = async_task::Builder::new()
        .metadata(TaskMeta { id, name })
        .spawn_local(move |_| wrapped, move |r| shared.schedule_task(r));
    core.local.push(Ready::Task(runnable));
    JoinHandle {
        task: Some(task.fallible()),
        header,
        core: Rc::downgrade(core),
    }
}

/// Spawns a task on the loop running on this thread; it first runs in the next iteration.
///
/// # Panics
///
/// If no wasio loop is running on this thread (use [`EventLoop::create_task`] otherwise).
///
/// [`EventLoop::create_task`]: crate::EventLoop::create_task
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
    with_core(|core| spawn_on(core, None, TaskKind::User, future))
}

/// Like [`spawn`], with a task name for logs and reports.
#[track_caller]
pub fn spawn_named<F>(name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_core(|core| spawn_on(core, Some(Arc::from(name)), TaskKind::User, future))
}

/// Completes when at most `user` user tasks and `flushing` [`TaskKind::Flush`] tasks are left
/// on the loop running this task ([`TaskKind::Watch`] tasks are not counted: they end with
/// what they watch, or when the loop closes).
pub(crate) async fn tasks_settled(user: usize, flushing: usize) {
    std::future::poll_fn(|cx| {
        with_core(|core| {
            let mut tasks = core.tasks.borrow_mut();
            if tasks.user() <= user && tasks.flushing() <= flushing {
                Poll::Ready(())
            } else {
                tasks.set_idle_waker(cx.waker());
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
    core: Weak<Core>,
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

    /// The task's header (for task groups, which cancel their children).
    pub(crate) fn header(&self) -> &Rc<TaskHeader> {
        &self.header
    }

    /// Do not report this task as destroyed while pending.
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
            report_unretrieved(&self.core, &self.header, &msg);
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
