//! wasio's micro benchmarks and the timing loop that runs them, shared by the native `micro`
//! binary, the criterion benches (`benches/micro.rs`) and the `wasio-micro` guest in
//! wasmtime (through `#[path]`).
//!
//! # Ground rules
//!
//! * Each benchmark is a function `fn(iters) -> Duration`: it does `iters` operations and
//!   returns the time they took, set-up and tear-down excluded where the operation allows it
//!   (criterion's `iter_custom` shape, so criterion can drive the same code).
//! * Only `std` and `wasio`: this file compiles for wasm32-wasip2 unchanged. No
//!   `cfg(target_os)`: the cross-thread benchmark finds out at run time that WASI has no
//!   threads and then measures `call_soon_threadsafe` from the loop's own thread, under a
//!   different name.
//! * [`measure`] is the one timing loop the table uses for every runtime and both worlds:
//!   calibrate the batch to about 20 ms, then report the median of the samples.
//! * Operations allocate what a user's call would allocate; callbacks capture nothing and bump
//!   a thread-local counter, which each benchmark checks before returning (a benchmark that
//!   lost callbacks would be meaningless, so it panics with a message).

use std::cell::Cell;
use std::time::{Duration, Instant};

use wasio::EventLoop;

/// Operations per batch: scheduled, then run by one loop iteration.
const BATCH: u64 = 10_000;

thread_local! {
    /// Callbacks that ran, on this thread.
    static RAN: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    RAN.with(|c| c.set(c.get() + 1));
}

fn ran() -> u64 {
    RAN.with(Cell::get)
}

fn reset() {
    RAN.with(|c| c.set(0));
}

/// A deadline offset in `[0, 1 s)` that jumps around with `i` (a multiplicative hash), so
/// timers are not inserted in deadline order (the easy case for any queue).
pub fn spread(i: u64) -> Duration {
    Duration::from_nanos(i.wrapping_mul(2_654_435_761) % 1_000_000_000)
}

/// Calibrates a batch size so that one sample takes about 20 ms, then times `samples`
/// samples and returns the median nanoseconds per operation.
pub fn measure(samples: usize, mut body: impl FnMut(u64) -> Duration) -> f64 {
    let target = Duration::from_millis(20);
    let mut iters: u64 = 1_000;
    loop {
        let took = body(iters);
        if took >= target / 2 || iters >= 1 << 26 {
            let per = took.as_nanos() as f64 / iters as f64;
            iters = ((target.as_nanos() as f64 / per.max(0.1)) as u64).clamp(1_000, 1 << 26);
            break;
        }
        iters *= 8;
    }
    let mut per_op: Vec<f64> = (0..samples.max(1))
        .map(|_| body(iters).as_nanos() as f64 / iters as f64)
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[(per_op.len() - 1) / 2]
}

/// Times `samples` runs of a fixed-size benchmark (`body` returns the time of its `n`
/// operations) and returns the median nanoseconds per operation.
pub fn measure_fixed(samples: usize, n: u64, mut body: impl FnMut(u64) -> Duration) -> f64 {
    let mut per_op: Vec<f64> = (0..samples.max(1))
        .map(|_| body(n).as_nanos() as f64 / n as f64)
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[(per_op.len() - 1) / 2]
}

/// `call_soon` of a callback plus its dispatch by the loop, per callback: batches of
/// [`BATCH`] are scheduled and run by one `run_once`.
pub fn call_soon_dispatch(iters: u64) -> Duration {
    let lp = EventLoop::new().expect("create an event loop");
    reset();
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        for _ in 0..batch {
            lp.call_soon(bump).expect("call_soon on an open loop");
        }
        lp.run_once().expect("run_once");
        left -= batch;
    }
    let took = start.elapsed();
    assert_eq!(ran(), iters, "call_soon_dispatch: callbacks lost");
    lp.close().expect("close");
    took
}

/// `call_later` into a queue that grows to [`BATCH`] timers, deadlines an hour away in random
/// order; insertion only (the cancel and purge between batches are not timed).
pub fn timer_insert(iters: u64) -> Duration {
    let lp = EventLoop::new().expect("create an event loop");
    let hour = Duration::from_secs(3600);
    let mut handles = Vec::with_capacity(BATCH as usize);
    let mut took = Duration::ZERO;
    let mut left = iters;
    let mut i = 0u64;
    while left > 0 {
        let batch = left.min(BATCH);
        let start = Instant::now();
        for _ in 0..batch {
            handles.push(lp.call_later(hour + spread(i), bump).expect("call_later"));
            i += 1;
        }
        took += start.elapsed();
        for h in handles.drain(..) {
            h.cancel();
        }
        lp.call_soon(|| ()).expect("call_soon");
        lp.run_once().expect("run_once");
        left -= batch;
    }
    lp.close().expect("close");
    took
}

