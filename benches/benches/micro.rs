//! Criterion micro benchmarks, wasio beside tokio where tokio has an equivalent
//! (`cargo bench -p wasio-benches --bench micro`). The bodies are the ones the `bench`
//! table and the `wasio-micro` guest use (`shared/micro_wasio.rs`, `micro_tokio.rs`), driven
//! here through `iter_custom`; see `micro_tokio.rs` for which tokio call stands beside which
//! wasio call.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wasio_benches::micro_tokio;
use wasio_benches::shared::micro_wasio;

fn call_soon(c: &mut Criterion) {
    let mut g = c.benchmark_group("call_soon_dispatch");
    g.bench_function("wasio", |b| b.iter_custom(micro_wasio::call_soon_dispatch));
    g.finish();
}

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_insert");
    g.bench_function("wasio", |b| b.iter_custom(micro_wasio::timer_insert));
    g.bench_function("tokio", |b| b.iter_custom(micro_tokio::timer_insert));
    g.finish();
    let mut g = c.benchmark_group("timer_insert_cancel");
    g.bench_function("wasio", |b| b.iter_custom(micro_wasio::timer_insert_cancel));
    g.bench_function("tokio", |b| b.iter_custom(micro_tokio::timer_insert_cancel));
    g.finish();
    let mut g = c.benchmark_group("timers_1m_half_cancelled");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    // One iteration is the whole million (criterion divides by iterations, not timers).
    g.bench_function("wasio", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| micro_wasio::timers_half_cancelled(1_000_000))
                .sum()
        })
    });
    g.bench_function("tokio", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| micro_tokio::timers_half_cancelled(1_000_000))
                .sum()
        })
    });
    g.finish();
}

fn tasks(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_noop");
    g.bench_function("wasio", |b| b.iter_custom(micro_wasio::spawn_noop));
    g.bench_function("tokio", |b| b.iter_custom(micro_tokio::spawn_noop));
    g.finish();
    let mut g = c.benchmark_group("call_soon_threadsafe_cross_thread");
    g.bench_function("wasio", |b| {
        b.iter_custom(|n| {
            micro_wasio::call_soon_threadsafe_cross_thread(n).expect("threads are available")
        })
    });
    g.bench_function("tokio_handle_spawn", |b| {
        b.iter_custom(micro_tokio::spawn_cross_thread)
    });
    g.finish();
}

criterion_group!(benches, call_soon, timers, tasks);
criterion_main!(benches);
