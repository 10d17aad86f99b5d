//! hyper on wasio, natively: the example server (`examples/http_server.rs`, on a thread of its
//! own) driven by `curl` where the machine has it, and always by a hyper client on wasio
//! running on another thread's loop; then what only native can show of `wasio::hyper`
//! (sleeps moved between threads, the executor outside a loop, reads into hyper's buffers).
//!
//! Each check runs keep-alive, 100 concurrent requests and a 1 MiB echo, and the server exits
//! by itself after the number of requests the test makes (`--max-requests`).

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use guest_tests::http::server::HttpServer;
use guest_tests::http::{Barrier, Client};
use hyper::body::Bytes;
use hyper::rt::{Executor, Read, ReadBuf, Timer};
use wasio::hyper::{HyperIo, WasioExecutor, WasioTimer};

const HELLO: &str = "hello from wasio\n";
/// A bound on waiting for the server thread; hitting it fails the test instead of hanging.
const WAIT: Duration = Duration::from_secs(60);

/// The example server on a thread of its own, answering `max_requests` requests.
struct ServerThread {
    addr: SocketAddr,
    /// `(connections, requests)` once the server has exited.
    done: mpsc::Receiver<Result<(u64, u64), String>>,
}

impl ServerThread {
    fn start(max_requests: u64) -> ServerThread {
        ServerThread::start_with(max_requests, None)
    }

    /// With TLS: the certificate chain and key, in PEM.
    fn start_with(max_requests: u64, tls: Option<(String, String)>) -> ServerThread {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            let result = wasio::run(async move {
                let mut options = wasio::hyper::ServeOptions::new();
                if let Some((cert, key)) = tls {
                    let acceptor = wasio::tls::acceptor(cert.as_bytes(), key.as_bytes())
                        .map_err(|e| format!("tls: {e}"))?;
                    options = options.tls(acceptor);
                }
                let server = HttpServer::start_with("127.0.0.1:0", options)
                    .await
                    .map_err(|e| format!("start: {e}"))?;
                let _ = addr_tx.send(server.addrs()[0]);
                server
                    .run(Some(max_requests))
                    .await
                    .map_err(|e| format!("run: {e}"))?;
                Ok((server.connections(), server.requests()))
            });
            let _ = done_tx.send(result.unwrap_or_else(|e| Err(format!("wasio::run: {e}"))));
        });
        let addr = addr_rx.recv_timeout(WAIT).expect("the server's address");
        ServerThread { addr, done }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits for the server to exit; returns `(connections, requests)`.
    fn finish(self) -> (u64, u64) {
        self.done
            .recv_timeout(WAIT)
            .expect("the server exits after its last request")
            .expect("the server ran")
    }
}

/// `curl ARGS` (the test fails with the fix if the machine has no curl: CI installs it).
fn curl(args: &[&str]) -> Option<Output> {
    tool("curl", args)
}

/// Runs a command-line tool the HTTP checks need; a missing one fails the test and says how to
/// install it (`.ci/all-tests` installs them).
fn tool(name: &str, args: &[&str]) -> Option<Output> {
    match Command::new(name).args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            panic!("{name} is not installed: apt-get install curl nghttp2-client (h2load, nghttp)")
        }
        Err(e) => panic!("running {name}: {e}"),
    }
}

fn check_success(out: &Output) {
    assert!(
        out.status.success(),
        "curl failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `len` bytes that are not all alike.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn curl_reuses_one_connection_for_two_urls() {
    let server = ServerThread::start(2);
    let url = server.url("/");
    let out = curl(&["-sv", &url, &url]).expect("curl");
    check_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), HELLO.repeat(2));
    let trace = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        trace.contains("re-using existing connection"),
        "curl opened a second connection:\n{trace}"
    );
    for header in ["< x-connection: 1", "< x-request: 1", "< x-request: 2"] {
        assert!(trace.contains(header), "no `{header}` in:\n{trace}");
    }
    assert_eq!(server.finish(), (1, 2), "(connections, requests)");
}

