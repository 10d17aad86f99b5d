//! TCP streams and listeners: echo, full duplex, half-close, reset, refusal, many connections.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use wasio::net::{ServerOptions, TcpListener, TcpStream, start_server};

use super::net_util::{WAIT, checksum, echo, lo4, payload, refused_addr};
use crate::{Context, Transcript, block, ensure, ensure_eq, kind, within};

/// A listener, one connection, an echo, a clean end of stream.
pub fn tcp_echo_round_trip(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let t2 = t.clone();
        let server = wasio::spawn(async move {
            let (conn, peer) = listener.accept().await?;
            t2.push(format!("accepted loopback={}", peer.ip().is_loopback()));
            echo(conn).await
        });
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        client.write_all(b"hello").await.ctx("write")?;
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.ctx("read")?;
        t.push(format!("echo={}", String::from_utf8_lossy(&buf)));
        client.shutdown_write().await.ctx("shutdown")?;
        let n = client.read(&mut buf).await.ctx("read eof")?;
        t.push(format!("eof read={n}"));
        server.await.ctx("server task")?.ctx("server")?;
        t.expect(&["accepted loopback=true", "echo=hello", "eof read=0"])
    })
}

/// Local and peer addresses agree between the two ends.
pub fn tcp_addresses_agree_between_ends(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let accept = wasio::spawn(async move { listener.accept().await });
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        let (server_side, peer) = accept.await.ctx("task")?.ctx("accept")?;
        ensure_eq!(client.peer_addr().ctx("peer")?, addr, "client peer");
        ensure_eq!(
            server_side.peer_addr().ctx("server peer")?,
            client.local_addr().ctx("client local")?,
            "server peer vs client local"
        );
        ensure_eq!(
            peer,
            client.local_addr().ctx("client local")?,
            "accept peer"
        );
        t.push("addresses agree");
        t.expect(&["addresses agree"])
    })
}

/// 1 MiB each way at once: the client writes from one task while another reads the echo.
pub fn tcp_echo_1mib_full_duplex(t: &Transcript) -> Result<(), String> {
    const LEN: usize = 1 << 20;
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let server = wasio::spawn(async move {
            let (conn, _) = listener.accept().await?;
            echo(conn).await
        });
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        let (rd, wr) = client.into_split();
        let data = payload(7, LEN);
        let sent_sum = checksum(&data);
        let writer = wasio::spawn(async move {
            for chunk in data.chunks(48 * 1024) {
                wr.write_all(chunk).await?;
            }
            wr.shutdown_write().await?;
            Ok::<_, std::io::Error>(LEN)
        });
        let mut got = Vec::with_capacity(LEN);
        rd.read_to_end(&mut got).await.ctx("read_to_end")?;
        let sent = writer.await.ctx("writer task")?.ctx("writer")?;
        server.await.ctx("server task")?.ctx("server")?;
        t.push(format!("sent {sent}"));
        t.push(format!("received {}", got.len()));
        t.push(format!("checksums equal={}", checksum(&got) == sent_sum));
        t.expect(&["sent 1048576", "received 1048576", "checksums equal=true"])
    })
}

/// A large reply to a slow reader, then the server waits for the next request: every byte
/// `write_all` accepted reaches the peer although nobody writes or flushes on that stream
/// afterwards (a backend that keeps part of a write queued on its side until the stream is
/// polled again leaves both ends waiting), for several rounds.
pub fn tcp_large_reply_then_wait_for_request(t: &Transcript) -> Result<(), String> {
    // More than loopback's socket buffers hold (Linux: 4 MiB send, 6 MiB receive at most).
    const LEN: usize = 16 << 20;
    const ROUNDS: usize = 2;
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let server = wasio::spawn(async move {
            let (conn, _) = listener.accept().await?;
            let reply = payload(11, LEN);
            let mut req = [0u8; 1];
            let mut served = 0;
            while conn.read(&mut req).await? == 1 {
                conn.write_all(&reply).await?;
                served += 1;
            }
            Ok::<_, std::io::Error>(served)
        });
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        let want = checksum(&payload(11, LEN));
        let mut got = vec![0u8; LEN];
        let mut equal = 0;
        for _ in 0..ROUNDS {
            client.write_all(b"?").await.ctx("request")?;
            // A slow reader (small reads, a loop iteration between them) lets the socket
            // fill up, so the server's last writes are taken only in part.
            for piece in got.chunks_mut(4096) {
                client.read_exact(piece).await.ctx("reply")?;
                wasio::yield_now().await;
            }
            if checksum(&got) == want {
                equal += 1;
            }
        }
        client.shutdown_write().await.ctx("shutdown")?;
        let served = server.await.ctx("server task")?.ctx("server")?;
        t.push(format!("served {served} replies of {LEN} bytes"));
        t.push(format!("{equal} replies complete and equal"));
        t.expect(&[
            "served 2 replies of 16777216 bytes",
            "2 replies complete and equal",
        ])
    })
}

