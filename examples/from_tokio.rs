//! From tokio to wasio: each function takes one tokio habit and does it on wasio, checking the
//! result. `docs/from-tokio.md` quotes these functions; the shared case
//! `from_tokio_mappings` (guest-tests) compiles this file and runs every function natively, on
//! WASI 0.2 and on WASI 0.3.
//!
//! ```text
//! cargo run --features hyper --example from_tokio
//! cargo build --release --features hyper --example from_tokio --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/from_tokio.wasm
//! ```
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

use std::convert::Infallible;
use std::error::Error;
use std::time::Duration;

use futures_util::TryStreamExt;
use futures_util::future::{Either, select};
use futures_util::io::{AsyncBufReadExt, BufReader};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::compat::FuturesAsyncReadCompatExt;
use wasio::hyper::{HyperIo, WasioTimer};
use wasio::net::{TcpListener, TcpStream, UdpSocket};

/// What every mapping returns: a line saying what it showed, or the error.
pub type Shown = Result<String, Box<dyn Error>>;

/// `tokio::spawn(fut)` is `wasio::spawn(fut)`; the future need not be `Send` (everything runs
/// on the loop's thread, as with tokio's `LocalSet`). Awaiting the handle gives
/// `Result<T, JoinError>`.
pub async fn spawn() -> Shown {
    let shared = std::rc::Rc::new(6); // not Send: fine on wasio
    let task = wasio::spawn(async move { *shared * 7 });
    Ok(format!("spawn: {}", task.await?))
}

/// `tokio::task::JoinSet` is `wasio::TaskGroup`: tasks spawned into a group, `wait()` for all
/// of them; the first `Err` cancels the others (asyncio's `TaskGroup`).
pub async fn join_set() -> Shown {
    let group = wasio::TaskGroup::<std::io::Error>::new();
    let mut handles = Vec::new();
    for n in [3u64, 1, 2] {
        handles.push(group.spawn(async move {
            wasio::sleep(Duration::from_millis(n)).await;
            Ok(n * 10)
        })?);
    }
    group.wait().await?;
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await?);
    }
    Ok(format!("join_set: {results:?}"))
}

/// `tokio::select!` is `futures_util::future::select` (or `select!` with futures-util's
/// `async-await-macro` feature): the first future to finish wins, the other is handed back.
pub async fn select_first() -> Shown {
    let slow = std::pin::pin!(wasio::sleep(Duration::from_secs(60)));
    let fast = std::pin::pin!(async {
        wasio::sleep(Duration::from_millis(1)).await;
        "fast"
    });
    match select(slow, fast).await {
        Either::Left(_) => Err("the 60 s sleep won".into()),
        Either::Right((winner, _slow)) => Ok(format!("select: {winner}")),
    }
}

/// `tokio::time::{sleep, timeout, interval}` are `wasio::{sleep, timeout, interval}`.
pub async fn time() -> Shown {
    let late = wasio::timeout(
        Duration::from_millis(1),
        wasio::sleep(Duration::from_secs(60)),
    );
    let timed_out = late.await.is_err();
    let mut ticks = wasio::interval(Duration::from_millis(2))?;
    for _ in 0..3 {
        ticks.tick().await;
    }
    Ok(format!("time: timed out {timed_out}, 3 ticks"))
}

/// `tokio::net` is `wasio::net`: the same `bind` / `connect` / `accept` (addresses as
/// `"host:port"`, `(host, port)` or `SocketAddr`), but reads and writes take `&self`.
pub async fn net() -> Shown {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = wasio::spawn(async move {
        let (conn, _peer) = listener.accept().await?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await?;
        conn.write_all(&buf.to_ascii_uppercase()).await?;
        Ok::<_, std::io::Error>(())
    });
    let conn = TcpStream::connect(("localhost", addr.port())).await?;
    conn.write_all(b"ping").await?;
    let mut reply = [0u8; 4];
    conn.read_exact(&mut reply).await?;
    server.await??;

    let udp = UdpSocket::bind("127.0.0.1:0").await?;
    udp.send_to(b"datagram", udp.local_addr()?).await?;
    let mut buf = [0u8; 16];
    let (n, _from) = udp.recv_from(&mut buf).await?;
    Ok(format!(
        "net: tcp {}, udp {}",
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(&buf[..n])
    ))
}

