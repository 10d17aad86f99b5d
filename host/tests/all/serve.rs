//! `wasio-host serve`: the `wasi:http` probe (`examples/wasi-http-probe`) as a WASI 0.2 and a
//! WASI 0.3 proxy component behind the host's HTTP/1.1 server, driven by curl: pages, a
//! streamed echo, a trap and a runaway handler that become 500s without taking the server
//! down, and outgoing requests under the loopback-only policy.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{spawn_listening, wasio_host};

/// A running `serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(component: &str, extra: &[&str]) -> Server {
        let (child, addr) = spawn_listening(
            wasio_host()
                .args(["serve", "--addr", "127.0.0.1:0"])
                .args(extra)
                .arg(component)
                .stderr(Stdio::piped()),
        );
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and returns what it logged.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut log);
        }
        log
    }
}

fn probes() -> Vec<(&'static str, &'static str)> {
    vec![
        ("0.2", wasio_host::WASI_HTTP_PROBE_P2),
        (
            "0.3",
            wasio_host::WASI_HTTP_PROBE_P3.expect("the WASI 0.3 probe (unset WASIO_HOST_SKIP_P3)"),
        ),
    ]
}

/// `curl URL`: the status and the body.
fn get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "60", "-w", "\n%{http_code}", url])
        .output()
        .expect("run curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn serve_answers_pages_in_both_worlds() {
    for (version, probe) in probes() {
        let server = Server::start(probe, &[]);
        let (code, body) = get(&server.url("/hello"));
        assert_eq!(code, 200, "WASI {version}: {body}");
        assert_eq!(body, format!("hello from wasi:http {version}\n"));
        let (code, _) = get(&server.url("/nowhere"));
        assert_eq!(code, 404, "WASI {version}");
    }
}

#[test]
fn serve_streams_a_4_mib_echo_in_both_worlds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    // Not a repeating pattern: a dropped or reordered chunk would show.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..4 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&input, &data).expect("write the body");
    for (version, probe) in probes() {
        let server = Server::start(probe, &[]);
        let output = dir.path().join(format!("out-{version}"));
        let status = Command::new("curl")
            .args(["-s", "--max-time", "120", "--data-binary"])
            .arg(format!("@{}", input.display()))
            .arg("-o")
            .arg(&output)
            .arg(server.url("/echo"))
            .status()
            .expect("run curl");
        assert!(status.success(), "WASI {version}: curl {status}");
        let back = std::fs::read(&output).expect("the echoed body");
        assert_eq!(back.len(), data.len(), "WASI {version}: length");
        assert!(back == data, "WASI {version}: the echo differs");
    }
}

#[test]
fn a_trapping_handler_is_a_500_and_the_server_goes_on() {
    for (version, probe) in probes() {
        let server = Server::start(probe, &[]);
        let (code, _) = get(&server.url("/panic"));
        assert_eq!(code, 500, "WASI {version}");
        let (code, body) = get(&server.url("/hello"));
        assert_eq!(
            (code, body.contains(version)),
            (200, true),
            "WASI {version}"
        );
        let log = server.stop();
        // The guest's panic message reaches the host's stderr.
        assert!(log.contains("failed on purpose"), "WASI {version}: {log}");
    }
}

#[test]
fn a_handler_past_the_time_limit_is_a_500_and_the_server_goes_on() {
    for (version, probe) in probes() {
        let server = Server::start(probe, &["--timeout", "1"]);
        let started = Instant::now();
        let (code, _) = get(&server.url("/spin"));
        let took = started.elapsed();
        assert_eq!(code, 500, "WASI {version}");
        assert!(took >= Duration::from_secs(1), "WASI {version}: {took:?}");
        assert!(took < Duration::from_secs(50), "WASI {version}: {took:?}");
        let (code, _) = get(&server.url("/hello"));
        assert_eq!(code, 200, "WASI {version}");
    }
}

#[test]
fn outgoing_requests_reach_loopback_and_nothing_else() {
    for (version, probe) in probes() {
        let server = Server::start(probe, &[]);
        // To itself: loopback, allowed.
        let (code, body) = get(&server.url(&format!("/fetch?to={}", server.addr)));
        assert_eq!(code, 200, "WASI {version}: {body}");
        assert_eq!(
            body,
            format!("fetched 200: hello from wasi:http {version}\n")
        );
        // A documentation address (TEST-NET-1): refused before any packet is sent.
        let (code, body) = get(&server.url("/fetch?to=192.0.2.1:80"));
        assert_eq!(code, 502, "WASI {version}: {body}");
        assert!(
            body.contains("DestinationIpProhibited"),
            "WASI {version}: {body}"
        );
        // A name that would leave the machine: not even looked up.
        let (code, body) = get(&server.url("/fetch?to=wasio-test.invalid:80"));
        assert_eq!(code, 502, "WASI {version}: {body}");
        assert!(
            body.contains("DestinationNotFound"),
            "WASI {version}: {body}"
        );
        let log = server.stop();
        assert!(
            log.contains("refused an outgoing HTTP request to 192.0.2.1:80"),
            "WASI {version}: {log}"
        );
        assert!(
            log.contains("refused an outgoing HTTP request to \"wasio-test.invalid\""),
            "WASI {version}: {log}"
        );
    }
}

#[test]
fn outgoing_requests_follow_the_tcp_and_lookup_switches() {
    for (version, probe) in probes() {
        // With TCP off, not even loopback: wasi:http must not be a way around `-S tcp=n`.
        let server = Server::start(probe, &["-S", "tcp=n"]);
        let (code, body) = get(&server.url(&format!("/fetch?to={}", server.addr)));
        assert_eq!(code, 502, "WASI {version}: {body}");
        assert!(body.contains("HttpRequestDenied"), "WASI {version}: {body}");
        let log = server.stop();
        assert!(log.contains("TCP is off"), "WASI {version}: {log}");
        // With lookups off, a name is refused; the literal address still works.
        let server = Server::start(probe, &["-S", "allow-ip-name-lookup=n"]);
        let port = server
            .addr
            .rsplit_once(':')
            .map(|(_, p)| p)
            .unwrap_or("0")
            .to_string();
        let (code, body) = get(&server.url(&format!("/fetch?to=localhost:{port}")));
        assert_eq!(code, 502, "WASI {version}: {body}");
        assert!(
            body.contains("DestinationNotFound"),
            "WASI {version}: {body}"
        );
        let (code, body) = get(&server.url(&format!("/fetch?to={}", server.addr)));
        assert_eq!(code, 200, "WASI {version}: {body}");
    }
}

#[test]
fn serve_refuses_a_component_without_an_http_handler() {
    let countdown = Path::new(wasio_host::GUEST_EXAMPLES_DIR).join("countdown.wasm");
    let out = wasio_host()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg(&countdown)
        .output()
        .expect("run wasio-host");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exports no HTTP handler"), "{err}");
    assert!(err.contains("wasio-host run"), "{err}");
}
