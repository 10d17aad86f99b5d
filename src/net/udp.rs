//! [`UdpSocket`] and [`create_datagram_endpoint`]: datagrams driven by the loop's readiness.
//!
//! # Ground rules
//!
//! * One datagram per send and per receive; a receive into a buffer shorter than the datagram
//!   truncates it (as `recvfrom` does). An empty datagram is delivered as `Ok(0)`: for UDP a
//!   zero-length receive is a datagram, never "end of stream".
//! * A socket with a peer (`connect`, or `create_datagram_endpoint` with a remote address)
//!   sends to it by default; sending elsewhere is an `InvalidInput` error naming the peer
//!   (asyncio UDP-03). An error the network reports for that peer (ICMP port unreachable is
//!   `ConnectionRefused` natively) comes back from the next receive and leaves the socket open.
//! * Sends wait while the socket cannot take a datagram (natively the kernel queue, on WASI the
//!   `check-send` permit), instead of buffering them as asyncio's transports do.
//! * After [`close`](UdpSocket::close), every operation is a `NotConnected` error, never a
//!   panic.

use std::cell::Cell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::{Context, Poll};

use crate::context::try_current_core;
use crate::io::closable::Closable;
use crate::io::linger::{Unflushed, linger};
use crate::io::registration::Registration;
use crate::net::addrs::{ToSocketAddrs, first_that_works, resolve_one};
use crate::net::dns::lookup_host;
use crate::sys::{self, Direction, UdpOptions};

/// A UDP socket.
///
/// ```
/// use wasio::net::UdpSocket;
///
/// wasio::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct UdpSocket {
    /// First: disarms the driver before the socket drops its WASI pollables.
    reg: Registration,
    /// The backend socket, until closed.
    sys: Closable<sys::udp::UdpSocket>,
    /// Where sends go by default and the only address they may go to (asyncio `_address`):
    /// the connected peer, or the remote address of a broadcast endpoint.
    peer: Cell<Option<SocketAddr>>,
    /// `peer` is connected (sends go without an address), not just remembered.
    connected: Cell<bool>,
}

