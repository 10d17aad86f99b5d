//! Builds the `guest-tests` component for wasm32-wasip2 and records its path in `gen.rs`.
//!
//! The guest is built by a nested cargo with its own target directory (`target/wasm-guest`), so
//! it never waits on the lock of the outer build, and in release mode, because a debug guest
//! runs the timing cases slowly. Its sources are tracked with `rerun-if-changed`.
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
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-guest");
    for path in ["src", "guest-tests", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=WASIO_GUEST_PROFILE");

    ensure_target();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "-p",
            "guest-tests",
            "--lib",
            "--release",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        // The outer build's flags are for the host, not the guest.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    eprintln!("running: {cmd:?}");
    let status = cmd.status().expect("failed to run cargo for the guest");
    assert!(
        status.success(),
        "building guest-tests for {TARGET} failed: {status}"
    );

    // The examples, as `wasi:cli` command components for `wasio-host run`.
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args([
            "build",
            "-p",
            "wasio",
            "--examples",
            "--release",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    eprintln!("running: {cmd:?}");
    let status = cmd.status().expect("failed to run cargo for the examples");
    assert!(
        status.success(),
        "building the examples for {TARGET} failed: {status}"
    );
    println!("cargo:rerun-if-changed={}", root.join("examples").display());

    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join("guest_tests.wasm");
    assert!(wasm.exists(), "{} was not produced", wasm.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("gen.rs");
    std::fs::write(
        &out,
        format!(
            "/// The conformance suite component, built by `host/build.rs`.\n\
             pub const GUEST_TESTS_COMPONENT: &str = {:?};\n\
             /// Directory of the examples built as command components by `host/build.rs`.\n\
             pub const GUEST_EXAMPLES_DIR: &str = {:?};\n",
            wasm.display().to_string(),
            target_dir
                .join(TARGET)
                .join("release")
                .join("examples")
                .display()
                .to_string()
        ),
    )
    .expect("write gen.rs");
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
