//! The thread's one waitable set, and the `wasip3_task` vtable that puts wit-bindgen's
//! operations in it.
//!
//! wit-bindgen's futures find "the current task" through the C symbol `wasip3_task_set` (a
//! cross-version ABI of wit-bindgen's runtime, `rt/async_support/cabi.rs`) and register each
//! waitable they start waiting on with a completion callback. The vtable here joins the
//! waitable to the set and remembers the callback; [`wait`] and [`drain`] call it when
//! `waitable-set.wait` / `waitable-set.poll` report the waitable, which stores the result and
//! wakes the operation's waker. Completions are one-shot: the waitable leaves the set when it
//! is reported, and joins again if it is waited on again.
//!
//! One set for the whole thread (created on first use, dropped when the last loop goes with
//! nothing registered, so a finished program leaves nothing behind in the host), so several
//! loops (one after another, or alive together) share it, and a completion always reaches the waker of
//! the loop that started the operation. The vtable is leaked once per thread. It is current
//! only inside [`install`]'s guard, which puts the previous task back: the loop holds one
//! while it runs, closes or drops (so every future a task polls or drops, wasio's or a user's
//! `wasip3` one, registers here), and every wait and every poll or drop of an operation holds
//! one too. Outside, wit-bindgen's own task (an export's) is current again.
//!
//! Each waitable is counted for the loop that was current when it registered (its *owner*,
//! set by [`install_for`]): a loop with nothing of its own in flight reports that it stalled
//! even while another live loop of the thread has operations in flight.
//!
//! A future registered here but dropped while another task is current (a user's `wasip3`
//! future dropped outside any loop) unregisters there, so its entry here goes stale. The
//! waitable itself is gone from the set (the host removes a dropped waitable), so it never
//! fires; when its handle number is reused, the new registration replaces the stale entry
//! (instead of handing wit-bindgen a pointer it would reject), and the stale entry's count
//! goes with it. Until then it counts for its owner, which then waits instead of reporting a
//! stall: drop such futures inside the loop (a task, or the loop's `close`).

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;

// Canonical built-ins of the component-model async ABI.
#[link(wasm_import_module = "$root")]
unsafe extern "C" {
    #[link_name = "[waitable-set-new]"]
    fn waitable_set_new() -> u32;
    #[link_name = "[waitable-set-drop]"]
    fn waitable_set_drop(set: u32);
    #[link_name = "[waitable-join]"]
    fn waitable_join(waitable: u32, set: u32);
    #[link_name = "[waitable-set-wait]"]
    fn waitable_set_wait(set: u32, payload: *mut [u32; 2]) -> u32;
    #[link_name = "[waitable-set-poll]"]
    fn waitable_set_poll(set: u32, payload: *mut [u32; 2]) -> u32;
}

/// wit-bindgen's `wasip3_task` structure, version 1.
#[repr(C)]
struct Wasip3Task {
    version: u32,
    ptr: *mut c_void,
    waitable_register: unsafe extern "C" fn(
        ptr: *mut c_void,
        waitable: u32,
        callback: Callback,
        callback_ptr: *mut c_void,
    ) -> *mut c_void,
    waitable_unregister: unsafe extern "C" fn(ptr: *mut c_void, waitable: u32) -> *mut c_void,
}

type Callback = unsafe extern "C" fn(*mut c_void, u32);

const WASIP3_TASK_V1: u32 = 1;

/// `event-code` `none`: `waitable-set.poll` found nothing.
const EVENT_NONE: u32 = 0;

unsafe extern "C" {
    /// Defined (weakly) by wit-bindgen's runtime: installs `task` as the current task and
    /// returns the previous one.
    fn wasip3_task_set(task: *mut Wasip3Task) -> *mut Wasip3Task;
}

/// A registered waitable: wit-bindgen's callback and the loop it counts for.
#[derive(Clone, Copy)]
struct Entry {
    callback: Callback,
    ptr: *mut c_void,
    owner: u32,
}

