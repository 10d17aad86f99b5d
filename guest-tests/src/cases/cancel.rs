//! Cancellation and closing at any moment: every public operation dropped at every await
//! point (the harness in `crate::cancel`), and every kind of source closed while a task waits
//! on it. An operation either completes or has no effect, and every waiter learns the outcome.

use std::cell::Cell;
use std::fs::File;
use std::future::Future;
use std::io::{Seek, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use wasio::net::{
    ConnectOptions, SendfileOptions, TcpListener, TcpStream, UdpSocket, connect_addrs,
    sendfile_with,
};
use wasio::task::TaskGroup;

use super::net_util::{hanging_addr, lo4, payload};
use crate::cancel::{Ended, Tally, UNSET, When, check_split, distinct, drop_after, sweep};
use crate::{Context, Transcript, block, ensure, ensure_eq, kind, scratch_file, within};

/// The bound on a wait that must end (a woken waiter, a follow-up operation): short, so a
/// stranded waiter fails the trial quickly.
const BOUND: Duration = Duration::from_secs(5);

type Trial = Pin<Box<dyn Future<Output = Result<bool, String>>>>;

/// A connected pair (the listener is gone by the time it returns).
async fn tcp_pair() -> Result<(TcpStream, TcpStream), String> {
    let l = TcpListener::bind(lo4()).await.ctx("bind")?;
    let c = TcpStream::connect(l.local_addr().ctx("addr")?)
        .await
        .ctx("connect")?;
    let (s, _) = l.accept().await.ctx("accept")?;
    Ok((s, c))
}

/// Writes `chunks` with a few loop iterations between them, then shuts the write side down.
fn staged_writer(to: Rc<TcpStream>, chunks: Vec<Vec<u8>>) -> wasio::JoinHandle<Result<(), String>> {
    wasio::spawn(async move {
        for c in chunks {
            for _ in 0..2 {
                wasio::yield_now().await;
            }
            to.write_all(&c).await.ctx("staged write")?;
        }
        to.shutdown_write().await.ctx("staged shutdown")
    })
}

#[derive(Clone, Copy, Debug)]
enum ReadOp {
    Read,
    ReadExact,
    ReadToEnd,
}

/// A read of `op`'s kind dropped after poll k while a second task waits to read the same
/// stream and the peer writes in stages. Every byte arrives exactly once (the dropped read's,
/// the other waiter's, the follow-up's), the waiter is woken, and the stream reads on.
fn read_trial(op: ReadOp, k: usize, when: When) -> Trial {
    Box::pin(async move {
        let (a, b) = tcp_pair().await?;
        let (a, b) = (Rc::new(a), Rc::new(b));
        let sent = distinct(1, 60);
        let waiter = {
            let b = b.clone();
            wasio::spawn(async move {
                let mut buf = [0u8; 4];
                let n = b.read(&mut buf).await.ctx("the other waiter's read")?;
                Ok::<_, String>(buf[..n].to_vec())
            })
        };
        wasio::yield_now().await;
        let writer = staged_writer(a.clone(), sent.chunks(20).map(<[u8]>::to_vec).collect());
        let mut buf = [UNSET; 60];
        let mut vec = Vec::new();
        let (mine, done) = match op {
            ReadOp::Read => match drop_after(b.read(&mut buf), k, when).await {
                Ended::Done(r, _) => (buf[..r.ctx("read")?].to_vec(), true),
                Ended::Dropped(_) => (Vec::new(), false),
            },
            ReadOp::ReadExact => {
                let ended = drop_after(b.read_exact(&mut buf[..40]), k, when).await;
                let filled = buf.iter().position(|&x| x == UNSET).unwrap_or(buf.len());
                // The other waiter took some bytes: the stream may end before 40.
                if let Ended::Done(Err(e), _) = &ended {
                    ensure!(
                        e.kind() == std::io::ErrorKind::UnexpectedEof,
                        "read_exact: {e}"
                    );
                }
                (buf[..filled].to_vec(), ended.is_done())
            }
            ReadOp::ReadToEnd => {
                let ended = drop_after(b.read_to_end(&mut vec), k, when).await;
                if let Ended::Done(r, _) = &ended {
                    ensure_eq!(r.as_ref().ok(), Some(&vec.len()), "read_to_end's count");
                }
                (vec.clone(), ended.is_done())
            }
        };
        let theirs = within(BOUND, "the other waiter", waiter)
            .await?
            .ctx("waiter task")??;
        within(BOUND, "the writer", writer)
            .await?
            .ctx("writer task")??;
        let mut rest = Vec::new();
        within(BOUND, "the follow-up read", b.read_to_end(&mut rest))
            .await?
            .ctx("follow-up read")?;
        check_split(&sent, &[&mine, &theirs, &rest])?;
        Ok(done)
    })
}

#[derive(Clone, Copy, Debug)]
enum WriteOp {
    Write,
    WriteAll,
}

/// A write dropped after poll k while the peer reads slowly: the peer receives a prefix of
/// the data (all of it when the write completed), then what the next write sends.
fn write_trial(op: WriteOp, data: Rc<Vec<u8>>, k: usize, when: When) -> Trial {
    Box::pin(async move {
        let (a, b) = tcp_pair().await?;
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = b.read(&mut buf).await.ctx("peer read")?;
                if n == 0 {
                    return Ok::<_, String>(got);
                }
                got.extend_from_slice(&buf[..n]);
                wasio::yield_now().await;
            }
        });
        let (written, done) = match op {
            WriteOp::Write => match drop_after(a.write(&data), k, when).await {
                Ended::Done(r, _) => (Some(r.ctx("write")?), true),
                Ended::Dropped(_) => (Some(0), false),
            },
            WriteOp::WriteAll => match drop_after(a.write_all(&data), k, when).await {
                Ended::Done(r, _) => {
                    r.ctx("write_all")?;
                    (Some(data.len()), true)
                }
                // A prefix of unknown length went out.
                Ended::Dropped(_) => (None, false),
            },
        };
        let marker = b"--marker--";
        within(BOUND, "the follow-up write", a.write_all(marker))
            .await?
            .ctx("follow-up write")?;
        a.shutdown_write().await.ctx("shutdown")?;
        let got = within(Duration::from_secs(30), "the peer", reader)
            .await?
            .ctx("reader task")??;
        ensure!(
            got.ends_with(marker),
            "the follow-up write did not arrive last"
        );
        let body = &got[..got.len() - marker.len()];
        ensure!(
            data.starts_with(body),
            "the peer got {} bytes that are not a prefix of the data",
            body.len()
        );
        if let Some(n) = written {
            ensure_eq!(
                body.len(),
                n,
                "bytes the peer got vs bytes the write reported"
            );
        }
        Ok(done)
    })
}

