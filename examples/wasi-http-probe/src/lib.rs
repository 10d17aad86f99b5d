//! The same handler on both `wasi:http` versions (see `Cargo.toml`). Pages:
//!
//! * `GET /hello`: 200, `hello from wasi:http 0.2` (or `0.3`);
//! * `POST /echo`: 200, the request body streamed back as it arrives;
//! * `GET /fetch?to=HOST:PORT`: an outgoing `GET http://HOST:PORT/hello`; 200 with
//!   `fetched STATUS: BODY`, or 502 with `refused: ERROR-CODE`;
//! * `GET /panic`: the handler panics (a trap: the host answers 500);
//! * `GET /spin`: the handler never returns (the host's limits end it: 500);
//! * anything else: 404.

/// The page a path asks for, and its query.
fn route(path_with_query: &str) -> (&str, &str) {
    path_with_query
        .split_once('?')
        .unwrap_or((path_with_query, ""))
}

/// `to=HOST:PORT` from a query.
fn target(query: &str) -> Option<&str> {
    query.split('&').find_map(|kv| kv.strip_prefix("to="))
}

/// Runs until the host stops it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

#[cfg(all(feature = "p2", not(feature = "p3")))]
mod p2 {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse,
        ResponseOutparam, Scheme,
    };
    use wasip2::io::streams::{InputStream, OutputStream};

    struct Probe;

    wasip2::http::proxy::export!(Probe);

    impl wasip2::exports::http::incoming_handler::Guest for Probe {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let pq = request.path_with_query().unwrap_or_default();
            let (page, query) = super::route(&pq);
            match page {
                "/hello" => text(out, 200, b"hello from wasi:http 0.2\n"),
                "/echo" => echo(request, out),
                "/fetch" => match super::target(query) {
                    Some(to) => fetch(to, out),
                    None => text(out, 400, b"fetch needs ?to=HOST:PORT\n"),
                },
                "/panic" => panic!("the handler failed on purpose"),
                "/spin" => super::spin(),
                _ => text(out, 404, b"no such page\n"),
            }
        }
    }

    /// Sends the response head, then returns its body stream.
    fn start(out: ResponseOutparam, status: u16) -> (OutgoingBody, OutputStream) {
        let response = OutgoingResponse::new(Fields::new());
        let _ = response.set_status_code(status);
        let body = response.body().expect("the body is taken once");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("the stream is taken once");
        (body, stream)
    }

    fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            let n = bytes.len().min(4096);
            if stream.blocking_write_and_flush(&bytes[..n]).is_err() {
                return false;
            }
            bytes = &bytes[n..];
        }
        true
    }

    fn finish(body: OutgoingBody, stream: OutputStream) {
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }

    fn text(out: ResponseOutparam, status: u16, bytes: &[u8]) {
        let (body, stream) = start(out, status);
        write_all(&stream, bytes);
        finish(body, stream);
    }

    fn echo(request: IncomingRequest, out: ResponseOutparam) {
        let incoming = request.consume().expect("the body is taken once");
        let input: InputStream = incoming.stream().expect("the stream is taken once");
        let (body, stream) = start(out, 200);
        // Until the request body ends (`Closed`) or fails.
        while let Ok(chunk) = input.blocking_read(64 * 1024) {
            if !write_all(&stream, &chunk) {
                break;
            }
        }
        drop(input);
        let _ = IncomingBody::finish(incoming);
        finish(body, stream);
    }

    fn fetch(to: &str, out: ResponseOutparam) {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_scheme(Some(&Scheme::Http));
        let _ = request.set_authority(Some(to));
        let _ = request.set_path_with_query(Some("/hello"));
        let future = match outgoing_handler::handle(request, None) {
            Ok(f) => f,
            Err(code) => return text(out, 502, format!("refused: {code:?}\n").as_bytes()),
        };
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(code))) => {
                return text(out, 502, format!("refused: {code:?}\n").as_bytes());
            }
            other => return text(out, 500, format!("no response: {other:?}\n").as_bytes()),
        };
        let status = response.status();
        let mut got = Vec::new();
        if let Ok(incoming) = response.consume()
            && let Ok(input) = incoming.stream()
        {
            while let Ok(chunk) = input.blocking_read(64 * 1024) {
                got.extend_from_slice(&chunk);
            }
        }
        let page = format!("fetched {status}: {}", String::from_utf8_lossy(&got));
        text(out, 200, page.as_bytes());
    }
}

#[cfg(feature = "p3")]
mod p3 {
    use wasip3::http::client;
    use wasip3::http::types::{ErrorCode, Fields, Request, Response, Scheme};
    use wasip3::{wit_future, wit_stream};

    struct Probe;

    wasip3::http::service::export!(Probe);

    impl wasip3::exports::http::handler::Guest for Probe {
        async fn handle(request: Request) -> Result<Response, ErrorCode> {
            let pq = request.get_path_with_query().unwrap_or_default();
            let (page, query) = super::route(&pq);
            Ok(match page {
                "/hello" => text(200, b"hello from wasi:http 0.3\n".to_vec()),
                "/echo" => echo(request),
                "/fetch" => match super::target(query) {
                    Some(to) => fetch(to).await,
                    None => text(400, b"fetch needs ?to=HOST:PORT\n".to_vec()),
                },
                "/panic" => panic!("the handler failed on purpose"),
                "/spin" => super::spin(),
                _ => text(404, b"no such page\n".to_vec()),
            })
        }
    }

    /// A response whose body is written after `handle` returns (a task of the export).
    fn text(status: u16, bytes: Vec<u8>) -> Response {
        let (mut tx, rx) = wit_stream::new::<u8>();
        let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(Fields::new(), Some(rx), trailers);
        let _ = response.set_status_code(status);
        wit_bindgen::spawn(async move {
            let _ = tx.write_all(bytes).await;
            drop(tx);
            drop(trailers_tx);
        });
        response
    }

    /// The request's body stream and trailers become the response's: the host copies one
    /// into the other as it arrives.
    fn echo(request: Request) -> Response {
        let (done_tx, done) = wit_future::new(|| Ok(()));
        let (body, trailers) = Request::consume_body(request, done);
        drop(done_tx);
        let (response, _sent) = Response::new(Fields::new(), Some(body), trailers);
        response
    }

    async fn fetch(to: &str) -> Response {
        let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
        let (request, _sent) = Request::new(Fields::new(), None, trailers, None);
        drop(trailers_tx);
        let _ = request.set_scheme(Some(&Scheme::Http));
        let _ = request.set_authority(Some(to));
        let _ = request.set_path_with_query(Some("/hello"));
        let response = match client::send(request).await {
            Ok(r) => r,
            Err(code) => return text(502, format!("refused: {code:?}\n").into_bytes()),
        };
        let status = response.get_status_code();
        let (done_tx, done) = wit_future::new(|| Ok(()));
        let (body, _trailers) = Response::consume_body(response, done);
        drop(done_tx);
        let got = body.collect().await;
        text(
            200,
            format!("fetched {status}: {}", String::from_utf8_lossy(&got)).into_bytes(),
        )
    }
}
