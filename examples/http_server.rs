//! An HTTP/1.1 server: hyper on wasio, through the `wasio::hyper` adapter.
//!
//! ```text
//! cargo run --features hyper --example http_server -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! curl --data-binary @some-file http://127.0.0.1:8080/echo
//! cargo build --release --features hyper --example http_server --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/http_server.wasm -- 127.0.0.1:8080
//! ```
//!
//! `GET /` says hello, `POST /echo` sends the request body back (up to 16 MiB; more is
//! `413`), other methods on those paths are `405` and other paths `404`. Every response carries
//! `x-connection` (the connection's number, from 1, in accept order) and `x-request` (the
//! request's number on its connection, from 1): keep-alive shows as one `x-connection` with a
//! growing `x-request`.
//!
//! Arguments: `[HOST:PORT]` (default `127.0.0.1:0`, an OS-chosen port) and `--max-requests N`
//! to exit after answering N requests (used by the tests): the server stops listening, lets
//! every connection finish the response it is writing, and exits. It prints
//! `listening on ADDR` for each listening socket first.
//!
//! The conformance cases and the native tests compile this file as a module (`HttpServer`),
//! so the same server is tested natively and in wasmtime.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example program prints its output"
)]

#[path = "common/log.rs"]
mod log;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::poll_fn;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use wasio::hyper::{HyperIo, WasioTimer};
use wasio::net::{Server, ServerOptions, TcpStream, start_server};

/// The largest body `POST /echo` takes.
pub const MAX_ECHO: usize = 16 << 20;

/// A running server: wasio's `Server` accepts, hyper serves each connection in its task.
#[derive(Clone)]
pub struct HttpServer {
    server: Server,
    state: Rc<State>,
}

/// What the connections share.
#[derive(Default)]
struct State {
    /// Connections accepted so far (the last one's number).
    connections: Cell<u64>,
    /// Requests answered so far.
    requests: Cell<u64>,
    /// Set by `shutdown`: every connection finishes what it is doing and closes.
    stopping: Cell<bool>,
    /// The connections waiting for `stopping`, by number.
    connection_wakers: RefCell<HashMap<u64, Waker>>,
    /// The task waiting in `requests_reach`.
    count_waker: RefCell<Option<Waker>>,
}

impl State {
    /// Whether `shutdown` was asked; if not, wakes connection `id` when it is.
    fn poll_stopping(&self, id: u64, cx: &mut Context<'_>) -> bool {
        if self.stopping.get() {
            return true;
        }
        let mut wakers = self.connection_wakers.borrow_mut();
        match wakers.get_mut(&id) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => w.clone_from(cx.waker()),
            None => {
                wakers.insert(id, cx.waker().clone());
            }
        }
        false
    }

    fn answered(&self) {
        self.requests.set(self.requests.get() + 1);
        if let Some(w) = self.count_waker.borrow_mut().take() {
            w.wake();
        }
    }
}

impl HttpServer {
    /// Starts serving on `host:port` (port 0: one chosen by the OS).
    pub async fn start(host: &str, port: u16) -> io::Result<HttpServer> {
        let state = Rc::new(State::default());
        let st = state.clone();
        let server = start_server(
            move |stream: TcpStream| serve_connection(stream, st.clone()),
            host,
            port,
            ServerOptions::new(),
        )
        .await?;
        Ok(HttpServer { server, state })
    }

    /// The listening addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.server.sockets()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.get()
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.get()
    }

    /// Waits until `n` requests have been answered.
    pub async fn requests_reach(&self, n: u64) {
        poll_fn(|cx| {
            if self.state.requests.get() >= n {
                Poll::Ready(())
            } else {
                *self.state.count_waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }

    /// Stops listening, lets every connection finish the response it is writing (idle ones
    /// close at once), and waits for the last one to end.
    pub async fn shutdown(&self) {
        self.server.close();
        self.state.stopping.set(true);
        let wakers = std::mem::take(&mut *self.state.connection_wakers.borrow_mut());
        for (_, w) in wakers {
            w.wake();
        }
        self.server.wait_closed().await;
    }

    /// Serves until `shutdown` (from another task) or, with `max_requests`, until that many
    /// requests have been answered, then shuts down.
    pub async fn run(&self, max_requests: Option<u64>) -> io::Result<()> {
        match max_requests {
            None => self.server.serve_forever().await,
            Some(n) => {
                self.requests_reach(n).await;
                self.shutdown().await;
                Ok(())
            }
        }
    }
}

/// Serves one connection with hyper until the client closes it, or until `shutdown`.
async fn serve_connection(stream: TcpStream, state: Rc<State>) {
    let id = state.connections.get() + 1;
    state.connections.set(id);
    let on_this_connection = Cell::new(0u64);
    let st = state.clone();
    let service = service_fn(move |req| {
        let nth = on_this_connection.get() + 1;
        on_this_connection.set(nth);
        respond(req, id, nth, st.clone())
    });
    let mut conn = pin!(
        http1::Builder::new()
            .timer(WasioTimer::new())
            .serve_connection(HyperIo::new(stream), service)
    );
    let mut shutting_down = false;
    let result = poll_fn(|cx| {
        if !shutting_down && state.poll_stopping(id, cx) {
            // Finish the request in flight, if any, then close.
            conn.as_mut().graceful_shutdown();
            shutting_down = true;
        }
        conn.as_mut().poll(cx)
    })
    .await;
    state.connection_wakers.borrow_mut().remove(&id);
    if let Err(e) = result {
        eprintln!("connection {id}: {e}");
    }
}

/// Answers one request.
async fn respond(
    req: Request<Incoming>,
    connection: u64,
    nth: u64,
    state: Rc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => text(StatusCode::OK, "hello from wasio\n"),
        (&Method::POST, "/echo") => echo(req.into_body()).await,
        (_, "/" | "/echo") => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let headers = res.headers_mut();
    headers.insert("x-connection", HeaderValue::from(connection));
    headers.insert("x-request", HeaderValue::from(nth));
    state.answered();
    Ok(res)
}

/// The request body, sent back.
async fn echo(body: Incoming) -> Response<Full<Bytes>> {
    match Limited::new(body, MAX_ECHO).collect().await {
        Ok(body) => Response::new(Full::new(body.to_bytes())),
        Err(e) if e.is::<LengthLimitError>() => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_ECHO} bytes\n"),
        ),
        Err(e) => text(StatusCode::BAD_REQUEST, format!("reading the body: {e}\n")),
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let mut addr = "127.0.0.1:0".to_string();
    let mut max: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--max-requests" {
            max = Some(
                args.next()
                    .ok_or("--max-requests needs a number")?
                    .parse()?,
            );
        } else {
            addr = a;
        }
    }
    let (host, port) = wasio::net::split_host_port(&addr)?;
    let host = host.to_string();
    wasio::run(async move {
        let server = HttpServer::start(&host, port).await?;
        for a in server.addrs() {
            println!("listening on {a}");
        }
        io::stdout().flush()?;
        server.run(max).await
    })??;
    Ok(())
}
