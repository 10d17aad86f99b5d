//! Native micro benchmarks and timer lateness, one runtime per process, as JSON lines
//! (`report::MicroResult`, `report::TimerResult`) for the orchestrator:
//!
//! ```text
//! micro --runtime wasio|tokio [--samples N]
//! micro --runtime wasio|tokio --timers [--tasks N]
//! ```
//!
//! The wasio code is `shared/micro_wasio.rs` and `shared/timers_wasio.rs`, which the
//! `wasio-micro` guest runs in wasmtime; the tokio code is `micro_tokio.rs` and
//! `timers_tokio.rs`.
#![allow(clippy::print_stdout, reason = "a benchmark tool prints its results")]

use clap::{Parser, ValueEnum};
use wasio_benches::shared::{micro_wasio, timers_wasio};
use wasio_benches::{micro_tokio, timers_tokio};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Runtime {
    Wasio,
    Tokio,
}

#[derive(Parser, Debug)]
#[command(about = "wasio / tokio micro benchmarks and timer lateness")]
struct Args {
    #[arg(long, value_enum)]
    runtime: Runtime,
    /// Timed samples per benchmark (the median is reported).
    #[arg(long, default_value_t = 11)]
    samples: usize,
    /// Run the timer-lateness benchmark instead.
    #[arg(long)]
    timers: bool,
    /// Sleeping tasks in the timer-lateness benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    tasks: u64,
}

fn main() {
    let args = Args::parse();
    match (args.runtime, args.timers) {
        (Runtime::Wasio, true) => println!("{}", timers_wasio::run(args.tasks, "wasio")),
        (Runtime::Tokio, true) => println!("{}", timers_tokio::run(args.tasks, "tokio")),
        (Runtime::Wasio, false) => {
            for (name, ns) in micro_wasio::run_all(args.samples) {
                println!("{}", micro_wasio::json_line("wasio", name, ns));
            }
        }
        (Runtime::Tokio, false) => {
            for (name, ns) in micro_tokio::run_all(args.samples) {
                println!("{}", micro_wasio::json_line("tokio", name, ns));
            }
        }
    }
}
