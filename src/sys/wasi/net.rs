//! WASI TCP: `wasi:sockets/tcp` state machines behind the same non-blocking interface as the
//! native backend.
//!
//! # Ground rules
//!
//! * Two-phase operations (`start_bind`/`finish_bind`, `start_listen`/`finish_listen`,
//!   `start_connect`/`finish_connect`) return `WouldBlock` until the socket's pollable is ready:
//!   that is ordinary control flow, mapped to `io::ErrorKind::WouldBlock`.
//! * Writes never exceed the permit `check_write` gave just before (more traps).
//! * An empty read is "no data yet", never EOF; `StreamError::Closed` is EOF.
//! * Child resources are dropped before their parents. Each struct here owns its pollables and
//!   declares its fields child-first (pollables, then streams, then the socket), so any drop,
//!   in any state, at any time (even while the loop itself is being dropped), is in order.
//!   The driver only holds aliases of armed pollables, which the shared registration disarms
//!   before this struct is dropped.

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr};

use wasip2::io::poll::Pollable;
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::tcp::{ShutdownType, TcpSocket};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

use super::error::{from_code, from_stream};
use super::{Driver, WaitHandle, wait_handle};
use crate::sys::wasi_shared::{check_listen_options, no_nodelay, no_sendfile};
use crate::sys::{ListenOptions, Token, bind_error};

// ===== address conversions =====

crate::sys::wasi_shared::address_conversions!();

fn family(addr: &SocketAddr) -> IpAddressFamily {
    if addr.is_ipv4() {
        IpAddressFamily::Ipv4
    } else {
        IpAddressFamily::Ipv6
    }
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

/// Binds `socket` to `addr`, finishing the two-phase bind at once (wasmtime completes binds
/// synchronously; a host that does not gets one blocking wait on the socket's pollable).
fn bind_now(socket: &TcpSocket, addr: SocketAddr) -> io::Result<()> {
    let network = instance_network();
    socket
        .start_bind(&network, to_wasi(addr))
        .map_err(from_code)?;
    loop {
        match socket.finish_bind() {
            Ok(()) => return Ok(()),
            Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
            Err(c) => return Err(from_code(c)),
        }
    }
}

// ===== listener =====

/// A bound or listening socket.
pub(crate) struct TcpListener {
    /// Accept readiness; created by `register`. Declared first: a child of `socket`.
    pollable: Option<Pollable>,
    socket: TcpSocket,
    listening: bool,
}

impl TcpListener {
    /// Creates and binds a socket. wasi:sockets `bind` always sets `SO_REUSEADDR` and IPv6
    /// sockets are always v6-only (PLAT-02); options the host cannot provide are errors.
    pub(crate) fn bind(addr: SocketAddr, opts: &ListenOptions) -> io::Result<TcpListener> {
        check_listen_options(opts)?;
        let socket = create_tcp_socket(family(&addr)).map_err(from_code)?;
        if opts.keep_alive {
            socket.set_keep_alive_enabled(true).map_err(from_code)?;
        }
        bind_now(&socket, addr)?;
        Ok(TcpListener {
            pollable: None,
            socket,
            listening: false,
        })
    }

    /// Starts listening (two-phase, completed here).
    pub(crate) fn listen(&mut self, backlog: u32) -> io::Result<()> {
        if self.listening {
            return Ok(());
        }
        // The backlog is a hint; a host that refuses to change it keeps its default.
        let _ = self
            .socket
            .set_listen_backlog_size(u64::from(backlog.max(1)));
        self.socket.start_listen().map_err(from_code)?;
        loop {
            match self.socket.finish_listen() {
                Ok(()) => break,
                Err(ErrorCode::WouldBlock) => self.socket.subscribe().block(),
                Err(c) => return Err(from_code(c)),
            }
        }
        self.listening = true;
        Ok(())
    }

    /// Subscribes to accept readiness (the driver needs nothing).
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        if self.pollable.is_none() {
            self.pollable = Some(self.socket.subscribe());
        }
        Ok(())
    }

    /// Accept waits on the socket's pollable; nothing is written.
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [self.pollable.as_ref().and_then(wait_handle), None]
    }

    pub(crate) fn try_accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, input, output) = self.socket.accept().map_err(from_code)?;
        let peer = socket.remote_address().map_err(from_code)?;
        let mut stream = TcpStream::empty();
        stream.streams = Some(Streams { input, output });
        stream.socket = Some(socket);
        Ok((stream, from_wasi(peer)))
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_address()
            .map(from_wasi)
            .map_err(from_code)
    }
}

