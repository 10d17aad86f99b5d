//! Misuse fuzzing (issue 11, item 12): random API calls made from the top level, from inside
//! callbacks and tasks, and from `Drop` impls, on running, stopped and closed loops, and on
//! closed streams and servers. Every call must return normally (a value or a clear error);
//! nothing may panic (natively) or trap (in wasmtime).
//!
//! Where asyncio fixes the answer, the fuzzer checks it: `close()` while running is
//! `is_close_running`, a nested run is `is_already_running`, scheduling on a closed loop is
//! `is_closed`, and so on. Answers the platform decides (which I/O error a closed stream
//! gives) are only required to be errors.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use wasio::EventLoop;
use wasio::net::{Server, ServerOptions, TcpListener, TcpStream, start_server};

use super::model::Rng;

/// Where a misuse op runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Outside any run (the loop is stopped, or closed).
    Top,
    /// In a callback of a running loop.
    Callback,
    /// In a task of a running loop.
    Task,
    /// In a `Drop` impl: of a callback's closure (run, cancelled or dropped at close).
    Drop,
}

/// The misuse ops.
const OPS: u64 = 22;

/// What the fuzz run found.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub programs: u64,
    pub ops: u64,
    pub errors: u64,
    /// Answers that contradicted the rule asyncio gives (described).
    pub wrong: Vec<String>,
}

struct Ctx {
    lp: EventLoop,
    tally: RefCell<Tally>,
    rng: RefCell<Rng>,
    /// Streams, listeners and servers the ops use; some are closed on purpose.
    streams: RefCell<Vec<Rc<TcpStream>>>,
    server: RefCell<Option<Server>>,
    listener: RefCell<Option<TcpListener>>,
}

impl Ctx {
    fn roll(&self, n: u64) -> u64 {
        self.rng.borrow_mut().below(n)
    }

    fn count(&self, err: bool) {
        let mut t = self.tally.borrow_mut();
        t.ops += 1;
        if err {
            t.errors += 1;
        }
    }

    fn wrong(&self, what: String) {
        self.tally.borrow_mut().wrong.push(what);
    }

    /// Checks a loop call's answer against asyncio's rule for where it ran.
    fn expect_loop<T>(
        &self,
        op: &str,
        at: Where,
        r: Result<T, wasio::Error>,
        ok_when: Option<fn(&wasio::Error) -> bool>,
    ) {
        let closed = self.lp.is_closed();
        match (&r, ok_when) {
            (Ok(_), _) => self.count(false),
            (Err(e), Some(rule)) if rule(e) => self.count(true),
            (Err(e), _) if closed && e.is_closed() => self.count(true),
            (Err(e), _) => {
                self.count(true);
                self.wrong(format!("{op} at {at:?} (closed={closed}): unexpected {e}"));
            }
        }
    }
}

