//! [`TaskGroup`]: asyncio's `TaskGroup`, the structured way to run tasks together.
//!
//! # Ground rules
//!
//! * A child is a task like any other ([`spawn`](crate::spawn)), whose future returns
//!   `Result<T, E>`. The first child that fails (returns `Err`, or panics natively) makes the
//!   group abort: every other child still running is cancelled, and spawning fails with
//!   [`Error::is_task_group_closed`] (asyncio `TaskGroup … is shutting down`).
//! * [`TaskGroup::wait`] is asyncio's `__aexit__`: it waits until *every* child has finished
//!   (cancelled ones included), then returns every failure in the order they happened
//!   ([`TaskGroupError`], asyncio's `ExceptionGroup`), or `Ok`. A child cancelled on its own is
//!   not a failure.
//! * Cancelling the task that awaits `wait` cancels the children; `wait` still waits for all of
//!   them, then passes the cancellation on (the task ends cancelled, or its enclosing
//!   `catch_cancel` scope gets it). If children failed too, their errors win and the cancel
//!   request is made pending again, so the task is cancelled at its next `.await` (asyncio
//!   raises the `ExceptionGroup` and re-cancels its parent).
//! * Unlike asyncio, a failure does not cancel the code that runs between
//!   [`TaskGroup::new`] and [`wait`](TaskGroup::wait) (Rust has no `async with`, so the group
//!   cannot tell where its body ends): that code goes on, its `spawn` calls fail, and `wait`
//!   returns the errors once the children have finished.
//! * Dropping a group without `wait` (or dropping the `wait` future) cancels the children
//!   still running and does not wait for them: a destructor cannot `.await`.
//! * A failed child ends as a cancelled task: its error belongs to the group, so awaiting its
//!   [`JoinHandle`] gives a [`JoinError`](crate::JoinError) with `is_cancelled()`, and no
//!   failure is ever reported twice (asyncio marks the child's exception retrieved).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::cancel::{Cancelled, catch_cancel};
use super::join::{JoinHandle, spawn_on};
use super::state::{TaskHeader, TaskKind, cancel_current};
use crate::context::try_current_core;
use crate::error::Error;
use crate::exception::{self, PanicError};

/// A group of tasks that succeed or fail together (asyncio `TaskGroup`).
///
/// * A child is a task like any other, whose future returns `Result<T, E>`. The first child
///   that fails (returns `Err`, or panics natively) makes the group abort: every other child
///   still running is cancelled, and [`spawn`](TaskGroup::spawn) fails with
///   [`Error::is_task_group_closed`] (asyncio `TaskGroup … is shutting down`).
/// * [`wait`](TaskGroup::wait) is asyncio's `__aexit__`: it waits until *every* child has
///   finished, then returns every failure in the order they happened ([`TaskGroupError`],
///   asyncio's `ExceptionGroup`), or `Ok`. A child cancelled on its own is not a failure.
/// * Cancelling the task that awaits `wait` cancels the children; `wait` still waits for all of
///   them, then passes the cancellation on (the task ends cancelled, or its enclosing
///   [`catch_cancel`](crate::task::catch_cancel) scope gets it). If children failed too, the
///   errors are returned and the cancellation stays requested, for the task's next `.await`.
/// * Unlike asyncio, a failure does not cancel the code that runs between `new` and `wait`
///   (Rust has no `async with`, so the group cannot tell where its body ends): that code goes
///   on, its `spawn` calls fail, and `wait` returns the errors once the children have ended.
/// * Dropping a group without `wait` (or dropping the `wait` future) cancels the children still
///   running and does not wait for them: a destructor cannot `.await`.
/// * A failed child ends as a cancelled task: its error belongs to the group, so awaiting its
///   [`JoinHandle`] gives a [`JoinError`](crate::JoinError) with `is_cancelled()`.
///
/// ```
/// use std::time::Duration;
/// use wasio::task::TaskGroup;
///
/// let out = wasio::run(async {
///     let group = TaskGroup::<String>::new();
///     let slow = group.spawn(async {
///         wasio::sleep(Duration::from_secs(3600)).await;
///         Ok("never")
///     })?;
///     group.spawn(async { Err::<(), _>("disk full".to_string()) })?;
///     // The failure cancelled the slow sibling; wait returned once it had ended.
///     let err = group.wait().await.unwrap_err();
///     assert!(slow.is_cancelled());
///     Ok::<_, wasio::Error>(err.into_errors())
/// })
/// .unwrap()
/// .unwrap();
/// assert_eq!(out, vec!["disk full".to_string()]);
/// ```
pub struct TaskGroup<E> {
    inner: Rc<Inner<E>>,
}

/// The state children and the group share.
struct Inner<E> {
    /// The children still running: their headers, so an abort can cancel them.
    tasks: RefCell<Slab<Option<Rc<TaskHeader>>>>,
    /// Failures in the order they happened.
    failures: RefCell<Vec<TaskFailure<E>>>,
    /// A child failed or `cancel()` was called: children were cancelled, spawning fails.
    aborting: Cell<bool>,
    /// `wait` returned: spawning fails.
    finished: Cell<bool>,
    /// The `wait` future, woken when the last child ends.
    waiter: RefCell<Option<Waker>>,
}

