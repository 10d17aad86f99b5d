//! [`TcpStream`] and its owned halves: a connection driven by the loop's readiness.
//!
//! # Ground rules
//!
//! * Reads, writes and accepts run when the driver recorded readiness in their direction, and
//!   wait after the platform said `WouldBlock` (`Registration::poll_io`); a short read or
//!   write also clears the readiness, since the next call would find nothing. Readiness is a
//!   hint on both backends.
//! * A read or write allocates nothing natively; on WASI the binding returns each read as a
//!   fresh `Vec`, which is copied into the caller's buffer (at most its length is requested).
//! * Field order is drop order: the registration (and with it, on WASI, the pollables) is
//!   dropped before the socket and its streams.
//! * Dropping a stream closes it without losing what was written: on WASI, where the host
//!   drops queued writes with the stream, a stream dropped with unflushed writes is handed to
//!   an internal task that flushes it first (and [`crate::run`] waits for those, bounded).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::context::try_current_core;
use crate::core::Core;
use crate::io::ops;
use crate::io::registration::Registration;
use crate::sys::{self, Direction};
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;

fn current_core() -> io::Result<Rc<Core>> {
    try_current_core().map_err(io::Error::other)
}

/// Registers a backend stream with `core`.
fn register_stream(core: &Rc<Core>, sys: &mut sys::net::TcpStream) -> io::Result<Registration> {
    Registration::new(core, |driver, token| {
        sys.register(driver, token)?;
        Ok(sys.wait_handles())
    })
}

/// The shared state of a stream and its halves.
pub(crate) struct StreamInner {
    /// First: disarms the driver before `sys` drops its WASI pollables.
    reg: Registration,
    sys: sys::net::TcpStream,
}

impl StreamInner {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.reg.poll_read(cx, buf, |b| self.sys.try_read(b))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.reg.poll_write(cx, buf, |b| self.sys.try_write(b))
    }

    /// One zero-copy `sendfile` step (see `net::sendfile`).
    pub(crate) fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: &mut u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        self.reg.poll_io(cx, Direction::Write, || {
            self.sys.try_sendfile(file, offset, len)
        })
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg
            .poll_io_try_first(cx, Direction::Write, || self.sys.try_flush())
    }

    fn poll_shutdown_write(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(self.sys.shutdown(Shutdown::Write)),
            other => other,
        }
    }

    /// Shuts the write side down once what was written is out (SRV-09 `close_clients`).
    pub(crate) fn close_gracefully(&self) -> io::Result<()> {
        self.sys.shutdown_graceful()
    }

    pub(crate) fn abort(&self) -> io::Result<()> {
        self.sys.abort()
    }
}

impl Drop for StreamInner {
    /// A stream dropped with writes the host has not sent yet (WASI) is handed to an internal
    /// task that flushes it, then drops it in order; natively there is never anything to do.
    fn drop(&mut self) {
        let Some(rest) = self.sys.take_unflushed() else {
            return;
        };
        let Ok(core) = self.reg.core() else { return };
        if core.is_closed() {
            return;
        }
        let task = spawn_on(
            &core,
            Some("wasio-flush".into()),
            TaskKind::Flush,
            linger(rest),
        );
        task.set_quiet();
        task.detach();
    }
}

/// Flushes a dropped stream, then drops it (registration first). If the task is cancelled or
/// destroyed the stream is dropped in the same order, so nothing traps.
async fn linger(mut sys: sys::net::TcpStream) {
    let Ok(core) = current_core() else { return };
    let Ok(reg) = register_stream(&core, &mut sys) else {
        return;
    };
    drop(core);
    if let Err(e) =
        poll_fn(|cx| reg.poll_io_try_first(cx, Direction::Write, || sys.try_flush())).await
    {
        tracing::debug!(target: "wasio", error = %e, "flush of a dropped stream failed");
    }
    drop(reg);
    drop(sys);
}

/// A TCP connection.
///
/// Implements the `futures-io` [`AsyncRead`] and [`AsyncWrite`] traits and offers the same
/// operations as inherent `async` methods.
///
/// ```
/// use wasio::net::{TcpListener, TcpStream};
///
/// wasio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).await?;
///     let addr = listener.local_addr()?;
///     let server = wasio::spawn(async move {
///         let (conn, _) = listener.accept().await?;
///         let mut buf = [0u8; 5];
///         conn.read_exact(&mut buf).await?;
///         conn.write_all(&buf).await?;
///         conn.close().await
///     });
///     let client = TcpStream::connect(addr).await?;
///     client.write_all(b"hello").await?;
///     let mut echo = [0u8; 5];
///     client.read_exact(&mut echo).await?;
///     assert_eq!(&echo, b"hello");
///     server.await.unwrap()
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct TcpStream {
    inner: Rc<StreamInner>,
}

