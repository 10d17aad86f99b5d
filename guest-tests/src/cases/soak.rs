//! The soak test (issue 11, item 13): an echo server under many clients for a while, with
//! every byte checked and the loop's counters back where they started at the end.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use wasio::LoopStats;
use wasio::net::{ServerOptions, TcpStream, start_server};

use super::net_util::{WAIT, payload};
use crate::prop::model::Rng;
use crate::{Context, Transcript, block, ensure, within};

/// How long the clients run: `WASIO_SOAK_SECS` (default 20, as in CI; longer by hand).
fn duration() -> Duration {
    let secs = std::env::var("WASIO_SOAK_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(20.0);
    Duration::from_secs_f64(secs)
}

/// Concurrent clients.
const CLIENTS: usize = 32;

/// What the clients did, summed.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    echo: u64,
    half_close: u64,
    abrupt: u64,
    slow: u64,
    churn: u64,
    bytes: u64,
}

/// Live counters of the loop: timers that are not cancelled, tasks, I/O sources.
fn live(s: &LoopStats) -> (usize, usize, usize) {
    (
        s.scheduled_timers - s.cancelled_timers,
        s.tasks,
        s.io_sources,
    )
}

/// Writes `data` and reads the same number of bytes back; they must be equal.
async fn echo_once(c: &TcpStream, data: &[u8]) -> Result<(), String> {
    c.write_all(data).await.ctx("write")?;
    let mut back = vec![0u8; data.len()];
    within(WAIT, "the echo", c.read_exact(&mut back))
        .await?
        .ctx("read echo")?;
    ensure!(back == data, "echo corrupted ({} bytes)", data.len());
    Ok(())
}

/// One client, doing one of five things.
async fn client(
    addr: std::net::SocketAddr,
    rng: &mut Rng,
    tally: &mut Tally,
) -> Result<(), String> {
    let seed = rng.next_u64();
    match rng.below(5) {
        // Normal echo: a few messages, then a clean close.
        0 => {
            let c = TcpStream::connect(addr).await.ctx("connect")?;
            for k in 0..1 + rng.below(6) {
                let data = payload(seed ^ k, 1 + rng.below(16 * 1024) as usize);
                echo_once(&c, &data).await?;
                tally.bytes += data.len() as u64;
            }
            c.close().await.ctx("close")?;
            let mut rest = Vec::new();
            within(WAIT, "end of stream", c.read_to_end(&mut rest))
                .await?
                .ctx("read to end")?;
            ensure!(rest.is_empty(), "bytes after the last echo");
            tally.echo += 1;
        }
        // Half-close: send everything, shut the write side, read the whole echo.
        1 => {
            let c = TcpStream::connect(addr).await.ctx("connect")?;
            let data = payload(seed, 64 * 1024);
            let (rd, wr) = c.into_split();
            let reader = wasio::spawn(async move {
                let mut got = Vec::new();
                rd.read_to_end(&mut got).await.map(|_| got)
            });
            wr.write_all(&data).await.ctx("write")?;
            wr.shutdown_write().await.ctx("shutdown")?;
            let got = within(WAIT, "the half-closed echo", reader)
                .await?
                .ctx("reader task")?
                .ctx("read")?;
            ensure!(got == data, "half-close echo corrupted");
            tally.bytes += data.len() as u64;
            tally.half_close += 1;
        }
        // Abrupt: send, wait for the echo to start, then drop with the rest of it unread (a
        // reset natively; see `close-with-unread-data` for WASI).
        2 => {
            let c = TcpStream::connect(addr).await.ctx("connect")?;
            c.write_all(&payload(seed, 64 * 1024)).await.ctx("write")?;
            let mut first = [0u8; 1];
            within(WAIT, "the start of the echo", c.read_exact(&mut first))
                .await?
                .ctx("read")?;
            drop(c);
            tally.abrupt += 1;
        }
        // Slow reader: the echo is read in small pieces, yielding between them.
        3 => {
            let c = TcpStream::connect(addr).await.ctx("connect")?;
            let data = payload(seed, 128 * 1024);
            let (rd, wr) = c.into_split();
            let d2 = data.clone();
            let writer = wasio::spawn(async move {
                wr.write_all(&d2).await?;
                wr.shutdown_write().await
            });
            let mut got = Vec::with_capacity(data.len());
            let mut buf = [0u8; 1024];
            loop {
                let n = within(WAIT, "a slow read", rd.read(&mut buf))
                    .await?
                    .ctx("read")?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                wasio::yield_now().await;
            }
            within(WAIT, "the slow client's writer", writer)
                .await?
                .ctx("writer task")?
                .ctx("write")?;
            ensure!(got == data, "slow echo corrupted");
            tally.bytes += data.len() as u64;
            tally.slow += 1;
        }
        // Churn: connect and go.
        _ => {
            drop(TcpStream::connect(addr).await.ctx("connect")?);
            tally.churn += 1;
        }
    }
    Ok(())
}

