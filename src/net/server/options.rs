//! What a server binds and how: [`Hosts`], [`ServerOptions`], and the resolution of hosts
//! into the set of addresses to bind (SRV-03).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::net::dns::{dedup_in_order, lookup_host};
use crate::net::listener::DEFAULT_BACKLOG;
use crate::sys::ListenOptions;

/// Which hosts a server binds (SRV-03).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// All interfaces of both families (`0.0.0.0` and `::`): asyncio `host=None` or `''`.
    All,
    /// Every address each of these names or literals resolves to, duplicates bound once.
    List(Vec<String>),
}

impl From<&str> for Hosts {
    fn from(h: &str) -> Hosts {
        if h.is_empty() {
            Hosts::All
        } else {
            Hosts::List(vec![h.to_string()])
        }
    }
}
impl From<String> for Hosts {
    fn from(h: String) -> Hosts {
        Hosts::from(h.as_str())
    }
}
impl From<Option<&str>> for Hosts {
    fn from(h: Option<&str>) -> Hosts {
        h.map_or(Hosts::All, Hosts::from)
    }
}
impl From<IpAddr> for Hosts {
    fn from(ip: IpAddr) -> Hosts {
        Hosts::List(vec![ip.to_string()])
    }
}
impl From<Vec<String>> for Hosts {
    fn from(v: Vec<String>) -> Hosts {
        Hosts::List(v)
    }
}
impl From<Vec<&str>> for Hosts {
    fn from(v: Vec<&str>) -> Hosts {
        Hosts::List(v.into_iter().map(str::to_string).collect())
    }
}
impl From<&[&str]> for Hosts {
    fn from(v: &[&str]) -> Hosts {
        Hosts::List(v.iter().map(|s| s.to_string()).collect())
    }
}
impl<const N: usize> From<[&str; N]> for Hosts {
    fn from(v: [&str; N]) -> Hosts {
        Hosts::List(v.iter().map(|s| s.to_string()).collect())
    }
}

/// Options of [`start_server`](super::start_server).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub(crate) listen: ListenOptions,
    pub(crate) backlog: u32,
    pub(crate) start_serving: bool,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            listen: ListenOptions::default(),
            backlog: DEFAULT_BACKLOG,
            start_serving: true,
        }
    }
}

impl ServerOptions {
    /// `reuse_address` on, `reuse_port` off, backlog 100, serving at once.
    pub fn new() -> ServerOptions {
        ServerOptions::default()
    }
    /// `SO_REUSEADDR` (default on). On WASI `bind` always sets it, so `false` is an error there.
    pub fn reuse_address(mut self, on: bool) -> ServerOptions {
        self.listen.reuse_address = on;
        self
    }
    /// `SO_REUSEPORT` (default off); an error where unsupported (WASI).
    pub fn reuse_port(mut self, on: bool) -> ServerOptions {
        self.listen.reuse_port = on;
        self
    }
    /// `SO_KEEPALIVE` on the listening socket, inherited by accepted sockets.
    pub fn keep_alive(mut self, on: bool) -> ServerOptions {
        self.listen.keep_alive = on;
        self
    }
    /// The listen backlog (default 100).
    pub fn backlog(mut self, backlog: u32) -> ServerOptions {
        self.backlog = backlog;
        self
    }
    /// Start accepting before `start_server` returns (default) or only on
    /// [`Server::start_serving`](super::Server::start_serving) / [`Server::serve_forever`](super::Server::serve_forever).
    pub fn start_serving(mut self, on: bool) -> ServerOptions {
        self.start_serving = on;
        self
    }
    /// The backlog.
    pub fn get_backlog(&self) -> u32 {
        self.backlog
    }
}

pub(crate) async fn resolve_hosts(hosts: Hosts, port: u16) -> io::Result<Vec<SocketAddr>> {
    let mut addrs = match hosts {
        Hosts::All => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        ],
        Hosts::List(list) => {
            if list.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no host to bind: give at least one host, or Hosts::All",
                ));
            }
            let mut out = Vec::new();
            for h in &list {
                if h.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "empty host name",
                    ));
                }
                out.extend(lookup_host(h, port).await?);
            }
            out
        }
    };
    dedup_in_order(&mut addrs);
    Ok(addrs)
}
