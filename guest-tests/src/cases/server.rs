//! SRV-01..SRV-10 and EXC-04: the asyncio-style `Server`.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use wasio::net::{Hosts, ServerOptions, TcpListener, TcpStream, start_server};

use super::net_util::{WAIT, echo, lo4, lo6};
use crate::{Context, Transcript, block, ensure, ensure_eq, kind, within};

fn family(a: &SocketAddr) -> &'static str {
    if a.is_ipv4() { "v4" } else { "v6" }
}

/// Connects, writes, reads the echo back; returns the echoed text.
async fn round_trip(addr: SocketAddr, msg: &str) -> Result<String, String> {
    let c = TcpStream::connect(addr).await.ctx("connect")?;
    c.write_all(msg.as_bytes()).await.ctx("write")?;
    let mut buf = vec![0u8; msg.len()];
    c.read_exact(&mut buf).await.ctx("read")?;
    c.close().await.ctx("close")?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Waits (bounded) until the server has accepted a connection.
async fn accepted(server: &wasio::net::Server) -> Result<(), String> {
    within(Duration::from_secs(10), "the server accepting", async {
        while server.active_connections() == 0 {
            wasio::yield_now().await;
        }
    })
    .await
}

/// A handler that parks until the client goes away (reads to end of stream).
async fn park(conn: TcpStream) -> io::Result<()> {
    let mut sink = Vec::new();
    conn.read_to_end(&mut sink).await.map(drop)
}

/// SRV-01: with `start_serving(false)` nothing is accepted until `start_serving()`, which is
/// idempotent.
pub fn srv01_start_serving_flag_and_idempotence(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let opts = ServerOptions::new().start_serving(false);
        let server = start_server(echo, "127.0.0.1", 0, opts)
            .await
            .ctx("start_server")?;
        let addr = server.sockets()[0];
        t.push(format!("before: serving={}", server.is_serving()));
        let early = TcpStream::connect(addr).await;
        t.push(format!(
            "connect before listen: {}",
            early
                .as_ref()
                .err()
                .map(kind)
                .unwrap_or_else(|| "connected".into())
        ));
        server.start_serving().ctx("start_serving")?;
        server.start_serving().ctx("start_serving again")?;
        t.push(format!("after: serving={}", server.is_serving()));
        t.push(format!("echo={}", round_trip(addr, "up").await?));
        let default = start_server(echo, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server default")?;
        t.push(format!("default serving={}", default.is_serving()));
        server.close();
        default.close();
        t.expect(&[
            "before: serving=false",
            "connect before listen: ConnectionRefused",
            "after: serving=true",
            "echo=up",
            "default serving=true",
        ])
    })
}

/// SRV-02: the handler runs once per connection, each in its own task; backlog defaults to 100.
pub fn srv02_one_handler_task_per_connection(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        ensure_eq!(ServerOptions::new().get_backlog(), 100, "default backlog");
        let names = Rc::new(RefCell::new(Vec::<String>::new()));
        let n2 = names.clone();
        let server = start_server(
            move |conn: TcpStream| {
                let names = n2.clone();
                async move {
                    names
                        .borrow_mut()
                        .push(wasio::task::current_name().unwrap_or_default());
                    echo(conn).await
                }
            },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .ctx("start_server")?;
        let addr = server.sockets()[0];
        for i in 0..5 {
            round_trip(addr, &format!("m{i}")).await?;
        }
        server.close();
        within(WAIT, "wait_closed", server.wait_closed()).await?;
        let mut names = names.borrow().clone();
        let calls = names.len();
        names.sort();
        names.dedup();
        t.push(format!(
            "handler calls={calls} distinct tasks={}",
            names.len()
        ));
        t.expect(&["handler calls=5 distinct tasks=5"])
    })
}

/// SRV-03: a duplicate host is bound once; two hosts of different families give two sockets.
pub fn srv03_hosts_are_a_set(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let dup = start_server(
            echo,
            vec!["127.0.0.1", "127.0.0.1"],
            0,
            ServerOptions::new(),
        )
        .await
        .ctx("duplicate hosts")?;
        t.push(format!("duplicate: {} socket", dup.sockets().len()));
        let both = start_server(echo, ["127.0.0.1", "::1"], 0, ServerOptions::new())
            .await
            .ctx("two families")?;
        let mut fams: Vec<&str> = both.sockets().iter().map(family).collect();
        fams.sort_unstable();
        t.push(format!("two hosts: {fams:?}"));
        for a in both.sockets() {
            t.push(format!("{} echo={}", family(&a), round_trip(a, "x").await?));
        }
        dup.close();
        both.close();
        let empty = start_server(echo, Hosts::List(Vec::new()), 0, ServerOptions::new()).await;
        t.push(format!(
            "no hosts: {}",
            empty
                .err()
                .map(|e| kind(&e))
                .unwrap_or_else(|| "bound".into())
        ));
        t.expect(&[
            "duplicate: 1 socket",
            "two hosts: [\"v4\", \"v6\"]",
            "v4 echo=x",
            "v6 echo=x",
            "no hosts: InvalidInput",
        ])
    })
}

