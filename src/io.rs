//! I/O readiness: the registry of sources and their waiting tasks.
//!
//! # Ground rules
//!
//! * A source (socket, stream, WASI pollable) has one slot: readiness bits, at most one waiting
//!   waker per direction, and the backend's own per-source data (`sys::SourceData`: nothing
//!   natively, the pollables on WASI, which the driver polls only while a task waits).
//! * Readiness is a hint. An operation that finds nothing to do (`WouldBlock`, an empty WASI
//!   read) clears the bit and waits again; natively mio is edge-triggered, so a source must
//!   perform until `WouldBlock` before it waits.
//! * Tokens carry a generation, so an event for a slot freed and reused in the same iteration is
//!   dropped instead of waking the new owner.
//! * Wakers are collected during dispatch and woken after the registry borrow is released.
//! * One waiting task per direction: if two tasks wait to read the same source, the last one
//!   to wait is the one woken (tokio's rule for `poll_read_ready`). Share a source between
//!   tasks through its owned halves, one reader and one writer.

use std::cell::RefCell;
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::event_loop::Core;
use crate::sys;

/// Readiness bits.
pub(crate) mod ready {
    /// Data (or a connection, or EOF) can be read.
    pub(crate) const READABLE: u8 = 1;
    /// Data can be written (or a connect finished).
    pub(crate) const WRITABLE: u8 = 2;
    /// The read side is closed.
    pub(crate) const READ_CLOSED: u8 = 4;
    /// The write side is closed.
    pub(crate) const WRITE_CLOSED: u8 = 8;
    /// An error is pending on the source.
    pub(crate) const ERROR: u8 = 16;
}

/// A direction a task can wait in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

impl Direction {
    /// The bits that end a wait in this direction.
    pub(crate) fn mask(self) -> u8 {
        match self {
            Direction::Read => ready::READABLE | ready::READ_CLOSED | ready::ERROR,
            Direction::Write => ready::WRITABLE | ready::WRITE_CLOSED | ready::ERROR,
        }
    }
}

/// Identifies a slot: index in the low 32 bits, generation in the high 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token(pub(crate) u64);

impl Token {
    fn new(index: usize, generation: u32) -> Token {
        Token(u64::from(generation) << 32 | index as u64)
    }
    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// One registered source.
pub(crate) struct Slot {
    generation: u32,
    live: bool,
    ready: u8,
    wakers: [Option<Waker>; 2],
    /// Backend data (WASI: the pollables). Dropped when the slot is removed.
    pub(crate) sys: sys::SourceData,
}

impl Slot {
    /// Whether a task waits in `dir`.
    #[allow(
        dead_code,
        reason = "used by the WASI driver; natively readiness arrives as mio events"
    )]
    pub(crate) fn is_waiting(&self, dir: Direction) -> bool {
        self.live && self.wakers[dir as usize].is_some()
    }
}

/// The loop's sources.
#[derive(Default)]
pub(crate) struct Registry {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Live slots.
    len: usize,
    /// Slots with at least one waiting waker (lets the WASI driver skip the scan).
    waiting: usize,
}

