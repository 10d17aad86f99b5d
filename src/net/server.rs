//! The asyncio-style TCP [`Server`] and [`start_server`].
//!
//! # Ground rules
//!
//! * One task per connection calls the handler (asyncio: `protocol_factory()` inside a task
//!   created per connection). The server counts connections from accept until that task ends.
//! * `close()` stops listening at once (the listening sockets are closed, new connects are
//!   refused) and leaves existing connections open (SRV-07). `wait_closed()` returns only when
//!   the server is closed *and* no connection remains (SRV-08, 3.12.1+ semantics).
//! * The accept loop accepts until `WouldBlock` (yielding after `backlog + 1` in a row), skips
//!   `ConnectionAborted`, and on `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` reports to the exception
//!   handler and pauses accepting for one second (asyncio `ACCEPT_RETRY_DELAY`).
//! * A handler that fails with an `io::Error` is logged at debug level only (asyncio does not
//!   send `OSError` from transports to the handler, EXC-04); any other error goes to the
//!   exception handler as `Unhandled exception in client_connected_cb` with the peer.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use super::dns::{dedup_in_order, lookup_host};
use super::tcp::{BoundSocket, DEFAULT_BACKLOG, StreamInner, TcpListener, TcpStream};
use super::{ListenOptions, bind_error};
use crate::event_loop::{Core, EventLoop, try_current_core};
use crate::exception::Context;
use crate::handle::{CallbackResult, Outcome};
use crate::sys;
use crate::task::{JoinHandle, catch_cancel};

/// asyncio `ACCEPT_RETRY_DELAY`.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Which hosts a server binds (SRV-03).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// All interfaces of both families (`0.0.0.0` and `::`): asyncio `host=None` or `''`.
    All,
    /// Every address each of these names or literals resolves to, duplicates bound once.
    List(Vec<String>),
}

impl From<&str> for Hosts {
    fn from(h: &str) -> Hosts {
        if h.is_empty() {
            Hosts::All
        } else {
            Hosts::List(vec![h.to_string()])
        }
    }
}
impl From<String> for Hosts {
    fn from(h: String) -> Hosts {
        Hosts::from(h.as_str())
    }
}
impl From<Option<&str>> for Hosts {
    fn from(h: Option<&str>) -> Hosts {
        h.map_or(Hosts::All, Hosts::from)
    }
}
impl From<IpAddr> for Hosts {
    fn from(ip: IpAddr) -> Hosts {
        Hosts::List(vec![ip.to_string()])
    }
}
impl From<Vec<String>> for Hosts {
    fn from(v: Vec<String>) -> Hosts {
        Hosts::List(v)
    }
}
impl From<Vec<&str>> for Hosts {
    fn from(v: Vec<&str>) -> Hosts {
        Hosts::List(v.into_iter().map(str::to_string).collect())
    }
}
impl From<&[&str]> for Hosts {
    fn from(v: &[&str]) -> Hosts {
        Hosts::List(v.iter().map(|s| s.to_string()).collect())
    }
}
impl<const N: usize> From<[&str; N]> for Hosts {
    fn from(v: [&str; N]) -> Hosts {
        Hosts::List(v.iter().map(|s| s.to_string()).collect())
    }
}

/// Options of [`start_server`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    listen: ListenOptions,
    backlog: u32,
    start_serving: bool,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            listen: ListenOptions::default(),
            backlog: DEFAULT_BACKLOG,
            start_serving: true,
        }
    }
}

impl ServerOptions {
    /// `reuse_address` on, `reuse_port` off, backlog 100, serving at once.
    pub fn new() -> ServerOptions {
        ServerOptions::default()
    }
    /// `SO_REUSEADDR` (default on). On WASI `bind` always sets it, so `false` is an error there.
    pub fn reuse_address(mut self, on: bool) -> ServerOptions {
        self.listen.reuse_address = on;
        self
    }
    /// `SO_REUSEPORT` (default off); an error where unsupported (WASI).
    pub fn reuse_port(mut self, on: bool) -> ServerOptions {
        self.listen.reuse_port = on;
        self
    }
    /// `SO_KEEPALIVE` on the listening socket, inherited by accepted sockets.
    pub fn keep_alive(mut self, on: bool) -> ServerOptions {
        self.listen.keep_alive = on;
        self
    }
    /// The listen backlog (default 100).
    pub fn backlog(mut self, backlog: u32) -> ServerOptions {
        self.backlog = backlog;
        self
    }
    /// Start accepting before `start_server` returns (default) or only on
    /// [`Server::start_serving`] / [`Server::serve_forever`].
    pub fn start_serving(mut self, on: bool) -> ServerOptions {
        self.start_serving = on;
        self
    }
    /// The backlog.
    pub fn get_backlog(&self) -> u32 {
        self.backlog
    }
}

