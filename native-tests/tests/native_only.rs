//! Native-only behaviour: other threads (SCH-06) and caught panics (EXC-02, TSK-05, LIFE-02).
//!
//! Under wasm32-wasip2 there are no threads and a panic aborts the instance, so these cannot be
//! shared cases; the WASI side of each divergence is tested by the host.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};

use wasio::EventLoop;

fn reports(lp: &EventLoop) -> Rc<RefCell<Vec<String>>> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    lp.set_exception_handler(move |_, ctx| {
        let mut line = ctx.message().to_string();
        for k in ["future", "task", "handle"] {
            if let Some(v) = ctx.get(k) {
                line.push_str(&format!(" {k}={v}"));
            }
        }
        if let Some(e) = ctx.error() {
            line.push_str(&format!(" error={e}"));
        }
        l.borrow_mut().push(line);
    });
    log
}

/// SCH-06 (uvloop test_call_soon_threadsafe_safety): 4096 calls from 4 threads all arrive,
/// each exactly once.
#[test]
fn sch06_cross_thread_calls_all_arrive() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 1024;
    let lp = EventLoop::new().unwrap();
    let seen = Arc::new(Mutex::new(vec![0u8; THREADS * PER_THREAD]));
    let count = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let mut threads = Vec::new();
    for t in 0..THREADS {
        let (remote, seen, count, start) =
            (lp.remote(), seen.clone(), count.clone(), start.clone());
        threads.push(std::thread::spawn(move || {
            start.wait();
            for i in 0..PER_THREAD {
                let (seen, count, stop) = (seen.clone(), count.clone(), remote.clone());
                remote
                    .call_soon_threadsafe(move || {
                        seen.lock().unwrap()[t * PER_THREAD + i] += 1;
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == THREADS * PER_THREAD {
                            stop.stop().unwrap();
                        }
                    })
                    .unwrap();
            }
        }));
    }
    lp.run_forever().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(count.load(Ordering::SeqCst), THREADS * PER_THREAD);
    assert!(
        seen.lock().unwrap().iter().all(|&n| n == 1),
        "a call ran twice or never"
    );
    lp.close().unwrap();
}

/// SCH-06: a loop blocked with no timer and nothing ready wakes for a call from another thread.
#[test]
fn sch06_blocked_loop_wakes_for_another_thread() {
    let lp = EventLoop::new().unwrap();
    let remote = lp.remote();
    let (tx, rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        rx.recv().unwrap();
        remote
            .call_soon_threadsafe(|| wasio::current().stop())
            .unwrap();
    });
    // Tell the thread to go from inside the loop, right before it blocks.
    lp.call_soon(move || tx.send(()).unwrap()).unwrap();
    let t0 = Instant::now();
    lp.run_forever().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "wake-up took {:?}",
        t0.elapsed()
    );
    t.join().unwrap();
    lp.close().unwrap();
}

/// SCH-06: `cancel()` from another thread before the callback starts prevents it.
#[test]
fn sch06_cancel_from_another_thread_prevents_the_run() {
    let lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let h = lp
        .remote()
        .call_soon_threadsafe(move || r.store(true, Ordering::SeqCst))
        .unwrap();
    std::thread::spawn(move || h.cancel()).join().unwrap();
    lp.call_soon(|| wasio::current().stop()).unwrap();
    lp.run_forever().unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

/// SCH-06: `cancel()` from another thread while the callback runs blocks until it finishes, and
/// the callback completes.
#[test]
fn sch06_cancel_while_running_waits_for_the_callback() {
    let lp = EventLoop::new().unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let cancelling = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (f, c) = (finished.clone(), cancelling.clone());
    let h = lp
        .call_soon_threadsafe(move || {
            started_tx.send(()).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !c.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            // Widen the window in which a non-blocking cancel would return early.
            std::thread::sleep(Duration::from_millis(50));
            f.store(true, Ordering::SeqCst);
        })
        .unwrap();
    let (f2, c2) = (finished.clone(), cancelling.clone());
    let canceller = std::thread::spawn(move || {
        started_rx.recv().unwrap();
        c2.store(true, Ordering::SeqCst);
        h.cancel();
        f2.load(Ordering::SeqCst)
    });
    lp.call_soon(|| wasio::current().stop()).unwrap();
    lp.run_forever().unwrap();
    assert!(
        canceller.join().unwrap(),
        "cancel() returned before the callback finished"
    );
    assert!(finished.load(Ordering::SeqCst));
}

fn explode() {
    panic!("callback exploded")
}

/// EXC-02: a panicking callback is caught and reported with its handle; the loop goes on.
#[test]
fn exc02_panicking_callback_is_reported_and_the_loop_goes_on() {
    let lp = EventLoop::new().unwrap();
    let log = reports(&lp);
    let after = Rc::new(RefCell::new(false));
    lp.call_soon(explode).unwrap();
    let a = after.clone();
    lp.call_soon(move || *a.borrow_mut() = true).unwrap();
    lp.call_soon(|| wasio::current().stop()).unwrap();
    lp.run_forever().unwrap();
    assert!(*after.borrow(), "the next callback did not run");
    let log = log.borrow();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].starts_with("Exception in callback "), "{log:?}");
    assert!(log[0].contains("handle=<Handle "), "{log:?}");
    assert!(
        log[0].contains("error=panicked: callback exploded"),
        "{log:?}"
    );
}

