//! CLI-01..CLI-09: client connections, name resolution and Happy Eyeballs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wasio::net::{
    ConnectErrors, ConnectOptions, DEFAULT_HAPPY_EYEBALLS_DELAY, ResolveError, TcpListener,
    connect, connect_addrs, interleave_addrs, is_resolve_error, lookup_host, resolve,
};

use super::net_util::{WAIT, hanging_addr, lo4, lo6, refused_addr};
use crate::{Context, Transcript, block, ensure, ensure_eq, kind, within};

fn err_kind<T>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => kind(e),
    }
}

/// CLI-01 / GEN-01: bad input is an error at the call site.
pub fn cli01_bad_input_is_an_error(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let opts = ConnectOptions::new();
        t.push(format!(
            "empty host: {}",
            err_kind(&connect("", 80, &opts).await)
        ));
        t.push(format!(
            "port 0: {}",
            err_kind(&connect("127.0.0.1", 0, &opts).await)
        ));
        let none = connect_addrs(&[], &opts).await;
        t.push(format!(
            "no addresses: {} says empty list={}",
            err_kind(&none),
            none.as_ref()
                .err()
                .is_some_and(|e| e.to_string().contains("returned empty list"))
        ));
        let unspecified: SocketAddr = "0.0.0.0:80".parse().map_err(|e| format!("{e}"))?;
        t.push(format!(
            "unspecified: {}",
            err_kind(&wasio::net::TcpStream::connect(unspecified).await)
        ));
        t.push(format!(
            "empty lookup: {}",
            err_kind(&lookup_host("", 1).await)
        ));
        t.expect(&[
            "empty host: InvalidInput",
            "port 0: InvalidInput",
            "no addresses: NotFound says empty list=true",
            "unspecified: InvalidInput",
            "empty lookup: InvalidInput",
        ])
    })
}

/// CLI-02: IP literals resolve without the resolver (at once); names go through it.
pub fn cli02_ip_literals_skip_the_resolver(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        t.push(format!("127.0.0.1 -> {:?}", resolve("127.0.0.1", 9)));
        t.push(format!("[::1] -> {:?}", resolve("[::1]", 9)));
        t.push(format!(
            "localhost needs a lookup={}",
            resolve("localhost", 9).is_none()
        ));
        let names = lookup_host("localhost", 9).await.ctx("lookup localhost")?;
        ensure!(!names.is_empty(), "localhost resolved to nothing");
        t.push(format!(
            "localhost: all loopback={} port kept={}",
            names.iter().all(|a| a.ip().is_loopback()),
            names.iter().all(|a| a.port() == 9)
        ));
        // A connection by name.
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let port = listener.local_addr().ctx("local_addr")?.port();
        let accept = wasio::spawn(async move { listener.accept().await.map(drop) });
        let c = connect("localhost", port, &ConnectOptions::new()).await;
        if c.is_ok() {
            accept.await.ctx("accept task")?.ctx("accept")?;
        }
        t.push(format!("connect by name: {}", err_kind(&c)));
        t.expect(&[
            "127.0.0.1 -> Some([127.0.0.1:9])",
            "[::1] -> Some([[::1]:9])",
            "localhost needs a lookup=true",
            "localhost: all loopback=true port kept=true",
            "connect by name: ok",
        ])
    })
}

/// CLI-02 and asyncio's `socket.gaierror`: a name that does not resolve (RFC 6761: names
/// under `.invalid` never do) gives one documented error in both worlds: kind `NotFound`,
/// carrying a `ResolveError` that names the host, from the lookup and from `connect` alike.
pub fn cli02_unresolvable_name_is_a_resolve_error(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let host = "no-such-host.invalid";
        let looked_up = lookup_host(host, 80).await;
        let connected = connect(host, 80, &ConnectOptions::new()).await.map(drop);
        for (what, res) in [("lookup_host", looked_up.map(drop)), ("connect", connected)] {
            match res {
                Ok(()) => t.push(format!("{what}: resolved")),
                Err(e) => t.push(format!(
                    "{what}: {} resolve error={} names host={}",
                    kind(&e),
                    is_resolve_error(&e),
                    ResolveError::from_io(&e).is_some_and(|r| r.host() == host)
                )),
            }
        }
        t.expect(&[
            "lookup_host: NotFound resolve error=true names host=true",
            "connect: NotFound resolve error=true names host=true",
        ])
    })
}

/// CLI-03: without Happy Eyeballs, attempts are sequential: a refused address, then the next.
pub fn cli03_sequential_attempts_without_happy_eyeballs(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let refused = refused_addr().await?;
        let good = TcpListener::bind(lo4()).await.ctx("bind")?;
        let good_addr = good.local_addr().ctx("local_addr")?;
        let opts = ConnectOptions::new().happy_eyeballs_delay(None);
        let c = connect_addrs(&[refused, good_addr], &opts)
            .await
            .ctx("connect_addrs")?;
        t.push(format!(
            "connected to the second={}",
            c.peer_addr().ctx("peer")? == good_addr
        ));
        t.expect(&["connected to the second=true"])
    })
}

