//! The asyncio-style servers: [`Server`] and [`start_server`] over TCP, [`UnixServer`] and
//! [`start_unix_server`] over a Unix socket path, sharing one machinery.
//!
//! * `options`: what to bind and how ([`Hosts`], [`ServerOptions`]).
//! * `state`: the state a server's handles and tasks share, and `Kind`: what differs between
//!   TCP and Unix (the socket types, accepting, preparing a connection).
//! * `ops`: what a server does (start, close, end clients, wait, serve forever), once for both.
//! * `accept`: the accept loop, one task per listening socket.
//! * `conns`: one task per connection, and the connection count.
//! * `unix`: the Unix server.
//!
//! # Ground rules
//!
//! * One task per connection calls the handler (asyncio: `protocol_factory()` inside a task
//!   created per connection). The server counts connections from accept until that task ends.
//! * `close()` stops listening at once (the listening sockets are closed, new connects are
//!   refused; a Unix socket's path is removed if it is still ours) and leaves existing
//!   connections open (SRV-07). `wait_closed()` returns only when the server is closed *and*
//!   no connection remains (SRV-08, 3.12.1+ semantics).
//! * The accept loop accepts until `WouldBlock` (yielding after `backlog + 1` in a row), skips
//!   `ConnectionAborted`, and on `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` reports to the exception
//!   handler and pauses accepting for one second (asyncio `ACCEPT_RETRY_DELAY`).
//! * A handler that fails with an `io::Error` is logged at debug level only (asyncio does not
//!   send `OSError` from transports to the handler, EXC-04); any other error goes to the
//!   exception handler as `Unhandled exception in client_connected_cb` with the peer.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use self::options::resolve_hosts;
use self::state::{Handler, Inner, Kind};
use crate::context::try_current_core;
use crate::core::Core;
use crate::handle::CallbackResult;
use crate::net::inner::Control;
use crate::net::listener::{BoundSocket, TcpListener};
use crate::net::stream::TcpStream;
use crate::sys::{self, bind_error};

mod accept;
mod conns;
mod ops;
mod options;
mod state;
mod unix;

pub use self::options::{Hosts, ServerOptions};
pub use self::unix::{UnixServer, start_unix_server};

/// TCP servers.
pub(crate) struct Tcp;

impl Kind for Tcp {
    type Bound = BoundSocket;
    type Listener = TcpListener;
    type Stream = TcpStream;
    type Addr = SocketAddr;
    type Peer = SocketAddr;

    fn listen(
        bound: BoundSocket,
        core: &Rc<Core>,
        backlog: u32,
    ) -> Result<TcpListener, (BoundSocket, io::Error)> {
        bound.listen(core, backlog)
    }

    fn poll_accept(
        listener: &TcpListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        listener.poll_accept(cx)
    }

    fn control(stream: &TcpStream) -> Weak<dyn Control> {
        let inner: Rc<dyn Control> = stream.inner().clone();
        Rc::downgrade(&inner)
    }

    fn prepare(stream: &TcpStream) {
        // asyncio sets TCP_NODELAY on every TCP transport (SRV-06); WASI has no such option.
        let _ = stream.set_nodelay(true);
    }
}

/// Boxes a user's handler once.
fn boxed_handler<S, H, F, R>(handler: H) -> Handler<S>
where
    S: 'static,
    H: Fn(S) -> F + 'static,
    F: Future<Output = R> + 'static,
    R: CallbackResult,
{
    Rc::new(move |stream| {
        let fut = handler(stream);
        Box::pin(async move { fut.await.into_outcome() })
    })
}

/// A TCP server (asyncio `Server`). Cloning gives another handle to the same server.
///
/// ```
/// use wasio::net::{ServerOptions, TcpStream, start_server};
///
/// wasio::run(async {
///     let server = start_server(
///         |conn: TcpStream| async move {
///             let mut buf = [0u8; 64];
///             let n = conn.read(&mut buf).await?;
///             conn.write_all(&buf[..n]).await?;
///             conn.close().await
///         },
///         "127.0.0.1",
///         0,
///         ServerOptions::new(),
///     )
///     .await?;
///     let addr = server.sockets()[0];
///     let client = TcpStream::connect(addr).await?;
///     client.write_all(b"ping").await?;
///     let mut out = Vec::new();
///     client.read_to_end(&mut out).await?;
///     assert_eq!(out, b"ping");
///     server.close();
///     server.wait_closed().await;
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Rc<Inner<Tcp>>,
}

