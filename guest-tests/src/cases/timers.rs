//! TMR-01..TMR-07: timers, sleep, timeout, interval.

use std::time::{Duration, Instant};

use wasio::EventLoop;

use crate::{Context, Transcript, ensure, ensure_eq, new_loop, stopper};

/// Runs iterations until `done()` or `max` iterations; the caller's timers bound the waits.
fn run_until(lp: &EventLoop, max: usize, done: impl Fn() -> bool) -> Result<(), String> {
    for _ in 0..max {
        if done() {
            return Ok(());
        }
        lp.run_once().ctx("run_once")?;
    }
    if done() {
        Ok(())
    } else {
        Err(format!("condition not reached within {max} iterations"))
    }
}

/// TMR-01: `call_later(d)` is `call_at(time() + d)`: its `when()` lies within
/// `[time() before + d, time() after + d]`.
pub fn tmr01_call_later_is_call_at_time_plus_delay(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let d = Duration::from_millis(250);
    let before = lp.time();
    let h = lp.call_later(d, || {}).ctx("call_later")?;
    let after = lp.time();
    ensure!(
        h.when() >= before + d && h.when() <= after + d,
        "when() {:?} outside [{:?}, {:?}]",
        h.when(),
        before + d,
        after + d
    );
    let at = lp.time() + d;
    let h2 = lp.call_at(at, || {}).ctx("call_at")?;
    ensure_eq!(h2.when(), at, "call_at when()");
    h.cancel();
    h2.cancel();
    t.push("ok");
    t.expect(&["ok"])
}

/// TMR-01: `when()` is unchanged after `cancel()` and after the timer fired.
pub fn tmr01_when_is_unchanged_by_cancel_and_firing(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let a = lp
        .call_later(Duration::from_millis(1), t.rec("fired"))
        .ctx("call_later")?;
    let b = lp
        .call_later(Duration::from_secs(3600), t.rec("never"))
        .ctx("call_later")?;
    let (wa, wb) = (a.when(), b.when());
    b.cancel();
    ensure_eq!(b.when(), wb, "when() after cancel");
    lp.call_later(Duration::from_millis(2), stopper(&lp))
        .ctx("call_later")?;
    lp.run_forever().ctx("run_forever")?;
    ensure_eq!(a.when(), wa, "when() after firing");
    t.expect(&["fired"])
}

/// The next instant the monotonic clock gives after `t` (spins for at most its resolution).
fn next_instant(t: Instant) -> Instant {
    loop {
        let now = Instant::now();
        if now > t {
            return now;
        }
        std::hint::spin_loop();
    }
}

/// TMR-01/TMR-02: deadlines earlier than the loop's creation keep their order (asyncio: the
/// heap orders by `when` whatever its sign) and `when()` gives them back exactly.
pub fn tmr01_deadlines_before_the_loop_keep_order_and_value(t: &Transcript) -> Result<(), String> {
    let earlier = Instant::now();
    let later = next_instant(earlier);
    let lp = new_loop()?;
    let a = lp.call_at(later, t.rec("later")).ctx("call_at")?;
    let b = lp.call_at(earlier, t.rec("earlier")).ctx("call_at")?;
    ensure_eq!(a.when(), later, "when() of a deadline before the loop");
    ensure_eq!(b.when(), earlier, "when() of a deadline before the loop");
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["earlier", "later"])
}

/// TMR-01: loop time never goes backwards and follows the monotonic clock.
pub fn tmr01_loop_time_is_monotonic(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let mut prev = lp.time();
    for _ in 0..1000 {
        let now = lp.time();
        ensure!(now >= prev, "time() went backwards: {now:?} < {prev:?}");
        prev = now;
    }
    let i0 = Instant::now();
    let l0 = lp.time();
    ensure!(
        l0 <= Instant::now() && l0 + Duration::from_secs(1) >= i0,
        "loop time is not on the monotonic clock"
    );
    t.push("monotonic");
    t.expect(&["monotonic"])
}

