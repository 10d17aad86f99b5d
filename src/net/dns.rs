//! Name resolution: [`lookup_host`] and [`resolve`].
//!
//! IP literals never reach the resolver (CLI-02). Names are resolved without blocking the loop:
//! natively `getaddrinfo` runs in the loop's default executor (as in asyncio: a bounded pool,
//! so 10,000 connects by name do not start 10,000 threads); on WASI through
//! `wasi:sockets/ip-name-lookup` with a pollable. Results keep the resolver's order
//! and drop duplicates.
//!
//! A name that does not resolve is an error of kind [`io::ErrorKind::NotFound`] carrying a
//! [`ResolveError`], the same in both worlds (asyncio raises `socket.gaierror` for both).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use crate::context::try_current_core;
use crate::core::{Core, EventLoop};
use crate::io::registration::Registration;
use crate::sys::{self, Direction, LookupError, Reactor, WaitHandle};

/// A name the resolver could not resolve (asyncio `socket.gaierror`).
///
/// It travels inside an `io::Error` of kind [`io::ErrorKind::NotFound`]; get it back with
/// [`ResolveError::from_io`], or test for it with [`is_resolve_error`].
///
/// ```
/// wasio::run(async {
///     // RFC 6761: names under .invalid never resolve.
///     let err = wasio::net::lookup_host("no-such-host.invalid", 80).await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
///     assert!(wasio::net::is_resolve_error(&err));
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct ResolveError {
    host: String,
    temporary: bool,
    detail: String,
}

impl ResolveError {
    /// The name that was looked up.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the resolver could not answer now (`EAI_AGAIN`: no DNS server reachable)
    /// rather than answering that the name does not exist.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// The `ResolveError` inside `err`, if it carries one.
    pub fn from_io(err: &io::Error) -> Option<&ResolveError> {
        err.get_ref()?.downcast_ref::<ResolveError>()
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "getaddrinfo('{}') failed: {}", self.host, self.detail)
    }
}

impl std::error::Error for ResolveError {}

/// Whether `err` says a name did not resolve (it carries a [`ResolveError`]).
pub fn is_resolve_error(err: &io::Error) -> bool {
    ResolveError::from_io(err).is_some()
}

/// The loop, as the backends' lookups see it.
struct LoopReactor(Rc<Core>);

impl Reactor for LoopReactor {
    async fn ready(&self, handle: WaitHandle) -> io::Result<()> {
        let reg = Registration::new(&self.0, |_, _| Ok([handle, Default::default()]))?;
        reg.ready(Direction::Read).await;
        Ok(())
    }

    async fn offload<T, F>(&self, job: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        // asyncio resolves names in the default executor: a bounded pool, not a thread per
        // lookup.
        let lp = EventLoop {
            core: self.0.clone(),
        };
        let blocking = lp.run_in_executor(job).map_err(io::Error::from)?;
        blocking.await.map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Runs the backend's lookup of `host` (not an IP literal) on the running loop.
async fn backend_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let reactor = LoopReactor(try_current_core().map_err(io::Error::other)?);
    match sys::dns::lookup(host, port, &reactor).await {
        Ok(addrs) => Ok(addrs),
        Err(LookupError::Io(e)) => Err(e),
        Err(LookupError::Name { temporary, detail }) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            ResolveError {
                host: host.to_owned(),
                temporary,
                detail,
            },
        )),
    }
}

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
    let mut addrs = backend_lookup(host, port).await?;
    dedup_in_order(&mut addrs);
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            ResolveError {
                host: host.to_owned(),
                temporary: false,
                detail: "returned empty list".into(),
            },
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
