//! The timer queue: `call_later` / `call_at` / `sleep` deadlines.
//!
//! # Ground rules
//!
//! * Order is `(deadline tick, insertion sequence)`: equal deadlines fire FIFO, which is stronger
//!   than CPython (whose `heapq` is not stable) and what libuv does (TMR-02).
//! * A timer is due when `when < now + clock resolution` (TMR-03).
//! * Cancellation is lazy: a cancelled entry stays queued until it reaches the head or a bulk
//!   purge removes it. The purge runs when strictly more than 100 timers are scheduled and
//!   strictly more than half of them are cancelled (asyncio `_MIN_SCHEDULED_TIMER_HANDLES`,
//!   `_MIN_CANCELLED_TIMER_HANDLES_FRACTION`; TMR-05, TMR-06).
//! * Everything here is pure: callers pass `now`, so the logic is tested without sleeping.
//!
//! # Structure: a radix heap
//!
//! asyncio keeps a binary heap. With a million timers a binary heap pops through twenty levels
//! of a 30 MB array, one cache miss per level, and firing falls behind the clock. Timers are
//! mostly a *monotone* priority queue (a new key is usually above the current minimum), so a
//! radix heap fits: keys are `(when, seq)` packed in a `u128`, and bucket `b` holds the keys
//! whose highest bit differing from the last minimum found is bit `b - 1` (bucket 0: the minimum
//! itself). An insert appends to one bucket; finding the next minimum scans the lowest non-empty
//! bucket once and spreads it over lower buckets. Every key moves only downwards, so each one is
//! touched O(log range) times, by sequential scans, and the order is exactly the binary heap's.
//!
//! A key below the last minimum found (a deadline already past, or a timer shorter than the one
//! at the head: a 10 ms sleep while a 30 s timeout is the minimum) goes to a binary heap beside
//! the buckets, which is looked at first. While a long timer stays at the head, every shorter
//! one takes that path, so such a loop pays binary-heap costs (with inline keys) until the long
//! timer is popped.
//!
//! # Sleeps live in a slab
//!
//! A `call_later` timer is an `Rc` entry shared with its `TimerHandle`. A `sleep` needs no
//! handle: its state (waker, flags) is a slot of [`TimerQueue`]'s slab, named by a [`WakeKey`]
//! (index and generation) that the `Sleep` future holds. A million sleeping tasks thus cost no
//! allocation each beyond their task, and firing one touches one dense array. The slot is
//! freed once neither the queue (heap or ready FIFO) nor the `Sleep` refers to it. Wakers are
//! never dropped or woken inside the queue's borrow: they are handed back to the caller,
//! because dropping a waker may drop a task, whose `Sleep` then comes back to this queue.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::task::Waker;

use slab::Slab;

use crate::clock::Tick;
use crate::handle::{Action, Entry, EntryRef};

/// asyncio `_MIN_SCHEDULED_TIMER_HANDLES`.
pub(crate) const MIN_SCHEDULED_FOR_PURGE: usize = 100;

/// Buckets: one per bit of a key, plus bucket 0 for the minimum.
const BUCKETS: usize = 129;

/// `(when, seq)` as one ordered integer: the tick with its sign bit flipped (so negative ticks
/// sort first) in the high half, the insertion sequence in the low half.
fn key(when: Tick, seq: u64) -> u128 {
    let biased = (when as u64) ^ (1 << 63);
    (u128::from(biased) << 64) | u128::from(seq)
}

/// The tick a key was made from.
fn when_of(key: u128) -> Tick {
    ((key >> 64) as u64 ^ (1 << 63)) as Tick
}

/// What a queued slot fires.
enum Target {
    /// A `call_later` / `call_at` callback, shared with its `TimerHandle`.
    Call(EntryRef),
    /// A `sleep`'s wake-up: an index into the slab.
    Wake(u32),
}

/// A queued timer: its key inline (comparisons never dereference the entry) and its target.
struct Slot {
    key: u128,
    target: Target,
}

/// A due timer, for the ready FIFO.
pub(crate) enum Due {
    /// Run this callback.
    Call(EntryRef),
    /// Wake this sleep ([`TimerQueue::fire_wake`]).
    Wake(u32),
}

