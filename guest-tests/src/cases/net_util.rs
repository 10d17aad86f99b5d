//! Helpers for the network cases: loopback addresses, refused and hanging addresses, an echo
//! handler, deterministic payloads.

use std::io;
use std::net::SocketAddr;

use wasio::net::{TcpListener, TcpStream};

use crate::Context;

/// `127.0.0.1:0`.
pub(crate) fn lo4() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// `[::1]:0`.
pub(crate) fn lo6() -> SocketAddr {
    SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
}

/// The bound of a wait on a remote event (a connection ending, a server closing): hitting it
/// fails the case with a message instead of hanging until the harness gives up.
pub(crate) const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// An address nobody listens on (a listener's port, after closing it).
pub(crate) async fn refused_addr() -> Result<SocketAddr, String> {
    let l = TcpListener::bind(lo4()).await.ctx("bind")?;
    let a = l.local_addr().ctx("local_addr")?;
    drop(l);
    Ok(a)
}

/// A listener that never accepts, with its accept queue filled (backlog 1 plus two queued
/// connections): further connects to it hang in the handshake. Keep the returned values alive.
pub(crate) async fn hanging_addr() -> Result<(TcpListener, Vec<TcpStream>, SocketAddr), String> {
    let l = TcpListener::bind_with_backlog(lo4(), 1).await.ctx("bind")?;
    let a = l.local_addr().ctx("local_addr")?;
    let mut fill = Vec::new();
    for i in 0..2 {
        fill.push(TcpStream::connect(a).await.ctx(&format!("filler {i}"))?);
    }
    Ok((l, fill, a))
}

/// The echo handler: copies until end of stream, then closes.
pub(crate) async fn echo(conn: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.close().await;
        }
        conn.write_all(&buf[..n]).await?;
    }
}

/// `len` deterministic bytes that differ per `seed`.
pub(crate) fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A simple checksum (FNV-1a).
pub(crate) fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
