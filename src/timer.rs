//! The timer heap: `call_later` / `call_at` / `sleep` deadlines.
//!
//! # Ground rules
//!
//! * Order is `(deadline tick, insertion sequence)`: equal deadlines fire FIFO, which is stronger
//!   than CPython (whose `heapq` is not stable) and what libuv does (TMR-02).
//! * A timer is due when `when < now + clock resolution` (TMR-03).
//! * Cancellation is lazy: a cancelled entry stays in the heap until it reaches the head or a
//!   bulk purge removes it. The purge runs when strictly more than 100 timers are scheduled and
//!   strictly more than half of them are cancelled (asyncio `_MIN_SCHEDULED_TIMER_HANDLES`,
//!   `_MIN_CANCELLED_TIMER_HANDLES_FRACTION`; TMR-05, TMR-06).
//! * Everything here is pure: callers pass `now`, so the logic is tested without sleeping.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::clock::Tick;
use crate::handle::{Action, Entry, EntryRef};

/// asyncio `_MIN_SCHEDULED_TIMER_HANDLES`.
pub(crate) const MIN_SCHEDULED_FOR_PURGE: usize = 100;

/// A heap slot ordered so that `BinaryHeap` (a max-heap) pops the earliest `(when, seq)`.
///
/// The key is stored inline, so comparisons during sift never dereference the entry.
struct Slot {
    when: Tick,
    seq: u64,
    entry: EntryRef,
}

impl PartialEq for Slot {
    fn eq(&self, other: &Slot) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Slot {}
impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Slot) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Slot {
    fn cmp(&self, other: &Slot) -> Ordering {
        (other.when, other.seq).cmp(&(self.when, self.seq))
    }
}

/// The loop's timers.
pub(crate) struct TimerQueue {
    /// Scheduled entries, cancelled ones included until removed.
    heap: BinaryHeap<Slot>,
    /// How many entries in `heap` are cancelled; shared with every entry so `cancel()` can count
    /// itself while it is still scheduled.
    cancelled: Rc<Cell<usize>>,
    /// Next insertion sequence number.
    seq: u64,
}

impl TimerQueue {
    pub(crate) fn new() -> TimerQueue {
        TimerQueue {
            heap: BinaryHeap::new(),
            cancelled: Rc::new(Cell::new(0)),
            seq: 0,
        }
    }

