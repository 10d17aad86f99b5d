//! hyper's runtime traits on wasio: [`HyperIo`] (`rt::Read` / `rt::Write` over `futures-io`
//! streams), [`WasioExecutor`] and [`WasioTimer`]. Published through `wasio::hyper`, beside
//! `serve`, which is built on them.

use std::fmt;
use std::future::Future;
use std::io;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt;

use crate::context::try_current_core;
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;
use crate::time::{Sleep, sleep, sleep_until};

/// The most one read asks of the wrapped stream (and zeroes of hyper's buffer first).
const READ_CHUNK: usize = 64 * 1024;

// ===== HyperIo =====

pin_project_lite::pin_project! {
    /// A `futures-io` stream (a [`TcpStream`](crate::net::TcpStream), one of its halves, or
    /// any `AsyncRead + AsyncWrite`) with hyper's `rt::Read` and `rt::Write`.
    ///
    /// ```
    /// use http_body_util::Empty;
    /// use hyper::body::Bytes;
    /// use hyper::client::conn::http1::{self, SendRequest};
    /// use wasio::hyper::HyperIo;
    /// use wasio::net::TcpStream;
    ///
    /// /// Opens an HTTP/1.1 connection to `addr`, whose I/O then runs in a task of its own.
    /// async fn open(
    ///     addr: std::net::SocketAddr,
    /// ) -> Result<SendRequest<Empty<Bytes>>, Box<dyn std::error::Error>> {
    ///     let stream = TcpStream::connect(addr).await?;
    ///     let (sender, conn) = http1::handshake(HyperIo::new(stream)).await?;
    ///     wasio::spawn(conn);
    ///     Ok(sender)
    /// }
    /// # let _ = open;
    /// ```
    #[derive(Debug)]
    pub struct HyperIo<T> {
        #[pin]
        inner: T,
    }
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The wrapped stream, pinned.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> From<T> for HyperIo<T> {
    fn from(inner: T) -> HyperIo<T> {
        HyperIo::new(inner)
    }
}

impl<T: AsyncRead> rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(READ_CHUNK);
        let dst = buf.initialize_unfilled_to(want);
        let n = ready!(self.project().inner.poll_read(cx, dst))?;
        if n > want {
            // A reader breaking the `futures-io` contract must not make hyper read bytes
            // nobody wrote.
            return Poll::Ready(Err(io::Error::other(format!(
                "the stream reported reading {n} bytes into a buffer of {want}"
            ))));
        }
        // SAFETY: `initialize_unfilled_to(want)` initialized the first `want` bytes of the
        // unfilled part, and `n <= want`.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite> rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    /// `futures-io`'s `poll_close`: for a [`TcpStream`](crate::net::TcpStream), flush, then
    /// shut the write side down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}

// ===== WasioExecutor =====

/// hyper's `rt::Executor`: spawns each future as a task on the loop running on the calling
/// thread (the futures need not be `Send`).
///
/// hyper's `execute` cannot fail: where no wasio loop runs, the future is dropped and an error
/// is logged through `tracing`.
///
/// ```
/// use hyper::rt::Executor;
/// use wasio::hyper::WasioExecutor;
///
/// let seen = wasio::run(async {
///     let (tx, rx) = std::sync::mpsc::channel();
///     WasioExecutor::new().execute(async move { tx.send(7).unwrap() });
///     wasio::yield_now().await;
///     rx.try_recv()
/// })
/// .unwrap();
/// assert_eq!(seen, Ok(7));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WasioExecutor {
    _private: (),
}

impl WasioExecutor {
    /// The executor.
    pub fn new() -> WasioExecutor {
        WasioExecutor::default()
    }
}

impl<F> rt::Executor<F> for WasioExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        match try_current_core() {
            Ok(core) => spawn_on(&core, None, TaskKind::User, fut).detach(),
            Err(e) => tracing::error!(
                target: "wasio",
                error = %e,
                "hyper asked to spawn a task where no wasio loop runs; the future is dropped"
            ),
        }
    }
}

