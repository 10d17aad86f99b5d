//! WASI UDP: `wasi:sockets/udp` datagram streams behind the same non-blocking interface as
//! the native backend.
//!
//! # Ground rules
//!
//! * The socket must be bound before `stream` (unlike POSIX): `bind` binds at once and opens
//!   unconnected streams; `connect` replaces them with streams limited to the peer.
//! * Sends never exceed the permit `check-send` gave just before (more traps); a permit of 0
//!   or a send of 0 datagrams is `WouldBlock`.
//! * A receive of no datagram is "not yet" (`WouldBlock`); the host never reports
//!   `would-block` itself.
//! * Field order is drop order: pollables (children of the streams), the streams (children of
//!   the socket), the socket. The shared layer disarms the driver before `connect` drops the
//!   old pollables, and declares its registration before this struct.

use std::io;
use std::net::SocketAddr;

use wasip2::io::poll::Pollable;
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{ErrorCode, IpAddressFamily};
use wasip2::sockets::udp::{
    IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket as WasiUdpSocket,
};
use wasip2::sockets::udp_create_socket::create_udp_socket;

use super::error::from_code;
use super::net::{from_wasi, to_wasi};
use super::{Driver, WaitHandle, wait_handle};
use crate::sys::wasi_shared::{check_udp_options, unavailable};
use crate::sys::{Token, UdpOptions};

/// Once the guest has polled for a datagram, wasmtime 48 keeps a receive running on the host
/// that holds the socket, and `udp-socket.stream` (connect) then traps the instance: the
/// shared layer refuses a connect while a task waits to receive.
pub(crate) const CONNECT_WHILE_RECEIVING: bool = false;

/// The datagram streams of a socket and their pollables, in drop order.
struct Streams {
    read_pollable: Pollable,
    write_pollable: Pollable,
    incoming: IncomingDatagramStream,
    outgoing: OutgoingDatagramStream,
}

impl Streams {
    fn open(socket: &WasiUdpSocket, peer: Option<SocketAddr>) -> io::Result<Streams> {
        let (incoming, outgoing) = socket.stream(peer.map(to_wasi)).map_err(from_code)?;
        Ok(Streams {
            read_pollable: incoming.subscribe(),
            write_pollable: outgoing.subscribe(),
            incoming,
            outgoing,
        })
    }
}

/// A bound UDP socket.
pub(crate) struct UdpSocket {
    /// Declared before `socket`: its children. `None` only between the two halves of
    /// `connect`.
    streams: Option<Streams>,
    /// The peer given to `connect`, if any.
    peer: Option<SocketAddr>,
    socket: WasiUdpSocket,
}

impl UdpSocket {
    /// Creates and binds a socket (wasi:sockets has no `SO_REUSEPORT` and no `SO_BROADCAST`:
    /// asking for them is an error, never ignored).
    pub(crate) fn bind(addr: SocketAddr, opts: &UdpOptions) -> io::Result<UdpSocket> {
        check_udp_options(opts)?;
        let family = if addr.is_ipv4() {
            IpAddressFamily::Ipv4
        } else {
            IpAddressFamily::Ipv6
        };
        let socket = create_udp_socket(family).map_err(from_code)?;
        let network = instance_network();
        socket
            .start_bind(&network, to_wasi(addr))
            .map_err(from_code)?;
        loop {
            match socket.finish_bind() {
                Ok(()) => break,
                Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
                Err(c) => return Err(from_code(c)),
            }
        }
        let streams = Streams::open(&socket, None)?;
        Ok(UdpSocket {
            streams: Some(streams),
            peer: None,
            socket,
        })
    }

    /// Nothing for the driver: the pollables exist from `bind` on.
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        Ok(())
    }

    /// Receives wait on the incoming stream, sends on the outgoing one.
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match &self.streams {
            Some(s) => [
                wait_handle(&s.read_pollable),
                wait_handle(&s.write_pollable),
            ],
            None => [None, None],
        }
    }

    /// Replaces the streams with ones limited to `peer` (the caller disarmed the old
    /// pollables and takes the new handles after).
    pub(crate) fn connect(&mut self, peer: SocketAddr) -> io::Result<()> {
        // The host may trap if the previous streams are still alive.
        drop(self.streams.take());
        match Streams::open(&self.socket, Some(peer)) {
            Ok(s) => {
                self.streams = Some(s);
                self.peer = Some(peer);
                Ok(())
            }
            Err(e) => {
                // Keep the socket usable as it was: unconnected streams again.
                self.streams = Streams::open(&self.socket, self.peer).ok();
                Err(e)
            }
        }
    }

    fn streams(&self) -> io::Result<&Streams> {
        self.streams
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the socket has no streams"))
    }

    /// Sends one datagram to `target`, or to the connected peer when `None`.
    pub(crate) fn try_send(&self, buf: &[u8], target: Option<SocketAddr>) -> io::Result<usize> {
        let s = self.streams()?;
        if s.outgoing.check_send().map_err(from_code)? == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // In connected mode the address must be absent (or the peer itself).
        let remote_address = match (self.peer, target) {
            (Some(p), Some(t)) if p == t => None,
            (_, t) => t.map(to_wasi),
        };
        let datagram = OutgoingDatagram {
            data: buf.to_vec(),
            remote_address,
        };
        match s.outgoing.send(&[datagram]).map_err(from_code)? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(buf.len()),
        }
    }

    /// Receives one datagram (truncated to `buf`).
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let s = self.streams()?;
        let mut got = s.incoming.receive(1).map_err(from_code)?;
        let Some(d) = got.pop() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = d.data.len().min(buf.len());
        buf[..n].copy_from_slice(&d.data[..n]);
        Ok((n, from_wasi(d.remote_address)))
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_address()
            .map(from_wasi)
            .map_err(from_code)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .remote_address()
            .map(from_wasi)
            .map_err(from_code)
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

    pub(crate) fn set_broadcast(&self, _on: bool) -> io::Result<()> {
        Err(unavailable("SO_BROADCAST"))
    }

    pub(crate) fn broadcast(&self) -> io::Result<bool> {
        Err(unavailable("SO_BROADCAST"))
    }
}
