//! UDP-01..UDP-05: datagram sockets and `create_datagram_endpoint`.

use std::net::SocketAddr;

use wasio::net::{DatagramOptions, Family, UdpSocket, create_datagram_endpoint};

use super::net_util::{WAIT, checksum, lo4, lo6, payload};
use crate::{Context, Transcript, block, ensure, kind, within};

fn err_kind<T>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => kind(e),
    }
}

/// Receives one datagram, bounded.
async fn recv(sock: &UdpSocket, buf: &mut [u8]) -> Result<(usize, SocketAddr), String> {
    within(WAIT, "a datagram", sock.recv_from(buf))
        .await?
        .ctx("recv_from")
}

/// `send_to`/`recv_from` in both families, the sender's address, and an empty datagram, which
/// is a datagram (`Ok(0)`), not an end of stream.
pub fn udp_send_and_receive_ipv4_and_ipv6(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        for (name, any) in [("v4", lo4()), ("v6", lo6())] {
            let a = UdpSocket::bind(any).await.ctx("bind a")?;
            let b = UdpSocket::bind(any).await.ctx("bind b")?;
            let (aa, ba) = (a.local_addr().ctx("a addr")?, b.local_addr().ctx("b addr")?);
            let mut buf = [0u8; 64];
            a.send_to(b"hello", ba).await.ctx("send_to")?;
            let (n, from) = recv(&b, &mut buf).await?;
            t.push(format!(
                "{name}: got {:?} from a={}",
                String::from_utf8_lossy(&buf[..n]),
                from == aa
            ));
            b.send_to(b"", aa).await.ctx("send empty")?;
            let (n, from) = recv(&a, &mut buf).await?;
            t.push(format!(
                "{name}: empty datagram n={n} from b={}",
                from == ba
            ));
            // A datagram longer than the buffer is truncated, not split.
            a.send_to(&[7u8; 100], ba).await.ctx("send long")?;
            let mut small = [0u8; 10];
            let (n, _) = recv(&b, &mut small).await?;
            b.send_to(b"next", aa).await.ctx("send next")?;
            let (m, _) = recv(&a, &mut buf).await?;
            t.push(format!(
                "{name}: truncated to {n}, next datagram intact={}",
                &buf[..m] == b"next"
            ));
        }
        t.expect(&[
            "v4: got \"hello\" from a=true",
            "v4: empty datagram n=0 from b=true",
            "v4: truncated to 10, next datagram intact=true",
            "v6: got \"hello\" from a=true",
            "v6: empty datagram n=0 from b=true",
            "v6: truncated to 10, next datagram intact=true",
        ])
    })
}

/// 1,000 datagrams in each direction between two endpoints, of every size from 0 to 2 KiB:
/// none corrupted, none lost, none reordered on loopback (lockstep, so no queue overflows).
pub fn udp_1000_datagrams_each_way_arrive_intact(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let a = UdpSocket::bind(lo4()).await.ctx("bind a")?;
        let b = UdpSocket::bind(lo4()).await.ctx("bind b")?;
        let (aa, ba) = (a.local_addr().ctx("a")?, b.local_addr().ctx("b")?);
        let mut buf = vec![0u8; 4096];
        let (mut to_b, mut to_a) = (0u64, 0u64);
        for i in 0..1000u64 {
            let len = ((i * 37) % 2049) as usize;
            for (from, to, dest, count, seed) in [
                (&a, &b, ba, &mut to_b, i),
                (&b, &a, aa, &mut to_a, i | 1 << 32),
            ] {
                let data = payload(seed, len);
                from.send_to(&data, dest).await.ctx("send")?;
                let (n, _) = recv(to, &mut buf).await?;
                ensure!(
                    n == len && checksum(&buf[..n]) == checksum(&data),
                    "datagram {i} (seed {seed}) corrupted or out of order: {n} bytes, want {len}"
                );
                *count += 1;
            }
        }
        t.push(format!("a to b: {to_b}, b to a: {to_a}, all intact"));
        t.expect(&["a to b: 1000, b to a: 1000, all intact"])
    })
}

