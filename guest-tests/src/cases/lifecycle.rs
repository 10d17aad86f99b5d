//! LIFE-01..LIFE-05: running, stopping and closing.

use std::time::Duration;

use super::tasks::{DropFlag, record_reports};
use crate::{Context, Transcript, ensure, ensure_eq, new_loop};

/// LIFE-01: `stop()` does not interrupt the iteration: callbacks queued after it still run.
pub fn life01_stop_lets_the_iteration_finish(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.call_soon(move || {
        t2.push("a");
        lp2.stop();
    })
    .ctx("call_soon")?;
    lp.call_soon(t.rec("b")).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.push(format!("running={}", lp.is_running()));
    t.expect(&["a", "b", "running=false"])
}

/// LIFE-01: `stop()` before `run_forever` runs exactly one iteration, without waiting for the
/// far timer.
pub fn life01_stop_before_run_forever_runs_one_iteration(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.call_later(Duration::from_secs(3600), t.rec("far"))
        .ctx("call_later")?;
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.call_soon(move || {
        t2.push("a");
        let _ = lp2.call_soon(t2.rec("b"));
    })
    .ctx("call_soon")?;
    lp.stop();
    lp.run_forever().ctx("run_forever")?;
    t.push(format!("pending={}", lp.stats().ready));
    t.expect(&["a", "pending=1"])
}

/// LIFE-01: the stop flag is reset on exit, so the next `run_forever` runs normally.
pub fn life01_run_forever_runs_again_after_stop(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.stop();
    lp.run_forever().ctx("first run_forever")?;
    t.push("first returned");
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.call_soon(move || {
        t2.push("x");
        let t3 = t2.clone();
        let lp3 = lp2.clone();
        let _ = lp2.call_soon(move || {
            t3.push("y");
            lp3.stop();
        });
    })
    .ctx("call_soon")?;
    lp.run_forever().ctx("second run_forever")?;
    t.expect(&["first returned", "x", "y"])
}

/// LIFE-02: `run_until_complete` returns the future's output.
pub fn life02_run_until_complete_returns_the_output(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let v = lp
        .run_until_complete(async {
            wasio::sleep(Duration::from_millis(1)).await;
            "forty-two"
        })
        .ctx("run_until_complete")?;
    t.push(v);
    let r: Result<u8, String> = lp
        .run_until_complete(async { Err("inner error".to_string()) })
        .ctx("run_until_complete")?;
    t.push(format!("{r:?}"));
    t.expect(&["forty-two", "Err(\"inner error\")"])
}

/// LIFE-02: a loop stopped before the future completed is an error; the task stays scheduled
/// and completes on a later run, but its end no longer stops the loop (asyncio removes the
/// done callback when `run_until_complete` exits).
pub fn life02_stopped_before_completion_is_an_error(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let (lp2, t2) = (lp.clone(), t.clone());
    let res = lp.run_until_complete(async move {
        lp2.stop();
        wasio::sleep(Duration::from_millis(2)).await;
        t2.push("completed");
        // Two iterations after completion: a stale stop would end the run between them.
        let (lp3, t3) = (lp2.clone(), t2.clone());
        let _ = lp2.call_soon(move || {
            t3.push("after 1");
            let (lp4, t4) = (lp3.clone(), t3.clone());
            let _ = lp3.call_soon(move || {
                t4.push("after 2");
                lp4.stop();
            });
        });
    });
    t.push(format!(
        "stopped={}",
        res.as_ref().is_err_and(|e| e.is_stopped())
    ));
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["stopped=true", "completed", "after 1", "after 2"])
}

/// Schedules `steps` callbacks in a chain, one per iteration, recording each; the last one
/// stops `lp`.
fn chain(lp: &wasio::EventLoop, t: &Transcript, step: usize, steps: usize) {
    let (lp2, t2) = (lp.clone(), t.clone());
    let _ = lp.call_soon(move || {
        t2.push(format!("step {step}"));
        if step == steps {
            lp2.stop();
        } else {
            chain(&lp2, &t2, step + 1, steps);
        }
    });
}

/// LIFE-02: a `run_until_complete` interrupted by a `Fatal` error leaves no stop armed: the
/// orphaned future finishing later stops neither a `run_forever` nor another
/// `run_until_complete`.
pub fn life02_interrupted_run_leaves_no_stale_stop(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    // The future is interrupted before it ends; it finishes during the next run_forever.
    lp.call_soon(|| Err(wasio::Fatal::new("interrupt")))
        .ctx("call_soon")?;
    let t2 = t.clone();
    let first = lp.run_until_complete(async move {
        wasio::yield_now().await;
        t2.push("orphan 1 done");
    });
    t.push(format!("fatal={}", first.is_err_and(|e| e.is_fatal())));
    chain(&lp, t, 1, 5);
    lp.run_forever().ctx("run_forever")?;
    // Again, with a later run_until_complete whose own future takes longer than the orphan.
    lp.call_soon(|| Err(wasio::Fatal::new("interrupt")))
        .ctx("call_soon")?;
    let t3 = t.clone();
    let second = lp.run_until_complete(async move {
        wasio::sleep(Duration::from_millis(5)).await;
        t3.push("orphan 2 done");
    });
    t.push(format!("fatal={}", second.is_err_and(|e| e.is_fatal())));
    let t4 = t.clone();
    let g = lp.run_until_complete(async move {
        wasio::sleep(Duration::from_millis(40)).await;
        t4.push("g done");
        "g"
    });
    t.push(format!("g returned {:?}", g.map_err(|e| e.to_string())));
    t.expect(&[
        "fatal=true",
        "step 1",
        "orphan 1 done",
        "step 2",
        "step 3",
        "step 4",
        "step 5",
        "fatal=true",
        "orphan 2 done",
        "g done",
        "g returned Ok(\"g\")",
    ])
}