/// `tokio::task::spawn_blocking(f)` is `wasio::run_in_executor(f)`: a thread pool natively; on
/// WASI, which has no threads, `f` runs on the loop in a later iteration.
pub async fn spawn_blocking() -> Shown {
    let sum = wasio::run_in_executor(|| (1..=1000u64).sum::<u64>())?.await?;
    Ok(format!("spawn_blocking: {sum}"))
}

/// tokio's `AsyncRead` / `AsyncWrite` (for a crate written against them) through
/// `tokio-util`'s `compat()`: wasio streams implement the `futures-io` traits, and `Compat`
/// turns them into tokio's. No tokio runtime is involved.
pub async fn tokio_io_traits() -> Shown {
    let (a, b) = tcp_pair().await?;
    let mut a = a.compat(); // tokio::io::AsyncRead + AsyncWrite
    let mut b = b.compat();
    a.write_all(b"through tokio's traits").await?;
    a.shutdown().await?; // half-close: b reads to the end
    let mut got = String::new();
    b.read_to_string(&mut got).await?;
    Ok(format!("tokio_io_traits: {got}"))
}

/// `tokio::io::BufReader::new(r).lines()` is futures-util's `BufReader::new(r).lines()`, a
/// `Stream` of lines.
pub async fn lines() -> Shown {
    let (a, b) = tcp_pair().await?;
    a.write_all(b"one\ntwo\nthree\n").await?;
    a.shutdown_write().await?;
    let lines: Vec<String> = BufReader::new(b).lines().try_collect().await?;
    Ok(format!("lines: {lines:?}"))
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from("hello"))))
}

/// hyper-util's `TokioIo` is `wasio::hyper::HyperIo`, and hyper-util's `GracefulShutdown`
/// works on it unchanged: `watch` each connection, then `shutdown()` lets the requests in
/// flight finish and closes idle keep-alive connections. (`wasio::hyper::serve` does all of
/// this in one call.)
pub async fn graceful_shutdown() -> Shown {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let connect = TcpStream::connect(listener.local_addr()?);
    let (accepted, client) = futures_util::future::join(listener.accept(), connect).await;
    // The server: hyper's connection on `HyperIo`, watched by hyper-util's GracefulShutdown.
    let graceful = GracefulShutdown::new();
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(WasioTimer::new())
        .serve_connection(HyperIo::new(accepted?.0), service_fn(hello));
    let served = wasio::spawn(graceful.watch(conn));
    // The client: one request on a keep-alive connection, which then stays open and idle.
    let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(client?)).await?;
    let client_conn = wasio::spawn(conn);
    let request = Request::get("/")
        .header("host", "x")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    // The shutdown closes the idle connection and returns once it is closed ...
    wasio::timeout(Duration::from_secs(30), graceful.shutdown()).await?;
    served.await??;
    // ... and the client, seeing the server close, ends its connection task.
    wasio::timeout(Duration::from_secs(30), client_conn).await???;
    Ok(format!(
        "graceful_shutdown: served {:?}, then closed",
        String::from_utf8_lossy(&body)
    ))
}

/// A connected pair of TCP streams on loopback.
async fn tcp_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (accepted, connected) = futures_util::future::join(
        listener.accept(),
        TcpStream::connect(listener.local_addr()?),
    )
    .await;
    Ok((connected?, accepted?.0))
}

/// Runs every mapping. (`#[tokio::main]` is `#[wasio::main]`, as in `examples/countdown.rs`;
/// this file calls `wasio::run` itself because the suite compiles it as a module.)
fn main() -> Result<(), Box<dyn Error>> {
    wasio::run(async {
        for shown in [
            spawn().await,
            join_set().await,
            select_first().await,
            time().await,
            net().await,
            spawn_blocking().await,
            tokio_io_traits().await,
            lines().await,
            graceful_shutdown().await,
        ] {
            println!("{}", shown?);
        }
        Ok(())
    })?
}