/// Echo server under `CLIENTS` concurrent clients for `WASIO_SOAK_SECS`, mixing normal echo,
/// half-close, abrupt drops, slow readers and connect/disconnect churn; every echoed byte is
/// compared. At the end the loop's own counters (live timers, tasks, I/O sources) are back at
/// their starting values. The figures go to the notes.
pub fn soak_echo_server_mixed_clients(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let lp = wasio::current();
        let start = lp.stats();
        let errors = Rc::new(Cell::new(0u64));
        let served = Rc::new(Cell::new(0u64));
        let (e2, s2) = (errors.clone(), served.clone());
        let server = start_server(
            move |conn: TcpStream| {
                let (errors, served) = (e2.clone(), s2.clone());
                async move {
                    served.set(served.get() + 1);
                    if super::net_util::echo(conn).await.is_err() {
                        // Abrupt clients: a reset or a broken pipe, survived.
                        errors.set(errors.get() + 1);
                    }
                }
            },
            "127.0.0.1",
            0,
            ServerOptions::new(),
        )
        .await
        .ctx("start_server")?;
        let addr = server.sockets()[0];
        let run_for = duration();
        let stop_at = Instant::now() + run_for;
        let peak = Rc::new(RefCell::new((0usize, 0usize, 0usize)));
        let p2 = peak.clone();
        let sampler = wasio::spawn(async move {
            let lp = wasio::current();
            while Instant::now() < stop_at {
                let (a, b, c) = live(&lp.stats());
                let p = *p2.borrow();
                *p2.borrow_mut() = (p.0.max(a), p.1.max(b), p.2.max(c));
                wasio::sleep(Duration::from_millis(50)).await;
            }
        });
        let workers: Vec<_> = (0..CLIENTS as u64)
            .map(|w| {
                wasio::spawn(async move {
                    let mut rng = Rng::new(0x50A4 ^ (w << 32));
                    let mut tally = Tally::default();
                    while Instant::now() < stop_at {
                        client(addr, &mut rng, &mut tally).await?;
                    }
                    Ok::<_, String>(tally)
                })
            })
            .collect();
        let mut total = Tally::default();
        for w in workers {
            let tally = within(run_for + WAIT, "a client worker", w)
                .await?
                .ctx("worker task")??;
            total.echo += tally.echo;
            total.half_close += tally.half_close;
            total.abrupt += tally.abrupt;
            total.slow += tally.slow;
            total.churn += tally.churn;
            total.bytes += tally.bytes;
        }
        within(WAIT, "the sampler", sampler).await?.ctx("sampler")?;
        server.close();
        within(WAIT, "wait_closed", server.wait_closed()).await?;
        // Everything the soak created is gone once the loop has had a turn to finish the
        // tasks it cancelled (the accept loops) and the flushes of dropped streams.
        // (Polled without a timer of its own, so the check does not count itself.)
        let give_up = Instant::now() + WAIT;
        let back = loop {
            if live(&wasio::current().stats()) == live(&start) {
                break Ok(());
            }
            if Instant::now() >= give_up {
                break Err(format!("the counters did not return within {WAIT:?}"));
            }
            wasio::yield_now().await;
        };
        let end = wasio::current().stats();
        let (pk_timers, pk_tasks, pk_sources) = *peak.borrow();
        t.note(format!(
            "soak {run_for:?}, {CLIENTS} concurrent clients: {} connections served \
             ({} echo, {} half-close, {} abrupt, {} slow readers, {} churn), {} bytes echoed \
             and checked, {} connection errors survived by the server",
            served.get(),
            total.echo,
            total.half_close,
            total.abrupt,
            total.slow,
            total.churn,
            total.bytes,
            errors.get()
        ));
        t.note(format!(
            "live timers/tasks/sources: start {:?}, peak ({pk_timers}, {pk_tasks}, {pk_sources}), end {:?}",
            live(&start),
            live(&end)
        ));
        back.map_err(|e| format!("{e}: start {:?}, end {:?}", live(&start), live(&end)))?;
        ensure!(
            total.echo + total.half_close + total.slow > 0,
            "no client completed a round trip"
        );
        t.push("every echoed byte checked");
        t.push("timers, tasks and sources back to their starting counts");
        Ok(())
    })
}
