//! SCH-01..SCH-06: the ready queue.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasio::ThreadsafeHandle;

use crate::{Context, SendLog, Transcript, ensure, ensure_eq, new_loop, stopper};

/// SCH-01: `call_soon` callbacks run in registration order, each once.
pub fn sch01_call_soon_runs_in_fifo_order(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    for i in 0..10 {
        let t = t.clone();
        lp.call_soon(move || t.push(format!("cb{i}")))
            .ctx("call_soon")?;
    }
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    lp.close().ctx("close")?;
    let expected: Vec<String> = (0..10).map(|i| format!("cb{i}")).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    t.expect(&expected)
}

/// SCH-01 (uvloop test_call_soon_1): a cancelled handle in the middle is skipped.
pub fn sch01_cancelled_handle_is_skipped(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.call_soon(t.rec("10")).ctx("call_soon")?;
    let h = lp.call_soon(t.rec("2")).ctx("call_soon")?;
    lp.call_soon(t.rec("1")).ctx("call_soon")?;
    h.cancel();
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["10", "1"])
}

/// SCH-02: `a` schedules `a_child` and stops; `b`, queued before the run, still runs; the child
/// waits for the next run.
pub fn sch02_callbacks_scheduled_while_running_wait_for_next_iteration(
    t: &Transcript,
) -> Result<(), String> {
    let lp = new_loop()?;
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.call_soon(move || {
        t2.push("a");
        let _ = lp2.call_soon(t2.rec("a_child"));
        lp2.stop();
    })
    .ctx("call_soon")?;
    lp.call_soon(t.rec("b")).ctx("call_soon")?;
    lp.run_forever().ctx("first run_forever")?;
    t.push("--");
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("second run_forever")?;
    t.expect(&["a", "b", "--", "a_child"])
}

/// SCH-02: the same holds for `call_soon_threadsafe` made while the iteration runs.
pub fn sch02_threadsafe_calls_while_running_wait_for_next_iteration(
    t: &Transcript,
) -> Result<(), String> {
    let lp = new_loop()?;
    let log = SendLog::new();
    let remote = lp.remote();
    let (lp2, l2) = (lp.clone(), log.clone());
    lp.call_soon(move || {
        l2.push("a");
        let _ = lp2.call_soon_threadsafe(l2.rec("ts-child"));
        let _ = remote.call_soon_threadsafe(l2.rec("remote-child"));
        lp2.stop();
    })
    .ctx("call_soon")?;
    lp.call_soon(log.rec("b")).ctx("call_soon")?;
    lp.run_forever().ctx("first run_forever")?;
    log.push("|");
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("second run_forever")?;
    log.copy_to(t);
    t.expect(&["a", "b", "|", "ts-child", "remote-child"])
}

/// SCH-03: callbacks already ready run before timers that became due in the same iteration,
/// whatever order they were scheduled in.
pub fn sch03_ready_callbacks_run_before_due_timers(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let past = lp.time();
    lp.call_at(past, t.rec("timer")).ctx("call_at")?;
    lp.call_soon(t.rec("soon")).ctx("call_soon")?;
    lp.call_at(past, stopper(&lp)).ctx("call_at")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["soon", "timer"])
}

/// SCH-03: one iteration runs the ready snapshot and the due timers; what they schedule waits.
pub fn sch03_one_iteration_runs_callbacks_and_due_timers(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.call_at(lp.time(), move || {
        t2.push("timer");
        let _ = lp2.call_soon(t2.rec("from-timer"));
    })
    .ctx("call_at")?;
    lp.call_soon(t.rec("soon")).ctx("call_soon")?;
    lp.run_once().ctx("run_once 1")?;
    t.push("|");
    lp.run_once().ctx("run_once 2")?;
    t.expect(&["soon", "timer", "|", "from-timer"])
}

/// SCH-04: with a callback ready, the wait does not block even if the only timer is far away.
pub fn sch04_ready_callbacks_make_the_wait_non_blocking(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.call_later(Duration::from_secs(10), t.rec("far"))
        .ctx("call_later")?;
    lp.call_soon(t.rec("soon")).ctx("call_soon")?;
    let t0 = Instant::now();
    lp.run_once().ctx("run_once")?;
    let took = t0.elapsed();
    ensure!(
        took < Duration::from_secs(5),
        "run_once blocked {took:?} although a callback was ready"
    );
    t.expect(&["soon"])
}

/// SCH-04: a pending `stop()` makes the wait non-blocking too.
pub fn sch04_stop_makes_the_wait_non_blocking(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.call_later(Duration::from_secs(10), t.rec("far"))
        .ctx("call_later")?;
    lp.stop();
    let t0 = Instant::now();
    lp.run_forever().ctx("run_forever")?;
    let took = t0.elapsed();
    ensure!(
        took < Duration::from_secs(5),
        "pre-stopped run_forever blocked {took:?}"
    );
    t.push("returned");
    t.expect(&["returned"])
}

/// SCH-04 / TMR-04: with nothing ready, one iteration waits until the nearest deadline and fires
/// that timer (never before it).
pub fn sch04_wait_ends_at_the_nearest_deadline(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let delay = Duration::from_millis(20);
    let start = lp.time();
    let fired_at = Rc::new(RefCell::new(None));
    let f2 = fired_at.clone();
    let lp2 = lp.clone();
    lp.call_later(delay, move || *f2.borrow_mut() = Some(lp2.time()))
        .ctx("call_later")?;
    lp.call_later(Duration::from_secs(10), t.rec("far"))
        .ctx("call_later")?;
    lp.run_once().ctx("run_once")?;
    let fired = *fired_at.borrow();
    let Some(at) = fired else {
        return Err("the nearest timer did not fire in one iteration".into());
    };
    ensure!(
        at.duration_since(start) >= delay,
        "timer fired early: {:?} < {delay:?}",
        at.duration_since(start)
    );
    t.push("fired");
    t.expect(&["fired"])
}

