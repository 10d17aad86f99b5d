//! [`TcpStream`] and its owned halves: a TCP connection driven by the loop's readiness (the
//! ground rules of every stream are in `net/inner.rs`).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use super::inner::{
    StreamInner, current_core, impl_async_read, impl_async_write, owned_halves, read_methods,
    register_stream, write_methods,
};
use crate::core::Core;
use crate::sys::{self, Direction};

/// A TCP connection.
///
/// Implements the `futures-io` [`AsyncRead`](futures_io::AsyncRead) and
/// [`AsyncWrite`](futures_io::AsyncWrite) traits and offers the same
/// operations as inherent `async` methods.
///
/// ```
/// use wasio::net::{TcpListener, TcpStream};
///
/// wasio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    inner: Rc<StreamInner<sys::net::TcpStream>>,
}

impl TcpStream {
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
            inner: Rc::new(StreamInner::new(reg, sys)),
        })
    }

    /// A stream of `core` that is already connected (accepted or adopted).
    pub(crate) fn accepted(core: &Rc<Core>, sys: sys::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: StreamInner::connected(core, sys)?,
        })
    }

    pub(crate) fn inner(&self) -> &Rc<StreamInner<sys::net::TcpStream>> {
        &self.inner
    }

    read_methods!();
    write_methods!();

    /// Flushes and shuts down the write side; dropping the stream then closes it.
    pub async fn close(&self) -> io::Result<()> {
        self.shutdown_write().await
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sys().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.sys().local_addr()
    }

    /// Sets `TCP_NODELAY` (native; `Unsupported` on WASI, which has no such option).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.sys().set_nodelay(on)
    }

    /// Reads `TCP_NODELAY` (native; `Unsupported` on WASI).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.sys().nodelay()
    }

    /// Splits into halves that can be used from different tasks (on this thread).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split(self.inner)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl_async_read!(TcpStream);
impl_async_write!(TcpStream);

owned_halves!(sys::net::TcpStream, "TcpStream");
