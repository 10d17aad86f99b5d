//! [`UnixDatagram`]: a Unix datagram socket driven by the loop's readiness.
//!
//! Each receive takes one datagram (empty ones included: `Ok(0)` is an empty datagram, not an
//! end of stream) and leaves the readiness in place, since another datagram may be queued; a
//! receive that finds nothing (`WouldBlock`) clears it and waits.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::path::Path;

use super::UnixSocketAddr;
use crate::io::closable::Closable;
use crate::io::registration::Registration;
use crate::net::inner::current_core;
use crate::sys::{self, Direction};

/// A Unix datagram socket: bound to a path, unbound, or one end of a pair.
///
/// Dropping a socket bound to a path removes the path, unless it names another file by then.
/// On WASI every constructor returns `Unsupported`.
///
/// ```
/// use wasio::net::UnixDatagram;
///
/// wasio::run(async {
///     let (a, b) = UnixDatagram::pair()?;
///     a.send(b"one").await?;
///     a.send(b"").await?;
///     let mut buf = [0u8; 16];
///     assert_eq!(b.recv(&mut buf).await?, 3);
///     assert_eq!(b.recv(&mut buf).await?, 0, "an empty datagram");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct UnixDatagram {
    /// First: deregisters before the socket is closed and its path removed.
    reg: Registration,
    sys: Closable<sys::unix::UnixDatagram>,
}

impl UnixDatagram {
    fn registered(mut sys: sys::unix::UnixDatagram) -> io::Result<UnixDatagram> {
        let core = current_core()?;
        let s = &mut sys;
        let reg = Registration::new(&core, |driver, token| {
            s.register(driver, token)?;
            Ok(s.wait_handles())
        })?;
        Ok(UnixDatagram {
            reg,
            sys: Closable::new(sys, "the Unix datagram socket"),
        })
    }

    /// A socket bound to `path` (`AddrInUse` if something exists there).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::registered(sys::unix::UnixDatagram::bind(path.as_ref())?)
    }

    /// A socket with no address: it can send, and receive only from a peer it
    /// [`connect`](UnixDatagram::connect)ed to.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::registered(sys::unix::UnixDatagram::unbound()?)
    }

    /// A pair of connected, unnamed sockets (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = sys::unix::UnixDatagram::pair()?;
        Ok((UnixDatagram::registered(a)?, UnixDatagram::registered(b)?))
    }

    /// Sets the default peer of [`send`](UnixDatagram::send) and the only sender
    /// [`recv`](UnixDatagram::recv) accepts.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.sys.with(|s| s.connect(path.as_ref()))
    }

    /// Sends one datagram to the connected peer; returns its length.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            self.reg
                .poll_io(cx, Direction::Write, || self.sys.with(|s| s.try_send(buf)))
        })
        .await
    }

    /// Sends one datagram to the socket bound at `path`; returns its length.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        poll_fn(|cx| {
            self.reg.poll_io(cx, Direction::Write, || {
                self.sys.with(|s| s.try_send_to(buf, path))
            })
        })
        .await
    }

    /// Receives one datagram into `buf` (the rest of a longer one is discarded); returns its
    /// length, `0` for an empty datagram.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            self.reg
                .poll_io(cx, Direction::Read, || self.sys.with(|s| s.try_recv(buf)))
        })
        .await
    }

    /// Receives one datagram and the address of its sender (unnamed if it did not bind).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, UnixSocketAddr)> {
        let (n, from) = poll_fn(|cx| {
            self.reg.poll_io(cx, Direction::Read, || {
                self.sys.with(|s| s.try_recv_from(buf))
            })
        })
        .await?;
        Ok((n, UnixSocketAddr::new(from)))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        self.sys.with(|s| s.local_addr()).map(UnixSocketAddr::new)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        self.sys.with(|s| s.peer_addr()).map(UnixSocketAddr::new)
    }

    /// Closes the socket now (its path is removed if it is still ours): every task waiting to
    /// send or receive gets a `NotConnected` error at once, as does every later call.
    /// Idempotent; dropping the socket closes it too.
    pub fn close(&self) {
        self.sys.close(&self.reg);
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}
