//! Loop time: [`Tick`] and [`Clock`], and the wait-timeout rule of an iteration.
//!
//! # Ground rules
//!
//! * Loop time is a [`Tick`]: signed nanoseconds since the loop was created, on both targets
//!   (`Instant` is the monotonic clock natively and `wasi:clocks/monotonic-clock` on WASI).
//!   Instants before the loop's creation are negative ticks, so `call_at` keeps their order
//!   and `TimerHandle::when` gives them back exactly.
//! * Conversions saturate: no `Instant` or `Duration` value can make them panic. The range is
//!   about ±292 years around the loop's creation; beyond it, deadlines stick to the ends.
//! * Everything here is pure: callers pass `now`, so the logic is tested without sleeping.

use std::time::{Duration, Instant};

/// Nanoseconds since the loop's origin (negative: before it).
pub(crate) type Tick = i64;

/// The farthest tick: a deadline that never comes.
pub(crate) const NEVER: Tick = Tick::MAX;

/// The longest the loop ever blocks in one wait (asyncio `MAXIMUM_SELECT_TIMEOUT`, 24 h).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Converts a duration to ticks, saturating at [`NEVER`] (about 292 years).
pub(crate) fn ticks(d: Duration) -> Tick {
    i64::try_from(d.as_nanos()).unwrap_or(NEVER)
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
    /// A clock whose origin is now.
    pub(crate) fn new(resolution: Duration) -> Clock {
        Clock {
            origin: Instant::now(),
            resolution: ticks(resolution).max(1),
        }
    }

    /// Ticks elapsed since the origin.
    pub(crate) fn now(&self) -> Tick {
        self.tick_of(Instant::now())
    }

    pub(crate) fn resolution(&self) -> Tick {
        self.resolution
    }

    /// The tick of an instant, negative before the origin. `Duration` is nanosecond exact, so
    /// no rounding is lost here.
    pub(crate) fn tick_of(&self, at: Instant) -> Tick {
        match at.checked_duration_since(self.origin) {
            Some(after) => ticks(after),
            None => ticks(self.origin.duration_since(at)).saturating_neg(),
        }
    }

    /// The instant of a tick. Ticks past what `Instant` can hold map to the farthest instant it
    /// can in that direction (never a panic).
    pub(crate) fn instant_of(&self, tick: Tick) -> Instant {
        let mut d = Duration::from_nanos(tick.unsigned_abs());
        loop {
            let at = if tick >= 0 {
                self.origin.checked_add(d)
            } else {
                self.origin.checked_sub(d)
            };
            if let Some(at) = at {
                return at;
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
    let left = u64::try_from(when.saturating_sub(now)).unwrap_or(0);
    Some(Duration::from_nanos(left).min(MAX_WAIT))
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
        assert_eq!(wait_timeout(false, Some(-5), 9), Some(Duration::ZERO));
        assert_eq!(wait_timeout(false, Some(NEVER), 0), Some(MAX_WAIT));
        assert_eq!(wait_timeout(false, Some(NEVER), Tick::MIN), Some(MAX_WAIT));
    }

    #[test]
    fn clock_conversions_saturate_and_keep_order_before_the_origin() {
        let c = Clock::new(Duration::from_nanos(1));
        assert_eq!(c.tick_of(c.origin), 0);
        if let Some(b) = c.origin.checked_sub(Duration::from_secs(1)) {
            assert_eq!(
                c.tick_of(b),
                -1_000_000_000,
                "before the origin is negative"
            );
            assert_eq!(c.instant_of(-1_000_000_000), b, "and converts back exactly");
        }
        let far = c.instant_of(NEVER);
        assert!(far > c.origin);
        let early = c.instant_of(Tick::MIN);
        assert!(early <= c.origin);
        assert_eq!(ticks(Duration::MAX), NEVER);
        let t = c.tick_of(c.instant_of(12_345));
        assert_eq!(t, 12_345, "round trip is exact");
    }
}