/// TMR-02: timers fire in deadline order, whatever order they were scheduled in.
pub fn tmr02_timers_fire_in_deadline_order(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let base = lp.time();
    for (ms, name) in [(30, "30"), (10, "10"), (20, "20"), (5, "5")] {
        lp.call_at(base + Duration::from_millis(ms), t.rec(name))
            .ctx("call_at")?;
    }
    lp.call_at(base + Duration::from_millis(31), stopper(&lp))
        .ctx("call_at")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["5", "10", "20", "30"])
}

/// TMR-02: equal deadlines fire in scheduling order (stronger than CPython).
pub fn tmr02_equal_deadlines_fire_fifo(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let at = lp.time() + Duration::from_millis(3);
    for i in 0..10 {
        let t = t.clone();
        lp.call_at(at, move || t.push(format!("{i}")))
            .ctx("call_at")?;
    }
    lp.call_at(at, stopper(&lp)).ctx("call_at")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
}

/// TMR-03: a deadline at the current time is due (`when < now + resolution`), so one iteration
/// fires it.
pub fn tmr03_deadline_at_now_is_due_in_the_next_iteration(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.call_at(lp.time(), t.rec("now")).ctx("call_at")?;
    lp.call_later(Duration::ZERO, t.rec("zero-delay"))
        .ctx("call_later")?;
    lp.run_once().ctx("run_once")?;
    t.expect(&["now", "zero-delay"])
}

/// TMR-03: a deadline in the future is not due while a ready callback keeps the wait at zero.
pub fn tmr03_future_deadline_is_not_due(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.call_later(Duration::from_secs(60), t.rec("future"))
        .ctx("call_later")?;
    lp.call_soon(t.rec("soon")).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    let s = lp.stats();
    t.push(format!("scheduled={}", s.scheduled_timers));
    t.expect(&["soon", "scheduled=1"])
}

/// TMR-04: `call_later(d)` never fires before `d` (uvloop test_call_later_rounding, 3 rounds).
pub fn tmr04_call_later_never_fires_early(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let d = Duration::from_millis(25);
    for round in 0..3 {
        let t0 = Instant::now();
        lp.call_later(d, stopper(&lp)).ctx("call_later")?;
        lp.run_forever().ctx("run_forever")?;
        let took = t0.elapsed();
        ensure!(took >= d, "round {round}: fired after {took:?} < {d:?}");
        ensure!(
            took < d + Duration::from_secs(10),
            "round {round}: took {took:?}"
        );
        t.push(format!("round{round}"));
    }
    t.expect(&["round0", "round1", "round2"])
}

/// TMR-04: `sleep(d)` takes at least `d`.
pub fn tmr04_sleep_never_returns_early(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let d = Duration::from_millis(30);
    let took = lp
        .run_until_complete(async move {
            let t0 = Instant::now();
            wasio::sleep(d).await;
            t0.elapsed()
        })
        .ctx("run_until_complete")?;
    ensure!(took >= d, "sleep returned after {took:?} < {d:?}");
    let at = lp.time() + d;
    let woke = lp
        .run_until_complete(async move {
            wasio::sleep_until(at).await;
            Instant::now()
        })
        .ctx("run_until_complete")?;
    ensure!(woke >= at, "sleep_until returned early");
    t.push("slept");
    t.expect(&["slept"])
}

/// TMR-05: only a timer still in the heap counts as cancelled, and only once.
pub fn tmr05_only_scheduled_timers_count_as_cancelled(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let far = lp
        .call_later(Duration::from_secs(3600), || {})
        .ctx("call_later")?;
    far.cancel();
    far.cancel();
    ensure_eq!(lp.stats().cancelled_timers, 1, "cancel twice counts once");
    let soon = lp.call_at(lp.time(), t.rec("fired")).ctx("call_at")?;
    lp.run_once().ctx("run_once")?;
    soon.cancel();
    ensure!(
        soon.cancelled(),
        "cancelled() after cancel of a fired timer"
    );
    let s = lp.stats();
    t.push(format!(
        "scheduled={} cancelled={}",
        s.scheduled_timers, s.cancelled_timers
    ));
    t.expect(&["fired", "scheduled=1 cancelled=1"])
}