/// Binds `hosts` on `port` and returns a [`Server`] that runs `handler` in a task per
/// connection (asyncio `create_server` / `start_server`).
///
/// `handler` returns `()` or `Result<(), E>`. Bind errors name the address and the OS reason
/// and close the sockets already bound; an address whose family is unavailable
/// (`EADDRNOTAVAIL`) is skipped (SRV-05).
pub async fn start_server<H, F, R>(
    handler: H,
    hosts: impl Into<Hosts>,
    port: u16,
    options: ServerOptions,
) -> io::Result<Server>
where
    H: Fn(TcpStream) -> F + 'static,
    F: Future<Output = R> + 'static,
    R: CallbackResult,
{
    let core = try_current_core().map_err(io::Error::other)?;
    let addrs = resolve_hosts(hosts.into(), port).await?;
    let mut bound = Vec::with_capacity(addrs.len());
    let mut skipped = Vec::new();
    for addr in &addrs {
        match BoundSocket::bind(*addr, &options.listen) {
            Ok(s) => bound.push(s),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
            Err(e) if sys::net::is_addr_not_available(&e) => {
                tracing::debug!(target: "wasio", %addr, error = %e, "skipping address: family not available");
                skipped.push(*addr);
            }
            // Dropping `bound` closes the sockets bound so far.
            Err(e) => return Err(bind_error(*addr, e)),
        }
    }
    if bound.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("could not bind on any address out of {skipped:?}"),
        ));
    }
    let local: Vec<SocketAddr> = bound
        .iter()
        .map(BoundSocket::local_addr)
        .collect::<io::Result<_>>()?;
    let handler = boxed_handler(handler);
    let inner = Rc::new(Inner::new(&core, handler, options.backlog, bound, local));
    ops::finish_start(&inner, options.start_serving).await?;
    Ok(Server { inner })
}

impl Server {
    /// Starts accepting (idempotent; an error on a closed server).
    pub fn start_serving(&self) -> io::Result<()> {
        ops::start_serving(&self.inner)
    }

    /// Whether the server accepts connections.
    pub fn is_serving(&self) -> bool {
        self.inner.serving.get() && !self.inner.closed.get()
    }

    /// Whether [`close`](Server::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// The local addresses of the server's sockets (empty once closed).
    pub fn sockets(&self) -> Vec<SocketAddr> {
        self.inner.addrs.borrow().clone()
    }

    /// Connections currently open (accepted and not yet finished).
    pub fn active_connections(&self) -> usize {
        self.inner.active()
    }

    /// Stops listening now and leaves existing connections open; idempotent (SRV-07).
    pub fn close(&self) {
        ops::close(&self.inner);
    }

    /// Closes every client connection gracefully: the write side is shut down after what was
    /// written has gone out (nothing is discarded), and the connection tasks are cancelled
    /// (SRV-09).
    pub fn close_clients(&self) {
        ops::end_clients(&self.inner, false);
    }

    /// Aborts every client connection: reset, buffers discarded, tasks cancelled (SRV-09).
    pub fn abort_clients(&self) {
        ops::end_clients(&self.inner, true);
    }

    /// Waits until the server is closed and no connection remains (SRV-08). Once that has
    /// happened, later calls return at once.
    pub async fn wait_closed(&self) {
        ops::wait_closed(&self.inner).await
    }

    /// Serves until the server is closed (SRV-10). Starts serving if needed. Fails on a closed
    /// server and when another `serve_forever` is pending.
    ///
    /// If the task awaiting it is cancelled, the server is closed, `wait_closed` is awaited,
    /// and the cancellation goes on (asyncio re-raises `CancelledError`): the task ends
    /// cancelled, or an enclosing [`catch_cancel`](crate::task::catch_cancel) scope receives
    /// it. If this future is dropped instead, the server is closed.
    pub async fn serve_forever(&self) -> io::Result<()> {
        ops::serve_forever(&self.inner).await
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.sockets())
            .field("serving", &self.is_serving())
            .field("active", &self.active_connections())
            .finish()
    }
}
