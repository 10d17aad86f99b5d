//! Probes: guest behaviours the host's fault and divergence tests check (wasm32-wasip2 only).
//!
//! They are not conformance cases: some trap or never finish on purpose, and none has a native
//! twin. The host runs them through `run-probe` and asserts on the outcome or the failure.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use wasio::os::wasi::AsyncPollable;
use wasio::os::wasi::wasip2;

use crate::{Context, Transcript, ensure};

/// Runs a probe by name.
pub(crate) fn run(name: &str, t: &Transcript) -> Result<(), String> {
    match name {
        "trap" => panic!("probe `trap` panicked on purpose"),
        "spin" => spin(),
        "block_forever" => block_forever(),
        "memory_hog" => memory_hog(t),
        "connect_non_loopback" => connect_non_loopback(t),
        "fairness" => fairness(t),
        "div_no_threads" => div_no_threads(t),
        "div_stalled_loop" => div_stalled_loop(t),
        "div_panic_in_callback" => div_panic_in_callback(),
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

/// Tries to connect to a documentation address (192.0.2.1, TEST-NET-1): the host's policy must
/// refuse it with `access-denied`, which the probe reports as a pass.
fn connect_non_loopback(t: &Transcript) -> Result<(), String> {
    use wasip2::sockets::network::{
        ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
    };
    let network = wasip2::sockets::instance_network::instance_network();
    let sock = wasip2::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
        .map_err(|e| format!("create socket: {e:?}"))?;
    let addr = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: 80,
        address: (192, 0, 2, 1),
    });
    let res = sock.start_connect(&network, addr).and_then(|()| {
        let pollable = sock.subscribe();
        loop {
            match sock.finish_connect() {
                Err(ErrorCode::WouldBlock) => pollable.block(),
                other => break other.map(drop),
            }
        }
    });
    match res {
        Err(ErrorCode::AccessDenied) => {
            t.push("access-denied");
            Ok(())
        }
        other => Err(format!("connect to 192.0.2.1:80 was not denied: {other:?}")),
    }
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
    t.expect(&["stalled=true", "pending future stalled=true"])
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