#[test]
fn curl_posts_1mib_and_gets_it_back() {
    let dir = std::env::temp_dir().join(format!("wasio-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (sent, echoed) = (dir.join("sent"), dir.join("echoed"));
    let data = payload(1 << 20);
    std::fs::write(&sent, &data).expect("write the body");
    let server = ServerThread::start(1);
    let out = curl(&[
        "-s",
        "-w",
        "%{http_code}",
        "-H",
        "content-type: application/octet-stream",
        "--data-binary",
        &format!("@{}", sent.display()),
        "-o",
        &echoed.display().to_string(),
        &server.url("/echo"),
    ])
    .expect("curl");
    check_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let back = std::fs::read(&echoed).expect("read the echo");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(back.len(), data.len(), "echoed length");
    assert!(back == data, "the echo differs from the body");
    assert_eq!(server.finish(), (1, 1), "(connections, requests)");
}

#[test]
fn curl_makes_100_parallel_requests() {
    const N: u64 = 100;
    let server = ServerThread::start(N);
    let url = server.url("/");
    let mut args = vec![
        "-s".to_string(),
        "--parallel".into(),
        "--parallel-immediate".into(),
        "--parallel-max".into(),
        N.to_string(),
        "-w".into(),
        "%{http_code}\\n".into(),
    ];
    for _ in 0..N {
        args.extend(["-o".into(), "/dev/null".into(), url.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = curl(&args).expect("curl");
    check_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let codes: Vec<&str> = stdout.lines().collect();
    assert_eq!(codes.len() as u64, N, "one status per request: {stdout}");
    assert!(codes.iter().all(|c| *c == "200"), "statuses: {codes:?}");
    // curl opened a connection per transfer, all at once.
    assert_eq!(server.finish(), (N, N), "(connections, requests)");
}

/// The same three checks with a hyper client on wasio, on this thread's loop, while the
/// server runs on another thread's.
#[test]
fn hyper_client_keep_alive_concurrency_and_echo() {
    const N: usize = 100;
    let server = ServerThread::start(3 + N as u64 + 1);
    let addr = server.addr;
    wasio::run(async move {
        // Keep-alive: three requests on one connection.
        let mut client = Client::connect(addr).await.unwrap();
        for k in 1..=3 {
            let reply = client.get("/").await.unwrap();
            assert_eq!((reply.status, reply.connection, reply.request), (200, 1, k));
            assert_eq!(reply.body, HELLO);
        }
        client.close().await.unwrap();
        // 100 requests in flight at once, each on its own connection.
        let connected = Barrier::new(N);
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let connected = connected.clone();
                wasio::spawn(async move {
                    let mut client = Client::connect(addr).await?;
                    connected.wait().await;
                    let reply = client.get("/").await?;
                    client.close().await?;
                    Ok::<_, String>(reply)
                })
            })
            .collect();
        let mut connections = BTreeSet::new();
        for task in tasks {
            let reply = task.await.unwrap().unwrap();
            assert_eq!((reply.status, reply.request), (200, 1));
            connections.insert(reply.connection);
        }
        assert_eq!(connections.len(), N, "distinct connections");
        // A 1 MiB body, echoed.
        let data = Bytes::from(payload(1 << 20));
        let mut client = Client::connect(addr).await.unwrap();
        let reply = client.post("/echo", data.clone()).await.unwrap();
        assert_eq!(reply.status, 200);
        assert!(reply.body == data, "the echo differs from the body");
        client.close().await.unwrap();
    })
    .unwrap();
    assert_eq!(
        server.finish(),
        (1 + N as u64 + 1, 3 + N as u64 + 1),
        "(connections, requests)"
    );
}

// ===== the adapter, where threads show =====

/// A sleep polled on one loop's thread and then awaited on another thread's loop starts a new
/// timer there (the first is left alone) and still waits for its deadline.
#[test]
#[allow(
    clippy::async_yields_async,
    reason = "the sleep leaves the loop that polled it, on purpose"
)]
fn timer_sleep_moved_to_another_loop_restarts_there() {
    let created = Instant::now();
    let sleep = thread::spawn(|| {
        wasio::run(async {
            let mut sleep = WasioTimer::new().sleep(Duration::from_millis(50));
            let first = std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await;
            assert!(first.is_pending());
            sleep
        })
        .unwrap()
    })
    .join()
    .unwrap();
    wasio::run(sleep).unwrap();
    assert!(created.elapsed() >= Duration::from_millis(50));
}

/// A sleep dropped on another thread than its loop's leaks its timer instead of touching it;
/// the loop it came from runs on, and its timer fires harmlessly.
#[test]
fn timer_sleep_dropped_on_another_thread_is_left_alone() {
    let (tx, rx) = mpsc::channel();
    let owner = thread::spawn(move || {
        wasio::run(async move {
            let mut sleep = WasioTimer::new().sleep(Duration::from_millis(20));
            let first = std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await;
            assert!(first.is_pending());
            tx.send(sleep).unwrap();
            // Past the moved sleep's deadline: its timer fires on this loop.
            wasio::sleep(Duration::from_millis(40)).await;
            "still running"
        })
        .unwrap()
    });
    let sleep = rx.recv_timeout(WAIT).unwrap();
    drop(sleep);
    assert_eq!(owner.join().unwrap(), "still running");
}

/// Resetting a sleep on another thread than its loop's also leaves the old timer alone.
#[test]
#[allow(
    clippy::async_yields_async,
    reason = "the sleep leaves the loop that polled it, on purpose"
)]
fn timer_reset_on_another_thread_starts_afresh() {
    let mut sleep = thread::spawn(|| {
        wasio::run(async {
            let mut sleep = WasioTimer::new().sleep(Duration::from_secs(3600));
            let first = std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await;
            assert!(first.is_pending());
            sleep
        })
        .unwrap()
    })
    .join()
    .unwrap();
    let t0 = Instant::now();
    WasioTimer::new().reset(&mut sleep, t0 + Duration::from_millis(10));
    wasio::run(sleep).unwrap();
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(10), "{waited:?}");
    assert!(
        waited < Duration::from_secs(60),
        "{waited:?}: the old deadline"
    );
}

