//! asyncio's `Queue`, `Event`, `Lock` and `Semaphore` through runtime-agnostic crates
//! (async-channel, event-listener, async-lock, futures-util) on wasio: they only need wakers,
//! so they work unchanged in both worlds. These cases prove it.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::{Context, Transcript, block, within};

const LIMIT: Duration = Duration::from_secs(30);

async fn yields(n: usize) {
    for _ in 0..n {
        wasio::yield_now().await;
    }
}

/// `asyncio.Queue(maxsize=2)` as `async_channel::bounded(2)`: a producer waits while the queue
/// is full, the consumer gets the items in order (as a `futures-util` stream), `try_send` on a
/// full queue is `Full` (`put_nowait`'s `QueueFull`), and the stream ends once every sender is
/// gone and the queue is drained.
pub fn sync_queue_with_async_channel(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let (tx, rx) = async_channel::bounded::<u32>(2);
        let t1 = t.clone();
        let producer = wasio::spawn(async move {
            for i in 0..5 {
                if tx.send(i).await.is_err() {
                    return;
                }
                t1.push(format!("put {i}"));
            }
        });
        yields(3).await;
        t.push(format!("producer waits with {} queued", rx.len()));
        let mut got = Vec::new();
        // A `Receiver` is a `Stream`; it is `!Unpin`, so it is pinned to use `StreamExt::next`.
        let mut rx = std::pin::pin!(rx);
        within(LIMIT, "consume", async {
            while let Some(v) = rx.next().await {
                got.push(v);
            }
        })
        .await?;
        t.push(format!("got {got:?}"));
        within(LIMIT, "producer", producer).await?.ctx("producer")?;
        let (tx, _rx) = async_channel::bounded::<u32>(1);
        let first = tx.try_send(1).is_ok();
        let second = tx.try_send(2);
        t.push(format!(
            "try_send: first ok={first}, second full={}",
            second.is_err_and(|e| e.is_full())
        ));
        Ok(())
    })?;
    t.expect(&[
        "put 0",
        "put 1",
        "producer waits with 2 queued",
        "put 2",
        "put 3",
        "put 4",
        "got [0, 1, 2, 3, 4]",
        "try_send: first ok=true, second full=true",
    ])
}

/// `asyncio.Event` as a flag plus an `event_listener::Event`: waiters block until `set`, all of
/// them wake at once, and a wait after `set` returns at once.
pub fn sync_event_with_event_listener(t: &Transcript) -> Result<(), String> {
    /// asyncio's `Event`: `set`, `is_set`, `wait`.
    struct Flag {
        set: Cell<bool>,
        event: event_listener::Event,
    }
    impl Flag {
        fn set(&self) {
            self.set.set(true);
            self.event.notify(usize::MAX);
        }
        async fn wait(&self) {
            while !self.set.get() {
                let listener = self.event.listen();
                // Checked again after listening, so a `set` in between is not missed.
                if self.set.get() {
                    break;
                }
                listener.await;
            }
        }
    }
    let tc = t.clone();
    block(async move {
        let t = tc;
        let flag = Rc::new(Flag {
            set: Cell::new(false),
            event: event_listener::Event::new(),
        });
        let mut waiters = Vec::new();
        for n in 0..3 {
            let (flag, t) = (flag.clone(), t.clone());
            waiters.push(wasio::spawn(async move {
                flag.wait().await;
                t.push(format!("waiter {n} woke"));
            }));
        }
        yields(3).await;
        t.push("set");
        flag.set();
        for w in waiters {
            within(LIMIT, "waiter", w).await?.ctx("waiter")?;
        }
        within(LIMIT, "wait after set", flag.wait()).await?;
        t.push("wait after set returned at once");
        Ok(())
    })?;
    t.expect(&[
        "set",
        "waiter 0 woke",
        "waiter 1 woke",
        "waiter 2 woke",
        "wait after set returned at once",
    ])
}

/// `asyncio.Lock` as `async_lock::Mutex`: held across `.await`s, the critical sections never
/// interleave and the waiters get it in arrival order; `try_lock` fails while it is held.
pub fn sync_lock_with_async_lock(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let lock = Rc::new(async_lock::Mutex::new(0u32));
        let mut tasks = Vec::new();
        for n in 0..3 {
            let (lock, t) = (lock.clone(), t.clone());
            tasks.push(wasio::spawn(async move {
                let mut guard = lock.lock().await;
                t.push(format!("enter {n}"));
                yields(2).await;
                *guard += 1;
                t.push(format!("leave {n}"));
            }));
        }
        yields(1).await;
        t.push(format!(
            "try_lock while held: {}",
            lock.try_lock().is_some()
        ));
        for task in tasks {
            within(LIMIT, "task", task).await?.ctx("task")?;
        }
        t.push(format!("count={}", *lock.lock().await));
        Ok(())
    })?;
    t.expect(&[
        "enter 0",
        "try_lock while held: false",
        "leave 0",
        "enter 1",
        "leave 1",
        "enter 2",
        "leave 2",
        "count=3",
    ])
}

/// `asyncio.Semaphore(2)` as `async_lock::Semaphore`: never more than two holders at once, and
/// every task gets its turn.
pub fn sync_semaphore_with_async_lock(t: &Transcript) -> Result<(), String> {
    let tc = t.clone();
    block(async move {
        let t = tc;
        let sem = Rc::new(async_lock::Semaphore::new(2));
        let (now, peak, done) = (
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
        );
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (sem, now, peak, done) = (sem.clone(), now.clone(), peak.clone(), done.clone());
            tasks.push(wasio::spawn(async move {
                let _permit = sem.acquire().await;
                now.set(now.get() + 1);
                peak.set(peak.get().max(now.get()));
                yields(2).await;
                now.set(now.get() - 1);
                done.set(done.get() + 1);
            }));
        }
        for task in tasks {
            within(LIMIT, "task", task).await?.ctx("task")?;
        }
        t.push(format!(
            "peak holders={} finished={}",
            peak.get(),
            done.get()
        ));
        t.push(format!("permits back={}", sem.try_acquire().is_some()));
        Ok(())
    })?;
    t.expect(&["peak holders=2 finished=5", "permits back=true"])
}
