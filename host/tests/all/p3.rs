//! WASI 0.3 in wasio-host (docs/wasi-p3.md): the probe component, which exports
//! `wasi:cli/run@0.3.0` and drives TCP, a clock wait and name lookup through one persistent
//! waitable set, runs under `wasio-host run` with the same sandbox as WASI 0.2 guests.

use std::path::Path;
use std::process::Command;

use wasio_host::{Host, HostConfig, WASI_P3_PROBE_COMPONENT, WasiVersion, wasi_version};

fn wasio_host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasio-host"))
}

#[test]
fn the_probe_is_detected_as_wasi_p3_and_the_examples_as_p2() {
    let host = Host::new(HostConfig::default()).expect("a host");
    let probe = host
        .load(Path::new(WASI_P3_PROBE_COMPONENT))
        .expect("load the probe");
    assert_eq!(wasi_version(host.engine(), &probe), WasiVersion::P3);
    let example = Path::new(wasio_host::GUEST_EXAMPLES_DIR).join("countdown.wasm");
    let example = host.load(&example).expect("load an example");
    assert_eq!(wasi_version(host.engine(), &example), WasiVersion::P2);
    // Its imports: WASI 0.3 for its own I/O, WASI 0.2 only for what Rust std uses.
    let imports: Vec<String> = probe
        .component_type()
        .imports(host.engine())
        .map(|(n, _)| n.to_string())
        .collect();
    assert!(
        imports
            .iter()
            .any(|n| n.starts_with("wasi:sockets/types@0.3.")),
        "{imports:?}"
    );
    assert!(
        imports
            .iter()
            .all(|n| n.starts_with("wasi:") && (n.contains("@0.3.") || n.contains("@0.2."))),
        "{imports:?}"
    );
}

#[test]
fn the_probe_runs_tcp_clocks_and_name_lookup_in_wasio_host() {
    let out = wasio_host()
        .args(["run", WASI_P3_PROBE_COMPONENT])
        .output()
        .expect("run wasio-host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for line in [
        "tcp: listen, connect, accept, read, write: ok",
        "tcp: 32 connections at once, 0-length reads as readiness checks: ok",
        "clocks: wait-for(20 ms) was not early: ok",
        "ip-name-lookup: localhost resolves to loopback: ok",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
    assert!(stdout.contains("p3 probe: ok ("), "{stdout}");
}

#[test]
fn the_probe_gets_the_same_network_policy() {
    // Without TCP the first socket call is refused, and the run fails cleanly.
    let out = wasio_host()
        .args(["run", "-S", "tcp=n", WASI_P3_PROBE_COMPONENT])
        .output()
        .expect("run wasio-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    // And the wall-clock limit applies to WASI 0.3 guests too: 1 ms is not enough.
    let out = wasio_host()
        .args(["--timeout", "0.001", "run", WASI_P3_PROBE_COMPONENT])
        .output()
        .expect("run wasio-host");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("limit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
