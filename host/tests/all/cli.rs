//! The `wasio-host` command line.

use std::path::Path;
use std::process::Command;

use wasio_host::GUEST_EXAMPLES_DIR;

use crate::{spawn_listening, wait_success, wasio_host};

/// Runs `cmd` to the end; fails the test with its stderr unless it succeeded; returns stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run wasio-host");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
fn host_settings_pooling_and_multi_thread_run_the_suite() {
    // The variants BENCHMARKS.md measured must keep working, not only the default.
    for settings in [&["--pooling"][..], &["--runtime", "multi-thread"][..]] {
        let stdout = run_ok(
            wasio_host()
                .args(settings)
                .args(["test", "--filter", "sch01"]),
        );
        assert_eq!(stdout.trim(), "2 passed, 0 failed", "{settings:?}");
    }
}

#[test]
fn test_command_reports_a_summary_and_json() {
    let stdout = run_ok(wasio_host().args(["test", "--filter", "sch01"]));
    assert_eq!(stdout.trim(), "2 passed, 0 failed");
    let text = run_ok(wasio_host().args(["test", "--filter", "tmr02", "--json"]));
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
        .args(["compare", "--wasi", "p2", "--filter", "life01"])
        .output()
        .expect("run wasio-host");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("3 cases: 3 agree, 0 listed divergences, 0 disagree")),
        "{text}"
    );
    assert!(text.starts_with("case "), "{text}");
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.contains("WASI 0.2") && !header.contains("WASI 0.3"),
        "{header}"
    );
}

#[test]
fn compare_command_shows_a_column_per_wasi_version_by_default() {
    let out = wasio_host()
        .args(["compare", "--filter", "tmr02"])
        .output()
        .expect("run wasio-host");
    let text = String::from_utf8_lossy(&out.stdout);
    // Not the exit status: it also counts every divergence probe in the WASI 0.3 suite, and
    // the WASI 0.3 backend is not finished. The timer cases agree in both columns.
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split("  ").collect();
    let header: Vec<&str> = header
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty())
        .collect();
    assert_eq!(
        header,
        ["case", "native", "WASI 0.2", "WASI 0.3", "transcripts"],
        "{text}"
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            "tmr02_timers_fire_in_deadline_order",
            "pass",
            "pass",
            "pass",
            "equal"
        ],
        "{text}"
    );
    for line in [
        "WASI 0.2: 2 cases: 2 agree, 0 listed divergences, 0 disagree;",
        "WASI 0.3: 2 cases: 2 agree, 0 listed divergences, 0 disagree;",
        "every world: 2 cases: 2 agree, 0 listed divergences, 0 disagree;",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line:?}:\n{text}"
        );
    }
}

#[test]
fn test_command_runs_the_p3_suite() {
    let stdout = run_ok(wasio_host().args(["test", "--wasi", "p3", "--filter", "tmr02"]));
    assert_eq!(stdout.trim(), "2 passed, 0 failed");
    let stdout = run_ok(wasio_host().args(["test", "--wasi", "all", "--filter", "tmr02"]));
    assert_eq!(
        stdout.trim(),
        "WASI 0.2: 2 passed, 0 failed\nWASI 0.3: 2 passed, 0 failed"
    );
    // A component given by path is told apart by its exports; `--wasi` must agree with it.
    let p3 = wasio_host::GUEST_TESTS_P3_COMPONENT.expect("the WASI 0.3 suite was built");
    let text = run_ok(
        wasio_host()
            .args(["test", "--json", "--filter", "tmr02_equal"])
            .arg(p3),
    );
    assert!(text.trim().ends_with(",\"wasi\":\"p3\"}"), "{text}");
    let out = wasio_host()
        .args(["test", "--wasi", "p2", "--filter", "tmr02"])
        .arg(p3)
        .output()
        .expect("run wasio-host");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a WASI 0.3 suite was given"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_command_runs_an_example_with_arguments() {
    let example = Path::new(GUEST_EXAMPLES_DIR).join("countdown.wasm");
    let stdout = run_ok(wasio_host().arg("run").arg(&example).args(["--", "2"]));
    assert_eq!(stdout, "2\n1\nliftoff\n");
}

#[test]
fn run_passes_everything_after_the_component_to_the_guest() {
    // wasio-host's own options, after the component, belong to the guest: the host neither
    // rejects `bogus` nor takes `x` as a memory size (the countdown ignores arguments that
    // are not a number and counts from 3).
    let example = Path::new(GUEST_EXAMPLES_DIR).join("countdown.wasm");
    let stdout = run_ok(wasio_host().arg("run").arg(&example).args([
        "--runtime",
        "bogus",
        "--memory-mib",
        "x",
        "--no-cache",
    ]));
    assert_eq!(stdout, "3\n2\n1\nliftoff\n");
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
    let dir = Path::new(GUEST_EXAMPLES_DIR);
    let (server, addr) = spawn_listening(
        wasio_host()
            .arg("run")
            .arg(dir.join("echo_server.wasm"))
            // The cargo-runner form: no `--`, and the guest's own flags pass straight through.
            .args(["127.0.0.1:0", "--max-connections", "1"]),
    );
    let out = wasio_host()
        .arg("run")
        .arg(dir.join("echo_client.wasm"))
        .args([&addr, "hello", "wasm"])
        .output()
        .expect("run the client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nwasm\n");
    wait_success(server);
}

#[test]
fn udp_echo_example_serves_and_sends_in_wasmtime() {
    let dir = Path::new(GUEST_EXAMPLES_DIR);
    let (server, addr) = spawn_listening(
        wasio_host()
            .arg("run")
            .arg(dir.join("udp_echo.wasm"))
            .args(["--", "serve", "127.0.0.1:0", "--max-datagrams", "3"]),
    );
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
    wait_success(server);
}

