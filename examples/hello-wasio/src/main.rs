//! `hello-wasio`: starts the service, asks it one question and prints the answer. The same
//! source runs natively (`cargo run`), on WASI 0.2 (`cargo run --target wasm32-wasip2`) and on
//! WASI 0.3 (`cargo run --target wasm32-wasip2 --features wasi-p3`).

#[wasio::main]
async fn main() -> std::io::Result<()> {
    let question = std::env::args().nth(1).unwrap_or_else(|| "hello".into());
    let addr = hello_wasio::start().await?;
    let answer = hello_wasio::ask(addr, &question).await?;
    println!("{answer}");
    Ok(())
}
