//! The wasio echo server of the benchmarks, as a user would write it on `start_server`: one
//! task per connection reading into a 64 KiB buffer and writing back what it read. The native
//! `echo-wasio` binary and the `wasio-echo` guest (through `#[path]`) run this same source.
//!
//! # Ground rules
//!
//! * Prints `listening on ADDR` on stdout first (the orchestrator waits for that line), then
//!   serves until killed.
//! * Every server of the benchmarks uses the same 64 KiB buffer and the same backlog (1024),
//!   so contenders differ only in their runtime. (`start_server` sets `TCP_NODELAY` itself,
//!   as asyncio does; WASI has no such option.)

use std::io::Write;

use wasio::net::{ServerOptions, TcpStream, start_server};

/// The read buffer of each connection.
pub const BUF: usize = 64 * 1024;
/// The listen backlog.
pub const BACKLOG: u32 = 1024;

async fn echo(conn: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.close().await;
        }
        conn.write_all(&buf[..n]).await?;
    }
}

/// Splits `HOST:PORT` (brackets allowed around an IPv6 host).
pub fn split_addr(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// Serves on `addr` (`HOST:PORT`, port 0 for any) until the process is killed.
pub fn serve(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (host, port) = split_addr(addr).ok_or_else(|| format!("bad address {addr:?}"))?;
    wasio::run(async move {
        let server = start_server(
            echo,
            host.as_str(),
            port,
            ServerOptions::new().backlog(BACKLOG),
        )
        .await?;
        let mut out = std::io::stdout();
        for a in server.sockets() {
            writeln!(out, "listening on {a}")?;
        }
        out.flush()?;
        server.serve_forever().await
    })??;
    Ok(())
}