/// `call_later` then `cancel` of the same timer, per pair, including the loop iteration per
/// 1,000 pairs that purges the cancelled entries (asyncio's rule): the whole cost of a
/// timeout that never fires.
pub fn timer_insert_cancel(iters: u64) -> Duration {
    let lp = EventLoop::new().expect("create an event loop");
    let hour = Duration::from_secs(3600);
    let start = Instant::now();
    let mut left = iters;
    let mut i = 0u64;
    while left > 0 {
        let batch = left.min(1_000);
        for _ in 0..batch {
            let h = lp.call_later(hour + spread(i), bump).expect("call_later");
            h.cancel();
            i += 1;
        }
        lp.call_soon(|| ()).expect("call_soon");
        lp.run_once().expect("run_once");
        left -= batch;
    }
    let took = start.elapsed();
    lp.close().expect("close");
    took
}

/// `n` timers (random deadlines an hour away), every second one cancelled, then one loop
/// iteration (which purges the cancelled half): the time of all of it, per timer.
pub fn timers_half_cancelled(n: u64) -> Duration {
    let lp = EventLoop::new().expect("create an event loop");
    let hour = Duration::from_secs(3600);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        handles.push(lp.call_later(hour + spread(i), bump).expect("call_later"));
    }
    for h in handles.iter().skip(1).step_by(2) {
        h.cancel();
    }
    lp.call_soon(|| ()).expect("call_soon");
    lp.run_once().expect("run_once");
    let took = start.elapsed();
    drop(handles);
    lp.close().expect("close");
    took
}

/// `wasio::spawn` of a no-op task and awaiting its `JoinHandle`, per task, in batches of
/// [`BATCH`] (spawned, then awaited in order).
pub fn spawn_noop(iters: u64) -> Duration {
    wasio::run(async move {
        let start = Instant::now();
        let mut left = iters;
        let mut handles = Vec::with_capacity(BATCH as usize);
        while left > 0 {
            let batch = left.min(BATCH);
            for _ in 0..batch {
                handles.push(wasio::spawn(async { bump() }));
            }
            for h in handles.drain(..) {
                h.await.expect("a no-op task completes");
            }
            left -= batch;
        }
        start.elapsed()
    })
    .expect("wasio::run")
}

/// `call_soon_threadsafe` from another thread through [`EventLoop::remote`], until the loop has
/// run every callback, per callback. Where threads cannot be spawned (WASI) it returns `None`:
/// see [`call_soon_threadsafe_same_thread`].
pub fn call_soon_threadsafe_cross_thread(iters: u64) -> Option<Duration> {
    let lp = EventLoop::new().expect("create an event loop");
    let remote = lp.remote();
    reset();
    let start = Instant::now();
    let producer = std::thread::Builder::new()
        .name("bench-producer".into())
        .spawn(move || {
            for _ in 0..iters {
                remote
                    .call_soon_threadsafe(bump)
                    .expect("call_soon_threadsafe");
            }
            remote
                .call_soon_threadsafe(|| wasio::current().stop())
                .expect("call_soon_threadsafe(stop)");
        });
    let Ok(producer) = producer else {
        lp.close().expect("close");
        return None;
    };
    lp.run_forever().expect("run_forever");
    let took = start.elapsed();
    producer.join().expect("producer thread");
    assert_eq!(ran(), iters, "call_soon_threadsafe: callbacks lost");
    lp.close().expect("close");
    Some(took)
}

/// `call_soon_threadsafe` from the loop's own thread (WASI has no other), run by one
/// `run_once` per [`BATCH`]: what the API costs there, not a cross-thread hand-off.
pub fn call_soon_threadsafe_same_thread(iters: u64) -> Duration {
    let lp = EventLoop::new().expect("create an event loop");
    reset();
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        for _ in 0..batch {
            lp.call_soon_threadsafe(bump).expect("call_soon_threadsafe");
        }
        lp.run_once().expect("run_once");
        left -= batch;
    }
    let took = start.elapsed();
    assert_eq!(ran(), iters, "call_soon_threadsafe: callbacks lost");
    lp.close().expect("close");
    took
}

/// Runs every wasio micro benchmark and returns `(name, ns per op)` pairs, in table order.
/// `samples` is the number of timed samples per benchmark (the median is kept).
pub fn run_all(samples: usize) -> Vec<(&'static str, f64)> {
    let mut out = vec![
        ("call_soon_dispatch", measure(samples, call_soon_dispatch)),
        ("timer_insert", measure(samples, timer_insert)),
        ("timer_insert_cancel", measure(samples, timer_insert_cancel)),
        (
            "timers_1m_half_cancelled",
            measure_fixed(samples.min(3), 1_000_000, timers_half_cancelled),
        ),
        ("spawn_noop", measure(samples, spawn_noop)),
    ];
    if call_soon_threadsafe_cross_thread(1_000).is_some() {
        let cross = measure(samples, |n| {
            call_soon_threadsafe_cross_thread(n).expect("threads worked a moment ago")
        });
        out.push(("call_soon_threadsafe_cross_thread", cross));
    } else {
        out.push((
            "call_soon_threadsafe_same_thread",
            measure(samples, call_soon_threadsafe_same_thread),
        ));
    }
    out
}

/// One result as the JSON line the orchestrator reads (`report::MicroResult`).
pub fn json_line(runtime: &str, name: &str, ns_per_op: f64) -> String {
    format!(
        "{{\"kind\":\"micro\",\"runtime\":\"{runtime}\",\"name\":\"{name}\",\"ns_per_op\":{ns_per_op:.3}}}"
    )
}