/// Half-close: the client shuts its write side down and still reads the reply.
pub fn tcp_half_close_keeps_the_read_side(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let t2 = t.clone();
        let server = wasio::spawn(async move {
            let (conn, _) = listener.accept().await?;
            let mut req = Vec::new();
            conn.read_to_end(&mut req).await?;
            t2.push(format!(
                "server got {:?} then eof",
                String::from_utf8_lossy(&req)
            ));
            conn.write_all(b"response").await?;
            conn.close().await
        });
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        client.write_all(b"request").await.ctx("write")?;
        client.shutdown_write().await.ctx("half-close")?;
        let mut resp = Vec::new();
        client.read_to_end(&mut resp).await.ctx("read reply")?;
        t.push(format!("client got {:?}", String::from_utf8_lossy(&resp)));
        let write_after = client.write_all(b"more").await;
        t.push(format!(
            "write after half-close fails={}",
            write_after.is_err()
        ));
        server.await.ctx("server task")?.ctx("server")?;
        t.expect(&[
            "server got \"request\" then eof",
            "client got \"response\"",
            "write after half-close fails=true",
        ])
    })
}

/// A peer reset is an error, not end of stream: a connection still in a listener's accept
/// queue is reset when the listener closes, and the client's read fails with
/// `ConnectionReset`.
pub fn tcp_peer_reset_is_an_error(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        client.write_all(b"never read").await.ctx("write")?;
        client.flush().await.ctx("flush")?;
        // Never accepted: closing the listener resets the queued connection.
        drop(listener);
        let mut buf = [0u8; 16];
        match client.read(&mut buf).await {
            Err(e) => t.push(format!("read error {}", kind(&e))),
            Ok(n) => t.push(format!("read ok {n}")),
        }
        t.expect(&["read error ConnectionReset"])
    })
}

/// Connecting to a port nobody listens on is refused.
pub fn tcp_connect_refused(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let addr = refused_addr().await?;
        match TcpStream::connect(addr).await {
            Err(e) => t.push(format!("connect error {}", kind(&e))),
            Ok(_) => t.push("connected"),
        }
        t.expect(&["connect error ConnectionRefused"])
    })
}

/// A server that writes and closes: the client reads the data, then end of stream, again and
/// again.
pub fn tcp_clean_eof_is_sticky(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let server = wasio::spawn(async move {
            let (conn, _) = listener.accept().await?;
            conn.write_all(b"bye").await?;
            conn.close().await
        });
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.ctx("read_to_end")?;
        let mut buf = [0u8; 4];
        let again = client.read(&mut buf).await.ctx("read again")?;
        let empty = client.read(&mut []).await.ctx("empty read")?;
        server.await.ctx("server task")?.ctx("server")?;
        t.push(format!(
            "data={:?} again={again} empty={empty}",
            String::from_utf8_lossy(&all)
        ));
        t.expect(&["data=\"bye\" again=0 empty=0"])
    })
}

/// 50 connections at once, each doing checksummed round trips for a while: every connection
/// keeps completing round trips while the others are busy (no starvation).
pub fn tcp_50_connections_none_starves(t: &Transcript) -> Result<(), String> {
    const CONNS: usize = 50;
    const MSG: usize = 1024;
    let run_for = Duration::from_millis(400);
    let t = t.clone();
    block(async move {
        let server = start_server(echo, "127.0.0.1", 0, ServerOptions::new())
            .await
            .ctx("start_server")?;
        let addr = server.sockets()[0];
        let counts = Rc::new(RefCell::new(vec![0u64; CONNS]));
        let bad = Rc::new(Cell::new(0u64));
        let mut clients = Vec::new();
        let stop_at = Instant::now() + run_for;
        for i in 0..CONNS {
            let (counts, bad) = (counts.clone(), bad.clone());
            clients.push(wasio::spawn(async move {
                let conn = TcpStream::connect(addr).await?;
                let mut seq = 0u64;
                let mut back = vec![0u8; MSG];
                while Instant::now() < stop_at {
                    let msg = payload((i as u64) << 32 | seq, MSG);
                    conn.write_all(&msg).await?;
                    conn.read_exact(&mut back).await?;
                    if checksum(&back) != checksum(&msg) {
                        bad.set(bad.get() + 1);
                    }
                    counts.borrow_mut()[i] += 1;
                    seq += 1;
                }
                conn.close().await
            }));
        }
        for c in clients {
            c.await.ctx("client task")?.ctx("client")?;
        }
        server.close();
        within(WAIT, "wait_closed", server.wait_closed()).await?;
        let counts = counts.borrow();
        let min = counts.iter().copied().min().unwrap_or(0);
        let max = counts.iter().copied().max().unwrap_or(0);
        ensure!(min > 0, "a connection starved: {counts:?}");
        ensure!(
            min * 4 >= max,
            "unfair service: min {min} max {max} ({counts:?})"
        );
        t.push(format!("{CONNS} connections"));
        t.push(format!("bad checksums={}", bad.get()));
        t.push("none starved");
        t.expect(&["50 connections", "bad checksums=0", "none starved"])
    })
}

