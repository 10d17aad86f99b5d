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

// ===== wasio::hyper::serve =====

type Answer =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>>>>;

/// A service that answers `GET /` at once and `GET /hold` only when `release` is sent.
fn holding_service(
    release: async_channel::Receiver<()>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = Answer,
> + Clone {
    service_fn(move |req: Request<Incoming>| {
        let release = release.clone();
        let fut: Answer = Box::pin(async move {
            if req.uri().path() == "/hold" {
                let _ = release.recv().await;
            }
            let mut res = Response::new(Full::new(Bytes::from_static(b"done")));
            res.headers_mut()
                .insert("x-connection", hyper::header::HeaderValue::from(0u64));
            res.headers_mut()
                .insert("x-request", hyper::header::HeaderValue::from(0u64));
            Ok::<_, Infallible>(res)
        });
        fut
    })
}

/// `serve` past `max_connections`: a new connection is accepted and closed at once (and
/// counted), the open ones keep working, and once one closes a new one is served.
pub fn http_serve_refuses_past_the_connection_limit(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (_tx, rx) = async_channel::bounded(1);
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let serving = wasio::hyper::serve(
            listener,
            holding_service(rx),
            wasio::hyper::ServeOptions::new().max_connections(Some(2)),
        );
        let addr = serving.local_addr().ctx("addr")?;
        let mut a = Client::connect(addr).await?;
        let mut b = Client::connect(addr).await?;
        for c in [&mut a, &mut b] {
            let r = within(WAIT, "GET", c.get("/")).await??;
            ensure_eq!(r.status, 200, "status");
        }
        let third = async {
            let mut c = Client::connect(addr).await?;
            c.get("/").await
        };
        let refused = within(WAIT, "the third connection", third).await?;
        t.push(format!(
            "third: refused={} counted={}",
            refused.is_err(),
            serving.refused()
        ));
        let r = within(WAIT, "GET on an open one", a.get("/")).await??;
        t.push(format!("open connection still served: {}", r.status));
        within(WAIT, "close", a.close()).await??;
        within(WAIT, "the count going down", async {
            while serving.connections() > 1 {
                wasio::sleep(Duration::from_millis(1)).await;
            }
        })
        .await?;
        let mut d = Client::connect(addr).await?;
        let r = within(WAIT, "GET after a slot freed", d.get("/")).await??;
        t.push(format!("after one closed: {}", r.status));
        drop((b, d));
        let report = serving.shutdown(WAIT).await;
        t.push(format!("shutdown aborted={}", report.aborted));
        t.expect(&[
            "third: refused=true counted=1",
            "open connection still served: 200",
            "after one closed: 200",
            "shutdown aborted=0",
        ])
    })
}

/// `serve`'s idle timeout: a keep-alive connection with no traffic is closed by the server,
/// not before the timeout.
pub fn http_serve_closes_idle_connections(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (_tx, rx) = async_channel::bounded(1);
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let idle = Duration::from_millis(200);
        let serving = wasio::hyper::serve(
            listener,
            holding_service(rx),
            wasio::hyper::ServeOptions::new().idle_timeout(Some(idle)),
        );
        let addr = serving.local_addr().ctx("addr")?;
        let mut c = Client::connect(addr).await?;
        within(WAIT, "GET", c.get("/")).await??;
        let t0 = Instant::now();
        within(
            WAIT,
            "the server closing the idle connection",
            c.closed_by_server(),
        )
        .await??;
        let waited = t0.elapsed();
        // Never early; the upper bound is loose (a loaded machine).
        ensure!(waited >= idle, "closed after {waited:?}, before {idle:?}");
        t.push("idle connection closed by the server");
        serving.shutdown(WAIT).await;
        t.expect(&["idle connection closed by the server"])
    })
}

/// `Serving::shutdown`: new connects are refused, a request in flight finishes within the
/// grace period; one that outlasts it is cut off and counted as aborted.
pub fn http_serve_shutdown_lets_requests_finish(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        for grace_ms in [10_000u64, 100] {
            let (tx, rx) = async_channel::bounded(1);
            let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
            let serving = wasio::hyper::serve(
                listener,
                holding_service(rx),
                wasio::hyper::ServeOptions::new(),
            );
            let addr = serving.local_addr().ctx("addr")?;
            let mut c = Client::connect(addr).await?;
            let in_flight = wasio::spawn(async move { c.get("/hold").await });
            within(WAIT, "the request reaching the server", async {
                while serving.served() == 0 {
                    wasio::sleep(Duration::from_millis(1)).await;
                }
            })
            .await?;
            wasio::sleep(Duration::from_millis(20)).await;
            let s2 = serving.clone();
            let shutting =
                wasio::spawn(async move { s2.shutdown(Duration::from_millis(grace_ms)).await });
            wasio::yield_now().await;
            let refused = TcpStream::connect(addr).await.is_err();
            if grace_ms > 1000 {
                tx.send(()).await.ctx("release")?;
            }
            let report = within(WAIT, "shutdown", shutting).await?.ctx("task")?;
            let reply = within(WAIT, "the request in flight", in_flight)
                .await?
                .ctx("task")?;
            t.push(format!(
                "grace {grace_ms} ms: new connects refused={refused} request ok={} finished={} aborted={}",
                reply.is_ok(),
                report.finished,
                report.aborted
            ));
        }
        t.expect(&[
            "grace 10000 ms: new connects refused=true request ok=true finished=1 aborted=0",
            "grace 100 ms: new connects refused=true request ok=false finished=0 aborted=1",
        ])
    })
}

/// `serve` speaks HTTP/2 to a client that starts with its preface (h2c, prior knowledge):
/// ten concurrent streams on one connection, every response HTTP/2.
pub fn http2_prior_knowledge_is_served(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (_tx, rx) = async_channel::bounded(1);
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let serving = wasio::hyper::serve(
            listener,
            holding_service(rx),
            wasio::hyper::ServeOptions::new(),
        );
        let addr = serving.local_addr().ctx("addr")?;
        let stream = TcpStream::connect(addr).await.ctx("connect")?;
        let (sender, conn) =
            hyper::client::conn::http2::handshake(WasioExecutor::new(), HyperIo::new(stream))
                .await
                .ctx("h2 handshake")?;
        let conn = wasio::spawn(conn);
        let requests = (0..10).map(|_| {
            let mut sender = sender.clone();
            async move {
                let req = Request::builder()
                    .uri(format!("http://{addr}/"))
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| e.to_string())?;
                let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
                Ok::<_, String>((res.version(), res.status().as_u16()))
            }
        });
        let replies = within(WAIT, "ten h2 streams", wasio::gather(requests)).await?;
        let ok = replies
            .iter()
            .filter(|r| matches!(r, Ok((v, 200)) if *v == hyper::Version::HTTP_2))
            .count();
        t.push(format!("{ok} of 10 streams answered over HTTP/2"));
        t.push(format!("one connection: {}", serving.served()));
        drop(sender);
        let _ = within(WAIT, "the h2 connection", conn).await?;
        serving.shutdown(WAIT).await;
        t.expect(&["10 of 10 streams answered over HTTP/2", "one connection: 1"])
    })
}
