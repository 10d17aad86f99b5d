//! An HTTP server on `wasio::hyper::serve`: HTTP/1.1 and HTTP/2 (h2c, and over TLS by ALPN),
//! keep-alive, timeouts, a connection limit, graceful shutdown (on Ctrl-C natively).
//!
//! ```text
//! cargo run --features hyper --example http_server -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! curl --data-binary @some-file http://127.0.0.1:8080/echo
//! cargo run --features hyper,tls --example http_server -- 127.0.0.1:8443 --tls cert.pem key.pem
//! curl --cacert cert.pem https://localhost:8443/
//! cargo build --release --features hyper,tls --example http_server --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run --dir . target/wasm32-wasip2/release/examples/http_server.wasm -- 127.0.0.1:8443 --tls cert.pem key.pem
//! ```
//!
//! `GET /` says hello, `POST /echo` sends the request body back (up to 16 MiB; more is
//! `413`), other methods on those paths are `405` and other paths `404`. Every response carries
//! `x-connection` (the connection's number, from 1, in accept order) and `x-request` (the
//! request's number on its connection, from 1): keep-alive shows as one `x-connection` with a
//! growing `x-request`.
//!
//! Arguments: `[HOST:PORT]` (default `127.0.0.1:0`, an OS-chosen port), `--tls CERT KEY`
//! (PEM files; feature `tls`), and `--max-requests N` to exit after answering N requests (used
//! by the tests): the server stops listening, lets every connection finish the response it
//! is writing, and exits. It prints `listening on ADDR` first.
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
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::Service;
use hyper::{Method, Request, Response, StatusCode};
use wasio::hyper::{ServeOptions, Serving, serve};
use wasio::net::TcpListener;

/// The largest body `POST /echo` takes.
pub const MAX_ECHO: usize = 16 << 20;

/// How long a shutdown lets requests in flight finish.
const GRACE: Duration = Duration::from_secs(10);

/// A running server.
#[derive(Clone)]
pub struct HttpServer {
    serving: Serving,
    state: Rc<State>,
}

/// What the connections share.
#[derive(Default)]
struct State {
    /// Connections accepted so far (the last one's number).
    connections: Cell<u64>,
    /// Requests answered so far.
    requests: Cell<u64>,
    /// The task waiting in `requests_reach`.
    count_waker: RefCell<Option<Waker>>,
}

/// The service: `serve` clones it once per connection, which numbers the connection.
struct App {
    state: Rc<State>,
    connection: u64,
    on_this_connection: Rc<Cell<u64>>,
}

impl Clone for App {
    fn clone(&self) -> App {
        let id = self.state.connections.get() + 1;
        self.state.connections.set(id);
        App {
            state: self.state.clone(),
            connection: id,
            on_this_connection: Rc::new(Cell::new(0)),
        }
    }
}

impl Service<Request<Incoming>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>>>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let nth = self.on_this_connection.get() + 1;
        self.on_this_connection.set(nth);
        Box::pin(respond(req, self.connection, nth, self.state.clone()))
    }
}

impl HttpServer {
    /// Starts serving on `host:port` (port 0: one chosen by the OS).
    pub async fn start(host: &str, port: u16) -> io::Result<HttpServer> {
        HttpServer::start_with((host, port), ServeOptions::new()).await
    }

    /// Starts serving on `addr` with `options` (TLS, timeouts, the connection limit).
    pub async fn start_with(
        addr: impl wasio::net::ToSocketAddrs,
        options: ServeOptions,
    ) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(addr).await?;
        let state = Rc::new(State::default());
        let app = App {
            state: state.clone(),
            connection: 0,
            on_this_connection: Rc::new(Cell::new(0)),
        };
        let serving = serve(listener, app, options);
        Ok(HttpServer { serving, state })
    }

    /// The listening addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.serving.local_addr().into_iter().collect()
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
        poll_fn(|cx: &mut Context<'_>| {
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
        let report = self.serving.shutdown(GRACE).await;
        if report.aborted > 0 {
            eprintln!("{} connections did not finish in time", report.aborted);
        }
    }

    /// Serves until `shutdown` (from another task), Ctrl-C (natively) or, with
    /// `max_requests`, until that many requests have been answered, then shuts down.
    pub async fn run(&self, max_requests: Option<u64>) -> io::Result<()> {
        let done = async {
            match max_requests {
                Some(n) => self.requests_reach(n).await,
                // Ctrl-C where there are signals; on WASI, until the host stops the guest.
                None => {
                    if wasio::signal::ctrl_c().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    eprintln!("Ctrl-C: finishing the requests in flight");
                }
            }
        };
        done.await;
        self.shutdown().await;
        Ok(())
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
    state.requests.set(state.requests.get() + 1);
    if let Some(w) = state.count_waker.borrow_mut().take() {
        w.wake();
    }
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

/// `--tls CERT KEY`: serve over TLS (feature `tls`).
#[cfg(feature = "tls")]
fn tls_options(cert: &str, key: &str) -> Result<ServeOptions, Box<dyn std::error::Error>> {
    let acceptor = wasio::tls::acceptor(&std::fs::read(cert)?, &std::fs::read(key)?)?;
    Ok(ServeOptions::new().tls(acceptor))
}

#[cfg(not(feature = "tls"))]
fn tls_options(_cert: &str, _key: &str) -> Result<ServeOptions, Box<dyn std::error::Error>> {
    Err("--tls needs the `tls` feature (cargo run --features hyper,tls ...)".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let mut addr = "127.0.0.1:0".to_string();
    let mut max: Option<u64> = None;
    let mut options = ServeOptions::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--max-requests" => {
                max = Some(
                    args.next()
                        .ok_or("--max-requests needs a number")?
                        .parse()?,
                );
            }
            "--tls" => {
                let cert = args.next().ok_or("--tls needs CERT and KEY")?;
                let key = args.next().ok_or("--tls needs CERT and KEY")?;
                options = tls_options(&cert, &key)?;
            }
            _ => addr = a,
        }
    }
    wasio::run(async move {
        let server = HttpServer::start_with(addr.as_str(), options).await?;
        for a in server.addrs() {
            println!("listening on {a}");
        }
        io::stdout().flush()?;
        server.run(max).await
    })??;
    Ok(())
}
