//! EXC-01..EXC-03 (the exception handler) and DBG-01 (slow callbacks in debug mode).
//!
//! Callback failures here are `Err` returns, not panics: a panic aborts a wasm32-wasip2
//! instance, so panic cases live in the native-only tests.

use std::time::Duration;

use tracing::Level;

use crate::capture::Capture;
use crate::{Context, Transcript, ensure, ensure_eq, new_loop, stopper};

/// EXC-01: a failing callback's context carries `message`, `exception` and `handle`.
pub fn exc01_context_has_message_exception_and_handle(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    lp.set_exception_handler(move |_, ctx| {
        t2.push(format!("keys={:?}", ctx.keys()));
        t2.push(format!(
            "message starts ok={}",
            ctx.message().starts_with("Exception in callback ")
        ));
        t2.push(format!(
            "exception={}",
            ctx.error().map(|e| e.to_string()).unwrap_or_default()
        ));
        t2.push(format!(
            "handle ok={}",
            ctx.get("handle").is_some_and(|h| h.starts_with("<Handle "))
        ));
    });
    lp.call_soon(|| -> Result<(), String> { Err("bad value".into()) })
        .ctx("call_soon")?;
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&[
        "keys=[\"exception\", \"handle\", \"message\"]",
        "message starts ok=true",
        "exception=bad value",
        "handle ok=true",
    ])
}

/// EXC-02: a failing callback is reported with the loop, and the rest of the iteration runs.
pub fn exc02_failing_callback_does_not_stop_the_loop(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let (t2, lp2) = (t.clone(), lp.clone());
    lp.set_exception_handler(move |l, ctx| {
        t2.push(format!(
            "handler same loop={} error={}",
            *l == lp2,
            ctx.error().map(|e| e.to_string()).unwrap_or_default()
        ));
    });
    let t3 = t.clone();
    lp.call_soon(move || -> Result<(), std::io::Error> {
        t3.push("a");
        Err(std::io::Error::other("a failed"))
    })
    .ctx("call_soon")?;
    lp.call_soon(t.rec("b")).ctx("call_soon")?;
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["a", "handler same loop=true error=a failed", "b"])
}

/// EXC-02: the same through `call_later`: the context names a timer handle.
pub fn exc02_failing_timer_callback_is_reported(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    lp.set_exception_handler(move |_, ctx| {
        t2.push(format!(
            "timer handle={}",
            ctx.get("handle")
                .is_some_and(|h| h.starts_with("<TimerHandle "))
        ));
    });
    lp.call_later(Duration::from_millis(1), || -> Result<(), String> {
        Err("late failure".into())
    })
    .ctx("call_later")?;
    lp.call_later(Duration::from_millis(2), stopper(&lp))
        .ctx("call_later")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["timer handle=true"])
}

/// EXC-03: the default handler logs one ERROR: the message, then `key: value` lines sorted by
/// key, without `message` and `exception`; the error goes in a field.
pub fn exc03_default_handler_logs_sorted_keys(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    ensure!(lp.exception_handler().is_none(), "default handler expected");
    let cap = Capture::default();
    cap.run(|| {
        lp.call_exception_handler(
            wasio::Context::new("boom")
                .with("task", "T")
                .with("handle", "H")
                .with_error("E"),
        )
    });
    let errors = cap.wasio_events(Level::ERROR);
    ensure_eq!(errors.len(), 1, "one ERROR event");
    let e = &errors[0];
    t.push(e.message.replace('\n', "|"));
    t.push(format!("fields={:?}", e.fields));
    t.expect(&["boom|handle: H|task: T", "fields=[\"error=E\"]"])
}

/// EXC-03 (asyncio `call_exception_handler`): a custom handler that fails (returns `Err`) is
/// reported by the default handler as `Unhandled error in exception handler`, with the
/// original context under `context`; a failing callback's report goes the same way and the
/// loop carries on.
pub fn exc03_failing_custom_handler_falls_back_to_the_default(
    t: &Transcript,
) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    lp.set_exception_handler(move |_, ctx| {
        t2.push(format!(
            "custom saw a failed callback={}",
            ctx.message().starts_with("Exception in callback")
        ));
        Err::<(), _>("handler broken")
    });
    lp.call_soon(|| Err("boom")).ctx("call_soon")?;
    lp.call_soon(t.rec("next callback")).ctx("call_soon")?;
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    let cap = Capture::default();
    cap.run(|| lp.run_forever()).ctx("run_forever")?;
    for e in cap.wasio_events(Level::ERROR) {
        let first = e.message.lines().next().unwrap_or_default().to_string();
        t.push(format!(
            "default: {first} | has context={} | {:?}",
            e.message.contains("context: ") && e.message.contains("Exception in callback"),
            e.fields
        ));
    }
    t.expect(&[
        "custom saw a failed callback=true",
        "next callback",
        "default: Unhandled error in exception handler | has context=true | [\"error=handler broken\"]",
    ])
}