// ===== stream =====

/// The streams of a connected socket (children of the socket).
struct Streams {
    input: InputStream,
    output: OutputStream,
}

/// A connected (or connecting) stream.
///
/// Field order is drop order: the stream pollables (children of the streams), the streams,
/// the connect pollable (a child of the socket), the socket.
pub(crate) struct TcpStream {
    /// Read readiness, once connected.
    read_pollable: Option<Pollable>,
    /// Write readiness, once connected.
    write_pollable: Option<Pollable>,
    /// `None` while connecting (and once handed to a lingering owner).
    streams: Option<Streams>,
    /// Connect readiness, while connecting; kept until the end (it may still be armed).
    connect_pollable: Option<Pollable>,
    /// A `flush` was requested and has not completed yet.
    flush_pending: Cell<bool>,
    /// Written since the last completed flush: the host may still be sending it.
    dirty: Cell<bool>,
    /// `None` only once handed to a lingering owner.
    socket: Option<TcpSocket>,
}

impl TcpStream {
    fn empty() -> TcpStream {
        TcpStream {
            read_pollable: None,
            write_pollable: None,
            streams: None,
            connect_pollable: None,
            flush_pending: Cell::new(false),
            dirty: Cell::new(false),
            socket: None,
        }
    }

    /// Starts a connect (two-phase: finished by [`finish_connect`](Self::finish_connect)).
    pub(crate) fn connect(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
        let socket = create_tcp_socket(family(&addr)).map_err(from_code)?;
        if let Some(local) = local {
            bind_now(&socket, local).map_err(|e| bind_error(local, e))?;
        }
        let network = instance_network();
        socket
            .start_connect(&network, to_wasi(addr))
            .map_err(from_code)?;
        let mut stream = TcpStream::empty();
        stream.socket = Some(socket);
        Ok(stream)
    }

