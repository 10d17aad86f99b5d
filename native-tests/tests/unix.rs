//! Unix domain sockets (native only: wasm32-wasip2 has none; divergence `unix-sockets`):
//! streams, datagrams, the cleanup of socket paths, and the asyncio server over a Unix path.
//!
//! Every test works in its own temporary directory, removed at the end.

use std::cell::Cell;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wasio::net::{
    ServerOptions, UnixDatagram, UnixListener, UnixServer, UnixStream, start_unix_server,
};

/// Bound on any wait for the other end (never reached when things work).
const WAIT: Duration = Duration::from_secs(10);

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wasio-unix-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match wasio::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not done within {WAIT:?}"),
    }
}

async fn echo(conn: UnixStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.close().await;
        }
        conn.write_all(&buf[..n]).await?;
    }
}

/// A handler that holds its connection until the client closes it.
async fn park(conn: UnixStream) -> std::io::Result<()> {
    let mut sink = Vec::new();
    conn.read_to_end(&mut sink).await.map(drop)
}

async fn accepted(server: &UnixServer) {
    bounded("accept", async {
        while server.active_connections() == 0 {
            wasio::yield_now().await;
        }
    })
    .await
}

#[test]
fn stream_echo_through_a_listener() {
    let dir = TempDir::new();
    let path = dir.path("echo.sock");
    wasio::run(async move {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let server = wasio::spawn(async move {
            let (conn, peer) = listener.accept().await.unwrap();
            assert!(peer.is_unnamed(), "a client that did not bind: {peer:?}");
            echo(conn).await.unwrap();
        });
        let client = UnixStream::connect(&path).await.unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        assert!(client.local_addr().unwrap().is_unnamed());
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (rd, wr) = client.into_split();
        let sent = data.clone();
        let writer = wasio::spawn(async move {
            wr.write_all(&sent).await.unwrap();
            wr.shutdown_write().await.unwrap();
        });
        let mut got = Vec::new();
        bounded("echo", rd.read_to_end(&mut got)).await.unwrap();
        writer.await.unwrap();
        server.await.unwrap();
        assert_eq!(got, data, "the echo differs");
    })
    .unwrap();
}

#[test]
fn stream_pair_and_half_close() {
    wasio::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"ping").await.unwrap();
        a.shutdown_write().await.unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        // The other direction still works after the half-close.
        b.write_all(b"pong").await.unwrap();
        let mut buf = [0u8; 4];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    })
    .unwrap();
}

#[test]
fn connect_errors() {
    let dir = TempDir::new();
    let missing = dir.path("missing.sock");
    let file = dir.path("file");
    std::fs::write(&file, b"not a socket").unwrap();
    wasio::run(async move {
        let e = UnixStream::connect(&missing).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = UnixStream::connect(&file).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    })
    .unwrap();
    // Outside a running loop: an error, not a panic.
    let e = UnixStream::pair().unwrap_err();
    assert!(e.to_string().contains("no wasio event loop"), "{e}");
}