/// The set and the callbacks of the waitables in it.
struct Reactor {
    /// The waitable set; 0 while there is none (created on first use).
    set: Cell<u32>,
    /// By waitable handle (small table indices).
    callbacks: RefCell<Vec<Option<Entry>>>,
    /// Registered waitables per owner (absent: none).
    counts: RefCell<Vec<(u32, usize)>>,
}

impl Reactor {
    /// The set, created if there is none.
    fn set(&self) -> u32 {
        if self.set.get() == 0 {
            // SAFETY: a canonical built-in without preconditions.
            self.set.set(unsafe { waitable_set_new() });
        }
        self.set.get()
    }

    fn count(&self, owner: u32, up: bool) {
        let mut counts = self.counts.borrow_mut();
        match counts.iter().position(|(o, _)| *o == owner) {
            Some(i) if up => counts[i].1 += 1,
            Some(i) => {
                counts[i].1 -= 1;
                if counts[i].1 == 0 {
                    counts.swap_remove(i);
                }
            }
            None if up => counts.push((owner, 1)),
            None => {}
        }
    }
}

thread_local! {
    /// The loop whose reactor guard is innermost (0: none).
    static OWNER: Cell<u32> = const { Cell::new(0) };
    /// The last owner id handed out.
    static LAST_OWNER: Cell<u32> = const { Cell::new(0) };
}

/// A new owner id for a loop's driver (never 0).
pub(super) fn new_owner() -> u32 {
    LAST_OWNER.with(|l| {
        let id = l.get().wrapping_add(1).max(1);
        l.set(id);
        id
    })
}

/// The thread's reactor and its vtable, both leaked: they must outlive every operation.
struct Leaked {
    reactor: &'static Reactor,
    task: *mut Wasip3Task,
}

thread_local! {
    static INSTALLED: Leaked = {
        let reactor: &'static Reactor = Box::leak(Box::new(Reactor {
            set: Cell::new(0),
            callbacks: RefCell::new(Vec::new()),
            counts: RefCell::new(Vec::new()),
        }));
        let task = Box::leak(Box::new(Wasip3Task {
            version: WASIP3_TASK_V1,
            ptr: ptr::from_ref(reactor).cast_mut().cast(),
            waitable_register: register,
            waitable_unregister: unregister,
        }));
        Leaked { reactor, task }
    };
}

/// Makes the reactor wit-bindgen's current task until the returned guard is dropped, which
/// puts the previous one back (guards nest). Registrations count for the owner already
/// current.
pub(super) fn install() -> Installed {
    install_for(OWNER.with(Cell::get))
}

/// [`install`], with registrations counting for `owner` (a loop's driver).
pub(super) fn install_for(owner: u32) -> Installed {
    let prev_owner = OWNER.with(|o| o.replace(owner));
    INSTALLED.with(|i| {
        // SAFETY: `i.task` is leaked, so valid for the rest of the program.
        let prev = unsafe { wasip3_task_set(i.task) };
        Installed { prev, prev_owner }
    })
}

/// The task (and owner) current before [`install`]; restored on drop.
pub(crate) struct Installed {
    prev: *mut Wasip3Task,
    prev_owner: u32,
}

impl Drop for Installed {
    fn drop(&mut self) {
        // SAFETY: `prev` was current when the guard was made (null, wit-bindgen's export task,
        // or ours), and guards are dropped in reverse order, so it is still alive.
        unsafe { wasip3_task_set(self.prev) };
        OWNER.with(|o| o.set(self.prev_owner));
    }
}

/// Waitables in the set that count for `owner`.
pub(super) fn registered(owner: u32) -> usize {
    INSTALLED.with(|i| {
        i.reactor
            .counts
            .borrow()
            .iter()
            .find(|(o, _)| *o == owner)
            .map_or(0, |(_, n)| *n)
    })
}

