//! [`ToSocketAddrs`]: what `bind`, `connect` and `send_to` take, as tokio's do: a
//! `SocketAddr`, `"host:port"`, `(host, port)` or a list. Names are resolved on the loop (see
//! [`lookup_host`](super::lookup_host)); literals never reach the resolver.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::dns::lookup_host;

mod sealed {
    /// The implementations are wasio's own, so the trait can grow without breaking anyone.
    pub trait Sealed {}
}

/// Something that names one or more socket addresses: `SocketAddr` (and its V4/V6 forms),
/// `(IpAddr, u16)`, `(&str, u16)` / `(String, u16)`, `"host:port"` (`&str`, `String`; an
/// IPv6 host in brackets: `"[::1]:80"`), and slices or vectors of `SocketAddr`. A name is
/// resolved on the loop, as [`lookup_host`](super::lookup_host) does.
///
/// ```
/// use wasio::net::{TcpListener, TcpStream, UdpSocket};
///
/// wasio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let port = listener.local_addr()?.port();
///     let client = TcpStream::connect(("localhost", port)).await?;
///     let udp = UdpSocket::bind("127.0.0.1:0").await?;
///     udp.send_to(b"hi", format!("127.0.0.1:{}", udp.local_addr()?.port())).await?;
///     # drop(client);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub trait ToSocketAddrs: sealed::Sealed {
    #[doc(hidden)]
    fn to_addrs(&self) -> Addrs;
}

/// What a [`ToSocketAddrs`] stands for, before any lookup.
#[doc(hidden)]
#[derive(Debug)]
pub enum Addrs {
    /// One address, no lookup needed (nothing allocated).
    One(SocketAddr),
    /// Addresses, no lookup needed.
    Ready(Vec<SocketAddr>),
    /// A name to look up, with the port.
    Lookup(String, u16),
    /// Malformed input.
    Invalid(String),
}

/// Resolves `addrs` (a lookup only for a name). An empty result is an error.
pub(crate) async fn resolve_addrs(addrs: &impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let list = match addrs.to_addrs() {
        Addrs::One(a) => vec![a],
        Addrs::Ready(list) => list,
        Addrs::Lookup(host, port) => lookup_host(&host, port).await?,
        Addrs::Invalid(why) => return Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
    };
    if list.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to use (an empty list)",
        ));
    }
    Ok(list)
}

/// The first address `addrs` names (a lookup only for a name), allocating nothing for a
/// single address: for per-call arguments (`send_to`).
pub(crate) async fn resolve_one(addrs: &impl ToSocketAddrs) -> io::Result<SocketAddr> {
    match addrs.to_addrs() {
        Addrs::One(a) => Ok(a),
        _ => Ok(resolve_addrs(addrs).await?[0]),
    }
}

/// Tries `op` on each address in turn; the first success, or the last error (tokio's rule for
/// `bind`).
pub(crate) async fn first_that_works<T, F, Fut>(
    addrs: &impl ToSocketAddrs,
    mut op: F,
) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in resolve_addrs(addrs).await? {
        match op(addr).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address")))
}

/// Splits `"host:port"` into the host (brackets of an IPv6 literal removed) and the port, for
/// the APIs that take them apart ([`start_server`](super::start_server), as asyncio's
/// `create_server(host, port)`). Malformed input is an `InvalidInput` error.
///
/// ```
/// assert_eq!(wasio::net::split_host_port("[::1]:80").unwrap(), ("::1", 80));
/// assert_eq!(wasio::net::split_host_port("localhost:8080").unwrap(), ("localhost", 8080));
/// assert!(wasio::net::split_host_port("no-port").is_err());
/// ```
pub fn split_host_port(s: &str) -> io::Result<(&str, u16)> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{s:?}: {why}"));
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected host:port"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid("the port must be a number from 0 to 65535"))?;
    let (host, bracketed) = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(h) => (h, true),
        None => (host, false),
    };
    if host.is_empty() {
        return Err(invalid("the host is empty"));
    }
    if host.contains(':') && (!bracketed || host.parse::<Ipv6Addr>().is_err()) {
        return Err(invalid("an IPv6 host goes in brackets, [::1]:80"));
    }
    Ok((host, port))
}

