//! Portable guests: every component wasio builds (the examples and the conformance suite)
//! imports standard WASI 0.2 interfaces only, so it runs in any WASI 0.2 host, not just
//! `wasio-host`; its WASI 0.3 builds import standard WASI 0.3 and 0.2 interfaces only.

use std::path::{Path, PathBuf};

use wasio_host::{GUEST_EXAMPLES_DIR, GUEST_TESTS_COMPONENT, Host, HostConfig};

/// `wasi:<package>/<interface>@0.2.<patch>`, nothing else.
fn is_standard_wasi_p2(name: &str) -> bool {
    is_standard_wasi(name, "0.2.")
}

/// `wasi:<package>/<interface>@0.<minor>.<patch>` for the given `0.<minor>.` prefix.
fn is_standard_wasi(name: &str, minor: &str) -> bool {
    let Some(rest) = name.strip_prefix("wasi:") else {
        return false;
    };
    let Some((path, version)) = rest.split_once('@') else {
        return false;
    };
    let Some((package, interface)) = path.split_once('/') else {
        return false;
    };
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    let Some(patch) = version.strip_prefix(minor) else {
        return false;
    };
    ident(package)
        && ident(interface)
        && !patch.is_empty()
        && patch.chars().all(|c| c.is_ascii_digit())
}

/// The example components `host/build.rs` built (cargo also leaves hashed copies: skipped).
fn example_components() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(GUEST_EXAMPLES_DIR)
        .expect("the examples directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "wasm")
                && p.file_stem()
                    .is_some_and(|s| !s.to_string_lossy().contains('-'))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn the_name_check_accepts_wasi_p2_only() {
    assert!(is_standard_wasi_p2("wasi:io/poll@0.2.6"));
    assert!(is_standard_wasi_p2("wasi:sockets/ip-name-lookup@0.2.0"));
    assert!(!is_standard_wasi_p2("wasi:io/poll@0.3.0"));
    assert!(!is_standard_wasi_p2("wasi:io/poll"));
    assert!(!is_standard_wasi_p2("wasmtime:custom/thing@0.2.0"));
    assert!(!is_standard_wasi_p2("wasio:harness/host@0.1.0"));
    assert!(!is_standard_wasi_p2("wasi:io/poll@0.2.x"));
}

#[test]
fn built_components_import_only_standard_wasi_p2() {
    let host = Host::new(HostConfig::default()).expect("a host");
    let mut components = example_components();
    for name in [
        "countdown",
        "echo_client",
        "echo_server",
        "udp_echo",
        "send_file",
    ] {
        assert!(
            components
                .iter()
                .any(|p| p.file_stem().is_some_and(|s| s == name)),
            "{name}.wasm was built: {components:?}"
        );
    }
    components.push(PathBuf::from(GUEST_TESTS_COMPONENT));
    // The proxy-world probe that `serve` runs (what `wasmtime serve` would run too).
    components.push(PathBuf::from(wasio_host::WASI_HTTP_PROBE_P2));
    let mut report = Vec::new();
    for path in &components {
        let component = host.load(Path::new(path)).expect("load the component");
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(host.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        assert!(!imports.is_empty(), "{} imports nothing?", path.display());
        let odd: Vec<&String> = imports.iter().filter(|n| !is_standard_wasi_p2(n)).collect();
        if !odd.is_empty() {
            report.push(format!("{}: {odd:?}", path.display()));
        }
    }
    assert!(
        report.is_empty(),
        "non-standard imports:\n{}",
        report.join("\n")
    );
}

#[test]
fn wasi_p3_builds_import_only_standard_wasi_p3_and_p2() {
    assert!(is_standard_wasi("wasi:sockets/types@0.3.0", "0.3."));
    assert!(!is_standard_wasi(
        "wasi:sockets/types@0.3.0-rc-2026-03-15",
        "0.3."
    ));
    let host = Host::new(HostConfig::default()).expect("a host");
    let examples = Path::new(
        wasio_host::GUEST_EXAMPLES_P3_DIR.expect("the WASI 0.3 builds (unset WASIO_HOST_SKIP_P3)"),
    );
    let mut components: Vec<PathBuf> = ["countdown", "sync_primitives"]
        .iter()
        .map(|n| examples.join(format!("{n}.wasm")))
        .collect();
    components.push(PathBuf::from(
        wasio_host::GUEST_TESTS_P3_COMPONENT.expect("the WASI 0.3 suite"),
    ));
    components.push(PathBuf::from(
        wasio_host::WASI_HTTP_PROBE_P3.expect("the WASI 0.3 wasi:http probe"),
    ));
    let mut report = Vec::new();
    for path in &components {
        let component = host.load(path).expect("load the component");
        let imports: Vec<String> = component
            .component_type()
            .imports(host.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        assert!(
            imports.iter().any(|n| is_standard_wasi(n, "0.3.")),
            "{} imports no WASI 0.3: {imports:?}",
            path.display()
        );
        let odd: Vec<&String> = imports
            .iter()
            .filter(|n| !is_standard_wasi(n, "0.2.") && !is_standard_wasi(n, "0.3."))
            .collect();
        if !odd.is_empty() {
            report.push(format!("{}: {odd:?}", path.display()));
        }
    }
    assert!(
        report.is_empty(),
        "non-standard imports:\n{}",
        report.join("\n")
    );
}
