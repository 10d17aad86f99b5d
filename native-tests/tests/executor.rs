//! Native side of the executor (EXE-01..EXE-03): real threads, their number, names and
//! shutdown; name resolution through the bounded pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use wasio::{EventLoop, ThreadPool};

/// Names of this process's threads (from /proc).
fn thread_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

/// EXE-01: the function runs on a pool thread named `wasio-executor-<n>`, not the loop's; the
/// default size is asyncio's `min(32, cpus + 4)`.
#[test]
fn exe01_runs_on_a_named_pool_thread() {
    let loop_thread = std::thread::current().id();
    let (name, other_thread) = wasio::run(async move {
        wasio::run_in_executor(move || {
            (
                std::thread::current().name().map(str::to_owned),
                std::thread::current().id() != loop_thread,
            )
        })
        .unwrap()
        .await
        .unwrap()
    })
    .unwrap();
    assert!(other_thread);
    assert!(name.is_some_and(|n| n.starts_with("wasio-executor-")));
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(wasio::default_max_workers(), (cpus + 4).min(32));
}

/// The pool size can be set: with two workers, at most two jobs run at once.
#[test]
fn exe02_set_default_executor_bounds_the_threads() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let lp = EventLoop::new().unwrap();
    lp.set_default_executor(ThreadPool::with_name_prefix(2, "two").unwrap());
    let lp2 = lp.clone();
    let (r, p) = (running.clone(), peak.clone());
    lp.run_until_complete(async move {
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let (r, p) = (r.clone(), p.clone());
                lp2.run_in_executor(move || {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    r.fetch_sub(1, Ordering::SeqCst);
                    std::thread::current().name().map(str::to_owned)
                })
                .unwrap()
            })
            .collect();
        for j in jobs {
            let name = j.await.unwrap().unwrap_or_default();
            assert!(name.starts_with("two-"), "{name}");
        }
    })
    .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    lp.close().unwrap();
}

/// A panicking function gives a `JoinError` with the message; the loop goes on.
#[test]
fn exe01_a_panicking_function_is_an_error() {
    let err = wasio::run(async {
        wasio::run_in_executor(|| -> u8 { panic!("job exploded") })
            .unwrap()
            .await
            .unwrap_err()
    })
    .unwrap();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("job exploded"));
}

/// Dropping the future of a function that already runs does not stop it (threads cannot be
/// killed); its result is dropped when it comes.
#[test]
fn exe01_dropping_the_future_lets_the_job_finish_and_drops_its_result() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Barrier::new(2));
    let ran = Arc::new(Barrier::new(2));
    let (d, s, r) = (dropped.clone(), started.clone(), ran.clone());
    let lp = EventLoop::new().unwrap();
    let lp2 = lp.clone();
    lp.run_until_complete(async move {
        let fut = lp2
            .run_in_executor(move || {
                s.wait();
                r.wait();
                Counted(d)
            })
            .unwrap();
        // Dropped once the function runs (a queued one would be cancelled instead).
        started.wait();
        drop(fut);
    })
    .unwrap();
    ran.wait();
    // The pool shuts down and joins: the job has finished and its result was dropped.
    lp.run_until_complete({
        let lp3 = lp.clone();
        async move { lp3.shutdown_default_executor(None).await }
    })
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

/// EXE-03: the join happens on another thread, so the loop keeps running; past the timeout a
/// warning is logged and the call returns.
#[test]
fn exe03_shutdown_timeout_warns_and_the_loop_keeps_running() {
    let cap = guest_tests::capture::Capture::default();
    let release = Arc::new(Mutex::new(()));
    let hold = release.lock().unwrap();
    let r = release.clone();
    let (ticks, waited) = cap.run(|| {
        wasio::run(async move {
            let lp = wasio::current();
            let _job = lp
                .run_in_executor(move || {
                    let _g = r.lock();
                })
                .unwrap();
            let ticks = Arc::new(AtomicUsize::new(0));
            let t2 = ticks.clone();
            let ticker = wasio::spawn(async move {
                loop {
                    wasio::sleep(Duration::from_millis(10)).await;
                    t2.fetch_add(1, Ordering::SeqCst);
                }
            });
            let t0 = Instant::now();
            lp.shutdown_default_executor(Some(Duration::from_millis(200)))
                .await;
            let waited = t0.elapsed();
            ticker.cancel();
            (ticks.load(Ordering::SeqCst), waited)
        })
        .unwrap()
    });
    drop(hold);
    assert!(
        waited >= Duration::from_millis(200),
        "returned early: {waited:?}"
    );
    assert!(
        ticks >= 3,
        "the loop did not run while joining: {ticks} ticks"
    );
    let warns = cap.wasio_events(tracing::Level::WARN);
    assert!(
        warns.iter().any(|w| w
            .message
            .starts_with("The executor did not finishing joining its threads within 0.2 seconds")),
        "{warns:?}"
    );
}

