//! The state of tasks, apart from any loop: [`TaskHeader`] (one per task), [`TaskSet`] (the
//! live tasks of a loop) and the task running on this thread.
//!
//! # Ground rules
//!
//! * A header holds the task's cancellation state (asyncio `_must_cancel`, `cancelling()`), its
//!   name and flags, and the task's own waker once it was first polled, so `cancel()` can
//!   schedule it.
//! * The waker in the header makes a cycle (header → waker → task → future → header) that keeps
//!   a detached task waiting on nothing alive. The loop breaks it when it closes or is dropped
//!   ([`TaskSet::take_wakers`]): the task is then destroyed and reported as pending.
//! * Nothing here touches the loop: scheduling and reporting are done by the layer above
//!   (`task::join`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::Waker;

use slab::Slab;

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

/// A scheduled step of a task.
pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// Who started a task, which decides what the loop's shutdown does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskKind {
    /// Started by the user: `cancel_all_tasks` cancels it.
    User,
    /// Work the loop itself started and must finish (a dropped stream still flushing): not
    /// cancelled by `cancel_all_tasks`, and waited for, bounded, before `wasio::run` closes.
    Flush,
    /// Work the loop itself started that lasts as long as what it watches (a child process,
    /// until it exits): neither cancelled nor waited for. Closing the loop destroys it, and
    /// its destructor ends what it watched (kills and reaps a running child).
    Watch,
}

/// Per-task state shared by the task's future and its `JoinHandle`.
pub(crate) struct TaskHeader {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    /// A cancel request not yet delivered (asyncio `_must_cancel`).
    pub(crate) cancel_pending: Cell<bool>,
    /// Number of `cancel()` calls (asyncio `cancelling()`).
    pub(crate) cancelling: Cell<u32>,
    /// Ids of the active `catch_cancel` scopes, in registration order; the last one is the
    /// innermost and receives a cancel request. Scopes may end in any order (`join!`).
    pub(crate) scopes: RefCell<Vec<u32>>,
    /// Next scope id.
    pub(crate) next_scope: Cell<u32>,
    /// The task's waker, stored on its first poll (see the module docs for the cycle).
    pub(crate) waker: RefCell<Option<Waker>>,
    /// The handle was dropped or detached.
    pub(crate) detached: Cell<bool>,
    /// The future finished (value, cancel or panic).
    pub(crate) finished: Cell<bool>,
    /// It finished by cancellation.
    pub(crate) ended_cancelled: Cell<bool>,
    /// A panic message nobody retrieved yet.
    pub(crate) failure: RefCell<Option<Box<str>>>,
    /// Do not report this task as destroyed while pending (`run_until_complete`'s own task).
    pub(crate) quiet: Cell<bool>,
    /// Who started the task (see [`TaskKind`]).
    pub(crate) kind: TaskKind,
    /// Key in the loop's task set.
    pub(crate) key: Cell<usize>,
}

impl TaskHeader {
    pub(crate) fn new(id: u64, name: Option<Arc<str>>, kind: TaskKind) -> TaskHeader {
        TaskHeader {
            id,
            name,
            cancel_pending: Cell::new(false),
            cancelling: Cell::new(0),
            scopes: RefCell::new(Vec::new()),
            next_scope: Cell::new(1),
            waker: RefCell::new(None),
            detached: Cell::new(false),
            finished: Cell::new(false),
            ended_cancelled: Cell::new(false),
            failure: RefCell::new(None),
            quiet: Cell::new(false),
            kind,
            key: Cell::new(usize::MAX),
        }
    }

    /// `Task-<n>`, or the name given.
    pub(crate) fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.to_string(),
            None => format!("Task-{}", self.id),
        }
    }

    /// Requests cancellation (asyncio `Task.cancel()`); false if the task already finished.
    pub(crate) fn cancel(&self) -> bool {
        if self.finished.get() {
            return false;
        }
        self.cancelling.set(self.cancelling.get().saturating_add(1));
        self.rearm_cancel();
        true
    }

    /// Whether no `catch_cancel` scope is active.
    pub(crate) fn no_scope(&self) -> bool {
        self.scopes.borrow().is_empty()
    }

    /// Makes a cancel request pending again (without counting a new request) and schedules the
    /// task.
    pub(crate) fn rearm_cancel(&self) {
        self.cancel_pending.set(true);
        let waker = self.waker.borrow().clone();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Stores the task's waker on its first poll.
    pub(crate) fn set_waker_once(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        if slot.is_none() {
            *slot = Some(waker.clone());
        }
    }
}