/// `accept` dropped after poll k while a second task accepts on the same listener and a
/// client connects twice: both connections are accepted exactly once in all.
fn accept_trial(k: usize, when: When) -> Trial {
    Box::pin(async move {
        let l = Rc::new(TcpListener::bind(lo4()).await.ctx("bind")?);
        let addr = l.local_addr().ctx("addr")?;
        let other = {
            let l = l.clone();
            wasio::spawn(async move { l.accept().await.map(|(s, _)| s) })
        };
        wasio::yield_now().await;
        let client = wasio::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..2 {
                wasio::yield_now().await;
                conns.push(TcpStream::connect(addr).await?);
            }
            Ok::<_, std::io::Error>(conns)
        });
        let mut accepted = 0;
        let done = match drop_after(l.accept(), k, when).await {
            Ended::Done(r, _) => {
                r.ctx("accept")?;
                accepted += 1;
                true
            }
            Ended::Dropped(_) => false,
        };
        within(BOUND, "the other accepting task", other)
            .await?
            .ctx("accept task")?
            .ctx("the other accept")?;
        accepted += 1;
        let conns = within(BOUND, "the client", client)
            .await?
            .ctx("client task")?
            .ctx("connect")?;
        if accepted < 2 {
            within(BOUND, "the follow-up accept", l.accept())
                .await?
                .ctx("follow-up accept")?;
        }
        drop(conns);
        Ok(done)
    })
}

/// `connect` (one address, or the Happy Eyeballs race with a hanging first address) dropped
/// after poll k: every attempt's socket goes (the sweep counts sources) and the next connect
/// works.
fn connect_trial(race: bool, k: usize, when: When) -> Trial {
    Box::pin(async move {
        let l = TcpListener::bind(lo4()).await.ctx("bind")?;
        let addr = l.local_addr().ctx("addr")?;
        let hang = if race {
            Some(hanging_addr().await?)
        } else {
            None
        };
        let addrs: Vec<_> = hang.iter().map(|h| h.2).chain([addr]).collect();
        let opts = ConnectOptions::new().happy_eyeballs_delay(Some(Duration::from_millis(5)));
        let done = match drop_after(connect_addrs(&addrs, &opts), k, when).await {
            Ended::Done(r, _) => {
                r.ctx("connect")?;
                true
            }
            Ended::Dropped(_) => false,
        };
        let c = within(BOUND, "the follow-up connect", TcpStream::connect(addr))
            .await?
            .ctx("follow-up connect")?;
        c.write_all(b"x").await.ctx("write")?;
        drop(hang);
        Ok(done)
    })
}

