//! TSK-01..TSK-05: tasks, cancellation, names, reports.

use std::future::Future;
use std::time::Duration;

use wasio::EventLoop;

use crate::{Context, Transcript, ensure, ensure_eq, new_loop, stopper};

/// Records `dropped:<name>` when dropped: shows when a task's future is destroyed.
pub(crate) struct DropFlag(pub(crate) Transcript, pub(crate) &'static str);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.push(format!("dropped:{}", self.1));
    }
}

/// Records every exception-handler call as `report:<message>[ key=value]`.
pub(crate) fn record_reports(lp: &EventLoop, t: &Transcript, keys: &'static [&'static str]) {
    let t = t.clone();
    lp.set_exception_handler(move |_, ctx| {
        let mut line = format!("report:{}", ctx.message());
        for k in keys {
            if let Some(v) = ctx.get(k) {
                line.push_str(&format!(" {k}={v}"));
            }
        }
        t.push(line);
    });
}

/// TSK-01: `call_soon(a); create_task(t); call_soon(b)` runs `a`, `t`'s first step, then `b`.
pub fn tsk01_first_step_is_fifo_with_call_soon(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.call_soon(t.rec("a")).ctx("call_soon")?;
    let t2 = t.clone();
    let task = lp
        .create_task(async move { t2.push("task") })
        .ctx("create_task")?;
    lp.call_soon(t.rec("b")).ctx("call_soon")?;
    t.push("created");
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    ensure!(task.is_finished(), "task did not finish");
    t.expect(&["created", "a", "task", "b"])
}

/// TSK-02: a task awaiting another resumes in a later callback, after what the finishing task
/// queued, never inline.
pub fn tsk02_awaiter_resumes_in_a_later_callback(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let (t2, lp2) = (t.clone(), lp.clone());
    let b = lp
        .create_task(async move {
            wasio::yield_now().await;
            t2.push("b-done");
            let _ = lp2.call_soon(t2.rec("c"));
            7
        })
        .ctx("create_task b")?;
    let t3 = t.clone();
    let a = lp
        .create_task(async move {
            t3.push("a-waits");
            let v = b.await;
            t3.push(format!("a-resumed {v:?}"));
        })
        .ctx("create_task a")?;
    lp.run_until_complete(a)
        .ctx("run_until_complete")?
        .ctx("task a")?;
    t.expect(&["a-waits", "b-done", "c", "a-resumed Ok(7)"])
}

/// TSK-03: `cancel()` on a finished task returns false.
pub fn tsk03_cancel_returns_false_once_done(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let task = lp.create_task(async { 1 }).ctx("create_task")?;
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    ensure!(task.is_finished(), "task not finished");
    t.push(format!("cancel={}", task.cancel()));
    t.push(format!("cancelling={}", task.cancelling()));
    let v = lp.run_until_complete(task).ctx("run_until_complete")?;
    t.push(format!("value={v:?}"));
    t.expect(&["cancel=false", "cancelling=0", "value=Ok(1)"])
}

/// TSK-03: the request is delivered when the task next runs: its future is dropped at the
/// `.await` it was suspended in, and the awaiting side gets a cancelled error.
pub fn tsk03_cancel_is_delivered_at_the_next_await(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    let task = lp
        .create_task(async move {
            let _flag = DropFlag(t2.clone(), "body");
            t2.push("start");
            wasio::sleep(Duration::from_secs(3600)).await;
            t2.push("never");
        })
        .ctx("create_task")?;
    lp.run_once().ctx("run_once")?;
    t.push(format!("cancel={}", task.cancel()));
    let res = lp.run_until_complete(task).ctx("run_until_complete")?;
    match res {
        Err(e) => t.push(format!("join cancelled={}", e.is_cancelled())),
        Ok(()) => t.push("join ok"),
    }
    t.expect(&[
        "start",
        "cancel=true",
        "dropped:body",
        "join cancelled=true",
    ])
}

/// TSK-03: a task that catches the cancellation and returns a value completes normally.
pub fn tsk03_task_can_catch_cancellation_and_return(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    let task = lp
        .create_task(async move {
            let r = wasio::task::catch_cancel(wasio::sleep(Duration::from_secs(3600))).await;
            t2.push(format!("caught={}", r.is_err()));
            wasio::yield_now().await;
            t2.push("cleanup done");
            42
        })
        .ctx("create_task")?;
    lp.run_once().ctx("run_once")?;
    task.cancel();
    let t3 = t.clone();
    let res = lp
        .run_until_complete(async move {
            let cancelling = task.cancelling();
            let out = task.await;
            t3.push(format!("cancelling={cancelling}"));
            out
        })
        .ctx("run_until_complete")?;
    t.push(format!("result={res:?}"));
    t.expect(&[
        "caught=true",
        "cleanup done",
        "cancelling=1",
        "result=Ok(42)",
    ])
}