#[test]
fn datagram_round_trips_including_empty_datagrams() {
    let dir = TempDir::new();
    let (pa, pb) = (dir.path("a.sock"), dir.path("b.sock"));
    wasio::run(async move {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        let mut buf = [0u8; 64];
        // send_to / recv_from, with the sender's path.
        assert_eq!(a.send_to(b"hello", &pb).await.unwrap(), 5);
        assert_eq!(a.send_to(b"", &pb).await.unwrap(), 0);
        assert_eq!(a.send_to(b"world", &pb).await.unwrap(), 5);
        let (n, from) = bounded("recv_from", b.recv_from(&mut buf)).await.unwrap();
        assert_eq!(
            (&buf[..n], from.as_pathname()),
            (&b"hello"[..], Some(pa.as_path()))
        );
        let (n, _) = bounded("recv_from", b.recv_from(&mut buf)).await.unwrap();
        assert_eq!(n, 0, "an empty datagram is received as such");
        let (n, _) = bounded("recv_from", b.recv_from(&mut buf)).await.unwrap();
        assert_eq!(
            &buf[..n],
            b"world",
            "the empty datagram did not end anything"
        );
        // connect / send / recv.
        b.connect(&pa).unwrap();
        assert_eq!(b.peer_addr().unwrap().as_pathname(), Some(pa.as_path()));
        b.send(b"back").await.unwrap();
        b.send(b"").await.unwrap();
        let n = bounded("recv", a.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert_eq!(bounded("recv", a.recv(&mut buf)).await.unwrap(), 0);
        // An unbound socket sends; its datagrams come from an unnamed address.
        let u = UnixDatagram::unbound().unwrap();
        u.send_to(b"anon", &pa).await.unwrap();
        let (n, from) = bounded("recv_from", a.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"anon");
        assert!(from.is_unnamed());
        // A pair.
        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(b"").await.unwrap();
        x.send(b"pair").await.unwrap();
        assert_eq!(bounded("recv", y.recv(&mut buf)).await.unwrap(), 0);
        let n = bounded("recv", y.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"pair");
        // A datagram longer than the buffer is truncated; the next one is intact.
        x.send(&[7u8; 100]).await.unwrap();
        x.send(b"next").await.unwrap();
        assert_eq!(bounded("recv", y.recv(&mut buf)).await.unwrap(), 64);
        let n = bounded("recv", y.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"next");
    })
    .unwrap();
}

#[test]
fn many_datagrams_are_all_received_in_order() {
    wasio::run(async {
        let (x, y) = UnixDatagram::pair().unwrap();
        let receiver = wasio::spawn(async move {
            let mut buf = [0u8; 8];
            for i in 0..2000u32 {
                let n = y.recv(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &i.to_le_bytes()[..], "datagram {i}");
            }
        });
        // More than the socket buffer holds: the sender waits for room.
        for i in 0..2000u32 {
            x.send(&i.to_le_bytes()).await.unwrap();
        }
        bounded("receiver", receiver).await.unwrap();
    })
    .unwrap();
}

#[test]
fn dropping_a_listener_or_datagram_socket_removes_its_path() {
    let dir = TempDir::new();
    let (pl, pd) = (dir.path("l.sock"), dir.path("d.sock"));
    wasio::run(async move {
        let listener = UnixListener::bind(&pl).unwrap();
        let datagram = UnixDatagram::bind(&pd).unwrap();
        assert!(pl.exists() && pd.exists());
        // The path is taken while the socket lives.
        assert_eq!(
            UnixListener::bind(&pl).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        drop(listener);
        drop(datagram);
        assert!(!pl.exists(), "listener path left behind");
        assert!(!pd.exists(), "datagram path left behind");
        // And it can be bound again.
        drop(UnixListener::bind(&pl).unwrap());
        assert!(!pl.exists());
    })
    .unwrap();
}

#[test]
fn a_path_that_is_not_ours_any_more_is_never_removed() {
    let dir = TempDir::new();
    let path = dir.path("s.sock");
    wasio::run(async move {
        // Replaced by a regular file.
        let listener = UnixListener::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"someone else's").unwrap();
        drop(listener);
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
        std::fs::remove_file(&path).unwrap();
        // Replaced by another socket: the first one's drop leaves it, its own drop removes it.
        let first = UnixDatagram::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let second = UnixListener::bind(&path).unwrap();
        drop(first);
        assert!(path.exists(), "the second socket's path was removed");
        let c = UnixStream::connect(&path).await.unwrap();
        let (_conn, _) = second.accept().await.unwrap();
        drop(c);
        drop(second);
        assert!(!path.exists());
        // Removed by someone else: nothing to do, no error.
        let third = UnixListener::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        drop(third);
        assert!(!path.exists());
    })
    .unwrap();
}

#[test]
fn server_echo_close_and_path_cleanup() {
    let dir = TempDir::new();
    let path = dir.path("srv.sock");
    wasio::run(async move {
        let server = start_unix_server(echo, &path, ServerOptions::new())
            .await
            .unwrap();
        assert!(server.is_serving());
        assert_eq!(server.sockets()[0].as_pathname(), Some(path.as_path()));
        for msg in [&b"one"[..], b"two"] {
            let c = UnixStream::connect(&path).await.unwrap();
            c.write_all(msg).await.unwrap();
            c.close().await.unwrap();
            let mut got = Vec::new();
            bounded("echo", c.read_to_end(&mut got)).await.unwrap();
            assert_eq!(got, msg);
        }
        server.close();
        assert!(!server.is_serving() && server.is_closed());
        assert!(server.sockets().is_empty());
        assert!(!path.exists(), "close() removes the socket path");
        let e = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        bounded("wait_closed", server.wait_closed()).await;
        assert!(
            server.start_serving().is_err(),
            "a closed server stays closed"
        );
    })
    .unwrap();
}

#[test]
fn server_wait_closed_waits_for_the_last_connection() {
    let dir = TempDir::new();
    let path = dir.path("srv.sock");
    wasio::run(async move {
        let server = start_unix_server(park, &path, ServerOptions::new())
            .await
            .unwrap();
        let client = UnixStream::connect(&path).await.unwrap();
        accepted(&server).await;
        let done = Rc::new(Cell::new(false));
        let (s, d) = (server.clone(), done.clone());
        let waiter = wasio::spawn(async move {
            s.wait_closed().await;
            d.set(true);
        });
        server.close();
        for _ in 0..5 {
            wasio::yield_now().await;
        }
        assert!(!done.get(), "wait_closed returned with a connection open");
        assert_eq!(server.active_connections(), 1);
        client.close().await.unwrap();
        drop(client);
        bounded("wait_closed", waiter).await.unwrap();
        assert!(done.get());
        assert_eq!(server.active_connections(), 0);
    })
    .unwrap();
}

#[test]
fn server_close_clients_and_abort_clients_end_connections() {
    let dir = TempDir::new();
    for abort in [false, true] {
        let path = dir.path(if abort { "abort.sock" } else { "close.sock" });
        wasio::run(async move {
            let server = start_unix_server(park, &path, ServerOptions::new())
                .await
                .unwrap();
            let client = UnixStream::connect(&path).await.unwrap();
            accepted(&server).await;
            server.close();
            if abort {
                server.abort_clients();
            } else {
                server.close_clients();
            }
            bounded("wait_closed", server.wait_closed()).await;
            let mut buf = [0u8; 4];
            let n = bounded("client read", client.read(&mut buf)).await.unwrap();
            assert_eq!(n, 0, "the client reads end of stream (abort={abort})");
            assert_eq!(server.active_connections(), 0);
        })
        .unwrap();
    }
}

#[test]
fn server_serve_forever_and_delayed_start() {
    let dir = TempDir::new();
    let path = dir.path("srv.sock");
    wasio::run(async move {
        let opts = ServerOptions::new().start_serving(false).backlog(5);
        let server = start_unix_server(echo, &path, opts).await.unwrap();
        assert!(!server.is_serving());
        assert!(path.exists(), "bound before serving");
        // Bound but not listening: connects are refused.
        let e = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let s = server.clone();
        let serving = wasio::spawn(async move { s.serve_forever().await });
        wasio::yield_now().await;
        let c = UnixStream::connect(&path).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        bounded("echo", c.read_exact(&mut b)).await.unwrap();
        assert!(server.is_serving());
        server.close();
        bounded("serve_forever", serving).await.unwrap().unwrap();
        assert!(!path.exists());
    })
    .unwrap();
}

#[test]
fn server_bind_rules() {
    let dir = TempDir::new();
    let stale = dir.path("stale.sock");
    let file = dir.path("file");
    std::fs::write(&file, b"keep me").unwrap();
    // A socket file left behind by a process that is gone (its listener was never closed).
    let leftover = std::os::unix::net::UnixListener::bind(&stale).unwrap();
    drop(leftover);
    assert!(stale.exists());
    wasio::run(async move {
        // The stale socket is removed and the server binds (asyncio).
        let server = start_unix_server(echo, &stale, ServerOptions::new())
            .await
            .unwrap();
        let c = UnixStream::connect(&stale).await.unwrap();
        drop(c);
        server.close();
        assert!(!stale.exists());
        // Any other kind of file is never removed: the bind fails, naming the path.
        let e = start_unix_server(echo, &file, ServerOptions::new())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
        assert_eq!(
            e.to_string(),
            format!("Address '{}' is already in use", file.display())
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
        // TCP socket options do not apply.
        for opts in [
            ServerOptions::new().reuse_port(true),
            ServerOptions::new().keep_alive(true),
            ServerOptions::new().reuse_address(false),
        ] {
            let e = start_unix_server(echo, dir_path(&file).join("o.sock"), opts)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
        }
    })
    .unwrap();
}

fn dir_path(p: &Path) -> &Path {
    p.parent().expect("a path in a directory")
}
