//! The WASI 0.3 feasibility probe for wasio (see `docs/wasi-p3.md`).
//!
//! * Exports `wasi:cli/run@0.3.0#run`, an `async func`: only inside an async-lifted export may a
//!   component block (wasmtime 48 traps "cannot block a synchronous task before returning"
//!   otherwise), so a WASI 0.3 wasio guest is entered this way.
//! * The body hands the work to [`reactor::block_on`], which owns ONE persistent
//!   `waitable-set` for the whole run and blocks in `waitable-set.wait` itself: a socket joins
//!   once, and a wait returns only what is ready. wit-bindgen's stream, future and subtask
//!   futures find the current task through the C symbol `wasip3_task_set`; the reactor
//!   installs its own vtable there, so every pending operation joins the reactor's set.
//! * What it checks, one line on stdout each: TCP listen / connect / accept / read / write
//!   (ping-pong), 32 connections at once with a 0-length read as a readiness check on each,
//!   a monotonic-clock `wait-for` that is never early, and `ip-name-lookup` of `localhost`.
//!   Any failure is printed on stderr and the run returns an error.

use wasip3::sockets::types::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, TcpSocket};
use wasip3::wit_stream;

mod reactor;

struct Probe;

wasip3::cli::command::export!(Probe);

impl wasip3::exports::cli::run::Guest for Probe {
    async fn run() -> Result<(), ()> {
        // Everything runs inside our own loop; wit-bindgen's executor sees a future that is
        // ready on its first poll.
        match reactor::block_on(probe()) {
            Ok(()) => {
                println!(
                    "p3 probe: ok ({} events through one waitable set)",
                    reactor::EVENTS.with(|e| e.get())
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("p3 probe failed: {e}");
                Err(())
            }
        }
    }
}

async fn probe() -> Result<(), String> {
    let loopback = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: 0,
        address: (127, 0, 0, 1),
    });
    let listener =
        TcpSocket::create(IpAddressFamily::Ipv4).map_err(|e| format!("create: {e:?}"))?;
    listener
        .bind(loopback)
        .map_err(|e| format!("bind: {e:?}"))?;
    let mut accepts = listener.listen().map_err(|e| format!("listen: {e:?}"))?;
    let addr = listener
        .get_local_address()
        .map_err(|e| format!("local address: {e:?}"))?;

    ping_pong(&mut accepts, addr).await?;
    println!("tcp: listen, connect, accept, read, write: ok");
    fan_out(&mut accepts, addr, 32).await?;
    println!("tcp: 32 connections at once, 0-length reads as readiness checks: ok");
    timer().await?;
    name_lookup().await?;
    Ok(())
}

/// One connection: the client writes "ping", the server answers "pong".
async fn ping_pong(
    accepts: &mut wasip3::wit_bindgen::StreamReader<TcpSocket>,
    addr: IpSocketAddress,
) -> Result<(), String> {
    let client = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|e| format!("create: {e:?}"))?;
    // connect (an async import: a subtask) concurrently with accept (a stream read).
    let (connected, accepted) = reactor::join2(client.connect(addr), accepts.next()).await;
    connected.map_err(|e| format!("connect: {e:?}"))?;
    let server = accepted.ok_or("the listener's stream ended")?;

    let (mut c_tx, c_tx_reader) = wit_stream::new::<u8>();
    let c_sent = client.send(c_tx_reader);
    let (mut c_rx, _c_done) = client.receive();
    let (mut s_rx, _s_done) = server.receive();
    let (mut s_tx, s_tx_reader) = wit_stream::new::<u8>();
    let s_sent = server.send(s_tx_reader);

    let client_side = async {
        if !c_tx.write_all(b"ping".to_vec()).await.is_empty() {
            return Err("client write: the peer dropped the stream".to_string());
        }
        let (_, buf) = c_rx.read(Vec::with_capacity(64)).await;
        if buf != b"pong" {
            return Err(format!("client read {buf:?}"));
        }
        Ok(())
    };
    let server_side = async {
        let (_, buf) = s_rx.read(Vec::with_capacity(64)).await;
        if buf != b"ping" {
            return Err(format!("server read {buf:?}"));
        }
        if !s_tx.write_all(b"pong".to_vec()).await.is_empty() {
            return Err("server write: the peer dropped the stream".to_string());
        }
        Ok(())
    };
    let (c, s) = reactor::join2(client_side, server_side).await;
    c?;
    s?;
    // Closing the write halves completes the send futures.
    drop(c_tx);
    drop(s_tx);
    let (c, s) = reactor::join2(c_sent.into_future(), s_sent.into_future()).await;
    c.map_err(|e| format!("client send: {e:?}"))?;
    s.map_err(|e| format!("server send: {e:?}"))
}

