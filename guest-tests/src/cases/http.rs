//! hyper on wasio (`wasio::hyper`): the example HTTP/1.1 server (`examples/http_server.rs`)
//! and a hyper client on one loop, over loopback: keep-alive, 100 concurrent requests, a 1 MiB
//! body echoed back; hyper's timeouts on `WasioTimer`, and `WasioExecutor`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::rt::{Executor, Timer};
use hyper::service::service_fn;
use hyper::{Request, Response};
use wasio::hyper::{HyperIo, WasioExecutor, WasioTimer};
use wasio::net::{TcpListener, TcpStream};

use super::net_util::{WAIT, checksum, lo4, payload};
use crate::http::server::HttpServer;
use crate::http::{Barrier, Client};
use crate::{Context, Transcript, block, ensure, ensure_eq, within};

const HELLO: &str = "hello from wasio\n";

/// Starts the example server on loopback; returns it and its address.
async fn start() -> Result<(HttpServer, std::net::SocketAddr), String> {
    let server = HttpServer::start("127.0.0.1", 0)
        .await
        .ctx("start the server")?;
    let addr = *server.addrs().first().ok_or("the server has no socket")?;
    Ok((server, addr))
}

/// Keep-alive: three requests over one connection are answered on one server connection, in
/// order; the next connection is the server's second; `shutdown` closes an idle keep-alive
/// connection, which the client sees as a clean end.
pub fn http_keep_alive_serves_requests_on_one_connection(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (server, addr) = start().await?;
        let mut client = Client::connect(addr).await?;
        for _ in 0..3 {
            let reply = within(WAIT, "GET /", client.get("/")).await??;
            ensure_eq!(reply.body, HELLO, "body of GET /");
            t.push(format!("GET / {}", reply.summary()));
        }
        t.push(format!(
            "server connections={} requests={}",
            server.connections(),
            server.requests()
        ));
        within(WAIT, "close the first connection", client.close()).await??;
        let mut second = Client::connect(addr).await?;
        let reply = within(WAIT, "GET /nowhere", second.get("/nowhere")).await??;
        t.push(format!("GET /nowhere {}", reply.summary()));
        // `second` is idle in keep-alive: shutting the server down closes it.
        within(WAIT, "shutdown", server.shutdown()).await?;
        within(WAIT, "idle connection closed", second.closed_by_server()).await??;
        t.push("shutdown closed the idle connection");
        t.push(format!(
            "server connections={} requests={}",
            server.connections(),
            server.requests()
        ));
        t.expect(&[
            "GET / 200 connection=1 request=1",
            "GET / 200 connection=1 request=2",
            "GET / 200 connection=1 request=3",
            "server connections=1 requests=3",
            "GET /nowhere 404 connection=2 request=1",
            "shutdown closed the idle connection",
            "server connections=2 requests=4",
        ])
    })
}

/// 100 concurrent requests: 100 clients connect, wait until all are connected, then each sends
/// its request at once and keeps its connection until every reply is in. Every request is
/// answered, each on a connection of its own.
pub fn http_100_concurrent_requests_are_all_answered(t: &Transcript) -> Result<(), String> {
    const N: usize = 100;
    let t = t.clone();
    block(async move {
        let (server, addr) = start().await?;
        let connected = Barrier::new(N);
        let answered = Barrier::new(N);
        let mut tasks = Vec::with_capacity(N);
        for i in 0..N {
            let (connected, answered) = (connected.clone(), answered.clone());
            tasks.push(wasio::spawn(async move {
                let mut client = Client::connect(addr).await?;
                connected.wait().await;
                let reply = if i % 2 == 0 {
                    client.get("/").await?
                } else {
                    let body = Bytes::from(format!("request {i}"));
                    let reply = client.post("/echo", body.clone()).await?;
                    ensure_eq!(reply.body, body, "echo of request {i}");
                    reply
                };
                answered.wait().await;
                client.close().await?;
                Ok::<_, String>(reply)
            }));
        }
        let mut statuses = BTreeSet::new();
        let mut connections = BTreeSet::new();
        let mut hellos = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            let reply = within(WAIT, &format!("request {i}"), task)
                .await?
                .ctx("client task")??;
            statuses.insert(reply.status);
            connections.insert(reply.connection);
            ensure_eq!(reply.request, 1, "request number of request {i}");
            if reply.body == HELLO {
                hellos += 1;
            }
        }
        t.push(format!("statuses {statuses:?}"));
        t.push(format!("distinct connections {}", connections.len()));
        t.push(format!("hellos {hellos}"));
        t.push(format!(
            "server connections={} requests={}",
            server.connections(),
            server.requests()
        ));
        within(WAIT, "shutdown", server.shutdown()).await?;
        t.expect(&[
            "statuses {200}",
            "distinct connections 100",
            "hellos 50",
            "server connections=100 requests=100",
        ])
    })
}

