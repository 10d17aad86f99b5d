//! The sandbox as a security boundary (host/SECURITY.md): one test per promise, each of which
//! failed before its fix.

use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use wasio_host::{GUEST_TESTS_COMPONENT, Host, HostConfig, cache};

use crate::{block_on, suite, suite_p3};

/// The environment variable that marks the re-executed test inside its network namespace.
const IN_NETNS: &str = "WASIO_HOST_TEST_IN_NETNS";

/// Name lookups: a guest-chosen name that could leave the machine never reaches the system
/// resolver. The check runs in a network and mount namespace of its own (`unshare -n -m`)
/// whose resolv.conf points at a fake DNS server on 127.0.0.1:53 that records every query:
/// the probe's outside name must not arrive there, while a native lookup of a control name
/// made by the test itself must (so the watch is proven to see queries).
#[test]
fn name_lookups_stay_on_the_machine() {
    if std::env::var_os(IN_NETNS).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .expect("write resolv.conf");
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("unshare")
        .args(["-n", "-m", "sh", "-c"])
        .arg(r#"ip link set lo up && mount --bind "$1" /etc/resolv.conf && shift && exec "$@""#)
        .arg("sh")
        .arg(&resolv)
        .arg(&exe)
        .args([
            "--exact",
            "sandbox::dns_inside_the_namespace",
            "--ignored",
            "--nocapture",
        ])
        .env(IN_NETNS, "1")
        .output()
        .expect("run unshare (the test needs root, as CI has)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 passed"),
        "the inner test did not run:\n{text}"
    );
}

/// The inside of [`name_lookups_stay_on_the_machine`] (run only there).
#[test]
#[ignore = "runs inside the network namespace name_lookups_stay_on_the_machine makes"]
fn dns_inside_the_namespace() {
    assert!(
        std::env::var_os(IN_NETNS).is_some(),
        "run by name_lookups_stay_on_the_machine"
    );
    let dns = UdpSocket::bind("127.0.0.1:53").expect("fake DNS server");
    dns.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let queries = || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1500];
        while let Ok((n, _)) = dns.recv_from(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).to_lowercase());
        }
        seen
    };
    for suite in [suite(), suite_p3()] {
        let report = block_on(suite.run_probe("lookup_names"));
        assert!(
            report.passed(),
            "{:?}: {}",
            suite.wasi_version(),
            report.explain()
        );
        let seen = queries();
        assert!(
            !seen.iter().any(|q| q.contains("exfil")),
            "{:?}: the guest's name reached the resolver: {seen:?}",
            suite.wasi_version()
        );
    }
    // Control: the watch does see what a lookup sends.
    use std::net::ToSocketAddrs;
    let _ = ("control.exfil.example.com", 80).to_socket_addrs();
    let seen = queries();
    assert!(
        seen.iter().any(|q| q.contains("exfil")),
        "the fake DNS server saw no query at all: the watch is blind ({seen:?})"
    );
}

/// The CPU limit counts time running wasm however the guest paces itself: bursts of 3 ms and
/// 8 ms between 35 ms sleeps are stopped once they add up to the limit.
#[test]
fn paced_guests_are_stopped_by_the_cpu_limit() {
    let host = Host::new(HostConfig {
        timeout: Some(Duration::from_secs(60)),
        cpu_limit: Some(Duration::from_millis(300)),
        ..HostConfig::default()
    })
    .expect("host");
    let s = host.suite(Path::new(GUEST_TESTS_COMPONENT)).expect("suite");
    for probe in ["paced_spin_3ms", "paced_spin_8ms"] {
        let t0 = Instant::now();
        let report = block_on(s.run_probe(probe));
        let took = t0.elapsed();
        let failure = report.failure.clone().unwrap_or_default();
        assert!(
            failure.contains("stopped by the CPU limit"),
            "{probe}: {}",
            report.explain()
        );
        // 300 ms of bursts cannot take less than 300 ms; paced, they take about 3-13x that.
        assert!(
            took >= Duration::from_millis(300),
            "{probe}: stopped early ({took:?})"
        );
        assert!(took < Duration::from_secs(25), "{probe}: took {took:?}");
    }
}

/// WASI 0.3 streams and futures count against the handle limit, with a report that names
/// it, and the host serves the next guest.
#[test]
fn wasi_0_3_stream_hog_is_stopped_by_the_handle_limit() {
    let host = Host::new(HostConfig {
        max_component_handles: 20_000,
        ..HostConfig::default()
    })
    .expect("host");
    let path = wasio_host::GUEST_TESTS_P3_COMPONENT.expect("the WASI 0.3 suite was built");
    let s = host.suite(Path::new(path)).expect("suite");
    let report = block_on(s.run_probe("p3_stream_hog"));
    let failure = report.failure.clone().unwrap_or_default();
    assert!(
        failure.contains("stopped by the handle limit"),
        "{}",
        report.explain()
    );
    let next = block_on(s.run_case(guest_tests::CASES[0]));
    assert!(next.passed(), "after the hog: {}", next.explain());
}