/// LIFE-02: completion stops the loop through `call_soon`, so callbacks the future queued run
/// before `run_until_complete` returns.
pub fn life02_callbacks_queued_by_the_future_run_before_return(
    t: &Transcript,
) -> Result<(), String> {
    let lp = new_loop()?;
    let (lp2, t2) = (lp.clone(), t.clone());
    let v = lp
        .run_until_complete(async move {
            let _ = lp2.call_soon(t2.rec("queued by the future"));
            1
        })
        .ctx("run_until_complete")?;
    t.push(format!("returned {v}"));
    t.expect(&["queued by the future", "returned 1"])
}

/// LIFE-03: running a loop that is already running fails, also from inside one of its tasks.
pub fn life03_nested_run_is_an_error(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.run_until_complete(async move {
        let nested = lp2.run_until_complete(async {});
        t2.push(format!(
            "run_until_complete: {}",
            nested.as_ref().is_err_and(|e| e.is_already_running())
        ));
        let forever = lp2.run_forever();
        t2.push(format!(
            "run_forever: {}",
            forever.as_ref().is_err_and(|e| e.is_already_running())
        ));
        let once = lp2.run_once();
        t2.push(format!(
            "run_once: {}",
            once.as_ref().is_err_and(|e| e.is_already_running())
        ));
    })
    .ctx("run_until_complete")?;
    t.expect(&[
        "run_until_complete: true",
        "run_forever: true",
        "run_once: true",
    ])
}

/// LIFE-03: another loop cannot run while one runs on this thread.
pub fn life03_other_loop_cannot_run_inside_a_running_one(t: &Transcript) -> Result<(), String> {
    let outer = new_loop()?;
    let inner = new_loop()?;
    let t2 = t.clone();
    let inner2 = inner.clone();
    outer
        .run_until_complete(async move {
            let res = inner2.run_until_complete(async { 1 });
            t2.push(format!(
                "other running: {}",
                res.as_ref().is_err_and(|e| e.is_other_loop_running())
            ));
        })
        .ctx("outer run")?;
    let v = inner.run_until_complete(async { 2 }).ctx("inner run")?;
    t.push(format!("inner alone: {v}"));
    t.expect(&["other running: true", "inner alone: 2"])
}

/// LIFE-03: a `run_until_complete` refused because another loop runs leaves nothing behind:
/// its future never runs later.
pub fn life03_refused_run_does_not_queue_the_future(t: &Transcript) -> Result<(), String> {
    let outer = new_loop()?;
    let inner = new_loop()?;
    let ran = std::rc::Rc::new(std::cell::Cell::new(false));
    let (inner2, ran2, t2) = (inner.clone(), ran.clone(), t.clone());
    outer
        .run_until_complete(async move {
            let r = ran2.clone();
            let res = inner2.run_until_complete(async move { r.set(true) });
            t2.push(format!(
                "refused={}",
                res.as_ref().is_err_and(|e| e.is_other_loop_running())
            ));
        })
        .ctx("outer run")?;
    inner
        .run_until_complete(wasio::yield_now())
        .ctx("inner run")?;
    t.push(format!(
        "inner tasks={} refused future ran={}",
        inner.stats().tasks,
        ran.get()
    ));
    t.expect(&["refused=true", "inner tasks=0 refused future ran=false"])
}

/// LIFE-03: `is_running()` and the running loop seen from callbacks.
pub fn life03_is_running_and_current_inside_callbacks(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    t.push(format!(
        "before: running={} current={}",
        lp.is_running(),
        wasio::try_current().is_ok()
    ));
    ensure!(
        wasio::try_current().is_err_and(|e| e.is_no_running_loop()),
        "try_current outside a loop must be a no-running-loop error"
    );
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.call_soon(move || {
        let same = wasio::try_current().is_ok_and(|c| c == lp2);
        t2.push(format!("inside: running={} same={same}", lp2.is_running()));
        lp2.stop();
    })
    .ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.push(format!("after: running={}", lp.is_running()));
    t.expect(&[
        "before: running=false current=false",
        "inside: running=true same=true",
        "after: running=false",
    ])
}

