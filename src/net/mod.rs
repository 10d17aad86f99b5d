//! Networking: TCP streams and listeners, the asyncio-style [`Server`], name resolution and
//! Happy Eyeballs connect.
//!
//! The same API on both targets: natively mio + socket2 sockets, on wasm32-wasip2
//! `wasi:sockets`. Where the platform cannot provide an option (WASI has no `TCP_NODELAY`, no
//! `SO_REUSEPORT`, no way to turn `SO_REUSEADDR` off), asking for it is an error, never
//! silently ignored.

mod connect;
mod dns;
mod server;
mod tcp;

pub use self::connect::{
    ConnectOptions, DEFAULT_HAPPY_EYEBALLS_DELAY, connect, connect_addrs, interleave_addrs,
};
pub use self::dns::{lookup_host, resolve};
pub use self::server::{Hosts, Server, ServerOptions, start_server};
pub use self::tcp::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};

/// `OSError(errno, 'error while attempting to bind on address ...: <reason lower-cased>')`
/// (SRV-05, CLI-08): the kind is kept, the message names the address.
pub(crate) fn bind_error(addr: std::net::SocketAddr, e: std::io::Error) -> std::io::Error {
    let reason = e.to_string().to_lowercase();
    std::io::Error::new(
        e.kind(),
        format!("error while attempting to bind on address {addr}: {reason}"),
    )
}

/// Socket options of a listening socket (see [`ServerOptions`] for the server defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenOptions {
    /// `SO_REUSEADDR` (default on, as asyncio on Unix).
    pub(crate) reuse_address: bool,
    /// `SO_REUSEPORT` (default off).
    pub(crate) reuse_port: bool,
    /// `SO_KEEPALIVE` on accepted sockets (default off).
    pub(crate) keep_alive: bool,
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions {
            reuse_address: true,
            reuse_port: false,
            keep_alive: false,
        }
    }
}
