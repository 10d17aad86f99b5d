//! The `wasio-host` command line.

use std::path::Path;
use std::process::Command;

use wasio_host::GUEST_EXAMPLES_DIR;

fn wasio_host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasio-host"))
}

#[test]
fn help_for_every_command() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["test", "--help"],
        &["compare", "--help"],
    ] {
        let out = wasio_host().args(args).output().expect("run wasio-host");
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
}

#[test]
fn test_command_reports_a_summary_and_json() {
    let out = wasio_host()
        .args(["test", "--filter", "sch01"])
        .output()
        .expect("run wasio-host");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2 passed, 0 failed"
    );
    let out = wasio_host()
        .args(["test", "--filter", "tmr02", "--json"])
        .output()
        .expect("run wasio-host");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("{\"case\":\"tmr02_") && l.contains("\"passed\":true"))
    );
}

#[test]
fn test_command_fails_on_an_empty_selection() {
    let out = wasio_host()
        .args(["test", "--filter", "no-case-has-this-name"])
        .output()
        .expect("run wasio-host");
    assert!(!out.status.success());
}

#[test]
fn compare_command_agrees_on_a_subset() {
    let out = wasio_host()
        .args(["compare", "--filter", "life01"])
        .output()
        .expect("run wasio-host");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("3 cases: 3 agree, 0 listed divergences, 0 disagree"),
        "{text}"
    );
}

#[test]
fn run_command_runs_an_example_with_arguments() {
    let example = Path::new(GUEST_EXAMPLES_DIR).join("countdown.wasm");
    let out = wasio_host()
        .arg("run")
        .arg(&example)
        .args(["--", "2"])
        .output()
        .expect("run wasio-host");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n1\nliftoff\n");
}

#[test]
fn subprocess_example_reports_unsupported_in_wasmtime() {
    let example = Path::new(GUEST_EXAMPLES_DIR).join("subprocess.wasm");
    let out = wasio_host()
        .arg("run")
        .arg(&example)
        .output()
        .expect("run wasio-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Unsupported") && stderr.contains("WASI"),
        "the error names Unsupported and WASI: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn run_command_reports_a_missing_component() {
    let out = wasio_host()
        .args(["run", "/no/such/component.wasm"])
        .output()
        .expect("run wasio-host");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read component"));
}

#[test]
fn echo_examples_talk_to_each_other_in_wasmtime() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = Path::new(GUEST_EXAMPLES_DIR);
    let mut server = wasio_host()
        .arg("run")
        .arg(dir.join("echo_server.wasm"))
        .args(["--", "127.0.0.1:0", "--max-connections", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the server's address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let out = wasio_host()
        .arg("run")
        .arg(dir.join("echo_client.wasm"))
        .args(["--", &addr, "hello", "wasm"])
        .output()
        .expect("run the client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nwasm\n");
    let status = server.wait().expect("server exit");
    assert!(status.success(), "server exited with {status}");
}

#[test]
fn udp_echo_example_serves_and_sends_in_wasmtime() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = Path::new(GUEST_EXAMPLES_DIR);
    let mut server = wasio_host()
        .arg("run")
        .arg(dir.join("udp_echo.wasm"))
        .args(["--", "serve", "127.0.0.1:0", "--max-datagrams", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the server's address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let out = wasio_host()
        .arg("run")
        .arg(dir.join("udp_echo.wasm"))
        .args(["--", "send", &addr, "one", "", "three"])
        .output()
        .expect("run the client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n\nthree\n");
    let status = server.wait().expect("server exit");
    assert!(status.success(), "server exited with {status}");
}
