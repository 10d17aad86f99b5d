//! The network policy guests run under: loopback only.
//!
//! wasmtime-wasi 48 denies every socket address by default. We allow TCP, UDP and name lookup,
//! and check each use: binding and listening may use a loopback or the unspecified address
//! (`0.0.0.0` / `::`, which wasmtime also checks for the implicit bind before a connect, and
//! which a server bound to all interfaces needs); connecting, sending, accepting and receiving
//! only with loopback peers. Anything else is refused and the guest sees `access-denied`.

use std::net::SocketAddr;

use wasmtime_wasi::sockets::SocketAddrUse;

/// Whether a guest may use `addr` this way.
pub fn allowed(addr: SocketAddr, use_: SocketAddrUse) -> bool {
    let ip = addr.ip();
    let loopback = ip.is_loopback()
        || matches!(addr, SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()));
    match use_ {
        SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::UdpBind => {
            loopback || ip.is_unspecified()
        }
        SocketAddrUse::TcpConnect
        | SocketAddrUse::TcpAccept
        | SocketAddrUse::UdpSend
        | SocketAddrUse::UdpReceive => loopback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        let lo4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let lo6: SocketAddr = "[::1]:80".parse().unwrap();
        let any4: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let ext: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        assert!(allowed(lo4, SocketAddrUse::TcpConnect));
        assert!(allowed(lo6, SocketAddrUse::UdpSend));
        assert!(allowed(mapped, SocketAddrUse::TcpConnect));
        assert!(allowed(any4, SocketAddrUse::TcpBind));
        assert!(!allowed(any4, SocketAddrUse::TcpConnect));
        assert!(!allowed(ext, SocketAddrUse::TcpConnect));
        assert!(!allowed(ext, SocketAddrUse::TcpBind));
        assert!(!allowed(ext, SocketAddrUse::UdpSend));
    }
}
