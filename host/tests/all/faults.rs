//! Faults and limits: traps, CPU loops, guests blocked in poll, memory, network policy,
//! fairness.

use std::path::Path;
use std::time::{Duration, Instant};

use wasio_host::{GUEST_TESTS_COMPONENT, Host, HostConfig};

use crate::{block_on, suite};

fn strict_host(timeout: Duration, cpu: Duration, memory: usize) -> Host {
    Host::new(HostConfig {
        timeout: Some(timeout),
        cpu_limit: Some(cpu),
        memory_limit: memory,
        ..HostConfig::default()
    })
    .expect("host")
}

#[test]
fn fairness_with_many_ready_sources_and_1000_timers() {
    let report = block_on(suite().run_probe("fairness"));
    assert!(report.passed(), "{}", report.explain());
    let line = &report.outcome.expect("outcome").transcript[0];
    eprintln!("fairness: {line}");
    assert!(line.starts_with("sources=50 timers=1000 min="), "{line}");
}

#[test]
fn trapping_case_fails_alone() {
    let s = suite();
    let report = block_on(s.run_probe("trap"));
    assert!(!report.passed());
    let failure = report.failure.clone().expect("a trap, not an outcome");
    assert!(failure.contains("trapped"), "{failure}");
    assert!(
        report.stderr.contains("probe `trap` panicked on purpose"),
        "the panic message must be in the captured stderr: {}",
        report.explain()
    );
    // The next cases run in fresh instances and pass.
    for case in &guest_tests::CASES[..3] {
        let r = block_on(s.run_case(case));
        assert!(r.passed(), "{case} after a trap: {}", r.explain());
    }
}

#[test]
fn panicking_callback_traps_and_names_the_panic() {
    let report = block_on(suite().run_probe("div_panic_in_callback"));
    assert!(!report.passed());
    assert!(
        report
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("trapped")),
        "{}",
        report.explain()
    );
    assert!(
        report.stderr.contains("callback panicked on purpose"),
        "{}",
        report.explain()
    );
}

#[test]
fn non_loopback_connect_is_denied() {
    let report = block_on(suite().run_probe("connect_non_loopback"));
    assert!(report.passed(), "{}", report.explain());
    assert_eq!(
        report.outcome.expect("outcome").transcript,
        [
            "PermissionDenied",
            "names access-denied=true",
            "names the policy and the option=true"
        ]
    );
}

#[test]
fn guest_blocked_in_poll_is_stopped_by_the_wall_clock_limit() {
    let host = strict_host(Duration::from_secs(2), Duration::from_secs(30), 256 << 20);
    let s = host.suite(Path::new(GUEST_TESTS_COMPONENT)).expect("suite");
    let t0 = Instant::now();
    let report = block_on(s.run_probe("block_forever"));
    let took = t0.elapsed();
    assert!(!report.passed());
    let failure = report.failure.clone().unwrap_or_default();
    assert!(failure.contains("wall-clock limit"), "{}", report.explain());
    assert!(took >= Duration::from_secs(2), "stopped early: {took:?}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn cpu_loop_is_stopped_by_the_epoch_limit() {
    let host = strict_host(Duration::from_secs(120), Duration::from_secs(1), 256 << 20);
    let s = host.suite(Path::new(GUEST_TESTS_COMPONENT)).expect("suite");
    let t0 = Instant::now();
    let report = block_on(s.run_probe("spin"));
    let took = t0.elapsed();
    assert!(!report.passed());
    let failure = report.failure.clone().unwrap_or_default();
    assert!(
        failure.contains("stopped by the CPU limit (1.000 s"),
        "{}",
        report.explain()
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn memory_limit_stops_a_hog() {
    let host = strict_host(Duration::from_secs(120), Duration::from_secs(60), 256 << 20);
    let s = host.suite(Path::new(GUEST_TESTS_COMPONENT)).expect("suite");
    let report = block_on(s.run_probe("memory_hog"));
    assert!(!report.passed(), "{}", report.explain());
    let failure = report.failure.clone().unwrap_or_default();
    assert!(
        failure.contains("stopped by the memory limit (256 MiB"),
        "{}",
        report.explain()
    );
}

#[test]
fn handle_hog_is_stopped_by_the_handle_limit_and_the_host_stays_healthy() {
    let host = Host::new(HostConfig {
        max_component_handles: 20_000,
        ..HostConfig::default()
    })
    .expect("host");
    let s = host.suite(Path::new(GUEST_TESTS_COMPONENT)).expect("suite");
    let report = block_on(s.run_probe("handle_hog"));
    assert!(!report.passed(), "{}", report.explain());
    let failure = report.failure.clone().unwrap_or_default();
    assert!(
        failure.contains("stopped by the handle limit (20000 live component handles"),
        "{}",
        report.explain()
    );
    // The same host runs the next guest normally.
    let next = block_on(s.run_case(guest_tests::CASES[0]));
    assert!(next.passed(), "after the hog: {}", next.explain());
}

#[test]
fn unknown_probe_is_a_failed_outcome() {
    let report = block_on(suite().run_probe("no_such_probe"));
    let outcome = report.outcome.expect("the guest returned");
    assert!(!outcome.passed);
    assert!(outcome.message.contains("unknown probe"));
}

#[test]
fn second_load_hits_the_component_cache() {
    let dir = std::env::temp_dir().join(format!("wasio-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let host = Host::new(HostConfig::default()).expect("host");
    let bytes = std::fs::read(GUEST_TESTS_COMPONENT).expect("component");
    let (_, hit) =
        wasio_host::cache::load_or_compile_in(&dir, host.engine(), &bytes).expect("compile");
    assert!(!hit, "fresh directory cannot hit");
    let (_, hit) =
        wasio_host::cache::load_or_compile_in(&dir, host.engine(), &bytes).expect("load");
    assert!(hit, "second load must come from the cache");
    let _ = std::fs::remove_dir_all(&dir);
}

/// WASI 0.2 in wasmtime 48 traps a UDP `connect` made while the host still runs a receive the
/// guest waited on; wasio refuses it instead (divergence `udp-connect-while-receiving`): the
/// shared case completes, records the refusal, and the waiting task still receives.
#[test]
fn udp_connect_while_receiving_is_refused_not_trapped_on_wasi_0_2() {
    let report = block_on(suite().run_case("udp_connect_while_a_task_receives"));
    assert!(report.passed(), "{}", report.explain());
    let transcript = report.outcome.expect("outcome").transcript;
    assert_eq!(
        transcript,
        [
            "connect refused: Unsupported names WASI 0.2=true",
            "waiting task got \"from b\" from the peer=true"
        ],
        "the WASI 0.2 suite must refuse the connect, not trap"
    );
}