/// `recv_from` dropped after poll k while a second task receives on the same socket and a
/// peer sends three datagrams in stages: each datagram is received exactly once.
fn recv_trial(k: usize, when: When) -> Trial {
    Box::pin(async move {
        let rx = Rc::new(UdpSocket::bind(lo4()).await.ctx("bind")?);
        let tx = UdpSocket::bind(lo4()).await.ctx("bind")?;
        let to = rx.local_addr().ctx("addr")?;
        let other = {
            let rx = rx.clone();
            wasio::spawn(async move {
                let mut buf = [0u8; 8];
                rx.recv_from(&mut buf).await.map(|(n, _)| buf[..n].to_vec())
            })
        };
        wasio::yield_now().await;
        let sender = wasio::spawn(async move {
            for d in [b"d1", b"d2", b"d3"] {
                wasio::yield_now().await;
                tx.send_to(d, to).await?;
            }
            Ok::<_, std::io::Error>(())
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 8];
        let done = match drop_after(rx.recv_from(&mut buf), k, when).await {
            Ended::Done(r, _) => {
                got.push(buf[..r.ctx("recv_from")?.0].to_vec());
                true
            }
            Ended::Dropped(_) => false,
        };
        got.push(
            within(BOUND, "the other receiving task", other)
                .await?
                .ctx("recv task")?
                .ctx("the other recv")?,
        );
        within(BOUND, "the sender", sender)
            .await?
            .ctx("sender task")?
            .ctx("send")?;
        while got.len() < 3 {
            let (n, _) = within(BOUND, "a follow-up recv", rx.recv_from(&mut buf))
                .await?
                .ctx("follow-up recv")?;
            got.push(buf[..n].to_vec());
        }
        got.sort();
        ensure_eq!(
            got,
            vec![b"d1".to_vec(), b"d2".to_vec(), b"d3".to_vec()],
            "datagrams received"
        );
        Ok(done)
    })
}

/// `send_to` dropped after poll k: the datagram goes out exactly when the send completed,
/// and the next send works (datagrams from one socket on loopback keep their order, so the
/// marker arriving means nothing else is on its way).
fn send_trial(k: usize, when: When) -> Trial {
    Box::pin(async move {
        let rx = UdpSocket::bind(lo4()).await.ctx("bind")?;
        let tx = UdpSocket::bind(lo4()).await.ctx("bind")?;
        let to = rx.local_addr().ctx("addr")?;
        let done = match drop_after(tx.send_to(b"payload", to), k, when).await {
            Ended::Done(r, _) => {
                r.ctx("send_to")?;
                true
            }
            Ended::Dropped(_) => false,
        };
        within(BOUND, "the follow-up send", tx.send_to(b"marker", to))
            .await?
            .ctx("follow-up send")?;
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        loop {
            let (n, _) = within(BOUND, "recv", rx.recv_from(&mut buf))
                .await?
                .ctx("recv")?;
            got.push(buf[..n].to_vec());
            if &buf[..n] == b"marker" {
                break;
            }
        }
        let want: Vec<Vec<u8>> = if done {
            vec![b"payload".to_vec(), b"marker".to_vec()]
        } else {
            vec![b"marker".to_vec()]
        };
        ensure_eq!(got, want, "datagrams received (done={done})");
        Ok(done)
    })
}

/// `sendfile` dropped after poll k while the peer reads slowly: the peer gets a prefix of the
/// file's range, then the next write; the file position is `offset + what was sent`.
fn sendfile_trial(path: Rc<std::path::PathBuf>, k: usize, when: When) -> Trial {
    Box::pin(async move {
        let data = std::fs::read(&*path).ctx("read the scratch file")?;
        let mut file = File::open(&*path).ctx("open the scratch file")?;
        let (a, b) = tcp_pair().await?;
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = b.read(&mut buf).await.ctx("peer read")?;
                if n == 0 {
                    return Ok::<_, String>(got);
                }
                got.extend_from_slice(&buf[..n]);
                wasio::yield_now().await;
            }
        });
        let offset = 10u64;
        let opts = SendfileOptions::new().offset(offset);
        let done = match drop_after(sendfile_with(&a, &mut file, &opts), k, when).await {
            Ended::Done(r, _) => {
                r.ctx("sendfile")?;
                true
            }
            Ended::Dropped(_) => false,
        };
        let pos = file.stream_position().ctx("position")?;
        let marker = b"--marker--";
        within(BOUND, "the follow-up write", a.write_all(marker))
            .await?
            .ctx("follow-up write")?;
        a.shutdown_write().await.ctx("shutdown")?;
        let got = within(Duration::from_secs(30), "the peer", reader)
            .await?
            .ctx("reader task")??;
        ensure!(
            got.ends_with(marker),
            "the follow-up write did not arrive last"
        );
        let body = &got[..got.len() - marker.len()];
        ensure!(
            data[offset as usize..].starts_with(body),
            "the peer got {} bytes that are not a prefix of the file's range",
            body.len()
        );
        // Never polled: no effect. Started: the position is where asyncio's `finally` leaves
        // it, at the offset plus what was sent.
        let want = if k == 0 {
            0
        } else {
            offset + body.len() as u64
        };
        ensure_eq!(
            pos,
            want,
            "file position (offset {offset}, sent {})",
            body.len()
        );
        Ok(done)
    })
}

