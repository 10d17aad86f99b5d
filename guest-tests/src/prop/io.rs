//! Generated I/O programs over a TCP socket pair, checked byte for byte against a model.
//!
//! A program is a random sequence of steps on the two ends `A` and `B`: writes (some
//! cancelled after a given number of polls), reads and exact reads (some cancelled, some that
//! could only wait and are cancelled after their first poll), half-closes and closes. The
//! model keeps, per direction, the bytes written and not yet read and whether the writer shut
//! down. Every result is checked against it at once: a read returns exactly the next bytes
//! (or end of stream only once the writer shut down and everything was read), a cancelled
//! read consumed exactly what its buffer shows, a write reports what went out, a write after
//! the half-close fails. At the end both directions are drained and must hold exactly what
//! the model says.
//!
//! Byte values stay below 251 (`n * 7 % 251` of a per-direction counter), so `UNSET` (0xFF)
//! marks the part of a buffer an exact read did not fill.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use wasio::net::TcpStream;

use super::model::Rng;
use crate::cancel::{Ended, UNSET, When, drop_after};
use crate::{Context, ensure, within};

/// One end of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    fn idx(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// Cancel after `k` polls (`k` = 0: never polled).
pub type Cancel = Option<(usize, When)>;

/// One step of a program.
#[derive(Debug, Clone)]
pub enum Step {
    /// `write` of `len` fresh bytes from `side` (one call: it reports what went out).
    Write {
        side: Side,
        len: usize,
        cancel: Cancel,
    },
    /// `write_all` of `len` fresh bytes from `side`.
    WriteAll { side: Side, len: usize },
    /// `read` of at most `max` bytes at `side`.
    Read {
        side: Side,
        max: usize,
        cancel: Cancel,
    },
    /// `read_exact` of `len` bytes at `side`.
    ReadExact {
        side: Side,
        len: usize,
        cancel: Cancel,
    },
    /// `shutdown_write` at `side`.
    ShutdownWrite { side: Side },
    /// Drops `side`'s stream.
    Close { side: Side },
    /// Lets the loop run `n` iterations.
    Yield { n: usize },
}

/// A generated program.
pub struct Program(pub Vec<Step>);

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// The bytes in flight in one direction (from the writer to the reader).
#[derive(Default, Clone)]
struct Dir {
    queue: VecDeque<u8>,
    /// Bytes ever written in this direction (the next byte's counter).
    written: u64,
    /// The writer shut down (or closed).
    eof: bool,
}

impl Dir {
    fn next_bytes(&self, len: usize, dir: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| ((self.written + i) * 7 + dir as u64) % 251)
            .map(|v| v as u8)
            .collect()
    }
}

/// What the checker tracks.
#[derive(Default, Clone)]
struct Model {
    /// Index: the reading side (`dirs[B]` is A to B).
    dirs: [Dir; 2],
    shut: [bool; 2],
    closed: [bool; 2],
}

