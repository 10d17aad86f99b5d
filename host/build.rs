//! Builds the `guest-tests` component for wasm32-wasip2, twice (the WASI 0.2 build and the
//! WASI 0.3 one, feature `p3`), and records their paths in `gen.rs`.
//!
//! The guests are built by a nested cargo with their own target directories
//! (`target/wasm-guest`, and `target/wasm-guest-p3` for the `p3` build, so neither overwrites
//! the other's `guest_tests.wasm` and features never churn between them), so they never wait on
//! the lock of the outer build, and in release mode, because a debug guest runs the timing cases
//! slowly. Their sources are tracked with `rerun-if-changed`.
//!
//! It also builds `wasio-suite-native` (the suite natively, from `native-tests`), which
//! `wasio-host compare` runs one case per process.
//!
//! All of that happens only in a wasio checkout (the workspace around `host/`, with its
//! `guest-tests`) and when `WASIO_HOST_SUITE=1`, which the checkout's `.cargo/config.toml` sets
//! for every cargo command that reads it (those run inside the checkout, and `cargo install
//! --path`): then it sets `cfg(wasio_suite)` and the paths exist. A `wasio-host` built from its
//! package (crates.io, `cargo package`), or installed with `WASIO_HOST_SUITE=0`, builds no
//! guest: it runs components and compares a user's crate (`compare --crate`), but carries no
//! copy of wasio's own suite.
//!
//! `WASIO_HOST_SKIP_P3=1` skips the WASI 0.3 build (for when it is broken mid-work): the host
//! then has no default WASI 0.3 suite (`GUEST_TESTS_P3_COMPONENT` is `None`).
#![allow(
    clippy::print_stderr,
    reason = "a build script reports to cargo through stderr"
)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf();
    let outer_target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"));
    let target_dir = outer_target.join("wasm-guest");
    let p3_target_dir = outer_target.join("wasm-guest-p3");
    println!("cargo:rustc-check-cfg=cfg(wasio_suite)");
    println!("cargo:rerun-if-env-changed=WASIO_HOST_SUITE");
    let suite = env::var_os("WASIO_HOST_SUITE").is_some_and(|v| v == "1");
    let checkout = root.join("guest-tests").join("Cargo.toml").is_file()
        && std::fs::read_to_string(root.join("Cargo.toml"))
            .is_ok_and(|m| m.contains("name = \"wasio\""));
    if !suite || !checkout {
        return;
    }
    println!("cargo:rustc-cfg=wasio_suite");
    for path in [
        "src",
        "guest-tests",
        "native-tests/src",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=WASIO_HOST_SKIP_P3");
    let skip_p3 = env::var_os("WASIO_HOST_SKIP_P3").is_some_and(|v| !v.is_empty() && v != "0");

    ensure_target();
    cargo_for_wasm(
        &root,
        &target_dir,
        &["-p", "guest-tests", "--lib"],
        "guest-tests",
    );
    // The suite natively, for `compare` (the host's own target, so no `--target`).
    let mut native = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    native
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "native-tests",
            "--bin",
            "wasio-suite-native",
        ])
        .env("CARGO_TARGET_DIR", &target_dir);
    run_cargo(native, "the native suite runner");
    // The examples, as `wasi:cli` command components for `wasio-host run` (the HTTP ones need
    // the `hyper` feature).
    cargo_for_wasm(
        &root,
        &target_dir,
        &["-p", "wasio", "--examples", "--features", "hyper,tls"],
        "the examples",
    );
    println!("cargo:rerun-if-changed={}", root.join("examples").display());
    // The WASI 0.3 probe (docs/wasi-p3.md), a crate of its own.
    cargo_for_wasm(
        &root,
        &target_dir,
        &["--manifest-path", "examples/wasi-p3-probe/Cargo.toml"],
        "the WASI 0.3 probe",
    );

    // The `wasi:http` proxy probe (WASI 0.2 build), for `serve`'s tests.
    cargo_for_wasm(
        &root,
        &target_dir,
        &["--manifest-path", "examples/wasi-http-probe/Cargo.toml"],
        "the wasi:http probe (WASI 0.2)",
    );

    // The suite again, as a WASI 0.3 guest exporting `wasio:harness/runner-p3`.
    let p3_wasm = if skip_p3 {
        println!("cargo:warning=WASIO_HOST_SKIP_P3 is set: the WASI 0.3 suite is not built");
        None
    } else {
        cargo_for_wasm(
            &root,
            &p3_target_dir,
            &["-p", "guest-tests", "--lib", "--features", "p3"],
            "guest-tests (WASI 0.3, feature p3)",
        );
        // Examples with `#[wasio::main]`, as WASI 0.3 commands (wasio's features as the
        // suite's, so the two builds share one wasio).
        cargo_for_wasm(
            &root,
            &p3_target_dir,
            &[
                "-p",
                "wasio",
                "--example",
                "countdown",
                "--example",
                "sync_primitives",
                "--features",
                "hyper,tls,wasi-p3",
            ],
            "the #[wasio::main] examples (WASI 0.3)",
        );
        cargo_for_wasm(
            &root,
            &p3_target_dir,
            &[
                "--manifest-path",
                "examples/wasi-http-probe/Cargo.toml",
                "--no-default-features",
                "--features",
                "p3",
            ],
            "the wasi:http probe (WASI 0.3)",
        );
        let wasm = p3_target_dir
            .join(TARGET)
            .join("release")
            .join("guest_tests.wasm");
        assert!(wasm.exists(), "{} was not produced", wasm.display());
        Some(wasm.display().to_string())
    };
    let p3_examples = (!skip_p3).then(|| {
        p3_target_dir
            .join(TARGET)
            .join("release")
            .join("examples")
            .display()
            .to_string()
    });

    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join("guest_tests.wasm");
    assert!(wasm.exists(), "{} was not produced", wasm.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("gen.rs");
    std::fs::write(
        &out,
        format!(
            "/// The conformance suite component (WASI 0.2), built by `host/build.rs`.\n\
             pub const GUEST_TESTS_COMPONENT: &str = {:?};\n\
             /// The conformance suite built for WASI 0.3 (`guest-tests` with feature `p3`,\n\
             /// exporting `wasio:harness/runner-p3`), built by `host/build.rs`; `None` when the\n\
             /// build was skipped (`WASIO_HOST_SKIP_P3`).\n\
             pub const GUEST_TESTS_P3_COMPONENT: Option<&str> = {:?};\n\
             /// Directory of the examples built as command components by `host/build.rs`.\n\
             pub const GUEST_EXAMPLES_DIR: &str = {:?};\n\
             /// Directory of the `#[wasio::main]` examples built as WASI 0.3 commands\n\
             /// (`countdown`, `sync_primitives`); `None` with `WASIO_HOST_SKIP_P3`.\n\
             pub const GUEST_EXAMPLES_P3_DIR: Option<&str> = {:?};\n\
             /// The WASI 0.3 probe (`examples/wasi-p3-probe`), built by `host/build.rs`.\n\
             pub const WASI_P3_PROBE_COMPONENT: &str = {:?};\n\
             /// The `wasi:http` proxy probe, WASI 0.2 build (`examples/wasi-http-probe`).\n\
             pub const WASI_HTTP_PROBE_P2: &str = {:?};\n\
             /// The `wasi:http` proxy probe, WASI 0.3 build; `None` with `WASIO_HOST_SKIP_P3`.\n\
             pub const WASI_HTTP_PROBE_P3: Option<&str> = {:?};\n\
             /// `wasio-suite-native` (the suite natively, one case per process), built by\n\
             /// `host/build.rs`.\n\
             pub const NATIVE_SUITE_RUNNER: &str = {:?};\n",
            wasm.display().to_string(),
            p3_wasm,
            target_dir
                .join(TARGET)
                .join("release")
                .join("examples")
                .display()
                .to_string(),
            p3_examples,
            target_dir
                .join(TARGET)
                .join("release")
                .join("wasi_p3_probe.wasm")
                .display()
                .to_string(),
            target_dir
                .join(TARGET)
                .join("release")
                .join("wasi_http_probe.wasm")
                .display()
                .to_string(),
            (!skip_p3).then(|| {
                p3_target_dir
                    .join(TARGET)
                    .join("release")
                    .join("wasi_http_probe.wasm")
                    .display()
                    .to_string()
            }),
            target_dir
                .join("release")
                .join("wasio-suite-native")
                .display()
                .to_string()
        ),
    )
    .expect("write gen.rs");
}

/// Runs `cargo build --release --target wasm32-wasip2 <args>` in `target_dir`, without the outer
/// build's flags (they are for the host, not the guest).
fn cargo_for_wasm(root: &Path, target_dir: &Path, args: &[&str], what: &str) {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET])
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir);
    run_cargo(cmd, what);
}

/// Runs a nested cargo without the outer build's flags (they are for the host's own build).
fn run_cargo(mut cmd: Command, what: &str) {
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    eprintln!("running: {cmd:?}");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("failed to run cargo for {what}: {e}"));
    assert!(status.success(), "building {what} failed: {status}");
}

/// Installs the wasm32-wasip2 standard library when rustup is in charge and it is missing
/// (`rust-toolchain.toml` lists it, but an already installed toolchain may lack it).
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    let have = sysroot
        .as_deref()
        .map(|s| Path::new(s).join("lib/rustlib").join(TARGET).exists())
        .unwrap_or(false);
    if have {
        return;
    }
    eprintln!("{TARGET} standard library missing; running `rustup target add {TARGET}`");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("warning: `rustup target add {TARGET}` failed: {status:?}");
    }
}