/// A future of the loop's own kind (timers, tasks, combinators) dropped after poll k: the
/// sweep checks that its tasks and timers go; `after` checks what must hold.
fn plain_trial<F, Fut>(make: F, k: usize, when: When) -> Trial
where
    F: FnOnce() -> Fut + 'static,
    Fut: Future + 'static,
{
    Box::pin(async move { Ok(drop_after(make(), k, when).await.is_done()) })
}

/// Issue 17 item 15: every public future dropped after each of its polls.
pub fn cancel_every_operation_at_every_await_point(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let mut tally = Tally::default();
        for op in [ReadOp::Read, ReadOp::ReadExact, ReadOp::ReadToEnd] {
            sweep(&mut tally, &format!("{op:?}"), 16, &mut |k, w| {
                read_trial(op, k, w)
            })
            .await;
        }
        let big = Rc::new(payload(5, 4 << 20));
        for op in [WriteOp::Write, WriteOp::WriteAll] {
            let data = big.clone();
            sweep(&mut tally, &format!("{op:?}"), 12, &mut |k, w| {
                write_trial(op, data.clone(), k, w)
            })
            .await;
        }
        sweep(&mut tally, "accept", 8, &mut accept_trial).await;
        sweep(&mut tally, "connect", 8, &mut |k, w| {
            connect_trial(false, k, w)
        })
        .await;
        sweep(&mut tally, "connect (Happy Eyeballs)", 8, &mut |k, w| {
            connect_trial(true, k, w)
        })
        .await;
        sweep(&mut tally, "UDP recv_from", 8, &mut recv_trial).await;
        sweep(&mut tally, "UDP send_to", 8, &mut send_trial).await;
        let path = Rc::new(scratch_file("cancel-sendfile"));
        File::create(&*path)
            .and_then(|mut f| f.write_all(&payload(9, 3 << 20)))
            .ctx("write the scratch file")?;
        sweep(&mut tally, "sendfile", 12, &mut |k, w| {
            sendfile_trial(path.clone(), k, w)
        })
        .await;
        let _ = std::fs::remove_file(&*path);
        sweep(&mut tally, "sleep", 4, &mut |k, w| {
            plain_trial(|| wasio::sleep(Duration::from_millis(2)), k, w)
        })
        .await;
        sweep(&mut tally, "timeout", 4, &mut |k, w| {
            plain_trial(
                || {
                    wasio::timeout(
                        Duration::from_millis(2),
                        wasio::sleep(Duration::from_secs(60)),
                    )
                },
                k,
                w,
            )
        })
        .await;
        sweep(&mut tally, "run_in_executor", 4, &mut |k, w| {
            Box::pin(async move {
                let lp = wasio::current();
                let job = lp.run_in_executor(|| 42).ctx("run_in_executor")?;
                let done = drop_after(job, k, w).await.is_done();
                let again = lp.run_in_executor(|| 7).ctx("run_in_executor")?;
                ensure_eq!(
                    within(BOUND, "the next job", again).await?.ctx("job")?,
                    7,
                    "the next job"
                );
                Ok(done)
            })
        })
        .await;
        sweep(&mut tally, "TaskGroup::wait", 8, &mut |k, w| {
            Box::pin(async move {
                let group = TaskGroup::<String>::new();
                for n in 1..=2 {
                    group
                        .spawn(async move {
                            for _ in 0..n {
                                wasio::sleep(Duration::from_millis(1)).await;
                            }
                            Ok(())
                        })
                        .ctx("spawn")?;
                }
                Ok(drop_after(group.wait(), k, w).await.is_done())
            })
        })
        .await;
        sweep(&mut tally, "gather", 6, &mut |k, w| {
            plain_trial(
                || {
                    wasio::gather((1..=3u64).map(|n| async move {
                        wasio::sleep(Duration::from_millis(n)).await;
                        n
                    }))
                },
                k,
                w,
            )
        })
        .await;
        sweep(&mut tally, "shield", 6, &mut |k, w| {
            Box::pin(async move {
                let flag = Rc::new(Cell::new(false));
                let f = flag.clone();
                let shielded = wasio::shield(async move {
                    wasio::sleep(Duration::from_millis(2)).await;
                    f.set(true);
                });
                let done = drop_after(shielded, k, w).await.is_done();
                // Dropped or not, the shielded work runs to its end.
                within(
                    BOUND,
                    "the shielded work",
                    std::future::poll_fn(|cx| {
                        if flag.get() {
                            std::task::Poll::Ready(())
                        } else {
                            cx.waker().wake_by_ref();
                            std::task::Poll::Pending
                        }
                    }),
                )
                .await?;
                Ok(done)
            })
        })
        .await;
        sweep(&mut tally, "JoinHandle::wait_for", 6, &mut |k, w| {
            Box::pin(async move {
                let task = wasio::spawn(async {
                    wasio::sleep(Duration::from_millis(2)).await;
                    7
                });
                let done = drop_after(task.wait_for(BOUND), k, w).await.is_done();
                Ok(done)
            })
        })
        .await;
        t.note(tally.summary());
        if !tally.violations.is_empty() {
            return Err(format!(
                "{}:\n  {}",
                tally.summary(),
                tally.violations.join("\n  ")
            ));
        }
        t.push(format!("{} operations swept, 0 violations", tally.ops));
        Ok(())
    })
}