/// Outside a loop the executor drops the future (hyper's `execute` cannot fail) and does not
/// panic.
#[test]
fn executor_outside_a_loop_drops_the_future() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Flag(dropped.clone());
    WasioExecutor::new().execute(async move {
        let _flag = flag;
    });
    assert!(dropped.load(Ordering::SeqCst));
}

/// A `futures-io` reader that serves `data`, or claims `lie` bytes per read.
struct Reader {
    data: Vec<u8>,
    lie: Option<usize>,
}

impl futures_io::AsyncRead for Reader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(n) = self.lie {
            return Poll::Ready(Ok(n));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data.drain(..n);
        Poll::Ready(Ok(n))
    }
}

fn read_once(io: &mut HyperIo<Reader>, buf: &mut ReadBuf<'_>) -> io::Result<()> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(io).poll_read(&mut cx, buf.unfilled()) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("the reader is always ready"),
    }
}

/// Reads fill hyper's buffer, at most 64 KiB at a time; a reader that claims more bytes than
/// it was given is an error, never bytes nobody wrote.
#[test]
fn hyper_io_fills_hyper_buffers_and_rejects_overstated_reads() {
    let data = payload(100 * 1024);
    let mut io = HyperIo::new(Reader {
        data: data.clone(),
        lie: None,
    });
    let mut storage = vec![std::mem::MaybeUninit::<u8>::uninit(); 128 * 1024];
    let mut buf = ReadBuf::uninit(&mut storage);
    read_once(&mut io, &mut buf).unwrap();
    assert_eq!(buf.filled().len(), 64 * 1024, "one read asks for 64 KiB");
    read_once(&mut io, &mut buf).unwrap();
    assert_eq!(
        buf.filled(),
        &data[..],
        "two reads bring everything, in order"
    );
    read_once(&mut io, &mut buf).unwrap();
    assert_eq!(buf.filled().len(), data.len(), "then end of stream");

    let mut liar = HyperIo::new(Reader {
        data: Vec::new(),
        lie: Some(17),
    });
    let mut small = [0u8; 16];
    let mut buf = ReadBuf::new(&mut small);
    let err = read_once(&mut liar, &mut buf).unwrap_err();
    assert!(err.to_string().contains("17 bytes"), "{err}");
    assert!(buf.filled().is_empty());
}

/// HTTP/2 without TLS, as curl speaks it with prior knowledge (h2c): served over HTTP/2.
#[test]
fn curl_speaks_http2_prior_knowledge() {
    // One URL per run: curl 7.88 closes a prior-knowledge connection after its first
    // transfer (the server reads end of stream), so two URLs in one run fail on its side.
    let server = ServerThread::start(2);
    let url = server.url("/");
    for _ in 0..2 {
        let out = curl(&[
            "-s",
            "--http2-prior-knowledge",
            "-w",
            "%{http_version}",
            &url,
        ])
        .expect("curl");
        check_success(&out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{HELLO}2"),
            "a response over HTTP/2"
        );
    }
    assert_eq!(server.finish(), (2, 2), "(connections, requests)");
}

/// h2load (nghttp2's load generator): 200 requests, 10 concurrent streams on each of 4 HTTP/2
/// connections, every one answered.
#[test]
fn h2load_gets_every_http2_request_answered() {
    let server = ServerThread::start(200);
    let url = server.url("/");
    let out = tool("h2load", &["-n", "200", "-c", "4", "-m", "10", &url]).expect("h2load");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "h2load: {report}");
    assert!(
        report.contains("requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed"),
        "{report}"
    );
    assert!(report.contains("status codes: 200 2xx"), "{report}");
    let (connections, requests) = server.finish();
    assert_eq!((connections, requests), (4, 200));
}

/// A certificate for `localhost`, made now (no key is committed): (chain PEM, key PEM).
fn localhost_cert() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// HTTPS on `serve` with `wasio::tls`: curl, trusting the certificate (`--cacert`), gets the
/// page over HTTP/1.1 and over HTTP/2 (chosen by ALPN).
#[test]
fn curl_gets_https_over_http1_and_http2() {
    let (cert, key) = localhost_cert();
    let dir = std::env::temp_dir().join(format!("wasio-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca = dir.join("cert.pem");
    std::fs::write(&ca, &cert).expect("write the certificate");
    let server = ServerThread::start_with(2, Some((cert, key)));
    let url = format!("https://localhost:{}/", server.addr.port());
    let ca = ca.to_string_lossy().into_owned();
    for version in ["--http1.1", "--http2"] {
        let out = curl(&[
            "-s",
            "--cacert",
            &ca,
            version,
            "-w",
            "%{http_version}",
            &url,
        ])
        .expect("curl");
        check_success(&out);
        let want = if version == "--http2" { "2" } else { "1.1" };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{HELLO}{want}"),
            "{version}"
        );
    }
    // Without trusting it, curl refuses the handshake.
    let out = curl(&["-s", &url]).expect("curl");
    assert!(
        !out.status.success(),
        "curl accepted an untrusted certificate"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
