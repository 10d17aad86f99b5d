//! The HTTP examples in wasmtime (`wasio-host run`): `http_server.wasm` driven by curl where
//! the machine has it (keep-alive, a 1 MiB echo, 100 parallel requests), and always by
//! `http_client.wasm`, a hyper client on wasio in wasmtime too.

use std::path::Path;
use std::process::{Child, Command, Output};

use wasio_host::GUEST_EXAMPLES_DIR;

use crate::{spawn_listening, wait_success, wasio_host};

/// Starts `http_server.wasm` in wasmtime, to exit after `max_requests`; returns it and the
/// address it listens on.
fn start_server(max_requests: u64) -> (Child, String) {
    spawn_listening(
        wasio_host()
            .arg("run")
            .arg(Path::new(GUEST_EXAMPLES_DIR).join("http_server.wasm"))
            .args([
                "--",
                "127.0.0.1:0",
                "--max-requests",
                &max_requests.to_string(),
            ]),
    )
}

fn check_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn has_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn http_server_example_serves_curl_in_wasmtime() {
    const PARALLEL: u64 = 100;
    assert!(
        has_curl(),
        "curl is not installed: apt-get install curl nghttp2-client (.ci/all-tests does)"
    );
    let (server, addr) = start_server(2 + 1 + PARALLEL);
    let url = format!("http://{addr}/");

    // Keep-alive: two URLs in one curl run share one connection.
    let out = Command::new("curl")
        .args(["-sv", &url, &url])
        .output()
        .expect("run curl");
    check_success("curl keep-alive", &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from wasio\n".repeat(2)
    );
    let trace = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        trace.contains("re-using existing connection"),
        "curl opened a second connection:\n{trace}"
    );
    for header in ["< x-connection: 1", "< x-request: 1", "< x-request: 2"] {
        assert!(trace.contains(header), "no `{header}` in:\n{trace}");
    }

    // A 1 MiB body, echoed.
    let dir = std::env::temp_dir().join(format!("wasio-host-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (sent, echoed) = (dir.join("sent"), dir.join("echoed"));
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&sent, &data).expect("write the body");
    let out = Command::new("curl")
        .args(["-s", "-w", "%{http_code}", "--data-binary"])
        .arg(format!("@{}", sent.display()))
        .arg("-o")
        .arg(&echoed)
        .arg(format!("{url}echo"))
        .output()
        .expect("run curl");
    check_success("curl echo", &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let back = std::fs::read(&echoed).expect("read the echo");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(back.len(), data.len(), "echoed length");
    assert!(back == data, "the echo differs from the body");

    // 100 requests in parallel, one connection each.
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--parallel", "--parallel-immediate", "--parallel-max"])
        .arg(PARALLEL.to_string())
        .args(["-w", "%{http_code}\\n"]);
    for _ in 0..PARALLEL {
        cmd.args(["-o", "/dev/null", &url]);
    }
    let out = cmd.output().expect("run curl");
    check_success("curl --parallel", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let codes: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        codes.len() as u64,
        PARALLEL,
        "one status per request: {stdout}"
    );
    assert!(codes.iter().all(|c| *c == "200"), "statuses: {codes:?}");

    // The server exits by itself after its last request.
    wait_success(server);
}

#[test]
fn http_examples_talk_to_each_other_in_wasmtime() {
    let (server, addr) = start_server(3);
    let client = Path::new(GUEST_EXAMPLES_DIR).join("http_client.wasm");
    let out = wasio_host()
        .arg("run")
        .arg(&client)
        .args(["--", &format!("http://{addr}/"), &format!("http://{addr}/")])
        .output()
        .expect("run the client");
    check_success("http_client GET", &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 x-connection=1 x-request=1\nhello from wasio\n\
         200 x-connection=1 x-request=2\nhello from wasio\n"
    );
    let out = wasio_host()
        .arg("run")
        .arg(&client)
        .args(["--", "--data", "echo me", &format!("http://{addr}/echo")])
        .output()
        .expect("run the client");
    check_success("http_client POST", &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 x-connection=2 x-request=1\necho me"
    );
    wait_success(server);
}

/// A certificate for `localhost` made now (no key is committed), written to a fresh directory
/// as `cert.pem` and `key.pem`.
fn localhost_cert() -> tempfile::TempDir {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).expect("write cert");
    std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem())
        .expect("write key");
    dir
}