/// UDP-03: a connected socket sends to its peer by default, may send to the peer explicitly,
/// refuses another address (asyncio: `Invalid address: must be None or <peer>`), and receives
/// only its peer's datagrams.
pub fn udp_connected_socket_talks_only_to_its_peer(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let a = UdpSocket::bind(lo4()).await.ctx("bind a")?;
        let b = UdpSocket::bind(lo4()).await.ctx("bind b")?;
        let c = UdpSocket::bind(lo4()).await.ctx("bind c")?;
        let (aa, ba, ca) = (
            a.local_addr().ctx("a")?,
            b.local_addr().ctx("b")?,
            c.local_addr().ctx("c")?,
        );
        t.push(format!(
            "send before connect: {}",
            err_kind(&a.send(b"x").await)
        ));
        a.connect(ba).await.ctx("connect")?;
        t.push(format!("peer is b={}", a.peer_addr().ctx("peer")? == ba));
        a.send(b"default").await.ctx("send")?;
        a.send_to(b"explicit", ba).await.ctx("send_to peer")?;
        let other = a.send_to(b"nope", ca).await;
        t.push(format!(
            "send_to another address: {} names the peer={}",
            err_kind(&other),
            other
                .as_ref()
                .err()
                .is_some_and(|e| e.to_string() == format!("Invalid address: must be None or {ba}"))
        ));
        let mut buf = [0u8; 32];
        for _ in 0..2 {
            let (n, from) = recv(&b, &mut buf).await?;
            t.push(format!(
                "b got {:?} from a={}",
                String::from_utf8_lossy(&buf[..n]),
                from == aa
            ));
        }
        // A datagram from c is not received by a; b's is.
        c.send_to(b"from c", aa).await.ctx("c send")?;
        b.send_to(b"from b", aa).await.ctx("b send")?;
        let n = within(WAIT, "a's datagram", a.recv(&mut buf))
            .await?
            .ctx("recv")?;
        t.push(format!("a got {:?}", String::from_utf8_lossy(&buf[..n])));
        t.expect(&[
            "send before connect: NotConnected",
            "peer is b=true",
            "send_to another address: InvalidInput names the peer=true",
            "b got \"default\" from a=true",
            "b got \"explicit\" from a=true",
            "a got \"from b\"",
        ])
    })
}

/// A task already waiting in `recv_from` when another connects the socket keeps waiting, and
/// receives the peer's datagram (the connect must not leave the waiter parked on a wait that
/// was dropped). WASI 0.2 refuses such a connect (divergence `udp-connect-while-receiving`):
/// the case records which, and the waiter receives in both.
pub fn udp_connect_while_a_task_receives(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let a = std::rc::Rc::new(UdpSocket::bind(lo4()).await.ctx("bind a")?);
        let b = UdpSocket::bind(lo4()).await.ctx("bind b")?;
        let (aa, ba) = (a.local_addr().ctx("a")?, b.local_addr().ctx("b")?);
        let a2 = a.clone();
        let receiver = wasio::spawn(async move {
            let mut buf = [0u8; 32];
            let (n, from) = recv(&a2, &mut buf).await?;
            Ok::<_, String>((buf[..n].to_vec(), from))
        });
        // The receiver runs its first step and waits.
        wasio::yield_now().await;
        wasio::yield_now().await;
        match a.connect(ba).await {
            Ok(()) => t.push(format!("connected={}", a.peer_addr().ctx("peer")? == ba)),
            Err(e) => t.push(format!(
                "connect refused: {} names WASI 0.2={}",
                kind(&e),
                e.to_string().contains("WASI 0.2")
            )),
        }
        b.send_to(b"from b", aa).await.ctx("b send")?;
        let (got, from) = receiver.await.ctx("receiver task")??;
        t.push(format!(
            "waiting task got {:?} from the peer={}",
            String::from_utf8_lossy(&got),
            from == ba
        ));
        let events = t.events();
        ensure!(
            events.first().is_some_and(|e| e == "connected=true"
                || e == "connect refused: Unsupported names WASI 0.2=true"),
            "connect: {events:?}"
        );
        ensure!(
            events
                .get(1)
                .is_some_and(|e| e == "waiting task got \"from b\" from the peer=true"),
            "receive: {events:?}"
        );
        Ok(())
    })
}

/// An ICMP port unreachable for a connected socket is reported by the next receive
/// (`ConnectionRefused`), and the socket stays open: connected to a live peer, it works.
pub fn udp_unreachable_peer_is_reported_on_the_next_receive(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let gone = UdpSocket::bind(lo4()).await.ctx("bind")?;
        let dead = gone.local_addr().ctx("addr")?;
        drop(gone);
        let a = UdpSocket::bind(lo4()).await.ctx("bind a")?;
        a.connect(dead).await.ctx("connect")?;
        a.send(b"anyone?").await.ctx("send")?;
        let mut buf = [0u8; 16];
        let first = within(WAIT, "the unreachable report", a.recv(&mut buf)).await?;
        t.push(format!("next receive: {}", err_kind(&first)));
        let b = UdpSocket::bind(lo4()).await.ctx("bind b")?;
        a.connect(b.local_addr().ctx("b")?).await.ctx("reconnect")?;
        a.send(b"still open").await.ctx("send again")?;
        let (n, _) = recv(&b, &mut buf).await?;
        t.push(format!("after: {:?}", String::from_utf8_lossy(&buf[..n])));
        t.expect(&["next receive: ConnectionRefused", "after: \"still open\""])
    })
}

