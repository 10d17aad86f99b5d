//! An HTTP/1.1 client: hyper on wasio, through the `wasio::hyper` adapter. Fetches each URL in
//! turn over one connection (keep-alive) and prints, for each, a line with the status and the
//! `x-connection` / `x-request` headers of `examples/http_server.rs` (`-` where absent),
//! then the body.
//!
//! ```text
//! cargo run --features hyper --example http_client -- http://127.0.0.1:8080/ http://127.0.0.1:8080/
//! cargo run --features hyper --example http_client -- --data hello http://127.0.0.1:8080/echo
//! cargo build --release --features hyper --example http_client --target wasm32-wasip2
//! cargo run --release -p wasio-host -- run target/wasm32-wasip2/release/examples/http_client.wasm -- http://127.0.0.1:8080/
//! ```
//!
//! Arguments: one or more `http://HOST:PORT/PATH` URLs, all naming the same host and port, and
//! `--data TEXT` to `POST` TEXT to each instead of a `GET`.
#![allow(clippy::print_stdout, reason = "an example program prints its output")]

#[path = "common/log.rs"]
mod log;

use std::io::Write;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HOST;
use hyper::{Method, Request, Uri};
use wasio::hyper::HyperIo;
use wasio::net::{ConnectOptions, connect};

const USAGE: &str = "usage: http_client [--data TEXT] URL...";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let mut data: Option<String> = None;
    let mut uris: Vec<Uri> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--data" {
            data = Some(args.next().ok_or("--data needs a value")?);
        } else {
            uris.push(a.parse()?);
        }
    }
    let first = uris.first().ok_or(USAGE)?;
    let authority = first.authority().ok_or(USAGE)?.clone();
    for uri in &uris {
        if uri.scheme_str() != Some("http") || uri.authority() != Some(&authority) {
            return Err(format!("{uri}: every URL must be http://{authority}/...").into());
        }
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = authority.port_u16().unwrap_or(80);
    wasio::run(async move {
        let stream = connect(&host, port, &ConnectOptions::new()).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
        // The connection does the I/O in a task of its own; requests go through `sender`.
        let conn = wasio::spawn(conn);
        let mut out = std::io::stdout();
        for uri in &uris {
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let (method, body) = match &data {
                Some(d) => (Method::POST, Bytes::from(d.clone())),
                None => (Method::GET, Bytes::new()),
            };
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header(HOST, authority.as_str())
                .body(Full::new(body))?;
            let response = sender.send_request(request).await?;
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string()
            };
            let line = format!(
                "{} x-connection={} x-request={}",
                response.status().as_u16(),
                header("x-connection"),
                header("x-request")
            );
            let body = response.into_body().collect().await?.to_bytes();
            writeln!(out, "{line}")?;
            out.write_all(&body)?;
            out.flush()?;
        }
        // Without a sender the connection closes, and its task ends.
        drop(sender);
        conn.await??;
        Ok::<_, Box<dyn std::error::Error>>(())
    })??;
    Ok(())
}
