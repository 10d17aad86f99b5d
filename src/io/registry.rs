//! The registry of I/O sources: recorded readiness and the tasks waiting on each source.
//!
//! # Ground rules
//!
//! * A source has one slot (a [`slab`] entry whose index is its [`Token`]): the readiness bits
//!   the driver reported and not yet consumed, the wait handles the driver needs to watch each
//!   direction, and the tasks waiting in each direction.
//! * Readiness is a hint. An operation that finds nothing to do clears the bit and waits again.
//! * Any number of tasks may wait in one direction (two tasks accepting on one listener);
//!   readiness wakes them all and the ones that find nothing wait again. A waiter that went
//!   away without being woken leaves its waker behind until the next readiness; to bound that,
//!   a list that grew past its limit wakes everyone (a spurious wake-up, which futures allow)
//!   and starts over.
//! * Nothing here runs user code: wakers are collected and woken by the caller after the
//!   registry borrow ends.

use std::task::Waker;

use slab::Slab;

use crate::sys::{Direction, Token, WaitHandle};

/// Wakers waiting in one direction: the first inline, more in a vector.
#[derive(Default)]
struct Waiters {
    first: Option<Waker>,
    more: Vec<Waker>,
    /// When `more` reaches this length it is flushed (see the module docs).
    limit: usize,
}

/// Initial flush limit of a waiter list.
const WAITER_LIMIT: usize = 8;

impl Waiters {
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Adds `waker` unless it would wake a task already waiting. Wakers to wake now (a flushed
    /// list) go to `wake`.
    fn add(&mut self, waker: &Waker, wake: &mut Vec<Waker>) {
        match &self.first {
            None => {
                self.first = Some(waker.clone());
                return;
            }
            Some(w) if w.will_wake(waker) => return,
            Some(_) => {}
        }
        if self.more.iter().any(|w| w.will_wake(waker)) {
            return;
        }
        if self.limit == 0 {
            self.limit = WAITER_LIMIT;
        }
        if self.more.len() >= self.limit {
            // Some of these may belong to futures that were dropped: wake them all, and the
            // live ones will wait again. Grow the limit so a large live crowd is not flushed on
            // every arrival.
            wake.extend(self.first.take());
            wake.append(&mut self.more);
            self.limit = self.limit.saturating_mul(2);
            self.first = Some(waker.clone());
            return;
        }
        self.more.push(waker.clone());
    }

    /// Moves every waker to `wake`.
    fn take_all(&mut self, wake: &mut Vec<Waker>) {
        wake.extend(self.first.take());
        wake.append(&mut self.more);
        self.limit = WAITER_LIMIT;
    }
}

/// One registered source.
struct Slot {
    /// Readiness reported by the driver and not yet consumed ([`crate::sys::ready`] bits).
    ready: u8,
    /// What the driver watches for each direction.
    handles: [WaitHandle; 2],
    /// Tasks waiting, per direction.
    waiters: [Waiters; 2],
}

/// What [`Registry::poll_ready`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// These bits are recorded for the direction: try the operation.
    Ready(u8),
    /// Nothing recorded: the waker was parked, and the driver must be armed with this handle.
    Parked(WaitHandle),
    /// The token is not registered (any more): try the operation, it will report the error.
    Gone,
}

/// The loop's sources.
#[derive(Default)]
pub(crate) struct Registry {
    slots: Slab<Slot>,
}

impl Registry {
    /// Registers a source with the handles its directions wait on.
    pub(crate) fn insert(&mut self, handles: [WaitHandle; 2]) -> Token {
        Token(self.slots.insert(Slot {
            ready: 0,
            handles,
            waiters: Default::default(),
        }))
    }

    /// Replaces the wait handles (a WASI connect that finished subscribes to its streams).
    /// The caller disarms the driver first.
    pub(crate) fn set_handles(&mut self, token: Token, handles: [WaitHandle; 2]) {
        if let Some(slot) = self.slots.get_mut(token.0) {
            slot.handles = handles;
        }
    }

    /// Moves the waiters of both directions to `wake` (their wait handles changed).
    pub(crate) fn take_waiters(&mut self, token: Token, wake: &mut Vec<Waker>) {
        if let Some(slot) = self.slots.get_mut(token.0) {
            for w in &mut slot.waiters {
                w.take_all(wake);
            }
        }
    }

    /// Removes a slot; its waiters go to `wake` (they see the source gone instead of waiting
    /// forever).
    pub(crate) fn remove(&mut self, token: Token, wake: &mut Vec<Waker>) {
        if let Some(mut slot) = self.slots.try_remove(token.0) {
            for w in &mut slot.waiters {
                w.take_all(wake);
            }
        }
    }

