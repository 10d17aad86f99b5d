//! Native name lookup: `getaddrinfo`, run off the loop's thread by the reactor.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::sys::{LookupError, Reactor};

/// Resolves `host` (not an IP literal) without blocking the loop.
pub(crate) async fn lookup(
    host: &str,
    port: u16,
    reactor: &impl Reactor,
) -> Result<Vec<SocketAddr>, LookupError> {
    let name = host.to_owned();
    reactor
        .offload(move || resolve_blocking(&name, port))
        .await
        .map_err(LookupError::Io)?
}

/// `getaddrinfo`. std reports its failures as `io::Error`s of an internal kind whose text is
/// `gai_strerror`'s; that text tells a temporary failure (`EAI_AGAIN`) from the rest.
fn resolve_blocking(host: &str, port: u16) -> Result<Vec<SocketAddr>, LookupError> {
    match (host, port).to_socket_addrs() {
        Ok(it) => Ok(it.collect()),
        Err(e) if is_name_error(&e) => Err(LookupError::Name {
            temporary: e.to_string().contains("Temporary failure"),
            detail: e.to_string(),
        }),
        Err(e) => Err(LookupError::Io(e)),
    }
}

/// Whether `e` came from the resolver (as opposed to, say, an invalid argument).
fn is_name_error(e: &io::Error) -> bool {
    e.raw_os_error().is_none()
        && !matches!(
            e.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::OutOfMemory
        )
}