/// Runs one misuse op at `at`.
fn op(c: &Rc<Ctx>, at: Where, depth: u32) {
    let lp = c.lp.clone();
    // A destructor may run inside a run (a callback cancelled by another) or outside one (at
    // close): what the loop answers depends on its state, not on where the code is.
    let running = lp.is_running();
    let closed = lp.is_closed();
    match c.roll(OPS) {
        0 => {
            let r = lp.close();
            if running {
                match r {
                    Err(e) if e.is_close_running() => c.count(true),
                    other => {
                        c.count(other.is_err());
                        c.wrong(format!(
                            "close at {at:?}: {other:?}, expected is_close_running"
                        ));
                    }
                }
            } else {
                // Outside a run (or from a destructor during close): closing is allowed and
                // idempotent (LIFE-04).
                match r {
                    Ok(()) => c.count(false),
                    Err(e) => {
                        c.count(true);
                        c.wrong(format!(
                            "close at {at:?} (closed={closed}): {e}, expected Ok"
                        ));
                    }
                }
            }
        }
        1 => {
            if !running && !closed {
                // A real run from here: stop first, so it runs one iteration (LIFE-01).
                lp.stop();
            }
            let r = lp.run_forever();
            let rule: fn(&wasio::Error) -> bool =
                |e| e.is_already_running() || e.is_other_loop_running() || e.is_closed();
            if running || closed {
                match r {
                    Err(e) if rule(&e) => c.count(true),
                    other => {
                        c.count(other.is_err());
                        c.wrong(format!("run_forever at {at:?} closed={closed}: {other:?}"));
                    }
                }
            } else if let Err(e) = r
                && !e.is_fatal()
            {
                c.count(true);
                c.wrong(format!("run_forever after stop at {at:?}: {e}"));
            } else {
                c.count(false);
            }
        }
        2 => {
            let r = lp.run_until_complete(async {});
            if running || closed {
                let rule = |e: &wasio::Error| e.is_already_running() || e.is_closed();
                match r {
                    Err(e) if rule(&e) => c.count(true),
                    other => {
                        c.count(other.is_err());
                        c.wrong(format!(
                            "run_until_complete at {at:?} closed={closed}: {other:?}"
                        ));
                    }
                }
            } else {
                // What the program queued may end this run early: a fatal callback, a `stop`,
                // or `cancel_all_tasks` (which cancels this run's own task, as in asyncio).
                c.expect_loop("run_until_complete", at, r, Some(ended_early));
            }
        }
        3 => {
            lp.stop();
            lp.stop();
            c.count(false);
        }
        4 => {
            let c2 = c.clone();
            let guard = DropOp(c.clone(), depth);
            let r = lp.call_soon(move || {
                let _g = &guard;
                if depth < 2 {
                    op(&c2, Where::Callback, depth + 1);
                }
            });
            c.expect_loop("call_soon", at, r, None);
        }
        5 => {
            let c2 = c.clone();
            let guard = DropOp(c.clone(), depth);
            let r = lp.call_later(Duration::from_millis(c.roll(3)), move || {
                let _g = &guard;
                if depth < 2 {
                    op(&c2, Where::Callback, depth + 1);
                }
            });
            match r {
                Ok(h) => {
                    c.count(false);
                    if c.roll(3) == 0 {
                        h.cancel();
                        h.cancel();
                    }
                }
                Err(e) => c.expect_loop::<()>("call_later", at, Err(e), None),
            }
        }
        6 => {
            let c2 = c.clone();
            let r = lp.create_task(async move {
                if depth < 2 {
                    op(&c2, Where::Task, depth + 1);
                }
                wasio::yield_now().await;
                if depth < 2 {
                    op(&c2, Where::Task, depth + 1);
                }
            });
            match r {
                Ok(h) => {
                    c.count(false);
                    if c.roll(4) == 0 {
                        h.cancel();
                    }
                    if c.roll(2) == 0 {
                        h.detach();
                    }
                }
                Err(e) => c.expect_loop::<()>("create_task", at, Err(e), None),
            }
        }
        7 => {
            let r = lp.call_soon_threadsafe(|| {});
            c.expect_loop("call_soon_threadsafe", at, r, None);
        }
        8 => {
            let r = lp.remote().stop();
            c.expect_loop("remote stop", at, r, None);
        }
        9 => {
            let n = lp.cancel_all_tasks();
            let _ = n;
            c.count(false);
        }
        10 => {
            let r = lp.cancel_remaining_tasks();
            let rule: fn(&wasio::Error) -> bool = |e| e.is_already_running() || ended_early(e);
            c.expect_loop("cancel_remaining_tasks", at, r, Some(rule));
        }
        11 => {
            if c.roll(2) == 0 {
                lp.set_exception_handler(|_, _| Err::<(), _>("handler fails too"));
            } else {
                lp.clear_exception_handler();
            }
            lp.call_exception_handler(wasio::Context::new("fuzz report"));
            c.count(false);
        }
        12 => {
            if !running && !closed {
                // Outside a run one iteration could block on the timers: skip it.
                c.count(false);
                return;
            }
            let r = lp.run_once();
            let rule = |e: &wasio::Error| e.is_already_running() || e.is_closed();
            match r {
                Err(e) if rule(&e) => c.count(true),
                other => {
                    c.count(other.is_err());
                    c.wrong(format!("run_once at {at:?}: {other:?}"));
                }
            }
        }
        13 => {
            // A read on a stream that may be shut down, reset or closed by its peer.
            let s = pick(&c.streams);
            if let Some(s) = s {
                let c2 = c.clone();
                let r = lp.create_task(async move {
                    let mut buf = [0u8; 8];
                    let r = wasio::timeout(Duration::from_millis(5), s.read(&mut buf)).await;
                    c2.count(matches!(r, Ok(Err(_))));
                });
                c.expect_loop("spawn read", at, r.map(drop), None);
            } else {
                c.count(false);
            }
        }
        14 => {
            let s = pick(&c.streams);
            if let Some(s) = s {
                let c2 = c.clone();
                let r = lp.create_task(async move {
                    let r = wasio::timeout(Duration::from_millis(5), s.write_all(b"fuzz")).await;
                    c2.count(matches!(r, Ok(Err(_))));
                    let r = wasio::timeout(Duration::from_millis(5), s.shutdown_write()).await;
                    c2.count(matches!(r, Ok(Err(_))));
                });
                c.expect_loop("spawn write", at, r.map(drop), None);
            } else {
                c.count(false);
            }
        }
        15 => {
            // Drop a stream (maybe with unflushed writes) from wherever we are.
            let mut v = c.streams.borrow_mut();
            if !v.is_empty() {
                let i = c.rng.borrow_mut().below(v.len() as u64) as usize;
                let s = v.swap_remove(i);
                drop(v);
                drop(s);
            }
            c.count(false);
        }
        16 => {
            let server = c.server.borrow().clone();
            if let Some(s) = server {
                match c.roll(5) {
                    0 => s.close(),
                    1 => s.close_clients(),
                    2 => s.abort_clients(),
                    3 => {
                        let r = s.start_serving();
                        c.count(r.is_err());
                        if let Err(e) = r
                            && !s.is_closed()
                        {
                            c.wrong(format!("start_serving on an open server: {e}"));
                        }
                        return;
                    }
                    _ => {
                        let c2 = c.clone();
                        let r = lp.create_task(async move {
                            let r =
                                wasio::timeout(Duration::from_millis(5), s.serve_forever()).await;
                            c2.count(matches!(r, Ok(Err(_))));
                        });
                        c.expect_loop("spawn serve_forever", at, r.map(drop), None);
                        return;
                    }
                }
            }
            c.count(false);
        }
        17 => {
            // I/O constructors need a running loop.
            let c2 = c.clone();
            let fut = async move {
                let r = TcpListener::bind("127.0.0.1:0").await;
                c2.count(r.is_err());
                if let Ok(l) = r {
                    *c2.listener.borrow_mut() = Some(l);
                }
            };
            if running {
                let r = lp.create_task(fut);
                c.expect_loop("spawn bind", at, r.map(drop), None);
            } else {
                // Polled outside any loop: a clear error, never a panic.
                let mut fut = std::pin::pin!(fut);
                let waker = std::task::Waker::noop();
                let _ = fut
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(waker));
            }
        }
        18 => {
            let l = c.listener.borrow_mut().take();
            if let Some(l) = l {
                let c2 = c.clone();
                let r = lp.create_task(async move {
                    let r = wasio::timeout(Duration::from_millis(2), l.accept()).await;
                    c2.count(matches!(r, Ok(Err(_))));
                });
                c.expect_loop("spawn accept", at, r.map(drop), None);
            } else {
                c.count(false);
            }
        }
        19 => {
            let _ = wasio::try_current();
            let _ = lp.stats();
            let _ = lp.time();
            c.count(false);
        }
        20 => {
            let r = lp.call_at(lp.time(), || Err::<(), _>("fuzz callback fails"));
            c.expect_loop("call_at failing", at, r, None);
        }
        _ => {
            let r = lp.call_soon(|| Err::<(), _>(wasio::Fatal::new("fuzz fatal")));
            c.expect_loop("call_soon fatal", at, r, None);
        }
    }
}

