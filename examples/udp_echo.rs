//! A UDP echo server and client on wasio's `UdpSocket`.
//!
//! ```text
//! cargo run --example udp_echo -- serve 127.0.0.1:7001
//! cargo run --example udp_echo -- send 127.0.0.1:7001 hello world
//!
//! cargo build --release --example udp_echo --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/udp_echo.wasm -- serve 127.0.0.1:7001
//! ```
//!
//! `serve [HOST:PORT] [--max-datagrams N]` echoes every datagram back to its sender (exiting
//! after N when given); `send HOST:PORT MESSAGE...` sends each message as one datagram from a
//! connected socket and prints each echo.
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

#[path = "common/log.rs"]
mod log;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use wasio::net::{DatagramOptions, UdpSocket, create_datagram_endpoint};

async fn serve(addr: SocketAddr, max: Option<usize>) -> std::io::Result<()> {
    let sock = UdpSocket::bind(addr).await?;
    println!("listening on {}", sock.local_addr()?);
    std::io::stdout().flush()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut served = 0usize;
    while max.is_none_or(|m| served < m) {
        let (n, from) = sock.recv_from(&mut buf).await?;
        sock.send_to(&buf[..n], from).await?;
        served += 1;
    }
    Ok(())
}

async fn send(addr: SocketAddr, messages: Vec<String>) -> std::io::Result<()> {
    let opts = DatagramOptions::new().remote_addr(&addr.ip().to_string(), addr.port());
    let sock = create_datagram_endpoint(&opts).await?;
    let mut buf = vec![0u8; 64 * 1024];
    for m in messages {
        sock.send(m.as_bytes()).await?;
        let n = wasio::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .map_err(std::io::Error::from)??;
        println!("{}", String::from_utf8_lossy(&buf[..n]));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: udp_echo serve [HOST:PORT] [--max-datagrams N] | send HOST:PORT MESSAGE...";
    match args.first().map(String::as_str) {
        Some("serve") => {
            let mut addr: SocketAddr = "127.0.0.1:0".parse()?;
            let mut max = None;
            let mut rest = args[1..].iter();
            while let Some(a) = rest.next() {
                if a == "--max-datagrams" {
                    max = Some(rest.next().ok_or(usage)?.parse()?);
                } else {
                    addr = a.parse()?;
                }
            }
            wasio::run(serve(addr, max))??;
        }
        Some("send") => {
            let addr: SocketAddr = args.get(1).ok_or(usage)?.parse()?;
            wasio::run(send(addr, args[2..].to_vec()))??;
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
