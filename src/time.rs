//! Loop time and the time futures: [`sleep`], [`sleep_until`], [`timeout`], [`interval`],
//! [`yield_now`].
//!
//! # Ground rules
//!
//! * Loop time is a [`Tick`]: `u64` nanoseconds since the loop was created, on both targets
//!   (`Instant` is the monotonic clock natively and `wasi:clocks/monotonic-clock` on WASI).
//!   Conversions saturate: no `Instant` or `Duration` value can make them panic.
//! * A deadline is never early: instants convert to ticks rounded up, and a timer fires only when
//!   `when < now + resolution` (TMR-03/TMR-04).
//! * `sleep(Duration::ZERO)` yields exactly one iteration and creates no timer (asyncio
//!   `__sleep0`, TMR-07). A dropped `Sleep` cancels its timer, which then counts towards the
//!   purge rule like any cancelled timer.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::event_loop::with_core;
use crate::handle::{Entry, WakeAction};

/// Nanoseconds since the loop's origin.
pub(crate) type Tick = u64;

/// The longest the loop ever blocks in one wait (asyncio `MAXIMUM_SELECT_TIMEOUT`, 24 h).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Converts a duration to ticks, saturating at `Tick::MAX` (about 584 years).
pub(crate) fn ticks(d: Duration) -> Tick {
    u64::try_from(d.as_nanos()).unwrap_or(Tick::MAX)
}

/// The loop's clock: an origin `Instant` and the clock resolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: Instant,
    /// `clock_getres(CLOCK_MONOTONIC)` natively, `monotonic-clock.resolution()` on WASI; at
    /// least one tick.
    resolution: Tick,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            origin: Instant::now(),
            resolution: ticks(crate::sys::clock_resolution()).max(1),
        }
    }

    /// Ticks elapsed since the origin.
    pub(crate) fn now(&self) -> Tick {
        ticks(Instant::now().saturating_duration_since(self.origin))
    }

    pub(crate) fn resolution(&self) -> Tick {
        self.resolution
    }

    /// The tick of an instant; instants before the origin map to 0. Duration is nanosecond exact,
    /// so no rounding is lost here.
    pub(crate) fn tick_of(&self, at: Instant) -> Tick {
        ticks(at.saturating_duration_since(self.origin))
    }

    /// The instant of a tick. Ticks past what `Instant` can hold map to the farthest instant it
    /// can (never a panic).
    pub(crate) fn instant_of(&self, tick: Tick) -> Instant {
        let mut d = Duration::from_nanos(tick);
        loop {
            if let Some(i) = self.origin.checked_add(d) {
                return i;
            }
            d /= 2;
        }
    }
}

/// Computes the wait timeout of step 2 of an iteration (SCH-04).
///
/// `None` blocks until I/O or a wake-up. The time to a deadline is rounded up by the driver to
/// its own granularity, never down, and capped at 24 h.
pub(crate) fn wait_timeout(busy: bool, next_deadline: Option<Tick>, now: Tick) -> Option<Duration> {
    if busy {
        return Some(Duration::ZERO);
    }
    let when = next_deadline?;
    Some(Duration::from_nanos(when.saturating_sub(now)).min(MAX_WAIT))
}

// ===== Sleep =====

#[derive(Debug, Clone, Copy)]
enum Deadline {
    /// `sleep(0)`: yield one iteration, no timer.
    Yield { yielded: bool },
    /// An absolute deadline, converted to a tick on first poll.
    At(Instant),
    /// Further away than `Instant` can express: the farthest tick.
    Never,
}

/// Future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Deadline,
    /// The timer entry, created on first poll on the running loop.
    entry: Option<Rc<Entry<WakeAction>>>,
}

/// Waits until `duration` has elapsed (on the loop's clock).
///
/// `sleep(Duration::ZERO)` yields exactly one loop iteration and creates no timer. The timer is
/// created on first poll and cancelled if the future is dropped first.
///
/// # Panics
///
/// When first polled outside a running wasio loop (the timer belongs to the loop that polls
/// it), like tokio's timers outside a runtime.
///
/// ```
/// use std::time::{Duration, Instant};
/// let elapsed = wasio::run(async {
///     let t0 = Instant::now();
///     wasio::sleep(Duration::from_millis(5)).await;
///     t0.elapsed()
/// })
/// .unwrap();
/// assert!(elapsed >= Duration::from_millis(5));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    if duration.is_zero() {
        return Sleep {
            deadline: Deadline::Yield { yielded: false },
            entry: None,
        };
    }
    let deadline = match Instant::now().checked_add(duration) {
        Some(at) => Deadline::At(at),
        None => Deadline::Never,
    };
    Sleep {
        deadline,
        entry: None,
    }
}

/// Waits until `deadline`. A deadline in the past completes on the next timer pass.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Deadline::At(deadline),
        entry: None,
    }
}

impl Sleep {
    /// The deadline, if it is representable (`None` for `sleep(ZERO)` and for overflowing
    /// durations).
    pub fn deadline(&self) -> Option<Instant> {
        match self.deadline {
            Deadline::At(at) => Some(at),
            _ => None,
        }
    }