type Handler = Rc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = Outcome>>>>;

/// One accepted connection, as the server tracks it.
struct Conn {
    stream: Weak<StreamInner>,
    task: Option<JoinHandle<()>>,
}

struct Inner {
    core: Weak<Core>,
    handler: Handler,
    backlog: u32,
    /// Bound, not yet listening.
    bound: RefCell<Vec<BoundSocket>>,
    /// Listening sockets, by index of their accept task; `None` once closed.
    listeners: RefCell<Vec<Option<TcpListener>>>,
    accept_tasks: RefCell<Vec<JoinHandle<()>>>,
    /// Local addresses of every socket, in bind order.
    addrs: RefCell<Vec<SocketAddr>>,
    serving: Cell<bool>,
    closed: Cell<bool>,
    conns: RefCell<Vec<Option<Conn>>>,
    /// Free slots of `conns`.
    free: RefCell<Vec<usize>>,
    active: Cell<usize>,
    /// `wait_closed` has completed once: later calls return at once.
    done: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
    /// A `serve_forever` is pending.
    serving_forever: Cell<bool>,
    serve_waker: RefCell<Option<Waker>>,
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
    inner: Rc<Inner>,
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
    let handler: Handler = Rc::new(move |stream| {
        let fut = handler(stream);
        Box::pin(async move { fut.await.into_outcome() })
    });
    let server = Server {
        inner: Rc::new(Inner {
            core: Rc::downgrade(&core),
            handler,
            backlog: options.backlog,
            bound: RefCell::new(bound),
            listeners: RefCell::new(Vec::new()),
            accept_tasks: RefCell::new(Vec::new()),
            addrs: RefCell::new(local),
            serving: Cell::new(false),
            closed: Cell::new(false),
            conns: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            active: Cell::new(0),
            done: Cell::new(false),
            waiters: RefCell::new(Vec::new()),
            serving_forever: Cell::new(false),
            serve_waker: RefCell::new(None),
        }),
    };
    if options.start_serving {
        server.start_serving()?;
        // asyncio awaits sleep(0) here: the accept loops get their first turn.
        crate::time::yield_now().await;
    }
    Ok(server)
}

async fn resolve_hosts(hosts: Hosts, port: u16) -> io::Result<Vec<SocketAddr>> {
    let mut addrs = match hosts {
        Hosts::All => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        ],
        Hosts::List(list) => {
            if list.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no host to bind: give at least one host, or Hosts::All",
                ));
            }
            let mut out = Vec::new();
            for h in &list {
                if h.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "empty host name",
                    ));
                }
                out.extend(lookup_host(h, port).await?);
            }
            out
        }
    };
    dedup_in_order(&mut addrs);
    Ok(addrs)
}

impl Server {
    fn core(&self) -> io::Result<Rc<Core>> {
        self.inner
            .core
            .upgrade()
            .ok_or_else(|| io::Error::other(crate::Error::closed()))
    }

    /// Starts accepting (idempotent; an error on a closed server).
    pub fn start_serving(&self) -> io::Result<()> {
        if self.inner.closed.get() {
            return Err(io::Error::other("server is closed"));
        }
        if self.inner.serving.get() {
            return Ok(());
        }
        let core = self.core()?;
        let bound = std::mem::take(&mut *self.inner.bound.borrow_mut());
        let mut listeners = Vec::with_capacity(bound.len());
        for b in bound {
            listeners.push(b.listen(&core, self.inner.backlog)?);
        }
        let first = self.inner.listeners.borrow().len();
        self.inner
            .listeners
            .borrow_mut()
            .extend(listeners.into_iter().map(Some));
        let count = self.inner.listeners.borrow().len();
        for i in first..count {
            let weak = Rc::downgrade(&self.inner);
            let name = format!("wasio-accept-{i}");
            let task = core.spawn_local(Some(name.into()), accept_loop(weak, i));
            self.inner.accept_tasks.borrow_mut().push(task);
        }
        self.inner.serving.set(true);
        Ok(())
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
        self.inner.active.get()
    }

