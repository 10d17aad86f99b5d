//! Client connections: [`connect`] (names, Happy Eyeballs) and [`connect_addrs`].
//!
//! # Happy Eyeballs (RFC 8305, asyncio `staggered_race`)
//!
//! * Addresses are tried in resolver order, interleaved by family (CLI-04): grouped by family
//!   in the order each family first appears, `interleave - 1` extra addresses of the first
//!   family up front, then round-robin.
//! * Attempt 0 starts at once; attempt `i + 1` starts when attempt `i` fails or
//!   `happy_eyeballs_delay` after it started, whichever is first; earlier attempts keep running
//!   (CLI-05). Without a delay the attempts are strictly sequential (CLI-03).
//! * The first success wins; every other attempt is dropped, which closes its socket, and no
//!   further attempt starts (CLI-06). Dropping the whole race closes every in-flight socket.
//! * If every attempt fails (CLI-07, asyncio `create_connection`): a single error, or errors
//!   that all read the same, give the first error unchanged; different errors give one error
//!   reading `Multiple exceptions: e1, e2, …`. With
//!   [`all_errors`](ConnectOptions::all_errors) the error carries every attempt's address and
//!   error as [`ConnectErrors`] (asyncio `all_errors=True`, an `ExceptionGroup`).
//! * The delay is not clamped (CPython does not either); RFC 8305 recommends 250 ms (the
//!   default) and at least 10 ms.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use super::addrs::{Addrs, ToSocketAddrs, resolve_addrs};
use super::dns::lookup_host;
use super::stream::TcpStream;
use crate::time::{Sleep, sleep, timeout};

// `TcpStream::connect` lives here, beside the Happy Eyeballs race it uses, so that the
// stream module does not depend on this one.
impl TcpStream {
    /// Connects to `addr`: a `SocketAddr`, `"host:port"`, `(host, port)` or a list
    /// ([`ToSocketAddrs`]). A name is resolved on the loop; several addresses are raced with
    /// Happy Eyeballs as [`connect`](crate::net::connect) does (with its default options).
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        if let Addrs::One(one) = addr.to_addrs() {
            return TcpStream::connect_from(one, None).await;
        }
        let addrs = resolve_addrs(&addr).await?;
        match addrs.as_slice() {
            [one] => TcpStream::connect_from(*one, None).await,
            many => connect_addrs(many, &ConnectOptions::new()).await,
        }
    }
}

/// RFC 8305 "Connection Attempt Delay" recommended default (CLI-09).
pub const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// Options of [`connect`] and [`connect_addrs`].
///
/// ```
/// use std::time::Duration;
/// let opts = wasio::net::ConnectOptions::new()
///     .happy_eyeballs_delay(Some(Duration::from_millis(100)))
///     .timeout(Duration::from_secs(5));
/// assert_eq!(opts.get_happy_eyeballs_delay(), Some(Duration::from_millis(100)));
/// ```
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    happy_eyeballs_delay: Option<Duration>,
    interleave: Option<usize>,
    local_addrs: Vec<SocketAddr>,
    timeout: Option<Duration>,
    all_errors: bool,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            happy_eyeballs_delay: Some(DEFAULT_HAPPY_EYEBALLS_DELAY),
            interleave: None,
            local_addrs: Vec::new(),
            timeout: None,
            all_errors: false,
        }
    }
}

impl ConnectOptions {
    /// Happy Eyeballs on (250 ms), no local address, no timeout.
    pub fn new() -> ConnectOptions {
        ConnectOptions::default()
    }

    /// The delay before the next attempt starts while the previous one is still pending;
    /// `None` makes the attempts strictly sequential.
    pub fn happy_eyeballs_delay(mut self, delay: Option<Duration>) -> ConnectOptions {
        self.happy_eyeballs_delay = delay;
        self
    }

    /// The configured delay.
    pub fn get_happy_eyeballs_delay(&self) -> Option<Duration> {
        self.happy_eyeballs_delay
    }

    /// Family interleaving ("First Address Family Count"); 0 keeps the resolver order. Defaults
    /// to 1 with Happy Eyeballs and 0 without (asyncio).
    pub fn interleave(mut self, first_family_count: usize) -> ConnectOptions {
        self.interleave = Some(first_family_count);
        self
    }

    /// Binds each attempt to the first of these local addresses with the attempt's family
    /// (CLI-08).
    pub fn local_addr(mut self, addr: SocketAddr) -> ConnectOptions {
        self.local_addrs.push(addr);
        self
    }

    /// Gives up (with `TimedOut`) if no attempt succeeded within `limit`, resolution included.
    pub fn timeout(mut self, limit: Duration) -> ConnectOptions {
        self.timeout = Some(limit);
        self
    }

    /// When every attempt fails, return all their errors (asyncio `all_errors=True`): the
    /// `io::Error` then carries a [`ConnectErrors`] with each attempt's address and error, in
    /// attempt order. Off by default.
    pub fn all_errors(mut self, on: bool) -> ConnectOptions {
        self.all_errors = on;
        self
    }
}