impl Registry {
    pub(crate) fn insert(&mut self, sys: sys::SourceData) -> Token {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            let slot = &mut self.slots[i];
            slot.generation = slot.generation.wrapping_add(1);
            slot.live = true;
            slot.ready = 0;
            slot.sys = sys;
            return Token::new(i, slot.generation);
        }
        self.slots.push(Slot {
            generation: 0,
            live: true,
            ready: 0,
            wakers: [None, None],
            sys,
        });
        Token::new(self.slots.len() - 1, 0)
    }

    fn slot_mut(&mut self, token: Token) -> Option<&mut Slot> {
        self.slots
            .get_mut(token.index())
            .filter(|s| s.live && s.generation == token.generation())
    }

    #[cfg(test)]
    fn slot(&self, token: Token) -> Option<&Slot> {
        self.slots
            .get(token.index())
            .filter(|s| s.live && s.generation == token.generation())
    }

    /// Removes a slot; returns its backend data and wakers for the caller to drop outside the
    /// borrow.
    pub(crate) fn remove(&mut self, token: Token) -> Option<(sys::SourceData, [Option<Waker>; 2])> {
        let slot = self.slot_mut(token)?;
        slot.live = false;
        let had_waiter = slot.wakers.iter().any(Option::is_some);
        let wakers = std::mem::take(&mut slot.wakers);
        let data = std::mem::take(&mut slot.sys);
        if had_waiter {
            self.waiting -= 1;
        }
        self.free.push(token.index());
        self.len -= 1;
        Some((data, wakers))
    }

    /// Marks readiness from the driver and collects the wakers to wake.
    pub(crate) fn set_ready(&mut self, token: Token, bits: u8, wake: &mut Vec<Waker>) {
        let Some(slot) = self.slot_mut(token) else {
            return;
        };
        slot.ready |= bits;
        let had_waiter = slot.wakers.iter().any(Option::is_some);
        for dir in [Direction::Read, Direction::Write] {
            if bits & dir.mask() != 0
                && let Some(w) = slot.wakers[dir as usize].take()
            {
                wake.push(w);
            }
        }
        let has_waiter = slot.wakers.iter().any(Option::is_some);
        if had_waiter && !has_waiter {
            self.waiting -= 1;
        }
    }

    /// Returns the readiness, or parks the waker. A displaced waker (another task waited in
    /// the same direction: the last one to wait is the one woken) is handed back so the caller
    /// drops it after the registry borrow ends.
    fn poll_ready(
        &mut self,
        token: Token,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> (Poll<u8>, Option<Waker>) {
        let Some(slot) = self.slot_mut(token) else {
            // Deregistered (the loop closed): report everything so the caller retries the
            // operation and sees the real error.
            return (Poll::Ready(dir.mask()), None);
        };
        let bits = slot.ready & dir.mask();
        if bits != 0 {
            return (Poll::Ready(bits), None);
        }
        let had_waiter = slot.wakers.iter().any(Option::is_some);
        let displaced = match &mut slot.wakers[dir as usize] {
            Some(w) if w.will_wake(cx.waker()) => None,
            w => w.replace(cx.waker().clone()),
        };
        if !had_waiter {
            self.waiting += 1;
        }
        (Poll::Pending, displaced)
    }

    fn clear(&mut self, token: Token, bits: u8) {
        if let Some(slot) = self.slot_mut(token) {
            slot.ready &= !bits;
        }
    }

    /// Number of slots with a waiting task.
    #[allow(
        dead_code,
        reason = "used by the WASI driver; natively readiness arrives as mio events"
    )]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Live slots, with their tokens (for the WASI driver's scan).
    #[allow(
        dead_code,
        reason = "used by the WASI driver; natively readiness arrives as mio events"
    )]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Token, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| (Token::new(i, s.generation), s))
    }

    /// Number of registered sources.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Takes every waker (loop close): their tasks are woken or destroyed outside the borrow.
    pub(crate) fn take_wakers(&mut self) -> Vec<Waker> {
        self.waiting = 0;
        self.slots
            .iter_mut()
            .flat_map(|s| s.wakers.iter_mut().filter_map(Option::take))
            .collect()
    }
}

/// A source's membership in the loop's registry; deregisters on drop.
///
/// Holds the loop weakly: sources do not keep a loop alive (no cycle through its tasks), and
/// once the loop is gone every wait reports readiness so the operation runs and fails.
pub(crate) struct Registration {
    core: Weak<Core>,
    token: Token,
}

impl Registration {
    /// Registers a source on the loop running on this thread (or `core`).
    pub(crate) fn new(core: &Rc<Core>, data: sys::SourceData) -> io::Result<Registration> {
        if core.is_closed() {
            return Err(io::Error::other(crate::Error::closed()));
        }
        let token = core.io.borrow_mut().insert(data);
        Ok(Registration {
            core: Rc::downgrade(core),
            token,
        })
    }

    #[allow(dead_code, reason = "native sources register their token with mio")]
    pub(crate) fn token(&self) -> Token {
        self.token
    }

    /// The loop this source belongs to, while it exists.
    pub(crate) fn core(&self) -> io::Result<Rc<Core>> {
        self.core
            .upgrade()
            .ok_or_else(|| io::Error::other(crate::Error::closed()))
    }

