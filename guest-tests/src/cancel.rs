//! The cancellation harness: drop a future after its k-th poll, for every k, and check what
//! must hold afterwards.
//!
//! An operation is tried with [`sweep`]: for k = 0, 1, 2, … it is started on fresh resources,
//! polled k times and dropped, either at once after the k-th poll returned `Pending`
//! ([`When::AfterPoll`]) or at the next time its task runs, typically because the operation's
//! own wake-up came ([`When::AtWake`]: the readiness arrived and nobody consumed it). The
//! sweep stops once the operation completes within k polls. The trial itself checks the
//! bytes (nothing lost, nothing invented, the next operation on the resource works) and that
//! waiters on the same source are still woken; the sweep checks that the loop's live tasks,
//! sources and timers are back to where they were.
//!
//! Payloads for reads are small runs of distinct byte values (see [`distinct`]), so bytes
//! shared between several readers can be told apart: every value arrives exactly once, in
//! order for each reader.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// When, after the k-th poll, the future is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Right after the k-th poll returned `Pending`, in the same task step.
    AfterPoll,
    /// The next time the task runs (its wake-up came, unconsumed).
    AtWake,
}

/// How a trial's future ended.
#[derive(Debug)]
pub enum Ended<T> {
    /// Dropped after this many polls.
    Dropped(usize),
    /// Completed at this poll.
    Done(T, usize),
}

impl<T> Ended<T> {
    /// Whether the future completed.
    pub fn is_done(&self) -> bool {
        matches!(self, Ended::Done(..))
    }
}

/// Polls `fut` at most `k` times; drops it after the k-th poll (as `when` says) unless it
/// completed first.
pub async fn drop_after<F: Future>(fut: F, k: usize, when: When) -> Ended<F::Output> {
    let mut fut = Some(Box::pin(fut));
    let mut polls = 0usize;
    std::future::poll_fn(move |cx| {
        let Some(f) = fut.as_mut() else {
            return Poll::Ready(Ended::Dropped(polls));
        };
        if polls == k {
            fut = None;
            return Poll::Ready(Ended::Dropped(polls));
        }
        polls += 1;
        match f.as_mut().poll(cx) {
            Poll::Ready(v) => {
                fut = None;
                Poll::Ready(Ended::Done(v, polls))
            }
            Poll::Pending if when == When::AfterPoll && polls == k => {
                fut = None;
                Poll::Ready(Ended::Dropped(polls))
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Counts of a harness run.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Operations swept.
    pub ops: usize,
    /// Trials whose future was dropped before completing.
    pub drop_points: usize,
    /// Trials in all.
    pub trials: usize,
    /// What broke, one line per violation.
    pub violations: Vec<String>,
}

impl Tally {
    /// One line for the notes and the transcript.
    pub fn summary(&self) -> String {
        format!(
            "{} operations, {} drop points ({} trials), {} violations",
            self.ops,
            self.drop_points,
            self.trials,
            self.violations.len()
        )
    }
}

/// What the loop holds: live tasks, registered sources and live timers.
fn live() -> (usize, usize, usize) {
    let s = wasio::current().stats();
    (
        s.tasks,
        s.io_sources,
        s.scheduled_timers - s.cancelled_timers,
    )
}

/// One trial: gets `k` and `when`, returns whether the operation completed. It owns its
/// resources and drops them (and ends its helper tasks) before it returns.
pub type TrialFn<'a> =
    dyn FnMut(usize, When) -> Pin<Box<dyn Future<Output = Result<bool, String>>>> + 'a;

/// Sweeps `op` over k = 0..=`max_k` and both [`When`]s (k = 0 once: nothing was polled),
/// stopping once it completes; records violations in `tally` rather than stopping at the
/// first. Must run inside a task of the loop under test.
pub async fn sweep(tally: &mut Tally, name: &str, max_k: usize, op: &mut TrialFn<'_>) {
    tally.ops += 1;
    for k in 0..=max_k {
        let mut completed = false;
        for when in [When::AfterPoll, When::AtWake] {
            if k == 0 && when == When::AtWake {
                continue;
            }
            let before = live();
            tally.trials += 1;
            match op(k, when).await {
                Ok(done) => {
                    completed |= done;
                    if !done {
                        tally.drop_points += 1;
                    }
                }
                Err(e) => tally
                    .violations
                    .push(format!("{name}, dropped after poll {k} ({when:?}): {e}")),
            }
            // Helper tasks end and dropped sources go within a few iterations; detached work
            // (a shielded future, a task whose handle was dropped) within its own time.
            let mut after = live();
            for i in 0..2200 {
                if after == before {
                    break;
                }
                if i < 200 {
                    wasio::yield_now().await;
                } else {
                    wasio::sleep(std::time::Duration::from_millis(2)).await;
                }
                after = live();
            }
            if after != before {
                tally.violations.push(format!(
                    "{name}, dropped after poll {k} ({when:?}): (tasks, sources, timers) \
                     {before:?} before, {after:?} after"
                ));
            }
        }
        if completed {
            return;
        }
    }
}

/// `n` (at most 255) distinct byte values starting at `base`: what several readers of one
/// stream receive can be told apart.
pub fn distinct(base: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| base.wrapping_add(i as u8)).collect()
}

/// A byte no [`distinct`] payload of fewer than 255 values from 0 contains.
pub const UNSET: u8 = 0xFF;

/// Checks that the byte runs `parts` (each one reader's bytes, in the order it read them)
/// together hold every value of `sent` exactly once, each run in stream order.
pub fn check_split(sent: &[u8], parts: &[&[u8]]) -> Result<(), String> {
    let pos = |b: u8| sent.iter().position(|&s| s == b);
    let mut seen = vec![false; sent.len()];
    for (i, part) in parts.iter().enumerate() {
        let mut last = None;
        for &b in part.iter() {
            let Some(p) = pos(b) else {
                return Err(format!("reader {i} got {b:#04x}, which was never sent"));
            };
            if seen[p] {
                return Err(format!("byte {b:#04x} was received twice"));
            }
            if last.is_some_and(|l| l > p) {
                return Err(format!("reader {i} got bytes out of order: {part:?}"));
            }
            seen[p] = true;
            last = Some(p);
        }
    }
    match seen.iter().position(|s| !s) {
        Some(p) => Err(format!("byte {:#04x} was lost", sent[p])),
        None => Ok(()),
    }
}
