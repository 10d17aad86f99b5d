//! Callbacks on raw readiness: the shared half of `add_reader` / `add_writer` (native, by file
//! descriptor) and of pollable readers (WASI). The public methods are in `os::native` and
//! `os::wasi`; the table they fill is `io::watch`.
//!
//! # Ground rules
//!
//! * Level-triggered, as asyncio's selector: a callback runs once per iteration for as long as
//!   its source stays ready in its direction, until it is removed. After each run, once the
//!   callback has returned, the source is re-armed (`RawSource::rearm`), so the next wait
//!   reports it again if it is still ready and never reports readiness the callback consumed.
//! * A callback is an entry of the ready FIFO, queued in event order with the tasks the same
//!   wait woke: its errors and panics go to the exception handler (`Exception in callback
//!   ...`) and `Fatal` stops the loop, as for `call_soon`.
//! * A second callback for the same source and direction replaces the first (asyncio cancels
//!   the old handle). Replacing or removing cancels the old entry: a run already queued is
//!   skipped and the closure is dropped at once, or, if it is the callback running, when it
//!   returns.
//! * Adding on a closed loop fails with `Error::is_closed`; removing returns false (LIFE-05).
//!   `close()` removes every watch.

use std::any::type_name;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use crate::core::Core;
use crate::error::Error;
use crate::handle::{Action, CallbackResult, Entry, EntryRef, Outcome};
use crate::io::watch::{Watch, WatchKey};
use crate::sys::{Direction, RawSource, Token};

/// The action of a watch's entry: runs the callback, then re-arms the source.
struct WatchAction<F> {
    f: RefCell<Option<F>>,
    /// Set by `clear` (the entry was cancelled): the closure goes as soon as it is not running.
    cleared: Cell<bool>,
    core: Weak<Core>,
    token: Token,
}

impl<F, R> Action for WatchAction<F>
where
    F: FnMut() -> R,
    R: CallbackResult,
{
    fn run(&self) -> Option<Outcome> {
        let _rearm = Rearm {
            core: &self.core,
            token: self.token,
        };
        let mut slot = self.f.try_borrow_mut().ok()?;
        let out = slot.as_mut()?().into_outcome();
        if self.cleared.get() {
            // Cancelled by its own run (`remove_reader` from the callback): drop it now,
            // outside the borrow, since its destructor may be user code.
            let f = slot.take();
            drop(slot);
            drop(f);
        }
        Some(out)
    }

    fn clear(&self) {
        self.cleared.set(true);
        // While the callback runs its slot is borrowed; `run` drops it when it returns.
        let f = self.f.try_borrow_mut().ok().and_then(|mut s| s.take());
        drop(f);
    }

    fn describe(&self) -> &'static str {
        type_name::<F>()
    }
}

/// Re-arms the watch of `token` when dropped (after the callback, even if it panicked).
struct Rearm<'a> {
    core: &'a Weak<Core>,
    token: Token,
}

impl Drop for Rearm<'_> {
    fn drop(&mut self) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        if core.is_closed() {
            return;
        }
        let (Ok(watchers), Ok(mut driver)) =
            (core.watchers.try_borrow(), core.driver.try_borrow_mut())
        else {
            return;
        };
        if let Some(w) = watchers.get(self.token)
            && let Err(err) = w.source.rearm(&mut driver, self.token)
        {
            tracing::debug!(target: "wasio", %err, "re-arming a watched source failed");
        }
    }
}

