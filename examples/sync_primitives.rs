//! asyncio's `Queue`, `Event`, `Lock` and `Semaphore` on wasio, from runtime-agnostic crates:
//! `async-channel`, `event-listener` and `async-lock`, plus asyncio's `Queue.task_done` / `join`
//! on top of them. They only need wakers, so they work the same natively and on wasm32-wasip2
//! (the shared `sync_*` cases check that in both worlds).
//!
//! Natively: `cargo run --example sync_primitives`.
//! In wasmtime: `cargo build --release --example sync_primitives --target wasm32-wasip2`, then
//! `cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/sync_primitives.wasm`.
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

use std::cell::Cell;
use std::rc::Rc;

#[wasio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    queue().await?;
    event().await?;
    lock().await?;
    semaphore().await?;
    Ok(())
}

/// `asyncio.Queue(maxsize=2)`: `async_channel::bounded(2)`; `put` waits while it is full.
/// `task_done()` / `join()` are not in async-channel: [`Unfinished`] adds them.
async fn queue() -> Result<(), Box<dyn std::error::Error>> {
    let (tx, rx) = async_channel::bounded::<u32>(2);
    let unfinished = Rc::new(Unfinished::default());
    let worker = {
        let unfinished = unfinished.clone();
        wasio::spawn(async move {
            let mut seen = Vec::new();
            while let Ok(item) = rx.recv().await {
                seen.push(item); // asyncio: item = await queue.get(); ...
                unfinished.task_done()?; // asyncio: queue.task_done()
            }
            Ok::<_, &str>(seen)
        })
    };
    for i in 0..5 {
        unfinished.add();
        tx.send(i).await?; // asyncio: await queue.put(i)
    }
    unfinished.join().await; // asyncio: await queue.join()
    drop(tx); // the worker's `recv` fails once the queue is drained: it returns
    println!("queue: {:?}", worker.await??);
    Ok(())
}

/// asyncio `Queue.task_done()` / `Queue.join()`: a count of unfinished items and a wake-up.
#[derive(Default)]
struct Unfinished {
    count: Cell<usize>,
    all_done: event_listener::Event,
}

impl Unfinished {
    /// One more item put (asyncio's `put` counts it).
    fn add(&self) {
        self.count.set(self.count.get() + 1);
    }

    /// One item processed; an error if more than were put (asyncio's `ValueError`).
    fn task_done(&self) -> Result<(), &'static str> {
        let n = self
            .count
            .get()
            .checked_sub(1)
            .ok_or("task_done() called too many times")?;
        self.count.set(n);
        if n == 0 {
            self.all_done.notify(usize::MAX);
        }
        Ok(())
    }

    /// Waits until every item put has been processed.
    async fn join(&self) {
        while self.count.get() > 0 {
            let listener = self.all_done.listen();
            if self.count.get() == 0 {
                break;
            }
            listener.await;
        }
    }
}

/// `asyncio.Event`: a flag plus an `event_listener::Event` to wake the waiters.
#[derive(Default)]
struct Event {
    set: Cell<bool>,
    waiters: event_listener::Event,
}

impl Event {
    fn set(&self) {
        self.set.set(true);
        self.waiters.notify(usize::MAX);
    }

    async fn wait(&self) {
        while !self.set.get() {
            let listener = self.waiters.listen();
            if self.set.get() {
                break; // set between the check and `listen`
            }
            listener.await;
        }
    }
}

async fn event() -> Result<(), Box<dyn std::error::Error>> {
    let ev = Rc::new(Event::default());
    let waiter = {
        let ev = ev.clone();
        wasio::spawn(async move {
            ev.wait().await;
            "woke"
        })
    };
    wasio::yield_now().await;
    ev.set();
    println!("event: {}", waiter.await?);
    Ok(())
}

/// `asyncio.Lock`: `async_lock::Mutex` (fair: waiters get it in arrival order).
async fn lock() -> Result<(), Box<dyn std::error::Error>> {
    let total = Rc::new(async_lock::Mutex::new(0u32));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let total = total.clone();
        tasks.push(wasio::spawn(async move {
            let mut guard = total.lock().await; // asyncio: async with lock:
            wasio::yield_now().await; // held across an await
            *guard += 1;
        }));
    }
    for result in wasio::gather(tasks).await {
        result?;
    }
    println!("lock: {}", *total.lock().await);
    Ok(())
}

/// `asyncio.Semaphore(2)`: `async_lock::Semaphore`.
async fn semaphore() -> Result<(), Box<dyn std::error::Error>> {
    let sem = Rc::new(async_lock::Semaphore::new(2));
    let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let group = wasio::TaskGroup::<std::convert::Infallible>::new();
    for _ in 0..5 {
        let (sem, now, peak) = (sem.clone(), now.clone(), peak.clone());
        group.spawn(async move {
            let _permit = sem.acquire().await; // asyncio: async with sem:
            now.set(now.get() + 1);
            peak.set(peak.get().max(now.get()));
            wasio::yield_now().await;
            now.set(now.get() - 1);
            Ok(())
        })?;
    }
    group.wait().await.map_err(|e| e.to_string())?;
    println!("semaphore: at most {} at once", peak.get());
    Ok(())
}
