//! A small library on wasio, as a user would write one: a line-echo service and a client for
//! it. Its tests run natively and in wasmtime with the same source.

use std::io;
use std::net::SocketAddr;

use wasio::net::{TcpListener, TcpStream};

/// Serves one connection: echoes every line back in upper case until the peer closes.
pub async fn shout_back(conn: TcpStream) -> io::Result<u64> {
    let mut lines = 0;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(lines);
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            conn.write_all(&line.to_ascii_uppercase()).await?;
            lines += 1;
        }
    }
}

/// Starts a listener on an OS-chosen loopback port that serves each connection with
/// [`shout_back`] in its own task; returns the address.
pub async fn start() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    wasio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            wasio::spawn(shout_back(conn));
        }
    });
    Ok(addr)
}

/// Sends `line` (a newline is added) and returns the reply without its newline.
pub async fn ask(addr: SocketAddr, line: &str) -> io::Result<String> {
    let conn = TcpStream::connect(addr).await?;
    conn.write_all(format!("{line}\n").as_bytes()).await?;
    let mut reply = vec![0u8; line.len() + 1];
    conn.read_exact(&mut reply).await?;
    reply.pop();
    String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[wasio::test]
    async fn replies_in_upper_case() -> io::Result<()> {
        let addr = start().await?;
        assert_eq!(ask(addr, "hello wasm").await?, "HELLO WASM");
        Ok(())
    }

    #[wasio::test]
    async fn serves_clients_concurrently() -> io::Result<()> {
        let addr = start().await?;
        let replies =
            wasio::gather((0..20).map(|i| async move { ask(addr, &format!("client {i}")).await }))
                .await;
        for (i, reply) in replies.into_iter().enumerate() {
            assert_eq!(reply?, format!("CLIENT {i}"));
        }
        Ok(())
    }

    #[wasio::test]
    async fn sleeps_on_the_loop_clock() {
        let t0 = Instant::now();
        wasio::sleep(Duration::from_millis(20)).await;
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }

    #[wasio::test]
    #[ignore = "shows that #[ignore] is kept; run with --ignored"]
    async fn ignored_unless_asked() {
        wasio::sleep(Duration::from_millis(1)).await;
    }
}
