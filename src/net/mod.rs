//! Networking: TCP streams and listeners, UDP sockets, Unix domain sockets, the
//! asyncio-style servers ([`Server`], [`UnixServer`]), name resolution, Happy Eyeballs connect
//! and `sendfile`.
//!
//! The same API on both targets: natively mio + socket2 sockets, on wasm32-wasip2
//! `wasi:sockets`. Where the platform cannot provide an option (WASI has no `TCP_NODELAY`, no
//! `SO_REUSEPORT`, no way to turn `SO_REUSEADDR` off) or a kind of socket (WASI has no Unix
//! domain sockets), asking for it is an error, never silently ignored.

mod addrs;
mod connect;
mod dns;
mod inner;
mod listener;
mod sendfile;
mod server;
mod stream;
mod udp;
pub mod unix;

pub use self::addrs::{ToSocketAddrs, split_host_port};
pub use self::connect::{
    ConnectErrors, ConnectOptions, DEFAULT_HAPPY_EYEBALLS_DELAY, connect, connect_addrs,
    interleave_addrs,
};
pub use self::dns::{ResolveError, is_resolve_error, lookup_host, resolve};
pub use self::listener::TcpListener;
pub use self::sendfile::{FALLBACK_CHUNK, SendfileError, SendfileOptions, sendfile, sendfile_with};
pub use self::server::{Hosts, Server, ServerOptions, UnixServer, start_server, start_unix_server};
pub use self::stream::{OwnedReadHalf, OwnedWriteHalf, TcpStream};
pub use self::udp::{DatagramOptions, Family, UdpSocket, create_datagram_endpoint};
pub use self::unix::{UnixDatagram, UnixListener, UnixSocketAddr, UnixStream};
