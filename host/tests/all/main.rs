//! The host's tests: the shared suite in wasmtime, faults and limits, divergences, the CLI,
//! the HTTP examples.
//!
//! One test binary (wasmtime's `tests/all` layout): the host and the compiled suite component
//! are shared by every test through [`suite`].

use std::sync::OnceLock;

use wasio_host::{GUEST_TESTS_COMPONENT, Host, HostConfig, Suite};

mod cli;
mod conformance;
mod divergences;
mod faults;
mod http;
mod imports;
mod p3;

/// The host with default limits and the suite component, compiled once per test process.
pub fn suite() -> &'static Suite<'static> {
    static HOST: OnceLock<Host> = OnceLock::new();
    static SUITE: OnceLock<Suite<'static>> = OnceLock::new();
    SUITE.get_or_init(|| {
        let host = HOST.get_or_init(|| Host::new(HostConfig::default()).expect("host"));
        host.suite(std::path::Path::new(GUEST_TESTS_COMPONENT))
            .expect("load the suite component")
    })
}

/// Runs a future on a fresh current-thread runtime (each test is its own thread).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    wasio_host::runtime().expect("tokio runtime").block_on(f)
}
