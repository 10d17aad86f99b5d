//! Native TCP: socket2 creates and configures sockets, mio drives them.
//!
//! Every operation is non-blocking and returns `WouldBlock` when it would wait; the shared
//! layer (`net/tcp.rs`) then waits on the source's readiness and retries. mio is
//! edge-triggered, so the shared layer only waits after an operation said `WouldBlock`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use mio::Interest;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::{Driver, WaitHandle};
use crate::sys::{ListenOptions, Token, bind_error};

fn register(
    driver: &Driver,
    src: &mut impl mio::event::Source,
    token: Token,
    interest: Interest,
) -> io::Result<()> {
    driver
        .registry()
        .register(src, mio::Token(token.0), interest)
}

/// `SO_REUSEPORT`, or the asyncio error where it is missing (SRV-04).
#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
pub(crate) fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("reuse_port not supported by socket module, SO_REUSEPORT defined but not implemented: {e}"),
        )
    })
}

#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
pub(crate) fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "reuse_port not supported by socket module",
    ))
}

fn new_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A listening (or bound, not yet listening) socket.
pub(crate) struct TcpListener {
    state: ListenerState,
}

enum ListenerState {
    /// Bound; `listen` not called yet (asyncio binds in `create_server` and listens in
    /// `start_serving`).
    Bound(Socket),
    Listening(mio::net::TcpListener),
    /// Transitional state while switching; never observed outside `listen`.
    Empty,
}

impl TcpListener {
    /// Creates a socket with the options and binds it (SRV-04: `SO_REUSEADDR` unless disabled,
    /// `SO_REUSEPORT` on request, `IPV6_V6ONLY` on every IPv6 socket).
    pub(crate) fn bind(addr: SocketAddr, opts: &ListenOptions) -> io::Result<TcpListener> {
        let socket = new_socket(&addr)?;
        socket.set_reuse_address(opts.reuse_address)?;
        if opts.reuse_port {
            set_reuse_port(&socket)?;
        }
        if opts.keep_alive {
            socket.set_keepalive(true)?;
        }
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        Ok(TcpListener {
            state: ListenerState::Bound(socket),
        })
    }

    /// Adopts a listening std socket (`wasio::net::TcpListener::from_std`); the caller made it
    /// non-blocking.
    pub(crate) fn from_std(listener: std::net::TcpListener) -> TcpListener {
        TcpListener {
            state: ListenerState::Listening(mio::net::TcpListener::from_std(listener)),
        }
    }

    /// Starts listening.
    pub(crate) fn listen(&mut self, backlog: u32) -> io::Result<()> {
        match std::mem::replace(&mut self.state, ListenerState::Empty) {
            ListenerState::Bound(socket) => {
                let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
                if let Err(e) = socket.listen(backlog) {
                    self.state = ListenerState::Bound(socket);
                    return Err(e);
                }
                let std: std::net::TcpListener = socket.into();
                self.state = ListenerState::Listening(mio::net::TcpListener::from_std(std));
                Ok(())
            }
            other => {
                self.state = other;
                Ok(())
            }
        }
    }

    /// Registers for accept readiness (after `listen`).
    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        match &mut self.state {
            ListenerState::Listening(l) => register(driver, l, token, Interest::READABLE),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "listener is not listening",
            )),
        }
    }

    /// What accept waits on: nothing natively.
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    pub(crate) fn try_accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        match &self.state {
            ListenerState::Listening(l) => {
                let (stream, peer) = l.accept()?;
                // asyncio sets TCP_NODELAY on every TCP transport (SRV-06).
                let _ = stream.set_nodelay(true);
                Ok((TcpStream { stream }, peer))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "listener is not listening",
            )),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.state {
            ListenerState::Bound(s) => s
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("not an IP socket")),
            ListenerState::Listening(l) => l.local_addr(),
            ListenerState::Empty => Err(io::Error::other("listener in transition")),
        }
    }
}