/// A stream dropped right after writing loses nothing: the peer reads every byte, then end of
/// stream (on WASI the queued writes are flushed before the streams go).
pub fn tcp_drop_after_write_loses_nothing(t: &Transcript) -> Result<(), String> {
    const LEN: usize = 256 * 1024;
    let t = t.clone();
    block(async move {
        let data = payload(11, LEN);
        let sum = checksum(&data);
        let server = start_server(
            move |conn: TcpStream| {
                let data = data.clone();
                async move {
                    conn.write_all(&data).await?;
                    // Dropped here without flush or close.
                    Ok::<_, std::io::Error>(())
                }
            },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .ctx("start_server")?;
        let client = TcpStream::connect(server.sockets()[0])
            .await
            .ctx("connect")?;
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.ctx("read_to_end")?;
        t.push(format!(
            "received {} checksum ok={}",
            got.len(),
            checksum(&got) == sum
        ));
        server.close();
        within(WAIT, "wait_closed", server.wait_closed()).await?;
        t.expect(&["received 262144 checksum ok=true"])
    })
}

/// Streams and listeners outlive their loop safely: dropped after `close()`, with unflushed
/// writes, they are released without error (on WASI: children before parents, no trap).
pub fn tcp_sockets_dropped_after_loop_close(t: &Transcript) -> Result<(), String> {
    let lp = crate::new_loop()?;
    let (listener, client, accepted) = lp
        .run_until_complete(async {
            let l = TcpListener::bind(lo4()).await?;
            let c = TcpStream::connect(l.local_addr()?).await?;
            let (a, _) = l.accept().await?;
            c.write_all(b"pending bytes").await?;
            a.write_all(b"reply").await?;
            Ok::<_, std::io::Error>((l, c, a))
        })
        .ctx("run_until_complete")?
        .ctx("set up")?;
    lp.close().ctx("close")?;
    let sources = lp.stats().io_sources;
    drop(accepted);
    drop(client);
    drop(listener);
    t.push(format!(
        "sources at close={sources} after drops={}",
        lp.stats().io_sources
    ));
    t.expect(&["sources at close=3 after drops=0"])
}

/// Dropping a loop that was never closed, while a queued callback, a pending timer, a
/// never-polled task and a task waiting on a read each own TCP streams (some with writes in
/// flight), releases everything without a trap: on WASI, no stream or socket may outlive its
/// pollables' parents. The instance (or process) goes on working afterwards.
pub fn tcp_dropping_an_unclosed_loop_releases_its_sockets(t: &Transcript) -> Result<(), String> {
    let lp = crate::new_loop()?;
    let (listener, mut pairs) = lp
        .run_until_complete(async {
            let l = TcpListener::bind(lo4()).await?;
            let addr = l.local_addr()?;
            let mut pairs = Vec::new();
            for _ in 0..4 {
                let c = TcpStream::connect(addr).await?;
                let (a, _) = l.accept().await?;
                c.write_all(&payload(1, 64 * 1024)).await?;
                pairs.push((c, a));
            }
            Ok::<_, std::io::Error>((l, pairs))
        })
        .ctx("run_until_complete")?
        .ctx("set up")?;
    let (c4, a4) = pairs.pop().ok_or("pair 4")?;
    let (c3, a3) = pairs.pop().ok_or("pair 3")?;
    let (c2, a2) = pairs.pop().ok_or("pair 2")?;
    let (c1, a1) = pairs.pop().ok_or("pair 1")?;
    // A task that parks on a read.
    let waiting = lp
        .create_task(async move {
            let mut b = [0u8; 1];
            let _ = c4.read(&mut b).await;
            drop(a4);
        })
        .ctx("create_task")?;
    lp.run_until_complete(wasio::yield_now())
        .ctx("let the reader park")?;
    // Work that will never run: a callback, a timer, a task never polled.
    lp.call_soon(move || drop((c1, a1))).ctx("call_soon")?;
    lp.call_later(Duration::from_secs(3600), move || drop((c2, a2)))
        .ctx("call_later")?;
    let never_polled = lp
        .create_task(async move {
            let mut b = [0u8; 1];
            let _ = a3.read(&mut b).await;
            drop(c3);
        })
        .ctx("create_task")?;
    drop(never_polled);
    t.push(format!(
        "before drop: tasks={} sources={}",
        lp.stats().tasks,
        lp.stats().io_sources
    ));
    drop(waiting);
    drop(listener);
    drop(lp);
    t.push("dropped without closing");
    // Everything still works afterwards.
    let echoed = crate::block(async {
        let l = TcpListener::bind(lo4()).await.ctx("bind")?;
        let c = TcpStream::connect(l.local_addr().ctx("addr")?)
            .await
            .ctx("connect")?;
        let (a, _) = l.accept().await.ctx("accept")?;
        c.write_all(b"after").await.ctx("write")?;
        let mut buf = [0u8; 5];
        a.read_exact(&mut buf).await.ctx("read")?;
        ensure!(&buf == b"after", "echo after the drop: {buf:?}");
        Ok(())
    });
    t.push(format!("a new loop works={}", echoed.is_ok()));
    echoed?;
    t.expect(&[
        "before drop: tasks=2 sources=9",
        "dropped without closing",
        "a new loop works=true",
    ])
}

/// Several tasks may wait on one source in the same direction: two tasks accepting on one
/// shared listener both get a connection, and two tasks reading one shared stream both get
/// data (tokio's `accept(&self)`). A waiter that is never woken fails with a message instead of
/// hanging.
pub fn tcp_shared_sources_wake_every_waiter(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let limit = Duration::from_secs(10);
        let listener = Rc::new(TcpListener::bind(lo4()).await.ctx("bind")?);
        let addr = listener.local_addr().ctx("local_addr")?;
        let acceptors: Vec<_> = (0..2)
            .map(|_| {
                let l = listener.clone();
                wasio::spawn(async move { within(limit, "an acceptor", l.accept()).await })
            })
            .collect();
        // Both acceptors wait before the first client arrives.
        wasio::yield_now().await;
        wasio::yield_now().await;
        let c1 = TcpStream::connect(addr).await.ctx("connect 1")?;
        let c2 = TcpStream::connect(addr).await.ctx("connect 2")?;
        let mut accepted = Vec::new();
        for (i, a) in acceptors.into_iter().enumerate() {
            match a.await.ctx("acceptor task")? {
                Ok(Ok((s, _))) => accepted.push(s),
                Ok(Err(e)) => return Err(format!("acceptor {i}: {e}")),
                Err(e) => return Err(format!("acceptor {i} was never woken: {e}")),
            }
        }
        t.push(format!("accepted by two waiters: {}", accepted.len()));
        let shared = Rc::new(accepted.remove(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = shared.clone();
                wasio::spawn(async move {
                    let mut b = [0u8; 1];
                    within(limit, "a reader", s.read(&mut b)).await
                })
            })
            .collect();
        wasio::yield_now().await;
        wasio::yield_now().await;
        // Two bytes, one for each reader (each reads at most one).
        let writer = if shared.peer_addr().ok() == c1.local_addr().ok() {
            &c1
        } else {
            &c2
        };
        writer.write_all(b"ab").await.ctx("write")?;
        let mut got = 0;
        for (i, r) in readers.into_iter().enumerate() {
            match r.await.ctx("reader task")? {
                Ok(Ok(1)) => got += 1,
                Ok(other) => return Err(format!("reader {i} got {other:?}")),
                Err(e) => return Err(format!("reader {i} was never woken: {e}")),
            }
        }
        t.push(format!("read by two waiters: {got}"));
        t.expect(&["accepted by two waiters: 2", "read by two waiters: 2"])
    })
}

