//! Counts down with loop timers and a task, then exits; `#[wasio::main]` runs it on a new loop.
//!
//! Natively: `cargo run --example countdown -- 3`.
//! In wasmtime: `cargo build --release --example countdown --target wasm32-wasip2`, then
//! `cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/countdown.wasm -- 3`.
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

#[path = "common/log.rs"]
mod log;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[wasio::main]
async fn main() -> Result<(), wasio::Error> {
    log::init();
    let from: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let lp = wasio::current();
    // Callback style: one timer per step, all scheduled up front.
    let left = Rc::new(Cell::new(from));
    for i in 0..from {
        let left = left.clone();
        lp.call_later(Duration::from_millis(10 * u64::from(i + 1)), move || {
            println!("{}", left.get());
            left.set(left.get() - 1);
        })?;
    }
    // Future style: this task waits for the countdown to finish.
    while left.get() > 0 {
        wasio::sleep(Duration::from_millis(5)).await;
    }
    println!("liftoff");
    Ok(())
}
