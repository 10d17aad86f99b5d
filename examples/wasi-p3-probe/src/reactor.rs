//! A minimal reactor over the component-model async ABI: what a wasio WASI 0.3 driver does.
//!
//! One `waitable-set` lives as long as the reactor. wit-bindgen's futures register their
//! waitables through the `wasip3_task` vtable we install with `wasip3_task_set`; we join each
//! waitable to our set on register, and `waitable-set.wait` hands back exactly one ready
//! `(event, waitable, code)` at a time. The callback wit-bindgen gave us stores the code and
//! wakes its waker; we then re-poll the root future.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::future::Future;
use std::pin::{Pin, pin};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

// ---- raw canonical built-ins (component-model async ABI), same names wit-bindgen uses ----
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

// ---- wit-bindgen's cross-version "current task" C ABI (wit-bindgen rt/async_support/cabi.rs) ----
const WASIP3_TASK_V1: u32 = 1;

#[repr(C)]
struct Wasip3Task {
    version: u32,
    ptr: *mut c_void,
    waitable_register: unsafe extern "C" fn(
        ptr: *mut c_void,
        waitable: u32,
        callback: unsafe extern "C" fn(*mut c_void, u32),
        callback_ptr: *mut c_void,
    ) -> *mut c_void,
    waitable_unregister: unsafe extern "C" fn(ptr: *mut c_void, waitable: u32) -> *mut c_void,
}

unsafe extern "C" {
    // Weak symbol defined in wit-bindgen's libwit_bindgen_cabi.a.
    fn wasip3_task_set(task: *mut Wasip3Task) -> *mut Wasip3Task;
}

const EVENT_NONE: u32 = 0;

type Callback = (unsafe extern "C" fn(*mut c_void, u32), *mut c_void);

struct Inner {
    set: u32,
    /// waitable handle -> wit-bindgen completion callback.
    waitables: RefCell<BTreeMap<u32, Callback>>,
    events: Cell<u64>,
}

unsafe extern "C" fn register(
    ptr: *mut c_void,
    waitable: u32,
    callback: unsafe extern "C" fn(*mut c_void, u32),
    callback_ptr: *mut c_void,
) -> *mut c_void {
    // SAFETY: `ptr` is the `Inner` installed by `block_on`, alive for the whole loop.
    let inner = unsafe { &*ptr.cast::<Inner>() };
    // SAFETY: canonical built-in; joining an already-joined waitable is a no-op move.
    unsafe { waitable_join(waitable, inner.set) };
    match inner.waitables.borrow_mut().insert(waitable, (callback, callback_ptr)) {
        Some((_, prev)) => prev,
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn unregister(ptr: *mut c_void, waitable: u32) -> *mut c_void {
    // SAFETY: as in `register`.
    let inner = unsafe { &*ptr.cast::<Inner>() };
    // SAFETY: set 0 = remove from any set.
    unsafe { waitable_join(waitable, 0) };
    match inner.waitables.borrow_mut().remove(&waitable) {
        Some((_, prev)) => prev,
        None => ptr::null_mut(),
    }
}

#[derive(Default)]
struct Flag(AtomicBool);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `fut` to completion on a reactor that owns one persistent waitable-set.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    // SAFETY: canonical built-in.
    let set = unsafe { waitable_set_new() };
    let inner = Rc::new(Inner { set, waitables: RefCell::new(BTreeMap::new()), events: Cell::new(0) });
    let mut task = Wasip3Task {
        version: WASIP3_TASK_V1,
        ptr: Rc::as_ptr(&inner).cast_mut().cast(),
        waitable_register: register,
        waitable_unregister: unregister,
    };
    // SAFETY: `task` outlives the loop; the previous task pointer is restored below.
    let prev = unsafe { wasip3_task_set(&mut task) };

    let out = {
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        // Pinned in this block so it is dropped (unregistering its waitables through OUR
        // vtable) before the previous task pointer is restored.
        let mut fut = pin!(fut);
        loop {
            flag.0.store(false, Ordering::Relaxed);
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                break v;
            }
            if flag.0.load(Ordering::Relaxed) {
                // Self-woken (yield): drain whatever is ready without blocking, then re-poll.
                while deliver(&inner, false) {}
                continue;
            }
            assert!(
                !inner.waitables.borrow().is_empty(),
                "reactor deadlock: root future pending with no registered waitables"
            );
            // Block until one waitable completes, then drain the rest that are ready.
            deliver(&inner, true);
            while deliver(&inner, false) {}
        }
    };

    // SAFETY: restore whatever task (wit-bindgen's export task) was current before us.
    unsafe { wasip3_task_set(prev) };
    // SAFETY: every waitable was unregistered by its owning future's drop.
    unsafe { waitable_set_drop(set) };
    EVENTS.set(EVENTS.get() + inner.events.get());
    out
}

thread_local! {
    /// Events delivered by every `block_on` so far (for the probe's report).
    pub static EVENTS: Cell<u64> = const { Cell::new(0) };
}

/// Waits (or polls) the set once; returns whether an event was delivered.
fn deliver(inner: &Inner, block: bool) -> bool {
    let mut payload = [0u32; 2];
    // SAFETY: canonical built-ins; `payload` is a valid out-pointer.
    let event = unsafe {
        if block {
            waitable_set_wait(inner.set, &mut payload)
        } else {
            waitable_set_poll(inner.set, &mut payload)
        }
    };
    if event == EVENT_NONE {
        return false;
    }
    let [waitable, code] = payload;
    // One-shot semantics like wit-bindgen's executor: the op completed, take it out of the set.
    // SAFETY: canonical built-in.
    unsafe { waitable_join(waitable, 0) };
    let cb = inner.waitables.borrow_mut().remove(&waitable);
    if let Some((callback, callback_ptr)) = cb {
        inner.events.set(inner.events.get() + 1);
        // SAFETY: wit-bindgen guarantees `callback_ptr` is valid until called or unregistered.
        unsafe { callback(callback_ptr, code) };
    }
    true
}

/// Polls two futures concurrently (no allocation, no spawn).
pub async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut ra = None;
    let mut rb = None;
    std::future::poll_fn(move |cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            match (ra.take(), rb.take()) {
                (Some(a), Some(b)) => Poll::Ready((a, b)),
                _ => unreachable!("both outputs were just checked"),
            }
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Polls all futures concurrently until every one has finished (re-polls all on any wake:
/// fine for a probe; wasio keeps per-task wakers).
pub async fn join_all<F: Future + Unpin>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Option<F>> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (slot, res) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(v) => {
                        *res = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(out.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}
