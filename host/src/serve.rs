//! `wasio-host serve`: HTTP/1.1 in front of a `wasi:http` proxy component, WASI 0.2
//! (`wasi:http/incoming-handler`) or WASI 0.3 (`wasi:http/handler`), as `wasmtime serve` does.
//!
//! * The host owns the listener; each request goes to an instance of the component through
//!   wasmtime-wasi-http's [`ProxyHandler`], the engine `wasmtime serve` 48 runs on. A WASI 0.2
//!   instance serves one request and is dropped; a WASI 0.3 one serves up to
//!   [`P3_MAX_REQUESTS`] requests, [`P3_MAX_CONCURRENT`] at a time, and goes after
//!   [`IDLE_TIMEOUT`] without work (`wasmtime serve`'s defaults).
//! * Each instance gets the store every guest of this host gets: the memory limit, the CPU
//!   limit (per instance, so per request on WASI 0.2), the handle limit, and the network
//!   policy. The wall-clock limit applies per request: a request that has no response by then
//!   gets a 500 and its instance takes no more requests.
//! * Outgoing requests (`wasi:http/outgoing-handler`, WASI 0.3's `client`) are sent by the host
//!   under the same network policy as sockets: plain HTTP to loopback addresses only, unless
//!   `-S inherit-network`, and none with `-S tcp=n`. A name is resolved once, only when the
//!   lookup policy allows it (see [`crate::lookup`]), and the connection goes to the address
//!   that was checked. Each refusal is logged at the default level, and the guest sees
//!   `destination-ip-prohibited` (or `destination-not-found` for a name that was not
//!   resolved, `http-request-denied` with TCP off).

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use wasmtime::component::GuestTaskId;
use wasmtime::error::Context as _;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, ProxyHandler, ProxyPre, ShouldAccept, WorkerExpiration, WorkerState,
    WorkerStatus,
};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks};

use crate::lookup::{self, Verdict};
use crate::policy::Network;
use crate::{Host, Result, RunOptions, State, Stdio, WasiVersion};

/// Requests a WASI 0.3 instance serves before it is replaced.
pub const P3_MAX_REQUESTS: usize = 128;
/// Requests a WASI 0.3 instance serves at once.
pub const P3_MAX_CONCURRENT: usize = 16;
/// How long an instance with nothing to do is kept for the next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// What `serve` listens on and how it limits clients.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub addr: SocketAddr,
    /// Environment, directories and network policy for every instance.
    pub run: RunOptions,
    /// Connections served at once; more wait in the listener's backlog.
    pub max_connections: usize,
}

/// The state of one request's outgoing requests: the network policy.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HttpHooks {
    network: Network,
}

impl HttpHooks {
    pub(crate) fn new(network: Network) -> HttpHooks {
        HttpHooks { network }
    }
}

impl WasiHttpHooks for HttpHooks {
    fn is_supported_scheme(&mut self, scheme: &http::uri::Scheme) -> bool {
        // The host speaks plain HTTP only (no TLS client here).
        *scheme == http::uri::Scheme::HTTP
    }

    fn default_scheme(&mut self) -> Option<http::uri::Scheme> {
        Some(http::uri::Scheme::HTTP)
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = OutgoingResult> + Send> {
        let network = self.network;
        Box::new(send(network, request, options))
    }
}

type OutgoingResult = std::result::Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = std::result::Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

/// The addresses an outgoing request to `host:port` may use under `network`: resolved once
/// (a name only when it stays on the machine), then filtered by the policy.
pub async fn outgoing_addresses(
    network: Network,
    host: &str,
    port: u16,
) -> std::result::Result<Vec<SocketAddr>, wasmtime_wasi_http::Error> {
    use wasmtime_wasi_http::Error;
    if !network.tcp {
        tracing::warn!(
            target: "wasio_host::sandbox",
            "refused an outgoing HTTP request to {host}:{port}: TCP is off (`-S tcp=n`)"
        );
        return Err(Error::HttpRequestDenied);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            if lookup::verdict(&network, bare) != Verdict::Resolve {
                tracing::warn!(
                    target: "wasio_host::sandbox",
                    "refused an outgoing HTTP request to {host:?}: under the loopback-only \
                     network policy only IP literals, localhost and names in /etc/hosts are \
                     resolved, and none with `-S allow-ip-name-lookup=n` (`-S inherit-network` \
                     allows any name)"
                );
                return Err(Error::DestinationNotFound);
            }
            tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| Error::DestinationNotFound)?
                .collect()
        }
    };
    let allowed: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|a| network.any_address || a.ip().is_loopback())
        .collect();
    if allowed.is_empty() {
        tracing::warn!(
            target: "wasio_host::sandbox",
            "refused an outgoing HTTP request to {host}:{port} ({found:?}): the network policy \
             allows loopback addresses only (`-S inherit-network` allows any address)"
        );
        return Err(Error::DestinationIpProhibited);
    }
    Ok(allowed)
}

