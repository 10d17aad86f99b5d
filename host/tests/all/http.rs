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
    if !has_curl() {
        eprintln!("curl is not installed: skipping (the example client test still runs)");
        return;
    }
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