/// CLI-04: addresses are interleaved by family in order of first appearance.
pub fn cli04_interleave_by_family(t: &Transcript) -> Result<(), String> {
    let parse = |list: &[&str]| -> Result<Vec<SocketAddr>, String> {
        list.iter()
            .map(|s| s.parse().map_err(|e| format!("{s}: {e}")))
            .collect()
    };
    let a = parse(&["[::1]:1", "[::2]:1", "10.0.0.1:1", "10.0.0.2:1"])?;
    let out: Vec<String> = interleave_addrs(&a, 1)
        .iter()
        .map(|x| x.to_string())
        .collect();
    t.push(out.join(" "));
    let two: Vec<String> = interleave_addrs(&a, 2)
        .iter()
        .map(|x| x.to_string())
        .collect();
    t.push(two.join(" "));
    let b = parse(&["10.0.0.1:1", "10.0.0.2:1", "[::1]:1"])?;
    let v4first: Vec<String> = interleave_addrs(&b, 1)
        .iter()
        .map(|x| x.to_string())
        .collect();
    t.push(v4first.join(" "));
    t.expect(&[
        "[::1]:1 10.0.0.1:1 [::2]:1 10.0.0.2:1",
        "[::1]:1 [::2]:1 10.0.0.1:1 10.0.0.2:1",
        "10.0.0.1:1 [::1]:1 10.0.0.2:1",
    ])
}

/// CLI-05: while the first attempt hangs, the next starts after the delay, not before.
pub fn cli05_next_attempt_starts_after_the_delay(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (_hold, _fill, hanging) = hanging_addr().await?;
        let good = TcpListener::bind(lo4()).await.ctx("bind")?;
        let good_addr = good.local_addr().ctx("local_addr")?;
        let delay = Duration::from_millis(100);
        let opts = ConnectOptions::new().happy_eyeballs_delay(Some(delay));
        let t0 = Instant::now();
        let c = connect_addrs(&[hanging, good_addr], &opts)
            .await
            .ctx("connect_addrs")?;
        let took = t0.elapsed();
        ensure!(
            took >= delay,
            "second attempt started early: {took:?} < {delay:?}"
        );
        ensure!(took < Duration::from_secs(20), "took {took:?}");
        t.push(format!(
            "winner is the second address={}",
            c.peer_addr().ctx("peer")? == good_addr
        ));
        t.expect(&["winner is the second address=true"])
    })
}

/// CLI-05: a failed attempt starts the next at once, without waiting for the delay.
pub fn cli05_failure_starts_the_next_attempt_at_once(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let refused = refused_addr().await?;
        let good = TcpListener::bind(lo4()).await.ctx("bind")?;
        let good_addr = good.local_addr().ctx("local_addr")?;
        let delay = Duration::from_secs(10);
        let opts = ConnectOptions::new().happy_eyeballs_delay(Some(delay));
        let t0 = Instant::now();
        let c = connect_addrs(&[refused, good_addr], &opts)
            .await
            .ctx("connect_addrs")?;
        let took = t0.elapsed();
        ensure!(
            took < delay,
            "waited for the delay after a failure: {took:?}"
        );
        t.push(format!(
            "connected to the second={}",
            c.peer_addr().ctx("peer")? == good_addr
        ));
        t.expect(&["connected to the second=true"])
    })
}

/// CLI-06: the first success wins and the other attempt's connection is closed.
pub fn cli06_losers_are_closed(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let a = TcpListener::bind(lo4()).await.ctx("bind a")?;
        let b = TcpListener::bind(lo4()).await.ctx("bind b")?;
        let (aa, ba) = (
            a.local_addr().ctx("local_addr")?,
            b.local_addr().ctx("local_addr")?,
        );
        // Both attempts start almost together.
        let opts = ConnectOptions::new().happy_eyeballs_delay(Some(Duration::ZERO));
        let winner = connect_addrs(&[aa, ba], &opts).await.ctx("connect_addrs")?;
        let (won, lost) = if winner.peer_addr().ctx("peer")? == aa {
            (a, b)
        } else {
            (b, a)
        };
        let (_w, _) = won.accept().await.ctx("accept winner")?;
        // The loser either never connected or was closed: accept it if it is there and read
        // end of stream; otherwise nothing is queued.
        let loser = wasio::timeout(Duration::from_millis(200), lost.accept()).await;
        let loser_closed = match loser {
            Err(_elapsed) => true,
            Ok(Ok((conn, _))) => {
                // A loser left open would never send end of stream: bounded, it fails here.
                let mut buf = [0u8; 1];
                match within(
                    Duration::from_secs(10),
                    "the loser's end of stream",
                    conn.read(&mut buf),
                )
                .await
                {
                    Ok(r) => !matches!(r, Ok(n) if n > 0),
                    Err(e) => return Err(e),
                }
            }
            Ok(Err(e)) => return Err(format!("accept loser: {e}")),
        };
        winner.write_all(b"w").await.ctx("winner usable")?;
        t.push(format!("one winner, loser closed={loser_closed}"));
        t.expect(&["one winner, loser closed=true"])
    })
}

