//! `TaskGroup` with asyncio's semantics: the first failure cancels the siblings, `wait` awaits
//! every child and returns every failure (or `Ok`), a cancelled waiter cancels and awaits the
//! children.

use std::time::Duration;

use wasio::task::{TaskGroup, catch_cancel};

use crate::cases::tasks::DropFlag;
use crate::{Context, Transcript, block, within};

/// Long enough never to elapse in a case.
const FOREVER: Duration = Duration::from_secs(3600);
/// Bound on any wait a case expects to end.
const LIMIT: Duration = Duration::from_secs(30);

/// Yields `n` times (lets other tasks run `n` iterations).
async fn yields(n: usize) {
    for _ in 0..n {
        wasio::yield_now().await;
    }
}

/// The first failure cancels the siblings still running; `wait` returns only once every child
/// has ended (their clean-up included), then with the failure; spawning is refused meanwhile.
pub fn tg_first_failure_cancels_siblings_and_wait_awaits_all(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let group = TaskGroup::<String>::new();
        let t1 = t.clone();
        let slow = group
            .spawn(async move {
                let _flag = DropFlag(t1.clone(), "slow");
                if catch_cancel(wasio::sleep(FOREVER)).await.is_err() {
                    t1.push("slow: cancelled, cleaning up");
                    yields(3).await;
                    t1.push("slow: clean-up done");
                }
                Ok(())
            })
            .ctx("spawn slow")?;
        let t2 = t.clone();
        group
            .spawn(async move {
                yields(1).await;
                t2.push("failing: returns Err");
                Err::<(), _>("boom".to_string())
            })
            .ctx("spawn failing")?;
        let t3 = t.clone();
        let late = group
            .spawn(async move {
                let _flag = DropFlag(t3, "late");
                wasio::sleep(FOREVER).await;
                Ok(())
            })
            .ctx("spawn late")?;
        yields(2).await;
        let refused = group.spawn(async { Ok(()) });
        t.push(format!(
            "spawn after the failure refused={}",
            refused.as_ref().is_err_and(|e| e.is_task_group_closed())
        ));
        let res = within(LIMIT, "group wait", group.wait()).await?;
        match res {
            Ok(()) => t.push("wait: Ok"),
            Err(e) => t.push(format!("wait: {e}")),
        }
        t.push(format!(
            "slow finished={} late cancelled={}",
            slow.is_finished(),
            late.is_cancelled()
        ));
        Ok(())
    })?;
    t.expect(&[
        "failing: returns Err",
        "spawn after the failure refused=true",
        "slow: cancelled, cleaning up",
        "dropped:late",
        "slow: clean-up done",
        "dropped:slow",
        "wait: unhandled errors in a TaskGroup (1 sub-exception); boom",
        "slow finished=true late cancelled=true",
    ])
}

/// Every failure comes back, in the order it happened: a child that catches the group's
/// cancellation and fails is a second error; a child simply cancelled is not an error.
pub fn tg_every_failure_is_returned_in_order(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let group = TaskGroup::<&'static str>::new();
        group
            .spawn(async {
                yields(1).await;
                Err::<(), _>("first")
            })
            .ctx("spawn first")?;
        group
            .spawn(async {
                if catch_cancel(wasio::sleep(FOREVER)).await.is_err() {
                    yields(1).await;
                    return Err("second, while cancelled");
                }
                Ok(())
            })
            .ctx("spawn second")?;
        let quiet = group
            .spawn(async {
                wasio::sleep(FOREVER).await;
                Ok(())
            })
            .ctx("spawn quiet")?;
        let err = match within(LIMIT, "group wait", group.wait()).await? {
            Ok(()) => return Err("wait returned Ok despite failures".into()),
            Err(e) => e,
        };
        t.push(format!("failures={}", err.failures().len()));
        t.push(format!("errors={:?}", err.errors().collect::<Vec<_>>()));
        t.push(format!("quiet cancelled={}", quiet.is_cancelled()));
        t.push(format!("into_errors={:?}", err.into_errors()));
        Ok(())
    })?;
    t.expect(&[
        "failures=2",
        "errors=[\"first\", \"second, while cancelled\"]",
        "quiet cancelled=true",
        "into_errors=[\"first\", \"second, while cancelled\"]",
    ])
}