/// UDP-05: sending after `close()` is an error, never a panic; so is every other operation;
/// closing twice is fine.
pub fn udp_closed_socket_gives_errors(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let a = UdpSocket::bind(lo4()).await.ctx("bind")?;
        let peer = UdpSocket::bind(lo4()).await.ctx("bind peer")?;
        let pa = peer.local_addr().ctx("peer addr")?;
        a.close();
        a.close();
        let mut buf = [0u8; 4];
        t.push(format!("closed={}", a.is_closed()));
        t.push(format!("send_to: {}", err_kind(&a.send_to(b"x", pa).await)));
        t.push(format!(
            "recv_from: {}",
            err_kind(&a.recv_from(&mut buf).await)
        ));
        t.push(format!("connect: {}", err_kind(&a.connect(pa).await)));
        t.push(format!("local_addr: {}", err_kind(&a.local_addr())));
        t.expect(&[
            "closed=true",
            "send_to: NotConnected",
            "recv_from: NotConnected",
            "connect: NotConnected",
            "local_addr: NotConnected",
        ])
    })
}

/// UDP-01/UDP-02: `create_datagram_endpoint` validation and attempts.
pub fn udp_create_datagram_endpoint_rules(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let none = create_datagram_endpoint(&DatagramOptions::new()).await;
        t.push(format!(
            "no address, no family: {} {:?}",
            err_kind(&none),
            none.err().map(|e| e.to_string()).unwrap_or_default()
        ));
        let mismatch = create_datagram_endpoint(
            &DatagramOptions::new()
                .local_addr("127.0.0.1", 0)
                .remote_addr("::1", 9),
        )
        .await;
        t.push(format!(
            "no common family: {} {:?}",
            err_kind(&mismatch),
            mismatch.err().map(|e| e.to_string()).unwrap_or_default()
        ));
        let only = create_datagram_endpoint(&DatagramOptions::new().family(Family::V6))
            .await
            .ctx("family only")?;
        t.push(format!(
            "family only: bound v6={}",
            only.local_addr().ctx("addr")?.is_ipv6()
        ));
        let server = create_datagram_endpoint(&DatagramOptions::new().local_addr("127.0.0.1", 0))
            .await
            .ctx("server")?;
        let port = server.local_addr().ctx("port")?.port();
        let client = create_datagram_endpoint(
            &DatagramOptions::new()
                .local_addr("127.0.0.1", 0)
                .remote_addr("127.0.0.1", port),
        )
        .await
        .ctx("client")?;
        client.send(b"hi").await.ctx("send")?;
        let mut buf = [0u8; 8];
        let (n, from) = recv(&server, &mut buf).await?;
        t.push(format!(
            "client connected: got {:?} from client={}",
            String::from_utf8_lossy(&buf[..n]),
            from == client.local_addr().ctx("client addr")?
        ));
        // Every attempt failing: the first error (here: the address is in use).
        let taken =
            create_datagram_endpoint(&DatagramOptions::new().local_addr("127.0.0.1", port)).await;
        t.push(format!("local address in use: {}", err_kind(&taken)));
        let unresolvable = create_datagram_endpoint(
            &DatagramOptions::new().remote_addr("no-such-host.invalid", 9),
        )
        .await;
        t.push(format!(
            "unresolvable: {} resolve error={}",
            err_kind(&unresolvable),
            unresolvable
                .as_ref()
                .err()
                .is_some_and(wasio::net::is_resolve_error)
        ));
        t.expect(&[
            "no address, no family: InvalidInput \"unexpected address family\"",
            "no common family: InvalidInput \"can not get address information\"",
            "family only: bound v6=true",
            "client connected: got \"hi\" from client=true",
            "local address in use: AddrInUse",
            "unresolvable: NotFound resolve error=true",
        ])
    })
}

