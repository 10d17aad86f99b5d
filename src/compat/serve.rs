//! [`serve`]: one call serves a listener with a hyper service, HTTP/1.1 and HTTP/2 (by the
//! connection's preface), with keep-alive, timeouts, a connection limit and graceful
//! shutdown, on wasio natively and in wasmtime alike.
//!
//! # Ground rules
//!
//! * One task accepts; one task per connection runs hyper-util's automatic builder (HTTP/1.1,
//!   or HTTP/2 when the client starts with its preface, as `h2c` prior knowledge and, over
//!   TLS, after ALPN).
//! * Timeouts run on wasio's timers: a request's headers must arrive within
//!   `header_read_timeout` (HTTP/1.1; also bounds the TLS handshake), and a connection with
//!   no byte read or written for `idle_timeout` is shut down gracefully (an idle keep-alive
//!   connection closes; a request in progress finishes first).
//! * Past `max_connections`, a new connection is accepted and closed at once (and counted in
//!   [`Serving::refused`]), never left to pile up: a server near its memory limit refuses
//!   instead of trapping.
//! * [`Serving::shutdown`]: stop accepting (the listener closes, new connects are refused),
//!   tell every connection to finish what it is doing (in-flight requests complete, then
//!   HTTP/1.1 connections close and HTTP/2 ones send GOAWAY), wait for them up to the grace
//!   period, then close the rest.
//! * Errors of a connection (a client that went away, a malformed request) end that
//!   connection only and are logged at `debug`; accept errors are logged and retried.

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::server::conn::auto;

use super::hyper_rt::{HyperIo, WasioExecutor, WasioTimer};
use crate::net::{TcpListener, TcpStream};
use crate::task::JoinHandle;
use crate::time::Sleep;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How [`serve`] serves. `ServeOptions::new()` gives the defaults.
#[derive(Clone)]
pub struct ServeOptions {
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_connections: Option<usize>,
    keep_alive: bool,
    http1_only: bool,
    http2_only: bool,
    #[cfg(feature = "tls")]
    tls: Option<futures_rustls::TlsAcceptor>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            header_read_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            max_connections: Some(10_000),
            keep_alive: true,
            http1_only: false,
            http2_only: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("keep_alive", &self.keep_alive)
            .field("http1_only", &self.http1_only)
            .field("http2_only", &self.http2_only)
            .finish_non_exhaustive()
    }
}

impl ServeOptions {
    /// The defaults: HTTP/1.1 and HTTP/2, keep-alive, headers within 30 s, idle connections
    /// closed after 60 s, at most 10,000 connections at once.
    pub fn new() -> ServeOptions {
        ServeOptions::default()
    }
    /// How long a request's headers (and a TLS handshake) may take to arrive (`None`: no
    /// limit).
    pub fn header_read_timeout(mut self, t: Option<Duration>) -> ServeOptions {
        self.header_read_timeout = t;
        self
    }
    /// How long a connection may stay without a byte read or written before it is shut down
    /// gracefully (`None`: no limit).
    pub fn idle_timeout(mut self, t: Option<Duration>) -> ServeOptions {
        self.idle_timeout = t;
        self
    }
    /// The most connections served at once; more are accepted and closed at once (`None`:
    /// no limit). Size it so that this many connections fit the memory the server has (in
    /// wasmtime, the store's memory limit): each holds its buffers and hyper's state.
    pub fn max_connections(mut self, n: Option<usize>) -> ServeOptions {
        self.max_connections = n;
        self
    }
    /// HTTP/1.1 keep-alive (default on).
    pub fn keep_alive(mut self, on: bool) -> ServeOptions {
        self.keep_alive = on;
        self
    }
    /// Serve HTTP/1.1 only.
    pub fn http1_only(mut self) -> ServeOptions {
        self.http1_only = true;
        self.http2_only = false;
        self
    }
    /// Serve HTTP/2 only (prior knowledge, or ALPN `h2` over TLS).
    pub fn http2_only(mut self) -> ServeOptions {
        self.http2_only = true;
        self.http1_only = false;
        self
    }
    /// Serve over TLS: each connection is accepted by `acceptor` first (feature `tls`; see
    /// [`crate::tls`]).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, acceptor: futures_rustls::TlsAcceptor) -> ServeOptions {
        self.tls = Some(acceptor);
        self
    }
}

