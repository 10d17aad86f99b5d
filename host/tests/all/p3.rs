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

/// The suite built for WASI 0.3 exports `wasio:harness/runner-p3` and is run as such; it lists
/// exactly the cases of the WASI 0.2 build (and of this host).
#[test]
fn the_p3_suite_is_detected_as_wasi_p3_and_lists_the_same_cases() {
    let (p2, p3) = (crate::suite(), crate::suite_p3());
    assert_eq!(p2.wasi_version(), WasiVersion::P2);
    assert_eq!(p3.wasi_version(), WasiVersion::P3);
    let p2_cases = crate::block_on(p2.list_cases()).expect("list-cases (WASI 0.2)");
    let p3_cases = crate::block_on(p3.list_cases()).expect("list-cases (WASI 0.3)");
    assert_eq!(p3_cases, p2_cases);
    assert_eq!(p3_cases, guest_tests::CASES, "rebuild the guest components");
    // Detection looks at the exports: neither a command nor the probe is a suite.
    let host = Host::new(HostConfig::default()).expect("a host");
    let probe = host.suite(Path::new(WASI_P3_PROBE_COMPONENT));
    let err = probe.err().expect("the probe is not a suite").to_string();
    assert!(
        err.contains("is a command") && err.contains("wasio-host run"),
        "a command is told apart from a suite, and pointed to run: {err}"
    );
}

/// One timer case through the `async func` export, under the same checks as every WASI 0.2
/// case: it passes, leaves nothing behind, and records what it records natively.
#[test]
fn a_timer_case_passes_in_the_p3_suite() {
    let name = "tmr02_timers_fire_in_deadline_order";
    let report = crate::block_on(crate::suite_p3().run_case(name));
    assert!(report.passed(), "{name}: {}", report.explain());
    let (before, after) = report.handles.expect("the case returned");
    assert_eq!(after, before, "the guest left resources behind");
    let native = guest_tests::run_case(name);
    assert!(native.passed, "{}", native.message);
    assert_eq!(
        report.outcome.expect("an outcome").transcript,
        native.transcript
    );
}

/// `run-probe` goes through the same path; unknown names are failed outcomes, not traps.
#[test]
fn unknown_case_and_probe_are_failed_outcomes_in_the_p3_suite() {
    let suite = crate::suite_p3();
    for (report, says) in [
        (
            crate::block_on(suite.run_case("no_such_case")),
            "unknown case",
        ),
        (
            crate::block_on(suite.run_probe("no_such_probe")),
            "unknown probe",
        ),
    ] {
        let outcome = report.outcome.expect("the guest returned");
        assert!(!outcome.passed);
        assert!(outcome.message.contains(says), "{}", outcome.message);
    }
}

/// The limits hold for the WASI 0.3 suite too, inside `run_concurrent`: a guest waiting on
/// a timer is stopped by the wall-clock limit, one running wasm by the epoch (CPU) limit, and
/// both are reported like any other failure.
#[test]
fn the_p3_suite_gets_the_same_limits() {
    use std::time::Duration;
    let path = wasio_host::GUEST_TESTS_P3_COMPONENT.expect("the WASI 0.3 suite was built");
    // The case sleeps 30 ms twice: 10 ms is not enough.
    let host = Host::new(HostConfig {
        timeout: Some(Duration::from_millis(10)),
        ..HostConfig::default()
    })
    .expect("a host");
    let suite = host.suite(Path::new(path)).expect("load the suite");
    let report = crate::block_on(suite.run_case("tmr04_sleep_never_returns_early"));
    assert!(!report.passed());
    let failure = report.failure.clone().unwrap_or_default();
    assert!(failure.contains("wall-clock limit"), "{}", report.explain());
    let host = Host::new(HostConfig {
        cpu_limit: Some(Duration::from_secs(1)),
        ..HostConfig::default()
    })
    .expect("a host");
    let suite = host.suite(Path::new(path)).expect("load the suite");
    let report = crate::block_on(suite.run_probe("spin"));
    assert!(!report.passed());
    let failure = report.failure.clone().unwrap_or_default();
    assert!(failure.contains("CPU limit"), "{}", report.explain());
}

/// Issue 17 item 12: on WASI 0.3 the loops of a thread share one waitable set. A loop with
/// nothing of its own in flight stalls even beside another live loop with an accept in
/// flight, and a `wasip3` future dropped outside any loop neither traps when its handle
/// number is reused nor keeps the loop from reporting the stall.
#[test]
fn loops_sharing_the_waitable_set_stall_on_their_own() {
    let suite = crate::suite_p3();
    for probe in ["div_stalled_loop", "p3_future_dropped_outside_the_loop"] {
        let report = crate::block_on(suite.run_probe(probe));
        assert!(report.passed(), "{probe}: {}", report.explain());
    }
}

/// A `#[wasio::main]` example built with wasio's `wasi-p3` feature (host/build.rs).
fn p3_example(name: &str) -> std::path::PathBuf {
    Path::new(
        wasio_host::GUEST_EXAMPLES_P3_DIR
            .expect("the WASI 0.3 examples were built (unset WASIO_HOST_SKIP_P3)"),
    )
    .join(format!("{name}.wasm"))
}

#[test]
fn wasio_main_builds_a_wasi_p3_command_that_runs_as_the_p2_one_does() {
    let host = Host::new(HostConfig::default()).expect("a host");
    let component = host
        .load(&p3_example("countdown"))
        .expect("load the WASI 0.3 countdown");
    assert_eq!(wasi_version(host.engine(), &component), WasiVersion::P3);
    let exports: Vec<String> = component
        .component_type()
        .exports(host.engine())
        .map(|(n, _)| n.to_string())
        .collect();
    assert!(
        exports.iter().any(|n| n.starts_with("wasi:cli/run@0.3.")),
        "{exports:?}"
    );
    // The same source as a WASI 0.2 command and as a WASI 0.3 one: the same output.
    let run = |path: &Path| {
        let out = wasio_host()
            .arg("run")
            .arg(path)
            .output()
            .expect("run wasio-host");
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let p3 = run(&p3_example("countdown"));
    let p2 = run(&Path::new(wasio_host::GUEST_EXAMPLES_DIR).join("countdown.wasm"));
    assert!(p3.contains("liftoff"), "{p3}");
    assert_eq!(p3, p2);
    // An example with tasks, locks and channels on the WASI 0.3 loop.
    let sync = run(&p3_example("sync_primitives"));
    assert!(!sync.is_empty());
}

#[test]
fn a_wasi_p3_main_run_as_a_wasi_p2_command_says_how_to_run_it() {
    let out = wasio_host()
        .args(["run", "--wasi", "p2"])
        .arg(p3_example("countdown"))
        .output()
        .expect("run wasio-host");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for part in [
        "built with wasio's `wasi-p3` feature",
        "wasio-host run",
        "wasmtime run -Sp3 -Wcomponent-model-async",
    ] {
        assert!(err.contains(part), "{part:?} in {err}");
    }
    // And a WASI 0.2 command has no WASI 0.3 entry point to force.
    let p2 = wasio_host()
        .args(["run", "--wasi", "p3"])
        .arg(Path::new(wasio_host::GUEST_EXAMPLES_DIR).join("countdown.wasm"))
        .output()
        .expect("run wasio-host");
    let err = String::from_utf8_lossy(&p2.stderr);
    assert_eq!(p2.status.code(), Some(2), "{err}");
    assert!(err.contains("does not export wasi:cli/run@0.3"), "{err}");
}
