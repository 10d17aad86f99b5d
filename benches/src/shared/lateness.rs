//! Timer-lateness bookkeeping shared by the wasio and tokio timer programs
//! (`timers_wasio.rs`, `../timers_tokio.rs`), so both measure and report exactly alike. Only
//! `std`: every guest that compiles one of them compiles this too, through `#[path]`.

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

/// A deadline offset in `[0, 1 s)` that jumps around with `i` (the same as the micro
/// benchmarks' `spread`).
pub fn spread(i: u64) -> Duration {
    Duration::from_nanos(i.wrapping_mul(2_654_435_761) % 1_000_000_000)
}

/// Starts a new measurement whose deadline window begins at `first`.
pub fn reset(first: Instant) {
    LATE.with(|l| l.set(Lateness::default()));
    FIRST.with(|f| f.set(Some(first)));
}

/// Records a task that resumed after sleeping until `deadline`.
pub fn record(deadline: Instant) {
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

/// The JSON line of this measurement (`report::TimerResult`).
pub fn line(runtime: &str, n: u64, setup: Duration) -> String {
    let s = LATE.with(Cell::get);
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
