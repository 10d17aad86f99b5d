//! What both WASI backends (`wasi`, `wasip3`) share: the address conversions (their
//! `wasi:sockets` types differ by crate but have the same names and shapes, so a macro writes
//! them once) and the answers for socket options WASI does not have.

use std::io;

use super::{ListenOptions, UdpOptions};

/// Writes `to_wasi`, `from_wasi` and `ip_from_wasi` for the `IpAddress`, `IpSocketAddress`,
/// `Ipv4SocketAddress` and `Ipv6SocketAddress` in scope where it is invoked.
macro_rules! address_conversions {
    () => {
        pub(crate) fn to_wasi(addr: std::net::SocketAddr) -> IpSocketAddress {
            match addr {
                std::net::SocketAddr::V4(a) => {
                    let [a0, a1, a2, a3] = a.ip().octets();
                    IpSocketAddress::Ipv4(Ipv4SocketAddress {
                        port: a.port(),
                        address: (a0, a1, a2, a3),
                    })
                }
                std::net::SocketAddr::V6(a) => {
                    let s = a.ip().segments();
                    IpSocketAddress::Ipv6(Ipv6SocketAddress {
                        port: a.port(),
                        flow_info: a.flowinfo(),
                        address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                        scope_id: a.scope_id(),
                    })
                }
            }
        }

        pub(crate) fn from_wasi(addr: IpSocketAddress) -> std::net::SocketAddr {
            use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
            match addr {
                IpSocketAddress::Ipv4(a) => {
                    let (a0, a1, a2, a3) = a.address;
                    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a0, a1, a2, a3), a.port))
                }
                IpSocketAddress::Ipv6(a) => {
                    let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
                    SocketAddr::V6(SocketAddrV6::new(
                        Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7),
                        a.port,
                        a.flow_info,
                        a.scope_id,
                    ))
                }
            }
        }

        pub(crate) fn ip_from_wasi(addr: IpAddress) -> std::net::IpAddr {
            use std::net::{Ipv4Addr, Ipv6Addr};
            match addr {
                IpAddress::Ipv4((a0, a1, a2, a3)) => Ipv4Addr::new(a0, a1, a2, a3).into(),
                IpAddress::Ipv6((s0, s1, s2, s3, s4, s5, s6, s7)) => {
                    Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7).into()
                }
            }
        }
    };
}
pub(crate) use address_conversions;

/// `wasi:sockets` `bind` always sets `SO_REUSEADDR` and has no `SO_REUSEPORT`: options the
/// host cannot provide are errors, never ignored (PLAT-02).
pub(crate) fn check_listen_options(opts: &ListenOptions) -> io::Result<()> {
    if opts.reuse_port {
        return Err(no_reuse_port());
    }
    if !opts.reuse_address {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "reuse_address=false cannot be enforced on WASI (wasi:sockets bind always sets SO_REUSEADDR)",
        ));
    }
    Ok(())
}

/// `wasi:sockets` has no `SO_REUSEPORT` and no `SO_BROADCAST`.
pub(crate) fn check_udp_options(opts: &UdpOptions) -> io::Result<()> {
    if opts.reuse_port {
        return Err(no_reuse_port());
    }
    if opts.broadcast {
        return Err(unavailable("SO_BROADCAST"));
    }
    Ok(())
}

fn no_reuse_port() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "reuse_port not supported by socket module (wasi:sockets has no SO_REUSEPORT)",
    )
}

/// `what` does not exist in `wasi:sockets`.
pub(crate) fn unavailable(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not available on WASI (wasi:sockets has no such option)"),
    )
}

/// `TCP_NODELAY` does not exist in `wasi:sockets`.
pub(crate) fn no_nodelay() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "TCP_NODELAY is not available on WASI (wasi:sockets has no such option)",
    )
}

/// No zero-copy file transfer on WASI (a `std::fs::File`'s descriptor is wasi-libc's, not a
/// `wasi:filesystem` resource a stream could be spliced from): the caller falls back to reads
/// and writes.
pub(crate) fn no_sendfile() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "zero-copy sendfile is not available on WASI (the fallback copies through the stream)",
    )
}

/// What an `access-denied` from `wasi:sockets` means for a guest: the host's network policy
/// refused the address (or the name), and how to allow it.
pub(crate) const ACCESS_DENIED_HINT: &str = "refused by the host's network policy (wasio-host \
    and wasmtime allow loopback addresses only, or no network at all, unless run with \
    `-S inherit-network`)";
