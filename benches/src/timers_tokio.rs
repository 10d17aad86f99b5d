//! Timer lateness on tokio (current-thread runtime): the program of
//! `shared/timers_wasio.rs`, task for task (`tokio::spawn`, `sleep_until`, `abort` of every
//! odd task at one second), for the table's rival column. Only `std`, `tokio` and
//! `shared/lateness.rs` (the bookkeeping both programs share): the `tokio-echo` guest compiles
//! it too, through `#[path]`.

use std::time::{Duration, Instant};

#[path = "shared/lateness.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "the guests compile this file alone through #[path], so it carries its own copy"
)]
mod lateness;
use lateness::{record, spread};

/// Runs the lateness benchmark with `n` tasks on tokio; returns its JSON line
/// (`report::TimerResult`), `runtime` naming the world.
pub fn run(n: u64, runtime: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio current-thread runtime");
    let setup = rt.block_on(async move {
        let start = Instant::now();
        lateness::reset(start + Duration::from_secs(2));
        let mut handles = Vec::with_capacity(n as usize);
        for i in 0..n {
            let deadline = start + Duration::from_secs(2) + spread(i);
            handles.push(tokio::spawn(async move {
                tokio::time::sleep_until(deadline.into()).await;
                record(deadline);
            }));
        }
        let setup = start.elapsed();
        tokio::time::sleep_until((start + Duration::from_secs(1)).into()).await;
        for h in handles.iter().skip(1).step_by(2) {
            h.abort();
        }
        for (i, h) in handles.into_iter().enumerate() {
            if i % 2 == 0 {
                h.await.expect("an unaborted sleeper completes");
            }
        }
        setup
    });
    lateness::line(runtime, n, setup)
}