// ===== WasioTimer =====

/// hyper's `rt::Timer` on wasio's timers: give it to hyper's builders (`.timer(..)`) so that
/// their timeouts (the server's `header_read_timeout`, keep-alive timeouts) work.
///
/// Its sleeps follow the module's rules: the wasio timer is created on the loop that first
/// polls the sleep; see the [module documentation](crate::hyper).
///
/// ```
/// use std::time::{Duration, Instant};
/// use hyper::rt::Timer;
/// use wasio::hyper::WasioTimer;
///
/// let elapsed = wasio::run(async {
///     let t0 = Instant::now();
///     WasioTimer::new().sleep(Duration::from_millis(5)).await;
///     t0.elapsed()
/// })
/// .unwrap();
/// assert!(elapsed >= Duration::from_millis(5));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WasioTimer {
    _private: (),
}

impl WasioTimer {
    /// The timer.
    pub fn new() -> WasioTimer {
        WasioTimer::default()
    }
}

impl rt::Timer for WasioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(LoopSleep::new(Instant::now().checked_add(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(LoopSleep::new(Some(deadline)))
    }

    /// Moves the deadline of a sleep of this timer in place (a new sleep for any other).
    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<LoopSleep>() {
            Some(s) => s.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// The sleep of [`WasioTimer`]: a deadline, and from the first poll on, a wasio [`Sleep`] on
/// the loop of the thread that polled it.
struct LoopSleep {
    /// `None`: further away than `Instant` can express (never fires).
    deadline: Option<Instant>,
    /// The wasio timer and the thread whose loop owns it.
    timer: Option<(ThreadId, Sleep)>,
}

// SAFETY: the only part that is not `Send` is the wasio `Sleep` in `timer` (an `Rc` shared with
// its loop's timer heap). It is polled, reset and dropped only on the thread recorded beside
// it, checked before every use (`poll`, `reset`, `release`); on any other thread it is
// forgotten without being touched (moving the `Rc` and forgetting it leaves its count and its
// allocation alone). Before the first poll there is no timer.
unsafe impl Send for LoopSleep {}

// SAFETY: a shared `&LoopSleep` reaches nothing that is not `Sync`: no method takes `&self`
// except `Debug`, which reads only `deadline` (an `Instant`).
unsafe impl Sync for LoopSleep {}

impl rt::Sleep for LoopSleep {}

impl LoopSleep {
    fn new(deadline: Option<Instant>) -> LoopSleep {
        LoopSleep {
            deadline,
            timer: None,
        }
    }

    /// A wasio sleep for the deadline, on the loop running on this thread.
    fn wasio_sleep(&self) -> Sleep {
        match self.deadline {
            Some(at) => sleep_until(at),
            // `sleep` saturates to the farthest tick.
            None => sleep(Duration::MAX),
        }
    }

    fn reset(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
        match &mut self.timer {
            Some((owner, timer)) if *owner == thread::current().id() => timer.reset(deadline),
            _ => self.release(),
        }
    }

    /// Drops the wasio timer, or leaks it if it belongs to another thread.
    fn release(&mut self) {
        let Some((owner, timer)) = self.timer.take() else {
            return;
        };
        if owner == thread::current().id() {
            drop(timer);
        } else {
            tracing::warn!(
                target: "wasio",
                "a hyper sleep left the thread of its wasio loop; its timer is leaked"
            );
            mem::forget(timer);
        }
    }
}

impl Future for LoopSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let here = thread::current().id();
        let timer = match &mut this.timer {
            Some((owner, timer)) if *owner == here => timer,
            _ => {
                this.release();
                let timer = this.wasio_sleep();
                &mut this.timer.insert((here, timer)).1
            }
        };
        Pin::new(timer).poll(cx)
    }
}

impl Drop for LoopSleep {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for LoopSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopSleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
