//! The event loop: [`EventLoop`], its iteration, and the running-loop functions.
//!
//! # One iteration (`run_once`), as asyncio `BaseEventLoop._run_once`
//!
//! 1. Purge cancelled timers if more than 100 are scheduled and more than half are cancelled,
//!    else pop the cancelled ones at the head of the heap.
//! 2. Timeout: zero if callbacks are ready, `stop()` was asked or another thread queued work;
//!    else the time to the nearest deadline (rounded up by the driver, capped at 24 h); else
//!    block.
//! 3. Wait on the driver (mio selector natively, `wasi:io/poll` on WASI).
//! 4. Queue what the wait produced: callbacks and wakes from other threads, I/O wakeups, then
//!    every timer with `when < now + resolution`, in `(when, seq)` order.
//! 5. Run exactly the entries that were ready when this step began (a snapshot of the length):
//!    anything queued while they run waits for the next iteration (SCH-02).
//!
//! # Ground rules
//!
//! * The loop is single-threaded (`EventLoop` is `!Send`). The only state other threads touch is
//!   [`Shared`]: a mutex-protected queue and the driver's unparker.
//! * No `RefCell` borrow is held while user code runs: entries are popped one at a time.
//! * A callback's error or panic goes to the exception handler and the loop goes on; a
//!   [`Fatal`](crate::Fatal) error stops it at once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, Fatal};
use crate::exception::{self, ExceptionHandler, PanicError};
use crate::handle::{
    Call, CallbackResult, Entry, EntryRef, Handle, ThreadsafeHandle, TimerHandle, TsEntry,
};
use crate::io::{Registry, Token, WakeList};
use crate::sys;
use crate::task::{self, JoinHandle, Runnable, TaskSet};
use crate::time::{self, Clock, ticks};
use crate::timer::TimerQueue;

/// Default `slow_callback_duration` (asyncio: 0.1 s).
pub const DEFAULT_SLOW_CALLBACK: Duration = Duration::from_millis(100);

/// One entry of the ready FIFO.
pub(crate) enum Ready {
    /// A `call_soon` callback or a fired timer.
    Call(EntryRef),
    /// A `call_soon_threadsafe` callback.
    Threadsafe(Arc<TsEntry>),
    /// A task step.
    Task(Runnable),
}

/// Work queued by other threads (or by wakers while the loop is not running).
enum Foreign {
    Call(Arc<TsEntry>),
    Task(Runnable),
}

/// The part of a loop other threads may touch.
pub(crate) struct Shared {
    /// Distinguishes loops in the thread-local `CURRENT`.
    id: u64,
    /// The thread that created the loop.
    owner: u64,
    /// Callbacks and task wakes queued from outside the running loop, drained in step 4.
    remote: Mutex<VecDeque<Foreign>>,
    /// Set when `remote` became non-empty; the unparker is only kicked on that transition.
    has_remote: AtomicBool,
    /// Set by `close()`; `call_soon_threadsafe` then fails.
    closed: AtomicBool,
    /// Wakes a blocked `wait` (mio `Waker` natively; a no-op on WASI, which has no threads).
    unparker: sys::Unparker,
}

impl Shared {
    /// Pushes `item` straight into the ready FIFO when called on the loop's own thread (FIFO
    /// with `call_soon`). Gives it back when called from another thread. On the owner thread
    /// after the loop closed (or while it is being dropped), drops it: a task scheduled then
    /// can never run, and dropping its runnable here (on its own thread) destroys it instead of
    /// leaking it in a queue nobody drains.
    fn push_local(&self, item: Ready) -> Option<Ready> {
        if crate::handle::thread_no() != self.owner {
            return Some(item);
        }
        let core = CURRENT
            .try_with(|cur| {
                cur.try_borrow()
                    .ok()?
                    .as_ref()
                    .filter(|c| c.shared.id == self.id)
                    .cloned()
            })
            .ok()
            .flatten()
            .or_else(|| owned_core(self.id));
        match core {
            Some(core) if !core.closed.get() => match core.ready.try_borrow_mut() {
                Ok(mut ready) => {
                    ready.push_back(item);
                    None
                }
                Err(_) => Some(item),
            },
            _ if self.closed.load(Ordering::Acquire) => {
                drop(item);
                None
            }
            _ => Some(item),
        }
    }

