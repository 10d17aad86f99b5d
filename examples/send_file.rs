//! Sends a file over a loopback TCP connection with `wasio::net::sendfile` and prints how many
//! bytes arrived and whether they match the file.
//!
//! ```text
//! cargo run --example send_file -- Cargo.toml
//! cargo build --release --example send_file --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run --dir .::/work target/wasm32-wasip2/release/examples/send_file.wasm /work/Cargo.toml
//! ```
//!
//! In wasmtime the guest sees only the directories given with `--dir HOST[::GUEST]`. Natively on
//! Linux the bytes go through zero-copy `sendfile(2)`; in wasmtime through the read/write
//! fallback: the output is the same.
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

#[path = "common/log.rs"]
mod log;

use wasio::net::{TcpListener, TcpStream, sendfile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let path = std::env::args().nth(1).ok_or("usage: send_file PATH")?;
    let expected = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let (sent, got) = wasio::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        // The reader runs beside the sender, so a file larger than the socket buffers flows.
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.map(|_| got)
        });
        let sent = sendfile(&server, &mut file, 0, None).await?;
        server.close().await?;
        let got = reader.await.map_err(std::io::Error::other)??;
        Ok::<_, std::io::Error>((sent, got))
    })??;
    let verdict = if got == expected {
        "identical"
    } else {
        "DIFFERENT"
    };
    println!("sent {sent} bytes, received {} bytes: {verdict}", got.len());
    if got != expected {
        return Err("the received bytes differ from the file".into());
    }
    Ok(())
}
