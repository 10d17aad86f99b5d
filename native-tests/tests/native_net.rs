//! Native-only TCP behaviour: the native side of the listed divergences (TCP_NODELAY,
//! SO_REUSEPORT, reuse_address=false, resets), EMFILE during accept, and 10,000 concurrent
//! connections.
//!
//! The EMFILE and 10,000-connection tests re-run this test binary as a child process (selected
//! by an environment variable), so the server and the clients have separate fd tables.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::time::Duration;

use wasio::net::{ServerOptions, TcpStream, start_server};

fn lo4() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn echo(conn: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.close().await;
        }
        conn.write_all(&buf[..n]).await?;
    }
}

/// SRV-06: every TCP connection has TCP_NODELAY, accepted and connected alike.
#[test]
fn srv06_accepted_connections_get_nodelay() {
    let seen = wasio::run(async {
        let flag = Rc::new(Cell::new(None));
        let f2 = flag.clone();
        let server = start_server(
            move |c: TcpStream| {
                let f = f2.clone();
                async move {
                    f.set(Some(c.nodelay()?));
                    c.close().await
                }
            },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .unwrap();
        let c = TcpStream::connect(server.sockets()[0]).await.unwrap();
        // Client transports get it too (asyncio `_SelectorSocketTransport`).
        let client_nodelay = c.nodelay().unwrap();
        let mut sink = Vec::new();
        c.read_to_end(&mut sink).await.unwrap();
        server.close();
        server.wait_closed().await;
        (flag.get(), client_nodelay)
    })
    .unwrap();
    assert_eq!(seen, (Some(true), true));
}

/// SRV-04: with `reuse_port` two servers share a port; by default the second fails.
#[test]
fn srv04_reuse_port_shares_a_port() {
    wasio::run(async {
        let opts = ServerOptions::new().reuse_port(true);
        let a = start_server(echo, "127.0.0.1", 0, opts.clone())
            .await
            .unwrap();
        let port = a.sockets()[0].port();
        let b = start_server(echo, "127.0.0.1", port, opts).await;
        assert!(b.is_ok(), "reuse_port bind failed: {:?}", b.err());
        let c = start_server(echo, "127.0.0.1", port, ServerOptions::new()).await;
        assert_eq!(
            c.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AddrInUse)
        );
    })
    .unwrap();
}

