//! wasio's micro benchmarks and timer lateness in wasmtime, as JSON lines for `bench`:
//!
//! ```text
//! wasio-micro [--samples N]      # the micro benchmarks
//! wasio-micro --timers N         # timer lateness with N sleeping tasks
//! wasio-micro --runtime NAME ... # the name in the JSON lines (default wasio-wasm;
//!                                # wasio-p3-wasm in `wasio-p3-micro`, this file on WASI 0.3)
//! ```
//!
//! The file is target-agnostic: `bench --baseline REV` also builds it natively against an
//! older wasio (as `wasio@REV`).
//!
//! The same code as natively (`benches/src/shared/`), timed by the same loop: a documented
//! median-of-samples loop rather than criterion, so both worlds are measured alike (criterion
//! also wants a writable target directory and threads it does not have here).
#![allow(clippy::print_stdout, reason = "a benchmark tool prints its results")]

#[path = "../../../src/shared/micro_wasio.rs"]
mod micro_wasio;
#[path = "../../../src/shared/timers_wasio.rs"]
mod timers_wasio;

/// Parses the number after `name`.
fn number(name: &str, value: Option<String>) -> Result<u64, String> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{name} needs a number"))
}

#[allow(
    dead_code,
    reason = "`wasio-p3-micro` includes this file as a module, without `main`"
)]
fn main() -> Result<(), String> {
    main_with("wasio-wasm")
}

/// The program, its results named `runtime` unless `--runtime` names them.
pub(crate) fn main_with(runtime: &str) -> Result<(), String> {
    let mut runtime = runtime.to_string();
    let mut samples = 11usize;
    let mut timers: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runtime" => runtime = args.next().ok_or("--runtime needs a name")?,
            "--samples" => samples = number("--samples", args.next())? as usize,
            "--timers" => timers = Some(number("--timers", args.next())?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    match timers {
        Some(n) => println!("{}", timers_wasio::run(n, &runtime)),
        None => {
            for (name, ns) in micro_wasio::run_all(samples) {
                println!("{}", micro_wasio::json_line(&runtime, name, ns));
            }
        }
    }
    Ok(())
}