    /// Schedules a woken task: into the ready FIFO on the loop's thread, else through the remote
    /// queue (which wakes the loop).
    pub(crate) fn schedule_task(&self, runnable: Runnable) {
        if let Some(Ready::Task(r)) = self.push_local(Ready::Task(runnable)) {
            self.push_remote(Foreign::Task(r));
        }
    }

    fn push_remote(&self, item: Foreign) {
        self.remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(item);
        if !self.has_remote.swap(true, Ordering::AcqRel) {
            self.unparker.unpark();
        }
    }

    /// Moves the queued work into `into` (an empty buffer the caller keeps, so no allocation
    /// is thrown away per batch).
    fn take_remote(&self, into: &mut VecDeque<Foreign>) {
        if !self.has_remote.swap(false, Ordering::AcqRel) {
            return;
        }
        std::mem::swap(
            &mut *self.remote.lock().unwrap_or_else(PoisonError::into_inner),
            into,
        );
    }

    fn call_soon_threadsafe<F, R>(&self, f: F) -> Result<ThreadsafeHandle, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: CallbackResult,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        let entry = TsEntry::new(f);
        let handle = ThreadsafeHandle {
            entry: entry.clone(),
        };
        // On the loop's own thread: FIFO with call_soon (SCH-06).
        if let Some(Ready::Threadsafe(e)) = self.push_local(Ready::Threadsafe(entry)) {
            self.push_remote(Foreign::Call(e));
        }
        Ok(handle)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let items = std::mem::take(
            self.remote
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let here = crate::handle::thread_no() == self.owner;
        for item in items {
            match item {
                // A local task may only be dropped on its own thread (async-task checks this);
                // leaking it beats panicking on a foreign thread.
                Foreign::Task(r) if !here => std::mem::forget(r),
                other => drop(other),
            }
        }
    }
}

/// The loop state proper; owned by `Rc`, never shared across threads.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    /// The ready FIFO: callbacks, fired timers, task steps.
    pub(crate) ready: RefCell<VecDeque<Ready>>,
    pub(crate) timers: RefCell<TimerQueue>,
    /// The selector or pollable set.
    pub(crate) driver: RefCell<sys::Driver>,
    /// I/O sources and the tasks waiting on them.
    pub(crate) io: RefCell<Registry>,
    /// Readiness events of the last wait (reused, no allocation per iteration).
    events: RefCell<Vec<(Token, u8)>>,
    /// Wakers collected during dispatch, woken after the registry borrow ends (reused).
    wake_list: WakeList,
    /// Buffer swapped with the remote queue in step 4 (reused).
    remote_buf: RefCell<VecDeque<Foreign>>,
    pub(crate) clock: Clock,
    /// Live tasks.
    pub(crate) tasks: RefCell<TaskSet>,
    running: Cell<bool>,
    stopping: Cell<bool>,
    closed: Cell<bool>,
    /// Set by a callback returning `Fatal`; ends the current iteration.
    fatal: RefCell<Option<Error>>,
    debug: Cell<bool>,
    slow_callback: Cell<Duration>,
    handler: RefCell<Option<ExceptionHandler>>,
}

impl Core {
    /// Creates a task and queues its first step (TSK-01). The caller checked the loop is open.
    pub(crate) fn spawn_local<F>(
        self: &Rc<Core>,
        name: Option<Arc<str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (runnable, handle) = task::create(self, name, future);
        self.ready.borrow_mut().push_back(Ready::Task(runnable));
        handle
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed.get() {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        let id = self.shared.id;
        let _ = OWNED.try_with(|owned| {
            if let Ok(mut owned) = owned.try_borrow_mut() {
                owned.retain(|(i, w)| *i != id && w.strong_count() > 0);
            }
        });
    }
}

thread_local! {
    /// The loop running on this thread.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// Every loop created on this thread, so work queued on the owner thread while its loop is
    /// not running still goes straight into its ready FIFO.
    static OWNED: RefCell<Vec<(u64, Weak<Core>)>> = const { RefCell::new(Vec::new()) };
}

fn owned_core(id: u64) -> Option<Rc<Core>> {
    OWNED
        .try_with(|owned| {
            owned
                .try_borrow()
                .ok()?
                .iter()
                .find(|(i, _)| *i == id)
                .and_then(|(_, w)| w.upgrade())
        })
        .ok()
        .flatten()
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
    CURRENT
        .with(|c| c.borrow().clone())
        .map(|core| EventLoop { core })
        .ok_or_else(Error::no_running_loop)
}

/// The core of the loop running on this thread.
pub(crate) fn try_current_core() -> Result<Rc<Core>, Error> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(Error::no_running_loop)
}

