//! wasio: an asyncio-style event loop for Rust that runs natively and on wasm32-wasip2.
//!
//! The model is Python's asyncio `BaseEventLoop`: a FIFO of ready callbacks and a heap of timers
//! (`call_soon`, `call_later`, `call_at`, `call_soon_threadsafe` returning cancellable handles),
//! tasks, `run_forever` / `run_until_complete` / `stop` / `close`, a pluggable exception
//! handler and a debug mode that reports slow callbacks. Rust code reaches it through futures
//! ([`spawn`], [`sleep`], [`timeout`], ...) and through the callback API on [`EventLoop`].
//!
//! # Implementation
//!
//! One core, two backends, chosen in `src/sys/`: natively the loop waits in a mio `Poll`
//! (epoll/kqueue), and another thread can wake it through a `mio::Waker`; on wasm32-wasip2 it
//! waits with one `wasi:io/poll` call per iteration. Everything else (the iteration order, the
//! timer heap, tasks, error reporting) is the same code on both targets, and the same
//! conformance suite runs on both.
//!
//! # Examples
//!
//! Futures:
//!
//! ```
//! use std::time::Duration;
//!
//! let total = wasio::run(async {
//!     let a = wasio::spawn(async { 1 });
//!     let b = wasio::spawn(async {
//!         wasio::sleep(Duration::from_millis(1)).await;
//!         2
//!     });
//!     a.await.unwrap() + b.await.unwrap()
//! })
//! .unwrap();
//! assert_eq!(total, 3);
//! ```
//!
//! Callbacks:
//!
//! ```
//! use std::time::Duration;
//!
//! let lp = wasio::EventLoop::new().unwrap();
//! let stopper = lp.clone();
//! lp.call_later(Duration::from_millis(1), move || stopper.stop()).unwrap();
//! lp.run_forever().unwrap();
//! lp.close().unwrap();
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(all(
    target_family = "wasm",
    not(all(target_os = "wasi", target_env = "p2"))
))]
compile_error!("wasio supports wasm only as wasm32-wasip2 (the WASI pollables backend)");

// The modules form layers; ARCHITECTURE.md draws them and says what each may use.
mod clock;
mod compat;
mod context;
mod core;
mod error;
mod event_loop;
mod exception;
mod executor;
mod handle;
mod io;
pub mod net;
pub mod os;
pub mod process;
mod ready;
mod shared;
mod sys;
pub mod task;
mod time;
mod timer;

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use crate::compat::hyper;
pub use crate::context::{current, try_current};
pub use crate::core::{DEFAULT_SLOW_CALLBACK, EventLoop, ExceptionHandler};
pub use crate::error::{Error, Fatal, JoinError};
pub use crate::event_loop::{FLUSH_TIMEOUT, LoopStats, Remote, run};
pub use crate::exception::{Context, DEFAULT_MESSAGE, PanicError};
pub use crate::executor::{
    Blocking, THREAD_JOIN_TIMEOUT, ThreadPool, default_max_workers, run_in_executor,
};
pub use crate::handle::{CallbackResult, Handle, ThreadsafeHandle, TimerHandle};
pub use crate::task::{JoinHandle, spawn, spawn_named};
pub use crate::time::{
    Elapsed, Interval, Sleep, Timeout, interval, sleep, sleep_until, timeout, yield_now,
};