/// SCH-05: `cancel()` is idempotent and `cancelled()` reports it.
pub fn sch05_cancel_is_idempotent_and_reported(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let h = lp.call_soon(t.rec("never")).ctx("call_soon")?;
    ensure!(!h.cancelled(), "fresh handle reports cancelled");
    h.cancel();
    h.cancel();
    ensure!(h.cancelled(), "cancelled() false after cancel()");
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.push("done");
    t.expect(&["done"])
}

/// SCH-05: cancelling after the callback ran has no effect on what ran.
pub fn sch05_cancel_after_run_has_no_effect(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let h = lp.call_soon(t.rec("ran")).ctx("call_soon")?;
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    h.cancel();
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.push(format!("cancelled={}", h.cancelled()));
    t.expect(&["ran", "cancelled=true"])
}

/// SCH-05: a handle cancelled while queued is skipped but still counts in the iteration's
/// snapshot, so the callback queued after it still runs in that iteration.
pub fn sch05_cancelled_handle_still_counts_in_the_snapshot(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let victim: Rc<RefCell<Option<wasio::Handle>>> = Rc::new(RefCell::new(None));
    let (lp2, t2, v2) = (lp.clone(), t.clone(), victim.clone());
    lp.call_soon(move || {
        t2.push("a");
        if let Some(h) = v2.borrow().as_ref() {
            h.cancel();
        }
        let _ = lp2.call_soon(t2.rec("d"));
        lp2.stop();
    })
    .ctx("call_soon a")?;
    let b = lp.call_soon(t.rec("b")).ctx("call_soon b")?;
    *victim.borrow_mut() = Some(b);
    lp.call_soon(t.rec("c")).ctx("call_soon c")?;
    lp.run_forever().ctx("run_forever")?;
    t.push("|");
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["a", "c", "|", "d"])
}

/// SCH-05: a callback that cancels its own handle runs to completion.
pub fn sch05_callback_cancelling_its_own_handle_completes(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let me: Rc<RefCell<Option<wasio::Handle>>> = Rc::new(RefCell::new(None));
    let (t2, me2) = (t.clone(), me.clone());
    let h = lp
        .call_soon(move || {
            t2.push("start");
            if let Some(h) = me2.borrow().as_ref() {
                h.cancel();
            }
            t2.push("end");
        })
        .ctx("call_soon")?;
    *me.borrow_mut() = Some(h.clone());
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    me.borrow_mut().take();
    t.push(format!("cancelled={}", h.cancelled()));
    t.expect(&["start", "end", "cancelled=true"])
}

/// SCH-06: from the loop's thread, `call_soon_threadsafe` is FIFO with `call_soon`.
pub fn sch06_threadsafe_is_fifo_with_call_soon_on_the_loop_thread(
    t: &Transcript,
) -> Result<(), String> {
    let lp = new_loop()?;
    let log = SendLog::new();
    lp.call_soon_threadsafe(log.rec("hello"))
        .ctx("call_soon_threadsafe")?;
    lp.call_soon(log.rec("world")).ctx("call_soon")?;
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    log.copy_to(t);
    t.expect(&["hello", "world"])
}

/// SCH-06: the same through a `Remote` used on the loop's thread, before and while running.
pub fn sch06_remote_is_fifo_with_call_soon_on_the_loop_thread(
    t: &Transcript,
) -> Result<(), String> {
    let lp = new_loop()?;
    let remote = lp.remote();
    let log = SendLog::new();
    remote
        .call_soon_threadsafe(log.rec("r1"))
        .ctx("remote call_soon_threadsafe")?;
    lp.call_soon(log.rec("s1")).ctx("call_soon")?;
    let (lp2, r2, l2) = (lp.clone(), remote.clone(), log.clone());
    lp.call_soon(move || {
        let _ = r2.call_soon_threadsafe(l2.rec("r2"));
        let _ = lp2.call_soon(l2.rec("s2"));
    })
    .ctx("call_soon")?;
    lp.run_once().ctx("run_once 1")?;
    lp.run_once().ctx("run_once 2")?;
    log.copy_to(t);
    t.expect(&["r1", "s1", "r2", "s2"])
}

/// SCH-06: a thread-safe handle cancelled before its turn never runs.
pub fn sch06_threadsafe_cancel_before_run_prevents_it(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let log = SendLog::new();
    let h = lp
        .remote()
        .call_soon_threadsafe(log.rec("ran"))
        .ctx("call_soon_threadsafe")?;
    h.cancel();
    ensure!(h.cancelled(), "cancelled() false after cancel()");
    lp.call_soon(log.rec("other")).ctx("call_soon")?;
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    log.copy_to(t);
    t.expect(&["other"])
}

/// SCH-06: a thread-safe callback that cancels its own handle runs to completion.
pub fn sch06_threadsafe_self_cancel_still_completes(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let slot: Arc<Mutex<Option<ThreadsafeHandle>>> = Arc::new(Mutex::new(None));
    let log = SendLog::new();
    let (s2, l2) = (slot.clone(), log.clone());
    let h = lp
        .call_soon_threadsafe(move || {
            l2.push("start");
            let me = s2.lock().ok().and_then(|g| g.clone());
            if let Some(me) = me {
                me.cancel();
            }
            l2.push("end");
        })
        .ctx("call_soon_threadsafe")?;
    *slot.lock().map_err(|e| e.to_string())? = Some(h.clone());
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    slot.lock().map_err(|e| e.to_string())?.take();
    log.copy_to(t);
    ensure_eq!(h.cancelled(), true, "cancelled() after self-cancel");
    t.expect(&["start", "end"])
}