/// What `"host:port"` names.
fn parse_host_port(s: &str) -> Addrs {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Addrs::One(a);
    }
    let (host, port) = match split_host_port(s) {
        Ok(hp) => hp,
        Err(e) => return Addrs::Invalid(e.to_string()),
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => Addrs::One(SocketAddr::new(ip, port)),
        Err(_) => Addrs::Lookup(host.to_owned(), port),
    }
}

fn host_and_port(host: &str, port: u16) -> Addrs {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => Addrs::One(SocketAddr::new(ip, port)),
        Err(_) if host.is_empty() => Addrs::Invalid("the host is empty".into()),
        Err(_) => Addrs::Lookup(host.to_owned(), port),
    }
}

macro_rules! ready {
    ($t:ty, |$v:ident| $e:expr) => {
        impl sealed::Sealed for $t {}
        impl ToSocketAddrs for $t {
            fn to_addrs(&self) -> Addrs {
                let $v = self;
                $e
            }
        }
    };
}

ready!(SocketAddr, |a| Addrs::One(*a));
ready!(SocketAddrV4, |a| Addrs::One(SocketAddr::V4(*a)));
ready!(SocketAddrV6, |a| Addrs::One(SocketAddr::V6(*a)));
ready!((IpAddr, u16), |a| Addrs::One(SocketAddr::new(a.0, a.1)));
ready!((Ipv4Addr, u16), |a| Addrs::One(SocketAddr::new(
    IpAddr::V4(a.0),
    a.1
)));
ready!((Ipv6Addr, u16), |a| Addrs::One(SocketAddr::new(
    IpAddr::V6(a.0),
    a.1
)));
ready!([SocketAddr], |a| Addrs::Ready(a.to_vec()));
ready!(Vec<SocketAddr>, |a| Addrs::Ready(a.clone()));

impl<const N: usize> sealed::Sealed for [SocketAddr; N] {}
impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {
    fn to_addrs(&self) -> Addrs {
        Addrs::Ready(self.to_vec())
    }
}

impl sealed::Sealed for str {}
impl ToSocketAddrs for str {
    fn to_addrs(&self) -> Addrs {
        parse_host_port(self)
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn to_addrs(&self) -> Addrs {
        parse_host_port(self)
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn to_addrs(&self) -> Addrs {
        host_and_port(self.0, self.1)
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn to_addrs(&self) -> Addrs {
        host_and_port(&self.0, self.1)
    }
}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_addrs(&self) -> Addrs {
        (**self).to_addrs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(a: &impl ToSocketAddrs) -> Vec<SocketAddr> {
        match a.to_addrs() {
            Addrs::One(a) => vec![a],
            Addrs::Ready(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_form_names_its_addresses() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(ready(&a), [a]);
        assert_eq!(ready(&"127.0.0.1:80"), [a]);
        assert_eq!(ready(&"[::1]:80"), [v6]);
        assert_eq!(ready(&("127.0.0.1", 80)), [a]);
        assert_eq!(ready(&("::1", 80)), [v6]);
        assert_eq!(ready(&(a.ip(), 80)), [a]);
        assert_eq!(ready(&[a, v6]), [a, v6]);
        assert_eq!(ready(&String::from("127.0.0.1:80")), [a]);
        assert!(matches!("localhost:80".to_addrs(), Addrs::Lookup(h, 80) if h == "localhost"));
        assert!(matches!(
            ("example.invalid", 1).to_addrs(),
            Addrs::Lookup(..)
        ));
        for bad in ["nope", "host:99999", ":80", "::1:80", "host:port"] {
            assert!(matches!(bad.to_addrs(), Addrs::Invalid(_)), "{bad}");
        }
    }
}
