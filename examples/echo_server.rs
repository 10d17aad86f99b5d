//! A TCP echo server on wasio's `Server`.
//!
//! ```text
//! cargo run --example echo_server -- 127.0.0.1:7000
//! cargo build --release --example echo_server --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/echo_server.wasm -- 127.0.0.1:7000
//! ```
//!
//! Arguments: `[HOST:PORT]` (default `127.0.0.1:0`, an OS-chosen port) and
//! `--max-connections N` to exit after N connections (used by the tests).
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

#[path = "common/log.rs"]
mod log;

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::task::{Poll, Waker};

use wasio::net::{ServerOptions, TcpStream, start_server};

async fn echo(conn: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.close().await;
        }
        conn.write_all(&buf[..n]).await?;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let mut addr = "127.0.0.1:0".to_string();
    let mut max: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--max-connections" {
            max = Some(
                args.next()
                    .ok_or("--max-connections needs a number")?
                    .parse()?,
            );
        } else {
            addr = a;
        }
    }
    let (host, port) = wasio::net::split_host_port(&addr)?;
    let host = host.to_string();
    wasio::run(async move {
        // Counts finished connections and wakes `main` when the limit is reached.
        let served = Rc::new(Cell::new(0usize));
        let waiter: Rc<Cell<Option<Waker>>> = Rc::default();
        let (s2, w2) = (served.clone(), waiter.clone());
        let server = start_server(
            move |conn: TcpStream| {
                let (served, waiter) = (s2.clone(), w2.clone());
                async move {
                    let r = echo(conn).await;
                    served.set(served.get() + 1);
                    if let Some(w) = waiter.take() {
                        w.wake();
                    }
                    r
                }
            },
            host.as_str(),
            port,
            ServerOptions::new(),
        )
        .await?;
        for a in server.sockets() {
            println!("listening on {a}");
        }
        std::io::stdout().flush()?;
        match max {
            None => server.serve_forever().await,
            Some(max) => {
                std::future::poll_fn(|cx| {
                    if served.get() >= max {
                        Poll::Ready(())
                    } else {
                        waiter.set(Some(cx.waker().clone()));
                        Poll::Pending
                    }
                })
                .await;
                server.close();
                server.wait_closed().await;
                Ok(())
            }
        }
    })??;
    Ok(())
}