/// Serves `listener` with `service` (a hyper `Service`, for instance from
/// `hyper::service::service_fn`) on the running loop, until [`Serving::shutdown`].
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::service::service_fn;
/// use hyper::{Request, Response};
/// use wasio::hyper::{ServeOptions, serve};
/// use wasio::net::TcpListener;
///
/// async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
///     Ok(Response::new(Full::new(Bytes::from("hello"))))
/// }
///
/// wasio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let serving = serve(listener, service_fn(hello), ServeOptions::new());
///     println!("listening on {}", serving.local_addr()?);
///     // ... later: stop accepting, let requests in flight finish (at most 5 s), close.
///     let report = serving.shutdown(Duration::from_secs(5)).await;
///     assert_eq!(report.aborted, 0);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub fn serve<S, B>(listener: TcpListener, service: S, options: ServeOptions) -> Serving
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let local = listener.local_addr();
    let listener = Rc::new(listener);
    let state = Rc::new(State {
        listener: listener.clone(),
        local,
        closing: Cell::new(false),
        active: Cell::new(0),
        served: Cell::new(0),
        refused: Cell::new(0),
        conns: RefCell::new(slab::Slab::new()),
        idle_waiters: RefCell::new(Vec::new()),
        accept: RefCell::new(None),
    });
    let mut builder = auto::Builder::new(WasioExecutor::new());
    builder
        .http1()
        .timer(WasioTimer::new())
        .keep_alive(options.keep_alive)
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(WasioTimer::new());
    if options.http1_only {
        builder = builder.http1_only();
    } else if options.http2_only {
        builder = builder.http2_only();
    }
    let accept = crate::spawn(accept_loop(
        state.clone(),
        Rc::new(builder),
        service,
        options,
    ));
    *state.accept.borrow_mut() = Some(accept);
    Serving { state }
}

/// A running [`serve`]: its address, counters, and the way to stop it.
#[derive(Clone)]
pub struct Serving {
    state: Rc<State>,
}

/// What [`Serving::shutdown`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections that finished on their own within the grace period.
    pub finished: usize,
    /// Connections still open at the end of the grace period, then closed.
    pub aborted: usize,
}

impl Serving {
    /// The listening address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.state
            .local
            .as_ref()
            .copied()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.state.active.get()
    }

    /// Connections served since the start (finished ones included).
    pub fn served(&self) -> u64 {
        self.state.served.get()
    }

    /// Connections refused because `max_connections` were open.
    pub fn refused(&self) -> u64 {
        self.state.refused.get()
    }

    /// Stops accepting, lets the connections finish what they are doing for at most `grace`,
    /// then closes the rest. Idempotent: a second call waits the same way.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let state = &self.state;
        let first = !state.closing.replace(true);
        if first {
            state.listener.close();
            if let Some(task) = state.accept.borrow().as_ref() {
                task.cancel();
            }
        }
        let open = state.active.get();
        for (_, c) in state.conns.borrow().iter() {
            c.shutdown.set(true);
            if let Some(w) = c.waker.take() {
                w.wake();
            }
        }
        let all_done = poll_fn(|cx| {
            if state.active.get() == 0 {
                Poll::Ready(())
            } else {
                state.idle_waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        });
        let _ = crate::timeout(grace, all_done).await;
        let left: Vec<JoinHandle<()>> = state
            .conns
            .borrow_mut()
            .iter_mut()
            .filter_map(|(_, c)| c.task.take())
            .collect();
        let aborted = left.len();
        for t in &left {
            t.cancel();
        }
        for t in left {
            let _ = t.await;
        }
        ShutdownReport {
            finished: open.saturating_sub(aborted),
            aborted,
        }
    }
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("local", &self.state.local.as_ref().ok())
            .field("connections", &self.state.active.get())
            .field("closing", &self.state.closing.get())
            .finish()
    }
}

/// What the accept task, the connections and the handle share.
struct State {
    listener: Rc<TcpListener>,
    local: io::Result<SocketAddr>,
    closing: Cell<bool>,
    active: Cell<usize>,
    served: Cell<u64>,
    refused: Cell<u64>,
    conns: RefCell<slab::Slab<Conn>>,
    /// Tasks waiting for `active` to reach 0.
    idle_waiters: RefCell<Vec<Waker>>,
    accept: RefCell<Option<JoinHandle<()>>>,
}

/// One connection, as the server tracks it.
struct Conn {
    shutdown: Rc<Cell<bool>>,
    waker: Rc<Cell<Option<Waker>>>,
    task: Option<JoinHandle<()>>,
}