/// The clear errors a run started from the top level may end with because of what the
/// program queued (LIFE-02, LIFE-03).
fn ended_early(e: &wasio::Error) -> bool {
    e.is_other_loop_running() || e.is_fatal() || e.is_stopped() || e.is_cancelled()
}

/// Runs a misuse op when dropped (a callback's closure: after it ran, when it is cancelled, or
/// when the loop closes and drops it).
struct DropOp(Rc<Ctx>, u32);

impl Drop for DropOp {
    fn drop(&mut self) {
        if self.1 < 2 {
            op(&self.0, Where::Drop, self.1 + 1);
        }
    }
}

fn pick(v: &RefCell<Vec<Rc<TcpStream>>>) -> Option<Rc<TcpStream>> {
    let v = v.borrow();
    if v.is_empty() {
        None
    } else {
        let i = (v.len() / 2).min(v.len() - 1);
        v.get(i).cloned()
    }
}

/// Sets up the streams and server a program misuses: a connected pair, a pair whose one end is
/// shut down, a pair whose peer is gone, and a serving server.
async fn fixtures(c: &Rc<Ctx>) -> io::Result<()> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let mut streams = Vec::new();
    for i in 0..3 {
        let a = TcpStream::connect(addr).await?;
        let (b, _) = l.accept().await?;
        match i {
            1 => a.shutdown_write().await?,
            2 => drop(b),
            _ => {}
        }
        streams.push(Rc::new(a));
    }
    *c.streams.borrow_mut() = streams;
    let server = start_server(
        |s: TcpStream| async move {
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
        },
        "127.0.0.1",
        0,
        ServerOptions::new(),
    )
    .await?;
    *c.server.borrow_mut() = Some(server);
    *c.listener.borrow_mut() = Some(l);
    Ok(())
}