/// SRV-03/SRV-04: all interfaces means one socket per family, IPv6 v6-only, so both loopbacks
/// are served.
pub fn srv04_all_interfaces_dual_stack_is_two_sockets(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let server = start_server(echo, Hosts::All, 0, ServerOptions::new())
            .await
            .ctx("start_server")?;
        let socks = server.sockets();
        let mut fams: Vec<String> = socks
            .iter()
            .map(|a| format!("{} unspecified={}", family(a), a.ip().is_unspecified()))
            .collect();
        fams.sort();
        for f in fams {
            t.push(f);
        }
        for a in socks {
            let target = if a.is_ipv4() {
                SocketAddr::new(lo4().ip(), a.port())
            } else {
                SocketAddr::new(lo6().ip(), a.port())
            };
            t.push(format!(
                "{} echo={}",
                family(&a),
                round_trip(target, "y").await?
            ));
        }
        server.close();
        t.expect(&[
            "v4 unspecified=true",
            "v6 unspecified=true",
            "v4 echo=y",
            "v6 echo=y",
        ])
    })
}

/// SRV-04: IPv6 sockets are v6-only: IPv4 can bind the same port afterwards.
pub fn srv04_ipv6_sockets_are_v6_only(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let v6 = start_server(echo, "::", 0, ServerOptions::new())
            .await
            .ctx("bind ::")?;
        let port = v6.sockets()[0].port();
        let v4 = start_server(echo, "0.0.0.0", port, ServerOptions::new()).await;
        t.push(format!(
            "v4 on the v6 port: {}",
            v4.as_ref()
                .err()
                .map(kind)
                .unwrap_or_else(|| "bound".into())
        ));
        v6.close();
        if let Ok(v4) = v4 {
            v4.close();
        }
        t.expect(&["v4 on the v6 port: bound"])
    })
}

/// SRV-04: `reuse_address` (on by default) lets a new server bind a port whose previous server
/// closed a connection first (TIME_WAIT).
pub fn srv04_reuse_address_allows_rebinding(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let first = start_server(
            |conn: TcpStream| async move { conn.close().await },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .ctx("first")?;
        let addr = first.sockets()[0];
        let c = TcpStream::connect(addr).await.ctx("connect")?;
        let mut sink = Vec::new();
        c.read_to_end(&mut sink).await.ctx("read")?;
        drop(c);
        first.close();
        within(WAIT, "wait_closed", first.wait_closed()).await?;
        let second = start_server(echo, "127.0.0.1", addr.port(), ServerOptions::new()).await;
        t.push(format!(
            "rebind: {}",
            second
                .as_ref()
                .err()
                .map(kind)
                .unwrap_or_else(|| "bound".into())
        ));
        if let Ok(s) = second {
            t.push(format!("echo={}", round_trip(addr, "again").await?));
            s.close();
        }
        t.expect(&["rebind: bound", "echo=again"])
    })
}

/// SRV-05: an address in use fails with `AddrInUse`, names the address, and closes the sockets
/// bound before it.
pub fn srv05_bind_failure_names_the_address_and_closes_the_rest(
    t: &Transcript,
) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let holder = TcpListener::bind(lo4()).await.ctx("holder")?;
        let port = holder.local_addr().ctx("local_addr")?.port();
        // ::1 binds first, then 127.0.0.1 fails.
        let res = start_server(echo, ["::1", "127.0.0.1"], port, ServerOptions::new()).await;
        match res {
            Err(e) => {
                t.push(format!("error {}", kind(&e)));
                let msg = e.to_string();
                t.push(format!(
                    "names address={}",
                    msg.contains("error while attempting to bind on address")
                        && msg.contains(&format!("127.0.0.1:{port}"))
                ));
            }
            Ok(_) => t.push("bound"),
        }
        // The ::1 socket bound before the failure was closed: the port is free there.
        let again = TcpListener::bind(SocketAddr::new(lo6().ip(), port)).await;
        t.push(format!("::1 free again={}", again.is_ok()));
        t.expect(&[
            "error AddrInUse",
            "names address=true",
            "::1 free again=true",
        ])
    })
}

