//! asyncio's `Queue`, `Event`, `Lock` and `Semaphore` on wasio, from runtime-agnostic crates:
//! `async-channel`, `event-listener`, `async-lock` (and `futures-util` for streams). They only
//! need wakers, so they work the same natively and on wasm32-wasip2 (the shared `sync_*` cases
//! check that in both worlds).
//!
//! Natively: `cargo run --example sync_primitives`.
//! In wasmtime: `cargo build --release --example sync_primitives --target wasm32-wasip2`, then
//! `cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/sync_primitives.wasm`.
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

use std::cell::Cell;
use std::rc::Rc;

use futures_util::StreamExt;

#[wasio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    queue().await?;
    event().await?;
    lock().await?;
    semaphore().await?;
    Ok(())
}

/// `asyncio.Queue(maxsize=2)`: `async_channel::bounded(2)`; `put` waits while it is full.
async fn queue() -> Result<(), Box<dyn std::error::Error>> {
    let (tx, rx) = async_channel::bounded::<u32>(2);
    let producer = wasio::spawn(async move {
        for i in 0..5 {
            tx.send(i).await?; // asyncio: await queue.put(i)
        }
        Ok::<_, async_channel::SendError<u32>>(())
        // `tx` is dropped here: the receiver's stream ends once it is drained.
    });
    let got: Vec<u32> = rx.collect().await; // asyncio: await queue.get() until done
    producer.await??;
    println!("queue: {got:?}");
    Ok(())
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
