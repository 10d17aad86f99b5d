//! TCP streams and listeners: echo, full duplex, half-close, reset, refusal, many connections.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use wasio::net::{ServerOptions, TcpListener, TcpStream, start_server};

use super::net_util::{checksum, echo, lo4, payload, refused_addr};
use crate::{Context, Transcript, block, ensure, ensure_eq, kind};

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
        server.wait_closed().await;
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
        server.wait_closed().await;
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