/// The leak check sees what a guest leaves behind, WASI 0.2 sockets and WASI 0.3 streams
/// alike.
#[test]
fn the_leak_check_counts_wasi_0_2_and_0_3_resources() {
    let report = block_on(suite().run_probe("leak_a_socket"));
    let (before, after) = report.handles.expect("handles counted");
    assert!(
        after > before,
        "a leaked socket went unseen: {before} -> {after}"
    );
    let report = block_on(suite_p3().run_probe("p3_leak_a_stream"));
    let (before, after) = report.handles.expect("handles counted");
    assert!(
        after > before,
        "a leaked stream pair went unseen: {before} -> {after}"
    );
}

/// UDP and name lookups obey the loopback policy in both WASI versions (TCP: faults.rs).
#[test]
fn udp_and_lookups_outside_loopback_are_refused_in_both_worlds() {
    for suite in [suite(), suite_p3()] {
        let report = block_on(suite.run_probe("udp_non_loopback"));
        assert!(
            report.passed(),
            "{:?}: {}",
            suite.wasi_version(),
            report.explain()
        );
    }
    let report = block_on(suite_p3().run_probe("connect_non_loopback"));
    assert!(report.passed(), "WASI 0.3 TCP: {}", report.explain());
}

/// A compiled component planted in the cache directory by another user is never loaded: the
/// entry must belong to us and be writable by nobody else, and the directory must be ours.
#[test]
fn the_component_cache_trusts_only_its_own_files() {
    let engine = wasmtime::Engine::default();
    let a = wasmtime::component::Component::new(&engine, "(component)").expect("a");
    let b_text = r#"(component (core module (func (export "x"))))"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache_dir = dir.path().join("cache");
    cache::private_dir(&cache_dir).expect("private dir");
    let mode = std::fs::metadata(&cache_dir)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the cache directory is private");
    // Another user's entry, under the name component B's entry would have.
    let b_bytes = wat_bytes(b_text);
    let planted = cache_dir.join(cache::key(&engine, &b_bytes));
    std::fs::write(&planted, a.serialize().expect("serialize")).expect("plant");
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).expect("chown (needs root)");
    let (_, hit) = cache::load_or_compile_in(&cache_dir, &engine, &b_bytes).expect("load");
    assert!(!hit, "a planted entry owned by another user was loaded");
    let meta = std::fs::symlink_metadata(&planted).expect("replaced");
    assert_eq!(
        meta.uid(),
        unsafe_euid(),
        "the planted entry was replaced by our own"
    );
    // A world-writable entry of ours is refused too.
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let (_, hit) = cache::load_or_compile_in(&cache_dir, &engine, &b_bytes).expect("load");
    assert!(!hit, "a world-writable entry was loaded");
    // Our own entry is a hit.
    let (_, hit) = cache::load_or_compile_in(&cache_dir, &engine, &b_bytes).expect("load");
    assert!(hit, "our own entry is used");
    // A directory of another user is not used at all, even open to everyone.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).expect("mkdir");
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown (needs root)");
    let _ = cache::load_or_compile_in(&theirs, &engine, &b_bytes).expect("compiles anyway");
    assert_eq!(
        std::fs::read_dir(&theirs).expect("read").count(),
        0,
        "another user's directory was written to"
    );
    // One of ours that others could enter is closed to 0700, then used.
    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).expect("mkdir");
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let _ = cache::load_or_compile_in(&ours, &engine, &b_bytes).expect("compiles");
    let mode = std::fs::metadata(&ours).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "our directory was made private");
    assert_eq!(
        std::fs::read_dir(&ours).expect("read").count(),
        1,
        "and used"
    );
    // Without HOME and the variables, the directory is per user, not shared.
    let out = crate::wasio_host()
        .args(["cache", "dir"])
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("WASIO_HOST_CACHE_DIR")
        .output()
        .expect("wasio-host cache dir");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed
            .trim()
            .ends_with(&format!("wasio-host-cache-{}", unsafe_euid())),
        "{printed}"
    );
}

fn wat_bytes(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

fn unsafe_euid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// Scratch directories get fresh random names, created exclusively: links planted at the old
/// predictable names (`wasio-host-scratch-<pid>-<n>`) catch nothing.
#[test]
fn scratch_directories_cannot_be_planted() {
    let trap = tempfile::tempdir().expect("tempdir");
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let mut planted = Vec::new();
    for n in 0..400 {
        let link = tmp.join(format!("wasio-host-scratch-{pid}-{n}"));
        if std::os::unix::fs::symlink(trap.path(), &link).is_ok() {
            planted.push(link);
        }
    }
    // A case that writes scratch files.
    let report = block_on(suite().run_case("sf02_offset_count_result_and_position"));
    for l in &planted {
        let _ = std::fs::remove_file(l);
    }
    assert!(report.passed(), "{}", report.explain());
    let caught: Vec<_> = std::fs::read_dir(trap.path())
        .expect("read")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        caught.is_empty(),
        "scratch files went through a planted link: {caught:?}"
    );
    let _ = std::io::stdout().flush();
}
