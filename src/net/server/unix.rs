//! [`UnixServer`] and [`start_unix_server`]: the asyncio server over a Unix socket path
//! (`create_unix_server` / `start_unix_server`), on the machinery the TCP server uses.
//!
//! Before binding, a socket file left at the path (a stale one) is removed; any other kind of
//! file is left alone and the bind fails. Closing the server removes the path only if it still
//! names the socket file the bind created.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use super::ServerOptions;
use super::ops;
use super::state::{Inner, Kind};
use crate::context::try_current_core;
use crate::core::Core;
use crate::handle::CallbackResult;
use crate::net::inner::Control;
use crate::net::unix::{UnixBound, UnixListener, UnixSocketAddr, UnixStream};
use crate::sys::{self, ListenOptions};

/// Unix servers.
pub(crate) struct Unix;

impl Kind for Unix {
    type Bound = UnixBound;
    type Listener = UnixListener;
    type Stream = UnixStream;
    type Addr = UnixSocketAddr;
    type Peer = UnixSocketAddr;

    fn listen(
        bound: UnixBound,
        core: &Rc<Core>,
        backlog: u32,
    ) -> Result<UnixListener, (UnixBound, io::Error)> {
        bound.listen(core, backlog)
    }

    fn poll_accept(
        listener: &UnixListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(UnixStream, UnixSocketAddr)>> {
        listener.poll_accept(cx)
    }

    fn control(stream: &UnixStream) -> Weak<dyn Control> {
        let inner: Rc<dyn Control> = stream.inner().clone();
        Rc::downgrade(&inner)
    }

    fn prepare(_stream: &UnixStream) {}
}

/// A server on a Unix socket path (asyncio `Server` from `create_unix_server`). Cloning gives
/// another handle to the same server.
///
/// The same rules as the TCP [`Server`](super::Server); on WASI [`start_unix_server`] returns
/// `Unsupported`.
///
/// ```
/// use wasio::net::{ServerOptions, UnixStream, start_unix_server};
///
/// let path = std::env::temp_dir().join(format!("wasio-doc-srv-{}.sock", std::process::id()));
/// wasio::run(async move {
///     let server = start_unix_server(
///         |conn: UnixStream| async move {
///             let mut buf = [0u8; 64];
///             let n = conn.read(&mut buf).await?;
///             conn.write_all(&buf[..n]).await?;
///             conn.close().await
///         },
///         &path,
///         ServerOptions::new(),
///     )
///     .await?;
///     let client = UnixStream::connect(&path).await?;
///     client.write_all(b"ping").await?;
///     let mut out = Vec::new();
///     client.read_to_end(&mut out).await?;
///     assert_eq!(out, b"ping");
///     server.close();
///     server.wait_closed().await;
///     assert!(!path.exists(), "close removes the socket path");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct UnixServer {
    inner: Rc<Inner<Unix>>,
}

/// Binds a Unix stream socket at `path` and returns a [`UnixServer`] that runs `handler` in a
/// task per connection (asyncio `create_unix_server` / `start_unix_server`).
///
/// Of the [`ServerOptions`], `backlog` and `start_serving` apply; the TCP socket options
/// (`reuse_address`, `reuse_port`, `keep_alive`) do not, and changing them is an
/// `InvalidInput` error. A socket file already at `path` is removed first (asyncio); a path
/// in use by anything else fails with `AddrInUse` (`Address '<path>' is already in use`).
pub async fn start_unix_server<H, F, R>(
    handler: H,
    path: impl AsRef<Path>,
    options: ServerOptions,
) -> io::Result<UnixServer>
where
    H: Fn(UnixStream) -> F + 'static,
    F: Future<Output = R> + 'static,
    R: CallbackResult,
{
    let path = path.as_ref();
    if options.listen != ListenOptions::default() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "reuse_address, reuse_port and keep_alive are TCP options; a Unix server takes only backlog and start_serving",
        ));
    }
    let core = try_current_core().map_err(io::Error::other)?;
    sys::unix::remove_stale_socket(path);
    let bound = UnixBound::bind(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("Address '{}' is already in use", path.display()),
            )
        } else {
            e
        }
    })?;
    let local = bound.local_addr()?;
    let handler = super::boxed_handler(handler);
    let inner = Rc::new(Inner::new(
        &core,
        handler,
        options.backlog,
        vec![bound],
        vec![local],
    ));
    ops::finish_start(&inner, options.start_serving).await?;
    Ok(UnixServer { inner })
}

impl UnixServer {
    /// Starts accepting (idempotent; an error on a closed server).
    pub fn start_serving(&self) -> io::Result<()> {
        ops::start_serving(&self.inner)
    }

    /// Whether the server accepts connections.
    pub fn is_serving(&self) -> bool {
        self.inner.serving.get() && !self.inner.closed.get()
    }

    /// Whether [`close`](UnixServer::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// The address of the server's socket: its path (empty once closed).
    pub fn sockets(&self) -> Vec<UnixSocketAddr> {
        self.inner.addrs.borrow().clone()
    }

    /// Connections currently open (accepted and not yet finished).
    pub fn active_connections(&self) -> usize {
        self.inner.active()
    }

    /// Stops listening now, removes the socket path if it is still ours, and leaves existing
    /// connections open; idempotent (SRV-07).
    pub fn close(&self) {
        ops::close(&self.inner);
    }

    /// Closes every client connection gracefully (write side shut down, nothing discarded) and
    /// cancels the connection tasks (SRV-09).
    pub fn close_clients(&self) {
        ops::end_clients(&self.inner, false);
    }

    /// Ends every client connection at once (shut down in both directions: a Unix socket has
    /// no reset) and cancels the connection tasks (SRV-09).
    pub fn abort_clients(&self) {
        ops::end_clients(&self.inner, true);
    }

    /// Waits until the server is closed and no connection remains (SRV-08).
    pub async fn wait_closed(&self) {
        ops::wait_closed(&self.inner).await
    }

    /// Serves until the server is closed (SRV-10), as
    /// [`Server::serve_forever`](super::Server::serve_forever).
    pub async fn serve_forever(&self) -> io::Result<()> {
        ops::serve_forever(&self.inner).await
    }
}

impl fmt::Debug for UnixServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixServer")
            .field("sockets", &self.sockets())
            .field("serving", &self.is_serving())
            .field("active", &self.active_connections())
            .finish()
    }
}