/// TMR-05 / TMR-06 first half: one iteration pops only the cancelled timers at the head.
pub fn tmr05_cancelled_head_timers_are_popped(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let now = lp.time();
    lp.call_at(now + Duration::from_secs(3000), || {})
        .ctx("call_at")?;
    for secs in [3600, 3600, 100, 100] {
        lp.call_at(now + Duration::from_secs(secs), || {})
            .ctx("call_at")?
            .cancel();
    }
    let s = lp.stats();
    t.push(format!(
        "before {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    let s = lp.stats();
    t.push(format!(
        "after {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    t.expect(&["before 5 4", "after 3 2"])
}

/// TMR-06: asyncio's reference scenario: 51 more cancelled and 49 live timers make 103
/// scheduled with 53 cancelled, so the next iteration purges every cancelled one.
pub fn tmr06_purge_removes_every_cancelled_timer(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let now = lp.time();
    lp.call_at(now + Duration::from_secs(3000), || {})
        .ctx("call_at")?;
    for secs in [3600, 3600, 100, 100] {
        lp.call_at(now + Duration::from_secs(secs), || {})
            .ctx("call_at")?
            .cancel();
    }
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    for i in 0..51 {
        lp.call_at(now + Duration::from_secs(4000 + i), || {})
            .ctx("call_at")?
            .cancel();
    }
    for i in 0..49 {
        lp.call_at(now + Duration::from_secs(5000 + i), || {})
            .ctx("call_at")?;
    }
    let s = lp.stats();
    t.push(format!(
        "before {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    let s = lp.stats();
    t.push(format!(
        "after {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    t.expect(&["before 103 53", "after 50 0"])
}

/// TMR-06: both purge comparisons are strict (more than 100 scheduled, more than half
/// cancelled).
pub fn tmr06_purge_thresholds_are_strict(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let now = lp.time();
    lp.call_at(now + Duration::from_secs(10), || {})
        .ctx("call_at")?;
    for i in 0..51 {
        lp.call_at(now + Duration::from_secs(100 + i), || {})
            .ctx("call_at")?
            .cancel();
    }
    for i in 0..50 {
        lp.call_at(now + Duration::from_secs(200 + i), || {})
            .ctx("call_at")?;
    }
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    let s = lp.stats();
    t.push(format!(
        "half: {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    lp.call_at(now + Duration::from_secs(300), || {})
        .ctx("call_at")?
        .cancel();
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    let s = lp.stats();
    t.push(format!(
        "over half: {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    t.expect(&["half: 102 51", "over half: 51 0"])
}

/// TMR-07: `sleep(0)` yields exactly one iteration and creates no timer.
pub fn tmr07_sleep_zero_yields_one_iteration_without_a_timer(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    let lp2 = lp.clone();
    let task = lp
        .create_task(async move {
            t2.push("t1");
            wasio::sleep(Duration::ZERO).await;
            t2.push("t2");
        })
        .ctx("create_task")?;
    let (t3, lp3) = (t.clone(), lp2.clone());
    lp.call_soon(move || {
        t3.push(format!("a timers={}", lp3.stats().scheduled_timers));
    })
    .ctx("call_soon")?;
    lp.run_once().ctx("run_once 1")?;
    t.push("|");
    lp.run_once().ctx("run_once 2")?;
    ensure!(task.is_finished(), "task not finished after two iterations");
    t.expect(&["t1", "a timers=0", "|", "t2"])
}

/// TMR-07: cancelling a sleeping task leaves its timer cancelled in the heap, for the lazy
/// removal rules.
pub fn tmr07_cancelled_sleep_leaves_a_cancelled_timer(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    let task = lp
        .create_task(async move {
            t2.push("sleeping");
            wasio::sleep(Duration::from_secs(3600)).await;
            t2.push("woke");
        })
        .ctx("create_task")?;
    lp.call_later(Duration::from_secs(7200), || {})
        .ctx("call_later")?;
    lp.run_once().ctx("run_once")?;
    let s = lp.stats();
    t.push(format!(
        "sleeping: {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    task.cancel();
    run_until(&lp, 3, || task.is_finished())?;
    let s = lp.stats();
    t.push(format!(
        "cancelled: {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    // The sleep's timer is at the head (3600 s < 7200 s): the next iteration pops it.
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    let s = lp.stats();
    t.push(format!(
        "popped: {} {}",
        s.scheduled_timers, s.cancelled_timers
    ));
    t.expect(&["sleeping", "sleeping: 2 0", "cancelled: 2 1", "popped: 1 0"])
}

/// TMR-07 / GEN-01: extreme durations and instants never panic or fire early.
pub fn tmr07_extreme_durations_never_panic(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let h = lp
        .call_later(Duration::MAX, t.rec("never-max"))
        .ctx("call_later MAX")?;
    let _ = h.when();
    let far = lp.time() + Duration::from_secs(100 * 365 * 24 * 3600);
    lp.call_at(far, t.rec("never-far")).ctx("call_at far")?;
    let long_ago = Instant::now()
        .checked_sub(Duration::from_secs(3600))
        .unwrap_or_else(Instant::now);
    lp.call_at(long_ago, t.rec("past")).ctx("call_at past")?;
    lp.run_once().ctx("run_once")?;
    let res = lp
        .run_until_complete(async {
            let never = wasio::timeout(Duration::from_millis(1), wasio::sleep(Duration::MAX)).await;
            let instant = wasio::timeout(Duration::MAX, async { 5 }).await;
            (never.is_err(), instant)
        })
        .ctx("run_until_complete")?;
    ensure_eq!(res, (true, Ok(5)), "timeouts with extreme durations");
    let zero = wasio::interval(Duration::ZERO);
    ensure!(
        zero.as_ref().is_err_and(|e| e.is_invalid_input()),
        "interval(0) must be an invalid-input error"
    );
    t.expect(&["past"])
}

/// Timeouts and intervals on the loop clock.
pub fn tmr_timeout_and_interval(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    let out = lp
        .run_until_complete(async move {
            let slow = wasio::timeout(
                Duration::from_millis(5),
                wasio::sleep(Duration::from_secs(60)),
            )
            .await;
            t2.push(format!("slow elapsed={}", slow.is_err()));
            let fast = wasio::timeout(Duration::from_secs(60), async { "value" }).await;
            t2.push(format!("fast={fast:?}"));
            let period = Duration::from_millis(5);
            let mut iv = match wasio::interval(period) {
                Ok(iv) => iv,
                Err(e) => return Err(e.to_string()),
            };
            // Each tick is observed no earlier than its scheduled instant, and the scheduled
            // instants sit on the period's grid.
            let mut scheduled = Vec::new();
            for _ in 0..3 {
                let at = iv.tick().await;
                let seen = Instant::now();
                if seen < at {
                    return Err(format!("tick observed at {seen:?}, before {at:?}"));
                }
                scheduled.push((at, seen));
            }
            let first = scheduled[0].0;
            for (k, (at, seen)) in scheduled.iter().enumerate() {
                let due = first + period * k as u32;
                if *at != due {
                    return Err(format!(
                        "tick {k} scheduled at {at:?}, not on the grid ({due:?})"
                    ));
                }
                if seen.duration_since(first) < period * k as u32 {
                    return Err(format!(
                        "tick {k} came {:?} after the first, before {k} periods",
                        seen.duration_since(first)
                    ));
                }
            }
            t2.push("3 ticks");
            Ok(())
        })
        .ctx("run_until_complete")?;
    out?;
    t.expect(&["slow elapsed=true", "fast=Ok(\"value\")", "3 ticks"])
}
