//! The wstd 0.6 echo server in wasmtime (the rival of wasio there): `wstd-echo [HOST:PORT]`.
//!
//! As a wstd user writes it (its `tcp_echo_server` example: `incoming()`, a spawned task per
//! connection), with the harness's 64 KiB read buffer and an explicit read/write loop instead
//! of `io::copy`, so every server echoes in the same steps. Prints `listening on ADDR` first.

use std::io::Write;

use wstd::io::{AsyncRead, AsyncWrite};
use wstd::iter::AsyncIterator;
use wstd::net::{TcpListener, TcpStream};

const BUF: usize = 64 * 1024;

async fn echo(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n]).await?;
    }
}

#[wstd::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(addr.as_str()).await?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    out.flush()?;
    let mut incoming = listener.incoming();
    while let Some(conn) = incoming.next().await {
        let conn = conn?;
        wstd::runtime::spawn(async move {
            let _ = echo(conn).await;
        })
        .detach();
    }
    Ok(())
}