    /// Schedules `action` at `when`; the entry is shared with the returned handle.
    pub(crate) fn insert<A: Action + 'static>(&mut self, when: Tick, action: A) -> Rc<Entry<A>> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let entry = Rc::new(Entry::timer(action, when, self.cancelled.clone()));
        self.heap.push(Slot {
            when,
            seq,
            entry: entry.clone(),
        });
        entry
    }

    /// Number of scheduled entries, cancelled ones included (asyncio `len(_scheduled)`).
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Number of cancelled entries still in the heap (asyncio `_timer_cancelled_count`).
    pub(crate) fn cancelled(&self) -> usize {
        self.cancelled.get()
    }

    /// Step 1 of an iteration: bulk purge when the asyncio rule says so, else pop the cancelled
    /// entries at the head.
    pub(crate) fn prepare(&mut self) {
        let len = self.heap.len();
        let cancelled = self.cancelled.get();
        // Both comparisons strict: len > 100 and cancelled / len > 0.5.
        if len > MIN_SCHEDULED_FOR_PURGE && cancelled * 2 > len {
            self.heap.retain(|slot| {
                let keep = !slot.entry.is_cancelled();
                if !keep {
                    slot.entry.unschedule();
                }
                keep
            });
            self.cancelled.set(0);
            return;
        }
        while let Some(head) = self.heap.peek() {
            if !head.entry.is_cancelled() {
                break;
            }
            if let Some(slot) = self.heap.pop() {
                slot.entry.unschedule();
                self.decrement();
            }
        }
    }

    /// Deadline of the head entry (after [`prepare`](Self::prepare), a live one).
    pub(crate) fn next_deadline(&self) -> Option<Tick> {
        self.heap.peek().map(|slot| slot.when)
    }

    /// Pops the next entry with `when < end` (end = now + resolution), in `(when, seq)` order.
    /// Cancelled entries met on the way are dropped and uncounted.
    pub(crate) fn pop_due(&mut self, end: Tick) -> Option<EntryRef> {
        loop {
            let head = self.heap.peek()?;
            if head.when >= end {
                return None;
            }
            let slot = self.heap.pop()?;
            slot.entry.unschedule();
            if slot.entry.is_cancelled() {
                self.decrement();
                continue;
            }
            return Some(slot.entry);
        }
    }

    fn decrement(&self) {
        self.cancelled.set(self.cancelled.get().saturating_sub(1));
    }

    /// Drops every entry (loop close). Closures are dropped after the heap is emptied, so a
    /// destructor that touches the loop never sees a half-cleared queue.
    pub(crate) fn take_all(&mut self) -> Vec<EntryRef> {
        self.cancelled.set(0);
        let taken: Vec<EntryRef> = std::mem::take(&mut self.heap)
            .into_vec()
            .into_iter()
            .map(|s| {
                s.entry.unschedule();
                s.entry
            })
            .collect();
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Call;
    use std::cell::RefCell;

    fn push(q: &mut TimerQueue, when: Tick, log: &Rc<RefCell<Vec<u32>>>, id: u32) -> EntryRef {
        let log = log.clone();
        q.insert(when, Call::new(move || log.borrow_mut().push(id)))
    }

    fn fire_due(q: &mut TimerQueue, end: Tick) {
        while let Some(e) = q.pop_due(end) {
            e.run();
        }
    }

    #[test]
    fn fires_in_deadline_order_then_fifo() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut q = TimerQueue::new();
        push(&mut q, 30, &log, 3);
        push(&mut q, 10, &log, 1);
        for id in 10..20 {
            push(&mut q, 20, &log, id);
        }
        push(&mut q, 10, &log, 2);
        fire_due(&mut q, 31);
        let mut expected = vec![1, 2];
        expected.extend(10..20);
        expected.push(3);
        assert_eq!(*log.borrow(), expected);
    }

    #[test]
    fn due_uses_strict_end_bound() {
        // TMR-03: ready iff when < now + resolution.
        for (when, end, due) in [(10, 10, false), (10, 11, true), (0, 0, false), (0, 1, true)] {
            let log = Rc::new(RefCell::new(Vec::new()));
            let mut q = TimerQueue::new();
            push(&mut q, when, &log, 1);
            assert_eq!(q.pop_due(end).is_some(), due, "when={when} end={end}");
        }
    }

    #[test]
    fn cancelled_head_popped_and_counted() {
        // TMR-06 reference scenario, first half (asyncio test__run_once_cancelled_event_cleanup).
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut q = TimerQueue::new();
        push(&mut q, 3000, &log, 0);
        push(&mut q, 3600, &log, 1).cancel();
        push(&mut q, 3600, &log, 2).cancel();
        push(&mut q, 100, &log, 3).cancel();
        push(&mut q, 100, &log, 4).cancel();
        assert_eq!((q.len(), q.cancelled()), (5, 4));
        q.prepare();
        assert_eq!((q.len(), q.cancelled()), (3, 2));
        // Second half: 51 more cancelled and 49 live: 103 scheduled, 53 cancelled > 51.5.
        for i in 0..51 {
            push(&mut q, 5000 + i, &log, 9).cancel();
        }
        for i in 0..49 {
            push(&mut q, 6000 + i, &log, 9);
        }
        assert_eq!((q.len(), q.cancelled()), (103, 53));
        q.prepare();
        assert_eq!(
            (q.len(), q.cancelled()),
            (50, 0),
            "purge must leave only live timers"
        );
    }

    #[test]
    fn purge_thresholds_are_strict() {
        let log = Rc::new(RefCell::new(Vec::new()));
        // Exactly 100 scheduled, all but the head cancelled: no purge, only head pops.
        let mut q = TimerQueue::new();
        push(&mut q, 0, &log, 0);
        for i in 0..99 {
            push(&mut q, 1 + i, &log, 1).cancel();
        }
        q.prepare();
        assert_eq!(q.len(), 100, "100 scheduled is not more than 100");
        // 102 scheduled, exactly half (51) cancelled, live head: no purge.
        let mut q = TimerQueue::new();
        push(&mut q, 0, &log, 0);
        for i in 0..51 {
            push(&mut q, 1000 + i, &log, 1).cancel();
        }
        for i in 0..50 {
            push(&mut q, 2000 + i, &log, 1);
        }
        q.prepare();
        assert_eq!(
            (q.len(), q.cancelled()),
            (102, 51),
            "half is not more than half"
        );
        // One more cancelled: 103 scheduled, 52 cancelled > 51.5: purge.
        push(&mut q, 3000, &log, 1).cancel();
        q.prepare();
        assert_eq!((q.len(), q.cancelled()), (51, 0));
    }

    #[test]
    fn fired_timer_cancel_is_not_counted() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut q = TimerQueue::new();
        let e = push(&mut q, 1, &log, 1);
        let fired = q.pop_due(2).expect("due");
        fired.run();
        e.cancel();
        assert_eq!(q.cancelled(), 0);
        assert_eq!(*log.borrow(), vec![1]);
    }

    #[test]
    fn cancelled_due_entries_are_skipped_and_uncounted() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut q = TimerQueue::new();
        push(&mut q, 1, &log, 1);
        push(&mut q, 2, &log, 2).cancel();
        push(&mut q, 3, &log, 3);
        fire_due(&mut q, 10);
        assert_eq!(*log.borrow(), vec![1, 3]);
        assert_eq!((q.len(), q.cancelled()), (0, 0));
    }

    #[test]
    fn extreme_deadlines_do_not_panic() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut q = TimerQueue::new();
        push(&mut q, Tick::MAX, &log, 1);
        push(&mut q, 0, &log, 0);
        push(&mut q, Tick::MIN, &log, 2);
        push(&mut q, -5, &log, 3);
        fire_due(&mut q, Tick::MAX);
        assert_eq!(
            *log.borrow(),
            vec![2, 3, 0],
            "negative deadlines keep their order; Tick::MAX is never < any end"
        );
        assert_eq!(q.next_deadline(), Some(Tick::MAX));
    }
}
