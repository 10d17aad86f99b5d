//! The shared pieces of wasio's benchmark harness (`wasio-benches`, see `BENCHMARKS.md`).
//!
//! # Ground rules
//!
//! * Nothing here asserts a timing: the harness measures and reports, CI only smoke-tests it.
//! * Every figure is reported beside a rival or floor measured in the same run; absolute
//!   numbers on a shared 2-core machine are noise.
//! * `shared/*.rs` holds the code the wasm32-wasip2 guests compile too (through `#[path]`):
//!   it uses only `std` and `wasio`, so the same source runs natively and in wasmtime.

pub mod affinity;
pub mod cpu;
pub mod micro_tokio;
pub mod report;
pub mod stats;
pub mod timers_tokio;

/// Code shared with the wasm32-wasip2 guests in `benches/guests/` (compiled there through
/// `#[path]`).
pub mod shared {
    pub mod echo_wasio;
    pub mod micro_wasio;
    pub mod timers_wasio;
}