/// Issue 17 item 10: datagrams reported sent are not lost when the socket is closed or dropped
/// right after (on WASI 0.3 the last send may still be in flight: the socket lingers until it
/// is out).
pub fn udp_datagrams_sent_before_close_all_arrive(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        for how in ["close", "drop"] {
            let rx = UdpSocket::bind(lo4()).await.ctx("bind rx")?;
            let to = rx.local_addr().ctx("addr")?;
            let tx = UdpSocket::bind(lo4()).await.ctx("bind tx")?;
            for i in 0..50u8 {
                tx.send_to(&[i; 40], to).await.ctx("send_to")?;
            }
            if how == "close" {
                tx.close();
            }
            drop(tx);
            let mut seen = Vec::new();
            let mut buf = [0u8; 64];
            while seen.len() < 50 {
                let (n, _) = recv(&rx, &mut buf).await?;
                ensure!(n == 40, "a datagram of {n} bytes");
                seen.push(buf[0]);
            }
            seen.sort_unstable();
            ensure!(
                seen == (0..50).collect::<Vec<u8>>(),
                "{how}: datagrams {seen:?}"
            );
            t.push(format!("{how}: 50 datagrams arrived"));
        }
        t.expect(&["close: 50 datagrams arrived", "drop: 50 datagrams arrived"])
    })
}

/// Issue 17 item 10: a datagram from the future peer that arrives while a task waits to
/// receive, just before `connect`, is delivered to that task (on WASI 0.3 the host may already
/// hold it in the receive in flight, which the connect must not cancel). WASI 0.2 refuses such
/// a connect (divergence `udp-connect-while-receiving`); the datagram still arrives. The
/// connect's outcome is a note, so the worlds agree on the rest.
pub fn udp_connect_keeps_a_datagram_already_received(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (mut connected, mut refused) = (0, 0);
        for round in 0..20u8 {
            let a = std::rc::Rc::new(UdpSocket::bind(lo4()).await.ctx("bind a")?);
            let b = UdpSocket::bind(lo4()).await.ctx("bind b")?;
            let (aa, ba) = (a.local_addr().ctx("a")?, b.local_addr().ctx("b")?);
            let a2 = a.clone();
            let receiver = wasio::spawn(async move {
                let mut buf = [0u8; 8];
                let (n, from) = a2.recv_from(&mut buf).await?;
                Ok::<_, std::io::Error>((buf[..n].to_vec(), from))
            });
            wasio::yield_now().await;
            b.send_to(&[round; 3], aa).await.ctx("send")?;
            // No await between the send completing and the connect.
            match a.connect(ba).await {
                Ok(()) => connected += 1,
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => refused += 1,
                Err(e) => return Err(format!("connect: {e}")),
            }
            let (got, from) = within(WAIT, "the waiting receive", receiver)
                .await?
                .ctx("task")?
                .ctx("recv_from")?;
            ensure!(
                got == [round; 3] && from == ba,
                "round {round}: got {got:?} from {from}"
            );
        }
        t.note(format!(
            "connect succeeded {connected} times, refused {refused} times"
        ));
        t.push("20 rounds: every datagram reached the waiting task");
        t.expect(&["20 rounds: every datagram reached the waiting task"])
    })
}

/// Issue 17 item 11: a `connect` while another task sends (WASI 0.2 replaces the socket's
/// datagram streams and their pollables) strands no sender: every datagram arrives.
pub fn udp_connect_while_a_task_sends(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let rx = UdpSocket::bind(lo4()).await.ctx("bind rx")?;
        let to = rx.local_addr().ctx("addr")?;
        let tx = std::rc::Rc::new(UdpSocket::bind(lo4()).await.ctx("bind tx")?);
        let tx2 = tx.clone();
        let sender = wasio::spawn(async move {
            for i in 0..200u8 {
                tx2.send_to(&[i; 100], to).await?;
            }
            Ok::<_, std::io::Error>(())
        });
        let tx3 = tx.clone();
        let connector = wasio::spawn(async move {
            for _ in 0..3 {
                wasio::yield_now().await;
            }
            tx3.connect(to).await
        });
        let mut buf = [0u8; 128];
        let mut seen = [false; 200];
        for _ in 0..200 {
            let (n, _) = recv(&rx, &mut buf).await?;
            ensure!(n == 100, "a datagram of {n} bytes");
            seen[usize::from(buf[0])] = true;
        }
        within(WAIT, "the sender", sender)
            .await?
            .ctx("task")?
            .ctx("send")?;
        within(WAIT, "the connect", connector)
            .await?
            .ctx("task")?
            .ctx("connect")?;
        ensure!(seen.iter().all(|s| *s), "datagrams lost");
        t.push("200 datagrams arrived across the connect");
        t.expect(&["200 datagrams arrived across the connect"])
    })
}
