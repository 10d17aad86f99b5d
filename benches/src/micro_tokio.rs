//! tokio's side of the micro benchmarks, on a current-thread runtime, each the closest tokio
//! equivalent of a benchmark in `shared/micro_wasio.rs` (same shapes, same batch sizes, same
//! timing loop):
//!
//! | wasio | tokio |
//! |---|---|
//! | `call_soon` + dispatch | none (tokio has no callback queue; the table says so) |
//! | `call_later` | `sleep(d)` boxed and polled once (that registers it in the wheel) |
//! | `call_later` + `cancel` | the same, then dropped |
//! | 1,000,000 timers, half cancelled | 1,000,000 registered sleeps, every second one dropped |
//! | `spawn` + await a no-op task | `tokio::spawn` + await its `JoinHandle` |
//! | `call_soon_threadsafe` from another thread | `Handle::spawn` from another thread |

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::time::Sleep;

use crate::shared::micro_wasio::{measure, measure_fixed, spread};

const BATCH: u64 = 10_000;

fn runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio current-thread runtime")
}

/// Creates and registers a sleep `d` from now (a tokio `Sleep` joins the wheel on first poll).
fn registered_sleep(d: Duration) -> Pin<Box<Sleep>> {
    let mut s = Box::pin(tokio::time::sleep(d));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        s.as_mut().poll(&mut cx).is_pending(),
        "an hour-long sleep is pending"
    );
    s
}

/// Timer insertion: `sleep` + first poll, into a wheel that grows to [`BATCH`] sleeps.
pub fn timer_insert(iters: u64) -> Duration {
    let rt = runtime();
    let _guard = rt.enter();
    let hour = Duration::from_secs(3600);
    let mut sleeps = Vec::with_capacity(BATCH as usize);
    let mut took = Duration::ZERO;
    let mut left = iters;
    let mut i = 0u64;
    while left > 0 {
        let batch = left.min(BATCH);
        let start = Instant::now();
        for _ in 0..batch {
            sleeps.push(registered_sleep(hour + spread(i)));
            i += 1;
        }
        took += start.elapsed();
        sleeps.clear();
        left -= batch;
    }
    took
}

/// Timer insertion plus cancellation: register a sleep, drop it.
pub fn timer_insert_cancel(iters: u64) -> Duration {
    let rt = runtime();
    let _guard = rt.enter();
    let hour = Duration::from_secs(3600);
    let start = Instant::now();
    for i in 0..iters {
        drop(registered_sleep(hour + spread(i)));
    }
    start.elapsed()
}

/// `n` registered sleeps, every second one dropped: the time of all of it, per timer.
pub fn timers_half_cancelled(n: u64) -> Duration {
    let rt = runtime();
    let _guard = rt.enter();
    let hour = Duration::from_secs(3600);
    let start = Instant::now();
    let mut sleeps: Vec<Option<Pin<Box<Sleep>>>> = (0..n)
        .map(|i| Some(registered_sleep(hour + spread(i))))
        .collect();
    for s in sleeps.iter_mut().skip(1).step_by(2) {
        *s = None;
    }
    let took = start.elapsed();
    drop(sleeps);
    took
}

/// `tokio::spawn` of a no-op task and awaiting its handle, in batches of [`BATCH`].
pub fn spawn_noop(iters: u64) -> Duration {
    let rt = runtime();
    let counter = Arc::new(AtomicU64::new(0));
    rt.block_on(async move {
        let start = Instant::now();
        let mut left = iters;
        let mut handles = Vec::with_capacity(BATCH as usize);
        while left > 0 {
            let batch = left.min(BATCH);
            for _ in 0..batch {
                let c = counter.clone();
                handles.push(tokio::spawn(async move {
                    c.fetch_add(1, Ordering::Relaxed);
                }));
            }
            for h in handles.drain(..) {
                h.await.expect("a no-op task completes");
            }
            left -= batch;
        }
        start.elapsed()
    })
}

/// `Handle::spawn` of a no-op task from another thread, until the runtime has run them all.
pub fn spawn_cross_thread(iters: u64) -> Duration {
    let rt = runtime();
    let handle = rt.handle().clone();
    let counter = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let start = Instant::now();
    let c = counter.clone();
    let producer = std::thread::spawn(move || {
        for _ in 0..iters {
            let c = c.clone();
            handle.spawn(async move {
                c.fetch_add(1, Ordering::Relaxed);
            });
        }
        handle.spawn(async move {
            let _ = tx.send(());
        });
    });
    rt.block_on(async move {
        rx.await.expect("the last task signals");
        // Tasks run in spawn order on a current-thread runtime, but yield once to be sure.
        while counter.load(Ordering::Relaxed) < iters {
            tokio::task::yield_now().await;
        }
    });
    let took = start.elapsed();
    producer.join().expect("producer thread");
    took
}

/// Runs every tokio micro benchmark: `(name, ns per op)` in the wasio names' order.
pub fn run_all(samples: usize) -> Vec<(&'static str, f64)> {
    vec![
        ("timer_insert", measure(samples, timer_insert)),
        ("timer_insert_cancel", measure(samples, timer_insert_cancel)),
        (
            "timers_1m_half_cancelled",
            measure_fixed(samples.min(3), 1_000_000, timers_half_cancelled),
        ),
        ("spawn_noop", measure(samples, spawn_noop)),
        (
            "call_soon_threadsafe_cross_thread",
            measure(samples, spawn_cross_thread),
        ),
    ]
}