/// Marks the loop running on this thread for the guard's lifetime.
struct RunGuard {
    core: Rc<Core>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.core.running.set(false);
        self.core.stopping.set(false);
        CURRENT.with(|c| *c.borrow_mut() = None);
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
    core: Rc<Core>,
}

// ===== impl EventLoop: creation and scheduling =====

impl EventLoop {
    /// Creates a loop with its own driver (a mio `Poll` natively).
    ///
    /// Debug mode starts on when the environment variable `WASIO_DEBUG` is set and non-empty
    /// (asyncio: `PYTHONASYNCIODEBUG`).
    pub fn new() -> std::io::Result<EventLoop> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let (driver, unparker) = sys::Driver::new()?;
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            owner: crate::handle::thread_no(),
            remote: Mutex::new(VecDeque::new()),
            has_remote: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            unparker,
        });
        let debug = std::env::var_os("WASIO_DEBUG").is_some_and(|v| !v.is_empty());
        let id = shared.id;
        let lp = EventLoop {
            core: Rc::new(Core {
                shared,
                ready: RefCell::new(VecDeque::new()),
                timers: RefCell::new(TimerQueue::new()),
                driver: RefCell::new(driver),
                io: RefCell::new(Registry::default()),
                events: RefCell::new(Vec::with_capacity(64)),
                wake_list: RefCell::new(Vec::with_capacity(64)),
                remote_buf: RefCell::new(VecDeque::new()),
                clock: Clock::new(),
                tasks: RefCell::new(TaskSet::default()),
                running: Cell::new(false),
                stopping: Cell::new(false),
                closed: Cell::new(false),
                fatal: RefCell::new(None),
                debug: Cell::new(debug),
                slow_callback: Cell::new(DEFAULT_SLOW_CALLBACK),
                handler: RefCell::new(None),
            }),
        };
        let weak = Rc::downgrade(&lp.core);
        OWNED.with(|owned| owned.borrow_mut().push((id, weak)));
        Ok(lp)
    }

    pub(crate) fn from_core(core: Rc<Core>) -> EventLoop {
        EventLoop { core }
    }

    /// Schedules `f` to run in a later iteration, FIFO with other `call_soon` callbacks (SCH-01).
    ///
    /// `f` returns `()` or `Result<(), E>`; an error goes to the exception handler.
    pub fn call_soon<F, R>(&self, f: F) -> Result<Handle, Error>
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let entry: EntryRef = Rc::new(Entry::new(Call::new(f)));
        self.core
            .ready
            .borrow_mut()
            .push_back(Ready::Call(entry.clone()));
        Ok(Handle { entry })
    }

    /// Schedules `f` to run `delay` from now; exactly `call_at(self.time() + delay, f)`.
    ///
    /// Any `Duration` is accepted; a delay past the clock's range never fires.
    pub fn call_later<F, R>(&self, delay: Duration, f: F) -> Result<TimerHandle, Error>
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let when = self.core.clock.now().saturating_add(ticks(delay));
        Ok(self.insert_timer(when, f))
    }

    /// Schedules `f` at the absolute instant `when` (an instant in the past fires on the next
    /// iteration). Equal deadlines fire in scheduling order.
    pub fn call_at<F, R>(&self, when: Instant, f: F) -> Result<TimerHandle, Error>
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let when = self.core.clock.tick_of(when);
        Ok(self.insert_timer(when, f))
    }

    fn insert_timer<F, R>(&self, when: u64, f: F) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: CallbackResult,
    {
        let entry: EntryRef = self.core.timers.borrow_mut().insert(when, Call::new(f));
        TimerHandle {
            entry,
            clock: self.core.clock,
        }
    }

    /// Schedules `f` from any thread (here: the loop's own thread) and wakes the loop.
    ///
    /// On the loop's thread it is FIFO with [`call_soon`](EventLoop::call_soon). Other threads
    /// use [`EventLoop::remote`]. On WASI there are no other threads: this is `call_soon` with
    /// a thread-safe handle.
    pub fn call_soon_threadsafe<F, R>(&self, f: F) -> Result<ThreadsafeHandle, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: CallbackResult,
    {
        self.core.check_open()?;
        let entry = TsEntry::new(f);
        self.core
            .ready
            .borrow_mut()
            .push_back(Ready::Threadsafe(entry.clone()));
        Ok(ThreadsafeHandle { entry })
    }

    /// A `Send + Sync` handle for other threads: `call_soon_threadsafe` and `stop`.
    pub fn remote(&self) -> Remote {
        Remote {
            shared: self.core.shared.clone(),
        }
    }

    /// The loop's clock (monotonic; asyncio `loop.time()`).
    pub fn time(&self) -> Instant {
        self.core.clock.instant_of(self.core.clock.now())
    }

    /// Wraps `future` in a task whose first step runs in the next iteration (TSK-01).
    ///
    /// On a closed loop the future is dropped and an error returned (TSK-04).
    pub fn create_task<F>(&self, future: F) -> Result<JoinHandle<F::Output>, Error>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.check_open()?;
        Ok(self.core.spawn_local(None, future))
    }

    /// Like [`create_task`](EventLoop::create_task), with a name for logs and reports.
    pub fn create_named_task<F>(
        &self,
        name: &str,
        future: F,
    ) -> Result<JoinHandle<F::Output>, Error>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.check_open()?;
        Ok(self.core.spawn_local(Some(Arc::from(name)), future))
    }

    /// Requests cancellation of every live task; returns how many were asked.
    pub fn cancel_all_tasks(&self) -> usize {
        let tasks = self.core.tasks.borrow().snapshot();
        tasks.iter().filter(|t| t.cancel()).count()
    }

    /// Cancels every live task and runs the loop until they have all finished (asyncio
    /// `asyncio.run`'s `_cancel_all_tasks`). A task that catches the cancellation and then waits
    /// forever keeps this waiting, as in asyncio.
    pub fn cancel_remaining_tasks(&self) -> Result<(), Error> {
        if self.cancel_all_tasks() == 0 {
            return Ok(());
        }
        self.run_until_complete(task::others_finished())
    }
}

