//! Logging for the examples, set up the way `wasio-host` sets up its own: `WASIO_LOG`, or
//! `RUST_LOG` where only that is set, is a `tracing-subscriber` `EnvFilter` (for instance
//! `WASIO_LOG=wasio=debug`); without either, warnings and errors only. Output goes to stderr,
//! natively and in wasmtime alike (`wasio-host run` passes both variables to the guest).
//!
//! An example includes it with `#[path = "common/log.rs"] mod log;` and calls [`init`] first.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; a malformed filter falls back to the next variable, then to `warn`.
pub fn init() {
    let filter = ["WASIO_LOG", "RUST_LOG"]
        .iter()
        .find_map(|var| EnvFilter::try_new(std::env::var(var).ok()?).ok())
        .unwrap_or_else(|| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