impl<E> Inner<E> {
    /// Cancels every child still running (asyncio `_abort`).
    fn abort(&self) {
        self.aborting.set(true);
        let live: Vec<Rc<TaskHeader>> = self
            .tasks
            .borrow()
            .iter()
            .filter_map(|(_, h)| h.clone())
            .collect();
        for h in live {
            h.cancel();
        }
    }

    /// Records a child's failure; the first one aborts the group.
    fn fail(&self, failure: TaskFailure<E>) {
        self.failures.borrow_mut().push(failure);
        if !self.aborting.get() {
            self.abort();
        }
    }
}

impl<E: 'static> TaskGroup<E> {
    /// An empty group. It needs no loop until the first [`spawn`](TaskGroup::spawn).
    pub fn new() -> TaskGroup<E> {
        TaskGroup {
            inner: Rc::new(Inner {
                tasks: RefCell::new(Slab::new()),
                failures: RefCell::new(Vec::new()),
                aborting: Cell::new(false),
                finished: Cell::new(false),
                waiter: RefCell::new(None),
            }),
        }
    }

    /// Spawns `future` as a child on the running loop (asyncio `TaskGroup.create_task`); its
    /// first step runs in the next iteration, like any task.
    ///
    /// The handle gives the child's value once it has finished; a child that failed, or was
    /// cancelled by the group, gives a [`JoinError`](crate::JoinError) with `is_cancelled()`.
    /// Dropping the handle does not detach the child from the group.
    ///
    /// Errors (the future is dropped): the group is shutting down or finished
    /// ([`Error::is_task_group_closed`]); no loop is running, or it is closed.
    pub fn spawn<T, F>(&self, future: F) -> Result<JoinHandle<T>, Error>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
    {
        self.spawn_inner(None, future)
    }

    /// Like [`spawn`](TaskGroup::spawn), with a task name for logs and reports.
    pub fn spawn_named<T, F>(&self, name: &str, future: F) -> Result<JoinHandle<T>, Error>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
    {
        self.spawn_inner(Some(Arc::from(name)), future)
    }

    fn spawn_inner<T, F>(&self, name: Option<Arc<str>>, future: F) -> Result<JoinHandle<T>, Error>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
    {
        let inner = &self.inner;
        if inner.finished.get() {
            return Err(Error::task_group_closed("TaskGroup is finished"));
        }
        if inner.aborting.get() {
            return Err(Error::task_group_closed("TaskGroup is shutting down"));
        }
        let core = try_current_core()?;
        core.check_open()?;
        let key = inner.tasks.borrow_mut().insert(None);
        let child = Child {
            future,
            guard: ChildGuard {
                group: Rc::downgrade(inner),
                key,
                failed: false,
            },
        };
        let handle = spawn_on(&core, name, TaskKind::User, child);
        if let Some(slot) = inner.tasks.borrow_mut().get_mut(key) {
            *slot = Some(handle.header().clone());
        }
        Ok(handle)
    }

    /// Cancels every child still running; later `spawn` calls fail, and [`wait`] returns `Ok`
    /// unless a child failed (asyncio `TaskGroup.cancel()`, without cancelling the body: see
    /// the [type docs](TaskGroup)). Idempotent.
    ///
    /// [`wait`]: TaskGroup::wait
    pub fn cancel(&self) {
        if !self.inner.finished.get() && !self.inner.aborting.get() {
            self.inner.abort();
        }
    }

    /// Number of children still running.
    pub fn len(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// Whether no child is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every child has finished (asyncio `__aexit__`), then returns every failure
    /// ([`TaskGroupError`]), or `Ok` when none failed.
    ///
    /// If the awaiting task is cancelled meanwhile, the children are cancelled and still
    /// awaited, and then the cancellation goes on (see the [type docs](TaskGroup)).
    pub async fn wait(self) -> Result<(), TaskGroupError<E>> {
        let inner = self.inner.clone();
        let mut cancelled: Option<Cancelled> = None;
        while !inner.tasks.borrow().is_empty() {
            if let Err(c) = catch_cancel(AllDone(&inner)).await {
                if !inner.aborting.get() {
                    inner.abort();
                }
                cancelled = Some(c);
            }
        }
        inner.finished.set(true);
        let failures = std::mem::take(&mut *inner.failures.borrow_mut());
        drop(self);
        match cancelled {
            Some(c) if failures.is_empty() => match c.propagate().await {},
            Some(_) => {
                // The errors win; the cancellation stays requested (asyncio uncancel + cancel).
                cancel_current();
            }
            None => {}
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TaskGroupError { failures })
        }
    }
}

impl<E: 'static> Default for TaskGroup<E> {
    fn default() -> TaskGroup<E> {
        TaskGroup::new()
    }
}

impl<E> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        if !self.inner.finished.get() {
            self.inner.abort();
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("tasks", &self.inner.tasks.borrow().len())
            .field("failures", &self.inner.failures.borrow().len())
            .field("aborting", &self.inner.aborting.get())
            .field("finished", &self.inner.finished.get())
            .finish()
    }
}