/// `n` clients at once; each server connection first waits with a 0-length read.
async fn fan_out(
    accepts: &mut wasip3::wit_bindgen::StreamReader<TcpSocket>,
    addr: IpSocketAddress,
    n: usize,
) -> Result<(), String> {
    use std::future::Future;
    use std::pin::Pin;
    type Task<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

    let mut tasks: Vec<Task<'_>> = Vec::new();
    for i in 0..n {
        tasks.push(Box::pin(async move {
            let sock = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|e| format!("{e:?}"))?;
            sock.connect(addr)
                .await
                .map_err(|e| format!("client {i} connect: {e:?}"))?;
            let (mut tx, txr) = wit_stream::new::<u8>();
            let sent = sock.send(txr);
            let (mut rx, _done) = sock.receive();
            let msg = format!("message {i}").into_bytes();
            if !tx.write_all(msg.clone()).await.is_empty() {
                return Err(format!("client {i}: write dropped"));
            }
            let mut got = Vec::new();
            while got.len() < msg.len() {
                let (res, buf) = rx.read(Vec::with_capacity(64)).await;
                if buf.is_empty() {
                    return Err(format!("client {i}: read {res:?}"));
                }
                got.extend(buf);
            }
            if got != msg {
                return Err(format!("client {i}: echo mismatch"));
            }
            drop(tx);
            sent.await.map_err(|e| format!("client {i} send: {e:?}"))
        }));
    }
    let server = async move {
        let mut echoes: Vec<Task<'_>> = Vec::new();
        for _ in 0..n {
            let conn = accepts.next().await.ok_or("the listener's stream ended")?;
            echoes.push(Box::pin(async move {
                let (mut rx, _done) = conn.receive();
                let (mut tx, txr) = wit_stream::new::<u8>();
                let sent = conn.send(txr);
                let (ready, _) = rx.read(Vec::new()).await;
                if ready != wasip3::wit_bindgen::StreamResult::Complete(0) {
                    return Err(format!("0-length read: {ready:?}"));
                }
                let (_, buf) = rx.read(Vec::with_capacity(64)).await;
                if !tx.write_all(buf).await.is_empty() {
                    return Err("echo write dropped".into());
                }
                drop(tx);
                sent.await.map_err(|e| format!("echo send: {e:?}"))
            }));
        }
        reactor::join_all(echoes)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, String>>()
            .map(drop)
    };
    tasks.push(Box::pin(server));
    reactor::join_all(tasks)
        .await
        .into_iter()
        .collect::<Result<Vec<()>, String>>()
        .map(drop)
}

/// A `wait-for` (an async import: a subtask in the set) is never early.
async fn timer() -> Result<(), String> {
    use wasip3::clocks::monotonic_clock::{now, wait_for};
    let t0 = now();
    wait_for(20_000_000).await;
    let dt = now() - t0;
    if dt < 20_000_000 {
        return Err(format!("wait-for(20 ms) returned after {dt} ns"));
    }
    println!("clocks: wait-for(20 ms) was not early: ok");
    Ok(())
}

/// `resolve-addresses` (an async import) answers for `localhost` with loopback addresses.
async fn name_lookup() -> Result<(), String> {
    use wasip3::sockets::ip_name_lookup::resolve_addresses;
    use wasip3::sockets::types::IpAddress;
    let addrs = resolve_addresses("localhost".to_string())
        .await
        .map_err(|e| format!("resolve localhost: {e:?}"))?;
    let loopback = |a: &IpAddress| match a {
        IpAddress::Ipv4(v4) => v4.0 == 127,
        IpAddress::Ipv6(v6) => *v6 == (0, 0, 0, 0, 0, 0, 0, 1),
    };
    if addrs.is_empty() || !addrs.iter().all(loopback) {
        return Err(format!("localhost resolved to {addrs:?}"));
    }
    println!("ip-name-lookup: localhost resolves to loopback: ok");
    Ok(())
}