// ===== impl EventLoop: running =====

impl EventLoop {
    /// The checks of `run_*` (LIFE-03, LIFE-05), done before anything is created.
    fn check_can_run(&self) -> Result<(), Error> {
        self.core.check_open()?;
        if self.core.running.get() {
            return Err(Error::already_running());
        }
        if CURRENT.with(|c| c.borrow().is_some()) {
            return Err(Error::other_loop_running());
        }
        Ok(())
    }

    fn enter(&self) -> Result<RunGuard, Error> {
        self.check_can_run()?;
        self.core.running.set(true);
        CURRENT.with(|c| *c.borrow_mut() = Some(self.core.clone()));
        Ok(RunGuard {
            core: self.core.clone(),
        })
    }

    /// Runs one iteration (see the module docs). Blocks if nothing is ready and no timer is due.
    pub fn run_once(&self) -> Result<(), Error> {
        let _guard = self.enter()?;
        self.iterate()
    }

    /// Runs until [`stop`](EventLoop::stop) is called. `stop()` before `run_forever` runs
    /// exactly one iteration with a zero timeout (LIFE-01).
    pub fn run_forever(&self) -> Result<(), Error> {
        let _guard = self.enter()?;
        loop {
            self.iterate()?;
            if self.core.stopping.get() {
                return Ok(());
            }
        }
    }