/// The live tasks of a loop (for `cancel_all_tasks`, `wasio::run`'s clean-up and counters).
#[derive(Default)]
pub(crate) struct TaskSet {
    tasks: Slab<Weak<TaskHeader>>,
    /// Live [`TaskKind::Flush`] tasks (counted in `tasks` too).
    flushing: usize,
    /// Live [`TaskKind::Watch`] tasks (counted in `tasks` too).
    watching: usize,
    /// Woken when the live count changes (see `task::join::tasks_settled`).
    idle: Option<Waker>,
}

impl TaskSet {
    pub(crate) fn insert(&mut self, h: &Rc<TaskHeader>) {
        let key = self.tasks.insert(Rc::downgrade(h));
        h.key.set(key);
        match h.kind {
            TaskKind::User => {}
            TaskKind::Flush => self.flushing += 1,
            TaskKind::Watch => self.watching += 1,
        }
    }

    /// Removes a task; returns the idle waker to wake (outside the borrow), if one waits.
    pub(crate) fn remove(&mut self, h: &TaskHeader) -> Option<Waker> {
        if self.tasks.try_remove(h.key.get()).is_some() {
            match h.kind {
                TaskKind::User => {}
                TaskKind::Flush => self.flushing -= 1,
                TaskKind::Watch => self.watching -= 1,
            }
        }
        self.idle.take()
    }

    /// Live tasks, internal ones included.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Live tasks the user started.
    pub(crate) fn user(&self) -> usize {
        self.tasks.len() - self.internal()
    }

    /// Live internal tasks ([`TaskKind::Flush`] and [`TaskKind::Watch`]).
    pub(crate) fn internal(&self) -> usize {
        self.flushing + self.watching
    }

    /// Live [`TaskKind::Flush`] tasks: the work `wasio::run` waits for before closing.
    pub(crate) fn flushing(&self) -> usize {
        self.flushing
    }

    /// Parks the waker woken at the next removal.
    pub(crate) fn set_idle_waker(&mut self, waker: &Waker) {
        self.idle = Some(waker.clone());
    }

    /// Headers of every live user task (strong references, so the caller can act outside the
    /// borrow).
    pub(crate) fn user_tasks(&self) -> Vec<Rc<TaskHeader>> {
        self.tasks
            .iter()
            .filter_map(|(_, h)| h.upgrade())
            .filter(|h| h.kind == TaskKind::User)
            .collect()
    }

    /// Takes every stored task waker (loop close or drop): dropping them destroys the tasks
    /// nothing else holds.
    pub(crate) fn take_wakers(&self) -> Vec<Waker> {
        self.tasks
            .iter()
            .filter_map(|(_, h)| h.upgrade())
            .filter_map(|h| h.waker.borrow_mut().take())
            .collect()
    }
}

thread_local! {
    /// The task being polled on this thread, for `catch_cancel` and `current_name`.
    static CURRENT_TASK: RefCell<Option<Rc<TaskHeader>>> = const { RefCell::new(None) };
}

/// Makes `h` the current task until dropped (restores the previous one, also on unwind).
pub(crate) struct EnterTask(Option<Rc<TaskHeader>>);

impl EnterTask {
    pub(crate) fn new(h: &Rc<TaskHeader>) -> EnterTask {
        EnterTask(CURRENT_TASK.with(|c| c.borrow_mut().replace(h.clone())))
    }
}

impl Drop for EnterTask {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT_TASK.with(|c| *c.borrow_mut() = prev);
    }
}

/// The task being polled on this thread.
pub(crate) fn current_header() -> Option<Rc<TaskHeader>> {
    CURRENT_TASK.with(|c| c.borrow().clone())
}

/// The name of the task running on this thread (`Task-<n>` unless named), if any.
pub fn current_name() -> Option<String> {
    current_header().map(|h| h.display_name())
}

/// Requests cancellation of the task running on this thread again (used to pass a
/// cancellation on after cleaning up, as `raise` after `except CancelledError` does).
pub(crate) fn cancel_current() {
    if let Some(h) = current_header()
        && !h.finished.get()
    {
        h.rearm_cancel();
    }
}
