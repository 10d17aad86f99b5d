use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use wasio::hyper::{ServeOptions, serve};
use wasio::net::TcpListener;

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = format!("hello from {}\n", req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(text))))
}

#[wasio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8080".into());
    let listener = TcpListener::bind(addr).await?;
    let serving = serve(listener, service_fn(hello), ServeOptions::new());
    println!("listening on http://{}", serving.local_addr()?);
    std::future::pending().await // serve until the process is stopped
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasio::net::TcpStream;

    #[wasio::test]
    async fn says_hello() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let serving = serve(listener, service_fn(hello), ServeOptions::new());
        let conn = TcpStream::connect(serving.local_addr()?).await?;
        conn.write_all(b"GET /test HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply).await?;
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("hello from /test\n"), "{reply}");
        Ok(())
    }
}