/// A `Sleep`'s claim on its slab slot; the generation tells a reused slot apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakeKey {
    index: u32,
    generation: u32,
}

/// One `sleep` timer.
struct WakeSlot {
    generation: u32,
    /// The task to wake; taken when it fires or is cancelled.
    waker: Option<Waker>,
    /// In the heap (counts towards the purge rule when cancelled).
    in_heap: bool,
    /// Popped, waiting in the ready FIFO for its turn.
    in_ready: bool,
    /// The `Sleep` still refers to the slot.
    sleep_alive: bool,
    cancelled: bool,
    /// The waker was woken: the sleep is over.
    done: bool,
}

impl PartialEq for Slot {
    fn eq(&self, other: &Slot) -> bool {
        self.key == other.key
    }
}
impl Eq for Slot {}
impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Slot) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Slot {
    fn cmp(&self, other: &Slot) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The loop's timers.
pub(crate) struct TimerQueue {
    /// The state of the sleeps (see the module docs).
    wakes: Slab<WakeSlot>,
    /// Generation of the next sleep slot.
    generation: u32,
    /// The radix buckets (see the module docs); bucket 0 holds at most the minimum.
    buckets: Vec<Vec<Slot>>,
    /// The last minimum found: every key in `buckets` is at least this.
    last: u128,
    /// Keys below `last` (a deadline before the minimum found last: a past `call_at`, or a
    /// timer shorter than the one at the head): they precede every bucketed key.
    overdue: BinaryHeap<Reverse<Slot>>,
    /// Entries queued, cancelled ones included (asyncio `len(_scheduled)`).
    len: usize,
    /// How many queued entries are cancelled; shared with every entry so `cancel()` can count
    /// itself while it is still scheduled.
    cancelled: Rc<Cell<usize>>,
    /// Next insertion sequence number.
    seq: u64,
}

impl TimerQueue {
    pub(crate) fn new() -> TimerQueue {
        TimerQueue {
            wakes: Slab::new(),
            generation: 0,
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            last: 0,
            overdue: BinaryHeap::new(),
            len: 0,
            cancelled: Rc::new(Cell::new(0)),
            seq: 0,
        }
    }

    /// The bucket of `key` relative to the last minimum (`key >= last`).
    fn bucket(&self, key: u128) -> usize {
        (u128::BITS - (key ^ self.last).leading_zeros()) as usize
    }

    fn push(&mut self, slot: Slot) {
        if slot.key < self.last {
            self.overdue.push(Reverse(slot));
        } else {
            let b = self.bucket(slot.key);
            self.buckets[b].push(slot);
        }
        self.len += 1;
    }

    /// Schedules `action` at `when`; the entry is shared with the returned handle.
    pub(crate) fn insert<A: Action + 'static>(&mut self, when: Tick, action: A) -> Rc<Entry<A>> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let entry = Rc::new(Entry::timer(action, when, self.cancelled.clone()));
        self.push(Slot {
            key: key(when, seq),
            target: Target::Call(entry.clone()),
        });
        entry
    }

    /// Schedules a sleep's wake-up at `when`.
    pub(crate) fn insert_wake(&mut self, when: Tick, waker: &Waker) -> WakeKey {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let generation = self.generation;
        self.generation = self.generation.wrapping_add(1);
        let index = self.wakes.insert(WakeSlot {
            generation,
            waker: Some(waker.clone()),
            in_heap: true,
            in_ready: false,
            sleep_alive: true,
            cancelled: false,
            done: false,
        });
        // A slab index beyond u32 would need four billion live sleeps.
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        self.push(Slot {
            key: key(when, seq),
            target: Target::Wake(index),
        });
        WakeKey { index, generation }
    }

    fn wake_slot(&mut self, key: WakeKey) -> Option<&mut WakeSlot> {
        self.wakes
            .get_mut(key.index as usize)
            .filter(|w| w.generation == key.generation)
    }

    /// Whether the sleep is over; otherwise `waker` replaces the stored one, and the old one
    /// (another task's) is handed back for the caller to drop.
    pub(crate) fn poll_wake(&mut self, key: WakeKey, waker: &Waker) -> (bool, Option<Waker>) {
        let Some(slot) = self.wake_slot(key) else {
            return (false, None);
        };
        if slot.done {
            return (true, None);
        }
        if slot.cancelled {
            return (false, None);
        }
        match &slot.waker {
            Some(w) if w.will_wake(waker) => (false, None),
            _ => (false, slot.waker.replace(waker.clone())),
        }
    }

    /// Whether the sleep is over.
    pub(crate) fn wake_done(&self, key: WakeKey) -> bool {
        self.wakes
            .get(key.index as usize)
            .is_some_and(|w| w.generation == key.generation && w.done)
    }

    /// The `Sleep` lets go of its slot (dropped or reset): a pending wake-up is cancelled (and
    /// counted while in the heap). Returns the waker for the caller to drop.
    pub(crate) fn release_wake(&mut self, key: WakeKey) -> Option<Waker> {
        let counter = self.cancelled.clone();
        let slot = self.wake_slot(key)?;
        slot.sleep_alive = false;
        let waker = slot.waker.take();
        if !slot.done && !slot.cancelled {
            slot.cancelled = true;
            if slot.in_heap {
                counter.set(counter.get() + 1);
            }
        }
        if !slot.in_heap && !slot.in_ready {
            self.wakes.remove(key.index as usize);
        }
        waker
    }

    /// A sleep's turn in the ready FIFO: returns its waker to wake unless it was cancelled.
    pub(crate) fn fire_wake(&mut self, index: u32) -> Option<Waker> {
        let slot = self.wakes.get_mut(index as usize)?;
        slot.in_ready = false;
        let waker = if slot.cancelled {
            None
        } else {
            slot.done = true;
            slot.waker.take()
        };
        if !slot.sleep_alive {
            self.wakes.remove(index as usize);
        }
        waker
    }

    fn is_cancelled(&self, target: &Target) -> bool {
        match target {
            Target::Call(e) => e.is_cancelled(),
            Target::Wake(i) => self.wake_cancelled(*i),
        }
    }

    fn wake_cancelled(&self, index: u32) -> bool {
        self.wakes.get(index as usize).is_none_or(|w| w.cancelled)
    }

    /// The slot left the heap; `to_ready`: it goes to the ready FIFO.
    fn unschedule(&mut self, target: &Target, to_ready: bool) {
        match target {
            Target::Call(e) => e.unschedule(),
            Target::Wake(i) => {
                let i = *i as usize;
                if let Some(w) = self.wakes.get_mut(i) {
                    w.in_heap = false;
                    w.in_ready = to_ready;
                    if !w.sleep_alive && !to_ready {
                        self.wakes.remove(i);
                    }
                }
            }
        }
    }

    /// Number of scheduled entries, cancelled ones included (asyncio `len(_scheduled)`).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of cancelled entries still queued (asyncio `_timer_cancelled_count`).
    pub(crate) fn cancelled(&self) -> usize {
        self.cancelled.get()
    }

    /// The minimum entry, after moving it into bucket 0 if it is not already there.
    fn peek(&mut self) -> Option<&Slot> {
        if !self.overdue.is_empty() {
            return self.overdue.peek().map(|r| &r.0);
        }
        if self.buckets[0].is_empty() {
            let i = self.buckets.iter().position(|b| !b.is_empty())?;
            let mut spread = std::mem::take(&mut self.buckets[i]);
            self.last = spread.iter().map(|s| s.key).min()?;
            for slot in spread.drain(..) {
                let b = self.bucket(slot.key);
                self.buckets[b].push(slot);
            }
            // Keep the allocation for the next keys that land in bucket `i`.
            self.buckets[i] = spread;
        }
        self.buckets[0].first()
    }

    /// Removes and returns the minimum entry (still marked as in the heap).
    fn pop(&mut self) -> Option<Slot> {
        self.peek()?;
        let slot = match self.overdue.pop() {
            Some(Reverse(slot)) => slot,
            None => self.buckets[0].pop()?,
        };
        self.len -= 1;
        Some(slot)
    }

    /// Step 1 of an iteration: bulk purge when the asyncio rule says so, else pop the cancelled
    /// entries at the head.
    pub(crate) fn prepare(&mut self) {
        let len = self.len;
        let cancelled = self.cancelled.get();
        // Both comparisons strict: len > 100 and cancelled / len > 0.5.
        if len > MIN_SCHEDULED_FOR_PURGE && cancelled * 2 > len {
            let mut gone = Vec::new();
            let mut buckets = std::mem::take(&mut self.buckets);
            for bucket in &mut buckets {
                bucket.retain_mut(|slot| {
                    let keep = !self.is_cancelled(&slot.target);
                    if !keep {
                        gone.push(std::mem::replace(&mut slot.target, Target::Wake(u32::MAX)));
                    }
                    keep
                });
            }
            self.buckets = buckets;
            let mut overdue = std::mem::take(&mut self.overdue).into_vec();
            overdue.retain_mut(|r| {
                let keep = !self.is_cancelled(&r.0.target);
                if !keep {
                    gone.push(std::mem::replace(&mut r.0.target, Target::Wake(u32::MAX)));
                }
                keep
            });
            self.overdue = BinaryHeap::from(overdue);
            for target in &gone {
                self.unschedule(target, false);
            }
            self.len = self.overdue.len() + self.buckets.iter().map(Vec::len).sum::<usize>();
            self.cancelled.set(0);
            return;
        }
        while let Some(head) = self.peek() {
            let head = match &head.target {
                Target::Call(e) => Err(e.is_cancelled()),
                Target::Wake(i) => Ok(*i),
            };
            let head_cancelled = match head {
                Err(cancelled) => cancelled,
                Ok(index) => self.wake_cancelled(index),
            };
            if !head_cancelled {
                break;
            }
            if let Some(slot) = self.pop() {
                self.unschedule(&slot.target, false);
                self.decrement();
            }
        }
    }

    /// Deadline of the head entry (after [`prepare`](Self::prepare), a live one).
    pub(crate) fn next_deadline(&mut self) -> Option<Tick> {
        self.peek().map(|slot| when_of(slot.key))
    }

    /// Pops the next entry with `when < end` (end = now + resolution), in `(when, seq)` order.
    /// Cancelled entries met on the way are dropped and uncounted.
    pub(crate) fn pop_due(&mut self, end: Tick) -> Option<Due> {
        loop {
            if when_of(self.peek()?.key) >= end {
                return None;
            }
            let slot = self.pop()?;
            if self.is_cancelled(&slot.target) {
                self.unschedule(&slot.target, false);
                self.decrement();
                continue;
            }
            self.unschedule(&slot.target, true);
            return Some(match slot.target {
                Target::Call(e) => Due::Call(e),
                Target::Wake(i) => Due::Wake(i),
            });
        }
    }

    fn decrement(&self) {
        self.cancelled.set(self.cancelled.get().saturating_sub(1));
    }

    /// Empties the queue (loop close): returns the callback entries, and the wakers of every
    /// sleep, for the caller to cancel and drop outside the borrow (a destructor that touches
    /// the loop then never sees a half-cleared queue). The sleeps end cancelled; their slots go
    /// when their `Sleep`s let go.
    pub(crate) fn take_all(&mut self) -> (Vec<EntryRef>, Vec<Waker>) {
        self.cancelled.set(0);
        self.len = 0;
        let mut slots: Vec<Slot> = std::mem::take(&mut self.overdue)
            .into_vec()
            .into_iter()
            .map(|r| r.0)
            .collect();
        for bucket in &mut self.buckets {
            slots.append(bucket);
        }
        let mut entries = Vec::new();
        for slot in slots {
            if let Target::Call(e) = slot.target {
                e.unschedule();
                entries.push(e);
            }
        }
        let mut wakers = Vec::new();
        self.wakes.retain(|_, w| {
            wakers.extend(w.waker.take());
            w.in_heap = false;
            w.in_ready = false;
            w.cancelled |= !w.done;
            w.sleep_alive
        });
        (entries, wakers)
    }
}

#[cfg(test)]
mod tests;
