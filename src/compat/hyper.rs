//! [hyper] 1.x on wasio (cargo feature `hyper`): [`HyperIo`] gives a wasio stream hyper's
//! `rt::Read` and `rt::Write`, [`WasioExecutor`] spawns hyper's background tasks on the
//! running loop, and [`WasioTimer`] gives hyper wasio's timers. HTTP/1.1 servers and clients
//! then run on wasio natively and on wasm32-wasip2 alike.
//!
//! # Ground rules
//!
//! * Everything runs on the loop's thread. A wasio stream is `!Send`, so hyper's connection
//!   futures are too: run them in wasio tasks ([`spawn`](crate::spawn)). hyper's HTTP/1.1
//!   server and client need no executor; [`WasioExecutor`] is there for the parts of hyper
//!   (and of crates built on it) that spawn.
//! * [`HyperIo`] forwards to the `futures-io` traits of what it wraps. hyper hands reads a
//!   buffer that may be uninitialized, and `futures-io` reads into initialized memory, so each
//!   read zeroes at most 64 KiB of it first and asks for no more than that. `poll_shutdown` is
//!   `futures-io`'s `poll_close` (for a [`TcpStream`](crate::net::TcpStream): flush, then
//!   half-close). Writes are not vectored: hyper then gathers a response into one buffer,
//!   which suits streams that write one slice per call.
//! * hyper requires its sleeps to be `Send + Sync`, while a wasio timer belongs to one loop on
//!   one thread. A [`WasioTimer`] sleep therefore holds only its deadline until it is first
//!   polled, then creates its wasio timer on the loop polling it and remembers that thread.
//!   It touches that timer again only on the same thread: polled on another thread it starts a
//!   new timer there, and dropped on another thread it leaks the old one (a warning is logged)
//!   rather than touch it. hyper never moves a sleep: the connections that own them are
//!   `!Send`.
//! * A sleep first polled where no wasio loop runs panics, like [`sleep`](crate::sleep).
//! * [`WasioExecutor`] spawns on the loop running on the calling thread. hyper's `execute`
//!   cannot fail, so where no loop runs the future is dropped and the error is logged.
//!
//! # Example
//!
//! A hyper server and a hyper client on one loop:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http_body_util::{BodyExt, Full};
//! use hyper::body::{Bytes, Incoming};
//! use hyper::service::service_fn;
//! use hyper::{Request, Response};
//! use wasio::hyper::{HyperIo, WasioTimer};
//! use wasio::net::{TcpListener, TcpStream};
//!
//! async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from("hello"))))
//! }
//!
//! wasio::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     // The server: each connection served by hyper in a task of its own.
//!     wasio::spawn(async move {
//!         while let Ok((stream, _)) = listener.accept().await {
//!             wasio::spawn(
//!                 hyper::server::conn::http1::Builder::new()
//!                     .timer(WasioTimer::new())
//!                     .serve_connection(HyperIo::new(stream), service_fn(hello)),
//!             );
//!         }
//!     });
//!     // The client: the connection runs in a task, requests go through `sender`.
//!     let stream = TcpStream::connect(addr).await?;
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
//!     wasio::spawn(conn);
//!     let request = Request::get("/")
//!         .header("host", addr.to_string())
//!         .body(Full::new(Bytes::new()))?;
//!     let response = sender.send_request(request).await?;
//!     assert_eq!(response.status(), 200);
//!     let body = response.into_body().collect().await?.to_bytes();
//!     assert_eq!(body, "hello");
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .unwrap()
//! .unwrap();
//! ```

pub use super::hyper_rt::{HyperIo, WasioExecutor, WasioTimer};
pub use super::serve::{ServeOptions, Serving, ShutdownReport, serve};