/// When every child succeeds, `wait` returns `Ok` and each handle gives its child's value; a
/// child cancelled on its own is no failure; after `wait` the group is finished.
pub fn tg_values_when_all_succeed(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let group = TaskGroup::<String>::new();
        let mut handles = Vec::new();
        for n in [3usize, 1, 2] {
            let t2 = t.clone();
            let h = group
                .spawn_named(&format!("child-{n}"), async move {
                    yields(n).await;
                    t2.push(format!("child-{n} done"));
                    Ok(n * 10)
                })
                .ctx("spawn")?;
            handles.push(h);
        }
        let cancelled = group
            .spawn(async {
                wasio::sleep(FOREVER).await;
                Ok(0)
            })
            .ctx("spawn cancelled")?;
        t.push(format!("running={}", group.len()));
        cancelled.cancel();
        let res = within(LIMIT, "group wait", group.wait()).await?;
        t.push(format!("wait ok={}", res.is_ok()));
        for h in handles {
            let name = h.name();
            let v = h.await.ctx("child")?;
            t.push(format!("{name}={v}"));
        }
        let c = cancelled.await;
        t.push(format!(
            "cancelled child cancelled={}",
            c.is_err_and(|e| e.is_cancelled())
        ));
        Ok(())
    })?;
    t.expect(&[
        "running=4",
        "child-1 done",
        "child-2 done",
        "child-3 done",
        "wait ok=true",
        "child-3=30",
        "child-1=10",
        "child-2=20",
        "cancelled child cancelled=true",
    ])
}

/// Cancelling the task that awaits `wait` cancels the children, waits for their clean-up, then
/// ends the task cancelled; with a `catch_cancel` scope around `wait`, the scope gets it.
pub fn tg_cancelling_the_waiter_cancels_and_awaits_children(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        for caught in [false, true] {
            let t1 = t.clone();
            let parent = wasio::spawn(async move {
                let group = TaskGroup::<String>::new();
                for name in ["a", "b"] {
                    let t2 = t1.clone();
                    group
                        .spawn(async move {
                            if catch_cancel(wasio::sleep(FOREVER)).await.is_err() {
                                yields(2).await;
                                t2.push(format!("{name}: cleaned up"));
                            }
                            Ok(())
                        })
                        .map_err(|e| e.to_string())?;
                }
                if caught {
                    let r = catch_cancel(group.wait()).await;
                    t1.push(format!("parent: scope got cancelled={}", r.is_err()));
                    Ok::<_, String>("returned after catching")
                } else {
                    let _ = group.wait().await;
                    t1.push("parent: never here");
                    Ok("never")
                }
            });
            yields(2).await;
            t.push(format!("cancel parent (caught={caught})"));
            parent.cancel();
            let out = within(LIMIT, "parent", parent).await?;
            match out {
                Ok(v) => t.push(format!("parent: {v:?}")),
                Err(e) => t.push(format!("parent: cancelled={}", e.is_cancelled())),
            }
        }
        Ok(())
    })?;
    t.expect(&[
        "cancel parent (caught=false)",
        "a: cleaned up",
        "b: cleaned up",
        "parent: cancelled=true",
        "cancel parent (caught=true)",
        "a: cleaned up",
        "b: cleaned up",
        "parent: scope got cancelled=true",
        "parent: Ok(\"returned after catching\")",
    ])
}

/// `cancel()` cancels the children without making `wait` fail; dropping a group without
/// waiting cancels its children; a group needs a running loop only to spawn.
pub fn tg_cancel_and_drop_end_the_children(t: &Transcript) -> Result<(), String> {
    let outside = TaskGroup::<String>::new().spawn(async { Ok(()) });
    t.push(format!(
        "spawn outside a loop: no running loop={}",
        outside.is_err_and(|e| e.is_no_running_loop())
    ));
    let tc = t.clone();
    block(async move {
        let t = tc;
        let group = TaskGroup::<String>::new();
        let child = group
            .spawn(async {
                wasio::sleep(FOREVER).await;
                Ok(())
            })
            .ctx("spawn")?;
        group.cancel();
        let refused = group.spawn(async { Ok(()) });
        t.push(format!(
            "spawn after cancel refused={}",
            refused.is_err_and(|e| e.is_task_group_closed())
        ));
        let res = within(LIMIT, "group wait", group.wait()).await?;
        t.push(format!(
            "wait ok={} child cancelled={}",
            res.is_ok(),
            child.is_cancelled()
        ));

        let dropped = TaskGroup::<String>::new();
        let t2 = t.clone();
        let orphan = dropped
            .spawn(async move {
                let _flag = DropFlag(t2, "orphan");
                wasio::sleep(FOREVER).await;
                Ok(())
            })
            .ctx("spawn orphan")?;
        yields(1).await;
        drop(dropped);
        let out = within(LIMIT, "orphan", orphan).await?;
        t.push(format!(
            "orphan cancelled={}",
            out.is_err_and(|e| e.is_cancelled())
        ));
        Ok(())
    })?;
    t.expect(&[
        "spawn outside a loop: no running loop=true",
        "spawn after cancel refused=true",
        "wait ok=true child cancelled=true",
        "dropped:orphan",
        "orphan cancelled=true",
    ])
}
