//! asyncio's `gather`, `shield` and `wait_for`: `wasio::gather` / `try_gather`, `shield`,
//! `timeout` (plain futures) and `JoinHandle::wait_for` (tasks).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use wasio::task::catch_cancel;

use crate::cases::tasks::DropFlag;
use crate::{Context, Transcript, block, within};

const FOREVER: Duration = Duration::from_secs(3600);
const LIMIT: Duration = Duration::from_secs(30);

async fn yields(n: usize) {
    for _ in 0..n {
        wasio::yield_now().await;
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

/// `gather` returns the outputs in input order, whatever order the futures finish in; an
/// empty input gives an empty output.
pub fn gather_returns_outputs_in_input_order(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let futs = [3usize, 1, 2].map(|n| {
            let t = t.clone();
            async move {
                yields(n).await;
                t.push(format!("finished {n}"));
                n
            }
        });
        let out = within(LIMIT, "gather", wasio::gather(futs)).await?;
        t.push(format!("outputs={out:?}"));
        let none: Vec<Boxed<u8>> = Vec::new();
        let empty = within(LIMIT, "empty gather", wasio::gather(none)).await?;
        t.push(format!("empty={empty:?}"));
        Ok(())
    })?;
    t.expect(&[
        "finished 1",
        "finished 2",
        "finished 3",
        "outputs=[3, 1, 2]",
        "empty=[]",
    ])
}

/// The futures of a gather run concurrently: the first waits for something only the second
/// does (sequential polling would never finish); dropping a gather drops (cancels) its
/// futures; `try_gather` returns the first `Err` and drops the rest at once.
pub fn gather_runs_futures_concurrently(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let flag = Rc::new(Cell::new(false));
        let (f1, f2) = (flag.clone(), flag.clone());
        let waiter: Boxed<&str> = Box::pin(async move {
            while !f1.get() {
                wasio::yield_now().await;
            }
            "saw the flag"
        });
        let setter: Boxed<&str> = Box::pin(async move {
            yields(2).await;
            f2.set(true);
            "set the flag"
        });
        let out = within(LIMIT, "gather", wasio::gather([waiter, setter])).await?;
        t.push(format!("outputs={out:?}"));

        // Dropped at a timeout: both futures go.
        let ta = t.clone();
        let tb = t.clone();
        let a: Boxed<()> = Box::pin(async move {
            let _f = DropFlag(ta, "a");
            wasio::sleep(FOREVER).await;
        });
        let b: Boxed<()> = Box::pin(async move {
            let _f = DropFlag(tb, "b");
            wasio::sleep(FOREVER).await;
        });
        let timed = wasio::timeout(Duration::from_millis(1), wasio::gather([a, b])).await;
        t.push(format!("gather timed out={}", timed.is_err()));

        // try_gather: the first Err wins and the others are dropped before it returns.
        let tc2 = t.clone();
        let slow: Boxed<Result<u32, String>> = Box::pin(async move {
            let _f = DropFlag(tc2, "slow");
            wasio::sleep(FOREVER).await;
            Ok(1)
        });
        let failing: Boxed<Result<u32, String>> = Box::pin(async {
            yields(1).await;
            Err("failed".to_string())
        });
        let ok: Boxed<Result<u32, String>> = Box::pin(async { Ok(3) });
        let res = within(LIMIT, "try_gather", wasio::try_gather([slow, failing, ok])).await?;
        t.push(format!("try_gather={res:?}"));
        let all_ok: [Boxed<Result<u32, String>>; 2] =
            [Box::pin(async { Ok(1) }), Box::pin(async { Ok(2) })];
        let res = within(LIMIT, "try_gather", wasio::try_gather(all_ok)).await?;
        t.push(format!("try_gather all ok={res:?}"));
        Ok(())
    })?;
    t.expect(&[
        "outputs=[\"saw the flag\", \"set the flag\"]",
        "dropped:a",
        "dropped:b",
        "gather timed out=true",
        "dropped:slow",
        "try_gather=Err(\"failed\")",
        "try_gather all ok=Ok([1, 2])",
    ])
}