/// Drops the set when nothing is registered in it (the last loop went): a program that is
/// done leaves no waitable set behind. The next registration makes a new one.
pub(super) fn release_if_idle() {
    INSTALLED.with(|i| {
        let r = i.reactor;
        let set = r.set.get();
        if set != 0 && r.counts.borrow().is_empty() {
            r.set.set(0);
            // SAFETY: a canonical built-in; nothing waits on the set (this thread is here) and
            // no registered waitable is in it.
            unsafe { waitable_set_drop(set) };
        }
    });
}

/// Blocks until one completion is reported and delivers it.
pub(super) fn wait() {
    INSTALLED.with(|i| deliver(i.reactor, true));
}

/// Delivers every completion already reported, without blocking.
pub(super) fn drain() {
    INSTALLED.with(|i| while deliver(i.reactor, false) {});
}

/// Lets the host run (its I/O makes progress) before a non-blocking look at the set.
pub(super) fn yield_now() {
    // Whether the task was cancelled: the host cancels an export call only when tearing the
    // instance down, and the loop has nothing to clean up with the host then.
    let _ = wit_bindgen::yield_blocking();
}

/// One `waitable-set.wait` (or `.poll`): calls the callback of the reported waitable. Returns
/// whether something was reported.
fn deliver(r: &Reactor, block: bool) -> bool {
    let set = r.set.get();
    if set == 0 {
        return false;
    }
    let mut payload = [0u32; 2];
    // SAFETY: canonical built-ins; `payload` is a valid out-pointer for two `u32`s.
    let event = unsafe {
        if block {
            waitable_set_wait(set, &mut payload)
        } else {
            waitable_set_poll(set, &mut payload)
        }
    };
    if event == EVENT_NONE {
        return false;
    }
    let [waitable, code] = payload;
    if let Some(e) = take(r, waitable) {
        // SAFETY: wit-bindgen keeps `ptr` valid until the callback is called or the waitable
        // is unregistered; it was registered and is called once.
        unsafe { (e.callback)(e.ptr, code) };
    }
    true
}

/// Removes `waitable` from the set and from the table; its entry, if it was registered.
fn take(r: &Reactor, waitable: u32) -> Option<Entry> {
    // SAFETY: canonical built-in; set 0 takes the waitable out of any set.
    unsafe { waitable_join(waitable, 0) };
    let prev = r
        .callbacks
        .borrow_mut()
        .get_mut(waitable as usize)
        .and_then(Option::take);
    if let Some(e) = &prev {
        r.count(e.owner, false);
    }
    prev
}

unsafe extern "C" fn register(
    ptr: *mut c_void,
    waitable: u32,
    callback: Callback,
    callback_ptr: *mut c_void,
) -> *mut c_void {
    // SAFETY: `ptr` is the leaked reactor installed with this vtable.
    let r = unsafe { &*ptr.cast::<Reactor>() };
    // SAFETY: canonical built-in; joining a waitable already in the set is a no-op.
    unsafe { waitable_join(waitable, r.set()) };
    let owner = OWNER.with(Cell::get);
    let mut callbacks = r.callbacks.borrow_mut();
    let i = waitable as usize;
    if callbacks.len() <= i {
        callbacks.resize(i + 1, None);
    }
    let entry = Entry {
        callback,
        ptr: callback_ptr,
        owner,
    };
    let prev = callbacks[i].replace(entry);
    drop(callbacks);
    r.count(owner, true);
    match prev {
        Some(p) => {
            r.count(p.owner, false);
            if p.ptr == callback_ptr {
                // The same operation waiting again.
                p.ptr
            } else {
                // A stale entry: its waitable was dropped while another task was current, and
                // the handle number was given to this one.
                ptr::null_mut()
            }
        }
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn unregister(ptr: *mut c_void, waitable: u32) -> *mut c_void {
    // SAFETY: as in `register`.
    let r = unsafe { &*ptr.cast::<Reactor>() };
    match take(r, waitable) {
        Some(e) => e.ptr,
        None => ptr::null_mut(),
    }
}
