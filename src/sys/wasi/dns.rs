//! WASI name lookup: `wasi:sockets/ip-name-lookup`, awaited through its pollable.

use std::io;
use std::net::SocketAddr;

use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::ErrorCode;

use crate::event_loop::try_current_core;
use crate::io::{Direction, Registration};

use super::SourceData;
use super::error::from_code;
use super::net::ip_from_wasi;

/// Resolves `host` (not an IP literal).
pub(crate) async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let core = try_current_core().map_err(io::Error::other)?;
    // Declaration order is the reverse of drop order: the registration (the stream's
    // pollable) goes first, then the stream, then the network.
    let network = instance_network();
    let stream = resolve_addresses(&network, host).map_err(|c| name_error(host, c))?;
    let mut data = SourceData::default();
    data.pollables[Direction::Read as usize] = Some(stream.subscribe());
    let reg = Registration::new(&core, data)?;
    let mut out = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(ip)) => out.push(SocketAddr::new(ip_from_wasi(ip), port)),
            Ok(None) => break,
            Err(ErrorCode::WouldBlock) => reg.ready(Direction::Read).await,
            Err(c) => return Err(name_error(host, c)),
        }
    }
    drop(reg);
    Ok(out)
}

fn name_error(host: &str, code: ErrorCode) -> io::Error {
    let e = from_code(code);
    io::Error::new(e.kind(), format!("getaddrinfo('{host}') failed: {e}"))
}
