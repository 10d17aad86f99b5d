//! WASI 0.3 TCP: `wasi:sockets@0.3` sockets behind the same non-blocking interface as the
//! other backends; the listener here, the connected stream in `stream.rs`.
//!
//! # Ground rules
//!
//! * Reads: a read that cannot complete at once is cancelled (nothing is lost: a cancelled
//!   read hands back what it got), and a 0-length read waits instead: it completes when data
//!   or the end of the stream arrives, holds no buffer, and is what an idle connection keeps in
//!   the waitable set. The end of the stream is reported with the receive future's verdict: a
//!   graceful close is `Ok(0)`, a reset is its error.
//! * Writes: symmetric with reads. A write that cannot complete at once is cancelled (the
//!   cancel hands back what the host did not take), so `try_write` returns exactly what the
//!   host took, and a 0-length write waits for writability. Nothing is ever queued on our
//!   side: `try_flush` has nothing to wait for and a dropped stream loses nothing.
//! * Every operation in flight is cancelled, with the reactor installed, before the streams
//!   and the socket go.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

use wasip3::sockets::types::TcpSocket;
use wasip3::wit_bindgen::StreamReader;

use super::addr::{family, from_wasi, not_connected, to_wasi, would_block};
use super::error::from_code;
use super::{Driver, Kick, Op, WaitHandle, Wakers, drop_op, poll_op};
use crate::sys::wasi_shared::check_listen_options;
use crate::sys::{Direction, ListenOptions, Token};

pub(crate) use super::stream::TcpStream;

// ===== listener =====

/// What an accept in flight gives back: the stream of connections, and the next one.
type Accept = (StreamReader<TcpSocket>, Option<TcpSocket>);

#[derive(Default)]
struct ListenerInner {
    wakers: Option<Wakers>,
    /// Field order is drop order: the operation, then the stream it reads.
    accept: Option<Op<Accept>>,
    /// A connection an accept started by `kick` completed with at once.
    accepted: Option<TcpSocket>,
    /// The stream of connections (`None` before `listen`, or while an accept holds it).
    incoming: Option<StreamReader<TcpSocket>>,
    /// The host ended the stream of connections.
    ended: bool,
}

impl Drop for ListenerInner {
    fn drop(&mut self) {
        drop_op(self.accept.take());
    }
}

struct ListenerState {
    inner: RefCell<ListenerInner>,
    socket: TcpSocket,
}

impl ListenerState {
    /// Takes the next connection: `Pending` with an accept in flight.
    fn advance(&self) -> Poll<io::Result<TcpSocket>> {
        let mut s = self.inner.borrow_mut();
        if let Some(sock) = s.accepted.take() {
            return Poll::Ready(Ok(sock));
        }
        let Some(waker) = s.wakers.as_ref().map(|w| w.read.clone()) else {
            return Poll::Ready(Err(not_connected()));
        };
        let mut op = match s.accept.take() {
            Some(op) => op,
            None => {
                let Some(mut incoming) = s.incoming.take() else {
                    return Poll::Ready(Err(if s.ended {
                        io::Error::new(io::ErrorKind::BrokenPipe, "the listener was closed")
                    } else {
                        io::Error::new(io::ErrorKind::InvalidInput, "the socket is not listening")
                    }));
                };
                Box::pin(async move {
                    let next = incoming.next().await;
                    (incoming, next)
                })
            }
        };
        match poll_op(&mut op, &waker) {
            Poll::Pending => {
                s.accept = Some(op);
                Poll::Pending
            }
            Poll::Ready((incoming, next)) => {
                s.incoming = Some(incoming);
                match next {
                    Some(sock) => Poll::Ready(Ok(sock)),
                    None => {
                        s.ended = true;
                        drop(s.incoming.take());
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::BrokenPipe,
                            "the host ended the stream of connections",
                        )))
                    }
                }
            }
        }
    }
}

impl Kick for ListenerState {
    fn kick(&self, dir: Direction) {
        if dir != Direction::Read {
            return;
        }
        let ready = match self.advance() {
            Poll::Pending => false,
            Poll::Ready(Ok(sock)) => {
                self.inner.borrow_mut().accepted = Some(sock);
                true
            }
            Poll::Ready(Err(_)) => true,
        };
        if ready && let Some(w) = &self.inner.borrow().wakers {
            w.read.wake_by_ref();
        }
    }
}

/// A bound or listening socket.
pub(crate) struct TcpListener {
    state: Rc<ListenerState>,
}

impl TcpListener {
    /// Creates and binds a socket. As with WASI 0.2, `bind` always sets `SO_REUSEADDR` and IPv6
    /// sockets are v6-only (PLAT-02); options the host cannot provide are errors.
    pub(crate) fn bind(addr: SocketAddr, opts: &ListenOptions) -> io::Result<TcpListener> {
        check_listen_options(opts)?;
        let socket = TcpSocket::create(family(&addr)).map_err(from_code)?;
        if opts.keep_alive {
            socket.set_keep_alive_enabled(true).map_err(from_code)?;
        }
        socket.bind(to_wasi(addr)).map_err(from_code)?;
        Ok(TcpListener {
            state: Rc::new(ListenerState {
                inner: RefCell::new(ListenerInner::default()),
                socket,
            }),
        })
    }

    pub(crate) fn listen(&mut self, backlog: u32) -> io::Result<()> {
        if self.state.socket.get_is_listening() {
            return Ok(());
        }
        // The backlog is a hint; a host that refuses to change it keeps its default.
        let _ = self
            .state
            .socket
            .set_listen_backlog_size(u64::from(backlog.max(1)));
        let incoming = self.state.socket.listen().map_err(from_code)?;
        self.state.inner.borrow_mut().incoming = Some(incoming);
        Ok(())
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        let wakers = driver.attach(token, &self.state);
        self.state.inner.borrow_mut().wakers = Some(wakers);
        Ok(())
    }

    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [Some(()), None]
    }

    pub(crate) fn try_accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        match self.state.advance() {
            Poll::Pending => Err(would_block()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Ready(Ok(sock)) => {
                let peer = sock.get_remote_address().map_err(from_code)?;
                Ok((TcpStream::connected(sock), from_wasi(peer)))
            }
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.state
            .socket
            .get_local_address()
            .map(from_wasi)
            .map_err(from_code)
    }
}

/// WASI 0.3 has no `new-socket-limit`; running out of memory is the closest.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::OutOfMemory
}

/// `address-not-bindable` means the family/address is not available here: skip it.
pub(crate) fn is_addr_not_available(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrNotAvailable
}
