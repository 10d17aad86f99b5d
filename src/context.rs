//! The loop running on this thread: the accessor every layer above the loop's state uses
//! (asyncio `get_running_loop()`).
//!
//! A loop is current from the moment a `run_*` call enters it until that call returns; the
//! [`RunGuard`] returned by [`enter`] clears it, also on unwind.

use std::cell::RefCell;
use std::rc::Rc;

use crate::core::{Core, EventLoop};
use crate::error::Error;
use crate::sys;

thread_local! {
    /// The loop running on this thread.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Marks a loop running on this thread for the guard's lifetime.
pub(crate) struct RunGuard {
    core: Rc<Core>,
    /// The backend's per-run setup (the WASI 0.3 reactor), undone after `Drop::drop` above.
    _sys: sys::Entered,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.core.running.set(false);
        self.core.stopping.set(false);
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = None);
    }
}

/// Whether some loop is running on this thread.
pub(crate) fn any_running() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

/// Makes `core` the running loop. The caller checked that nothing runs yet (LIFE-03).
pub(crate) fn enter(core: &Rc<Core>) -> RunGuard {
    core.running.set(true);
    CURRENT.with(|c| *c.borrow_mut() = Some(core.clone()));
    RunGuard {
        core: core.clone(),
        _sys: sys::enter(&core.driver.borrow()),
    }
}

/// Runs `f` with the loop running on this thread.
///
/// # Panics
///
/// If no loop is running on this thread.
#[track_caller]
pub(crate) fn with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> R {
    match CURRENT.with(|c| c.borrow().clone()) {
        Some(core) => f(&core),
        None => panic!(
            "no wasio event loop is running on this thread; use EventLoop::run_until_complete or wasio::run"
        ),
    }
}

/// The core of the loop running on this thread.
pub(crate) fn try_current_core() -> Result<Rc<Core>, Error> {
    CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .ok_or_else(Error::no_running_loop)
}

/// The loop running on this thread (asyncio `get_running_loop()`).
///
/// # Panics
///
/// If no loop is running on this thread; see [`try_current`] for the fallible version.
#[track_caller]
pub fn current() -> EventLoop {
    with_core(|core| EventLoop { core: core.clone() })
}

/// The loop running on this thread, or an error with
/// [`is_no_running_loop`](Error::is_no_running_loop).
pub fn try_current() -> Result<EventLoop, Error> {
    try_current_core().map(|core| EventLoop { core })
}