    /// Records readiness from the driver and moves the waiters it concerns to `wake`.
    pub(crate) fn set_ready(&mut self, token: Token, bits: u8, wake: &mut Vec<Waker>) {
        let Some(slot) = self.slots.get_mut(token.0) else {
            return;
        };
        slot.ready |= bits;
        for dir in Direction::BOTH {
            if bits & dir.mask() != 0 {
                slot.waiters[dir as usize].take_all(wake);
            }
        }
    }

    /// The readiness recorded for `dir`, or parks `waker` (wakers of a flushed waiter list go
    /// to `wake`).
    #[allow(clippy::unit_arg, reason = "the wait handle is `()` natively")]
    pub(crate) fn poll_ready(
        &mut self,
        token: Token,
        dir: Direction,
        waker: &Waker,
        wake: &mut Vec<Waker>,
    ) -> Readiness {
        let Some(slot) = self.slots.get_mut(token.0) else {
            return Readiness::Gone;
        };
        let bits = slot.ready & dir.mask();
        if bits != 0 {
            return Readiness::Ready(bits);
        }
        slot.waiters[dir as usize].add(waker, wake);
        Readiness::Parked(slot.handles[dir as usize])
    }

    /// Clears readiness bits after an operation found nothing to do.
    pub(crate) fn clear(&mut self, token: Token, bits: u8) {
        if let Some(slot) = self.slots.get_mut(token.0) {
            slot.ready &= !bits;
        }
    }

    /// Number of registered sources.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether any task waits on `token` in `dir`.
    pub(crate) fn is_waiting(&self, token: Token, dir: Direction) -> bool {
        self.slots
            .get(token.0)
            .is_some_and(|s| !s.waiters[dir as usize].is_empty())
    }

    /// Takes every waker (loop close): their tasks are woken or destroyed by the caller.
    pub(crate) fn take_wakers(&mut self, wake: &mut Vec<Waker>) {
        for (_, slot) in self.slots.iter_mut() {
            for w in &mut slot.waiters {
                w.take_all(wake);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ready;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn no_handles() -> [WaitHandle; 2] {
        Default::default()
    }

    #[test]
    fn readiness_wakes_only_the_matching_direction() {
        let mut reg = Registry::default();
        let tok = reg.insert(no_handles());
        let (_, w) = waker();
        let mut wake = Vec::new();
        assert!(matches!(
            reg.poll_ready(tok, Direction::Read, &w, &mut wake),
            Readiness::Parked(_)
        ));
        assert!(reg.is_waiting(tok, Direction::Read));
        reg.set_ready(tok, ready::WRITABLE, &mut wake);
        assert!(wake.is_empty(), "a write event must not wake a reader");
        reg.set_ready(tok, ready::READABLE, &mut wake);
        assert_eq!(wake.len(), 1);
        assert!(!reg.is_waiting(tok, Direction::Read));
        assert_eq!(
            reg.poll_ready(tok, Direction::Read, &w, &mut wake),
            Readiness::Ready(ready::READABLE)
        );
        reg.clear(tok, ready::READABLE);
        assert!(matches!(
            reg.poll_ready(tok, Direction::Read, &w, &mut wake),
            Readiness::Parked(_)
        ));
    }

    #[test]
    fn every_waiter_of_a_direction_is_woken() {
        let mut reg = Registry::default();
        let tok = reg.insert(no_handles());
        let mut wake = Vec::new();
        let counters: Vec<_> = (0..3).map(|_| waker()).collect();
        for (_, w) in &counters {
            reg.poll_ready(tok, Direction::Read, w, &mut wake);
            // The same task waiting twice is one waiter.
            reg.poll_ready(tok, Direction::Read, w, &mut wake);
        }
        assert!(wake.is_empty());
        reg.set_ready(tok, ready::READABLE, &mut wake);
        assert_eq!(wake.len(), 3, "each distinct waiter is woken once");
    }

    #[test]
    fn abandoned_waiters_are_bounded() {
        let mut reg = Registry::default();
        let tok = reg.insert(no_handles());
        let mut wake = Vec::new();
        for _ in 0..1000 {
            let (_, w) = waker();
            reg.poll_ready(tok, Direction::Read, &w, &mut wake);
        }
        let kept = reg.slots[tok.0].waiters[0].more.len();
        assert!(kept < 1000, "kept {kept} abandoned wakers");
        assert_eq!(wake.len() + kept + 1, 1000, "none lost: flushed or kept");
    }

    #[test]
    fn removal_wakes_waiters_and_frees_the_token() {
        let mut reg = Registry::default();
        let tok = reg.insert(no_handles());
        let (_, w) = waker();
        let mut wake = Vec::new();
        reg.poll_ready(tok, Direction::Write, &w, &mut wake);
        reg.remove(tok, &mut wake);
        assert_eq!(wake.len(), 1);
        assert_eq!(reg.len(), 0);
        assert_eq!(
            reg.poll_ready(tok, Direction::Write, &w, &mut wake),
            Readiness::Gone
        );
    }
}