/// Sends an outgoing request over HTTP/1.1 to an address the policy allows.
async fn send(
    network: Network,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> OutgoingResult {
    use wasmtime_wasi_http::Error;
    let authority = request
        .uri()
        .authority()
        .cloned()
        .ok_or(Error::HttpRequestUriInvalid)?;
    let port = authority.port_u16().unwrap_or(80);
    let addrs = outgoing_addresses(network, authority.host(), port).await?;
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(Duration::from_secs(600));
    let stream = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(&addrs[..]))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
            _ => Error::Connect(e),
        })?;
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // The request line carries the path only (the authority went into `Host`).
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let first_byte = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(Duration::from_secs(600));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let io = async move {
        // The connection runs until the response body is read (or the response dropped).
        let res = conn.await.map_err(Error::from);
        drop(tx);
        res
    };
    let io: Pin<Box<dyn Future<Output = std::result::Result<(), Error>> + Send>> = Box::pin(io);
    // Drive the connection beside the request: spawn it, and hand the guest a future that
    // ends with it.
    let task = tokio::spawn(io);
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let done = async move {
        let _ = rx.await;
        match task.await {
            Ok(r) => r,
            Err(_) => Err(Error::ConnectionTerminated),
        }
    };
    Ok((
        response.map(|b| b.map_err(Error::from).boxed_unsync()),
        Box::new(done),
    ))
}

/// How a worker ends: after [`IDLE_TIMEOUT`] idle, or once its oldest pending request is past
/// the wall-clock limit (checked here too, outside the store's event loop, in case a busy guest
/// keeps that loop from seeing the request's own deadline).
struct Expiry {
    request_timeout: Option<Duration>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let timeout = match status {
            WorkerStatus::Idle => Some(IDLE_TIMEOUT),
            WorkerStatus::Requests | WorkerStatus::PostReturn => self.request_timeout,
        };
        let Some(deadline) = timeout.and_then(|t| start.checked_add(t)) else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// One instance's admission rules and per-request deadline.
struct Worker {
    id: u64,
    max_requests: usize,
    max_concurrent: usize,
    request_timeout: Option<Duration>,
}

impl WorkerState for Worker {
    type StoreData = State;
    type RequestData = u64;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_requests {
            ShouldAccept::Never
        } else if concurrent >= self.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, State>,
        request: u64,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        tracing::debug!(target: "wasio_host::serve", "instance {} takes request {request}", self.id);
        match self.request_timeout {
            Some(t) => Box::pin(tokio::time::sleep(t)),
            None => Box::pin(std::future::pending()),
        }
    }

    fn drop(&self, _store: Store<State>, result: Result<()>) {
        if let Err(e) = result {
            tracing::warn!(target: "wasio_host::serve", "instance {} failed: {e:#}", self.id);
        }
    }
}

/// Instantiates the component for the handler.
struct Served {
    host: Arc<Host>,
    pre: ProxyPre<State>,
    world: WasiVersion,
    run: RunOptions,
    next_instance: AtomicU64,
}

