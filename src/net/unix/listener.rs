//! [`UnixListener`], and `UnixBound`: a socket bound to a path, not listening yet (a Unix
//! server between `start_unix_server` and `start_serving`).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{UnixSocketAddr, UnixStream};
use crate::core::Core;
use crate::io::closable::Closable;
use crate::io::registration::Registration;
use crate::net::inner::current_core;
use crate::net::listener::DEFAULT_BACKLOG;
use crate::sys::{self, Direction};

/// A Unix stream socket bound to a path, not yet listening.
pub(crate) struct UnixBound {
    sys: sys::unix::UnixListener,
}

impl UnixBound {
    pub(crate) fn bind(path: &Path) -> io::Result<UnixBound> {
        Ok(UnixBound {
            sys: sys::unix::UnixListener::bind(path)?,
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        self.sys.local_addr().map(UnixSocketAddr::new)
    }

    /// Listens and registers with `core`; on failure the socket comes back with the error.
    pub(crate) fn listen(
        mut self,
        core: &Rc<Core>,
        backlog: u32,
    ) -> Result<UnixListener, (UnixBound, io::Error)> {
        if let Err(e) = self.sys.listen(backlog) {
            return Err((self, e));
        }
        let sys = &mut self.sys;
        let reg = match Registration::new(core, |driver, token| {
            sys.register(driver, token)?;
            Ok(sys.wait_handles())
        }) {
            Ok(reg) => reg,
            Err(e) => return Err((self, e)),
        };
        Ok(UnixListener {
            reg,
            sys: Closable::new(self.sys, "the listener"),
        })
    }
}

/// A listening Unix stream socket.
///
/// Dropping it closes the socket and removes its path, unless the path names another file
/// by then. Any number of tasks may `accept` on one listener at once. On WASI [`bind`]
/// returns `Unsupported`.
///
/// [`bind`]: UnixListener::bind
///
/// ```
/// use wasio::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("wasio-doc-{}.sock", std::process::id()));
/// wasio::run(async move {
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let (conn, _) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0u8; 2];
///     conn.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     drop(listener);
///     assert!(!path.exists(), "the path goes with the listener");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct UnixListener {
    /// First: deregisters before the socket is closed and its path removed.
    reg: Registration,
    sys: Closable<sys::unix::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` and listens (backlog 100, as asyncio). Fails with `AddrInUse` if
    /// something exists at `path` (unlike [`start_unix_server`](crate::net::start_unix_server),
    /// this never removes a stale socket file).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let bound = UnixBound::bind(path.as_ref())?;
        let core = current_core()?;
        bound.listen(&core, DEFAULT_BACKLOG).map_err(|(_, e)| e)
    }

    /// Accepts one connection; the peer's address is usually unnamed.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for one connection.
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(UnixStream, UnixSocketAddr)>> {
        let (sys, peer) = match self
            .reg
            .poll_io(cx, Direction::Read, || self.sys.with(|s| s.try_accept()))
        {
            Poll::Ready(Ok(v)) => v,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let stream = UnixStream::accepted(&self.reg.core()?, sys)?;
        Poll::Ready(Ok((stream, UnixSocketAddr::new(peer))))
    }

    /// The local address: the path it was bound to.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        self.sys.with(|s| s.local_addr()).map(UnixSocketAddr::new)
    }

    /// Stops listening now (the path is removed if it is still ours): every task waiting in
    /// [`accept`](UnixListener::accept) gets a `NotConnected` error at once, as does every later
    /// call. Idempotent; dropping the listener closes it too.
    pub fn close(&self) {
        self.sys.close(&self.reg);
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
