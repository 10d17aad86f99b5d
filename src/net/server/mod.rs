//! The asyncio-style TCP [`Server`] and [`start_server`].
//!
//! * `options`: what to bind and how ([`Hosts`], [`ServerOptions`]).
//! * `state`: the state a server's handles and tasks share.
//! * `accept`: the accept loop, one task per listening socket.
//! * `conns`: one task per connection, and the connection count.
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
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

use slab::Slab;

use self::accept::accept_loop;
use self::options::resolve_hosts;
use self::state::{Handler, Inner};
use crate::context::try_current_core;
use crate::core::Core;
use crate::handle::CallbackResult;
use crate::net::listener::BoundSocket;
use crate::net::stream::TcpStream;
use crate::sys::{self, bind_error};
use crate::task::cancel::catch_cancel;
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;

mod accept;
mod conns;
mod options;
mod state;

pub use self::options::{Hosts, ServerOptions};

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
            conns: RefCell::new(Slab::new()),
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

impl Server {
    fn core(&self) -> io::Result<Rc<Core>> {
        self.inner
            .core
            .upgrade()
            .ok_or_else(|| io::Error::other(crate::error::Error::closed()))
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
            let task = spawn_on(
                &core,
                Some(name.into()),
                TaskKind::User,
                accept_loop(weak, i),
            );
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
        self.inner.active()
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
    /// and the cancellation goes on (asyncio re-raises `CancelledError`): the task ends
    /// cancelled, or an enclosing [`catch_cancel`](crate::task::catch_cancel) scope receives
    /// it. If this future is dropped instead, the server is closed.
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
            Err(cancelled) => {
                self.close();
                self.wait_closed().await;
                drop(guard);
                match cancelled.propagate().await {}
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

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.sockets())
            .field("serving", &self.is_serving())
            .field("active", &self.active_connections())
            .finish()
    }
}