/// A program that writes, drops its stream and returns at once loses nothing: `wasio::run`
/// lets the loop's internal flushes finish (bounded) before it closes the loop, instead of
/// cancelling them with the leftover tasks. To leave writes queued in the host, the peer reads
/// nothing until the program has returned (it waits for `run`'s cancellation, swallows it, as
/// an asyncio task may, and then reads to end of stream), and the program writes until the
/// socket stops taking data.
pub fn tcp_write_drop_and_return_loses_nothing(t: &Transcript) -> Result<(), String> {
    let received: Rc<RefCell<Vec<u8>>> = Rc::default();
    let ended: Rc<RefCell<String>> = Rc::default();
    let (r2, e2) = (received.clone(), ended.clone());
    let sent = wasio::run(async move {
        let l = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = l.local_addr().ctx("local_addr")?;
        wasio::spawn(async move {
            let Ok((a, _)) = l.accept().await else {
                *e2.borrow_mut() = "accept failed".into();
                return;
            };
            // Read nothing until `run` cancels the leftover tasks, and a little longer: the
            // flush of the dropped stream must not depend on this reader's turn.
            let _ = wasio::task::catch_cancel(std::future::pending::<()>()).await;
            for _ in 0..3 {
                let _ = wasio::task::catch_cancel(wasio::yield_now()).await;
            }
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match wasio::task::catch_cancel(a.read(&mut buf)).await {
                    Err(_) => continue,
                    Ok(Ok(0)) => {
                        *e2.borrow_mut() = "end of stream".into();
                        return;
                    }
                    Ok(Ok(n)) => r2.borrow_mut().extend_from_slice(&buf[..n]),
                    Ok(Err(e)) => {
                        *e2.borrow_mut() = kind(&e);
                        return;
                    }
                }
            }
        })
        .detach();
        let c = TcpStream::connect(addr).await.ctx("connect")?;
        let chunk = payload(9, 64 * 1024);
        let mut sent = Vec::new();
        // Write until the socket stops taking data (the peer is not reading).
        while let Ok(res) = within(Duration::from_millis(300), "write", c.write(&chunk)).await {
            let n = res.ctx("write")?;
            sent.extend_from_slice(&chunk[..n]);
            ensure!(sent.len() < 256 << 20, "writes never blocked");
        }
        drop(c);
        Ok::<_, String>(sent)
    })
    .ctx("wasio::run")??;
    let got = received.borrow();
    t.push(format!("reader: {}", ended.borrow()));
    t.push(format!(
        "everything written arrived={} checksum ok={}",
        got.len() == sent.len(),
        checksum(&got) == checksum(&sent)
    ));
    t.expect(&[
        "reader: end of stream",
        "everything written arrived=true checksum ok=true",
    ])
}