/// LIFE-04: closing a running loop fails and leaves it running.
pub fn life04_close_of_running_loop_fails(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let (lp2, t2) = (lp.clone(), t.clone());
    lp.call_soon(move || {
        let res = lp2.close();
        t2.push(format!(
            "close while running: {}",
            res.as_ref().is_err_and(|e| e.is_close_running())
        ));
        t2.push(format!("closed={}", lp2.is_closed()));
        lp2.stop();
    })
    .ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    lp.close().ctx("close")?;
    t.push(format!("closed={}", lp.is_closed()));
    t.expect(&["close while running: true", "closed=false", "closed=true"])
}

/// LIFE-04: `close()` is idempotent and drops pending callbacks, timers and tasks unrun.
pub fn life04_close_is_idempotent_and_drops_pending_work(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    record_reports(&lp, t, &["task"]);
    let log = Transcript::new();
    let f1 = DropFlag(log.clone(), "callback");
    let l1 = log.clone();
    lp.call_soon(move || {
        let _f = f1;
        l1.push("callback ran");
    })
    .ctx("call_soon")?;
    let f2 = DropFlag(log.clone(), "timer");
    let l2 = log.clone();
    lp.call_later(Duration::from_secs(3600), move || {
        let _f = f2;
        l2.push("timer ran");
    })
    .ctx("call_later")?;
    let f3 = DropFlag(log.clone(), "task");
    let l3 = log.clone();
    lp.create_named_task("never-started", async move {
        let _f = f3;
        l3.push("task ran");
    })
    .ctx("create_task")?
    .detach();
    lp.close().ctx("close")?;
    lp.close().ctx("second close")?;
    let mut drops = log.events();
    drops.sort();
    for d in drops {
        t.push(d);
    }
    let s = lp.stats();
    ensure_eq!(
        (s.ready, s.scheduled_timers, s.tasks),
        (0, 0, 0),
        "queues after close"
    );
    t.expect(&[
        "report:Task was destroyed but it is pending! task=never-started",
        "dropped:callback",
        "dropped:task",
        "dropped:timer",
    ])
}

/// LIFE-05: every scheduling and running call fails on a closed loop.
pub fn life05_closed_loop_rejects_every_scheduling_call(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let remote = lp.remote();
    lp.close().ctx("close")?;
    let checks: [(&str, Result<(), wasio::Error>); 10] = [
        ("call_soon", lp.call_soon(|| {}).map(drop)),
        (
            "call_later",
            lp.call_later(Duration::from_secs(1), || {}).map(drop),
        ),
        ("call_at", lp.call_at(lp.time(), || {}).map(drop)),
        (
            "call_soon_threadsafe",
            lp.call_soon_threadsafe(|| {}).map(drop),
        ),
        (
            "remote.call_soon_threadsafe",
            remote.call_soon_threadsafe(|| {}).map(drop),
        ),
        ("create_task", lp.create_task(async {}).map(drop)),
        (
            "create_named_task",
            lp.create_named_task("x", async {}).map(drop),
        ),
        ("run_forever", lp.run_forever()),
        ("run_until_complete", lp.run_until_complete(async {})),
        ("run_once", lp.run_once()),
    ];
    for (name, res) in checks {
        t.push(format!(
            "{name}: {}",
            if res.as_ref().is_err_and(|e| e.is_closed()) {
                "closed"
            } else {
                "NOT REJECTED"
            }
        ));
    }
    ensure!(remote.is_closed(), "remote must see the loop closed");
    t.expect(&[
        "call_soon: closed",
        "call_later: closed",
        "call_at: closed",
        "call_soon_threadsafe: closed",
        "remote.call_soon_threadsafe: closed",
        "create_task: closed",
        "create_named_task: closed",
        "run_forever: closed",
        "run_until_complete: closed",
        "run_once: closed",
    ])
}

/// `wasio::run` (asyncio.run): after the main future, leftover tasks are cancelled and run to
/// their end before the loop closes, so nothing is reported as destroyed while pending.
pub fn life_run_cancels_leftover_tasks_before_closing(t: &Transcript) -> Result<(), String> {
    let t2 = t.clone();
    let v = wasio::run(async move {
        let lp = wasio::current();
        let t3 = t2.clone();
        lp.set_exception_handler(move |_, ctx| t3.push(format!("report:{}", ctx.message())));
        let t4 = t2.clone();
        wasio::spawn(async move {
            let _f = DropFlag(t4.clone(), "catcher");
            let r = wasio::task::catch_cancel(wasio::sleep(Duration::from_secs(3600))).await;
            t4.push(format!("catcher cancelled={}", r.is_err()));
        })
        .detach();
        let t5 = t2.clone();
        wasio::spawn(async move {
            let _f = DropFlag(t5, "sleeper");
            wasio::sleep(Duration::from_secs(3600)).await;
        })
        .detach();
        wasio::yield_now().await;
        1
    })
    .ctx("wasio::run")?;
    t.push(format!("run returned {v}"));
    t.expect(&[
        "catcher cancelled=true",
        "dropped:catcher",
        "dropped:sleeper",
        "run returned 1",
    ])
}
