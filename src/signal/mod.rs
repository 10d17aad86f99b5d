//! Unix signals on the loop: [`EventLoop::add_signal_handler`] /
//! [`EventLoop::remove_signal_handler`] (asyncio's) and the [`ctrl_c`] future (tokio's).
//!
//! # Ground rules
//!
//! * A handler runs as an ordinary callback of the loop, in a later iteration than the
//!   arrival, never inside the signal handler (asyncio `_handle_signal`): it may do anything a
//!   callback may. A handler that returns `Err` is reported to the exception handler.
//! * Adding a handler for a signal replaces the previous one; removing it returns whether
//!   there was one, and the signal's default action comes back once no loop of the process
//!   handles it (asyncio restores `SIG_DFL`).
//! * Closing the loop removes its handlers. Arrivals of one signal that come close together
//!   may be delivered once (POSIX coalesces them).
//! * Invalid signal numbers, and the signals that cannot or must not be handled (`SIGKILL`,
//!   `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV`), are `InvalidInput` errors.
//! * On WASI there are no signals: every entry point is `Unsupported` (divergence `signals`).

pub(crate) mod table;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use self::table::Handler;
use crate::context::try_current_core;
use crate::core::{Core, EventLoop};
use crate::handle::{CallbackResult, Outcome};
use crate::io::registration::Registration;
use crate::sys::{self, Direction, ready};
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;

/// `SIGINT` (what Ctrl-C sends).
pub const SIGINT: i32 = sys::signal::SIGINT;

fn closed() -> io::Error {
    io::Error::other(crate::error::Error::closed())
}

/// Makes sure `core` watches `sig`: creates the loop's signal source and its watcher task on
/// first use.
fn handle(core: &Rc<Core>, sig: i32) -> io::Result<()> {
    sys::signal::check(sig)?;
    core.check_open().map_err(io::Error::other)?;
    let existing = core.signals.borrow().source.clone();
    let source = match existing {
        Some(s) => s,
        None => {
            let mut sys = sys::signal::Signals::new()?;
            let reg = Registration::new(core, |driver, token| {
                sys.register(driver, token)?;
                Ok(sys.wait_handles())
            })?;
            let source = Rc::new(RefCell::new(sys));
            let task = spawn_on(
                core,
                Some("wasio-signals".into()),
                TaskKind::Watch,
                watch(Rc::downgrade(core), source.clone(), reg),
            );
            task.set_quiet();
            task.detach();
            core.signals.borrow_mut().source = Some(source.clone());
            source
        }
    };
    source.borrow_mut().handle(sig)
}

/// Stops watching `sig` if nothing of `core` wants it any more.
fn release_if_unwanted(core: &Core, sig: i32) {
    let table = core.signals.borrow();
    if table.wants(sig) {
        return;
    }
    if let Some(source) = &table.source {
        source.borrow_mut().release(sig);
    }
}

/// The watcher: reads which signals arrived, then counts them, wakes the futures waiting and
/// schedules the handlers.
async fn watch(core: Weak<Core>, source: Rc<RefCell<sys::signal::Signals>>, reg: Registration) {
    let mut arrived = Vec::new();
    loop {
        std::future::poll_fn(|cx| reg.poll_ready(cx, Direction::Read)).await;
        reg.clear(ready::READABLE);
        source.borrow_mut().pending(&mut arrived);
        let Some(core) = core.upgrade() else { return };
        for sig in arrived.drain(..) {
            deliver(&core, sig);
        }
    }
}

fn deliver(core: &Rc<Core>, sig: i32) {
    let (handler, wakers) = {
        let mut table = core.signals.borrow_mut();
        *table.arrivals.entry(sig).or_insert(0) += 1;
        let mut wakers = Vec::new();
        table.waiters.retain(|(s, w)| {
            if *s == sig {
                wakers.push(w.clone());
                false
            } else {
                true
            }
        });
        (table.handlers.get(&sig).cloned(), wakers)
    };
    for w in wakers {
        w.wake();
    }
    if let Some(h) = handler {
        let lp = EventLoop { core: core.clone() };
        let _ = lp.call_soon(move || (h.borrow_mut())());
    }
}

// ===== impl EventLoop: signals =====