/// CLI-06: cancelling the race closes every in-flight attempt.
pub fn cli06_cancelling_the_race_closes_every_attempt(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (_h1, _f1, hang1) = hanging_addr().await?;
        let (_h2, _f2, hang2) = hanging_addr().await?;
        let lp = wasio::current();
        let before = lp.stats().io_sources;
        let opts = ConnectOptions::new().happy_eyeballs_delay(Some(Duration::from_millis(10)));
        let race = wasio::spawn(async move { connect_addrs(&[hang1, hang2], &opts).await });
        // Both attempts start within 10 ms; both hang. Wait until both sockets exist.
        let lp2 = lp.clone();
        within(
            Duration::from_secs(10),
            "both attempts in flight",
            async move {
                while lp2.stats().io_sources - before < 2 {
                    wasio::sleep(Duration::from_millis(1)).await;
                }
            },
        )
        .await?;
        let in_flight = lp.stats().io_sources - before;
        race.cancel();
        let res = race.await;
        t.push(format!(
            "in flight={in_flight} race cancelled={}",
            res.as_ref().is_err_and(|e| e.is_cancelled())
        ));
        t.push(format!("sockets left={}", lp.stats().io_sources - before));
        t.expect(&["in flight=2 race cancelled=true", "sockets left=0"])
    })
}

/// CLI-07 (asyncio `create_connection`): when every attempt fails, errors that all read the
/// same give the first error unchanged; different errors give one `Multiple exceptions: …`
/// error; `all_errors` gives every attempt's address and error.
pub fn cli07_failure_reporting_follows_asyncio(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let r1 = refused_addr().await?;
        let r2 = refused_addr().await?;
        let single = connect_addrs(&[r1], &ConnectOptions::new()).await;
        let single_text = single.as_ref().err().map(ToString::to_string);
        t.push(format!("single attempt: {}", err_kind(&single)));
        // Two refusals read the same: the first error, unchanged.
        let same = connect_addrs(&[r1, r2], &ConnectOptions::new()).await;
        let same_text = same.as_ref().err().map(ToString::to_string);
        t.push(format!(
            "same errors: {} unchanged={} structured={}",
            err_kind(&same),
            same_text == single_text,
            same.as_ref()
                .err()
                .is_some_and(|e| ConnectErrors::from_io(e).is_some())
        ));
        // A refusal and a missing local address differ: one combined error.
        let v6 = SocketAddr::new(lo6().ip(), r2.port());
        let opts = ConnectOptions::new()
            .happy_eyeballs_delay(None)
            .local_addr(lo4());
        let mixed = connect_addrs(&[r1, v6], &opts).await;
        let text = mixed
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        let expected = format!(
            "Multiple exceptions: {}, no matching local address with family=AF_INET6 found",
            single_text.clone().unwrap_or_default()
        );
        t.push(format!(
            "different errors: {} text as asyncio={}",
            err_kind(&mixed),
            text == expected
        ));
        ensure!(
            text == expected,
            "combined error text: {text:?} != {expected:?}"
        );
        // all_errors: every attempt, in order, with its address.
        let all = connect_addrs(&[r1, v6], &opts.clone().all_errors(true)).await;
        match all.as_ref().err().and_then(ConnectErrors::from_io) {
            Some(errs) => {
                for (addr, e) in errs.attempts() {
                    t.push(format!(
                        "attempt {} {}",
                        if *addr == r1 {
                            "v4"
                        } else if *addr == v6 {
                            "v6"
                        } else {
                            "?"
                        },
                        kind(e)
                    ));
                }
            }
            None => t.push(format!("all_errors: {}", err_kind(&all))),
        }
        t.expect(&[
            "single attempt: ConnectionRefused",
            "same errors: ConnectionRefused unchanged=true structured=false",
            "different errors: Other text as asyncio=true",
            "attempt v4 ConnectionRefused",
            "attempt v6 InvalidInput",
        ])
    })
}

