//! What every connected stream shares, TCP or Unix: [`StreamInner`] (a registration and a
//! backend stream), the readiness-driven operations on it, and the macros that give
//! `TcpStream`, `UnixStream` and their owned halves the same I/O methods.
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
//!   an internal task that flushes it first (and `wasio::run` waits for those, bounded).

use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::context::try_current_core;
use crate::core::Core;
use crate::io::linger::{Unflushed, linger};
use crate::io::ops;
use crate::io::registration::Registration;
use crate::sys::{self, Direction, Token, WaitHandle};

/// The backend operations a stream needs (both backends' TCP and Unix streams), beyond what a
/// socket that may linger has (`Unflushed`: registering, waiting, flushing).
pub(crate) trait SysStream: Unflushed {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    fn shutdown_graceful(&self) -> io::Result<()>;
    fn abort(&self) -> io::Result<()>;
    fn take_unflushed(&mut self) -> Option<Self>;
}

macro_rules! sys_stream {
    ($t:ty) => {
        impl SysStream for $t {
            fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                <$t>::try_read(self, buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$t>::try_write(self, buf)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$t>::shutdown(self, how)
            }
            fn shutdown_graceful(&self) -> io::Result<()> {
                <$t>::shutdown_graceful(self)
            }
            fn abort(&self) -> io::Result<()> {
                <$t>::abort(self)
            }
            fn take_unflushed(&mut self) -> Option<Self> {
                <$t>::take_unflushed(self)
            }
        }

        impl Unflushed for $t {
            fn register(&mut self, driver: &sys::Driver, token: Token) -> io::Result<()> {
                <$t>::register(self, driver, token)
            }
            fn wait_handles(&self) -> [WaitHandle; 2] {
                <$t>::wait_handles(self)
            }
            fn try_flush(&self) -> io::Result<()> {
                <$t>::try_flush(self)
            }
            fn flush_blocking(&self, limit: std::time::Duration) {
                <$t>::flush_blocking(self, limit)
            }
        }
    };
}

sys_stream!(sys::net::TcpStream);
sys_stream!(sys::unix::UnixStream);

pub(crate) fn current_core() -> io::Result<Rc<Core>> {
    try_current_core().map_err(io::Error::other)
}

/// Registers a backend stream with `core`.
pub(crate) fn register_stream<S: SysStream>(
    core: &Rc<Core>,
    sys: &mut S,
) -> io::Result<Registration> {
    Registration::new(core, |driver, token| {
        sys.register(driver, token)?;
        Ok(sys.wait_handles())
    })
}

/// The shared state of a stream and its halves.
pub(crate) struct StreamInner<S: SysStream> {
    /// First: disarms the driver before `sys` drops its WASI pollables.
    reg: Registration,
    sys: S,
    /// The write side is closing or closed (`close` / `shutdown_write` began): writes fail.
    write_closed: Cell<bool>,
}

fn write_side_closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the stream's write side was closed",
    )
}

/// What a server does to the connections it tracks (SRV-09), whatever their kind.
pub(crate) trait Control {
    /// Shuts the write side down once what was written is out (`close_clients`).
    fn close_gracefully(&self) -> io::Result<()>;
    /// Ends the connection at once (`abort_clients`).
    fn abort(&self) -> io::Result<()>;
}

impl<S: SysStream> StreamInner<S> {
    pub(crate) fn new(reg: Registration, sys: S) -> StreamInner<S> {
        StreamInner {
            reg,
            sys,
            write_closed: Cell::new(false),
        }
    }

    /// A stream of `core` that is already connected (accepted, adopted, a socketpair end).
    pub(crate) fn connected(core: &Rc<Core>, mut sys: S) -> io::Result<Rc<StreamInner<S>>> {
        let reg = register_stream(core, &mut sys)?;
        Ok(Rc::new(StreamInner::new(reg, sys)))
    }

    /// The backend stream.
    pub(crate) fn sys(&self) -> &S {
        &self.sys
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.reg.poll_read(cx, buf, |b| self.sys.try_read(b))
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.write_closed.get() {
            return Poll::Ready(Err(write_side_closed()));
        }
        self.reg.poll_write(cx, buf, |b| self.sys.try_write(b))
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg
            .poll_io_try_first(cx, Direction::Write, || self.sys.try_flush())
    }

    /// Closes the write side: from the first call on, writes fail (`BrokenPipe`), and a task
    /// already waiting to write (through another handle or half) is woken to see it; then
    /// what was written is flushed and the write side shut down (the peer reads end of
    /// stream).
    pub(crate) fn poll_shutdown_write(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write_closed.replace(true) {
            self.reg.wake(Direction::Write);
        }
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(self.sys.shutdown(Shutdown::Write)),
            other => other,
        }
    }
}

impl StreamInner<sys::net::TcpStream> {
    /// One zero-copy `sendfile` step (see `net::sendfile`).
    pub(crate) fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: &mut u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        if self.write_closed.get() {
            return Poll::Ready(Err(write_side_closed()));
        }
        self.reg.poll_io(cx, Direction::Write, || {
            self.sys.try_sendfile(file, offset, len)
        })
    }
}

impl<S: SysStream> Control for StreamInner<S> {
    fn close_gracefully(&self) -> io::Result<()> {
        self.sys.shutdown_graceful()
    }

    fn abort(&self) -> io::Result<()> {
        self.sys.abort()
    }
}