    /// Waits until the source is ready in `dir`; returns the ready bits.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<u8> {
        let Some(core) = self.core.upgrade() else {
            return Poll::Ready(dir.mask());
        };
        let (poll, displaced) = core.io.borrow_mut().poll_ready(self.token, dir, cx);
        drop(displaced);
        poll
    }

    /// Runs a non-blocking operation until it stops saying `WouldBlock`, waiting for
    /// readiness in `dir` in between (readiness is a hint: after a `WouldBlock` the bits are
    /// cleared and the task waits for the next event). `Interrupted` is retried.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.clear(dir.mask());
                    if self.poll_ready(cx, dir).is_pending() {
                        return Poll::Pending;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return Poll::Ready(other),
            }
        }
    }

    /// Waits once for readiness in `dir`, then clears it.
    #[allow(dead_code, reason = "used by WASI sources; native sources use poll_io")]
    pub(crate) async fn ready(&self, dir: Direction) {
        std::future::poll_fn(|cx| self.poll_ready(cx, dir)).await;
        self.clear(dir.mask());
    }

    /// Clears readiness bits after an operation found nothing to do.
    pub(crate) fn clear(&self, bits: u8) {
        if let Some(core) = self.core.upgrade() {
            core.io.borrow_mut().clear(self.token, bits);
        }
    }

    /// Runs `f` on the backend data of this source.
    #[allow(
        dead_code,
        reason = "used by WASI sources to swap pollables; native data is empty"
    )]
    pub(crate) fn with_data<R>(&self, f: impl FnOnce(&mut sys::SourceData) -> R) -> Option<R> {
        let core = self.core.upgrade()?;
        let mut io = core.io.borrow_mut();
        io.slot_mut(self.token).map(|s| f(&mut s.sys))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        // No registry borrow is held while user code (a destructor) runs, so this borrow
        // succeeds; if it ever did not, the slot would only be reclaimed at close.
        let removed = core
            .io
            .try_borrow_mut()
            .ok()
            .and_then(|mut io| io.remove(self.token));
        // Outside the borrow: drop the backend data (pollables) first, then wake whoever waited
        // on the source so they see it gone instead of waiting forever.
        if let Some((data, wakers)) = removed {
            {
                let _pollables = data;
            }
            for w in wakers.into_iter().flatten() {
                w.wake();
            }
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("token", &self.token)
            .finish()
    }
}

/// A reusable list of wakers to wake after a borrow is released (no allocation once warm).
pub(crate) type WakeList = RefCell<Vec<Waker>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn readiness_wakes_only_the_matching_direction() {
        let mut reg = Registry::default();
        let tok = reg.insert(Default::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(reg.poll_ready(tok, Direction::Read, &mut cx).0.is_pending());
        assert_eq!(reg.waiting(), 1);
        let mut wake = Vec::new();
        reg.set_ready(tok, ready::WRITABLE, &mut wake);
        assert!(wake.is_empty(), "a write event must not wake a reader");
        reg.set_ready(tok, ready::READABLE, &mut wake);
        assert_eq!(wake.len(), 1);
        assert_eq!(reg.waiting(), 0);
        assert_eq!(
            reg.poll_ready(tok, Direction::Read, &mut cx).0,
            Poll::Ready(ready::READABLE)
        );
        reg.clear(tok, ready::READABLE);
        assert!(reg.poll_ready(tok, Direction::Read, &mut cx).0.is_pending());
    }

    #[test]
    fn stale_tokens_are_ignored() {
        let mut reg = Registry::default();
        let old = reg.insert(Default::default());
        assert!(reg.remove(old).is_some());
        let new = reg.insert(Default::default());
        assert_eq!(old.index(), new.index());
        assert_ne!(old, new);
        let mut wake = Vec::new();
        reg.set_ready(old, ready::READABLE, &mut wake);
        assert_eq!(
            reg.slot(new).map(|s| s.ready),
            Some(0),
            "stale event leaked"
        );
        assert!(reg.remove(old).is_none());
        assert_eq!(reg.len(), 1);
    }
}