/// A connected (or connecting) stream.
pub(crate) struct TcpStream {
    stream: mio::net::TcpStream,
}

impl TcpStream {
    /// Starts a non-blocking connect, optionally from `local`.
    pub(crate) fn connect(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
        let socket = new_socket(&addr)?;
        // asyncio sets TCP_NODELAY on every TCP transport, clients included (SRV-06): without
        // it, a request written in pieces waits on Nagle and the peer's delayed ACK.
        socket.set_tcp_nodelay(true)?;
        if let Some(local) = local {
            socket
                .bind(&local.into())
                .map_err(|e| bind_error(local, e))?;
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let std: std::net::TcpStream = socket.into();
        Ok(TcpStream {
            stream: mio::net::TcpStream::from_std(std),
        })
    }

    /// Adopts a connected std socket (`wasio::net::TcpStream::from_std`); the caller made it
    /// non-blocking.
    pub(crate) fn from_std(stream: std::net::TcpStream) -> TcpStream {
        TcpStream {
            stream: mio::net::TcpStream::from_std(stream),
        }
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        register(
            driver,
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// What reads and writes wait on: nothing natively.
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    /// After write readiness: `Ok` once connected, `WouldBlock` while in progress, or the
    /// connect error.
    pub(crate) fn finish_connect(&mut self) -> io::Result<()> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.stream).read(buf)
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.stream).write(buf)
    }

    /// Nothing is buffered in user space natively.
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Natively the kernel sends what was written even after the socket is closed: a dropped
    /// stream never needs to linger.
    pub(crate) fn take_unflushed(&mut self) -> Option<TcpStream> {
        None
    }

    /// Nothing to wait for (see `take_unflushed`).
    pub(crate) fn flush_blocking(&self, _limit: std::time::Duration) {}

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self.stream.shutdown(how) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    /// Ends the connection without losing written data: the kernel sends what is queued, then
    /// FIN.
    pub(crate) fn shutdown_graceful(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    /// Prepares a reset: with `SO_LINGER` 0 the close (when the owner drops the stream) sends
    /// RST and discards buffers. No shutdown here: it would send FIN first.
    pub(crate) fn abort(&self) -> io::Result<()> {
        SockRef::from(&self.stream).set_linger(Some(Duration::ZERO))
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.stream.set_nodelay(on)
    }

    /// Zero-copy `sendfile(2)` of at most `len` bytes of `file` from `*offset` (advanced by
    /// what was sent). `WouldBlock` when the socket is full; `Unsupported` where there is no
    /// such call.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn try_sendfile(
        &self,
        file: &std::fs::File,
        offset: &mut u64,
        len: usize,
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let mut off = libc::off_t::try_from(*offset).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "sendfile offset out of range")
        })?;
        // SAFETY: both descriptors are open for the duration of the call (`self` and `file`
        // are borrowed) and `off` is a valid, writable `off_t`.
        let n = unsafe { libc::sendfile(self.stream.as_raw_fd(), file.as_raw_fd(), &mut off, len) };
        if n < 0 {
            let e = io::Error::last_os_error();
            // Not possible for this pair of descriptors: the caller may fall back.
            if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
            ) {
                return Err(io::Error::new(io::ErrorKind::Unsupported, e));
            }
            return Err(e);
        }
        *offset = u64::try_from(off).unwrap_or(*offset);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// No `sendfile(2)` here: the caller falls back to reads and writes.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn try_sendfile(
        &self,
        _file: &std::fs::File,
        _offset: &mut u64,
        _len: usize,
    ) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sendfile(2) is not available on this platform",
        ))
    }

    pub(crate) fn nodelay(&self) -> io::Result<bool> {
        self.stream.nodelay()
    }
}

/// Whether an accept error means "out of resources": pause accepting (asyncio
/// `ACCEPT_RETRY_DELAY`) instead of spinning.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether a bind error means the address family is disabled (skip the address, bpo-30945).
pub(crate) fn is_addr_not_available(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrNotAvailable
        || matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT))
}
