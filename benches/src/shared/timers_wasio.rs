//! Timer lateness on wasio: 1,000,000 sleeping tasks, half cancelled, shared by the native
//! `timers` binary and the `wasio-micro` guest (through `#[path]`). `timers_tokio.rs` is the
//! same program on tokio.
//!
//! # Ground rules
//!
//! * Task `i` sleeps until `start + 2 s + spread(i)` (`spread` scatters deadlines over one
//!   second in no particular order); at `start + 1 s` every odd task is cancelled, so half the
//!   timers never fire and must cost as little as possible.
//! * Lateness is measured where a user sees it: when the task resumes after its sleep
//!   (`Instant::now() - deadline`), so it includes running the other tasks due in the same
//!   iteration. A negative lateness would be a bug (`early` counts them).
//! * Only `std`, `wasio` and `lateness.rs` (the bookkeeping shared with the tokio program), so
//!   the file compiles for wasm32-wasip2 unchanged.

use std::time::{Duration, Instant};

#[path = "lateness.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "the guests compile this file alone through #[path], so it carries its own copy"
)]
mod lateness;
use lateness::{record, spread};

/// Runs the lateness benchmark with `n` tasks and returns its JSON line
/// (`report::TimerResult`), `runtime` naming the world.
pub fn run(n: u64, runtime: &str) -> String {
    let setup = wasio::run(async move {
        let start = Instant::now();
        lateness::reset(start + Duration::from_secs(2));
        let mut handles = Vec::with_capacity(n as usize);
        for i in 0..n {
            let deadline = start + Duration::from_secs(2) + spread(i);
            handles.push(wasio::spawn(async move {
                wasio::sleep_until(deadline).await;
                record(deadline);
            }));
        }
        let setup = start.elapsed();
        wasio::sleep_until(start + Duration::from_secs(1)).await;
        for h in handles.iter().skip(1).step_by(2) {
            h.cancel();
        }
        for (i, h) in handles.into_iter().enumerate() {
            if i % 2 == 0 {
                h.await.expect("an uncancelled sleeper completes");
            }
        }
        setup
    })
    .expect("wasio::run");
    lateness::line(runtime, n, setup)
}