/// Watches the source named `key` in `dir` with `callback`, replacing the callback already
/// there. `source` makes the source if it is not watched yet.
pub(crate) fn add<F, R>(
    core: &Rc<Core>,
    key: WatchKey,
    dir: Direction,
    source: impl FnOnce() -> RawSource,
    callback: F,
) -> Result<(), Error>
where
    F: FnMut() -> R + 'static,
    R: CallbackResult,
{
    core.check_open()?;
    let existing = core.watchers.borrow().token_of(key);
    let token = match existing {
        Some(t) => t,
        None => core.io.borrow_mut().insert(Default::default()),
    };
    let entry: EntryRef = Rc::new(Entry::new(WatchAction {
        f: RefCell::new(Some(callback)),
        cleared: Cell::new(false),
        core: Rc::downgrade(core),
        token,
    }));
    let mut watchers = core.watchers.borrow_mut();
    if existing.is_none() {
        watchers.insert(
            token,
            Watch {
                source: source(),
                key,
                entries: [None, None],
            },
        );
    }
    let Some(w) = watchers.get_mut(token) else {
        return Err(Error::invalid_input("watch vanished while being added"));
    };
    let old = w.entries[dir as usize].replace(entry);
    let (read, write) = (w.wants(Direction::Read), w.wants(Direction::Write));
    let res = w
        .source
        .set_interest(&mut core.driver.borrow_mut(), token, read, write);
    if let Err(e) = res {
        // Put things back as they were: the previous callback stays, a new watch goes.
        let new = std::mem::replace(&mut w.entries[dir as usize], old);
        let gone = if existing.is_none() {
            watchers.remove(token)
        } else {
            None
        };
        drop(watchers);
        if gone.is_some() {
            core.io.borrow_mut().remove(token, &mut Vec::new());
        }
        drop(gone);
        drop(new);
        return Err(Error::io(e));
    }
    drop(watchers);
    if let Some(old) = old {
        old.cancel();
    }
    Ok(())
}

/// Removes the callback of `dir` from the source named `key`; the source stops being watched
/// (and, on WASI, its pollable is dropped) once no direction is left. Returns whether a
/// callback was removed.
pub(crate) fn remove(core: &Rc<Core>, key: WatchKey, dir: Direction) -> bool {
    if core.is_closed() {
        return false;
    }
    let mut watchers = core.watchers.borrow_mut();
    let Some(token) = watchers.token_of(key) else {
        return false;
    };
    let Some(w) = watchers.get_mut(token) else {
        return false;
    };
    let old = w.entries[dir as usize].take();
    let (read, write) = (w.wants(Direction::Read), w.wants(Direction::Write));
    let gone = if read || write {
        if let Err(err) = w
            .source
            .set_interest(&mut core.driver.borrow_mut(), token, read, write)
        {
            tracing::debug!(target: "wasio", %err, "narrowing a watch failed");
        }
        None
    } else {
        watchers.remove(token)
    };
    drop(watchers);
    if let Some(watch) = gone {
        retire(core, token, watch);
    }
    let removed = old.is_some();
    if let Some(old) = old {
        old.cancel();
    }
    removed
}

/// Removes every watch (the loop is closing).
pub(crate) fn remove_all(core: &Rc<Core>) {
    let all = core.watchers.borrow_mut().take_all();
    for (token, watch) in all {
        retire(core, token, watch);
    }
}

/// Stops watching: the driver forgets the source (the native descriptor is deregistered,
/// never closed) and its registry slot is freed; then the source goes (a WASI pollable before
/// the callbacks, which may own its parent), and the callbacks are cancelled.
fn retire(core: &Rc<Core>, token: Token, watch: Watch) {
    let Watch {
        mut source,
        key: _,
        entries,
    } = watch;
    if let Err(err) = source.set_interest(&mut core.driver.borrow_mut(), token, false, false) {
        // A descriptor closed before its removal: the kernel already forgot it.
        tracing::debug!(target: "wasio", %err, "stopping a watch failed");
    }
    core.io.borrow_mut().remove(token, &mut Vec::new());
    // Natively a plain descriptor number (nothing to drop); on WASI the pollable.
    #[allow(
        clippy::drop_non_drop,
        reason = "a WASI pollable must go before the callbacks"
    )]
    drop(source);
    for entry in entries.into_iter().flatten() {
        entry.cancel();
    }
}