    /// Runs `future` as a task until it completes and returns its output (LIFE-02).
    ///
    /// Errors: the loop is closed or already running; the loop was stopped first
    /// ([`is_stopped`](Error::is_stopped); the task stays scheduled); the future was cancelled
    /// or panicked; a callback returned [`Fatal`](crate::Fatal).
    pub fn run_until_complete<F>(&self, future: F) -> Result<F::Output, Error>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.check_can_run()?;
        let weak = Rc::downgrade(&self.core);
        let wrapped = async move {
            // Stops the loop when the future ends in any way, via call_soon as asyncio's
            // `_run_until_complete_cb` done callback does.
            let _stop = StopOnDrop(weak);
            future.await
        };
        let mut handle = self.core.spawn_local(None, wrapped);
        handle.set_quiet();
        self.run_forever()?;
        if !handle.is_finished() {
            return Err(Error::stopped());
        }
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut handle).poll(&mut cx) {
            Poll::Ready(Ok(v)) => Ok(v),
            Poll::Ready(Err(e)) => Err(e.into()),
            Poll::Pending => Err(Error::stopped()),
        }
    }

    /// Asks the loop to stop after the current iteration (every callback of that iteration still
    /// runs).
    pub fn stop(&self) {
        self.core.stopping.set(true);
    }

    /// Whether the loop is running.
    pub fn is_running(&self) -> bool {
        self.core.running.get()
    }

    /// Whether the loop is closed.
    pub fn is_closed(&self) -> bool {
        self.core.closed.get()
    }

    /// Closes the loop: pending callbacks, timers and queued task steps are dropped without
    /// running (LIFE-04). Fails on a running loop; idempotent.
    ///
    /// Order: mark closed (new calls fail), then drop the ready queue, the timer heap, the
    /// remote queue and the tasks' own wakers, repeating until nothing new was queued by the
    /// destructors. Tasks destroyed
    /// this way report `Task was destroyed but it is pending!`.
    pub fn close(&self) -> Result<(), Error> {
        if self.core.running.get() {
            return Err(Error::close_running());
        }
        if self.core.closed.replace(true) {
            return Ok(());
        }
        self.core.shared.closed.store(true, Ordering::Release);
        loop {
            let ready = std::mem::take(&mut *self.core.ready.borrow_mut());
            let timers = self.core.timers.borrow_mut().take_all();
            let remote = std::mem::take(
                &mut *self
                    .core
                    .shared
                    .remote
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            let mut wakers = self.core.tasks.borrow_mut().take_wakers();
            wakers.extend(self.core.io.borrow_mut().take_wakers());
            if ready.is_empty() && timers.is_empty() && remote.is_empty() && wakers.is_empty() {
                break;
            }
            drop(ready);
            for t in &timers {
                t.cancel();
            }
            drop(timers);
            drop(remote);
            drop(wakers);
        }
        tracing::debug!(target: "wasio", "event loop closed");
        Ok(())
    }

    /// Steps 1-5 of an iteration.
    fn iterate(&self) -> Result<(), Error> {
        let core = &*self.core;
        // 1. purge / pop cancelled timers
        core.timers.borrow_mut().prepare();
        // 2. timeout
        let busy = !core.ready.borrow().is_empty()
            || core.stopping.get()
            || core.shared.has_remote.load(Ordering::Acquire);
        let now = core.clock.now();
        let timeout = time::wait_timeout(busy, core.timers.borrow().next_deadline(), now);
        // 3. wait
        let outcome = {
            let io = core.io.borrow();
            let mut events = core.events.borrow_mut();
            events.clear();
            core.driver
                .borrow_mut()
                .wait(timeout, &io, &mut events)
                .map_err(Error::io)?
        };
        if outcome == sys::Wait::Stalled {
            return Err(Error::stalled());
        }
        // 4. queue remote work, I/O wakeups (event order), then due timers
        {
            let mut buf = core.remote_buf.borrow_mut();
            core.shared.take_remote(&mut buf);
            let mut ready = core.ready.borrow_mut();
            ready.extend(buf.drain(..).map(|item| match item {
                Foreign::Call(e) => Ready::Threadsafe(e),
                Foreign::Task(r) => Ready::Task(r),
            }));
        }
        self.dispatch_io();
        let end = core.clock.now().saturating_add(core.clock.resolution());
        let mut fired = 0usize;
        loop {
            let due = core.timers.borrow_mut().pop_due(end);
            let Some(entry) = due else { break };
            core.ready.borrow_mut().push_back(Ready::Call(entry));
            fired += 1;
        }
        // 5. run the snapshot
        let n = core.ready.borrow().len();
        tracing::trace!(target: "wasio", ?timeout, ready = n, fired, "run_once");
        for _ in 0..n {
            let item = core.ready.borrow_mut().pop_front();
            let Some(item) = item else { break };
            self.run_ready(item);
            if let Some(err) = core.fatal.borrow_mut().take() {
                return Err(err);
            }
        }
        Ok(())
    }

    /// Marks the sources of the last wait ready and wakes their tasks (outside every borrow).
    fn dispatch_io(&self) {
        let core = &*self.core;
        let mut wake = core.wake_list.take();
        {
            let events = core.events.borrow();
            if events.is_empty() {
                core.wake_list.replace(wake);
                return;
            }
            let mut io = core.io.borrow_mut();
            for &(token, bits) in events.iter() {
                io.set_ready(token, bits, &mut wake);
            }
        }
        for w in wake.drain(..) {
            w.wake();
        }
        core.wake_list.replace(wake);
    }

    fn run_ready(&self, item: Ready) {
        let debug = self.core.debug.get();
        let t0 = debug.then(Instant::now);
        let (kind, describe, outcome) = match item {
            Ready::Call(entry) => {
                let kind = if entry.is_timer() {
                    "TimerHandle"
                } else {
                    "Handle"
                };
                let describe = Describe::Callback(entry.describe());
                (
                    kind,
                    describe,
                    catch_unwind(AssertUnwindSafe(|| entry.run())),
                )
            }
            Ready::Threadsafe(entry) => {
                let describe = Describe::Callback(entry.describe());
                let res = catch_unwind(AssertUnwindSafe(|| entry.run()));
                ("Handle", describe, res)
            }
            Ready::Task(r) => {
                let meta = r.metadata();
                let describe = Describe::Task(meta.id, meta.name.clone());
                let res = catch_unwind(AssertUnwindSafe(|| {
                    r.run();
                    None
                }));
                ("Task", describe, res)
            }
        };
        match outcome {
            Ok(None) | Ok(Some(Ok(()))) => {}
            Ok(Some(Err(err))) => self.callback_failed(kind, &describe, err),
            Err(payload) => {
                let msg = exception::panic_message(&*payload);
                self.callback_failed(kind, &describe, Box::new(PanicError::new(msg)));
            }
        }
        if let Some(t0) = t0 {
            let dt = t0.elapsed();
            if dt >= self.core.slow_callback.get() {
                tracing::warn!(
                    target: "wasio",
                    callback = %describe,
                    kind,
                    "Executing <{kind} {describe}> took {:.3} seconds",
                    dt.as_secs_f64()
                );
            }
        }
    }

    fn callback_failed(&self, kind: &str, describe: &Describe, err: Box<dyn std::error::Error>) {
        if let Some(fatal) = err.downcast_ref::<Fatal>() {
            *self.core.fatal.borrow_mut() = Some(Error::fatal(fatal.reason()));
            return;
        }
        let ctx = exception::Context::new(format!("Exception in callback {describe}"))
            .with_error(err)
            .with("handle", format_args!("<{kind} {describe}>"));
        self.call_exception_handler(ctx);
    }
}

