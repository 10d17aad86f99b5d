//! The time futures: [`sleep`], [`sleep_until`], [`timeout`], [`interval`], [`yield_now`].
//!
//! # Ground rules
//!
//! * A deadline is never early: instants convert to ticks exactly, and a timer fires only when
//!   `when < now + resolution` (TMR-03/TMR-04).
//! * `sleep(Duration::ZERO)` yields exactly one iteration and creates no timer (asyncio
//!   `__sleep0`, TMR-07). A dropped `Sleep` cancels its timer, which then counts towards the
//!   purge rule like any cancelled timer.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::clock::NEVER;
use crate::context::with_core;
use crate::core::Core;
use crate::error::Error;
use crate::timer::WakeKey;

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
    /// The timer, created on first poll on the running loop: its slot in that loop's queue.
    timer: Option<(Weak<Core>, WakeKey)>,
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
            timer: None,
        };
    }
    let deadline = match Instant::now().checked_add(duration) {
        Some(at) => Deadline::At(at),
        None => Deadline::Never,
    };
    Sleep {
        deadline,
        timer: None,
    }
}

/// Waits until `deadline`. A deadline in the past completes on the next timer pass.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Deadline::At(deadline),
        timer: None,
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
        match (&self.deadline, &self.timer) {
            (Deadline::Yield { yielded }, _) => *yielded,
            (_, Some((core, key))) => core
                .upgrade()
                .is_some_and(|core| core.timers.borrow().wake_done(*key)),
            _ => false,
        }
    }

    /// Moves the deadline, cancelling the pending timer if any.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel_timer();
        self.deadline = Deadline::At(deadline);
    }

    fn cancel_timer(&mut self) {
        if let Some((core, key)) = self.timer.take()
            && let Some(core) = core.upgrade()
        {
            // The waker is dropped after the borrow ends (dropping it may drop a task).
            let waker = core.timers.borrow_mut().release_wake(key);
            drop(waker);
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
        if let Some((core, key)) = &this.timer {
            // A loop that is gone never fires the timer.
            let Some(core) = core.upgrade() else {
                return Poll::Pending;
            };
            let (done, old) = core.timers.borrow_mut().poll_wake(*key, cx.waker());
            drop(old);
            return if done { Poll::Ready(()) } else { Poll::Pending };
        }
        let deadline = this.deadline;
        this.timer = Some(with_core(|core| {
            let tick = match deadline {
                Deadline::At(at) => core.clock.tick_of(at),
                _ => NEVER,
            };
            let key = core.timers.borrow_mut().insert_wake(tick, cx.waker());
            (Rc::downgrade(core), key)
        }));
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

impl Elapsed {
    /// The deadline passed (for the other helpers that time out, like `JoinHandle::wait_for`).
    pub(crate) fn new() -> Elapsed {
        Elapsed(())
    }
}

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

pin_project_lite::pin_project! {
    /// Future returned by [`timeout`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
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
            timer: None,
        },
    };
    Timeout { future, sleep }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(this.sleep).poll(cx) {
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
