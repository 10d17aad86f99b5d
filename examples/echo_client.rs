//! A TCP echo client: connects (Happy Eyeballs over every address of the name), sends each
//! argument as a line and prints what comes back.
//!
//! ```text
//! cargo run --example echo_client -- 127.0.0.1:7000 hello world
//! cargo build --release --example echo_client --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/echo_client.wasm -- 127.0.0.1:7000 hello
//! ```
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

#[path = "common/log.rs"]
mod log;

use wasio::net::{ConnectOptions, connect};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .ok_or("usage: echo_client HOST:PORT [MESSAGE...]")?;
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("bad address {addr:?}"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port: u16 = port.parse()?;
    let messages: Vec<String> = args.collect();
    wasio::run(async move {
        let conn = connect(&host, port, &ConnectOptions::new()).await?;
        for m in &messages {
            let line = format!("{m}\n");
            conn.write_all(line.as_bytes()).await?;
            let mut back = vec![0u8; line.len()];
            conn.read_exact(&mut back).await?;
            print!("{}", String::from_utf8_lossy(&back));
        }
        conn.close().await?;
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await?;
        Ok::<_, std::io::Error>(())
    })??;
    Ok(())
}