/// Completes when the group has no child left.
struct AllDone<'a, E>(&'a Inner<E>);

impl<E> Future for AllDone<'_, E> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.tasks.borrow().is_empty() {
            return Poll::Ready(());
        }
        *self.0.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Dropped with the child's future (after it): the child has ended, however it ended.
struct ChildGuard<E> {
    group: Weak<Inner<E>>,
    key: usize,
    /// The child failed: its future is not polled again, and the task ends cancelled.
    failed: bool,
}

impl<E> Drop for ChildGuard<E> {
    fn drop(&mut self) {
        let Some(group) = self.group.upgrade() else {
            return;
        };
        let waiter = {
            let mut tasks = group.tasks.borrow_mut();
            tasks.try_remove(self.key);
            if tasks.is_empty() {
                group.waiter.borrow_mut().take()
            } else {
                None
            }
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<E> ChildGuard<E> {
    /// Hands a failure to the group and ends this task cancelled at its next step.
    fn fail(&mut self, failure: TaskFailure<E>) {
        self.failed = true;
        match self.group.upgrade() {
            Some(group) => group.fail(failure),
            None => {
                // The group was dropped without waiting (which cancelled this child), and the
                // child caught that and failed later: asyncio reports such an error too.
                if let Ok(core) = try_current_core() {
                    let ctx = exception::Context::new(
                        "Task has errored out but its TaskGroup is already gone",
                    );
                    let ctx = match failure {
                        TaskFailure::Panic(p) => ctx.with_error(p),
                        TaskFailure::Error(_) => ctx,
                    };
                    core.call_exception_handler(&ctx);
                }
            }
        }
        cancel_current();
    }
}

pin_project_lite::pin_project! {
    /// A child's future: the user's future, then its guard (field order is drop order).
    struct Child<F, E> {
        #[pin]
        future: F,
        guard: ChildGuard<E>,
    }
}

impl<T, E, F: Future<Output = Result<T, E>>> Future for Child<F, E> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.project();
        if this.guard.failed {
            // Waiting for the cancellation `fail` requested to end the task.
            return Poll::Pending;
        }
        match catch_unwind(AssertUnwindSafe(|| this.future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(v))) => Poll::Ready(v),
            Ok(Poll::Ready(Err(e))) => {
                this.guard.fail(TaskFailure::Error(e));
                Poll::Pending
            }
            Err(payload) => {
                let msg = exception::panic_message(&*payload);
                this.guard.fail(TaskFailure::Panic(PanicError::new(msg)));
                Poll::Pending
            }
        }
    }
}

/// How one child of a [`TaskGroup`] failed.
#[derive(Debug)]
pub enum TaskFailure<E> {
    /// The child returned `Err`.
    Error(E),
    /// The child panicked (native targets only: a panic aborts a wasm32-wasip2 instance).
    Panic(PanicError),
}

impl<E: fmt::Display> fmt::Display for TaskFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Error(e) => e.fmt(f),
            TaskFailure::Panic(p) => p.fmt(f),
        }
    }
}

/// Every failure of a [`TaskGroup`]'s children, in the order they happened (asyncio's
/// `ExceptionGroup('unhandled errors in a TaskGroup', errors)`). Never empty.
#[derive(Debug)]
pub struct TaskGroupError<E> {
    failures: Vec<TaskFailure<E>>,
}

impl<E> TaskGroupError<E> {
    /// The failures, in order.
    pub fn failures(&self) -> &[TaskFailure<E>] {
        &self.failures
    }

    /// The failures, in order, by value.
    pub fn into_failures(self) -> Vec<TaskFailure<E>> {
        self.failures
    }

    /// The errors children returned, in order (panics left out).
    pub fn errors(&self) -> impl Iterator<Item = &E> {
        self.failures.iter().filter_map(|f| match f {
            TaskFailure::Error(e) => Some(e),
            TaskFailure::Panic(_) => None,
        })
    }

    /// The errors children returned, in order, by value (panics left out).
    pub fn into_errors(self) -> Vec<E> {
        self.failures
            .into_iter()
            .filter_map(|f| match f {
                TaskFailure::Error(e) => Some(e),
                TaskFailure::Panic(_) => None,
            })
            .collect()
    }

    /// The panics of children, in order (always empty on wasm32-wasip2).
    pub fn panics(&self) -> impl Iterator<Item = &PanicError> {
        self.failures.iter().filter_map(|f| match f {
            TaskFailure::Panic(p) => Some(p),
            TaskFailure::Error(_) => None,
        })
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.failures.len();
        let plural = if n == 1 { "" } else { "s" };
        write!(
            f,
            "unhandled errors in a TaskGroup ({n} sub-exception{plural})"
        )?;
        for failure in &self.failures {
            write!(f, "; {failure}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + 'static> std::error::Error for TaskGroupError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.failures.first() {
            Some(TaskFailure::Error(e)) => Some(e),
            Some(TaskFailure::Panic(p)) => Some(p),
            None => None,
        }
    }
}