/// A 1 MiB body is echoed back intact, and the connection then serves another request.
pub fn http_1mib_body_is_echoed(t: &Transcript) -> Result<(), String> {
    const LEN: usize = 1 << 20;
    let t = t.clone();
    block(async move {
        let (server, addr) = start().await?;
        let mut client = Client::connect(addr).await?;
        let data = Bytes::from(payload(11, LEN));
        let sent = checksum(&data);
        let reply = within(WAIT, "POST /echo", client.post("/echo", data)).await??;
        t.push(format!("POST /echo {}", reply.summary()));
        t.push(format!("echoed {} bytes", reply.body.len()));
        t.push(format!("checksums equal={}", checksum(&reply.body) == sent));
        let reply = within(WAIT, "GET /", client.get("/")).await??;
        t.push(format!("GET / {}", reply.summary()));
        within(WAIT, "close", client.close()).await??;
        within(WAIT, "shutdown", server.shutdown()).await?;
        t.expect(&[
            "POST /echo 200 connection=1 request=1",
            "echoed 1048576 bytes",
            "checksums equal=true",
            "GET / 200 connection=1 request=2",
        ])
    })
}

/// hyper's header read timeout runs on `WasioTimer`: a client that sends half a request head
/// and then nothing is disconnected once the timeout has passed, never before.
pub fn http_header_read_timeout_closes_a_silent_connection(t: &Transcript) -> Result<(), String> {
    const TIMEOUT: Duration = Duration::from_millis(150);
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let server = wasio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let hello = service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(HELLO))))
            });
            let result = hyper::server::conn::http1::Builder::new()
                .timer(WasioTimer::new())
                .header_read_timeout(TIMEOUT)
                .serve_connection(HyperIo::new(stream), hello)
                .await;
            Ok::<_, std::io::Error>(result.map_err(|e| e.is_timeout()))
        });
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        let t0 = Instant::now();
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .ctx("write half a head")?;
        let mut rest = Vec::new();
        within(WAIT, "the server closes", client.read_to_end(&mut rest))
            .await?
            .ctx("read to end")?;
        let waited = t0.elapsed();
        let result = within(WAIT, "server task", server)
            .await?
            .ctx("server task")?
            .ctx("accept")?;
        t.push(format!(
            "server ended with a timeout={}",
            result == Err(true)
        ));
        t.push(format!("client read end of stream, {} bytes", rest.len()));
        ensure!(
            waited >= TIMEOUT,
            "disconnected after {waited:?}, before the {TIMEOUT:?} timeout"
        );
        t.note(format!("disconnected after {waited:?}"));
        t.expect(&[
            "server ended with a timeout=true",
            "client read end of stream, 0 bytes",
        ])
    })
}

/// `WasioTimer` and `WasioExecutor` directly: sleeps fire in deadline order, `reset` moves a
/// pending deadline, an unrepresentable deadline never fires, and the executor runs its
/// futures as tasks of the running loop.
pub fn http_timer_and_executor_run_on_the_loop(t: &Transcript) -> Result<(), String> {
    const LATE: Duration = Duration::from_millis(100);
    let t = t.clone();
    block(async move {
        let timer = WasioTimer::new();
        let order = Rc::new(RefCell::new(Vec::new()));
        let t0 = Instant::now();
        // `late` waits 100 ms; `moved` first waits an hour, is polled once (its wasio timer
        // exists), then is reset to 5 ms from now: it fires first.
        let late = timer.sleep(LATE);
        let mut moved = timer.sleep_until(Instant::now() + Duration::from_secs(3600));
        let first_poll = poll_fn(|cx| Poll::Ready(moved.as_mut().poll(cx))).await;
        ensure!(
            first_poll.is_pending(),
            "an hour-long sleep was ready at once"
        );
        timer.reset(&mut moved, Instant::now() + Duration::from_millis(5));
        let exec = WasioExecutor::new();
        let done = Barrier::new(3);
        for (name, sleep) in [("late", late), ("moved", moved)] {
            let (order, done) = (order.clone(), done.clone());
            exec.execute(async move {
                sleep.await;
                order.borrow_mut().push(name);
                done.wait().await;
            });
        }
        within(WAIT, "both sleeps", done.wait()).await?;
        let waited = t0.elapsed();
        ensure!(waited >= LATE, "the {LATE:?} sleep ended after {waited:?}");
        t.push(format!("fired {:?}", order.borrow()));
        // Further away than `Instant` can express: pending, and dropping it is fine.
        let mut never = timer.sleep(Duration::MAX);
        let polled = poll_fn(|cx| Poll::Ready(never.as_mut().poll(cx))).await;
        t.push(format!(
            "Duration::MAX sleep pending={}",
            polled.is_pending()
        ));
        drop(never);
        t.expect(&[
            "fired [\"moved\", \"late\"]",
            "Duration::MAX sleep pending=true",
        ])
    })
}