/// SRV-07: `close()` stops listening at once, empties `sockets()`, keeps connections open, and
/// is idempotent.
pub fn srv07_close_stops_listening_and_keeps_connections(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let server = start_server(echo, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server")?;
        let addr = server.sockets()[0];
        let kept = TcpStream::connect(addr).await.ctx("connect")?;
        kept.write_all(b"1").await.ctx("write")?;
        let mut one = [0u8; 1];
        kept.read_exact(&mut one).await.ctx("read")?;
        server.close();
        server.close();
        t.push(format!(
            "closed: serving={} sockets={} active={}",
            server.is_serving(),
            server.sockets().len(),
            server.active_connections()
        ));
        let late = TcpStream::connect(addr).await;
        t.push(format!(
            "new connect: {}",
            late.as_ref()
                .err()
                .map(kind)
                .unwrap_or_else(|| "connected".into())
        ));
        kept.write_all(b"2").await.ctx("write after close")?;
        kept.read_exact(&mut one).await.ctx("read after close")?;
        t.push(format!("old connection echo={}", one[0] as char));
        kept.close().await.ctx("close")?;
        within(WAIT, "wait_closed", server.wait_closed()).await?;
        t.push(format!(
            "active after client left={}",
            server.active_connections()
        ));
        t.expect(&[
            "closed: serving=false sockets=0 active=1",
            "new connect: ConnectionRefused",
            "old connection echo=2",
            "active after client left=0",
        ])
    })
}

/// SRV-08: `wait_closed` returns only when closed *and* the last connection is gone; three
/// waiters; later calls return at once.
pub fn srv08_wait_closed_waits_for_the_last_connection(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let server = start_server(park, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server")?;
        let addr = server.sockets()[0];
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        let done = Rc::new(Cell::new(0u32));
        let mut waiters = Vec::new();
        for _ in 0..3 {
            let (s, d) = (server.clone(), done.clone());
            waiters.push(wasio::spawn(async move {
                s.wait_closed().await;
                d.set(d.get() + 1);
            }));
        }
        for _ in 0..5 {
            wasio::yield_now().await;
        }
        t.push(format!("open, serving: done={}", done.get()));
        server.close();
        for _ in 0..5 {
            wasio::yield_now().await;
        }
        t.push(format!(
            "closed, client connected: done={} active={}",
            done.get(),
            server.active_connections()
        ));
        client.close().await.ctx("client close")?;
        drop(client);
        for w in waiters {
            w.await.ctx("waiter")?;
        }
        t.push(format!("client gone: done={}", done.get()));
        within(WAIT, "wait_closed", server.wait_closed()).await?;
        t.push("later wait_closed returns at once");
        t.expect(&[
            "open, serving: done=0",
            "closed, client connected: done=0 active=1",
            "client gone: done=3",
            "later wait_closed returns at once",
        ])
    })
}

/// SRV-09: after `close()`, `close_clients()` ends the connections gracefully: the client reads
/// end of stream and `wait_closed` finishes within two iterations.
pub fn srv09_close_clients_ends_connections(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let server = start_server(park, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server")?;
        let addr = server.sockets()[0];
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        accepted(&server).await?;
        let finished = Rc::new(Cell::new(false));
        let (s, f) = (server.clone(), finished.clone());
        wasio::spawn(async move {
            s.wait_closed().await;
            f.set(true);
        })
        .detach();
        server.close();
        server.close_clients();
        let mut iterations = 0;
        while !finished.get() && iterations < 10 {
            wasio::yield_now().await;
            iterations += 1;
        }
        ensure!(finished.get(), "wait_closed did not finish");
        ensure!(iterations <= 3, "wait_closed took {iterations} iterations");
        let mut buf = [0u8; 8];
        let n = client.read(&mut buf).await;
        t.push(format!(
            "client read: {}",
            match n {
                Ok(n) => format!("{n} bytes"),
                Err(e) => kind(&e),
            }
        ));
        t.push(format!("active={}", server.active_connections()));
        t.expect(&["client read: 0 bytes", "active=0"])
    })
}

/// SRV-09: `abort_clients()` ends the connections at once; the client sees the connection end.
pub fn srv09_abort_clients_ends_connections(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let server = start_server(park, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server")?;
        let addr = server.sockets()[0];
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        accepted(&server).await?;
        server.close();
        server.abort_clients();
        let w = server.clone();
        wasio::timeout(std::time::Duration::from_secs(30), w.wait_closed())
            .await
            .ctx("wait_closed")?;
        let mut buf = [0u8; 8];
        // Natively the peer is reset (SO_LINGER 0); WASI has no linger and shuts down instead.
        // The transcript says which: DIVERGENCES.md (`abort-clients`) lists this case with
        // what each world must show, and `compare` checks it.
        let ended = match within(WAIT, "the client's read", client.read(&mut buf)).await? {
            Ok(0) => "ended by end of stream".to_string(),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => "ended by reset".to_string(),
            other => format!("not ended: {other:?}"),
        };
        ensure!(
            ended.starts_with("ended"),
            "abort_clients: the client saw {ended}"
        );
        t.push(ended);
        t.push(format!("active={}", server.active_connections()));
        Ok(())
    })
}

