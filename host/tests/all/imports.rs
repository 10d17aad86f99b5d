//! Portable guests: every component wasio builds (the examples and the conformance suite)
//! imports standard WASI 0.2 interfaces only, so it runs in any WASI 0.2 host, not just
//! `wasio-host`.

use std::path::{Path, PathBuf};

use wasio_host::{GUEST_EXAMPLES_DIR, GUEST_TESTS_COMPONENT, Host, HostConfig};

/// `wasi:<package>/<interface>@0.2.<patch>`, nothing else.
fn is_standard_wasi_p2(name: &str) -> bool {
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
    let Some(patch) = version.strip_prefix("0.2.") else {
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