impl<S: SysStream> Drop for StreamInner<S> {
    /// A stream dropped with writes the host has not sent yet (WASI 0.2) lingers until they
    /// are sent (`io::linger`); natively there is never anything to do.
    fn drop(&mut self) {
        if let Some(rest) = self.sys.take_unflushed() {
            linger(self.reg.core().ok(), rest);
        }
    }
}

pub(crate) async fn read_exact<S: SysStream>(
    inner: &StreamInner<S>,
    buf: &mut [u8],
) -> io::Result<()> {
    ops::read_exact(|cx, b| inner.poll_read(cx, b), buf).await
}

pub(crate) async fn read_to_end<S: SysStream>(
    inner: &StreamInner<S>,
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    ops::read_to_end(|cx, b| inner.poll_read(cx, b), out).await
}

pub(crate) async fn write_all<S: SysStream>(inner: &StreamInner<S>, buf: &[u8]) -> io::Result<()> {
    ops::write_all(|cx, b| inner.poll_write(cx, b), buf).await
}

/// The read methods of a type holding `inner: Rc<StreamInner<_>>`, inside its `impl` block.
macro_rules! read_methods {
    () => {
        /// Reads into `buf`; `Ok(0)` is end of stream (or an empty `buf`).
        pub async fn read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
            ::std::future::poll_fn(|cx| self.inner.poll_read(cx, buf)).await
        }

        /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the stream ends first.
        pub async fn read_exact(&self, buf: &mut [u8]) -> ::std::io::Result<()> {
            $crate::net::inner::read_exact(&self.inner, buf).await
        }

        /// Reads until end of stream, appending to `out`; returns the number of bytes read.
        pub async fn read_to_end(&self, out: &mut Vec<u8>) -> ::std::io::Result<usize> {
            $crate::net::inner::read_to_end(&self.inner, out).await
        }
    };
}

/// The write methods of a type holding `inner: Rc<StreamInner<_>>`, inside its `impl` block.
macro_rules! write_methods {
    () => {
        /// Writes some of `buf`; returns how much.
        pub async fn write(&self, buf: &[u8]) -> ::std::io::Result<usize> {
            ::std::future::poll_fn(|cx| self.inner.poll_write(cx, buf)).await
        }

        /// Writes all of `buf`.
        pub async fn write_all(&self, buf: &[u8]) -> ::std::io::Result<()> {
            $crate::net::inner::write_all(&self.inner, buf).await
        }

        /// Waits until everything written has been handed to the network (a no-op natively).
        pub async fn flush(&self) -> ::std::io::Result<()> {
            ::std::future::poll_fn(|cx| self.inner.poll_flush(cx)).await
        }

        /// Half-closes: flushes, then shuts the write side down (the peer reads end of
        /// stream); reading goes on.
        pub async fn shutdown_write(&self) -> ::std::io::Result<()> {
            ::std::future::poll_fn(|cx| self.inner.poll_shutdown_write(cx)).await
        }
    };
}

/// `futures-io`'s `AsyncRead` for a type holding `inner: Rc<StreamInner<_>>`.
macro_rules! impl_async_read {
    ($t:ty) => {
        impl ::futures_io::AsyncRead for $t {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }
    };
}

/// `futures-io`'s `AsyncWrite` for a type holding `inner: Rc<StreamInner<_>>`; `poll_close`
/// flushes and shuts the write side down.
macro_rules! impl_async_write {
    ($t:ty) => {
        impl ::futures_io::AsyncWrite for $t {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }
            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                self.inner.poll_flush(cx)
            }
            /// Flushes and shuts down the write side.
            fn poll_close(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                self.inner.poll_shutdown_write(cx)
            }
        }
    };
}

/// `OwnedReadHalf` and `OwnedWriteHalf` over `StreamInner<$sys>`, for the stream type named
/// `$stream` (in the calling module).
macro_rules! owned_halves {
    ($sys:ty, $stream:literal) => {
        #[doc = concat!("The read half of [`", $stream, "::into_split`].")]
        pub struct OwnedReadHalf {
            inner: ::std::rc::Rc<$crate::net::inner::StreamInner<$sys>>,
        }

        impl OwnedReadHalf {
            $crate::net::inner::read_methods!();
        }

        $crate::net::inner::impl_async_read!(OwnedReadHalf);

        impl ::std::fmt::Debug for OwnedReadHalf {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("OwnedReadHalf").finish_non_exhaustive()
            }
        }

        #[doc = concat!(
            "The write half of [`", $stream, "::into_split`]. Dropping it does not shut the ",
            "write side down; call [`shutdown_write`](OwnedWriteHalf::shutdown_write) for a ",
            "half-close."
        )]
        pub struct OwnedWriteHalf {
            inner: ::std::rc::Rc<$crate::net::inner::StreamInner<$sys>>,
        }

        impl OwnedWriteHalf {
            $crate::net::inner::write_methods!();
        }

        $crate::net::inner::impl_async_write!(OwnedWriteHalf);

        impl ::std::fmt::Debug for OwnedWriteHalf {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("OwnedWriteHalf").finish_non_exhaustive()
            }
        }

        /// Both halves over one stream state.
        fn split(
            inner: ::std::rc::Rc<$crate::net::inner::StreamInner<$sys>>,
        ) -> (OwnedReadHalf, OwnedWriteHalf) {
            (
                OwnedReadHalf {
                    inner: inner.clone(),
                },
                OwnedWriteHalf { inner },
            )
        }
    };
}

pub(crate) use {impl_async_read, impl_async_write, owned_halves, read_methods, write_methods};