/// SRV-10: `serve_forever` starts serving, refuses a second concurrent call and a closed
/// server, returns when the server closes, and closes the server when its task is cancelled.
pub fn srv10_serve_forever_rules(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let server = start_server(
            echo,
            "127.0.0.1",
            0,
            ServerOptions::new().start_serving(false),
        )
        .await
        .ctx("start_server")?;
        let s2 = server.clone();
        let first = wasio::spawn(async move { s2.serve_forever().await });
        wasio::yield_now().await;
        t.push(format!("serving={}", server.is_serving()));
        let second = server.serve_forever().await;
        t.push(format!(
            "second call: {}",
            second.err().map(|e| e.to_string()).unwrap_or_default()
        ));
        t.push(format!(
            "echo={}",
            round_trip(server.sockets()[0], "sf").await?
        ));
        server.close();
        let r = first.await.ctx("first task")?;
        t.push(format!("returned after close ok={}", r.is_ok()));
        let closed = server.serve_forever().await;
        t.push(format!(
            "on closed server: {}",
            closed.err().map(|e| e.to_string()).unwrap_or_default()
        ));
        // Cancelling the awaiting task closes the server.
        let other = start_server(echo, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server 2")?;
        let o2 = other.clone();
        let task = wasio::spawn(async move {
            let _ = o2.serve_forever().await;
            // Reached only if the cancellation were swallowed.
            wasio::yield_now().await;
            "not cancelled"
        });
        wasio::yield_now().await;
        task.cancel();
        let res = task.await;
        t.push(format!(
            "cancelled task: cancelled={} server closed={}",
            res.as_ref().is_err_and(|e| e.is_cancelled()),
            other.is_closed()
        ));
        t.expect(&[
            "serving=true",
            "second call: server is already being awaited on serve_forever()",
            "echo=sf",
            "returned after close ok=true",
            "on closed server: server is closed",
            "cancelled task: cancelled=true server closed=true",
        ])
    })
}

/// SRV-10: cancelling the task that awaits `serve_forever` closes the server, waits for it,
/// and re-raises the cancellation: the task ends cancelled even when `serve_forever` is its
/// last expression, and an enclosing `catch_cancel` scope receives it.
pub fn srv10_cancelled_serve_forever_reraises(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let server = start_server(echo, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server")?;
        let s2 = server.clone();
        let task = wasio::spawn(async move { s2.serve_forever().await });
        wasio::yield_now().await;
        task.cancel();
        let res = task.await;
        t.push(format!(
            "last expression: cancelled={} returned={} closed={}",
            res.as_ref().is_err_and(|e| e.is_cancelled()),
            res.is_ok(),
            server.is_closed()
        ));
        let other = start_server(echo, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server 2")?;
        let o2 = other.clone();
        let task = wasio::spawn(async move {
            match wasio::task::catch_cancel(o2.serve_forever()).await {
                Ok(r) => format!("scope: returned ok={}", r.is_ok()),
                Err(_) => format!("scope: caught the cancellation, closed={}", o2.is_closed()),
            }
        });
        wasio::yield_now().await;
        task.cancel();
        t.push(task.await.map_err(|e| e.to_string())?);
        t.expect(&[
            "last expression: cancelled=true returned=false closed=true",
            "scope: caught the cancellation, closed=true",
        ])
    })
}

/// EXC-04: a handler's `io::Error` is not sent to the exception handler; another error is,
/// with the peer.
pub fn exc04_io_errors_from_handlers_are_not_reported(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let t2 = t.clone();
        wasio::current().set_exception_handler(move |_, ctx| {
            t2.push(format!(
                "report: {} peer={} error={}",
                ctx.message(),
                ctx.get("peer").is_some(),
                ctx.error().map(|e| e.to_string()).unwrap_or_default()
            ));
        });
        let server = start_server(
            |conn: TcpStream| async move {
                let mut b = [0u8; 1];
                conn.read_exact(&mut b).await.map_err(|e| e.to_string())?;
                if b[0] == b'i' {
                    Err::<(), Box<dyn std::error::Error>>(Box::new(io::Error::other("os-level")))
                } else {
                    Err("application error".into())
                }
            },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .ctx("start_server")?;
        let addr = server.sockets()[0];
        for msg in [b"i", b"a"] {
            let c = TcpStream::connect(addr).await.ctx("connect")?;
            c.write_all(msg).await.ctx("write")?;
            let mut sink = Vec::new();
            let _ = c.read_to_end(&mut sink).await;
        }
        server.close();
        within(WAIT, "wait_closed", server.wait_closed()).await?;
        t.expect(&[
            "report: Unhandled exception in client_connected_cb peer=true error=application error",
        ])
    })
}
