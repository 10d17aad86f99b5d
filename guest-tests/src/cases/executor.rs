//! EXE-01..EXE-03: `run_in_executor`, the default executor and its shutdown.

use std::time::Duration;

use crate::{Context, Transcript, ensure, new_loop};

/// EXE-01: `run_in_executor` completes its future with the function's value (natively on a
/// pool thread, on WASI on the loop); a dropped future leaves the loop working; a closed loop
/// refuses work.
pub fn exe01_run_in_executor_returns_the_value(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let lp2 = lp.clone();
    let t2 = t.clone();
    lp.run_until_complete(async move {
        let a = lp2
            .run_in_executor(|| (1..=10).sum::<u32>())
            .ctx("submit a")?;
        let b = lp2
            .run_in_executor(|| String::from("from the executor"))
            .ctx("submit b")?;
        t2.push(format!("b={}", b.await.ctx("b")?));
        t2.push(format!("a={}", a.await.ctx("a")?));
        // A dropped future: the function still runs, its result is dropped, nothing breaks.
        drop(lp2.run_in_executor(|| vec![0u8; 1024]).ctx("submit c")?);
        let d = wasio::run_in_executor(|| 7).ctx("free function")?;
        t2.push(format!("d={}", d.await.ctx("d")?));
        Ok::<_, String>(())
    })
    .ctx("run_until_complete")??;
    lp.close().ctx("close")?;
    let closed = lp.run_in_executor(|| ()).err();
    t.push(format!(
        "closed loop refuses: {}",
        closed.is_some_and(|e| e.is_closed())
    ));
    t.expect(&[
        "b=from the executor",
        "a=55",
        "d=7",
        "closed loop refuses: true",
    ])
}

/// EXE-03: after `shutdown_default_executor` the default executor is refused with a clear
/// error, an explicit pool still works, and shutting down twice (or with nothing created) is
/// fine. `close()` shuts the default executor down too.
pub fn exe03_shutdown_default_executor_rules(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let lp2 = lp.clone();
    let t2 = t.clone();
    lp.run_until_complete(async move {
        // Nothing created yet: still marks it shut down.
        lp2.shutdown_default_executor(Some(Duration::from_secs(30)))
            .await;
        let refused = lp2.run_in_executor(|| 1).err();
        t2.push(format!(
            "default refused: {} ({})",
            refused.as_ref().is_some_and(|e| e.is_executor_shutdown()),
            refused.map(|e| e.to_string()).unwrap_or_default()
        ));
        let pool = wasio::ThreadPool::new(2).ctx("pool")?;
        let v = lp2.run_in_pool(&pool, || 6 * 7).ctx("explicit pool")?;
        t2.push(format!("explicit pool={}", v.await.ctx("v")?));
        pool.shutdown(true);
        let after = lp2.run_in_pool(&pool, || 0).err();
        t2.push(format!(
            "shut-down pool refused: {}",
            after.is_some_and(|e| e.is_executor_shutdown())
        ));
        lp2.shutdown_default_executor(None).await;
        Ok::<_, String>(())
    })
    .ctx("run_until_complete")??;
    // A fresh loop: close() shuts its default executor down.
    let other = new_loop()?;
    let o2 = other.clone();
    let first = other
        .run_until_complete(async move { o2.run_in_executor(|| 1).ctx("submit")?.await.ctx("job") })
        .ctx("run_until_complete")??;
    ensure!(first == 1, "job result {first}");
    other.close().ctx("close")?;
    t.push(format!(
        "after close: {}",
        other
            .run_in_executor(|| 1)
            .err()
            .is_some_and(|e| e.is_closed())
    ));
    t.expect(&[
        "default refused: true (the executor is shut down: Executor shutdown has been called)",
        "explicit pool=42",
        "shut-down pool refused: true",
        "after close: true",
    ])
}
