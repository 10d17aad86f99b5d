//! Tasks: [`spawn`], [`JoinHandle`], cancellation ([`catch_cancel`], [`Cancelled`]).
//!
//! A task runs a future on the loop, one step per wake-up, through the same ready FIFO as
//! `call_soon` callbacks. Cancellation follows asyncio: [`JoinHandle::cancel`] requests it, and
//! the request is delivered at the task's next `.await`, to the innermost [`catch_cancel`]
//! scope if there is one (`except CancelledError`), else by ending the task.
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