/// A callback's name for logs, built without allocating.
enum Describe {
    /// A closure's type name.
    Callback(&'static str),
    /// A task: id and optional name.
    Task(u64, Option<Arc<str>>),
}

impl fmt::Display for Describe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Describe::Callback(s) => f.write_str(s),
            Describe::Task(_, Some(name)) => f.write_str(name),
            Describe::Task(id, None) => write!(f, "Task-{id}"),
        }
    }
}

/// Queues `stop()` when dropped (end of `run_until_complete`'s future, however it ends).
struct StopOnDrop(Weak<Core>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(core) = self.0.upgrade()
            && !core.closed.get()
        {
            let weak = Rc::downgrade(&core);
            let entry: EntryRef = Rc::new(Entry::new(Call::new(move || {
                if let Some(core) = weak.upgrade() {
                    core.stopping.set(true);
                }
            })));
            if let Ok(mut ready) = core.ready.try_borrow_mut() {
                ready.push_back(Ready::Call(entry));
            }
        }
    }
}

// ===== impl EventLoop: exceptions, debug, introspection =====

impl EventLoop {
    /// Installs a custom exception handler, called as `handler(loop, context)`.
    pub fn set_exception_handler<H>(&self, handler: H)
    where
        H: Fn(&EventLoop, &exception::Context) + 'static,
    {
        *self.core.handler.borrow_mut() = Some(Rc::new(handler));
    }

    /// Restores the default handler (asyncio `set_exception_handler(None)`).
    pub fn clear_exception_handler(&self) {
        *self.core.handler.borrow_mut() = None;
    }

