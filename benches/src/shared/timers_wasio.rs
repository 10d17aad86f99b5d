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
//! * Only `std` and `wasio`, so the file compiles for wasm32-wasip2 unchanged.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Lateness statistics of the tasks that fired, on this thread.
#[derive(Default, Clone, Copy)]
struct Lateness {
    fired: u64,
    early: u64,
    sum_ns: u128,
    max_ns: u64,
    /// Per tenth of the deadline window (2.0-2.1 s, ..., 2.9-3.0 s): fired, summed lateness.
    tenths: [(u64, u128); 10],
}

thread_local! {
    static LATE: Cell<Lateness> = Cell::new(Lateness::default());
    /// The first deadline (`start + 2 s`), for the tenths.
    static FIRST: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn record(deadline: Instant) {
    let now = Instant::now();
    LATE.with(|l| {
        let mut s = l.get();
        s.fired += 1;
        let tenth = FIRST
            .with(Cell::get)
            .and_then(|first| deadline.checked_duration_since(first))
            .map_or(0, |d| (d.as_millis() / 100).min(9) as usize);
        match now.checked_duration_since(deadline) {
            Some(late) => {
                let ns = late.as_nanos() as u64;
                s.sum_ns += u128::from(ns);
                s.max_ns = s.max_ns.max(ns);
                s.tenths[tenth].0 += 1;
                s.tenths[tenth].1 += u128::from(ns);
            }
            None => s.early += 1,
        }
        l.set(s);
    });
}

/// A deadline offset in `[0, 1 s)` that jumps around with `i` (the same as the micro
/// benchmarks' `spread`).
fn spread(i: u64) -> Duration {
    Duration::from_nanos(i.wrapping_mul(2_654_435_761) % 1_000_000_000)
}

/// Runs the lateness benchmark with `n` tasks and returns its JSON line
/// (`report::TimerResult`), `runtime` naming the world.
pub fn run(n: u64, runtime: &str) -> String {
    LATE.with(|l| l.set(Lateness::default()));
    let setup = wasio::run(async move {
        let start = Instant::now();
        FIRST.with(|f| f.set(Some(start + Duration::from_secs(2))));
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
    line(runtime, n, setup, LATE.with(Cell::get))
}

fn line(runtime: &str, n: u64, setup: Duration, s: Lateness) -> String {
    let mean_us = if s.fired == 0 {
        0.0
    } else {
        s.sum_ns as f64 / s.fired as f64 / 1e3
    };
    format!(
        "{{\"kind\":\"timers\",\"runtime\":\"{runtime}\",\"tasks\":{n},\"fired\":{},\"setup_ms\":{:.3},\"mean_late_us\":{mean_us:.3},\"max_late_us\":{:.3},\"early\":{},\"tenths_mean_late_us\":[{}]}}",
        s.fired,
        setup.as_secs_f64() * 1e3,
        s.max_ns as f64 / 1e3,
        s.early,
        s.tenths
            .iter()
            .map(|(n, sum)| format!("{:.1}", *sum as f64 / (*n).max(1) as f64 / 1e3))
            .collect::<Vec<_>>()
            .join(",")
    )
}
