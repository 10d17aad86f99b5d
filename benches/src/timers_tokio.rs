//! Timer lateness on tokio (current-thread runtime): the program of
//! `shared/timers_wasio.rs`, task for task (`tokio::spawn`, `sleep_until`, `abort` of every
//! odd task at one second), for the table's rival column. Self-contained (only `std` and
//! `tokio`): the `tokio-echo` guest compiles it too, through `#[path]`.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The deadline offsets of `shared/timers_wasio.rs`: `[0, 1 s)`, in no particular order.
fn spread(i: u64) -> Duration {
    Duration::from_nanos(i.wrapping_mul(2_654_435_761) % 1_000_000_000)
}

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

/// Runs the lateness benchmark with `n` tasks on tokio; returns its JSON line
/// (`report::TimerResult`), `runtime` naming the world.
pub fn run(n: u64, runtime: &str) -> String {
    LATE.with(|l| l.set(Lateness::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio current-thread runtime");
    let setup = rt.block_on(async move {
        let start = Instant::now();
        FIRST.with(|f| f.set(Some(start + Duration::from_secs(2))));
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
