//! What a loop keeps about signals: the handlers (asyncio `_signal_handlers`), the futures
//! waiting for one ([`ctrl_c`](super::ctrl_c)), and how many of each signal arrived. Data
//! only: the loop's source of signals lives with its watcher task (see `signal`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::task::Waker;

use crate::handle::Outcome;
use crate::sys;

/// A handler: called (as a callback of the loop) each time its signal arrives.
pub(crate) type Handler = Rc<RefCell<dyn FnMut() -> Outcome>>;

/// One loop's signal state.
#[derive(Default)]
pub(crate) struct Table {
    /// The backend source, shared with the watcher task; `None` until a signal is handled.
    pub(crate) source: Option<Rc<RefCell<sys::signal::Signals>>>,
    pub(crate) handlers: HashMap<i32, Handler>,
    /// Arrivals per signal since the loop began handling it.
    pub(crate) arrivals: HashMap<i32, u64>,
    /// Futures waiting per signal: how many, and their wakers.
    pub(crate) listeners: HashMap<i32, usize>,
    pub(crate) waiters: Vec<(i32, Waker)>,
}

impl Table {
    /// Whether anything of this loop still wants `sig`.
    pub(crate) fn wants(&self, sig: i32) -> bool {
        self.handlers.contains_key(&sig) || self.listeners.get(&sig).is_some_and(|n| *n > 0)
    }
}
