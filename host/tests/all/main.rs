//! The host's tests: the shared suite in wasmtime, faults and limits, divergences, the CLI,
//! the HTTP examples.
//!
//! One test binary (wasmtime's `tests/all` layout): the host and the compiled suite component
//! are shared by every test through [`suite`].

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use wasio_host::{GUEST_TESTS_COMPONENT, GUEST_TESTS_P3_COMPONENT, Host, HostConfig, Suite};

mod cli;
mod conformance;
mod divergences;
mod faults;
mod fuzz;
mod http;
mod imports;
mod p3;
mod sandbox;
mod serve;
mod user_crate;

/// The host with default limits, shared by [`suite`] and [`suite_p3`].
fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| Host::new(HostConfig::default()).expect("host"))
}

/// The suite component (WASI 0.2), compiled once per test process.
pub fn suite() -> &'static Suite<'static> {
    static SUITE: OnceLock<Suite<'static>> = OnceLock::new();
    SUITE.get_or_init(|| {
        host()
            .suite(std::path::Path::new(GUEST_TESTS_COMPONENT))
            .expect("load the suite component")
    })
}

/// The suite built for WASI 0.3 (`guest-tests` with feature `p3`), compiled once per test
/// process.
pub fn suite_p3() -> &'static Suite<'static> {
    static SUITE: OnceLock<Suite<'static>> = OnceLock::new();
    SUITE.get_or_init(|| {
        let path = GUEST_TESTS_P3_COMPONENT
            .expect("the WASI 0.3 suite was built (unset WASIO_HOST_SKIP_P3 and rebuild)");
        host()
            .suite(std::path::Path::new(path))
            .expect("load the WASI 0.3 suite component")
    })
}

/// Runs a future on a fresh current-thread runtime (each test is its own thread).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    wasio_host::runtime().expect("tokio runtime").block_on(f)
}

/// The `wasio-host` binary built with these tests.
pub fn wasio_host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasio-host"))
}

/// Spawns a guest server (`cmd`, a `wasio-host run ...`) and reads the address from its first
/// line, `listening on ADDR`.
pub fn spawn_listening(cmd: &mut Command) -> (Child, String) {
    let mut server = cmd
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
    (server, addr)
}

/// Waits for a server started by [`spawn_listening`] and fails unless it exited successfully.
pub fn wait_success(mut server: Child) {
    let status = server.wait().expect("server exit");
    assert!(status.success(), "server exited with {status}");
}
