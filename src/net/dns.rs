//! Name resolution: [`lookup_host`] and [`resolve`].
//!
//! IP literals never reach the resolver (CLI-02). Names are resolved without blocking the loop:
//! natively `getaddrinfo` runs on a helper thread (asyncio uses its default executor); on WASI
//! through `wasi:sockets/ip-name-lookup` with a pollable. Results keep the resolver's order
//! and drop duplicates.

use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::sys;

/// Parses an IP literal, also in the bracketed IPv6 form `[::1]`.
pub(crate) fn parse_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Resolves `host` to socket addresses with `port`, in resolver order, without duplicates.
///
/// An IP literal is returned at once, without a lookup. An empty host, a name that does not
/// resolve, or an empty answer is an error.
///
/// ```
/// wasio::run(async {
///     let addrs = wasio::net::lookup_host("127.0.0.1", 80).await.unwrap();
///     assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
/// })
/// .unwrap();
/// ```
pub async fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if host.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty host name",
        ));
    }
    if let Some(ip) = parse_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "host name contains a NUL byte",
        ));
    }
    let mut addrs = sys::dns::lookup(host, port).await?;
    dedup_in_order(&mut addrs);
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("getaddrinfo('{host}') returned empty list"),
        ));
    }
    Ok(addrs)
}

/// Resolves without waiting when `host` is an IP literal: `Some(addresses)` at once, `None`
/// when a lookup is needed (use [`lookup_host`]).
pub fn resolve(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    parse_literal(host).map(|ip| vec![SocketAddr::new(ip, port)])
}

pub(crate) fn dedup_in_order(addrs: &mut Vec<SocketAddr>) {
    let mut seen = Vec::with_capacity(addrs.len());
    addrs.retain(|a| {
        if seen.contains(a) {
            false
        } else {
            seen.push(*a);
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_skip_the_resolver() {
        assert_eq!(parse_literal("::1"), Some("::1".parse().unwrap()));
        assert_eq!(parse_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_literal("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_literal("localhost"), None);
        assert_eq!(
            resolve("127.0.0.1", 7).unwrap(),
            vec!["127.0.0.1:7".parse().unwrap()]
        );
        assert!(resolve("example.invalid", 7).is_none());
    }

    #[test]
    fn dedup_keeps_first_occurrence() {
        let a: SocketAddr = "1.2.3.4:1".parse().unwrap();
        let b: SocketAddr = "5.6.7.8:1".parse().unwrap();
        let mut v = vec![a, b, a];
        dedup_in_order(&mut v);
        assert_eq!(v, vec![a, b]);
    }
}
