//! Native Unix domain sockets: socket2 creates listeners (bound first, listening later, as the
//! TCP ones), mio drives every socket.
//!
//! # Ground rules
//!
//! * Every operation is non-blocking and returns `WouldBlock` when it would wait, as in
//!   `net.rs`; the shared layer waits on readiness and retries.
//! * A socket bound to a path records the device and inode of the file the bind created. When
//!   the socket is dropped it is closed first, then the path is unlinked only if it still names
//!   that same file (asyncio's cleanup rule for Unix servers, which compares the inode recorded
//!   at bind). A path that was removed, or replaced by another file or socket, is left alone.
//! * Addresses are reported as the path, or `None` for an unnamed socket (never bound, a
//!   socketpair end, or a Linux abstract address).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use mio::Interest;
use socket2::{Domain, SockAddr, Socket, Type};

use super::{Driver, WaitHandle};
use crate::sys::Token;

/// A socket's address: its path, or `None` when unnamed.
pub(crate) type Addr = Option<PathBuf>;

fn addr_of(a: &std::os::unix::net::SocketAddr) -> Addr {
    a.as_pathname().map(Path::to_path_buf)
}

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

/// The file a bind created, unlinked on drop if the path still names it.
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Records what `path` names right after a bind. `None` (nothing to clean up) when it
    /// cannot be read: an abstract address, or a directory we may create in but not stat.
    fn record(path: &Path) -> Option<SocketFile> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {
                if let Err(err) = std::fs::remove_file(&self.path) {
                    tracing::warn!(target: "wasio", path = %self.path.display(), %err, "unable to clean up a Unix socket path");
                }
            }
            Ok(_) => {
                tracing::debug!(target: "wasio", path = %self.path.display(), "socket path now names another file: left alone");
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(target: "wasio", path = %self.path.display(), %err, "unable to check a Unix socket path before cleaning it up");
            }
        }
    }
}

/// Removes a stale socket file at `path` before a server binds there (asyncio
/// `create_unix_server`): only a socket is removed, never another kind of file. Errors are
/// logged, not returned; the bind then reports what is wrong.
pub(crate) fn remove_stale_socket(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if let Err(err) = std::fs::remove_file(path) {
                tracing::warn!(target: "wasio", path = %path.display(), %err, "unable to remove a stale Unix socket");
            }
        }
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(target: "wasio", path = %path.display(), %err, "unable to check for a stale Unix socket");
        }
    }
}

// ===== listener =====

/// A bound, then listening, Unix stream socket.
pub(crate) struct UnixListener {
    /// Declared first: the socket is closed before its path is unlinked.
    state: ListenerState,
    /// Held for its drop: removes the path if it is still ours.
    _file: Option<SocketFile>,
}

enum ListenerState {
    Bound(Socket),
    Listening(mio::net::UnixListener),
    /// Transitional state while switching; never observed outside `listen`.
    Empty,
}

impl UnixListener {
    /// Creates a socket and binds it to `path` (not listening yet).
    pub(crate) fn bind(path: &Path) -> io::Result<UnixListener> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SockAddr::unix(path)?)?;
        let file = SocketFile::record(path);
        Ok(UnixListener {
            state: ListenerState::Bound(socket),
            _file: file,
        })
    }

    /// Starts listening (idempotent).
    pub(crate) fn listen(&mut self, backlog: u32) -> io::Result<()> {
        match std::mem::replace(&mut self.state, ListenerState::Empty) {
            ListenerState::Bound(socket) => {
                let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
                if let Err(e) = socket.listen(backlog) {
                    self.state = ListenerState::Bound(socket);
                    return Err(e);
                }
                let std: std::os::unix::net::UnixListener = socket.into();
                self.state = ListenerState::Listening(mio::net::UnixListener::from_std(std));
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

    pub(crate) fn try_accept(&self) -> io::Result<(UnixStream, Addr)> {
        match &self.state {
            ListenerState::Listening(l) => {
                let (stream, peer) = l.accept()?;
                Ok((UnixStream { stream }, addr_of(&peer)))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "listener is not listening",
            )),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match &self.state {
            ListenerState::Bound(s) => Ok(s.local_addr()?.as_pathname().map(Path::to_path_buf)),
            ListenerState::Listening(l) => Ok(addr_of(&l.local_addr()?)),
            ListenerState::Empty => Err(io::Error::other("listener in transition")),
        }
    }
}

// ===== stream =====

/// A connected (or connecting) Unix stream socket.
pub(crate) struct UnixStream {
    stream: mio::net::UnixStream,
}

impl UnixStream {
    /// Starts a non-blocking connect. A listener whose backlog is full makes Linux answer
    /// `EAGAIN` at once; that is returned as is (kind `WouldBlock`), with the path named.
    pub(crate) fn connect(path: &Path) -> io::Result<UnixStream> {
        match mio::net::UnixStream::connect(path) {
            Ok(stream) => Ok(UnixStream { stream }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "connect to {}: the listener's backlog is full ({e})",
                    path.display()
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// A connected pair (`socketpair`).
    pub(crate) fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream { stream: a }, UnixStream { stream: b }))
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

    /// The kernel keeps what was written after a close: nothing ever needs to linger.
    pub(crate) fn take_unflushed(&mut self) -> Option<UnixStream> {
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

    /// Ends the connection without losing written data.
    pub(crate) fn shutdown_graceful(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    /// Ends the connection in both directions at once. A Unix socket has no reset: what was
    /// written already sits in the peer's receive queue, so nothing can be discarded.
    pub(crate) fn abort(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Both)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        Ok(addr_of(&self.stream.peer_addr()?))
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        Ok(addr_of(&self.stream.local_addr()?))
    }
}

// ===== datagram =====

/// A Unix datagram socket, bound to a path or unnamed.
pub(crate) struct UnixDatagram {
    /// Declared first: the socket is closed before its path is unlinked.
    socket: mio::net::UnixDatagram,
    /// Held for its drop: removes the path if it is still ours.
    _file: Option<SocketFile>,
}

impl UnixDatagram {
    pub(crate) fn bind(path: &Path) -> io::Result<UnixDatagram> {
        let socket = mio::net::UnixDatagram::bind(path)?;
        let file = SocketFile::record(path);
        Ok(UnixDatagram {
            socket,
            _file: file,
        })
    }

    pub(crate) fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            socket: mio::net::UnixDatagram::unbound()?,
            _file: None,
        })
    }

    pub(crate) fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((
            UnixDatagram {
                socket: a,
                _file: None,
            },
            UnixDatagram {
                socket: b,
                _file: None,
            },
        ))
    }

    pub(crate) fn connect(&self, path: &Path) -> io::Result<()> {
        self.socket.connect(path)
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        register(
            driver,
            &mut self.socket,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// What receives and sends wait on: nothing natively.
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [(), ()]
    }

    pub(crate) fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf)
    }

    pub(crate) fn try_send_to(&self, buf: &[u8], path: &Path) -> io::Result<usize> {
        self.socket.send_to(buf, path)
    }

    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf)
    }

    pub(crate) fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Addr)> {
        let (n, from) = self.socket.recv_from(buf)?;
        Ok((n, addr_of(&from)))
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        Ok(addr_of(&self.socket.local_addr()?))
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        Ok(addr_of(&self.socket.peer_addr()?))
    }
}