fn check_target(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot send to {addr}: the port and the address must be set"),
        ));
    }
    Ok(())
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0 picks one): a `SocketAddr`, `"host:port"`,
    /// `(host, port)` or a list ([`ToSocketAddrs`]); the first address that binds is used.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        first_that_works(&addr, |a| async move {
            UdpSocket::bind_with(a, &UdpOptions::default())
        })
        .await
    }

    fn bind_with(addr: SocketAddr, opts: &UdpOptions) -> io::Result<UdpSocket> {
        UdpSocket::registered(sys::udp::UdpSocket::bind(addr, opts)?)
    }

    /// Registers a backend socket with the running loop.
    pub(crate) fn registered(mut sys: sys::udp::UdpSocket) -> io::Result<UdpSocket> {
        let core = try_current_core().map_err(io::Error::other)?;
        let reg = Registration::new(&core, |driver, token| {
            sys.register(driver, token)?;
            Ok(sys.wait_handles())
        })?;
        Ok(UdpSocket {
            reg,
            sys: Closable::new(sys, "the UDP socket"),
            peer: Cell::new(None),
            connected: Cell::new(false),
        })
    }

    fn with_sys<R>(&self, f: impl FnOnce(&sys::udp::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        self.sys.with(f)
    }

    /// Associates the socket with `peer`: `send`/`recv` talk to it, datagrams from others are
    /// no longer received. May be called again to change the peer.
    pub async fn connect(&self, peer: impl ToSocketAddrs) -> io::Result<()> {
        let peer = resolve_one(&peer).await?;
        check_target(peer)?;
        if !sys::udp::CONNECT_WHILE_RECEIVING && self.reg.is_waiting(Direction::Read) {
            // WASI 0.2 in wasmtime 48 would trap the instance (divergence
            // `udp-connect-while-receiving`).
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "connecting a UDP socket while a task waits to receive on it is not supported on \
                 WASI 0.2 (wasmtime keeps the receive running on the host, and the connect would \
                 trap)",
            ));
        }
        self.sys.with_mut(|sys| {
            // The WASI streams (and their pollables) are replaced: disarm them first. Tasks
            // waiting to send are woken and wait again on the new ones.
            self.reg.set_handles(Default::default());
            let res = sys.connect(peer);
            self.reg.set_handles(sys.wait_handles());
            res
        })?;
        self.peer.set(Some(peer));
        self.connected.set(true);
        Ok(())
    }

    /// Polls to send one datagram to `target` (`None`: the peer).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: Option<SocketAddr>,
    ) -> Poll<io::Result<usize>> {
        let target = match (self.peer.get(), target) {
            (Some(p), Some(t)) if t != p => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("Invalid address: must be None or {p}"),
                )));
            }
            (Some(p), _) => Some(p),
            (None, Some(t)) => Some(t),
            (None, None) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "no destination: connect the socket or use send_to",
                )));
            }
        };
        if let Some(t) = target
            && let Err(e) = check_target(t)
        {
            return Poll::Ready(Err(e));
        }
        if self.is_closed() {
            return Poll::Ready(Err(self.sys.closed_error()));
        }
        // Connected: send to the peer the socket knows (POSIX `send`).
        let dest = if self.connected.get() { None } else { target };
        self.reg.poll_io(cx, Direction::Write, || {
            self.with_sys(|s| s.try_send(buf, dest))
        })
    }

    /// Sends one datagram to `target` (asyncio `sendto(data, addr)`); returns its length.
    /// `target` is a `SocketAddr`, `"host:port"` or `(host, port)` ([`ToSocketAddrs`]; a
    /// name is resolved first, and the first address is used).
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = resolve_one(&target).await?;
        poll_fn(|cx| self.poll_send_to(cx, buf, Some(target))).await
    }

    /// Sends one datagram to the peer (asyncio `sendto(data)`).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to(cx, buf, None)).await
    }

    /// Polls to receive one datagram.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        if self.is_closed() {
            return Poll::Ready(Err(self.sys.closed_error()));
        }
        self.reg
            .poll_io(cx, Direction::Read, || self.with_sys(|s| s.try_recv(buf)))
    }

    /// Receives one datagram and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Receives one datagram (from the peer, on a connected socket).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.with_sys(|s| s.local_addr())
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with_sys(|s| s.peer_addr())
    }

    /// Sets `SO_BROADCAST` (natively; `Unsupported` on WASI, which has no such option).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.with_sys(|s| s.set_broadcast(on))
    }

    /// Reads `SO_BROADCAST` (natively; `Unsupported` on WASI).
    pub fn broadcast(&self) -> io::Result<bool> {
        self.with_sys(|s| s.broadcast())
    }

    /// Closes the socket now; later operations are `NotConnected` errors. Idempotent.
    /// Dropping the socket closes it too.
    ///
    /// A task already waiting on the socket (in [`recv_from`](UdpSocket::recv_from),
    /// [`recv`](UdpSocket::recv), [`send_to`](UdpSocket::send_to) or [`send`](UdpSocket::send))
    /// is woken and gets the same `NotConnected` error at once.
    ///
    /// A datagram already reported sent is not lost: where the backend still holds it (a WASI
    /// 0.3 send in flight), an internal task keeps the socket until it is out, as the kernel
    /// does natively.
    pub fn close(&self) {
        if let Some(mut sys) = self.sys.take(&self.reg) {
            if let Some(rest) = sys.take_unflushed() {
                linger(self.reg.core().ok(), rest);
            }
            drop(sys);
        }
    }

    /// Whether [`close`](UdpSocket::close) was called.
    pub fn is_closed(&self) -> bool {
        self.sys.is_closed()
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.close();
    }
}

impl Unflushed for sys::udp::UdpSocket {
    fn register(&mut self, driver: &sys::Driver, token: sys::Token) -> io::Result<()> {
        sys::udp::UdpSocket::register(self, driver, token)
    }
    fn wait_handles(&self) -> [sys::WaitHandle; 2] {
        sys::udp::UdpSocket::wait_handles(self)
    }
    fn try_flush(&self) -> io::Result<()> {
        sys::udp::UdpSocket::try_flush(self)
    }
    fn flush_blocking(&self, limit: std::time::Duration) {
        sys::udp::UdpSocket::flush_blocking(self, limit)
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer.get())
            .field("closed", &self.is_closed())
            .finish()
    }
}

// ===== create_datagram_endpoint =====

/// An address family, for [`DatagramOptions::family`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    fn unspecified(self) -> SocketAddr {
        match self {
            Family::V4 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            Family::V6 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        }
    }
}

/// Options of [`create_datagram_endpoint`] (asyncio's keyword arguments).
#[derive(Debug, Clone, Default)]
pub struct DatagramOptions {
    local: Option<(String, u16)>,
    remote: Option<(String, u16)>,
    family: Option<Family>,
    reuse_port: bool,
    allow_broadcast: bool,
}

