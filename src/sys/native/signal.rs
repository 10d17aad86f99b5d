//! Native signals: signal-hook's handlers write to a pipe that mio watches
//! (`signal-hook-mio`), so a signal becomes readiness of one registered source of the loop.
//!
//! # Ground rules
//!
//! * Nothing runs in the signal handler but signal-hook's own write to the pipe; the loop
//!   reads which signals arrived and runs the callbacks as ordinary callbacks.
//! * A signal nobody in the process handles any more behaves as by default again (asyncio
//!   restores `SIG_DFL` in `remove_signal_handler`): for each signal used once, a
//!   conditional-default action is registered beside ours, enabled while no loop handles it
//!   (signal-hook cannot uninstall its process-wide handler).
//! * Signals that cannot be caught or must not be (`SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`,
//!   `SIGSEGV`) are refused.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mio::Interest;
use signal_hook_mio::v1_0::Signals as Pipe;

use super::{Driver, WaitHandle};
use crate::sys::Token;

/// `SIGINT`, which `ctrl_c` waits for.
pub(crate) const SIGINT: i32 = libc::SIGINT;

/// Per signal, process-wide: the flag that turns the default action back on, and how many
/// loops handle the signal now.
type Defaults = Mutex<HashMap<i32, (Arc<AtomicBool>, usize)>>;

fn defaults() -> &'static Defaults {
    static DEFAULTS: std::sync::OnceLock<Defaults> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Checks that `sig` can be handled: a known signal, not one of the forbidden ones.
pub(crate) fn check(sig: i32) -> io::Result<()> {
    if signal_hook::low_level::signal_name(sig).is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid signal number {sig}"),
        ));
    }
    if signal_hook::consts::FORBIDDEN.contains(&sig) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "signal {sig} ({}) cannot be handled",
                signal_hook::low_level::signal_name(sig).unwrap_or("?")
            ),
        ));
    }
    Ok(())
}

/// A loop's signal source.
pub(crate) struct Signals {
    pipe: Pipe,
    /// The signals this loop handles now (counted in `defaults`).
    handled: Vec<i32>,
}

impl Signals {
    pub(crate) fn new() -> io::Result<Signals> {
        Ok(Signals {
            pipe: Pipe::new(std::iter::empty::<i32>())?,
            handled: Vec::new(),
        })
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        driver
            .registry()
            .register(&mut self.pipe, mio::Token(token.0), Interest::READABLE)
    }

    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    /// Starts handling `sig` in this loop (idempotent).
    pub(crate) fn handle(&mut self, sig: i32) -> io::Result<()> {
        check(sig)?;
        if self.handled.contains(&sig) {
            return Ok(());
        }
        self.pipe.add_signal(sig)?;
        let mut table = defaults().lock().unwrap_or_else(PoisonError::into_inner);
        let entry = match table.get_mut(&sig) {
            Some(e) => e,
            None => {
                let flag = Arc::new(AtomicBool::new(false));
                signal_hook::flag::register_conditional_default(sig, flag.clone())?;
                table.entry(sig).or_insert((flag, 0))
            }
        };
        entry.1 += 1;
        entry.0.store(false, Ordering::SeqCst);
        self.handled.push(sig);
        Ok(())
    }

    /// Stops handling `sig` in this loop; when no loop handles it, its default action is back.
    pub(crate) fn release(&mut self, sig: i32) {
        let Some(i) = self.handled.iter().position(|&s| s == sig) else {
            return;
        };
        self.handled.swap_remove(i);
        let mut table = defaults().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = table.get_mut(&sig) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                entry.0.store(true, Ordering::SeqCst);
            }
        }
    }

    /// The signals that arrived since the last call, each once per arrival (coalesced as
    /// POSIX does).
    pub(crate) fn pending(&mut self, out: &mut Vec<i32>) {
        out.extend(self.pipe.pending());
    }
}

impl Drop for Signals {
    /// The loop is gone: the signals it handled get their default action back unless another
    /// loop handles them.
    fn drop(&mut self) {
        for sig in self.handled.clone() {
            self.release(sig);
        }
    }
}