impl EventLoop {
    /// Runs `handler` as a callback of the loop each time signal `sig` arrives (asyncio
    /// `add_signal_handler`); replaces the signal's previous handler.
    ///
    /// Errors: `InvalidInput` for an invalid signal or one that cannot be handled (`SIGKILL`,
    /// `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV`), the loop's `closed` error, and `Unsupported`
    /// on WASI, which has no signals.
    ///
    /// ```no_run
    /// # #[cfg(not(target_os = "wasi"))]
    /// wasio::run(async {
    ///     let lp = wasio::current();
    ///     lp.add_signal_handler(wasio::signal::SIGINT, || println!("interrupted"))?;
    ///     wasio::sleep(std::time::Duration::from_secs(60)).await;
    ///     lp.remove_signal_handler(wasio::signal::SIGINT);
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    pub fn add_signal_handler<F, R>(&self, sig: i32, mut handler: F) -> io::Result<()>
    where
        F: FnMut() -> R + 'static,
        R: CallbackResult,
    {
        let h: Handler = Rc::new(RefCell::new(move || -> Outcome {
            handler().into_outcome()
        }));
        handle(&self.core, sig)?;
        self.core.signals.borrow_mut().handlers.insert(sig, h);
        Ok(())
    }

    /// Removes the handler of `sig` (asyncio `remove_signal_handler`): `true` if there was one.
    /// Once no loop of the process handles `sig`, its default action is back.
    pub fn remove_signal_handler(&self, sig: i32) -> bool {
        let removed = self
            .core
            .signals
            .borrow_mut()
            .handlers
            .remove(&sig)
            .is_some();
        if removed {
            release_if_unwanted(&self.core, sig);
        }
        removed
    }
}

/// Completes when the process receives `SIGINT` (Ctrl-C), as tokio's `signal::ctrl_c`: the
/// signal is watched from the first poll on, and while the future lives `SIGINT` no longer
/// ends the process.
///
/// Errors: no loop runs on this thread, and `Unsupported` on WASI.
///
/// ```no_run
/// # #[cfg(not(target_os = "wasi"))]
/// wasio::run(async {
///     wasio::signal::ctrl_c().await?;
///     println!("Ctrl-C: shutting down");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub fn ctrl_c() -> Signal {
    Signal::new(SIGINT)
}

/// A future that completes at the next arrival of a signal ([`ctrl_c`], [`signal`]).
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Signal {
    sig: i32,
    /// The loop and the arrivals counted when the future started listening.
    state: Option<(Weak<Core>, u64)>,
}

/// Completes at the next arrival of signal `sig` (see [`ctrl_c`]).
pub fn signal(sig: i32) -> Signal {
    Signal::new(sig)
}

impl Signal {
    fn new(sig: i32) -> Signal {
        Signal { sig, state: None }
    }
}

impl Future for Signal {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let sig = self.sig;
        let core = match &self.state {
            Some((core, _)) => match core.upgrade() {
                Some(c) => c,
                None => return Poll::Ready(Err(closed())),
            },
            None => {
                let core = try_current_core().map_err(io::Error::other)?;
                handle(&core, sig)?;
                let seen = {
                    let mut table = core.signals.borrow_mut();
                    *table.listeners.entry(sig).or_insert(0) += 1;
                    table.arrivals.get(&sig).copied().unwrap_or(0)
                };
                self.state = Some((Rc::downgrade(&core), seen));
                core
            }
        };
        let seen = self.state.as_ref().map_or(0, |s| s.1);
        let mut table = core.signals.borrow_mut();
        if table.arrivals.get(&sig).copied().unwrap_or(0) > seen {
            return Poll::Ready(Ok(()));
        }
        if !table
            .waiters
            .iter()
            .any(|(s, w)| *s == sig && w.will_wake(cx.waker()))
        {
            table.waiters.push((sig, cx.waker().clone()));
        }
        Poll::Pending
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        let Some(core) = self.state.take().and_then(|(c, _)| c.upgrade()) else {
            return;
        };
        let sig = self.sig;
        if let Ok(mut table) = core.signals.try_borrow_mut()
            && let Some(n) = table.listeners.get_mut(&sig)
        {
            *n = n.saturating_sub(1);
        }
        release_if_unwanted(&core, sig);
    }
}
