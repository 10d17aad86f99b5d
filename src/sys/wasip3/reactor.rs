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
//! One set for the whole thread (created on first use, never dropped), so several loops (one
//! after another, or alive together) share it, and a completion always reaches the waker of
//! the loop that started the operation. The vtable is leaked once per thread. It is current
//! only inside [`install`]'s guard, which puts the previous task back: the loop holds one
//! while it runs, closes or drops (so every future a task polls or drops, wasio's or a user's
//! `wasip3` one, registers here), and every wait and every poll or drop of an operation holds
//! one too. Outside, wit-bindgen's own task (an export's) is current again.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;

// Canonical built-ins of the component-model async ABI.
#[link(wasm_import_module = "$root")]
unsafe extern "C" {
    #[link_name = "[waitable-set-new]"]
    fn waitable_set_new() -> u32;
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

/// The set and the callbacks of the waitables in it.
struct Reactor {
    set: u32,
    /// By waitable handle (small table indices): the callback wit-bindgen registered.
    callbacks: RefCell<Vec<Option<(Callback, *mut c_void)>>>,
    registered: Cell<usize>,
}

/// The thread's reactor and its vtable, both leaked: they must outlive every operation.
struct Leaked {
    reactor: &'static Reactor,
    task: *mut Wasip3Task,
}

thread_local! {
    static INSTALLED: Leaked = {
        // SAFETY: a canonical built-in without preconditions.
        let set = unsafe { waitable_set_new() };
        let reactor: &'static Reactor = Box::leak(Box::new(Reactor {
            set,
            callbacks: RefCell::new(Vec::new()),
            registered: Cell::new(0),
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
/// puts the previous one back (guards nest).
pub(super) fn install() -> Installed {
    INSTALLED.with(|i| {
        // SAFETY: `i.task` is leaked, so valid for the rest of the program.
        let prev = unsafe { wasip3_task_set(i.task) };
        Installed { prev }
    })
}

/// The task that was current before [`install`]; restored on drop.
pub(crate) struct Installed {
    prev: *mut Wasip3Task,
}

impl Drop for Installed {
    fn drop(&mut self) {
        // SAFETY: `prev` was current when the guard was made (null, wit-bindgen's export task,
        // or ours), and guards are dropped in reverse order, so it is still alive.
        unsafe { wasip3_task_set(self.prev) };
    }
}

/// Waitables in the set.
pub(super) fn registered() -> usize {
    INSTALLED.with(|i| i.reactor.registered.get())
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
    let mut payload = [0u32; 2];
    // SAFETY: canonical built-ins; `payload` is a valid out-pointer for two `u32`s.
    let event = unsafe {
        if block {
            waitable_set_wait(r.set, &mut payload)
        } else {
            waitable_set_poll(r.set, &mut payload)
        }
    };
    if event == EVENT_NONE {
        return false;
    }
    let [waitable, code] = payload;
    let callback = take(r, waitable);
    if let Some((callback, callback_ptr)) = callback {
        // SAFETY: wit-bindgen keeps `callback_ptr` valid until the callback is called or the
        // waitable is unregistered; it was registered and is called once.
        unsafe { callback(callback_ptr, code) };
    }
    true
}

/// Removes `waitable` from the set and from the table; its callback, if it was registered.
fn take(r: &Reactor, waitable: u32) -> Option<(Callback, *mut c_void)> {
    // SAFETY: canonical built-in; set 0 takes the waitable out of any set.
    unsafe { waitable_join(waitable, 0) };
    let prev = r
        .callbacks
        .borrow_mut()
        .get_mut(waitable as usize)
        .and_then(Option::take);
    if prev.is_some() {
        r.registered.set(r.registered.get() - 1);
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
    unsafe { waitable_join(waitable, r.set) };
    let mut callbacks = r.callbacks.borrow_mut();
    let i = waitable as usize;
    if callbacks.len() <= i {
        callbacks.resize(i + 1, None);
    }
    match callbacks[i].replace((callback, callback_ptr)) {
        Some((_, prev)) => prev,
        None => {
            r.registered.set(r.registered.get() + 1);
            ptr::null_mut()
        }
    }
}

unsafe extern "C" fn unregister(ptr: *mut c_void, waitable: u32) -> *mut c_void {
    // SAFETY: as in `register`.
    let r = unsafe { &*ptr.cast::<Reactor>() };
    match take(r, waitable) {
        Some((_, prev)) => prev,
        None => ptr::null_mut(),
    }
}
