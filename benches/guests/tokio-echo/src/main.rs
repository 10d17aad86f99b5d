//! tokio (current-thread runtime) on wasm32-wasip2 in wasmtime:
//!
//! ```text
//! tokio-echo [HOST:PORT]     # the echo server (needs a build with --cfg tokio_unstable)
//! tokio-echo --timers N      # the timer-lateness benchmark with N tasks
//! ```
//!
//! The server is `echo-tokio`'s (a task per connection, 64 KiB buffer, `listening on ADDR`
//! first). With Rust 1.95's wasi-libc, mio's `accept` calls `fcntl(F_SETFL)`, which fails with
//! `EINVAL`: the server then reports the error and exits 1, and `bench` records it as it is
//! (no patched mio is vendored). The timer mode is `benches/src/timers_tokio.rs`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark tool prints its results and errors"
)]

#[path = "../../../src/timers_tokio.rs"]
mod timers_tokio;

#[cfg(tokio_unstable)]
fn serve(addr: &str) -> std::io::Result<()> {
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo(mut conn: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            conn.write_all(&buf[..n]).await?;
        }
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        out.flush()?;
        loop {
            let (conn, _) = listener
                .accept()
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("accept: {e}")))?;
            tokio::spawn(async move {
                let _ = echo(conn).await;
            });
        }
    })
}

#[cfg(not(tokio_unstable))]
fn serve(_addr: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "tokio's net on wasm32-wasip2 needs a build with RUSTFLAGS=\"--cfg tokio_unstable\"",
    ))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    if first == "--timers" {
        let n = args
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        println!("{}", timers_tokio::run(n, "tokio-wasm"));
        return;
    }
    if let Err(e) = serve(&first) {
        eprintln!("tokio-echo: {e}");
        std::process::exit(1);
    }
}
