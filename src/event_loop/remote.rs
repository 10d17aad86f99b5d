//! [`Remote`]: the `Send + Sync` handle other threads use to reach a loop.

use std::fmt;
use std::sync::Arc;

use crate::context::try_current;
use crate::error::Error;
use crate::handle::{CallbackResult, ThreadsafeHandle};
use crate::shared::Shared;

/// A `Send + Sync` handle to a loop, for other threads.
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

impl Remote {
    pub(crate) fn new(shared: Arc<Shared>) -> Remote {
        Remote { shared }
    }

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
        self.shared.is_closed()
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("closed", &self.is_closed())
            .finish()
    }
}