    /// The custom handler, or `None` while the default is in use.
    pub fn exception_handler(&self) -> Option<ExceptionHandler> {
        self.core.handler.borrow().clone()
    }

    /// Reports `context` to the exception handler (custom or default).
    ///
    /// A custom handler that panics (native targets) is caught and the default handler logs
    /// `Unhandled error in exception handler` with the original context.
    pub fn call_exception_handler(&self, context: exception::Context) {
        let handler = self.core.handler.borrow().clone();
        let Some(handler) = handler else {
            exception::default_handler(&context);
            return;
        };
        let res = catch_unwind(AssertUnwindSafe(|| handler(self, &context)));
        if let Err(payload) = res {
            let msg = exception::panic_message(&*payload);
            let ctx = exception::Context::new("Unhandled error in exception handler")
                .with_error(PanicError::new(msg))
                .with("context", format_args!("{context:?}"));
            exception::default_handler(&ctx);
        }
    }

    /// The default handler, for custom handlers that want to log too.
    pub fn default_exception_handler(&self, context: &exception::Context) {
        exception::default_handler(context);
    }

    /// Turns debug mode on or off: in debug mode every callback and task step is timed and
    /// those taking at least [`slow_callback_duration`](EventLoop::slow_callback_duration) are
    /// logged as a `tracing` WARN on target `wasio` (DBG-01).
    pub fn set_debug(&self, on: bool) {
        self.core.debug.set(on);
    }

    /// Whether debug mode is on.
    pub fn debug(&self) -> bool {
        self.core.debug.get()
    }

    /// Sets the slow-callback threshold (default 100 ms).
    pub fn set_slow_callback_duration(&self, threshold: Duration) {
        self.core.slow_callback.set(threshold);
    }

    /// The slow-callback threshold.
    pub fn slow_callback_duration(&self) -> Duration {
        self.core.slow_callback.get()
    }

    /// Counters for tests and diagnostics.
    pub fn stats(&self) -> LoopStats {
        let timers = self.core.timers.borrow();
        LoopStats {
            ready: self.core.ready.borrow().len(),
            scheduled_timers: timers.len(),
            cancelled_timers: timers.cancelled(),
            tasks: self.core.tasks.borrow().len(),
            io_sources: self.core.io.borrow().len(),
        }
    }
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
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .field("debug", &self.debug())
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of a loop's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopStats {
    /// Entries in the ready FIFO (cancelled ones included).
    pub ready: usize,
    /// Timers in the heap, cancelled ones included (asyncio `len(_scheduled)`).
    pub scheduled_timers: usize,
    /// Cancelled timers still in the heap (asyncio `_timer_cancelled_count`).
    pub cancelled_timers: usize,
    /// Live tasks.
    pub tasks: usize,
    /// Registered I/O sources.
    pub io_sources: usize,
}

/// A `Send + Sync` handle to a loop, for other threads.
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

impl Remote {
    /// Schedules `f` on the loop and wakes it if it is blocked (SCH-06). From the loop's own
    /// thread, this is FIFO with `call_soon`.
    ///
    /// On wasm32-wasip2 there are no other threads: this is same-thread scheduling with a
    /// thread-safe handle, and the wake-up is a no-op (the loop checks its queue before every
    /// wait).
    pub fn call_soon_threadsafe<F, R>(&self, f: F) -> Result<ThreadsafeHandle, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: CallbackResult,
    {
        self.shared.call_soon_threadsafe(f)
    }

    /// Asks the loop to stop, from any thread (a `call_soon_threadsafe` of `stop`).
    pub fn stop(&self) -> Result<(), Error> {
        self.shared
            .call_soon_threadsafe(|| {
                if let Ok(lp) = try_current() {
                    lp.stop();
                }
            })
            .map(drop)
    }

    /// Whether the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Runs `future` on a new loop until it completes, then cancels the tasks left over, lets them
/// finish, and closes the loop (asyncio `asyncio.run`).
///
/// ```
/// let answer = wasio::run(async { 42 }).unwrap();
/// assert_eq!(answer, 42);
/// ```
pub fn run<F>(future: F) -> Result<F::Output, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let lp = EventLoop::new().map_err(Error::io)?;
    let out = lp.run_until_complete(future);
    if !matches!(&out, Err(e) if e.is_fatal()) {
        lp.cancel_remaining_tasks()?;
    }
    lp.close()?;
    out
}
