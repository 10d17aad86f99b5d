//! [`TcpListener`]: a listening socket, and `BoundSocket`, a socket bound but not listening
//! yet (a server between `bind` and `start_serving`).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::context::try_current_core;
use crate::core::Core;
use crate::io::closable::Closable;
use crate::io::registration::Registration;
use crate::net::addrs::{ToSocketAddrs, first_that_works};
use crate::net::stream::TcpStream;
use crate::sys::{self, Direction, ListenOptions};

fn current_core() -> io::Result<Rc<Core>> {
    try_current_core().map_err(io::Error::other)
}

/// A socket bound but not yet listening (a server between `bind` and `start_serving`).
pub(crate) struct BoundSocket {
    sys: sys::net::TcpListener,
}

impl BoundSocket {
    pub(crate) fn bind(addr: SocketAddr, opts: &ListenOptions) -> io::Result<BoundSocket> {
        Ok(BoundSocket {
            sys: sys::net::TcpListener::bind(addr, opts)?,
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sys.local_addr()
    }

    /// Listens and registers with the running loop; on failure the socket comes back with the
    /// error (a server keeps it to try again).
    pub(crate) fn listen(
        mut self,
        core: &Rc<Core>,
        backlog: u32,
    ) -> Result<TcpListener, (BoundSocket, io::Error)> {
        if let Err(e) = self.sys.listen(backlog) {
            return Err((self, e));
        }
        TcpListener::registered(core, self.sys).map_err(|(sys, e)| (BoundSocket { sys }, e))
    }
}

/// A listening TCP socket.
///
/// Any number of tasks may `accept` on one listener at once: a new connection wakes them all,
/// one gets it and the others wait again. [`close`](TcpListener::close) (or dropping it) stops
/// listening; a task waiting in `accept` then gets a `NotConnected` error at once.
pub struct TcpListener {
    /// First: disarms the driver before the socket drops its WASI pollable.
    reg: Registration,
    sys: Closable<sys::net::TcpListener>,
}

/// Default listen backlog (asyncio `create_server`).
pub(crate) const DEFAULT_BACKLOG: u32 = 100;

impl TcpListener {
    /// Registers a listening backend socket with `core`.
    pub(crate) fn registered(
        core: &Rc<Core>,
        mut sys: sys::net::TcpListener,
    ) -> Result<TcpListener, (sys::net::TcpListener, io::Error)> {
        let s = &mut sys;
        let reg = match Registration::new(core, |driver, token| {
            s.register(driver, token)?;
            Ok(s.wait_handles())
        }) {
            Ok(reg) => reg,
            Err(e) => return Err((sys, e)),
        };
        Ok(TcpListener {
            reg,
            sys: Closable::new(sys, "the listener"),
        })
    }

    /// Binds to `addr` with `SO_REUSEADDR` and listens (backlog 100). `addr` is a
    /// `SocketAddr`, `"host:port"`, `(host, port)` or a list ([`ToSocketAddrs`]): each address
    /// is tried in turn, and the first that binds is used (the last error otherwise).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(addr, DEFAULT_BACKLOG).await
    }

    /// Binds and listens with an explicit backlog (the OS may round it up or cap it).
    pub async fn bind_with_backlog(
        addr: impl ToSocketAddrs,
        backlog: u32,
    ) -> io::Result<TcpListener> {
        first_that_works(&addr, |a| async move {
            let core = current_core()?;
            BoundSocket::bind(a, &ListenOptions::default())?
                .listen(&core, backlog)
                .map_err(|(_, e)| e)
        })
        .await
    }

    /// Accepts one connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for one connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (sys, peer) = match self
            .reg
            .poll_io(cx, Direction::Read, || self.sys.with(|s| s.try_accept()))
        {
            Poll::Ready(Ok(v)) => v,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let stream = TcpStream::accepted(&self.reg.core()?, sys)?;
        Poll::Ready(Ok((stream, peer)))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sys.with(|s| s.local_addr())
    }

    /// Stops listening now: new connects are refused, and every task waiting in
    /// [`accept`](TcpListener::accept) gets a `NotConnected` error at once, as does every later
    /// call. Idempotent; dropping the listener closes it too.
    pub fn close(&self) {
        self.sys.close(&self.reg);
    }

    /// Whether [`close`](TcpListener::close) was called.
    pub fn is_closed(&self) -> bool {
        self.sys.is_closed()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
