//! The tokio habits of `docs/from-tokio.md`, done on wasio: `examples/from_tokio.rs` is
//! compiled in here, so the functions the page quotes run in every world.

use crate::{Transcript, block};

#[allow(dead_code, reason = "the example's `main` runs only in the example")]
#[path = "../../../examples/from_tokio.rs"]
mod example;

/// Each mapping (`spawn`, `JoinSet`, `select!`, timers, `tokio::net`, `spawn_blocking`,
/// tokio's I/O traits through `compat()`, `BufReader::lines`, hyper-util's `GracefulShutdown`
/// on `HyperIo`) gives the same result natively and in wasmtime.
pub fn from_tokio_mappings(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let shown = [
            example::spawn().await,
            example::join_set().await,
            example::select_first().await,
            example::time().await,
            example::net().await,
            example::spawn_blocking().await,
            example::tokio_io_traits().await,
            example::lines().await,
            example::graceful_shutdown().await,
        ];
        for line in shown {
            tc.push(line.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>(())
    })?;
    t.expect(&[
        "spawn: 42",
        "join_set: [30, 10, 20]",
        "select: fast",
        "time: timed out true, 3 ticks",
        "net: tcp PING, udp datagram",
        "spawn_blocking: 500500",
        "tokio_io_traits: through tokio's traits",
        "lines: [\"one\", \"two\", \"three\"]",
        "graceful_shutdown: served \"hello\", then closed",
    ])
}
