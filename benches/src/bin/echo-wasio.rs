//! The wasio echo server (native): `echo-wasio [HOST:PORT]`. The code is
//! `shared/echo_wasio.rs`, which the `wasio-echo` guest runs in wasmtime too.

use wasio_benches::shared::echo_wasio;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    echo_wasio::serve(&addr)
}