/// CLI-08: `local_addr` binds each attempt to a local address of its family; a missing family
/// or a bind failure is an error naming the problem.
pub fn cli08_local_addr_binding(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("local_addr")?;
        let accept = wasio::spawn(async move {
            let (_c, peer) = listener.accept().await?;
            Ok::<_, std::io::Error>(peer)
        });
        let opts = ConnectOptions::new().local_addr(lo6()).local_addr(lo4());
        let c = connect_addrs(&[addr], &opts).await.ctx("connect")?;
        let local = c.local_addr().ctx("local")?;
        let peer = accept.await.ctx("task")?.ctx("accept")?;
        t.push(format!(
            "bound to v4 loopback={}",
            local.ip() == lo4().ip() && peer == local
        ));
        let only6 = ConnectOptions::new().local_addr(lo6());
        let res = connect_addrs(&[addr], &only6).await;
        t.push(format!(
            "no v4 local address: {} says no matching={}",
            err_kind(&res),
            res.as_ref()
                .err()
                .is_some_and(|e| e.to_string().contains("no matching local address"))
        ));
        let busy = TcpListener::bind(lo4()).await.ctx("busy")?;
        let busy_addr = busy.local_addr().ctx("busy addr")?;
        let in_use = ConnectOptions::new().local_addr(busy_addr);
        let res = connect_addrs(&[addr], &in_use).await;
        t.push(format!(
            "local address in use: {} names it={}",
            err_kind(&res),
            res.as_ref().err().is_some_and(|e| e
                .to_string()
                .contains("error while attempting to bind on address"))
        ));
        t.expect(&[
            "bound to v4 loopback=true",
            "no v4 local address: InvalidInput says no matching=true",
            "local address in use: AddrInUse names it=true",
        ])
    })
}

/// CLI-09: the RFC 8305 default delay; a connect timeout bounds the whole race.
pub fn cli09_defaults_and_connect_timeout(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        ensure_eq!(
            ConnectOptions::new().get_happy_eyeballs_delay(),
            Some(DEFAULT_HAPPY_EYEBALLS_DELAY),
            "default delay"
        );
        t.push(format!("default delay={DEFAULT_HAPPY_EYEBALLS_DELAY:?}"));
        let (_hold, _fill, hanging) = hanging_addr().await?;
        let limit = Duration::from_millis(100);
        let t0 = Instant::now();
        let res = connect_addrs(&[hanging], &ConnectOptions::new().timeout(limit)).await;
        let took = t0.elapsed();
        ensure!(took >= limit, "timed out early: {took:?}");
        t.push(format!("hanging with timeout: {}", err_kind(&res)));
        t.expect(&["default delay=250ms", "hanging with timeout: TimedOut"])
    })
}

/// `bind`, `connect`, `send_to` take what tokio's take: `"host:port"`, `(host, port)`, a
/// `SocketAddr` or a list; names resolve on the loop, bad input is `InvalidInput`, an
/// unknown name `NotFound`.
pub fn net_addresses_as_strings_and_tuples(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let l = wasio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .ctx("bind str")?;
        let port = l.local_addr().ctx("addr")?.port();
        let by_name = wasio::net::TcpStream::connect(("localhost", port)).await;
        let by_str = wasio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await;
        let by_list = wasio::net::TcpStream::connect(
            &[std::net::SocketAddr::from(([127, 0, 0, 1], port))][..],
        )
        .await;
        t.push(format!(
            "connect by name={} by str={} by list={}",
            by_name.is_ok(),
            by_str.is_ok(),
            by_list.is_ok()
        ));
        let u = wasio::net::UdpSocket::bind(("127.0.0.1", 0))
            .await
            .ctx("udp bind")?;
        let to = format!("127.0.0.1:{}", u.local_addr().ctx("udp addr")?.port());
        u.send_to(b"x", to.as_str()).await.ctx("send_to str")?;
        let mut buf = [0u8; 4];
        let (n, _) = within(WAIT, "the datagram", u.recv_from(&mut buf))
            .await?
            .ctx("recv")?;
        t.push(format!("udp by str: {n} byte"));
        for bad in ["no-port", "host:99999", "::1:80", ":80"] {
            let e = wasio::net::TcpListener::bind(bad).await.err();
            t.push(format!(
                "bind {bad:?}: {}",
                e.as_ref().map(kind).unwrap_or_default()
            ));
        }
        let unknown = wasio::net::TcpStream::connect("wasio-test.invalid:80")
            .await
            .err();
        t.push(format!(
            "unknown name: {}",
            unknown.as_ref().map(kind).unwrap_or_default()
        ));
        t.expect(&[
            "connect by name=true by str=true by list=true",
            "udp by str: 1 byte",
            "bind \"no-port\": InvalidInput",
            "bind \"host:99999\": InvalidInput",
            "bind \"::1:80\": InvalidInput",
            "bind \":80\": InvalidInput",
            "unknown name: NotFound",
        ])
    })
}