impl DatagramOptions {
    /// No address, no family, no option.
    pub fn new() -> DatagramOptions {
        DatagramOptions::default()
    }
    /// Binds to this host (name or literal) and port.
    pub fn local_addr(mut self, host: &str, port: u16) -> DatagramOptions {
        self.local = Some((host.to_owned(), port));
        self
    }
    /// Connects to this host and port (or, with `allow_broadcast`, only remembers it).
    pub fn remote_addr(mut self, host: &str, port: u16) -> DatagramOptions {
        self.remote = Some((host.to_owned(), port));
        self
    }
    /// Restricts the addresses to one family; required when neither address is given.
    pub fn family(mut self, family: Family) -> DatagramOptions {
        self.family = Some(family);
        self
    }
    /// `SO_REUSEPORT` (an error where unsupported, e.g. WASI).
    pub fn reuse_port(mut self, on: bool) -> DatagramOptions {
        self.reuse_port = on;
        self
    }
    /// `SO_BROADCAST`; the remote address is then remembered as the default destination
    /// instead of connected to (asyncio). Unsupported on WASI.
    pub fn allow_broadcast(mut self, on: bool) -> DatagramOptions {
        self.allow_broadcast = on;
        self
    }
}

/// Creates a datagram endpoint (asyncio `create_datagram_endpoint`): resolves the local and
/// remote addresses, and for each address family both give (in resolver order) creates a
/// socket, applies the options, binds the local address and connects the remote one; the first
/// that works is returned. If every family fails, the first error is returned and every
/// socket is closed.
///
/// Errors before any socket (UDP-01): no address and no family (`InvalidInput`, "unexpected
/// address family"); a local and a remote address with no family in common (`InvalidInput`,
/// "can not get address information"); a name that does not resolve.
///
/// ```
/// use wasio::net::{DatagramOptions, create_datagram_endpoint};
///
/// wasio::run(async {
///     let server = create_datagram_endpoint(&DatagramOptions::new().local_addr("127.0.0.1", 0)).await?;
///     let port = server.local_addr()?.port();
///     let client = create_datagram_endpoint(&DatagramOptions::new().remote_addr("127.0.0.1", port)).await?;
///     client.send(b"hello").await?;
///     let mut buf = [0u8; 16];
///     let (n, _) = server.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"hello");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub async fn create_datagram_endpoint(opts: &DatagramOptions) -> io::Result<UdpSocket> {
    let sock_opts = UdpOptions {
        reuse_port: opts.reuse_port,
        broadcast: opts.allow_broadcast,
    };
    let pairs = address_pairs(opts).await?;
    let mut first_error = None;
    for (family, local, remote) in pairs {
        let attempt = async {
            let bind_to = local.unwrap_or_else(|| family.unspecified());
            let sock = UdpSocket::bind_with(bind_to, &sock_opts)?;
            if let Some(r) = remote {
                if opts.allow_broadcast {
                    sock.peer.set(Some(r));
                } else {
                    sock.connect(r).await?;
                }
            }
            Ok::<_, io::Error>(sock)
        };
        match attempt.await {
            Ok(sock) => return Ok(sock),
            // A failed attempt's socket was dropped (closed) on the way out.
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| io::Error::other("no address to try")))
}

/// The `(family, local, remote)` triples to try, in the order the families first appear
/// (asyncio joins the resolved addresses by family; a later address of a family replaces an
/// earlier one, as in asyncio's `addr_infos[key][idx] = address`).
async fn address_pairs(
    opts: &DatagramOptions,
) -> io::Result<Vec<(Family, Option<SocketAddr>, Option<SocketAddr>)>> {
    if opts.local.is_none() && opts.remote.is_none() {
        let family = opts.family.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "unexpected address family")
        })?;
        return Ok(vec![(family, None, None)]);
    }
    let mut by_family: Vec<(Family, Option<SocketAddr>, Option<SocketAddr>)> = Vec::new();
    for (idx, addr) in [(0, &opts.local), (1, &opts.remote)] {
        let Some((host, port)) = addr else { continue };
        let resolved = lookup_host(host, *port).await?;
        for a in resolved {
            let fam = Family::of(&a);
            if opts.family.is_some_and(|f| f != fam) {
                continue;
            }
            let slot = match by_family.iter_mut().find(|(f, _, _)| *f == fam) {
                Some(s) => s,
                None => {
                    by_family.push((fam, None, None));
                    let last = by_family.len() - 1;
                    &mut by_family[last]
                }
            };
            if idx == 0 {
                slot.1 = Some(a);
            } else {
                slot.2 = Some(a);
            }
        }
    }
    // Each address given must have a member in the family (asyncio: "each addr has to have
    // info for each (family, proto) pair").
    by_family.retain(|(_, l, r)| {
        let missing_local = opts.local.is_some() && l.is_none();
        let missing_remote = opts.remote.is_some() && r.is_none();
        !missing_local && !missing_remote
    });
    if by_family.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "can not get address information",
        ));
    }
    Ok(by_family)
}
