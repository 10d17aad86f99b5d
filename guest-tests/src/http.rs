//! HTTP on wasio for the cases and the native tests: the example server
//! (`examples/http_server.rs`, compiled in here so that the cases test the example itself in
//! both worlds), a hyper client on wasio, and a barrier for tasks.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HOST;
use hyper::{Method, Request};
use wasio::JoinHandle;
use wasio::hyper::HyperIo;
use wasio::net::TcpStream;

use crate::Context;

#[allow(
    dead_code,
    reason = "the example's `main` and its argument parsing run only in the example"
)]
#[path = "../../examples/http_server.rs"]
pub mod server;

/// One response, with the server's connection and request numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// `x-connection`: the server's number for the connection.
    pub connection: u64,
    /// `x-request`: the request's number on its connection.
    pub request: u64,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// `"<status> connection=<n> request=<k>"`, for transcripts.
    pub fn summary(&self) -> String {
        format!(
            "{} connection={} request={}",
            self.status, self.connection, self.request
        )
    }
}

/// A hyper HTTP/1.1 client connection on wasio: the connection runs in a task, requests go
/// through the sender, one at a time.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    conn: JoinHandle<hyper::Result<()>>,
    authority: String,
}

impl Client {
    /// Connects to `addr` and spawns the connection's task.
    pub async fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect(addr).await.ctx("connect")?;
        let (sender, conn) = http1::handshake(HyperIo::new(stream))
            .await
            .ctx("handshake")?;
        Ok(Client {
            sender,
            conn: wasio::spawn(conn),
            authority: addr.to_string(),
        })
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<Reply, String> {
        self.send(Method::GET, path, Bytes::new()).await
    }

    /// `POST path` with `body`.
    pub async fn post(&mut self, path: &str, body: Bytes) -> Result<Reply, String> {
        self.send(Method::POST, path, body).await
    }

    async fn send(&mut self, method: Method, path: &str, body: Bytes) -> Result<Reply, String> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.authority.as_str())
            .body(Full::new(body))
            .ctx("build the request")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .ctx("send_request")?;
        let number = |name: &str| -> Result<u64, String> {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no numeric {name} header"))
        };
        let (connection, request) = (number("x-connection")?, number("x-request")?);
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .ctx("read the body")?
            .to_bytes();
        Ok(Reply {
            status,
            connection,
            request,
            body,
        })
    }

    /// Drops the sender and waits for the connection's task, which then closes the
    /// connection and ends.
    pub async fn close(self) -> Result<(), String> {
        let Client { sender, conn, .. } = self;
        drop(sender);
        conn.await.ctx("connection task")?.ctx("connection")
    }

    /// Waits for the connection's task to end by itself (the server closed the connection),
    /// keeping the sender.
    pub async fn closed_by_server(self) -> Result<(), String> {
        let Client { sender, conn, .. } = self;
        let result = conn.await;
        drop(sender);
        result.ctx("connection task")?.ctx("connection")
    }
}

/// A barrier for `n` tasks of one loop: `wait` returns once `n` calls are waiting.
#[derive(Clone)]
pub struct Barrier(Rc<RefCell<(usize, Vec<Waker>)>>);

impl Barrier {
    /// A barrier for `n` tasks.
    pub fn new(n: usize) -> Barrier {
        Barrier(Rc::new(RefCell::new((n, Vec::new()))))
    }

    /// Waits until `n` tasks have called `wait`.
    pub async fn wait(&self) {
        {
            let mut state = self.0.borrow_mut();
            state.0 = state.0.saturating_sub(1);
            if state.0 == 0 {
                for w in state.1.drain(..) {
                    w.wake();
                }
                return;
            }
        }
        let mut registered = false;
        std::future::poll_fn(|cx| {
            let mut state = self.0.borrow_mut();
            if state.0 == 0 {
                return Poll::Ready(());
            }
            if !registered {
                state.1.push(cx.waker().clone());
                registered = true;
            }
            Poll::Pending
        })
        .await;
    }
}
