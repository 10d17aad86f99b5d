//! Sockets dropped with writes accepted but not yet sent: an internal task keeps them until
//! the host has sent everything, so a dropped socket loses nothing (as a closed socket does
//! natively, where the kernel sends what was written).
//!
//! # Ground rules
//!
//! * Only the backends that queue writes outside the kernel ever linger: WASI 0.2 streams
//!   (the host drops what is queued with the output stream) and WASI 0.3 UDP sockets (a send
//!   in flight would be cancelled with the socket). Natively nothing lingers.
//! * The linger task is of kind `Flush`: [`wasio::run`](crate::run) gives such tasks up to
//!   [`FLUSH_TIMEOUT`] before it closes the loop.
//! * When the loop is closed or gone (a `close()` after a fatal error, a dropped loop), or the
//!   linger task is destroyed by `close()`, the socket is flushed on the spot, blocking, for at
//!   most [`FLUSH_TIMEOUT`], where the backend can (WASI 0.2 streams).
//! * Drop order stays the sockets' own: the registration (the driver's aliases of WASI
//!   pollables) goes before the socket.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::registration::Registration;
use crate::core::Core;
use crate::sys::{self, Direction, Token, WaitHandle};
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;

/// How long [`run`](crate::run) lets the loop's internal work (sockets dropped with unflushed
/// writes, still sending) finish before it closes the loop; also the most a flush on the
/// spot may block once the loop is closed.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// A backend socket with writes the host may still hold.
pub(crate) trait Unflushed: Sized + 'static {
    fn register(&mut self, driver: &sys::Driver, token: Token) -> io::Result<()>;
    fn wait_handles(&self) -> [WaitHandle; 2];
    /// `WouldBlock` until everything was sent.
    fn try_flush(&self) -> io::Result<()>;
    /// Blocks until everything was sent, at most `limit` (the loop cannot run).
    fn flush_blocking(&self, limit: Duration);
}

/// Keeps `rest` until it is flushed: through an internal task of `core`'s loop, or on the
/// spot when the loop is closed or gone.
pub(crate) fn linger<S: Unflushed>(core: Option<Rc<Core>>, rest: S) {
    match core {
        Some(core) if !core.is_closed() => {
            let task = spawn_on(
                &core,
                Some("wasio-flush".into()),
                TaskKind::Flush,
                flush(Lingering {
                    reg: None,
                    sys: Some(rest),
                }),
            );
            task.set_quiet();
            task.detach();
        }
        _ => rest.flush_blocking(FLUSH_TIMEOUT),
    }
}

/// The socket a linger task keeps. Dropped before the flush finished (the task destroyed by
/// `close()`), it flushes on the spot; either way the registration goes before the socket.
struct Lingering<S: Unflushed> {
    reg: Option<Registration>,
    sys: Option<S>,
}

impl<S: Unflushed> Drop for Lingering<S> {
    fn drop(&mut self) {
        drop(self.reg.take());
        if let Some(sys) = self.sys.take() {
            sys.flush_blocking(FLUSH_TIMEOUT);
        }
    }
}

/// Flushes through the loop, then drops the socket (registration first).
async fn flush<S: Unflushed>(mut l: Lingering<S>) {
    let Some(sys) = l.sys.as_mut() else { return };
    let registered = crate::context::try_current_core()
        .map_err(io::Error::other)
        .and_then(|core| {
            Registration::new(&core, |driver, token| {
                sys.register(driver, token)?;
                Ok(sys.wait_handles())
            })
        });
    let reg = match registered {
        Ok(reg) => l.reg.insert(reg),
        // No loop to wait on: the guard flushes on the spot.
        Err(_) => return,
    };
    let sys = l.sys.as_ref();
    let res = poll_fn(|cx| {
        reg.poll_io_try_first(cx, Direction::Write, || {
            sys.map_or(Ok(()), Unflushed::try_flush)
        })
    })
    .await;
    if let Err(e) = res {
        tracing::debug!(target: "wasio", error = %e, "flush of a dropped socket failed");
    }
    // Flushed (or failed for good): nothing left to wait for.
    drop(l.reg.take());
    drop(l.sys.take());
}