/// Issue 17 item 13: a stream still holding unsent writes when `close()` destroys its task
/// (here after a callback's `Fatal` made `wasio::run` skip its flush step) loses nothing: the
/// closing loop flushes it (bounded by `FLUSH_TIMEOUT`) instead of dropping what the host
/// still queues (WASI 0.2). The reader is a second loop that runs once the first is closed.
pub fn tcp_close_after_fatal_flushes_dropped_streams(t: &Transcript) -> Result<(), String> {
    let reader_loop = crate::new_loop()?;
    let listener = reader_loop
        .run_until_complete(async { TcpListener::bind(lo4()).await })
        .ctx("run")?
        .ctx("bind")?;
    let addr = listener.local_addr().ctx("addr")?;
    let data = payload(13, 1 << 20);
    let d2 = data.clone();
    let res = wasio::run(async move {
        let c = TcpStream::connect(addr).await?;
        c.write_all(&d2).await?;
        // The stream stays with a task that is destroyed when the loop closes.
        wasio::spawn(async move {
            let _keep = c;
            std::future::pending::<()>().await;
        })
        .detach();
        wasio::current().call_soon(|| Err::<(), _>(wasio::Fatal::new("stop at once")))?;
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    t.push(format!(
        "run: fatal={}",
        res.as_ref().err().is_some_and(|e| e.is_fatal())
    ));
    let got = reader_loop
        .run_until_complete(async move {
            let (conn, _) = within(WAIT, "accept", listener.accept())
                .await?
                .ctx("accept")?;
            let mut got = Vec::new();
            within(WAIT, "read", conn.read_to_end(&mut got))
                .await?
                .ctx("read")?;
            Ok::<_, String>(got)
        })
        .ctx("run")??;
    reader_loop.close().ctx("close")?;
    t.push(format!(
        "received {} of {} bytes, intact={}",
        got.len(),
        data.len(),
        got == data
    ));
    t.expect(&[
        "run: fatal=true",
        "received 1048576 of 1048576 bytes, intact=true",
    ])
}
