//! Native UDP: socket2 creates and configures the socket, mio drives it.

use std::io;
use std::net::SocketAddr;

use mio::Interest;
use socket2::{Domain, Protocol, Socket, Type};

use super::{Driver, WaitHandle};
use crate::sys::{Token, UdpOptions};

/// Connecting while a task waits to receive is fine.
pub(crate) const CONNECT_WHILE_RECEIVING: bool = true;

/// A UDP socket, bound.
pub(crate) struct UdpSocket {
    socket: mio::net::UdpSocket,
}

impl UdpSocket {
    /// Creates a socket with the options and binds it to `addr` (asyncio
    /// `_create_datagram_endpoint`: `SO_REUSEPORT` and `SO_BROADCAST` on request, never
    /// `SO_REUSEADDR`).
    pub(crate) fn bind(addr: SocketAddr, opts: &UdpOptions) -> io::Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if opts.reuse_port {
            super::net::set_reuse_port(&socket)?;
        }
        if opts.broadcast {
            socket.set_broadcast(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let std: std::net::UdpSocket = socket.into();
        Ok(UdpSocket {
            socket: mio::net::UdpSocket::from_std(std),
        })
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        driver.registry().register(
            &mut self.socket,
            mio::Token(token.0),
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Nothing to wait on natively: mio watches the socket.
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    /// Associates the socket with `peer` (`connect(2)`): sends go there by default, and only
    /// its datagrams are received.
    pub(crate) fn connect(&mut self, peer: SocketAddr) -> io::Result<()> {
        self.socket.connect(peer)
    }

    /// Sends one datagram to `target`, or to the connected peer when `None`.
    pub(crate) fn try_send(&self, buf: &[u8], target: Option<SocketAddr>) -> io::Result<usize> {
        match target {
            Some(t) => self.socket.send_to(buf, t),
            None => self.socket.send(buf),
        }
    }

    /// Receives one datagram (truncated to `buf`).
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.peer_addr()
    }

    /// Sends go out within the call: nothing is ever left to flush.
    pub(crate) fn take_unflushed(&mut self) -> Option<UdpSocket> {
        None
    }

    /// Nothing to flush (see `take_unflushed`).
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Nothing to wait for (see `take_unflushed`).
    pub(crate) fn flush_blocking(&self, _limit: std::time::Duration) {}

    pub(crate) fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.socket.set_broadcast(on)
    }

    pub(crate) fn broadcast(&self) -> io::Result<bool> {
        self.socket.broadcast()
    }

    /// Adopts a std socket (made non-blocking).
    pub(crate) fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            socket: mio::net::UdpSocket::from_std(socket),
        })
    }
}