/// Every failed attempt of a connect, in attempt order: what an `io::Error` from [`connect`]
/// or [`connect_addrs`] carries when [`ConnectOptions::all_errors`] is on.
///
/// ```
/// use wasio::net::{ConnectErrors, ConnectOptions, TcpListener, connect_addrs};
///
/// wasio::run(async {
///     // Two ports nobody listens on: bind, note the address, close.
///     let a = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
///     let b = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
///     let opts = ConnectOptions::new().all_errors(true);
///     let err = connect_addrs(&[a, b], &opts).await.unwrap_err();
///     let all = ConnectErrors::from_io(&err).expect("all_errors gives every attempt");
///     assert_eq!(all.attempts().len(), 2);
///     assert_eq!(all.attempts()[0].0, a);
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct ConnectErrors {
    attempts: Vec<(SocketAddr, io::Error)>,
}

impl ConnectErrors {
    /// Each attempt's address and error, in attempt order.
    pub fn attempts(&self) -> &[(SocketAddr, io::Error)] {
        &self.attempts
    }

    /// The `ConnectErrors` inside an error from [`connect`], if it carries one.
    pub fn from_io(err: &io::Error) -> Option<&ConnectErrors> {
        err.get_ref()?.downcast_ref::<ConnectErrors>()
    }
}

impl fmt::Display for ConnectErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "create_connection failed ({} attempts)",
            self.attempts.len()
        )?;
        for (addr, e) in &self.attempts {
            write!(f, "; {addr}: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectErrors {}

/// Connects to `host:port`: resolves the name (IP literals skip the resolver), then races the
/// addresses with Happy Eyeballs.
///
/// ```
/// use wasio::net::{ConnectOptions, TcpListener, connect};
///
/// wasio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let port = listener.local_addr()?.port();
///     let stream = connect("127.0.0.1", port, &ConnectOptions::new()).await?;
///     assert_eq!(stream.peer_addr()?.port(), port);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub async fn connect(host: &str, port: u16, options: &ConnectOptions) -> io::Result<TcpStream> {
    if host.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "host and port was not specified",
        ));
    }
    if port == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot connect to port 0",
        ));
    }
    let work = async {
        let addrs = lookup_host(host, port).await?;
        race(&addrs, options).await
    };
    with_timeout(options.timeout, work).await
}

/// Races connections to `addrs` (each with its own port) as [`connect`] does after resolving.
pub async fn connect_addrs(
    addrs: &[SocketAddr],
    options: &ConnectOptions,
) -> io::Result<TcpStream> {
    with_timeout(options.timeout, race(addrs, options)).await
}

async fn with_timeout<F: Future<Output = io::Result<TcpStream>>>(
    limit: Option<Duration>,
    work: F,
) -> io::Result<TcpStream> {
    match limit {
        None => work.await,
        Some(limit) => match timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect timed out after {limit:?}"),
            )),
        },
    }
}

/// Interleaves addresses by family (asyncio `_interleave_addrinfos`, CLI-04).
///
/// ```
/// use std::net::SocketAddr;
/// let a: Vec<SocketAddr> = ["[::1]:1", "[::2]:1", "10.0.0.1:1", "10.0.0.2:1"]
///     .iter()
///     .map(|s| s.parse().unwrap())
///     .collect();
/// let out = wasio::net::interleave_addrs(&a, 1);
/// assert_eq!(out, vec![a[0], a[2], a[1], a[3]]);
/// ```
pub fn interleave_addrs(addrs: &[SocketAddr], first_family_count: usize) -> Vec<SocketAddr> {
    // Families in order of first appearance.
    let mut groups: Vec<(bool, Vec<SocketAddr>)> = Vec::new();
    for a in addrs {
        match groups.iter_mut().find(|(v6, _)| *v6 == a.is_ipv6()) {
            Some((_, g)) => g.push(*a),
            None => groups.push((a.is_ipv6(), vec![*a])),
        }
    }
    let mut out = Vec::with_capacity(addrs.len());
    let mut queues: Vec<std::collections::VecDeque<SocketAddr>> =
        groups.into_iter().map(|(_, g)| g.into()).collect();
    if first_family_count > 1
        && let Some(first) = queues.first_mut()
    {
        for _ in 0..first_family_count - 1 {
            match first.pop_front() {
                Some(a) => out.push(a),
                None => break,
            }
        }
    }
    loop {
        let mut any = false;
        for q in queues.iter_mut() {
            if let Some(a) = q.pop_front() {
                out.push(a);
                any = true;
            }
        }
        if !any {
            return out;
        }
    }
}

type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

fn start(addr: SocketAddr, locals: &[SocketAddr]) -> Result<Attempt, io::Error> {
    let local = if locals.is_empty() {
        None
    } else {
        match locals.iter().find(|l| l.is_ipv6() == addr.is_ipv6()) {
            Some(l) => Some(*l),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "no matching local address with family={} found",
                        if addr.is_ipv6() {
                            "AF_INET6"
                        } else {
                            "AF_INET"
                        }
                    ),
                ));
            }
        }
    };
    Ok(Box::pin(TcpStream::connect_from(addr, local)))
}