/// Runs `programs` random misuse programs starting at `seed`; each on its own loop.
pub fn fuzz(seed: u64, programs: u64) -> Result<Tally, String> {
    let mut total = Tally::default();
    for p in 0..programs {
        let s = seed.wrapping_add(p);
        let lp = EventLoop::new().map_err(|e| format!("EventLoop::new: {e}"))?;
        let c = Rc::new(Ctx {
            lp: lp.clone(),
            tally: RefCell::default(),
            rng: RefCell::new(Rng::new(s)),
            streams: RefCell::default(),
            server: RefCell::default(),
            listener: RefCell::default(),
        });
        let c2 = c.clone();
        lp.run_until_complete(async move { fixtures(&c2).await })
            .map_err(|e| format!("seed {s}: set up: {e}"))?
            .map_err(|e| format!("seed {s}: set up: {e}"))?;
        let rounds = 1 + c.roll(4);
        for _ in 0..rounds {
            for _ in 0..1 + c.roll(6) {
                op(&c, Where::Top, 0);
            }
            if lp.is_closed() {
                break;
            }
            // Keep a run bounded: a stop in a later iteration, whatever the ops did.
            let stopper = lp.clone();
            let _ = lp.call_later(Duration::from_millis(3), move || stopper.stop());
            match lp.run_forever() {
                Ok(()) => c.count(false),
                Err(e) if e.is_fatal() || e.is_closed() => c.count(true),
                Err(e) => {
                    c.count(true);
                    c.wrong(format!("run_forever of the program: {e}"));
                }
            }
        }
        // The end: close (from the top), then a last round of misuse on the closed loop.
        let _ = lp.close();
        for _ in 0..3 {
            op(&c, Where::Top, 0);
        }
        c.streams.borrow_mut().clear();
        c.server.borrow_mut().take();
        c.listener.borrow_mut().take();
        let t = c.tally.borrow().clone();
        drop(c);
        // Closed, with every program object dropped: nothing of the loop may live on.
        let left = lp.stats();
        if left.io_sources != 0 || left.tasks != 0 {
            total
                .wrong
                .push(format!("seed {s}: leaked after close: {left:?}"));
        }
        total.programs += 1;
        total.ops += t.ops;
        total.errors += t.errors;
        for w in t.wrong {
            total.wrong.push(format!("seed {s}: {w}"));
        }
    }
    Ok(total)
}