    /// Stops listening now and leaves existing connections open; idempotent (SRV-07).
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closed.replace(true) {
            return;
        }
        inner.serving.set(false);
        inner.addrs.borrow_mut().clear();
        let bound = std::mem::take(&mut *inner.bound.borrow_mut());
        let listeners = std::mem::take(&mut *inner.listeners.borrow_mut());
        let tasks = std::mem::take(&mut *inner.accept_tasks.borrow_mut());
        // Closing the sockets first refuses new connects at once.
        drop(bound);
        drop(listeners);
        for t in &tasks {
            t.cancel();
        }
        drop(tasks);
        if let Some(w) = inner.serve_waker.borrow_mut().take() {
            w.wake();
        }
        inner.maybe_done();
    }

    /// Closes every client connection gracefully: the write side is shut down after what was
    /// written has gone out (nothing is discarded), and the connection tasks are cancelled
    /// (SRV-09).
    pub fn close_clients(&self) {
        for (stream, task) in self.inner.take_conns() {
            if let Some(s) = stream {
                let _ = s.close_gracefully();
            }
            if let Some(t) = task {
                t.cancel();
            }
        }
    }

    /// Aborts every client connection: reset, buffers discarded, tasks cancelled (SRV-09).
    pub fn abort_clients(&self) {
        for (stream, task) in self.inner.take_conns() {
            if let Some(s) = stream {
                let _ = s.abort();
            }
            if let Some(t) = task {
                t.cancel();
            }
        }
    }

    /// Waits until the server is closed and no connection remains (SRV-08). Once that has
    /// happened, later calls return at once.
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            let inner = &self.inner;
            if inner.done.get() {
                return Poll::Ready(());
            }
            let mut waiters = inner.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Serves until the server is closed (SRV-10). Starts serving if needed. Fails on a closed
    /// server and when another `serve_forever` is pending.
    ///
    /// If the task awaiting it is cancelled, the server is closed, `wait_closed` is awaited,
    /// and the cancellation goes on to the task (it ends at its next `.await`); the call
    /// returns an `Interrupted` error. If this future is dropped instead, the server is closed.
    pub async fn serve_forever(&self) -> io::Result<()> {
        if self.inner.closed.get() {
            return Err(io::Error::other("server is closed"));
        }
        if self.inner.serving_forever.get() {
            return Err(io::Error::other(
                "server is already being awaited on serve_forever()",
            ));
        }
        self.start_serving()?;
        self.inner.serving_forever.set(true);
        let guard = ServeGuard(self.clone(), true);
        let until_closed = poll_fn(|cx| {
            if self.inner.closed.get() {
                Poll::Ready(())
            } else {
                *self.inner.serve_waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        match catch_cancel(until_closed).await {
            Ok(()) => {
                drop(guard);
                Ok(())
            }
            Err(_cancelled) => {
                self.close();
                self.wait_closed().await;
                drop(guard);
                crate::task::cancel_current();
                Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "serve_forever cancelled; the server is closed",
                ))
            }
        }
    }
}

/// Clears the `serve_forever` flag; closes the server if the future was dropped mid-way.
struct ServeGuard(Server, bool);

impl Drop for ServeGuard {
    fn drop(&mut self) {
        self.0.inner.serving_forever.set(false);
        if std::thread::panicking() {
            return;
        }
        if self.1 && !self.0.inner.closed.get() {
            self.0.close();
        }
    }
}

impl Inner {
    fn maybe_done(&self) {
        if self.closed.get() && self.active.get() == 0 && !self.done.replace(true) {
            let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
        }
    }

    #[allow(clippy::type_complexity, reason = "a private pair of optional handles")]
    fn take_conns(&self) -> Vec<(Option<Rc<StreamInner>>, Option<JoinHandle<()>>)> {
        let mut conns = self.conns.borrow_mut();
        conns
            .iter_mut()
            .filter_map(|c| c.as_mut())
            .map(|c| (c.stream.upgrade(), c.task.take()))
            .collect()
    }