/// `shield`: cancelling the awaiting task cancels the awaiter (it can catch it), while the
/// shielded work runs on to completion.
pub fn shield_awaiter_cancelled_inner_completes(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let done = Rc::new(Cell::new(false));
        let (t1, d1) = (t.clone(), done.clone());
        let awaiter = wasio::spawn(async move {
            let t2 = t1.clone();
            let shielded = wasio::shield(async move {
                yields(3).await;
                t2.push("inner: finished");
                d1.set(true);
                7
            });
            let r = catch_cancel(shielded).await;
            t1.push(format!("awaiter: cancelled={}", r.is_err()));
            "awaiter returned"
        });
        yields(1).await;
        t.push("cancel the awaiter");
        awaiter.cancel();
        let out = within(LIMIT, "awaiter", awaiter).await?.ctx("awaiter")?;
        t.push(format!("awaiter: {out}"));
        within(LIMIT, "shielded work", async {
            while !done.get() {
                wasio::yield_now().await;
            }
        })
        .await?;
        // Without a catch scope, the awaiter ends cancelled; the shielded value is still there.
        let inner = wasio::shield(async { 9 }).into_handle();
        let v = within(LIMIT, "shield handle", inner).await?.ctx("inner")?;
        t.push(format!("shield handle value={v}"));
        Ok(())
    })?;
    t.expect(&[
        "cancel the awaiter",
        "awaiter: cancelled=true",
        "awaiter: awaiter returned",
        "inner: finished",
        "shield handle value=9",
    ])
}

/// `wait_for`: `timeout` cancels a plain future (drops it) and only detaches a task, which
/// runs on; `JoinHandle::wait_for` cancels the task and waits for its clean-up before
/// returning `Elapsed`; a task that catches the cancellation and returns a value gives it.
pub fn wait_for_cancels_futures_and_tasks_on_timeout(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let t1 = t.clone();
        let plain = async move {
            let _f = DropFlag(t1, "plain future");
            wasio::sleep(FOREVER).await;
        };
        let r = wasio::timeout(Duration::from_millis(1), plain).await;
        t.push(format!("timeout on a future elapsed={}", r.is_err()));

        // A timeout around a JoinHandle drops the handle, which detaches the task: it runs on.
        let ran_on = Rc::new(Cell::new(false));
        let r2 = ran_on.clone();
        let task = wasio::spawn(async move {
            yields(10).await;
            r2.set(true);
        });
        let r = wasio::timeout(Duration::ZERO, task).await;
        t.push(format!(
            "timeout on a task elapsed={} task finished={}",
            r.is_err(),
            ran_on.get()
        ));
        within(LIMIT, "detached task", async {
            while !ran_on.get() {
                wasio::yield_now().await;
            }
        })
        .await?;
        t.push("detached task ran on to its end");

        let t2 = t.clone();
        let task = wasio::spawn(async move {
            if let Err(c) = catch_cancel(wasio::sleep(FOREVER)).await {
                yields(2).await;
                t2.push("task: cleaned up after the cancel");
                c.propagate().await;
            }
            "never"
        });
        let r = within(LIMIT, "wait_for", task.wait_for(Duration::from_millis(1))).await?;
        t.push(format!("wait_for elapsed={}", r.is_err()));

        let stubborn = wasio::spawn(async {
            match catch_cancel(wasio::sleep(FOREVER)).await {
                Ok(()) => "slept",
                Err(_) => "caught, returned a value",
            }
        });
        let r = within(
            LIMIT,
            "wait_for",
            stubborn.wait_for(Duration::from_millis(1)),
        )
        .await?;
        t.push(format!("wait_for on a task that catches: {r:?}"));

        let quick = wasio::spawn(async { 5 });
        yields(1).await;
        let r = within(LIMIT, "wait_for", quick.wait_for(Duration::ZERO)).await?;
        t.push(format!("finished task with a zero limit: {r:?}"));
        Ok(())
    })?;
    t.expect(&[
        "dropped:plain future",
        "timeout on a future elapsed=true",
        "timeout on a task elapsed=true task finished=false",
        "detached task ran on to its end",
        "task: cleaned up after the cancel",
        "wait_for elapsed=true",
        "wait_for on a task that catches: Ok(Ok(\"caught, returned a value\"))",
        "finished task with a zero limit: Ok(Ok(5))",
    ])
}