/// TSK-03: two `catch_cancel` scopes polled side by side (as `join!` does) may end in any
/// order; a request goes to the one still active, and once none is, the task itself ends.
pub fn tsk03_sibling_catch_scopes_end_in_any_order(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    let task = lp
        .create_task(async move {
            let mut a = std::pin::pin!(wasio::task::catch_cancel(wasio::yield_now()));
            let mut b = std::pin::pin!(wasio::task::catch_cancel(wasio::sleep(
                Duration::from_secs(3600)
            )));
            let (mut ra, mut rb) = (None, None);
            std::future::poll_fn(|cx| {
                if ra.is_none()
                    && let std::task::Poll::Ready(r) = a.as_mut().poll(cx)
                {
                    ra = Some(r.is_ok());
                }
                if rb.is_none()
                    && let std::task::Poll::Ready(r) = b.as_mut().poll(cx)
                {
                    rb = Some(r.is_err());
                }
                if ra.is_some() && rb.is_some() {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            t2.push(format!("a finished={:?} b cancelled={:?}", ra, rb));
            // No scope left: the next request ends the task at its next await.
            wasio::sleep(Duration::from_secs(3600)).await;
            t2.push("never");
        })
        .ctx("create_task")?;
    // Let `a` finish (it yields once) while `b` keeps sleeping.
    for _ in 0..3 {
        lp.call_soon(|| {}).ctx("call_soon")?;
        lp.run_once().ctx("run_once")?;
    }
    t.push(format!("first cancel={}", task.cancel()));
    for _ in 0..3 {
        lp.call_soon(|| {}).ctx("call_soon")?;
        lp.run_once().ctx("run_once")?;
    }
    t.push(format!("second cancel={}", task.cancel()));
    let res = lp.run_until_complete(task).ctx("run_until_complete")?;
    t.push(format!(
        "task cancelled={}",
        res.as_ref().is_err_and(|e| e.is_cancelled())
    ));
    t.expect(&[
        "first cancel=true",
        "a finished=Some(true) b cancelled=Some(true)",
        "second cancel=true",
        "task cancelled=true",
    ])
}

/// TSK-03: `is_cancelled()` stays false while the request is pending and becomes true only when
/// the task ended cancelled.
pub fn tsk03_cancelled_stays_false_until_the_task_ends(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let task = lp
        .create_task(wasio::sleep(Duration::from_secs(3600)))
        .ctx("create_task")?;
    lp.run_once().ctx("run_once")?;
    task.cancel();
    task.cancel();
    t.push(format!(
        "requested: cancelled={} finished={} cancelling={}",
        task.is_cancelled(),
        task.is_finished(),
        task.cancelling()
    ));
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    t.push(format!(
        "ended: cancelled={} finished={}",
        task.is_cancelled(),
        task.is_finished()
    ));
    t.expect(&[
        "requested: cancelled=false finished=false cancelling=2",
        "ended: cancelled=true finished=true",
    ])
}

/// TSK-03: a task cancelled before its first step never runs its body.
pub fn tsk03_cancel_before_first_step_skips_the_body(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    let task = lp
        .create_task(async move { t2.push("body") })
        .ctx("create_task")?;
    t.push(format!("cancel={}", task.cancel()));
    let res = lp.run_until_complete(task).ctx("run_until_complete")?;
    t.push(format!(
        "cancelled={}",
        res.as_ref().is_err_and(|e| e.is_cancelled())
    ));
    t.expect(&["cancel=true", "cancelled=true"])
}

/// TSK-04: `create_task` on a closed loop fails and drops the future without running it.
pub fn tsk04_create_task_on_closed_loop_drops_the_future(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.close().ctx("close")?;
    let (t2, flag) = (t.clone(), DropFlag(t.clone(), "future"));
    let res = lp.create_task(async move {
        let _flag = flag;
        t2.push("ran");
    });
    t.push(format!(
        "closed={}",
        res.as_ref().is_err_and(|e| e.is_closed())
    ));
    t.expect(&["dropped:future", "closed=true"])
}

/// TSK-04: default names are `Task-<n>`; a given name is kept and visible inside the task.
pub fn tsk04_default_and_custom_task_names(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let anon = lp.create_task(async {}).ctx("create_task")?;
    let name = anon.name();
    let n = name.strip_prefix("Task-").unwrap_or("");
    ensure!(
        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()),
        "default name {name:?} is not Task-<n>"
    );
    let named = lp
        .create_named_task("worker", async {
            let inner = wasio::spawn_named("inner", async { wasio::task::current_name() });
            let own = wasio::task::current_name();
            (own, inner.await.ok().flatten())
        })
        .ctx("create_named_task")?;
    t.push(format!("name={}", named.name()));
    let (own, inner) = lp
        .run_until_complete(named)
        .ctx("run_until_complete")?
        .ctx("named task")?;
    t.push(format!("inside={own:?} inner={inner:?}"));
    ensure_eq!(
        wasio::task::current_name(),
        None,
        "no task outside the loop"
    );
    t.expect(&[
        "name=worker",
        "inside=Some(\"worker\") inner=Some(\"inner\")",
    ])
}

/// TSK-05: a task destroyed while pending (detached, waiting on nothing, loop closed) is
/// reported with its name.
pub fn tsk05_destroyed_pending_task_is_reported(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    record_reports(&lp, t, &["task"]);
    let t2 = t.clone();
    lp.create_named_task("stuck", async move {
        let _flag = DropFlag(t2, "stuck");
        std::future::pending::<()>().await;
    })
    .ctx("create_named_task")?
    .detach();
    lp.call_soon(|| {}).ctx("call_soon")?;
    lp.run_once().ctx("run_once")?;
    t.push("closing");
    lp.close().ctx("close")?;
    t.expect(&[
        "closing",
        "dropped:stuck",
        "report:Task was destroyed but it is pending! task=stuck",
    ])
}

/// TSK-05: the task `run_until_complete` wraps is not reported when the loop stopped before it
/// finished.
pub fn tsk05_run_until_complete_task_is_not_reported(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    record_reports(&lp, t, &["task"]);
    let lp2 = lp.clone();
    let res = lp.run_until_complete(async move {
        lp2.stop();
        std::future::pending::<()>().await;
    });
    t.push(format!(
        "stopped={}",
        res.as_ref().is_err_and(|e| e.is_stopped())
    ));
    lp.close().ctx("close")?;
    t.push("closed");
    t.expect(&["stopped=true", "closed"])
}
