//! Our ends of a child's pipes: [`ChildStdin`], [`ChildStdout`], [`ChildStderr`].
//!
//! Each is a source of its own, driven by the readiness protocol like a TCP stream: reads and
//! writes run when the driver recorded readiness, and wait after `WouldBlock`. Dropping one
//! closes it: the child reads end of file on its stdin, or gets `SIGPIPE`/`EPIPE` writing to a
//! closed stdout.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::core::Core;
use crate::io::ops;
use crate::io::registration::Registration;
use crate::sys;

/// A registered pipe end.
struct Pipe<P> {
    /// First: deregisters before the descriptor closes.
    reg: Registration,
    sys: P,
}

/// Registers a backend pipe end with `core`.
macro_rules! register_pipe {
    ($core:expr, $sys:expr) => {{
        let mut sys = $sys;
        Registration::new($core, |driver, token| {
            sys.register(driver, token)?;
            Ok(sys.wait_handles())
        })
        .map(|reg| Pipe { reg, sys })
    }};
}

/// Our end of a child's stdout or stderr.
struct Reader(Pipe<sys::process::PipeReader>);

impl Reader {
    fn new(core: &Rc<Core>, sys: sys::process::PipeReader) -> io::Result<Reader> {
        register_pipe!(core, sys).map(Reader)
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let Pipe { reg, sys } = &self.0;
        reg.poll_read(cx, buf, |b| sys.try_read(b))
    }

    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        ops::read_exact(|cx, b| self.poll_read(cx, b), buf).await
    }

    async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
        ops::read_to_end(|cx, b| self.poll_read(cx, b), out).await
    }
}

/// Defines a read end: inherent async reads and the `futures-io` trait.
macro_rules! reader {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name {
            inner: Reader,
        }

        impl $name {
            pub(crate) fn new(core: &Rc<Core>, sys: sys::process::PipeReader) -> io::Result<$name> {
                Reader::new(core, sys).map(|inner| $name { inner })
            }

            /// Reads into `buf`; `Ok(0)` is end of file (the child closed its end, usually by
            /// exiting) or an empty `buf`.
            pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.inner.read(buf).await
            }

            /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the pipe ends first.
            pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
                self.inner.read_exact(buf).await
            }

            /// Reads until end of file, appending to `out`; returns the number of bytes read.
            pub async fn read_to_end(&self, out: &mut Vec<u8>) -> io::Result<usize> {
                self.inner.read_to_end(out).await
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

reader!(
    /// Our end of a child's stdout (set up with `stdout(Stdio::piped())`).
    ///
    /// Implements the `futures-io` [`AsyncRead`] trait and offers the same reads as inherent
    /// `async` methods. Read it while the child runs: a child whose output nobody reads
    /// blocks once the pipe is full (64 KiB on Linux).
    ChildStdout
);

reader!(
    /// Our end of a child's stderr (set up with `stderr(Stdio::piped())`).
    ///
    /// Implements the `futures-io` [`AsyncRead`] trait and offers the same reads as inherent
    /// `async` methods.
    ChildStderr
);

/// Our end of a child's stdin (set up with `stdin(Stdio::piped())`).
///
/// Implements the `futures-io` [`AsyncWrite`] trait and offers the same writes as inherent
/// `async` methods. [`close`](ChildStdin::close) (or dropping it) closes the pipe: the child
/// reads end of file. Writing after the child closed its end fails with `BrokenPipe`.
pub struct ChildStdin {
    /// `None` once closed.
    pipe: RefCell<Option<Pipe<sys::process::PipeWriter>>>,
}

fn stdin_closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the child's stdin was closed")
}

impl ChildStdin {
    pub(crate) fn new(core: &Rc<Core>, sys: sys::process::PipeWriter) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            pipe: RefCell::new(Some(register_pipe!(core, sys)?)),
        })
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let pipe = self.pipe.borrow();
        let Some(Pipe { reg, sys }) = pipe.as_ref() else {
            return Poll::Ready(Err(stdin_closed()));
        };
        reg.poll_write(cx, buf, |b| sys.try_write(b))
    }

    /// Closes the pipe (deregisters and closes the descriptor). Idempotent.
    fn close_now(&self) -> io::Result<()> {
        match self.pipe.try_borrow_mut() {
            Ok(mut pipe) => {
                drop(pipe.take());
                Ok(())
            }
            Err(_) => Err(io::Error::other("the child's stdin is in use")),
        }
    }

    /// Writes some of `buf`; returns how much.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        ops::write_all(|cx, b| self.poll_write(cx, b), buf).await
    }

    /// Nothing is buffered: everything written is already in the pipe.
    pub async fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Closes the pipe: the child reads end of file. Later writes fail with `BrokenPipe`.
    pub async fn close(&self) -> io::Result<()> {
        self.close_now()
    }
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ChildStdin::poll_write(&self, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the pipe: the child reads end of file.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.close_now())
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("closed", &self.pipe.try_borrow().map(|p| p.is_none()).ok())
            .finish()
    }
}
