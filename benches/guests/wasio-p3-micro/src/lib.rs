//! wasio's micro benchmarks and timer lateness on the WASI 0.3 backend: the program of
//! `wasio-micro` (same arguments, same JSON lines, named `wasio-p3-wasm` unless `--runtime`
//! says otherwise), behind a `wasi:cli/run@0.3.0` export. Its `main` runs one `wasio::run` per
//! benchmark, one after another; on WASI 0.3 a loop may block only inside an async export,
//! which this is (`#[wasio::main]` would run the whole body inside one loop instead).

#[path = "../../wasio-micro/src/main.rs"]
mod micro;

struct Micro;

wasip3::cli::command::export!(Micro);

impl wasip3::exports::cli::run::Guest for Micro {
    async fn run() -> Result<(), ()> {
        micro::main_with("wasio-p3-wasm").map_err(|e| {
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("wasio-p3-micro: {e}\n"),
            );
        })
    }
}