    fn report(&self, ctx: Context) {
        if let Some(core) = self.core.upgrade() {
            EventLoop::from_core(core).call_exception_handler(ctx);
        }
    }
}

/// Ends a connection's accounting when its task ends (completed, cancelled or destroyed).
struct ConnGuard {
    server: Rc<Inner>,
    slot: usize,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let s = &self.server;
        let removed = s
            .conns
            .try_borrow_mut()
            .ok()
            .and_then(|mut c| c.get_mut(self.slot).and_then(Option::take));
        if removed.is_some() {
            s.free.borrow_mut().push(self.slot);
        }
        drop(removed);
        s.active.set(s.active.get().saturating_sub(1));
        s.maybe_done();
    }
}

fn spawn_connection(server: &Rc<Inner>, stream: TcpStream, peer: SocketAddr) {
    let Some(core) = server.core.upgrade() else {
        return;
    };
    // asyncio sets TCP_NODELAY on every TCP transport (SRV-06); WASI has no such option.
    let _ = stream.set_nodelay(true);
    let weak = Rc::downgrade(stream.inner());
    let slot = {
        let mut conns = server.conns.borrow_mut();
        let conn = Conn {
            stream: weak,
            task: None,
        };
        match server.free.borrow_mut().pop() {
            Some(i) => {
                conns[i] = Some(conn);
                i
            }
            None => {
                conns.push(Some(conn));
                conns.len() - 1
            }
        }
    };
    server.active.set(server.active.get() + 1);
    let guard = ConnGuard {
        server: server.clone(),
        slot,
    };
    let handler = server.handler.clone();
    let task = core.spawn_local(None, async move {
        let guard = guard;
        match handler(stream).await {
            Ok(()) => {}
            Err(e) => {
                if let Some(io) = e.downcast_ref::<io::Error>() {
                    tracing::debug!(target: "wasio", %peer, error = %io, "connection ended with an I/O error");
                } else {
                    guard.server.report(
                        Context::new("Unhandled exception in client_connected_cb")
                            .with_error(e)
                            .with("peer", peer),
                    );
                }
            }
        }
    });
    if let Some(Some(c)) = server.conns.borrow_mut().get_mut(slot) {
        c.task = Some(task);
    }
}

/// Consecutive accept errors (other than resource exhaustion) after which the loop pauses
/// anyway, so a persistent error cannot spin.
const ERRORS_BEFORE_PAUSE: u32 = 100;

async fn accept_loop(server: Weak<Inner>, index: usize) {
    let mut in_a_row: u32 = 0;
    let mut errors_in_a_row: u32 = 0;
    loop {
        let res = poll_fn(|cx| {
            let Some(s) = server.upgrade() else {
                return Poll::Ready(None);
            };
            let listeners = s.listeners.borrow();
            match listeners.get(index) {
                Some(Some(l)) => l.poll_accept(cx).map(Some),
                _ => Poll::Ready(None),
            }
        })
        .await;
        let Some(s) = server.upgrade() else { return };
        match res {
            None => return,
            Some(Ok((stream, peer))) => {
                errors_in_a_row = 0;
                spawn_connection(&s, stream, peer);
                in_a_row += 1;
                if in_a_row > s.backlog {
                    in_a_row = 0;
                    drop(s);
                    crate::time::yield_now().await;
                }
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Some(Err(e)) => {
                in_a_row = 0;
                errors_in_a_row += 1;
                let addr = s.addrs.borrow().get(index).copied();
                let exhausted = sys::net::is_resource_exhaustion(&e);
                let message = if exhausted {
                    "socket.accept() out of system resource"
                } else {
                    "Error on accepting a connection"
                };
                s.report(Context::new(message).with_error(e).with(
                    "socket",
                    addr.map_or_else(|| "?".to_string(), |a| a.to_string()),
                ));
                drop(s);
                // asyncio pauses accepting only when out of resources; other errors are
                // reported and accepting goes on (a persistent one is paused after a while).
                if exhausted || errors_in_a_row >= ERRORS_BEFORE_PAUSE {
                    errors_in_a_row = 0;
                    crate::time::sleep(ACCEPT_RETRY_DELAY).await;
                } else {
                    crate::time::yield_now().await;
                }
            }
        }
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
