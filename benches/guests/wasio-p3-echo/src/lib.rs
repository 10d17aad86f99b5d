//! The wasio echo server on the WASI 0.3 backend: `wasio-p3-echo [HOST:PORT]`, the source of
//! `wasio-echo` (`benches/src/shared/echo_wasio.rs`) behind a WASI 0.3 command export.

#[path = "../../../src/shared/echo_wasio.rs"]
mod echo_wasio;

struct Echo;

wasip3::cli::command::export!(Echo);

impl wasip3::exports::cli::run::Guest for Echo {
    async fn run() -> Result<(), ()> {
        let addr = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "127.0.0.1:0".into());
        echo_wasio::serve(&addr).map_err(|e| {
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("wasio-p3-echo: {e}\n"),
            );
        })
    }
}
