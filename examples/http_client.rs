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
//! Arguments: one or more `http://HOST:PORT/PATH` (or `https://`) URLs, all naming the same
//! scheme, host and port, `--data TEXT` to `POST` TEXT to each instead of a `GET`, and
//! `--cacert FILE` (PEM; feature `tls`) for the certificates an `https` server must chain to.
//!
//! ```text
//! cargo run --features hyper,tls --example http_client -- --cacert cert.pem https://localhost:8443/
//! ```
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

const USAGE: &str = "usage: http_client [--data TEXT] [--cacert FILE] URL...";

/// A stream the client speaks HTTP over: plain TCP, or TLS over it.
trait Stream: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + 'static {}
impl<T: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + 'static> Stream for T {}

#[cfg(feature = "tls")]
async fn secure(
    tcp: wasio::net::TcpStream,
    host: &str,
    cacert: Option<&str>,
) -> Result<Box<dyn Stream>, Box<dyn std::error::Error>> {
    let roots = std::fs::read(cacert.ok_or("an https URL needs --cacert FILE")?)?;
    let connector = wasio::tls::connector(&roots)?;
    let tls = connector
        .connect(wasio::tls::server_name(host)?, tcp)
        .await?;
    Ok(Box::new(tls))
}

#[cfg(not(feature = "tls"))]
async fn secure(
    _tcp: wasio::net::TcpStream,
    _host: &str,
    _cacert: Option<&str>,
) -> Result<Box<dyn Stream>, Box<dyn std::error::Error>> {
    Err("https needs the `tls` feature (cargo run --features hyper,tls ...)".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    log::init();
    let mut data: Option<String> = None;
    let mut cacert: Option<String> = None;
    let mut uris: Vec<Uri> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = Some(args.next().ok_or("--data needs a value")?),
            "--cacert" => cacert = Some(args.next().ok_or("--cacert needs a file")?),
            _ => uris.push(a.parse()?),
        }
    }
    let first = uris.first().ok_or(USAGE)?;
    let authority = first.authority().ok_or(USAGE)?.clone();
    let scheme = first.scheme_str().unwrap_or("http").to_string();
    if scheme != "http" && scheme != "https" {
        return Err(format!("{first}: only http:// and https:// URLs").into());
    }
    for uri in &uris {
        if uri.scheme_str() != Some(&scheme) || uri.authority() != Some(&authority) {
            return Err(format!("{uri}: every URL must be {scheme}://{authority}/...").into());
        }
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    wasio::run(async move {
        let tcp = connect(&host, port, &ConnectOptions::new()).await?;
        let stream: Box<dyn Stream> = if scheme == "https" {
            secure(tcp, &host, cacert.as_deref()).await?
        } else {
            Box::new(tcp)
        };
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