/// TSK-05: a task that panicked and whose handle was dropped reports
/// `Task exception was never retrieved` with the `future` key.
#[test]
fn tsk05_unretrieved_panic_is_reported() {
    let lp = EventLoop::new().unwrap();
    let log = reports(&lp);
    let h = lp
        .create_named_task("doomed", async { panic!("task exploded") })
        .unwrap();
    lp.run_until_complete(wasio::yield_now()).unwrap();
    assert!(h.is_finished());
    assert!(
        log.borrow().is_empty(),
        "reported while the handle still lives"
    );
    drop(h);
    let log = log.borrow();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].starts_with("Task exception was never retrieved future=doomed"),
        "{log:?}"
    );
    assert!(log[0].contains("task exploded"), "{log:?}");
}

/// TSK-05: the same for a task detached before it panicked.
#[test]
fn tsk05_detached_panicking_task_is_reported_when_it_fails() {
    let lp = EventLoop::new().unwrap();
    let log = reports(&lp);
    lp.create_task(async {
        wasio::yield_now().await;
        panic!("late failure")
    })
    .unwrap()
    .detach();
    lp.run_until_complete(async {
        wasio::yield_now().await;
        wasio::yield_now().await;
    })
    .unwrap();
    let log = log.borrow();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].starts_with("Task exception was never retrieved"),
        "{log:?}"
    );
}

/// TSK-05: awaiting the handle retrieves the panic: no report.
#[test]
fn tsk05_retrieved_panic_is_not_reported() {
    let lp = EventLoop::new().unwrap();
    let log = reports(&lp);
    let res = lp
        .run_until_complete(async {
            let h = wasio::spawn(async { panic!("seen") });
            h.await
        })
        .unwrap();
    let err = res.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("seen"));
    assert!(log.borrow().is_empty(), "{:?}", log.borrow());
}

/// LIFE-02: a panic in the future given to `run_until_complete` is returned as an error.
#[test]
fn life02_run_until_complete_returns_a_panic_as_an_error() {
    let lp = EventLoop::new().unwrap();
    let err = lp
        .run_until_complete(async { panic!("main exploded") })
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.detail(), Some("main exploded"));
    // The loop is still usable.
    assert_eq!(lp.run_until_complete(async { 3 }).unwrap(), 3);
}

/// EXC-03: a custom handler that panics falls back to the default handler, which logs the
/// original context under `context`.
#[test]
fn exc03_panicking_handler_falls_back_to_the_default() {
    let lp = EventLoop::new().unwrap();
    lp.set_exception_handler(|_, _| -> () { panic!("handler broken") });
    let cap = guest_tests::capture::Capture::default();
    cap.run(|| lp.call_exception_handler(wasio::Context::new("original")));
    let errors = cap.wasio_events(tracing::Level::ERROR);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .message
            .starts_with("Unhandled error in exception handler")
    );
    assert!(errors[0].message.contains("context: "));
    assert!(errors[0].message.contains("original"));
}

/// Two loops on two threads run independently.
#[test]
fn loops_on_two_threads_are_independent() {
    let t = std::thread::spawn(|| {
        wasio::run(async {
            wasio::sleep(Duration::from_millis(5)).await;
            1
        })
        .unwrap()
    });
    let here = wasio::run(async { 2 }).unwrap();
    assert_eq!(here + t.join().unwrap(), 3);
}

/// A subscriber whose first ERROR event panics (a broken log sink), then records the rest.
struct BrokenSink {
    panicked: AtomicBool,
    seen: Mutex<Vec<String>>,
}

impl tracing::Subscriber for BrokenSink {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        if !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("log sink is broken");
        }
        struct Msg(String);
        impl tracing::field::Visit for Msg {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Msg(String::new());
        event.record(&mut m);
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(m.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// EXC-03 (asyncio `call_exception_handler`): when the default handler itself fails (here a
/// tracing subscriber that panics), the failure is caught and `Exception in default exception
/// handler` is logged; the rest of the iteration runs and `run_forever` carries on.
#[test]
fn exc03_failing_default_handler_does_not_escape_the_loop() {
    let sink = Arc::new(BrokenSink {
        panicked: AtomicBool::new(false),
        seen: Mutex::new(Vec::new()),
    });
    let lp = EventLoop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    lp.call_soon(move || {
        l1.borrow_mut().push("failing callback");
        Err("boom")
    })
    .unwrap();
    lp.call_soon(move || l2.borrow_mut().push("next callback in the iteration"))
        .unwrap();
    let stop = lp.clone();
    lp.call_soon(move || stop.stop()).unwrap();
    let res = tracing::subscriber::with_default(sink.clone(), || lp.run_forever());
    assert!(res.is_ok(), "the failure escaped run_forever: {res:?}");
    assert_eq!(
        *log.borrow(),
        ["failing callback", "next callback in the iteration"]
    );
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen, ["Exception in default exception handler"], "{seen:?}");
    // A custom handler that returns an error falls back to the default handler.
    let reported = Rc::new(RefCell::new(0));
    let r = reported.clone();
    lp.set_exception_handler(move |_, _| {
        *r.borrow_mut() += 1;
        Err::<(), _>("handler broken")
    });
    let cap = guest_tests::capture::Capture::default();
    cap.run(|| lp.call_exception_handler(wasio::Context::new("original")));
    assert_eq!(*reported.borrow(), 1);
    let errors = cap.wasio_events(tracing::Level::ERROR);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .message
            .starts_with("Unhandled error in exception handler")
    );
}