/// EXC-03: clearing the custom handler restores the default; an empty message becomes the
/// default message.
pub fn exc03_clear_handler_restores_the_default(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    lp.set_exception_handler(move |_, ctx| t2.push(format!("custom:{}", ctx.message())));
    ensure!(
        lp.exception_handler().is_some(),
        "custom handler not installed"
    );
    lp.call_exception_handler(wasio::Context::new("first"));
    lp.clear_exception_handler();
    ensure!(lp.exception_handler().is_none(), "handler not cleared");
    let cap = Capture::default();
    cap.run(|| lp.call_exception_handler(wasio::Context::new("")));
    for e in cap.wasio_events(Level::ERROR) {
        t.push(format!("default:{}", e.message));
    }
    t.expect(&["custom:first", "default:Unhandled exception in event loop"])
}

/// The `BaseException` path: a `Fatal` error stops the loop at once; the rest of the iteration
/// stays queued and runs on the next run.
pub fn exc03_fatal_error_escapes_run_forever(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    let t2 = t.clone();
    lp.set_exception_handler(move |_, ctx| t2.push(format!("handler:{}", ctx.message())));
    lp.call_soon(t.rec("a")).ctx("call_soon")?;
    lp.call_soon(|| Err(wasio::Fatal::new("exit requested")))
        .ctx("call_soon")?;
    lp.call_soon(t.rec("c")).ctx("call_soon")?;
    let res = lp.run_forever();
    match &res {
        Err(e) if e.is_fatal() => t.push(format!("fatal: {}", e.detail().unwrap_or_default())),
        other => t.push(format!("unexpected: {other:?}")),
    }
    t.push(format!(
        "running={} ready={}",
        lp.is_running(),
        lp.stats().ready
    ));
    lp.call_soon(stopper(&lp)).ctx("call_soon")?;
    lp.run_forever().ctx("run_forever")?;
    t.expect(&["a", "fatal: exit requested", "running=false ready=1", "c"])
}

fn slow_callback(d: Duration) -> impl FnOnce() + 'static {
    move || std::thread::sleep(d)
}

/// DBG-01: in debug mode a callback taking at least the threshold logs one WARN naming it.
pub fn dbg01_slow_callback_warns_in_debug_mode(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.set_debug(true);
    t.push(format!(
        "default threshold={:?}",
        lp.slow_callback_duration()
    ));
    lp.set_slow_callback_duration(Duration::from_millis(20));
    let cap = Capture::default();
    cap.run(|| -> Result<(), String> {
        lp.call_soon(slow_callback(Duration::from_millis(30)))
            .ctx("call_soon")?;
        lp.call_soon(|| {}).ctx("call_soon")?;
        lp.call_soon(stopper(&lp)).ctx("call_soon")?;
        lp.run_forever().ctx("run_forever")
    })?;
    // Exactly one warning names the slow callback. A fast callback preempted past the
    // threshold on a loaded machine may earn a warning of its own; those are not counted.
    let warns = cap.wasio_events(Level::WARN);
    let slow: Vec<_> = warns
        .iter()
        .filter(|w| w.message.contains("slow_callback"))
        .collect();
    t.push(format!("warnings naming the slow callback={}", slow.len()));
    for w in &slow {
        t.push(format!(
            "says took={}",
            w.message.starts_with("Executing <Handle ") && w.message.contains("> took ")
        ));
    }
    t.expect(&[
        "default threshold=100ms",
        "warnings naming the slow callback=1",
        "says took=true",
    ])
}

/// DBG-01: with debug off (the default) nothing is timed, however slow.
pub fn dbg01_nothing_is_timed_when_debug_is_off(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    t.push(format!("debug={}", lp.debug()));
    lp.set_slow_callback_duration(Duration::from_millis(1));
    let cap = Capture::default();
    cap.run(|| -> Result<(), String> {
        lp.call_soon(slow_callback(Duration::from_millis(5)))
            .ctx("call_soon")?;
        lp.call_soon(stopper(&lp)).ctx("call_soon")?;
        lp.run_forever().ctx("run_forever")
    })?;
    t.push(format!("warnings={}", cap.wasio_events(Level::WARN).len()));
    t.expect(&["debug=false", "warnings=0"])
}

/// DBG-01: a slow task step is reported with the task's name.
pub fn dbg01_slow_task_step_names_the_task(t: &Transcript) -> Result<(), String> {
    let lp = new_loop()?;
    lp.set_debug(true);
    lp.set_slow_callback_duration(Duration::from_millis(20));
    let cap = Capture::default();
    cap.run(|| -> Result<(), String> {
        let task = lp
            .create_named_task("grinder", async {
                std::thread::sleep(Duration::from_millis(30));
            })
            .ctx("create_named_task")?;
        lp.run_until_complete(task)
            .ctx("run_until_complete")?
            .ctx("task")
    })?;
    let warns = cap.wasio_events(Level::WARN);
    let named: Vec<&str> = warns
        .iter()
        .filter(|w| w.message.starts_with("Executing <Task grinder> took "))
        .map(|_| "Task grinder")
        .collect();
    t.push(format!("named warnings={}", named.len()));
    t.expect(&["named warnings=1"])
}