impl HandlerState for Served {
    type StoreData = State;
    type WorkerExpiration = Expiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> Result<Instance<State, Expiry, Worker>> {
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let mut store =
            self.host
                .store_with(&["serve".to_string()], &Stdio::Inherit, false, &self.run)?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let request_timeout = self.host.config.timeout;
        let (max_requests, max_concurrent) = match self.world {
            WasiVersion::P2 => (1, 1),
            WasiVersion::P3 => (P3_MAX_REQUESTS, P3_MAX_CONCURRENT),
        };
        Ok(Instance {
            store,
            proxy,
            view: http_view,
            expiration: Expiry {
                request_timeout,
                sleep: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            },
            state: Worker {
                id,
                max_requests,
                max_concurrent,
                request_timeout,
            },
        })
    }
}

fn http_view(s: &mut State) -> WasiHttpCtxView<'_> {
    s.http_view()
}

/// The WASI version of a proxy component (loaded from `path`): which `wasi:http` handler it
/// exports, if any.
pub fn proxy_version(
    host: &Host,
    component: &wasmtime::component::Component,
    path: &Path,
) -> Result<WasiVersion> {
    let ty = component.component_type();
    let engine = host.engine();
    let mut p2 = false;
    let mut p3 = false;
    for (name, _) in ty.exports(engine) {
        p3 |= name.starts_with("wasi:http/handler@0.3");
        p2 |= name.starts_with("wasi:http/incoming-handler@0.2");
    }
    match (p3, p2) {
        (true, _) => Ok(WasiVersion::P3),
        (false, true) => Ok(WasiVersion::P2),
        _ => wasmtime::bail!(
            "{} exports no HTTP handler (`wasi:http/incoming-handler@0.2.x` or \
             `wasi:http/handler@0.3.x`): `serve` runs proxy-world components; a program that \
             listens on a socket itself runs with `wasio-host run`",
            path.display()
        ),
    }
}

fn error_response(status: http::StatusCode, text: &'static str) -> http::Response<WasiBody> {
    let mut response = http::Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

/// Serves `component` until `shutdown` completes; `ready` gets the address it listens on
/// (useful with port 0). Connections in progress when `shutdown` completes are not waited for.
pub async fn serve(
    host: Arc<Host>,
    component: &Path,
    opts: ServeOptions,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let loaded = host.load(component)?;
    let world = proxy_version(&host, &loaded, component)?;
    let pre = host.linker.instantiate_pre(&loaded)?;
    let pre = match world {
        WasiVersion::P3 => ProxyPre::P3(
            wasmtime_wasi_http::p3::bindings::ServicePre::new(pre)
                .context("the component's wasi:http/handler does not match wasi:http@0.3.0")?,
        ),
        WasiVersion::P2 => ProxyPre::P2(
            wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre)
                .context("the component's wasi:http/incoming-handler does not match")?,
        ),
    };
    let handler = ProxyHandler::new(Served {
        host: host.clone(),
        pre,
        world,
        run: opts.run.clone(),
        next_instance: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("listen on {}", opts.addr))?;
    let local = listener.local_addr()?;
    tracing::info!(target: "wasio_host::serve", "serving {} ({world}) on http://{local}/", component.display());
    ready(local);
    let connections = Arc::new(tokio::sync::Semaphore::new(opts.max_connections.max(1)));
    let next_request = Arc::new(AtomicU64::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            a = async {
                let permit = connections.clone().acquire_owned().await;
                (permit, listener.accept().await)
            } => a,
        };
        let (Ok(permit), result) = accepted else {
            break;
        };
        let stream = match result {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(target: "wasio_host::serve", "accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let next_request = next_request.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                let id = next_request.fetch_add(1, Ordering::Relaxed);
                async move {
                    let req =
                        req.map(|b| b.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
                    let response = match handler.handle(id, req).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(target: "wasio_host::serve", "request {id}: {e:#}");
                            error_response(
                                http::StatusCode::INTERNAL_SERVER_ERROR,
                                "the component did not produce a response\n",
                            )
                        }
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(target: "wasio_host::serve", "connection: {e}");
            }
            drop(permit);
        });
    }
    Ok(())
}
