//! The loop's state: [`Core`], and [`EventLoop`], the public handle to it.
//!
//! `Core` is data: the queues, the driver, the registry, the flags. The loop's API
//! (`event_loop::*`), its iteration, and the layers that schedule work (tasks, timers, I/O
//! sources) all use it; it uses none of them. The only behaviour here is what every layer
//! needs and that depends on nothing above: reporting to the exception handler.
//!
//! # Ground rules
//!
//! * The loop is single-threaded (`Core` is `!Send`); other threads only touch [`Shared`].
//! * No `RefCell` borrow of a field is held while user code runs.
//! * Dropping a loop without `close()` is safe on both targets: I/O sources own their WASI
//!   pollables (the driver only aliases them), so nothing here can outlive its parent, and
//!   the tasks' own wakers are dropped so detached tasks do not leak.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error as StdError;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::Error;
use crate::exception::{self, Context, PanicError};
use crate::executor::pool::DefaultExecutor;
use crate::io::registry::Registry;
use crate::io::watch::Watchers;
use crate::ready::LocalQueue;
use crate::shared::{Foreign, Shared};
use crate::sys;
use crate::task::state::TaskSet;
use crate::timer::TimerQueue;

/// Default `slow_callback_duration` (asyncio: 0.1 s).
pub const DEFAULT_SLOW_CALLBACK: Duration = Duration::from_millis(100);

/// A custom exception handler, set with
/// [`EventLoop::set_exception_handler`](crate::EventLoop::set_exception_handler). An `Err` it
/// returns is reported by the default handler as `Unhandled error in exception handler`.
pub type ExceptionHandler = Rc<dyn Fn(&EventLoop, &Context) -> Result<(), Box<dyn StdError>>>;

/// The loop state proper; owned by `Rc`, never shared across threads.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    /// The ready FIFO (callbacks, fired timers, task steps) and the `closed` flag.
    pub(crate) local: Rc<LocalQueue>,
    pub(crate) timers: RefCell<TimerQueue>,
    /// The selector or the armed pollables.
    pub(crate) driver: RefCell<sys::Driver>,
    /// I/O sources and the tasks waiting on them.
    pub(crate) io: RefCell<Registry>,
    /// Sources watched for callbacks (`add_reader`, pollable readers); their tokens are slots
    /// of `io`.
    pub(crate) watchers: RefCell<Watchers>,
    /// Readiness events of the last wait (reused, no allocation per iteration).
    pub(crate) events: RefCell<Vec<sys::Event>>,
    /// Wakers collected under a borrow, woken after it ends (reused).
    pub(crate) wake_list: RefCell<Vec<Waker>>,
    /// Buffer swapped with the remote queue in step 4 (reused).
    pub(crate) remote_buf: RefCell<VecDeque<Foreign>>,
    pub(crate) clock: Clock,
    /// Live tasks.
    pub(crate) tasks: RefCell<TaskSet>,
    pub(crate) running: Cell<bool>,
    pub(crate) stopping: Cell<bool>,
    /// Set by a callback returning `Fatal`; ends the current iteration.
    pub(crate) fatal: RefCell<Option<Error>>,
    pub(crate) debug: Cell<bool>,
    pub(crate) slow_callback: Cell<Duration>,
    pub(crate) handler: RefCell<Option<ExceptionHandler>>,
    /// The default executor of `run_in_executor`.
    pub(crate) executor: RefCell<DefaultExecutor>,
    /// Signal handlers and the futures waiting for signals.
    pub(crate) signals: RefCell<crate::signal::table::Table>,
}

