//! Address conversions and the small errors every WASI 0.3 source uses.

use std::io;
use std::net::SocketAddr;

use wasip3::sockets::types::{
    IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};

crate::sys::wasi_shared::address_conversions!();

pub(crate) fn family(addr: &SocketAddr) -> IpAddressFamily {
    if addr.is_ipv4() {
        IpAddressFamily::Ipv4
    } else {
        IpAddressFamily::Ipv6
    }
}

pub(crate) fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

pub(crate) fn not_connected() -> io::Error {
    io::Error::from(io::ErrorKind::NotConnected)
}
