//! Unix domain sockets: [`UnixStream`] (with its owned halves), [`UnixListener`] and
//! [`UnixDatagram`], as asyncio's `create_unix_connection` / `create_unix_server` and tokio's
//! types of the same names.
//!
//! # Ground rules
//!
//! * The same API on both targets. Natively they are mio sockets driven by the loop's
//!   readiness like the TCP ones; wasm32-wasip2 has no Unix domain sockets, so there every
//!   constructor returns `io::ErrorKind::Unsupported` with a message naming WASI.
//! * A listener or datagram socket bound to a path removes that path when it is dropped (a
//!   server: when it is closed), but only if the path still names the socket file its bind
//!   created (same device and inode): a path removed or replaced by another file since is never
//!   touched (asyncio's cleanup rule for Unix servers).
//! * Addresses are [`UnixSocketAddr`]: a path, or unnamed (a socket never bound, a socketpair
//!   end; Linux abstract addresses read as unnamed too).
//! * Constructors need the running loop, as every wasio socket: outside one they fail with an
//!   error wrapping [`Error::is_no_running_loop`](crate::Error::is_no_running_loop).

use std::fmt;
use std::path::{Path, PathBuf};

mod datagram;
mod listener;
mod stream;

pub use self::datagram::UnixDatagram;
pub(crate) use self::listener::UnixBound;
pub use self::listener::UnixListener;
pub use self::stream::{OwnedReadHalf, OwnedWriteHalf, UnixStream};

/// The address of a Unix domain socket: a path, or unnamed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixSocketAddr {
    path: Option<PathBuf>,
}

impl UnixSocketAddr {
    pub(crate) fn new(path: Option<PathBuf>) -> UnixSocketAddr {
        UnixSocketAddr { path }
    }

    /// The path, for a socket bound to one.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether the socket has no path (never bound, a socketpair end, or an abstract address).
    pub fn is_unnamed(&self) -> bool {
        self.path.is_none()
    }
}

impl fmt::Debug for UnixSocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{p:?} (pathname)"),
            None => f.write_str("(unnamed)"),
        }
    }
}

impl fmt::Display for UnixSocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}", p.display()),
            None => f.write_str("(unnamed)"),
        }
    }
}
