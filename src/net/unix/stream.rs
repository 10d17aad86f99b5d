//! [`UnixStream`] and its owned halves (the ground rules of every stream are in
//! `net/inner.rs`).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::Path;
use std::rc::Rc;

use super::UnixSocketAddr;
use crate::core::Core;
use crate::net::inner::{
    StreamInner, current_core, impl_async_read, impl_async_write, owned_halves, read_methods,
    register_stream, write_methods,
};
use crate::sys::{self, Direction};

/// A Unix stream connection (asyncio `create_unix_connection`).
///
/// The same operations as [`TcpStream`](crate::net::TcpStream): the `futures-io`
/// [`AsyncRead`](futures_io::AsyncRead) and [`AsyncWrite`](futures_io::AsyncWrite) traits,
/// inherent `async` methods, half-close and owned halves. On WASI every constructor returns
/// `Unsupported`.
///
/// ```
/// wasio::run(async {
///     let (a, b) = wasio::net::UnixStream::pair()?;
///     a.write_all(b"ping").await?;
///     a.close().await?;
///     let mut got = Vec::new();
///     b.read_to_end(&mut got).await?;
///     assert_eq!(got, b"ping");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct UnixStream {
    inner: Rc<StreamInner<sys::unix::UnixStream>>,
}

impl UnixStream {
    /// Connects to the listener at `path`.
    ///
    /// A listener whose backlog is full makes Linux refuse at once with `EAGAIN`, returned as
    /// an error of kind `WouldBlock` naming the path.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let mut sys = sys::unix::UnixStream::connect(path.as_ref())?;
        let core = current_core()?;
        let reg = register_stream(&core, &mut sys)?;
        drop(core);
        poll_fn(|cx| reg.poll_io_try_first(cx, Direction::Write, || sys.finish_connect())).await?;
        Ok(UnixStream {
            inner: Rc::new(StreamInner::new(reg, sys)),
        })
    }

    /// A pair of connected, unnamed streams (`socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::unix::UnixStream::pair()?;
        let core = current_core()?;
        Ok((
            UnixStream::accepted(&core, a)?,
            UnixStream::accepted(&core, b)?,
        ))
    }

    /// A stream of `core` that is already connected.
    pub(crate) fn accepted(core: &Rc<Core>, sys: sys::unix::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: StreamInner::connected(core, sys)?,
        })
    }

    pub(crate) fn inner(&self) -> &Rc<StreamInner<sys::unix::UnixStream>> {
        &self.inner
    }

    read_methods!();
    write_methods!();

    /// Flushes and shuts down the write side; dropping the stream then closes it.
    pub async fn close(&self) -> io::Result<()> {
        self.shutdown_write().await
    }

    /// The peer's address (unnamed for a client that did not bind).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        self.inner.sys().peer_addr().map(UnixSocketAddr::new)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        self.inner.sys().local_addr().map(UnixSocketAddr::new)
    }

    /// Splits into halves that can be used from different tasks (on this thread).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split(self.inner)
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl_async_read!(UnixStream);
impl_async_write!(UnixStream);

owned_halves!(sys::unix::UnixStream, "UnixStream");