    /// Whether the timer has fired.
    pub fn is_elapsed(&self) -> bool {
        match (&self.deadline, &self.entry) {
            (Deadline::Yield { yielded }, _) => *yielded,
            (_, Some(e)) => e.is_done(),
            _ => false,
        }
    }

    /// Moves the deadline, cancelling the pending timer if any.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel_timer();
        self.deadline = Deadline::At(deadline);
    }

    fn cancel_timer(&mut self) {
        if let Some(entry) = self.entry.take()
            && !entry.is_done()
        {
            entry.cancel();
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Deadline::Yield { yielded } = &mut this.deadline {
            if *yielded {
                return Poll::Ready(());
            }
            *yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(entry) = &this.entry {
            if entry.is_done() {
                return Poll::Ready(());
            }
            entry.set_waker(cx.waker());
            return Poll::Pending;
        }
        let deadline = this.deadline;
        let entry = with_core(|core| {
            let tick = match deadline {
                Deadline::At(at) => core.clock.tick_of(at),
                _ => crate::time::Tick::MAX,
            };
            core.timers.borrow_mut().insert(tick, WakeAction::new())
        });
        entry.set_waker(cx.waker());
        this.entry = Some(entry);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel_timer();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

/// Yields to the loop once: the task runs again in the next iteration, after everything already
/// ready (asyncio `await asyncio.sleep(0)`).
pub fn yield_now() -> Sleep {
    sleep(Duration::ZERO)
}

// ===== Timeout =====

/// The error of [`timeout`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

/// Future returned by [`timeout`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

/// Runs `future` with a time limit; `Err(Elapsed)` if `duration` passes first, in which case the
/// future is dropped. The future is polled before the deadline is checked, so a future that is
/// ready at once wins even with a zero duration.
///
/// ```
/// use std::time::Duration;
/// wasio::run(async {
///     let slow = wasio::sleep(Duration::from_secs(60));
///     assert!(wasio::timeout(Duration::from_millis(1), slow).await.is_err());
///     assert_eq!(wasio::timeout(Duration::from_secs(60), async { 7 }).await, Ok(7));
/// })
/// .unwrap();
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    let sleep = match Instant::now().checked_add(duration) {
        Some(at) => sleep_until(at),
        None => Sleep {
            deadline: Deadline::Never,
            entry: None,
        },
    };
    Timeout { future, sleep }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self` and `Timeout`
        // has no `Drop` impl that could move it; `sleep` is `Unpin` and only used by reference.
        let (future, sleep) = unsafe {
            let this = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut this.future), &mut this.sleep)
        };
        if let Poll::Ready(v) = future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

// ===== Interval =====

/// A stream of ticks every `period`, returned by [`interval`].
///
/// The first tick completes at once. If the loop falls behind, missed ticks fire back to back
/// until it has caught up (deadlines stay on the original grid).
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Option<Sleep>,
    /// Set when `next + period` overflowed: no more ticks.
    exhausted: Cell<bool>,
}

/// Creates an [`Interval`]. `period` must be non-zero.
///
/// ```
/// use std::time::Duration;
/// wasio::run(async {
///     let mut iv = wasio::interval(Duration::from_millis(2)).unwrap();
///     let first = iv.tick().await;
///     let second = iv.tick().await;
///     assert!(second - first >= Duration::from_millis(2));
/// })
/// .unwrap();
/// ```
pub fn interval(period: Duration) -> Result<Interval, Error> {
    if period.is_zero() {
        return Err(Error::invalid_input("interval period must be non-zero"));
    }
    Ok(Interval {
        period,
        next: Instant::now(),
        sleep: None,
        exhausted: Cell::new(false),
    })
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.exhausted.get() {
            return Poll::Pending;
        }
        let sleep = self.sleep.get_or_insert_with(|| sleep_until(self.next));
        if Pin::new(sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let fired = self.next;
        self.sleep = None;
        match self.next.checked_add(self.period) {
            Some(n) => self.next = n,
            None => self.exhausted.set(true),
        }
        Poll::Ready(fired)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_timeout_rules() {
        // SCH-04: zero when busy, None with no timer, time to deadline otherwise, capped at 24 h.
        assert_eq!(wait_timeout(true, Some(1_000), 0), Some(Duration::ZERO));
        assert_eq!(wait_timeout(false, None, 0), None);
        assert_eq!(
            wait_timeout(false, Some(10_000_000_000), 0),
            Some(Duration::from_secs(10))
        );
        assert_eq!(wait_timeout(false, Some(5), 9), Some(Duration::ZERO));
        assert_eq!(wait_timeout(false, Some(Tick::MAX), 0), Some(MAX_WAIT));
    }

    #[test]
    fn clock_conversions_saturate() {
        let c = Clock::new();
        assert_eq!(c.tick_of(c.origin), 0);
        let before = c.origin.checked_sub(Duration::from_secs(1));
        if let Some(b) = before {
            assert_eq!(c.tick_of(b), 0, "instants before the origin map to 0");
        }
        let far = c.instant_of(Tick::MAX);
        assert!(far > c.origin);
        assert_eq!(ticks(Duration::MAX), Tick::MAX);
        let t = c.tick_of(c.instant_of(12_345));
        assert_eq!(t, 12_345, "round trip is exact");
    }
}
