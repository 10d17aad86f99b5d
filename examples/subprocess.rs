//! Runs a shell command line as a child process and prints what it wrote and how it ended,
//! then pipes text through `tr` (the exec form), feeding its stdin while reading its stdout.
//!
//! ```text
//! cargo run --example subprocess -- 'echo hello; echo oops >&2; exit 3'
//! cargo build --release --example subprocess --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/subprocess.wasm
//! ```
//!
//! On WASI there are no subprocesses: the first spawn fails with `Unsupported` (naming WASI),
//! which `main` returns, so the program prints it on stderr and exits with status 1.
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

#[path = "common/log.rs"]
mod log;

use wasio::process::{ProcessOptions, Stdio, returncode, subprocess_exec, subprocess_shell};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let script = if args.is_empty() {
        "echo hello from a child; echo to stderr >&2; exit 3".to_string()
    } else {
        args.join(" ")
    };
    wasio::run(async move {
        // The shell form: `/bin/sh -c <script>`.
        let mut child = subprocess_shell(
            &script,
            ProcessOptions::new()
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .await?;
        println!("pid {}", child.id());
        let out = child.communicate(None).await?;
        println!("stdout: {:?}", String::from_utf8_lossy(&out.stdout));
        println!("stderr: {:?}", String::from_utf8_lossy(&out.stderr));
        println!("returncode: {}", returncode(&out.status));

        // The exec form: no shell; write stdin while reading stdout.
        let mut tr = subprocess_exec(
            "tr",
            ["a-z", "A-Z"],
            ProcessOptions::new()
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        )
        .await?;
        let out = tr.communicate(Some(b"through a pipe\n")).await?;
        println!("tr: {:?}", String::from_utf8_lossy(&out.stdout));
        Ok::<_, std::io::Error>(())
    })??;
    Ok(())
}