fn other(side: Side) -> Side {
    match side {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

fn cancel(rng: &mut Rng) -> Cancel {
    if !rng.chance(40) {
        return None;
    }
    let k = rng.below(3) as usize;
    let when = if rng.chance(50) {
        When::AfterPoll
    } else {
        When::AtWake
    };
    Some((k, when))
}

/// Generates a program. It tracks which ends are shut or closed (what is queued depends on
/// timing, so [`execute`] decides from its model whether a read could only wait, and then
/// cancels it right after its poll).
pub fn generate(rng: &mut Rng) -> Program {
    let mut shut = [false; 2];
    let mut closed = [false; 2];
    let mut steps = Vec::new();
    let len = 5 + rng.below(36) as usize;
    for _ in 0..len {
        let side = if rng.chance(50) { Side::A } else { Side::B };
        let (me, peer) = (side.idx(), other(side).idx());
        if closed[me] {
            continue;
        }
        let step = match rng.below(100) {
            0..=24 if !shut[me] && !closed[peer] => Step::Write {
                side,
                len: 1 + rng.below(300) as usize,
                cancel: cancel(rng),
            },
            25..=34 if !shut[me] && !closed[peer] => Step::WriteAll {
                side,
                len: 1 + rng.below(2000) as usize,
            },
            // A write after the half-close: it must fail.
            35..=37 if shut[me] && !closed[peer] => Step::WriteAll {
                side,
                len: 1 + rng.below(10) as usize,
            },
            38..=64 => Step::Read {
                side,
                max: 1 + rng.below(400) as usize,
                cancel: cancel(rng),
            },
            65..=79 => Step::ReadExact {
                side,
                len: 1 + rng.below(300) as usize,
                cancel: cancel(rng),
            },
            80..=86 if !shut[me] => {
                shut[me] = true;
                Step::ShutdownWrite { side }
            }
            // Only once the peer shut down: the end reads what is left first (unread data
            // would reset the connection, which loses data by design).
            87..=91 if shut[peer] => {
                shut[me] = true;
                closed[me] = true;
                Step::Close { side }
            }
            _ => Step::Yield {
                n: rng.below(3) as usize,
            },
        };
        steps.push(step);
    }
    Program(steps)
}

/// Number of steps.
pub fn size(p: &Program) -> usize {
    p.0.len()
}

/// A step that could only wait (nothing more will arrive) is cancelled right after its poll
/// (waiting for a wake-up would wait for ever); otherwise the program's choice stands.
fn only_poll_if(waits_forever: bool, cancel: Cancel) -> Cancel {
    if waits_forever {
        Some((cancel.map_or(1, |(k, _)| k.min(1)), When::AfterPoll))
    } else {
        cancel
    }
}

/// How long a step that must end may take (data in transit, a wake-up on its way).
const BOUND: Duration = Duration::from_secs(10);

/// Runs `program` on a fresh pair on the running loop and checks every step against the
/// model; returns the number of checks made.
pub async fn execute(program: &Program) -> Result<usize, String> {
    let l = wasio::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .ctx("bind")?;
    let a = TcpStream::connect(l.local_addr().ctx("addr")?)
        .await
        .ctx("connect")?;
    let (b, _) = l.accept().await.ctx("accept")?;
    drop(l);
    let mut ends = [Some(a), Some(b)];
    let mut m = Model::default();
    let mut checks = 0usize;
    for (i, step) in program.0.iter().enumerate() {
        let at = |what: String| format!("step {i} ({step:?}): {what}");
        match step {
            Step::Write { side, len, cancel } => {
                let s = ends[side.idx()]
                    .as_ref()
                    .ok_or_else(|| at("closed end".into()))?;
                let dir = 1 - side.idx();
                let bytes = m.dirs[dir].next_bytes(*len, dir);
                let n = match cancel {
                    None => Some(
                        within(BOUND, "write", s.write(&bytes))
                            .await
                            .map_err(at)?
                            .map_err(|e| at(format!("write failed: {e}")))?,
                    ),
                    Some((k, when)) => match drop_after(s.write(&bytes), *k, *when).await {
                        Ended::Done(r, _) => Some(r.map_err(|e| at(format!("write: {e}")))?),
                        // A write that did not complete wrote nothing.
                        Ended::Dropped(_) => None,
                    },
                };
                if let Some(n) = n {
                    ensure!(n > 0 && n <= *len, "{}", at(format!("wrote {n}")));
                    let d = &mut m.dirs[dir];
                    d.written += n as u64;
                    d.queue.extend(&bytes[..n]);
                }
                checks += 1;
            }
            Step::WriteAll { side, len } => {
                let s = ends[side.idx()]
                    .as_ref()
                    .ok_or_else(|| at("closed end".into()))?;
                let dir = 1 - side.idx();
                let bytes = m.dirs[dir].next_bytes(*len, dir);
                let res = within(BOUND, "write_all", s.write_all(&bytes))
                    .await
                    .map_err(at)?;
                if m.shut[side.idx()] {
                    ensure!(
                        res.is_err(),
                        "{}",
                        at("a write after shutdown succeeded".into())
                    );
                } else {
                    res.map_err(|e| at(format!("write_all: {e}")))?;
                    let d = &mut m.dirs[dir];
                    d.written += *len as u64;
                    d.queue.extend(bytes);
                }
                checks += 1;
            }
            Step::Read { side, max, cancel } => {
                let s = ends[side.idx()]
                    .as_ref()
                    .ok_or_else(|| at("closed end".into()))?;
                let d = &m.dirs[side.idx()];
                let cancel = &only_poll_if(d.queue.is_empty() && !d.eof, *cancel);
                let mut buf = vec![UNSET; *max];
                let got = match cancel {
                    None => Some(
                        within(BOUND, "read", s.read(&mut buf))
                            .await
                            .map_err(at)?
                            .map_err(|e| at(format!("read: {e}")))?,
                    ),
                    Some((k, when)) => match drop_after(s.read(&mut buf), *k, *when).await {
                        Ended::Done(r, _) => Some(r.map_err(|e| at(format!("read: {e}")))?),
                        Ended::Dropped(_) => None,
                    },
                };
                let d = &mut m.dirs[side.idx()];
                match got {
                    Some(0) => ensure!(
                        d.queue.is_empty() && d.eof,
                        "{}",
                        at(format!(
                            "end of stream with {} bytes unread (writer shut: {})",
                            d.queue.len(),
                            d.eof
                        ))
                    ),
                    Some(n) => {
                        let want: Vec<u8> = d.queue.iter().take(n).copied().collect();
                        ensure!(
                            want.len() == n && buf[..n] == want[..],
                            "{}",
                            at(format!(
                                "read {n} bytes {:?}, the model has {:?}",
                                &buf[..n],
                                want
                            ))
                        );
                        d.queue.drain(..n);
                    }
                    None => ensure!(
                        buf.iter().all(|&x| x == UNSET),
                        "{}",
                        at("a cancelled read left bytes in the buffer".into())
                    ),
                }
                checks += 1;
            }
            Step::ReadExact { side, len, cancel } => {
                let s = ends[side.idx()]
                    .as_ref()
                    .ok_or_else(|| at("closed end".into()))?;
                let d = &m.dirs[side.idx()];
                let cancel = &only_poll_if(d.queue.len() < *len && !d.eof, *cancel);
                let mut buf = vec![UNSET; *len];
                let res = match cancel {
                    None => Some(
                        within(BOUND, "read_exact", s.read_exact(&mut buf))
                            .await
                            .map_err(at)?,
                    ),
                    Some((k, when)) => match drop_after(s.read_exact(&mut buf), *k, *when).await {
                        Ended::Done(r, _) => Some(r),
                        Ended::Dropped(_) => None,
                    },
                };
                let filled = buf.iter().position(|&x| x == UNSET).unwrap_or(buf.len());
                let d = &mut m.dirs[side.idx()];
                let want: Vec<u8> = d.queue.iter().take(filled).copied().collect();
                ensure!(
                    want.len() == filled && buf[..filled] == want[..],
                    "{}",
                    at(format!(
                        "read_exact filled {filled} bytes {:?}, the model has {:?}",
                        &buf[..filled],
                        want
                    ))
                );
                match res {
                    Some(Ok(())) => ensure!(filled == *len, "{}", at("short".into())),
                    Some(Err(e)) => ensure!(
                        e.kind() == std::io::ErrorKind::UnexpectedEof
                            && d.eof
                            && d.queue.len() == filled,
                        "{}",
                        at(format!("read_exact: {e} with {} queued", d.queue.len()))
                    ),
                    None => {}
                }
                d.queue.drain(..filled);
                checks += 1;
            }
            Step::ShutdownWrite { side } => {
                let s = ends[side.idx()]
                    .as_ref()
                    .ok_or_else(|| at("closed end".into()))?;
                within(BOUND, "shutdown_write", s.shutdown_write())
                    .await
                    .map_err(at)?
                    .map_err(|e| at(format!("shutdown_write: {e}")))?;
                m.shut[side.idx()] = true;
                m.dirs[1 - side.idx()].eof = true;
                checks += 1;
            }
            Step::Close { side } => {
                let s = ends[side.idx()]
                    .take()
                    .ok_or_else(|| at("closed end".into()))?;
                // The peer shut down: read what is left, then close.
                let mut rest = Vec::new();
                within(BOUND, "read before close", s.read_to_end(&mut rest))
                    .await
                    .map_err(at)?
                    .map_err(|e| at(format!("read before close: {e}")))?;
                let d = &mut m.dirs[side.idx()];
                let want: Vec<u8> = d.queue.drain(..).collect();
                ensure!(
                    rest == want,
                    "{}",
                    at(format!(
                        "read {} bytes, the model has {}",
                        rest.len(),
                        want.len()
                    ))
                );
                drop(s);
                checks += 1;
                m.closed[side.idx()] = true;
                m.shut[side.idx()] = true;
                m.dirs[1 - side.idx()].eof = true;
            }
            Step::Yield { n } => {
                for _ in 0..*n {
                    wasio::yield_now().await;
                }
            }
        }
    }
    // Drain: each open end shuts its write side, then reads everything left.
    for side in [Side::A, Side::B] {
        if let Some(s) = &ends[side.idx()]
            && !m.shut[side.idx()]
        {
            s.shutdown_write().await.ctx("final shutdown")?;
            m.dirs[1 - side.idx()].eof = true;
        }
    }
    for side in [Side::A, Side::B] {
        if let Some(s) = &ends[side.idx()] {
            let mut rest = Vec::new();
            within(BOUND, "final read", s.read_to_end(&mut rest))
                .await?
                .ctx("final read")?;
            let want: Vec<u8> = m.dirs[side.idx()].queue.iter().copied().collect();
            ensure!(
                rest == want,
                "final read at {side:?}: {} bytes, the model has {} ({:?} vs {:?})",
                rest.len(),
                want.len(),
                &rest[..rest.len().min(16)],
                &want[..want.len().min(16)]
            );
            checks += 1;
        }
    }
    Ok(checks)
}
