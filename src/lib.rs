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

// The README's Rust examples run as doc tests.
#[cfg(all(doctest, feature = "macros"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

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
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    //! Support for the expansion of `#[wasio::main]` and `#[wasio::test]`; not public API.
    pub use crate::macro_support::*;

    /// The WASI 0.3 entry points (the `wasi-p3` feature on wasm32-wasip2).
    #[cfg(all(target_os = "wasi", target_env = "p2", feature = "wasi-p3"))]
    pub mod p3 {
        pub use crate::sys::entry::*;
    }
}
#[cfg(feature = "macros")]
mod macro_support;
pub mod net;
pub mod os;
pub mod process;
mod ready;
mod shared;
pub mod signal;
mod sys;
pub mod task;
mod time;
mod timer;

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use crate::compat::hyper;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use crate::compat::tls;
/// Runs `async fn main` on a new loop with [`run`] (asyncio's `asyncio.run`), natively and on
/// wasm32-wasip2 alike.
///
/// The function takes no arguments and may return `()`, [`std::process::ExitCode`] or
/// `Result<T, E>` with `E: From<wasio::Error>`. An error of the loop itself is never dropped:
/// with a `Result` it comes back as `Err` (printed as `Error: …`, exit status 1, as for any
/// `main`); with `()` or `ExitCode`, `main` panics with its message. Misuse (a non-`async` fn,
/// parameters, `self`, generics, an unsupported return type) is a compile error pointing at
/// the offending tokens. The expansion names `::wasio`, so keep the dependency's name.
///
/// With the `wasi-p3` feature on wasm32-wasip2, the same function builds a WASI 0.3 command:
/// the body runs in an asynchronous `wasi:cli/run@0.3.0` export (a WASI 0.3 loop may block
/// only inside one), which `wasio-host run` and `wasmtime run -Sp3 -Wcomponent-model-async`
/// call. Rust still gives the program a WASI 0.2 entry point; a host that calls that one gets
/// a message saying how to run the program, and exit status 2. Natively and on WASI 0.2
/// nothing changes.
///
/// ```
/// #[wasio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let t = wasio::spawn(async { 6 * 7 });
///     assert_eq!(t.await?, 42);
///     wasio::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
#[cfg(feature = "macros")]
pub use wasio_macros::main;
/// Turns an `async fn` into a `#[test]` that runs it on a new loop with [`run`].
///
/// The function takes no arguments and may return what a `#[test]` may (`()` or
/// `Result<T, E>`); other attributes (`#[ignore]`, `#[should_panic]`) are kept. An error of the
/// loop itself (the body panicked, or nothing could ever wake the loop) fails the test with a
/// panic naming it.
///
/// With the `wasi-p3` feature on wasm32-wasip2, libtest cannot run the test itself (it calls
/// tests synchronously, and a WASI 0.3 loop blocks inside an asynchronous export). The test is
/// registered with wasio's `wasio:test/runner` export instead, and `wasio-host run` (the cargo
/// runner) runs it there, each test in a fresh instance, with libtest's filters, `--exact`,
/// `--ignored`, `#[ignore]`, `#[should_panic]` and output. libtest still lists it; under another
/// runner it fails with a message naming `wasio-host`.
///
/// ```
/// #[wasio::test]
/// async fn sleeps_at_least_the_duration() {
///     let t0 = std::time::Instant::now();
///     wasio::sleep(std::time::Duration::from_millis(2)).await;
///     assert!(t0.elapsed() >= std::time::Duration::from_millis(2));
/// }
/// # fn main() {}
/// ```
#[cfg(feature = "macros")]
pub use wasio_macros::test;

pub use crate::context::{current, try_current};
pub use crate::core::{DEFAULT_SLOW_CALLBACK, EventLoop, ExceptionHandler};
pub use crate::error::{Error, Fatal, JoinError};
pub use crate::event_loop::{FLUSH_TIMEOUT, LoopStats, Remote, run};
pub use crate::exception::{Context, DEFAULT_MESSAGE, PanicError};
pub use crate::executor::{
    Blocking, THREAD_JOIN_TIMEOUT, ThreadPool, default_max_workers, run_in_executor,
};
pub use crate::handle::{CallbackResult, Handle, ThreadsafeHandle, TimerHandle};
pub use crate::task::{JoinHandle, TaskGroup, gather, shield, spawn, spawn_named, try_gather};
pub use crate::time::{
    Elapsed, Interval, Sleep, Timeout, interval, sleep, sleep_until, timeout, yield_now,
};