impl Core {
    /// A new loop state with its own driver.
    pub(crate) fn new() -> std::io::Result<Core> {
        let (driver, unparker) = sys::Driver::new()?;
        let shared = Arc::new(Shared::new(unparker));
        let local = Rc::new(LocalQueue::new(shared.id));
        crate::shared::register_local(&local);
        let debug = std::env::var_os("WASIO_DEBUG").is_some_and(|v| !v.is_empty());
        Ok(Core {
            shared,
            local,
            timers: RefCell::new(TimerQueue::new()),
            driver: RefCell::new(driver),
            io: RefCell::new(Registry::default()),
            watchers: RefCell::new(Watchers::default()),
            events: RefCell::new(Vec::with_capacity(64)),
            wake_list: RefCell::new(Vec::with_capacity(64)),
            remote_buf: RefCell::new(VecDeque::new()),
            clock: Clock::new(sys::clock_resolution()),
            tasks: RefCell::new(TaskSet::default()),
            running: Cell::new(false),
            stopping: Cell::new(false),
            fatal: RefCell::new(None),
            debug: Cell::new(debug),
            slow_callback: Cell::new(DEFAULT_SLOW_CALLBACK),
            handler: RefCell::new(None),
            executor: RefCell::new(DefaultExecutor::default()),
            signals: RefCell::new(Default::default()),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.local.closed.get()
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.is_closed() {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    /// Reports `context` to the exception handler, custom or default (asyncio
    /// `call_exception_handler`). Nothing escapes: a failing custom handler is reported by the
    /// default one, and a failing default handler is caught (see [`crate::exception`]).
    pub(crate) fn call_exception_handler(self: &Rc<Core>, context: &Context) {
        let handler = self.handler.borrow().clone();
        let Some(handler) = handler else {
            exception::default_handler_guarded(context, "Exception in default exception handler");
            return;
        };
        let lp = EventLoop { core: self.clone() };
        let failure: Option<Box<dyn StdError>> =
            match catch_unwind(AssertUnwindSafe(|| handler(&lp, context))) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(payload) => Some(Box::new(PanicError::new(exception::panic_message(
                    &*payload,
                )))),
            };
        if let Some(err) = failure {
            let ctx = Context::new("Unhandled error in exception handler")
                .with_error(err)
                .with("context", format_args!("{context:?}"));
            exception::default_handler_guarded(
                &ctx,
                "Exception in default exception handler while handling an unexpected error in custom exception handler",
            );
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Tasks and sources are dropped below: with the backend's reactor (WASI 0.3).
        let _sys = crate::sys::enter(self.driver.get_mut());
        self.shared.set_closed();
        self.local.closed.set(true);
        // Destroy the tasks still alive (a task woken on a closed loop is dropped, not queued),
        // so none is leaked in a cycle through a waker held elsewhere. Their sources drop in
        // their own (child-first) order; nothing can reach this loop any more.
        let wakers = self.tasks.get_mut().take_wakers();
        for w in wakers {
            w.wake();
        }
    }
}

/// An asyncio-style event loop.
///
/// Cloning gives another reference to the same loop. The loop is single-threaded (`!Send`);
/// other threads reach it through [`EventLoop::remote`].
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let lp = wasio::EventLoop::new().unwrap();
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let (l1, l2) = (log.clone(), log.clone());
/// lp.call_later(Duration::from_millis(1), move || l1.borrow_mut().push("later")).unwrap();
/// lp.call_soon(move || l2.borrow_mut().push("soon")).unwrap();
/// lp.run_until_complete(wasio::sleep(Duration::from_millis(5))).unwrap();
/// assert_eq!(*log.borrow(), ["soon", "later"]);
/// lp.close().unwrap();
/// ```
#[derive(Clone)]
pub struct EventLoop {
    pub(crate) core: Rc<Core>,
}

impl PartialEq for EventLoop {
    /// Two handles are equal when they refer to the same loop.
    fn eq(&self, other: &EventLoop) -> bool {
        Rc::ptr_eq(&self.core, &other.core)
    }
}

impl Eq for EventLoop {}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.core.running.get())
            .field("closed", &self.core.is_closed())
            .field("debug", &self.core.debug.get())
            .finish()
    }
}
