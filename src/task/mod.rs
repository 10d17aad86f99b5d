//! Tasks: [`spawn`], [`JoinHandle`], cancellation ([`catch_cancel`], [`Cancelled`]), and
//! asyncio's helpers: [`TaskGroup`], [`gather`] / [`try_gather`], [`shield`],
//! [`JoinHandle::wait_for`].
//!
//! A task runs a future on the loop, one step per wake-up, through the same ready FIFO as
//! `call_soon` callbacks. Cancellation follows asyncio: [`JoinHandle::cancel`] requests it, and
//! the request is delivered at the task's next `.await`, to the innermost [`catch_cancel`]
//! scope if there is one (`except CancelledError`), else by ending the task.
//!
//! # `gather`, `shield`, `wait_for`
//!
//! * [`gather`] and [`try_gather`] poll their futures in place, inside the awaiting task, where
//!   asyncio wraps each in a task: they run concurrently all the same, and the outputs come back
//!   in input order. Each future has its own waker, so a wake-up polls only its future, at most
//!   once per loop iteration.
//! * Dropping a `gather` (its task was cancelled, or a `timeout` elapsed) drops its futures,
//!   which cancels them, as a cancelled asyncio `gather` cancels its children. A
//!   [`JoinHandle`] is the exception: dropping one detaches its task, so gathered tasks keep
//!   running (use a [`TaskGroup`] to have them cancelled).
//! * `return_exceptions=True` is [`gather`] over futures returning `Result`; the default is
//!   [`try_gather`], which returns the first `Err` at once. asyncio leaves the other children
//!   running then; here they are dropped (cancelled): gather `JoinHandle`s to keep them running.
//! * [`shield`] runs its future as a task: if the awaiting task is cancelled, the cancellation
//!   reaches the awaiting task as usual (asyncio: the awaiter gets `CancelledError`), and the
//!   shielded task runs on, detached.
//! * [`timeout`](crate::timeout) already is asyncio's `wait_for` for a plain future: dropping
//!   the future at the deadline cancels it. For a task it is not (dropping a `JoinHandle`
//!   detaches the task), so [`JoinHandle::wait_for`] cancels the task at the deadline and waits
//!   until it has ended, as asyncio does.
//!
//! # Modules
//!
//! * `state`: per-task state and the loop's set of live tasks (no loop access).
//! * `cancel`: `catch_cancel` scopes.
//! * `join`: spawning on a loop, `JoinHandle`, failure reports.
//! * `group`: [`TaskGroup`] (asyncio `TaskGroup`), built on `join` and `cancel`.
//! * `combinators`: [`gather`], [`try_gather`], [`shield`], [`JoinHandle::wait_for`] (asyncio
//!   `gather`, `shield`, `wait_for`).

pub(crate) mod cancel;
pub(crate) mod combinators;
pub(crate) mod group;
pub(crate) mod join;
pub(crate) mod state;

pub use self::cancel::{Cancelled, CatchCancel, catch_cancel};
pub use self::combinators::{Gather, Shield, TryGather, gather, shield, try_gather};
pub use self::group::{TaskFailure, TaskGroup, TaskGroupError};
pub use self::join::{JoinHandle, spawn, spawn_named};
pub use self::state::current_name;
