//! WASI 0.3 UDP: `udp-socket.send` / `receive` (async imports) behind the non-blocking
//! interface of the other backends.
//!
//! One receive and one send at most in flight. A receive that cannot complete at once stays
//! in flight (it holds no buffer of ours) and its datagram is handed out by the next
//! `try_recv`; a send that cannot complete at once stays in flight with the datagram it owns,
//! and the direction is writable again once it completes (its error, if any, is reported by
//! the next send).
//!
//! Nothing in flight is ever cancelled while the socket lives, because a cancelled operation
//! can lose what it carries: the results of a receive the host already completed are dropped
//! by the cancel, and a cancelled send may never go out. So `connect` keeps the receive in
//! flight and filters what it brings (only the peer's datagrams are delivered), and a socket
//! dropped with a send in flight lingers until it is out (`take_unflushed`).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

use wasip3::sockets::types::{ErrorCode, IpSocketAddress, UdpSocket as WasiUdp};

use super::addr::{family, from_wasi, to_wasi, would_block};
use super::error::from_code;
use super::{Driver, Kick, Op, WaitHandle, Wakers, drop_op, poll_op};
use crate::sys::wasi_shared::{check_udp_options, unavailable};
use crate::sys::{Direction, Token, UdpOptions};

/// Connecting while a task waits to receive is fine: the receive in flight goes on, and the
/// waiter gets the peer's next datagram.
pub(crate) const CONNECT_WHILE_RECEIVING: bool = true;

type Received = Result<(Vec<u8>, IpSocketAddress), ErrorCode>;

#[derive(Default)]
struct Inner {
    wakers: Option<Wakers>,
    recv: Option<Op<Received>>,
    /// A datagram a receive started by `kick` completed with at once.
    received: Option<Received>,
    send: Option<Op<Result<(), ErrorCode>>>,
    /// The error of a send that completed in flight, for the next send.
    send_error: Option<io::Error>,
    /// The connected peer: a datagram from anyone else (received by a receive started before
    /// the connect) is dropped, as a connected socket's kernel queue would.
    peer: Option<SocketAddr>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop_op(self.recv.take());
        drop_op(self.send.take());
    }
}

struct State {
    inner: RefCell<Inner>,
    socket: Rc<WasiUdp>,
}

impl State {
    fn poll_recv(&self, s: &mut Inner) -> Poll<Received> {
        if let Some(r) = s.received.take() {
            return Poll::Ready(r);
        }
        let Some(waker) = s.wakers.as_ref().map(|w| w.read.clone()) else {
            return Poll::Pending;
        };
        loop {
            let mut op = match s.recv.take() {
                Some(op) => op,
                None => {
                    let socket = self.socket.clone();
                    let op: Op<Received> = Box::pin(async move { socket.receive().await });
                    op
                }
            };
            match poll_op(&mut op, &waker) {
                Poll::Pending => {
                    s.recv = Some(op);
                    return Poll::Pending;
                }
                Poll::Ready(Ok((_, from))) if s.peer.is_some_and(|p| from_wasi(from) != p) => {
                    // Received for a sender the socket no longer talks to: the next one.
                    continue;
                }
                Poll::Ready(r) => return Poll::Ready(r),
            }
        }
    }

    /// Drives the send in flight: `Ready` once there is none.
    fn poll_sent(&self, s: &mut Inner) -> Poll<()> {
        let Some(op) = &mut s.send else {
            return Poll::Ready(());
        };
        let Some(waker) = s.wakers.as_ref().map(|w| w.write.clone()) else {
            return Poll::Pending;
        };
        match poll_op(op, &waker) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                s.send = None;
                if let Err(code) = r {
                    s.send_error = Some(from_code(code));
                }
                Poll::Ready(())
            }
        }
    }
}

impl Kick for State {
    fn kick(&self, dir: Direction) {
        let mut s = self.inner.borrow_mut();
        let ready = match dir {
            Direction::Read => match self.poll_recv(&mut s) {
                Poll::Pending => false,
                Poll::Ready(r) => {
                    s.received = Some(r);
                    true
                }
            },
            Direction::Write => self.poll_sent(&mut s).is_ready(),
        };
        let waker = s.wakers.as_ref().map(|w| w.get(dir).clone());
        drop(s);
        if ready && let Some(w) = waker {
            w.wake();
        }
    }
}

/// A bound UDP socket.
pub(crate) struct UdpSocket {
    state: Rc<State>,
    peer: Option<SocketAddr>,
}