/// Issue 17 item 4: a `read_to_end` cancelled after the peer sent `abc` leaves exactly `abc`
/// in the caller's vector (it used to leave 16 KiB of zeros after them).
pub fn cancel_read_to_end_keeps_exactly_the_bytes_read(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let (a, b) = tcp_pair().await?;
        a.write_all(b"abc").await.ctx("write")?;
        let mut v = b"x:".to_vec();
        let res = wasio::timeout(Duration::from_millis(50), b.read_to_end(&mut v)).await;
        t.push(format!("timed out: {}", res.is_err()));
        t.push(format!("vector: {:?}", String::from_utf8_lossy(&v)));
        a.write_all(b"def").await.ctx("write")?;
        a.shutdown_write().await.ctx("shutdown")?;
        b.read_to_end(&mut v).await.ctx("read_to_end")?;
        t.push(format!("then: {:?}", String::from_utf8_lossy(&v)));
        t.expect(&["timed out: true", "vector: \"x:abc\"", "then: \"x:abcdef\""])
    })
}

/// Issue 17 items 3 and 16: for each kind of source and direction, one task waits and
/// another closes it; the waiter ends at once with the documented error.
pub fn close_while_waiting_ends_every_waiter(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        // UDP: a receive in progress fails with NotConnected when the socket is closed.
        let udp = Rc::new(UdpSocket::bind(lo4()).await.ctx("bind")?);
        let u = udp.clone();
        let receiving = wasio::spawn(async move {
            let mut buf = [0u8; 8];
            u.recv_from(&mut buf).await.map(|_| ())
        });
        wasio::yield_now().await;
        udp.close();
        let r = within(BOUND, "recv_from after close", receiving)
            .await?
            .ctx("task")?;
        t.push(format!(
            "udp recv: {}",
            r.err().map(|e| kind(&e)).unwrap_or_default()
        ));
        let mut buf = [0u8; 4];
        t.push(format!(
            "udp later: {}",
            udp.recv_from(&mut buf)
                .await
                .err()
                .map(|e| kind(&e))
                .unwrap_or_default()
        ));

        // A listener: an accept in progress fails with NotConnected.
        let l = Rc::new(TcpListener::bind(lo4()).await.ctx("bind")?);
        let addr = l.local_addr().ctx("addr")?;
        let l2 = l.clone();
        let accepting = wasio::spawn(async move { l2.accept().await.map(|_| ()) });
        wasio::yield_now().await;
        l.close();
        let r = within(BOUND, "accept after close", accepting)
            .await?
            .ctx("task")?;
        t.push(format!(
            "accept: {}",
            r.err().map(|e| kind(&e)).unwrap_or_default()
        ));
        let refused = TcpStream::connect(addr).await;
        t.push(format!("connect after close refused: {}", refused.is_err()));

        // A stream: a write waiting for room fails as soon as another task starts closing
        // the write side (what was already written is still flushed: on WASI that waits for
        // the peer to read); a read in progress goes on (close is a half-close) and sees the
        // peer's bytes.
        let (a, b) = tcp_pair().await?;
        let (a, b) = (Rc::new(a), Rc::new(b));
        let a2 = a.clone();
        let reading = wasio::spawn(async move {
            let mut got = Vec::new();
            a2.read_to_end(&mut got).await.map(|_| got)
        });
        let a3 = a.clone();
        let big = payload(3, 8 << 20);
        let writing = wasio::spawn(async move { a3.write_all(&big).await });
        // Until the write waits for room (the peer reads nothing).
        for _ in 0..1000 {
            if writing.is_finished() {
                break;
            }
            wasio::yield_now().await;
        }
        ensure!(
            !writing.is_finished(),
            "8 MiB went out with nobody reading: no waiting write to test"
        );
        let a4 = a.clone();
        let closing = wasio::spawn(async move { a4.close().await });
        let w = within(BOUND, "write after close", writing)
            .await?
            .ctx("task")?;
        t.push(format!(
            "waiting write: {}",
            w.err().map(|e| kind(&e)).unwrap_or_default()
        ));
        t.push(format!(
            "write after close: {}",
            a.write(b"x")
                .await
                .err()
                .map(|e| kind(&e))
                .unwrap_or_default()
        ));
        b.write_all(b"still readable").await.ctx("peer write")?;
        b.shutdown_write().await.ctx("peer shutdown")?;
        // The peer drains what was written, so the close's flush can end.
        let mut sink = Vec::new();
        within(
            Duration::from_secs(30),
            "peer drain",
            b.read_to_end(&mut sink),
        )
        .await?
        .ctx("peer drain")?;
        within(Duration::from_secs(30), "close", closing)
            .await?
            .ctx("task")?
            .ctx("close")?;
        let got = within(BOUND, "read after close", reading)
            .await?
            .ctx("task")?
            .ctx("read")?;
        t.push(format!("waiting read: {:?}", String::from_utf8_lossy(&got)));

        // Owned halves: the write half shut down from another task wakes its waiting writer.
        let (a, b) = tcp_pair().await?;
        let (_ra, wa) = a.into_split();
        let wa = Rc::new(wa);
        let w2 = wa.clone();
        let big = payload(4, 8 << 20);
        let writing = wasio::spawn(async move { w2.write_all(&big).await });
        for _ in 0..1000 {
            if writing.is_finished() {
                break;
            }
            wasio::yield_now().await;
        }
        ensure!(!writing.is_finished(), "no waiting write half to test");
        let w3 = wa.clone();
        let closing = wasio::spawn(async move { w3.shutdown_write().await });
        let w = within(BOUND, "write half after shutdown", writing)
            .await?
            .ctx("task")?;
        t.push(format!(
            "waiting write half: {}",
            w.err().map(|e| kind(&e)).unwrap_or_default()
        ));
        let mut sink = Vec::new();
        within(
            Duration::from_secs(30),
            "peer drain",
            b.read_to_end(&mut sink),
        )
        .await?
        .ctx("peer drain")?;
        within(Duration::from_secs(30), "shutdown", closing)
            .await?
            .ctx("task")?
            .ctx("shutdown")?;
        drop(b);
        t.expect(&[
            "udp recv: NotConnected",
            "udp later: NotConnected",
            "accept: NotConnected",
            "connect after close refused: true",
            "waiting write: BrokenPipe",
            "write after close: BrokenPipe",
            "waiting read: \"still readable\"",
            "waiting write half: BrokenPipe",
        ])
    })
}