/// SRV-04: `reuse_address(false)` is applied: rebinding a port in TIME_WAIT fails.
#[test]
fn srv04_reuse_address_false_is_applied() {
    wasio::run(async {
        let first = start_server(
            |c: TcpStream| async move { c.close().await },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .unwrap();
        let addr = first.sockets()[0];
        let c = TcpStream::connect(addr).await.unwrap();
        let mut sink = Vec::new();
        c.read_to_end(&mut sink).await.unwrap();
        drop(c);
        first.close();
        first.wait_closed().await;
        let no_reuse = ServerOptions::new().reuse_address(false);
        let res = start_server(echo, "127.0.0.1", addr.port(), no_reuse).await;
        let err = res.expect_err("bind must fail while the port is in TIME_WAIT");
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        assert!(
            err.to_string()
                .contains("error while attempting to bind on address")
        );
    })
    .unwrap();
}

/// Native side of `abort-clients`: the client is reset.
#[test]
fn srv09_abort_clients_resets_natively() {
    wasio::run(async {
        let server = start_server(
            |c: TcpStream| async move {
                let mut sink = Vec::new();
                c.read_to_end(&mut sink).await.map(drop)
            },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .unwrap();
        let client = TcpStream::connect(server.sockets()[0]).await.unwrap();
        wasio::timeout(Duration::from_secs(10), async {
            while server.active_connections() == 0 {
                wasio::yield_now().await;
            }
        })
        .await
        .expect("the server never counted the connection");
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        let mut buf = [0u8; 4];
        let err = client.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    })
    .unwrap();
}

/// Native side of `close-with-unread-data`: the peer is reset at once.
#[test]
fn close_with_unread_data_resets_natively() {
    wasio::run(async {
        let listener = wasio::net::TcpListener::bind(lo4()).await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        client.write_all(b"never read").await.unwrap();
        drop(server_side);
        let mut buf = [0u8; 4];
        let err = client.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    })
    .unwrap();
}

// ===== EMFILE during accept =====

const EMFILE_CLIENTS: usize = 80;
const EMFILE_FD_LIMIT: u64 = 64;

fn set_nofile(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit/setrlimit to read and write.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = soft.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// Runs one of this binary's `#[ignore]`d `*_child` tests in a child process.
fn child(test: &str, env: (&str, String)) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env.0, env.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// The server side, run only in the child process: an echo server with at most 64 fds.
#[test]
#[ignore = "the server half of emfile_during_accept_pauses_and_recovers, run by it in a child process"]
fn emfile_server_child() {
    if std::env::var_os("WASIO_EMFILE_CHILD").is_none() {
        return;
    }
    set_nofile(EMFILE_FD_LIMIT);
    wasio::run(async {
        let lp = wasio::current();
        lp.set_exception_handler(|_, ctx| {
            println!("REPORT: {}", ctx.message());
        });
        let done = Rc::new(Cell::new(0usize));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let (d2, w2) = (done.clone(), waker.clone());
        let server = start_server(
            move |c: TcpStream| {
                let (d, w) = (d2.clone(), w2.clone());
                async move {
                    let r = echo(c).await;
                    d.set(d.get() + 1);
                    if let Some(w) = w.borrow_mut().take() {
                        w.wake();
                    }
                    r
                }
            },
            "127.0.0.1",
            0,
            ServerOptions::new().backlog(200),
        )
        .await
        .expect("start_server");
        println!("PORT {}", server.sockets()[0].port());
        std::future::poll_fn(|cx| {
            if done.get() >= EMFILE_CLIENTS {
                Poll::Ready(())
            } else {
                *waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        server.close();
        server.wait_closed().await;
        println!("DONE");
    })
    .unwrap();
}

/// EMFILE while accepting: the server reports it, pauses accepts for a second, and serves the
/// waiting clients once file descriptors are free again; nothing is lost.
#[test]
fn emfile_during_accept_pauses_and_recovers() {
    let mut server = child("emfile_server_child", ("WASIO_EMFILE_CHILD", "1".into()));
    let stdout = server.stdout.take().expect("stdout");
    let (line_tx, line_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let port: u16 = loop {
        let line = line_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child prints its port");
        // libtest prints `test <name> ... ` without a newline before the child's output.
        if let Some((_, p)) = line.split_once("PORT ") {
            break p.trim().parse().expect("port");
        }
    };
    let (done_tx, done_rx) = mpsc::channel::<usize>();
    let mut releases = Vec::new();
    let mut threads = Vec::new();
    for i in 0..EMFILE_CLIENTS {
        let (rel_tx, rel_rx) = mpsc::channel::<()>();
        releases.push(rel_tx);
        let done_tx = done_tx.clone();
        threads.push(std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let msg = format!("ping {i:03}");
            s.write_all(msg.as_bytes()).unwrap();
            let mut buf = vec![0u8; msg.len()];
            s.read_exact(&mut buf).expect("echo");
            assert_eq!(buf, msg.as_bytes());
            done_tx.send(i).unwrap();
            let _ = rel_rx.recv();
        }));
    }
    // First wave: served until the child runs out of file descriptors.
    let mut served = Vec::new();
    while let Ok(i) = done_rx.recv_timeout(Duration::from_secs(3)) {
        served.push(i);
    }
    let first_wave = served.len();
    assert!(first_wave > 0, "nothing was served");
    assert!(
        first_wave < EMFILE_CLIENTS,
        "all {EMFILE_CLIENTS} served: the fd limit was not reached"
    );
    for &i in &served {
        releases[i].send(()).unwrap();
    }
    // Second wave: after the pause, the waiting clients are served.
    while served.len() < EMFILE_CLIENTS {
        let i = done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a waiting client was never served");
        served.push(i);
        releases[i].send(()).unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    let status = server.wait().unwrap();
    let output: Vec<String> = line_rx.try_iter().collect();
    assert!(status.success(), "child failed: {output:?}");
    assert!(
        output
            .iter()
            .any(|l| l.contains("REPORT: socket.accept() out of system resource")),
        "no EMFILE report: {output:?}"
    );
    assert!(output.iter().any(|l| l.contains("DONE")), "{output:?}");
    eprintln!("EMFILE: first wave {first_wave}, total {}", served.len());
}

// ===== 10,000 connections =====

const TEN_K: usize = 10_000;
const MSG: usize = 64;

fn message(i: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    for (j, b) in m.iter_mut().enumerate() {
        *b = ((i * 31 + j * 7) % 251) as u8;
    }
    m
}

/// The client side, run only in the child: 10,000 connections open at once, then one checked
/// round trip on each.
#[test]
#[ignore = "the client half of ten_thousand_connections_are_accepted_and_echoed, run by it in a child process"]
fn ten_thousand_clients_child() {
    let Some(port) = std::env::var_os("WASIO_10K_PORT") else {
        return;
    };
    let port: u16 = port.to_string_lossy().parse().expect("port");
    set_nofile(TEN_K as u64 + 512);
    let echoed = wasio::run(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut conns = Vec::with_capacity(TEN_K);
        for batch in (0..TEN_K).collect::<Vec<_>>().chunks(500) {
            let tasks: Vec<_> = batch
                .iter()
                .map(|_| wasio::spawn(TcpStream::connect(addr)))
                .collect();
            for t in tasks {
                conns.push(t.await.expect("task").expect("connect"));
            }
        }
        println!("OPEN {}", conns.len());
        let conns: Vec<Rc<TcpStream>> = conns.into_iter().map(Rc::new).collect();
        let ok = Rc::new(Cell::new(0usize));
        for batch in conns.chunks(1000).enumerate() {
            let (b, chunk) = batch;
            let tasks: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let (c, ok) = (c.clone(), ok.clone());
                    let i = b * 1000 + k;
                    wasio::spawn(async move {
                        let m = message(i);
                        c.write_all(&m).await?;
                        let mut back = [0u8; MSG];
                        c.read_exact(&mut back).await?;
                        if back == m {
                            ok.set(ok.get() + 1);
                        }
                        Ok::<_, std::io::Error>(())
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task").expect("round trip");
            }
        }
        for c in &conns {
            c.close().await.expect("close");
        }
        ok.get()
    })
    .unwrap();
    println!("ECHOED {echoed}");
}

/// 10,000 concurrent loopback connections, accepted and echoed with nothing lost (clients in a
/// child process: each side needs over 10,000 descriptors).
#[test]
fn ten_thousand_connections_are_accepted_and_echoed() {
    set_nofile(TEN_K as u64 + 512);
    let lp = wasio::EventLoop::new().unwrap();
    let accepted = Rc::new(Cell::new(0usize));
    let bytes = Rc::new(Cell::new(0usize));
    let (a2, b2) = (accepted.clone(), bytes.clone());
    let server = lp
        .run_until_complete(async move {
            start_server(
                move |c: TcpStream| {
                    let (a, b) = (a2.clone(), b2.clone());
                    a.set(a.get() + 1);
                    async move {
                        let mut buf = [0u8; 256];
                        loop {
                            let n = c.read(&mut buf).await?;
                            if n == 0 {
                                return c.close().await;
                            }
                            b.set(b.get() + n);
                            c.write_all(&buf[..n]).await?;
                        }
                    }
                },
                "127.0.0.1",
                0,
                ServerOptions::new().backlog(4096),
            )
            .await
        })
        .unwrap()
        .unwrap();
    let port = server.sockets()[0].port();
    let mut clients = child(
        "ten_thousand_clients_child",
        ("WASIO_10K_PORT", port.to_string()),
    );
    let stdout = clients.stdout.take().unwrap();
    let remote = lp.remote();
    let waiter = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut out);
        let status = clients.wait().unwrap();
        let _ = remote.stop();
        (status, out)
    });
    lp.run_forever().unwrap();
    let (status, out) = waiter.join().unwrap();
    assert!(status.success(), "client process failed: {out}");
    assert!(out.contains(&format!("OPEN {TEN_K}")), "{out}");
    assert!(out.contains(&format!("ECHOED {TEN_K}")), "{out}");
    // Let the server finish the connections the clients closed.
    lp.run_until_complete({
        let s = server.clone();
        async move {
            s.close();
            s.wait_closed().await;
        }
    })
    .unwrap();
    assert_eq!(accepted.get(), TEN_K);
    assert_eq!(bytes.get(), TEN_K * MSG);
    lp.close().unwrap();
}

/// Issue 17 item 14: `start_serving` that fails part-way (one host's port is taken by another
/// listener between bind and listen) keeps every socket: the error comes back, the server is
/// not serving, and once the port is free a second call serves on every host.
#[test]
fn start_serving_failing_part_way_keeps_every_socket() {
    wasio::run(async {
        let hosts = vec!["127.0.0.1".to_string(), "::1".to_string()];
        let server = start_server(echo, hosts, 0, ServerOptions::new().start_serving(false))
            .await
            .expect("start_server");
        let addrs = server.sockets();
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        // Take the port of the last address (both sockets have SO_REUSEADDR, so the bind works
        // and the server's listen() on it fails with EADDRINUSE).
        let blocker = std::net::TcpListener::bind(addrs[addrs.len() - 1]).expect("blocker");
        let err = server.start_serving().expect_err("the taken port");
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
        assert!(!server.is_serving());
        let mut after = server.sockets();
        after.sort();
        let mut before = addrs.clone();
        before.sort();
        assert_eq!(after, before, "every socket is still the server's");
        drop(blocker);
        server.start_serving().expect("second start_serving");
        assert!(server.is_serving());
        for a in &addrs {
            let c = TcpStream::connect(*a).await.expect("connect");
            c.write_all(b"hi").await.expect("write");
            let mut buf = [0u8; 2];
            c.read_exact(&mut buf).await.expect("echo");
            assert_eq!(&buf, b"hi");
        }
        server.close();
        server.wait_closed().await;
    })
    .expect("run");
}
