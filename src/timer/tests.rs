//! Unit tests of the timer queue: pure, with explicit `now` ticks (no sleeping).

use super::*;
use crate::handle::Call;
use std::cell::RefCell;

fn push(q: &mut TimerQueue, when: Tick, log: &Rc<RefCell<Vec<u32>>>, id: u32) -> EntryRef {
    let log = log.clone();
    q.insert(when, Call::new(move || log.borrow_mut().push(id)))
}

fn fire_due(q: &mut TimerQueue, end: Tick) {
    while let Some(due) = q.pop_due(end) {
        match due {
            Due::Call(e) => {
                e.run();
            }
            Due::Wake(i) => {
                if let Some(w) = q.fire_wake(i) {
                    w.wake();
                }
            }
        }
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
    let Some(Due::Call(fired)) = q.pop_due(2) else {
        panic!("a due callback")
    };
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

/// The queue against a sorted model: random deadlines (past ones included), cancellations,
/// purges and partial pops, in the order a binary heap of `(when, seq)` gives.
#[test]
fn matches_a_sorted_model() {
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut q = TimerQueue::new();
    // (when, id, entry) of every live timer in the model.
    let mut model: Vec<(Tick, u32, EntryRef)> = Vec::new();
    let mut now: Tick = 0;
    let mut id = 0u32;
    for round in 0..300 {
        for _ in 0..(next() % 40) {
            let when = match next() % 10 {
                0 => now - (next() % 1000) as Tick,
                1 => now,
                2 => Tick::MAX,
                _ => now + (next() % 5000) as Tick,
            };
            id += 1;
            let e = push(&mut q, when, &log, id);
            model.push((when, id, e));
        }
        for _ in 0..(next() % 10) {
            if model.is_empty() {
                break;
            }
            let i = (next() % model.len() as u64) as usize;
            let (_, _, e) = model.remove(i);
            e.cancel();
        }
        q.prepare();
        now += (next() % 800) as Tick;
        let end = now + 1;
        log.borrow_mut().clear();
        fire_due(&mut q, end);
        // The model: every live timer with when < end, by (when, insertion order).
        let mut due: Vec<(Tick, u32)> = model
            .iter()
            .filter(|(w, _, _)| *w < end)
            .map(|(w, i, _)| (*w, *i))
            .collect();
        due.sort();
        model.retain(|(w, _, _)| *w >= end);
        let expected: Vec<u32> = due.iter().map(|(_, i)| *i).collect();
        assert_eq!(*log.borrow(), expected, "round {round}");
        let next_live = model.iter().map(|(w, _, _)| *w).min();
        q.prepare();
        assert_eq!(q.next_deadline(), next_live, "round {round}");
        assert_eq!(q.len() - q.cancelled(), model.len(), "round {round}");
    }
}

/// A waker that counts its wakes.
fn counting_waker() -> (Waker, std::sync::Arc<Count>) {
    let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
    (Waker::from(count.clone()), count)
}

struct Count(std::sync::atomic::AtomicUsize);

impl Count {
    fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::task::Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn sleeps_fire_in_order_with_callbacks_and_free_their_slots() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut q = TimerQueue::new();
    let (w, woken) = counting_waker();
    push(&mut q, 5, &log, 1);
    let a = q.insert_wake(5, &w);
    push(&mut q, 5, &log, 2);
    // FIFO between callbacks and sleeps with equal deadlines.
    let mut order = Vec::new();
    while let Some(due) = q.pop_due(6) {
        order.push(match due {
            Due::Call(e) => {
                e.run();
                "call"
            }
            Due::Wake(i) => {
                assert!(
                    !q.wake_done(a),
                    "not done before its turn in the ready FIFO"
                );
                if let Some(w) = q.fire_wake(i) {
                    w.wake();
                }
                "wake"
            }
        });
    }
    assert_eq!(order, ["call", "wake", "call"]);
    assert_eq!(woken.get(), 1);
    assert!(q.wake_done(a));
    assert!(q.poll_wake(a, &w).0);
    assert!(q.release_wake(a).is_none(), "the waker was used");
    assert_eq!(q.wakes.len(), 0, "slot freed once both sides let go");
    assert_eq!(q.cancelled(), 0, "a fired sleep is not a cancelled timer");
}

#[test]
fn released_sleeps_count_while_queued_and_never_wake() {
    let mut q = TimerQueue::new();
    let (w, woken) = counting_waker();
    // Released while in the heap: counted, its waker handed back, slot freed when popped.
    let a = q.insert_wake(10, &w);
    assert!(q.release_wake(a).is_some());
    assert_eq!((q.len(), q.cancelled()), (1, 1));
    assert!(q.pop_due(11).is_none());
    assert_eq!((q.len(), q.cancelled(), q.wakes.len()), (0, 0, 0));
    // Released while in the ready FIFO: not counted, its turn wakes nothing.
    let b = q.insert_wake(20, &w);
    let Some(Due::Wake(i)) = q.pop_due(21) else {
        panic!("a due sleep")
    };
    assert!(q.release_wake(b).is_some());
    assert_eq!(q.cancelled(), 0);
    assert!(q.fire_wake(i).is_none());
    assert_eq!(q.wakes.len(), 0);
    assert_eq!(woken.get(), 0);
    // A stale key (its slot reused by a newer sleep) touches nothing.
    let c = q.insert_wake(30, &w);
    assert_eq!(c.index, b.index, "the slab reuses the slot");
    assert!(q.release_wake(b).is_none());
    assert!(!q.wake_done(b));
    assert_eq!(
        (q.len(), q.cancelled()),
        (1, 0),
        "the newer sleep is untouched"
    );
    // Close: every waker handed back, the slot stays until its sleep lets go.
    let (entries, wakers) = q.take_all();
    assert_eq!((entries.len(), wakers.len(), q.len()), (0, 1, 0));
    assert!(!q.poll_wake(c, &w).0, "a closed loop's sleep never ends");
    assert!(q.release_wake(c).is_none());
    assert_eq!(q.wakes.len(), 0);
}

#[test]
fn purge_counts_and_frees_sleeps_too() {
    let mut q = TimerQueue::new();
    let (w, _) = counting_waker();
    let keys: Vec<WakeKey> = (0..150).map(|i| q.insert_wake(100 + i, &w)).collect();
    for k in &keys[..80] {
        drop(q.release_wake(*k));
    }
    assert_eq!((q.len(), q.cancelled()), (150, 80));
    q.prepare();
    assert_eq!((q.len(), q.cancelled(), q.wakes.len()), (70, 0, 70));
}