async fn accept_loop<S, B>(
    state: Rc<State>,
    builder: Rc<auto::Builder<WasioExecutor>>,
    service: S,
    options: ServeOptions,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        let (stream, peer) = match state.listener.accept().await {
            Ok(v) => v,
            Err(_) if state.closing.get() || state.listener.is_closed() => return,
            Err(e) => {
                tracing::warn!(target: "wasio", error = %e, "accept failed; retrying");
                crate::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if options
            .max_connections
            .is_some_and(|max| state.active.get() >= max)
        {
            state.refused.set(state.refused.get() + 1);
            if last_refusal_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                last_refusal_log = Some(Instant::now());
                tracing::warn!(
                    target: "wasio",
                    %peer,
                    "refused a connection: {} connections open (max_connections); {} refused so far",
                    state.active.get(),
                    state.refused.get()
                );
            }
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shutdown = Rc::new(Cell::new(false));
        let waker = Rc::new(Cell::new(None));
        let key = state.conns.borrow_mut().insert(Conn {
            shutdown: shutdown.clone(),
            waker: waker.clone(),
            task: None,
        });
        state.active.set(state.active.get() + 1);
        state.served.set(state.served.get() + 1);
        let guard = ConnGuard {
            state: state.clone(),
            key,
        };
        let task = crate::spawn(connection(
            guard,
            stream,
            builder.clone(),
            service.clone(),
            options.clone(),
            shutdown,
            waker,
        ));
        if let Some(c) = state.conns.borrow_mut().get_mut(key) {
            c.task = Some(task);
        }
    }
}

/// Counts a connection out however its task ends.
struct ConnGuard {
    state: Rc<State>,
    key: usize,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let s = &self.state;
        if let Ok(mut conns) = s.conns.try_borrow_mut() {
            conns.try_remove(self.key);
        }
        s.active.set(s.active.get().saturating_sub(1));
        if s.active.get() == 0 {
            let waiters = std::mem::take(&mut *s.idle_waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
        }
    }
}

async fn connection<S, B>(
    _guard: ConnGuard,
    stream: TcpStream,
    builder: Rc<auto::Builder<WasioExecutor>>,
    service: S,
    options: ServeOptions,
    shutdown: Rc<Cell<bool>>,
    waker: Rc<Cell<Option<Waker>>>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let activity = Rc::new(Cell::new(Instant::now()));
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &options.tls {
        let handshake = acceptor.accept(stream);
        let stream = match options.header_read_timeout {
            Some(t) => match crate::timeout(t, handshake).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!(target: "wasio", "TLS handshake timed out");
                    return;
                }
            },
            None => handshake.await,
        };
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(target: "wasio", error = %e, "TLS handshake failed");
                return;
            }
        };
        let io = Activity {
            inner: stream,
            last: activity.clone(),
        };
        drive(
            &builder, io, service, &options, &shutdown, &waker, &activity,
        )
        .await;
        return;
    }
    let io = Activity {
        inner: stream,
        last: activity.clone(),
    };
    drive(
        &builder, io, service, &options, &shutdown, &waker, &activity,
    )
    .await;
}

/// Serves one connection until it ends; a shutdown request or the idle timeout asks hyper to
/// finish gracefully.
async fn drive<I, S, B>(
    builder: &auto::Builder<WasioExecutor>,
    io: I,
    service: S,
    options: &ServeOptions,
    shutdown: &Cell<bool>,
    waker: &Cell<Option<Waker>>,
    activity: &Cell<Instant>,
) where
    I: AsyncRead + AsyncWrite + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let conn = builder.serve_connection(HyperIo::new(io), service);
    let mut conn = pin!(conn);
    let mut graceful = false;
    let mut idle: Option<Pin<Box<Sleep>>> = options
        .idle_timeout
        .map(|t| Box::pin(crate::sleep_until(activity.get() + t)));
    let res = poll_fn(|cx: &mut Context<'_>| {
        loop {
            if !graceful && shutdown.get() {
                graceful = true;
                conn.as_mut().graceful_shutdown();
            }
            if let Poll::Ready(r) = conn.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            waker.set(Some(cx.waker().clone()));
            let (Some(limit), Some(sleep)) = (options.idle_timeout, idle.as_mut()) else {
                return Poll::Pending;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = activity.get() + limit;
            if Instant::now() < due {
                // Something happened since: wait again from the last activity.
                sleep.as_mut().reset(due);
                continue;
            }
            if graceful {
                // Idle again after the graceful request: give up on it.
                return Poll::Ready(Ok(()));
            }
            graceful = true;
            conn.as_mut().graceful_shutdown();
            sleep.as_mut().reset(Instant::now() + limit);
        }
    })
    .await;
    if let Err(e) = res {
        tracing::debug!(target: "wasio", error = %e, "connection ended with an error");
    }
}

/// A stream that records when a byte last went through, for the idle timeout.
struct Activity<T> {
    inner: T,
    last: Rc<Cell<Instant>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = res
            && n > 0
        {
            self.last.set(Instant::now());
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res
            && n > 0
        {
            self.last.set(Instant::now());
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
