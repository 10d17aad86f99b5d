//! The loop's API on [`EventLoop`], split by concern, and [`run`].
//!
//! * `schedule`: creating a loop and scheduling work (`call_soon`, `call_later`, `call_at`,
//!   `call_soon_threadsafe`, `create_task`).
//! * `run`: running, stopping and closing (`run_forever`, `run_until_complete`, `stop`,
//!   `close`, `wasio::run`).
//! * `iteration`: one iteration, asyncio's `_run_once`.
//! * `diagnostics`: the exception handler, debug mode and counters.
//! * `remote`: [`Remote`], the handle other threads use.
//! * `watch`: callbacks on raw readiness (the shared half of `add_reader` / `add_writer` and of
//!   WASI pollable readers; the public methods are in `os`).
//!
//! # One iteration (`run_once`), as asyncio `BaseEventLoop._run_once`
//!
//! 1. Purge cancelled timers if more than 100 are scheduled and more than half are cancelled,
//!    else pop the cancelled ones at the head of the heap.
//! 2. Timeout: zero if callbacks are ready, `stop()` was asked or another thread queued work;
//!    else the time to the nearest deadline (rounded up by the driver, capped at 24 h); else
//!    block.
//! 3. Wait on the driver (mio selector natively, `wasi:io/poll` on WASI).
//! 4. Queue what the wait produced: callbacks and wakes from other threads, I/O wakeups and
//!    the callbacks of watched sources (in event order), then every timer with `when < now + resolution`, in `(when, seq)` order.
//! 5. Run exactly the entries that were ready when this step began (a snapshot of the length):
//!    anything queued while they run waits for the next iteration (SCH-02).
//!
//! # Ground rules
//!
//! * The loop is single-threaded (`EventLoop` is `!Send`). The only state other threads touch is
//!   the cross-thread queue and the driver's unparker.
//! * No `RefCell` borrow is held while user code runs: entries are popped one at a time.
//! * A callback's error or panic goes to the exception handler and the loop goes on; a
//!   [`Fatal`](crate::Fatal) error stops it at once.

mod diagnostics;
mod iteration;
mod remote;
mod run;
mod schedule;
pub(crate) mod watch;

pub use self::diagnostics::LoopStats;
pub use self::remote::Remote;
pub use self::run::{FLUSH_TIMEOUT, run};