impl TcpStream {
    /// Connects to one address (see the free function `net::connect` for names, several addresses and
    /// Happy Eyeballs).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_from(addr, None).await
    }

    /// Connects to `addr` from the local address `local` (bound first).
    pub(crate) async fn connect_from(
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> io::Result<TcpStream> {
        if addr.port() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot connect to port 0 ({addr})"),
            ));
        }
        if addr.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot connect to the unspecified address {addr}"),
            ));
        }
        let core = current_core()?;
        let mut sys = sys::net::TcpStream::connect(addr, local)?;
        let reg = register_stream(&core, &mut sys)?;
        drop(core);
        poll_fn(|cx| reg.poll_io_try_first(cx, Direction::Write, || sys.finish_connect())).await?;
        // On WASI the connected stream waits on new pollables.
        reg.set_handles(sys.wait_handles());
        Ok(TcpStream {
            inner: Rc::new(StreamInner { reg, sys }),
        })
    }

    pub(crate) fn accepted(core: &Rc<Core>, mut sys: sys::net::TcpStream) -> io::Result<TcpStream> {
        let reg = register_stream(core, &mut sys)?;
        Ok(TcpStream {
            inner: Rc::new(StreamInner { reg, sys }),
        })
    }

    pub(crate) fn inner(&self) -> &Rc<StreamInner> {
        &self.inner
    }

    /// Reads into `buf`; `Ok(0)` is end of stream (or an empty `buf`).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_read(cx, buf)).await
    }

    /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the stream ends first.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        read_exact(&self.inner, buf).await
    }

    /// Reads until end of stream, appending to `out`; returns the number of bytes read.
    pub async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
        read_to_end(&self.inner, out).await
    }

    /// Writes some of `buf`; returns how much.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all(&self.inner, buf).await
    }

    /// Waits until everything written has been handed to the network (a no-op natively).
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Half-closes: flushes, then shuts the write side down (the peer reads end of stream);
    /// reading goes on.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_shutdown_write(cx)).await
    }

    /// Flushes and shuts down the write side; dropping the stream then closes it.
    pub async fn close(&self) -> io::Result<()> {
        self.shutdown_write().await
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sys.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sys.local_addr()
    }

    /// Sets `TCP_NODELAY` (native; `Unsupported` on WASI, which has no such option).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.sys.set_nodelay(on)
    }

    /// Reads `TCP_NODELAY` (native; `Unsupported` on WASI).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.sys.nodelay()
    }

    /// Splits into halves that can be used from different tasks (on this thread).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                inner: self.inner.clone(),
            },
            OwnedWriteHalf { inner: self.inner },
        )
    }
}

async fn read_exact(inner: &StreamInner, buf: &mut [u8]) -> io::Result<()> {
    ops::read_exact(|cx, b| inner.poll_read(cx, b), buf).await
}

async fn read_to_end(inner: &StreamInner, out: &mut Vec<u8>) -> io::Result<usize> {
    ops::read_to_end(|cx, b| inner.poll_read(cx, b), out).await
}

async fn write_all(inner: &StreamInner, buf: &[u8]) -> io::Result<()> {
    ops::write_all(|cx, b| inner.poll_write(cx, b), buf).await
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_flush(cx)
    }
    /// Flushes and shuts down the write side.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_shutdown_write(cx)
    }
}

/// The read half of [`TcpStream::into_split`].
pub struct OwnedReadHalf {
    inner: Rc<StreamInner>,
}

impl OwnedReadHalf {
    /// Reads into `buf`; `Ok(0)` is end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_read(cx, buf)).await
    }
    /// Reads exactly `buf.len()` bytes.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        read_exact(&self.inner, buf).await
    }
    /// Reads until end of stream.
    pub async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
        read_to_end(&self.inner, out).await
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read(cx, buf)
    }
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedReadHalf").finish_non_exhaustive()
    }
}

/// The write half of [`TcpStream::into_split`]. Dropping it does not shut the write side
/// down; call [`shutdown_write`](OwnedWriteHalf::shutdown_write) for a half-close.
pub struct OwnedWriteHalf {
    inner: Rc<StreamInner>,
}

impl OwnedWriteHalf {
    /// Writes some of `buf`.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_write(cx, buf)).await
    }
    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all(&self.inner, buf).await
    }
    /// Waits until everything written has been handed to the network.
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }
    /// Half-closes the connection.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_shutdown_write(cx)).await
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_shutdown_write(cx)
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWriteHalf").finish_non_exhaustive()
    }
}
