//! The network policy guests run under: loopback only by default ([`Network`] relaxes or
//! tightens it for `wasio-host run`).
//!
//! wasmtime-wasi 48 denies every socket address by default. We allow TCP, UDP and name lookup,
//! and check each use: binding and listening may use a loopback or the unspecified address
//! (`0.0.0.0` / `::`, which wasmtime also checks for the implicit bind before a connect, and
//! which a server bound to all interfaces needs); connecting, sending, accepting and receiving
//! only with loopback peers. Anything else is refused and the guest sees `access-denied`.

use std::net::SocketAddr;

use wasmtime_wasi::sockets::SocketAddrUse;

/// What a guest may do on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// `wasi:sockets/tcp` (wasmtime `-S tcp`).
    pub tcp: bool,
    /// `wasi:sockets/udp` (wasmtime `-S udp`).
    pub udp: bool,
    /// `wasi:sockets/ip-name-lookup` (wasmtime `-S allow-ip-name-lookup`).
    pub ip_name_lookup: bool,
    /// Any address, not only loopback (wasmtime `-S inherit-network`).
    pub any_address: bool,
}

impl Default for Network {
    /// TCP, UDP and name lookup, loopback only.
    fn default() -> Network {
        Network {
            tcp: true,
            udp: true,
            ip_name_lookup: true,
            any_address: false,
        }
    }
}

impl Network {
    /// Whether a guest under this policy may use `addr` this way.
    pub fn allows(&self, addr: SocketAddr, use_: SocketAddrUse) -> bool {
        self.any_address || allowed(addr, use_)
    }
}

/// Logs a refused use of an address at the default level: what, where, and the option that
/// allows it (the guest itself sees `access-denied`).
pub fn log_refusal(addr: SocketAddr, use_: SocketAddrUse) {
    let what = match use_ {
        SocketAddrUse::TcpBind => "TCP bind to",
        SocketAddrUse::TcpListen => "TCP listen on",
        SocketAddrUse::TcpConnect => "TCP connect to",
        SocketAddrUse::TcpAccept => "TCP accept from",
        SocketAddrUse::UdpBind => "UDP bind to",
        SocketAddrUse::UdpSend => "UDP send to",
        SocketAddrUse::UdpReceive => "UDP receive from",
    };
    tracing::warn!(
        target: "wasio_host::sandbox",
        "refused a {what} {addr}: the network policy allows loopback addresses only \
         (`-S inherit-network` allows any address)"
    );
}

/// Says once per process that a guest listening on every interface (`0.0.0.0`, `::`) is
/// reachable from loopback only under this policy (other peers are refused, and logged, at
/// accept).
pub fn note_unspecified_bind(addr: SocketAddr) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            target: "wasio_host::sandbox",
            "the guest binds {addr}: under the loopback-only network policy only loopback peers \
             can connect (others are refused at accept); `-S inherit-network` allows any peer"
        );
    });
}

/// Whether a guest may use `addr` this way under the default (loopback-only) policy.
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