/// HTTP/2 in wasmtime: the example server answers curl's prior-knowledge HTTP/2 and 200
/// requests of h2load over 4 connections with 10 streams each.
#[test]
fn http_server_example_serves_http2_in_wasmtime() {
    let (server, addr) = start_server(1 + 200);
    let url = format!("http://{addr}/");
    let out = Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-w",
            "%{http_version}",
            &url,
        ])
        .output()
        .expect("run curl (apt-get install curl)");
    check_success("curl --http2-prior-knowledge", &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from wasio\n2");
    let out = Command::new("h2load")
        .args(["-n", "200", "-c", "4", "-m", "10", &url])
        .output()
        .expect("run h2load (apt-get install nghttp2-client)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "h2load: {report}");
    assert!(
        report.contains("requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed"),
        "{report}"
    );
    wait_success(server);
}

/// HTTPS in wasmtime: the example server with `--tls` (the certificate made at test time,
/// given through `--dir`) answers curl with `--cacert`, over HTTP/1.1 and HTTP/2 (ALPN).
#[test]
fn https_server_example_serves_curl_in_wasmtime() {
    let certs = localhost_cert();
    let (server, addr) = spawn_listening(
        wasio_host()
            .arg("run")
            .arg("--dir")
            .arg(format!("{}::/certs", certs.path().display()))
            .arg(Path::new(GUEST_EXAMPLES_DIR).join("http_server.wasm"))
            .args([
                "--",
                "127.0.0.1:0",
                "--tls",
                "/certs/cert.pem",
                "/certs/key.pem",
                "--max-requests",
                "2",
            ]),
    );
    let port = addr.rsplit_once(':').expect("host:port").1;
    let url = format!("https://localhost:{port}/");
    let ca = certs.path().join("cert.pem");
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let out = Command::new("curl")
            .args([
                "-s",
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
                "--cacert",
            ])
            .arg(&ca)
            .args([flag, "-w", "%{http_version}", &url])
            .output()
            .expect("run curl");
        check_success(&format!("curl {flag}"), &out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("hello from wasio\n{version}")
        );
    }
    wait_success(server);
}

/// A wasio TLS client in wasmtime (`http_client.wasm --cacert`) against a native rustls
/// server (the same example server, natively, in this process).
#[test]
fn wasio_tls_client_in_wasmtime_talks_to_a_native_rustls_server() {
    let certs = localhost_cert();
    let cert = std::fs::read_to_string(certs.path().join("cert.pem")).expect("cert");
    let key = std::fs::read_to_string(certs.path().join("key.pem")).expect("key");
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let native = std::thread::spawn(move || {
        wasio::run(async move {
            let acceptor = wasio::tls::acceptor(cert.as_bytes(), key.as_bytes())?;
            let server = guest_tests::http::server::HttpServer::start_with(
                "127.0.0.1:0",
                wasio::hyper::ServeOptions::new().tls(acceptor),
            )
            .await?;
            let _ = addr_tx.send(server.addrs()[0]);
            server.run(Some(2)).await
        })
    });
    let addr = addr_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the native server's address");
    let url = format!("https://localhost:{}/", addr.port());
    let out = wasio_host()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/certs", certs.path().display()))
        .arg(Path::new(GUEST_EXAMPLES_DIR).join("http_client.wasm"))
        .args(["--", "--cacert", "/certs/cert.pem", &url, &url])
        .output()
        .expect("run the client");
    check_success("http_client over TLS", &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 x-connection=1 x-request=1\nhello from wasio\n\
         200 x-connection=1 x-request=2\nhello from wasio\n"
    );
    native
        .join()
        .expect("server thread")
        .expect("wasio::run")
        .expect("server");
}