    /// Subscribes: to the socket while connecting, to the streams once connected (the driver
    /// needs nothing).
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match &self.streams {
            Some(s) => {
                if self.read_pollable.is_none() {
                    self.read_pollable = Some(s.input.subscribe());
                    self.write_pollable = Some(s.output.subscribe());
                }
            }
            None => {
                if self.connect_pollable.is_none() {
                    self.connect_pollable = Some(self.socket()?.subscribe());
                }
            }
        }
        Ok(())
    }

    /// Reads wait on the input stream; writes on the output stream, or on the socket while
    /// connecting.
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        let read = self.read_pollable.as_ref().and_then(wait_handle);
        let write = match (&self.write_pollable, &self.connect_pollable) {
            (Some(p), _) | (None, Some(p)) => wait_handle(p),
            (None, None) => None,
        };
        [read, write]
    }

    /// `Ok` once connected (with the stream pollables subscribed: the caller takes the new
    /// [`wait_handles`](Self::wait_handles)), `WouldBlock` while in progress, or the connect
    /// error.
    pub(crate) fn finish_connect(&mut self) -> io::Result<()> {
        if self.streams.is_some() {
            return Ok(());
        }
        match self.socket()?.finish_connect() {
            Ok((input, output)) => {
                self.read_pollable = Some(input.subscribe());
                self.write_pollable = Some(output.subscribe());
                self.streams = Some(Streams { input, output });
                Ok(())
            }
            Err(ErrorCode::WouldBlock) => Err(would_block()),
            Err(c) => Err(from_code(c)),
        }
    }

    fn socket(&self) -> io::Result<&TcpSocket> {
        self.socket
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    fn streams(&self) -> io::Result<&Streams> {
        self.streams
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let s = self.streams()?;
        let want = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        match s.input.read(want) {
            Ok(data) if data.is_empty() => Err(would_block()),
            Ok(data) => {
                // The host never returns more than asked for; be safe anyway.
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Ok(n)
            }
            Err(StreamError::Closed) => Ok(0),
            Err(e) => Err(from_stream(e)),
        }
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let s = self.streams()?;
        let permit = s.output.check_write().map_err(write_error)?;
        if permit == 0 {
            return Err(would_block());
        }
        let n = usize::try_from(permit).unwrap_or(usize::MAX).min(buf.len());
        s.output.write(&buf[..n]).map_err(write_error)?;
        self.dirty.set(true);
        Ok(n)
    }

    /// Requests a flush and reports `WouldBlock` until the host has written everything.
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        let Some(s) = &self.streams else {
            return Ok(());
        };
        if !self.flush_pending.get() {
            s.output.flush().map_err(write_error)?;
            self.flush_pending.set(true);
        }
        match s.output.check_write() {
            Ok(0) => Err(would_block()),
            Ok(_) => {
                self.flush_pending.set(false);
                self.dirty.set(false);
                Ok(())
            }
            Err(e) => {
                self.flush_pending.set(false);
                Err(write_error(e))
            }
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => ShutdownType::Receive,
            Shutdown::Write => ShutdownType::Send,
            Shutdown::Both => ShutdownType::Both,
        };
        match self.socket()?.shutdown(how) {
            Ok(()) | Err(ErrorCode::InvalidState) => Ok(()),
            Err(c) => Err(from_code(c)),
        }
    }

    /// Ends the connection without losing written data: shuts the send side down when
    /// nothing is queued; otherwise the owner's drop hands the queue to the linger task, which
    /// flushes first.
    pub(crate) fn shutdown_graceful(&self) -> io::Result<()> {
        if self.dirty.get() {
            return Ok(());
        }
        self.shutdown(Shutdown::Write)
    }

    /// No `SO_LINGER` on WASI: the closest to an abort is shutting both directions down.
    pub(crate) fn abort(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Both)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket()?
            .remote_address()
            .map(from_wasi)
            .map_err(from_code)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket()?
            .local_address()
            .map(from_wasi)
            .map_err(from_code)
    }

    pub(crate) fn set_nodelay(&self, _on: bool) -> io::Result<()> {
        Err(no_nodelay())
    }

    /// WASI has no zero-copy file transfer for a `std::fs::File` (its descriptor is
    /// wasi-libc's, not a `wasi:filesystem` resource a stream could be spliced from): the
    /// caller falls back to reads and writes.
    pub(crate) fn try_sendfile(
        &self,
        _file: &std::fs::File,
        _offset: &mut u64,
        _len: usize,
    ) -> io::Result<usize> {
        Err(no_sendfile())
    }

    pub(crate) fn nodelay(&self) -> io::Result<bool> {
        Err(no_nodelay())
    }
}

impl TcpStream {
    /// The host sends writes in the background and drops what is still queued when the output
    /// stream goes. A stream with unflushed writes that is being dropped hands everything it
    /// owns to a new value, which the caller keeps until the flush completes (so that a
    /// dropped stream loses nothing, as a closed socket does natively). `None` when nothing is
    /// pending.
    pub(crate) fn take_unflushed(&mut self) -> Option<TcpStream> {
        if !self.dirty.get() || self.streams.is_none() {
            return None;
        }
        Some(std::mem::replace(self, TcpStream::empty()))
    }

    /// Waits, blocking the guest, until the host has written what is queued, at most `limit`
    /// (the loop that would have flushed it through its tasks is closed). Errors end it: the
    /// data could not be sent anyway.
    pub(crate) fn flush_blocking(&self, limit: std::time::Duration) {
        let Some(pollable) = &self.write_pollable else {
            return;
        };
        let deadline = std::time::Instant::now() + limit;
        loop {
            match self.try_flush() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(()) | Err(_) => return,
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                tracing::warn!(target: "wasio", "a stream dropped while the loop closed was not flushed within {limit:?}; its last writes are lost");
                return;
            }
            let ns = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
            let timer = wasip2::clocks::monotonic_clock::subscribe_duration(ns);
            wasip2::io::poll::poll(&[pollable, &timer]);
        }
    }
}

fn write_error(e: StreamError) -> io::Error {
    match e {
        StreamError::Closed => io::Error::new(io::ErrorKind::BrokenPipe, "output stream closed"),
        other => from_stream(other),
    }
}

/// WASI never reports `EMFILE` as such during accept; `new-socket-limit` is the closest.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    e.to_string().contains("new-socket-limit") || e.kind() == io::ErrorKind::OutOfMemory
}

/// `address-not-bindable` means the family/address is not available here: skip it.
pub(crate) fn is_addr_not_available(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrNotAvailable
}
