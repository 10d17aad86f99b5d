//! Unix domain sockets on WASI: there are none (wasm32-wasip2 has no Unix domain sockets, and
//! `wasi:sockets` only knows IP). Every constructor returns `Unsupported` with a message naming
//! WASI; the types are uninhabited, so no other method can ever be called.

use std::io;
use std::net::Shutdown;
use std::path::{Path, PathBuf};

use super::{Driver, WaitHandle};
use crate::sys::Token;

/// A socket's address: its path, or `None` when unnamed.
pub(crate) type Addr = Option<PathBuf>;

/// No value: the types below cannot be constructed on WASI.
enum Void {}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} are not available on WASI (wasm32-wasip2 has no Unix domain sockets)"),
    )
}

/// Nothing to remove: no path can name a socket here.
pub(crate) fn remove_stale_socket(_path: &Path) {}

/// Uninhabited.
pub(crate) struct UnixListener {
    void: Void,
}

impl UnixListener {
    pub(crate) fn bind(_path: &Path) -> io::Result<UnixListener> {
        Err(unsupported("Unix stream listeners"))
    }
    pub(crate) fn listen(&mut self, _backlog: u32) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match self.void {}
    }
    pub(crate) fn try_accept(&self) -> io::Result<(UnixStream, Addr)> {
        match self.void {}
    }
    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self.void {}
    }
}

/// Uninhabited.
pub(crate) struct UnixStream {
    void: Void,
}

impl UnixStream {
    pub(crate) fn connect(_path: &Path) -> io::Result<UnixStream> {
        Err(unsupported("Unix stream sockets"))
    }
    pub(crate) fn pair() -> io::Result<(UnixStream, UnixStream)> {
        Err(unsupported("Unix stream socket pairs"))
    }
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match self.void {}
    }
    pub(crate) fn finish_connect(&mut self) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn try_read(&self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.void {}
    }
    pub(crate) fn try_write(&self, _buf: &[u8]) -> io::Result<usize> {
        match self.void {}
    }
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn take_unflushed(&mut self) -> Option<UnixStream> {
        match self.void {}
    }
    pub(crate) fn flush_blocking(&self, _limit: std::time::Duration) {
        match self.void {}
    }
    pub(crate) fn shutdown(&self, _how: Shutdown) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn shutdown_graceful(&self) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn abort(&self) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self.void {}
    }
    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self.void {}
    }
}

/// Uninhabited.
pub(crate) struct UnixDatagram {
    void: Void,
}

impl UnixDatagram {
    pub(crate) fn bind(_path: &Path) -> io::Result<UnixDatagram> {
        Err(unsupported("Unix datagram sockets"))
    }
    pub(crate) fn unbound() -> io::Result<UnixDatagram> {
        Err(unsupported("Unix datagram sockets"))
    }
    pub(crate) fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        Err(unsupported("Unix datagram socket pairs"))
    }
    pub(crate) fn connect(&self, _path: &Path) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match self.void {}
    }
    pub(crate) fn try_send(&self, _buf: &[u8]) -> io::Result<usize> {
        match self.void {}
    }
    pub(crate) fn try_send_to(&self, _buf: &[u8], _path: &Path) -> io::Result<usize> {
        match self.void {}
    }
    pub(crate) fn try_recv(&self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.void {}
    }
    pub(crate) fn try_recv_from(&self, _buf: &mut [u8]) -> io::Result<(usize, Addr)> {
        match self.void {}
    }
    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self.void {}
    }
    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self.void {}
    }
}
