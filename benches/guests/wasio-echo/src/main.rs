//! The wasio echo server in wasmtime: `wasio-echo [HOST:PORT]`. The same source as the native
//! `echo-wasio` (`benches/src/shared/echo_wasio.rs`).

#[path = "../../../src/shared/echo_wasio.rs"]
mod echo_wasio;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    echo_wasio::serve(&addr)
}
