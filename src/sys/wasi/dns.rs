//! WASI name lookup: `wasi:sockets/ip-name-lookup`, awaited through its pollable.

use std::net::SocketAddr;

use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::ErrorCode;

use super::error::from_code;
use super::net::ip_from_wasi;
use super::wait_handle;
use crate::sys::{LookupError, Reactor};

/// Resolves `host` (not an IP literal).
pub(crate) async fn lookup(
    host: &str,
    port: u16,
    reactor: &impl Reactor,
) -> Result<Vec<SocketAddr>, LookupError> {
    // Drop order is the reverse of declaration: the pollable (a child of the stream) goes
    // first, then the stream, then the network.
    let network = instance_network();
    let stream = resolve_addresses(&network, host).map_err(name_error)?;
    let pollable = stream.subscribe();
    let mut out = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(ip)) => out.push(SocketAddr::new(ip_from_wasi(ip), port)),
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => reactor
                .ready(wait_handle(&pollable))
                .await
                .map_err(LookupError::Io)?,
            Err(c) => return Err(name_error(c)),
        }
    }
    drop(pollable);
    Ok(out)
}

fn name_error(code: ErrorCode) -> LookupError {
    match code {
        ErrorCode::NameUnresolvable
        | ErrorCode::TemporaryResolverFailure
        | ErrorCode::PermanentResolverFailure => LookupError::Name {
            temporary: code == ErrorCode::TemporaryResolverFailure,
            detail: format!("wasi:sockets error-code {}", code.name()),
        },
        other => LookupError::Io(from_code(other)),
    }
}