impl UdpSocket {
    /// Creates and binds a socket (wasi:sockets has no `SO_REUSEPORT` and no `SO_BROADCAST`:
    /// asking for them is an error, never ignored).
    pub(crate) fn bind(addr: SocketAddr, opts: &UdpOptions) -> io::Result<UdpSocket> {
        check_udp_options(opts)?;
        let socket = WasiUdp::create(family(&addr)).map_err(from_code)?;
        socket.bind(to_wasi(addr)).map_err(from_code)?;
        Ok(UdpSocket {
            state: Rc::new(State {
                inner: RefCell::new(Inner::default()),
                socket: Rc::new(socket),
            }),
            peer: None,
        })
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        let wakers = driver.attach(token, &self.state);
        self.state.inner.borrow_mut().wakers = Some(wakers);
        Ok(())
    }

    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [Some(()), Some(())]
    }

    /// Limits the socket to `peer`. A receive in flight stays in flight (cancelling it could
    /// drop a datagram the host already received for it); from now on only the peer's
    /// datagrams are delivered, whoever's it brings.
    pub(crate) fn connect(&mut self, peer: SocketAddr) -> io::Result<()> {
        self.state
            .socket
            .connect(to_wasi(peer))
            .map_err(from_code)?;
        let mut s = self.state.inner.borrow_mut();
        s.peer = Some(peer);
        // A datagram already received is kept if the new peer sent it, as a connected
        // socket's queue would keep it.
        if let Some(Ok((_, from))) = &s.received
            && from_wasi(*from) != peer
        {
            s.received = None;
        }
        drop(s);
        self.peer = Some(peer);
        Ok(())
    }

    /// Sends one datagram to `target`, or to the connected peer when `None`.
    pub(crate) fn try_send(&self, buf: &[u8], target: Option<SocketAddr>) -> io::Result<usize> {
        let st = &self.state;
        let mut s = st.inner.borrow_mut();
        if st.poll_sent(&mut s).is_pending() {
            return Err(would_block());
        }
        if let Some(e) = s.send_error.take() {
            return Err(e);
        }
        // In connected mode the address must be absent (or the peer itself).
        let remote = match (self.peer, target) {
            (Some(p), Some(t)) if p == t => None,
            (_, t) => t.map(to_wasi),
        };
        let socket = st.socket.clone();
        let data = buf.to_vec();
        s.send = Some(Box::pin(async move { socket.send(data, remote).await }));
        if st.poll_sent(&mut s).is_ready()
            && let Some(e) = s.send_error.take()
        {
            return Err(e);
        }
        Ok(buf.len())
    }

    /// Receives one datagram (truncated to `buf`).
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let st = &self.state;
        let mut s = st.inner.borrow_mut();
        match st.poll_recv(&mut s) {
            Poll::Pending => Err(would_block()),
            Poll::Ready(Err(code)) => Err(from_code(code)),
            Poll::Ready(Ok((data, from))) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Ok((n, from_wasi(from)))
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

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.state
            .socket
            .get_remote_address()
            .map(from_wasi)
            .map_err(from_code)
    }

    /// A send still in flight (reported sent: `try_send` returned its length) would be
    /// cancelled with the socket: hand the socket's state to a new value the caller keeps
    /// (the shared layer's linger task) until the send completes. `None` when nothing is in
    /// flight.
    pub(crate) fn take_unflushed(&mut self) -> Option<UdpSocket> {
        self.state.inner.borrow().send.as_ref()?;
        Some(UdpSocket {
            state: self.state.clone(),
            peer: self.peer,
        })
    }

    /// `WouldBlock` while a send is in flight; then its error, if it failed.
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        let st = &self.state;
        let mut s = st.inner.borrow_mut();
        if st.poll_sent(&mut s).is_pending() {
            return Err(would_block());
        }
        match s.send_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The loop is closed: a send still in flight is cancelled with the socket (a waitable
    /// cannot be waited on outside the loop's reactor here). Not reached through
    /// `wasio::run`, which lets the linger task finish first.
    pub(crate) fn flush_blocking(&self, _limit: std::time::Duration) {}

    pub(crate) fn set_broadcast(&self, _on: bool) -> io::Result<()> {
        Err(unavailable("SO_BROADCAST"))
    }

    pub(crate) fn broadcast(&self) -> io::Result<bool> {
        Err(unavailable("SO_BROADCAST"))
    }
}