/// The staggered race over `addrs`.
async fn race(addrs: &[SocketAddr], options: &ConnectOptions) -> io::Result<TcpStream> {
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "getaddrinfo() returned empty list",
        ));
    }
    let delay = options.happy_eyeballs_delay;
    let interleave = options
        .interleave
        .unwrap_or(if delay.is_some() { 1 } else { 0 });
    let order = if interleave > 0 {
        interleave_addrs(addrs, interleave)
    } else {
        addrs.to_vec()
    };
    let mut running: Vec<(usize, Attempt)> = Vec::new();
    let mut errors: Vec<(usize, io::Error)> = Vec::new();
    let mut next = 0usize;
    // The latest attempt failed: the next one may start at once.
    let mut latest_failed = true;
    let mut timer: Option<Sleep> = None;
    poll_fn(|cx| {
        loop {
            if next < order.len() && latest_failed {
                let i = next;
                next += 1;
                match start(order[i], &options.local_addrs) {
                    Ok(a) => {
                        running.push((i, a));
                        latest_failed = false;
                        timer = delay.map(sleep);
                    }
                    Err(e) => errors.push((i, e)),
                }
                continue;
            }
            let mut k = 0;
            while k < running.len() {
                match running[k].1.as_mut().poll(cx) {
                    Poll::Ready(Ok(stream)) => return Poll::Ready(Ok(stream)),
                    Poll::Ready(Err(e)) => {
                        let (i, _) = running.remove(k);
                        if i + 1 == next {
                            latest_failed = true;
                        }
                        errors.push((i, e));
                    }
                    Poll::Pending => k += 1,
                }
            }
            if latest_failed && next < order.len() {
                continue;
            }
            if running.is_empty() && next >= order.len() {
                errors.sort_by_key(|(i, _)| *i);
                let errs = std::mem::take(&mut errors);
                return Poll::Ready(Err(combine(&order, errs, options.all_errors)));
            }
            if next < order.len()
                && let Some(t) = timer.as_mut()
                && Pin::new(t).poll(cx).is_ready()
            {
                timer = None;
                latest_failed = true;
                continue;
            }
            return Poll::Pending;
        }
    })
    .await
}

/// The error of a race in which every attempt failed (asyncio `create_connection`'s rule).
fn combine(order: &[SocketAddr], errors: Vec<(usize, io::Error)>, all: bool) -> io::Error {
    let kind = match errors.first() {
        Some((_, first)) if errors.iter().all(|(_, e)| e.kind() == first.kind()) => first.kind(),
        _ => io::ErrorKind::Other,
    };
    if all {
        let attempts = errors.into_iter().map(|(i, e)| (order[i], e)).collect();
        return io::Error::new(kind, ConnectErrors { attempts });
    }
    let texts: Vec<String> = errors.iter().map(|(_, e)| e.to_string()).collect();
    if texts.iter().all(|t| *t == texts[0])
        && let Some((_, first)) = errors.into_iter().next()
    {
        // One error, or all the same: raise the first unchanged.
        return first;
    }
    io::Error::new(kind, format!("Multiple exceptions: {}", texts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn interleave_rules() {
        let a = addrs(&["[::1]:1", "[::2]:1", "10.0.0.1:1", "10.0.0.2:1"]);
        assert_eq!(interleave_addrs(&a, 1), vec![a[0], a[2], a[1], a[3]]);
        assert_eq!(interleave_addrs(&a, 2), vec![a[0], a[1], a[2], a[3]]);
        assert_eq!(interleave_addrs(&a, 0), vec![a[0], a[2], a[1], a[3]]);
        let b = addrs(&["10.0.0.1:1", "[::1]:1", "10.0.0.2:1", "10.0.0.3:1"]);
        assert_eq!(interleave_addrs(&b, 1), vec![b[0], b[1], b[2], b[3]]);
        assert!(interleave_addrs(&[], 1).is_empty());
    }

    #[test]
    fn combine_follows_asyncio() {
        let order = addrs(&["127.0.0.1:1", "127.0.0.1:2"]);
        let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let e = combine(&order, vec![(0, refused())], false);
        assert_eq!(
            (e.kind(), e.to_string()),
            (io::ErrorKind::ConnectionRefused, "refused".into())
        );
        // All the same text: the first, unchanged.
        let e = combine(&order, vec![(0, refused()), (1, refused())], false);
        assert_eq!(
            (e.kind(), e.to_string()),
            (io::ErrorKind::ConnectionRefused, "refused".into())
        );
        assert!(
            e.get_ref()
                .is_some_and(|i| i.downcast_ref::<ConnectErrors>().is_none())
        );
        // Different texts: one error listing them.
        let other = io::Error::new(io::ErrorKind::TimedOut, "timed out");
        let e = combine(&order, vec![(0, refused()), (1, other)], false);
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert_eq!(e.to_string(), "Multiple exceptions: refused, timed out");
        // all_errors: every attempt, structured.
        let e = combine(&order, vec![(0, refused()), (1, refused())], true);
        let all = ConnectErrors::from_io(&e).expect("structured");
        assert_eq!(all.attempts().len(), 2);
        assert_eq!(all.attempts()[1].0, order[1]);
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