/// A file with known, non-repeating contents in a fresh host directory.
fn data_dir(tag: &str) -> (std::path::PathBuf, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("wasio-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make the directory");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(dir.join("data.bin"), &data).expect("write the file");
    (dir, data)
}

#[test]
fn run_dir_preopens_a_host_directory_at_a_guest_path() {
    let (dir, data) = data_dir("dir");
    let example = Path::new(GUEST_EXAMPLES_DIR).join("send_file.wasm");
    let out = wasio_host()
        .arg("run")
        .arg(format!("--dir={}::/data", dir.display()))
        .arg(&example)
        .arg("/data/data.bin")
        .output()
        .expect("run wasio-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "sent {0} bytes, received {0} bytes: identical\n",
            data.len()
        )
    );
    // Without `--dir` the guest sees no file system at all, and says so.
    let out = wasio_host()
        .arg("run")
        .arg(&example)
        .arg("/data/data.bin")
        .output()
        .expect("run wasio-host");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/data/data.bin"));
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn run_network_flags_deny_tcp() {
    let (dir, _) = data_dir("net");
    let example = Path::new(GUEST_EXAMPLES_DIR).join("send_file.wasm");
    let out = wasio_host()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/data", dir.display()))
        .args(["-S", "tcp=n"])
        .arg(&example)
        .arg("/data/data.bin")
        .output()
        .expect("run wasio-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no bytes may flow without TCP");
    assert!(
        stderr.to_lowercase().contains("denied") || stderr.contains("PermissionDenied"),
        "the guest sees access denied: {stderr}"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn run_rejects_unknown_or_malformed_options() {
    let example = Path::new(GUEST_EXAMPLES_DIR).join("countdown.wasm");
    for (args, says) in [
        (&["-S", "no-such-option"][..], "unknown option"),
        (&["-S", "tcp=maybe"], "expected y or n"),
        (&["--env", "=x"], "no name"),
        (&["--dir", "::/x"], "HOST::GUEST"),
    ] {
        let out = wasio_host()
            .arg("run")
            .args(args)
            .arg(&example)
            .output()
            .expect("run wasio-host");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: the guest must not run");
    }
}

#[test]
fn run_env_and_log_variables_reach_the_guest() {
    let example = Path::new(GUEST_EXAMPLES_DIR).join("countdown.wasm");
    let run = |extra: &[&str]| {
        let out = wasio_host()
            .env_remove("RUST_LOG")
            .env_remove("WASIO_LOG")
            .arg("run")
            .args(extra)
            .arg(&example)
            .arg("1")
            .output()
            .expect("run wasio-host");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "1\nliftoff\n");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The examples log through `WASIO_LOG` / `RUST_LOG`; the loop logs its close at debug level.
    assert!(!run(&[]).contains("event loop closed"));
    assert!(run(&["--env", "RUST_LOG=wasio=debug"]).contains("event loop closed"));
    assert!(run(&["--env=WASIO_LOG=wasio=debug"]).contains("event loop closed"));
    // `WASIO_LOG` wins over `RUST_LOG`.
    assert!(
        !run(&["--env", "RUST_LOG=wasio=debug", "--env", "WASIO_LOG=warn"])
            .contains("event loop closed")
    );
}

#[test]
fn run_passes_the_hosts_log_variables() {
    let example = Path::new(GUEST_EXAMPLES_DIR).join("countdown.wasm");
    let out = wasio_host()
        .env_remove("RUST_LOG")
        .env("WASIO_LOG", "wasio=debug")
        .args(["run"])
        .arg(&example)
        .arg("1")
        .output()
        .expect("run wasio-host");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("event loop closed"));
}

/// A refused connect is loud: the host logs it at the default level with the address and the
/// option that allows it, and the guest's error says the host's network policy refused it.
/// A name that could leave the machine is refused and logged the same way.
#[test]
fn run_logs_every_refusal_with_the_option_that_allows_it() {
    let example = Path::new(GUEST_EXAMPLES_DIR).join("echo_client.wasm");
    let out = wasio_host()
        .arg("run")
        .arg(&example)
        .args(["192.0.2.1:7000", "hello"])
        .env_remove("WASIO_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run wasio-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("refused a TCP connect to 192.0.2.1:7000")
            && stderr.contains("-S inherit-network"),
        "the host logs the refusal: {stderr}"
    );
    assert!(
        stderr.contains("network policy"),
        "the guest's error names the policy: {stderr}"
    );
    let out = wasio_host()
        .arg("run")
        .arg(&example)
        .args(["c2VjcmV0.exfil.example.com:7000", "hello"])
        .env_remove("WASIO_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run wasio-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused a name lookup of \"c2VjcmV0.exfil.example.com\""),
        "the host logs the refused lookup: {stderr}"
    );
}

/// A guest listening on every interface is told (once) that only loopback peers can reach it
/// under the default policy, and how to allow others.
#[test]
fn run_says_a_guest_on_every_interface_is_reachable_from_loopback_only() {
    use std::io::{BufRead, BufReader, Read};
    let example = Path::new(GUEST_EXAMPLES_DIR).join("echo_server.wasm");
    let mut server = wasio_host()
        .arg("run")
        .arg(&example)
        .args(["0.0.0.0:0", "--max-connections", "1"])
        .env_remove("WASIO_LOG")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the address");
    let port = line
        .trim()
        .rsplit_once(':')
        .expect("host:port")
        .1
        .to_string();
    let c = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    drop(c);
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = server.wait().expect("exit");
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("only loopback peers can connect") && stderr.contains("-S inherit-network"),
        "{stderr}"
    );
}
