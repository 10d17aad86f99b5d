//! The tokio echo server (current-thread runtime, the rival of wasio natively):
//! `echo-tokio [HOST:PORT]`. Same shape as `shared/echo_wasio.rs`: a task per connection, a
//! 64 KiB buffer, backlog 1024, `TCP_NODELAY`; prints `listening on ADDR` first.

use std::io::Write;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wasio_benches::shared::echo_wasio::{BACKLOG, BUF};

async fn echo(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut buf = vec![0u8; BUF];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n]).await?;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let sock = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        sock.set_reuseaddr(true)?;
        sock.bind(addr)?;
        let listener = sock.listen(BACKLOG)?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        out.flush()?;
        loop {
            let (conn, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = echo(conn).await;
            });
        }
    })
}