/// Name resolution goes through the bounded pool: 200 lookups at once never start more
/// threads than the pool allows, and no thread per lookup.
#[test]
fn names_resolve_in_the_bounded_pool() {
    let lp = EventLoop::new().unwrap();
    lp.set_default_executor(ThreadPool::with_name_prefix(3, "dns-pool").unwrap());
    let lp2 = lp.clone();
    let peak = lp
        .run_until_complete(async move {
            let lookups: Vec<_> = (0..200)
                .map(|_| wasio::spawn(wasio::net::lookup_host("localhost", 80)))
                .collect();
            let mut peak = 0;
            for l in lookups {
                let names = thread_names();
                peak = peak.max(names.iter().filter(|n| n.starts_with("dns-pool")).count());
                assert!(
                    !names.iter().any(|n| n.contains("getaddrinfo")),
                    "{names:?}"
                );
                let addrs = l.await.unwrap().unwrap();
                assert!(!addrs.is_empty());
            }
            let _ = lp2;
            peak
        })
        .unwrap();
    assert!(peak <= 3, "{peak} pool threads for a pool of 3");
    lp.close().unwrap();
}

/// A gate a job waits at until the `Sender` sends (or goes).
type Gate = Arc<Mutex<std::sync::mpsc::Receiver<()>>>;

/// A pool, a gate and a "finished" counter for a job that waits at the gate.
fn busy_pool(
    workers: usize,
    prefix: &str,
) -> (
    ThreadPool,
    std::sync::mpsc::Sender<()>,
    Gate,
    Arc<AtomicUsize>,
) {
    let pool = ThreadPool::with_name_prefix(workers, prefix).expect("pool");
    let (tx, rx) = std::sync::mpsc::channel();
    let finished = Arc::new(AtomicUsize::new(0));
    (pool, tx, Arc::new(Mutex::new(rx)), finished)
}

/// Opens the gate from another thread a little later.
fn open_later(tx: std::sync::mpsc::Sender<()>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let _ = tx.send(());
    })
}

/// Issue 17 item 6: a second `shutdown(true)` (the first one took the join handles) still
/// waits until every worker has exited.
#[test]
fn a_second_shutdown_with_wait_still_waits_for_the_workers() {
    let (pool, tx, gate, finished) = busy_pool(1, "wasio-exe-second");
    let (r, f) = (gate.clone(), finished.clone());
    let started = Arc::new(Barrier::new(2));
    let s = started.clone();
    let lp = EventLoop::new().unwrap();
    let job = lp
        .run_in_pool(&pool, move || {
            s.wait();
            let _ = r.lock().map(|rx| rx.recv());
            f.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    started.wait();
    // Running now: dropping its future no longer cancels it.
    drop(job);
    // The first shutdown(true) takes the handles and blocks on another thread.
    let p = pool.clone();
    let first = std::thread::spawn(move || p.shutdown(true));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pool.is_shutdown() {
        assert!(
            Instant::now() < deadline,
            "the first shutdown never started"
        );
        std::thread::yield_now();
    }
    // Released later, from another thread: a second shutdown that returned at once would see
    // the job unfinished.
    let releaser = open_later(tx);
    pool.shutdown(true);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the second shutdown(true) returned while the job still ran"
    );
    first.join().unwrap();
    releaser.join().unwrap();
    lp.close().unwrap();
}

/// Issue 17 item 7: `shutdown(true)` from one of the pool's own jobs neither panics nor waits
/// for its own thread; it waits for the other workers.
#[test]
fn shutdown_with_wait_from_a_job_skips_its_own_thread() {
    let (pool, tx, gate, finished) = busy_pool(2, "wasio-exe-self");
    let (r, f) = (gate.clone(), finished.clone());
    let started = Arc::new(Barrier::new(2));
    let s = started.clone();
    let out = wasio::run({
        let pool = pool.clone();
        async move {
            let lp = wasio::current();
            let other = lp
                .run_in_pool(&pool, move || {
                    s.wait();
                    let _ = r.lock().map(|rx| rx.recv());
                    f.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            started.wait();
            let releaser = open_later(tx);
            let p = pool.clone();
            let f2 = finished.clone();
            let own = lp
                .run_in_pool(&pool, move || {
                    p.shutdown(true);
                    // The other worker was waited for.
                    f2.load(Ordering::SeqCst)
                })
                .unwrap();
            let seen = own.await;
            other.await.unwrap();
            releaser.join().unwrap();
            seen
        }
    })
    .unwrap();
    assert_eq!(out.expect("the job's shutdown(true) must not panic"), 1);
    pool.shutdown(true);
    assert!(
        !thread_names()
            .iter()
            .any(|n| n.starts_with("wasio-exe-self")),
        "{:?}",
        thread_names()
    );
}

/// Issue 17 item 8: a job whose future is dropped while it waits in the queue never runs
/// (asyncio cancels the concurrent future with the awaiting one).
#[test]
fn a_cancelled_queued_job_never_runs() {
    let (pool, tx, gate, finished) = busy_pool(1, "wasio-exe-cancel");
    let ran = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Barrier::new(2));
    let lp = EventLoop::new().unwrap();
    let (r, f, s) = (gate.clone(), finished.clone(), started.clone());
    let busy = lp
        .run_in_pool(&pool, move || {
            s.wait();
            let _ = r.lock().map(|rx| rx.recv());
            f.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    started.wait();
    let r2 = ran.clone();
    let queued = lp
        .run_in_pool(&pool, move || {
            r2.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    // Cancelled while the only worker is busy: still in the queue.
    lp.run_until_complete(async move {
        let _ = wasio::timeout(Duration::from_millis(1), queued).await;
    })
    .unwrap();
    tx.send(()).unwrap();
    drop(busy);
    pool.shutdown(true);
    assert_eq!(finished.load(Ordering::SeqCst), 1, "the busy job finished");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the cancelled job ran anyway"
    );
    lp.close().unwrap();
}
