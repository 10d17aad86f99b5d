//! The records the harness's processes print as JSON lines and the orchestrator reads.
//!
//! The load generator prints one [`EchoResult`]; `micro` and the `wasio-micro` guest print
//! [`MicroResult`] and [`TimerResult`] lines (the guest formats them by hand, so the field
//! names here are the wire format: keep them in step with `shared/*.rs`).

use serde::{Deserialize, Serialize};

/// One load-generator run against one server: the measured window only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoResult {
    /// Active connections (strict ping-pong each).
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Idle connections held open beside the active ones.
    pub idle: usize,
    /// Length of the measured window, seconds.
    pub secs: f64,
    /// Round trips completed in the window, all connections.
    pub round_trips: u64,
    /// `round_trips / secs`.
    pub rt_per_sec: f64,
    /// Median round-trip latency, nanoseconds.
    pub p50_ns: u64,
    /// 99th-percentile round-trip latency, nanoseconds.
    pub p99_ns: u64,
    /// Round trips of the connection that completed the fewest in the window.
    pub slowest: u64,
    /// Round trips of the connection that completed the most in the window.
    pub fastest: u64,
    /// The server process's CPU time (all threads) over the window, nanoseconds.
    pub server_cpu_ns: u64,
    /// `server_cpu_ns / round_trips`.
    pub cpu_ns_per_rt: f64,
    /// Bytes echoed and checked in the window (both directions counted once).
    pub bytes_checked: u64,
}

/// One micro benchmark of one runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MicroResult {
    /// `"micro"`.
    pub kind: String,
    /// `wasio`, `tokio`, or `wasio-wasm` (set by the orchestrator for the guest).
    pub runtime: String,
    /// The benchmark's name (see `shared/micro_wasio.rs`).
    pub name: String,
    /// Median nanoseconds per operation over the samples.
    pub ns_per_op: f64,
}

/// The timer-lateness run of one runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimerResult {
    /// `"timers"`.
    pub kind: String,
    /// `wasio`, `tokio`, or `wasio-wasm`.
    pub runtime: String,
    /// Tasks spawned, each sleeping until its own deadline.
    pub tasks: u64,
    /// Tasks whose sleep completed (the others were cancelled).
    pub fired: u64,
    /// Time to spawn every task, milliseconds (must stay well under the first deadline).
    pub setup_ms: f64,
    /// Mean lateness of the tasks that fired, microseconds.
    pub mean_late_us: f64,
    /// Largest lateness, microseconds.
    pub max_late_us: f64,
    /// Any task woken before its deadline (must be 0).
    pub early: u64,
    /// Mean lateness, microseconds, per tenth of the deadline window (deadlines 2.0-2.1 s
    /// first): a rise from first to last tenth means the loop fell behind the timers.
    #[serde(default)]
    pub tenths_mean_late_us: Vec<f64>,
}
