//! The wasio conformance suite.
//!
//! Every case here must behave identically on the native (mio) backend and on the
//! wasm32-wasip2 (pollables) backend. Cases use only wasio's public API and no target `cfg`.
//! Platform-specific tests belong to their runner (`native-tests/tests/native_only.rs`, the
//! host's WASI-only tests).
//!
//! A case is `pub fn <area>_<behaviour>(t: &Transcript) -> Result<(), String>`. It builds its own
//! [`wasio::EventLoop`], records the events the spec fixes into its [`Transcript`] (callbacks
//! fired, values seen, error kinds; never addresses, ports, timings or orders the spec leaves
//! open) and returns `Err` naming the broken expectation. The runners compare the transcripts of
//! the two worlds, so the same case must produce the same transcript on both.
//!
//! Adding a case: write it in `cases/<area>.rs` and add one line to [`foreach_case!`]. Both
//! runners pick it up, and the host checks that the guest's case list equals this list.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

pub mod cancel;
pub mod capture;
pub mod cases;
#[cfg(all(target_os = "wasi", not(feature = "p3")))]
mod export;
#[cfg(all(target_os = "wasi", feature = "p3"))]
mod export_p3;
pub mod http;
#[cfg(target_os = "wasi")]
mod probes;
pub mod prop;

/// Calls `$m!(name)` once per case: the only list of cases.
#[macro_export]
macro_rules! foreach_case {
    ($m:ident) => {
        // 1. scheduling and the ready queue
        $m!(sch01_call_soon_runs_in_fifo_order);
        $m!(sch01_cancelled_handle_is_skipped);
        $m!(sch02_callbacks_scheduled_while_running_wait_for_next_iteration);
        $m!(sch02_threadsafe_calls_while_running_wait_for_next_iteration);
        $m!(sch03_ready_callbacks_run_before_due_timers);
        $m!(sch03_one_iteration_runs_callbacks_and_due_timers);
        $m!(sch04_ready_callbacks_make_the_wait_non_blocking);
        $m!(sch04_stop_makes_the_wait_non_blocking);
        $m!(sch04_wait_ends_at_the_nearest_deadline);
        $m!(sch05_cancel_is_idempotent_and_reported);
        $m!(sch05_cancel_after_run_has_no_effect);
        $m!(sch05_cancelled_handle_still_counts_in_the_snapshot);
        $m!(sch05_callback_cancelling_its_own_handle_completes);
        $m!(sch06_threadsafe_is_fifo_with_call_soon_on_the_loop_thread);
        $m!(sch06_remote_is_fifo_with_call_soon_on_the_loop_thread);
        $m!(sch06_threadsafe_cancel_before_run_prevents_it);
        $m!(sch06_threadsafe_self_cancel_still_completes);
        // 2. timers
        $m!(tmr01_call_later_is_call_at_time_plus_delay);
        $m!(tmr01_when_is_unchanged_by_cancel_and_firing);
        $m!(tmr01_loop_time_is_monotonic);
        $m!(tmr01_deadlines_before_the_loop_keep_order_and_value);
        $m!(tmr02_timers_fire_in_deadline_order);
        $m!(tmr02_equal_deadlines_fire_fifo);
        $m!(tmr03_deadline_at_now_is_due_in_the_next_iteration);
        $m!(tmr03_future_deadline_is_not_due);
        $m!(tmr04_call_later_never_fires_early);
        $m!(tmr04_sleep_never_returns_early);
        $m!(tmr05_only_scheduled_timers_count_as_cancelled);
        $m!(tmr05_cancelled_head_timers_are_popped);
        $m!(tmr06_purge_removes_every_cancelled_timer);
        $m!(tmr06_purge_thresholds_are_strict);
        $m!(tmr07_sleep_zero_yields_one_iteration_without_a_timer);
        $m!(tmr07_cancelled_sleep_leaves_a_cancelled_timer);
        $m!(tmr07_extreme_durations_never_panic);
        $m!(tmr_timeout_and_interval);
        // 3. tasks
        $m!(tsk01_first_step_is_fifo_with_call_soon);
        $m!(tsk02_awaiter_resumes_in_a_later_callback);
        $m!(tsk03_cancel_returns_false_once_done);
        $m!(tsk03_cancel_is_delivered_at_the_next_await);
        $m!(tsk03_task_can_catch_cancellation_and_return);
        $m!(tsk03_sibling_catch_scopes_end_in_any_order);
        $m!(tsk03_cancelled_stays_false_until_the_task_ends);
        $m!(tsk03_cancel_before_first_step_skips_the_body);
        $m!(tsk04_create_task_on_closed_loop_drops_the_future);
        $m!(tsk04_default_and_custom_task_names);
        $m!(tsk05_destroyed_pending_task_is_reported);
        $m!(tsk05_run_until_complete_task_is_not_reported);
        // task groups, gather, shield, wait_for
        $m!(tg_first_failure_cancels_siblings_and_wait_awaits_all);
        $m!(tg_every_failure_is_returned_in_order);
        $m!(tg_values_when_all_succeed);
        $m!(tg_cancelling_the_waiter_cancels_and_awaits_children);
        $m!(tg_cancel_and_drop_end_the_children);
        $m!(gather_returns_outputs_in_input_order);
        $m!(gather_runs_futures_concurrently);
        $m!(shield_awaiter_cancelled_inner_completes);
        $m!(wait_for_cancels_futures_and_tasks_on_timeout);
        // queues, events, locks: runtime-agnostic crates on wasio
        $m!(sync_queue_with_async_channel);
        $m!(sync_event_with_event_listener);
        $m!(sync_lock_with_async_lock);
        $m!(sync_semaphore_with_async_lock);
        // tokio habits on wasio (docs/from-tokio.md)
        $m!(from_tokio_mappings);
        // 4. lifecycle
        $m!(life01_stop_lets_the_iteration_finish);
        $m!(life01_stop_before_run_forever_runs_one_iteration);
        $m!(life01_run_forever_runs_again_after_stop);
        $m!(life02_run_until_complete_returns_the_output);
        $m!(life02_stopped_before_completion_is_an_error);
        $m!(life02_callbacks_queued_by_the_future_run_before_return);
        $m!(life02_interrupted_run_leaves_no_stale_stop);
        $m!(life03_nested_run_is_an_error);
        $m!(life03_other_loop_cannot_run_inside_a_running_one);
        $m!(life03_refused_run_does_not_queue_the_future);
        $m!(life03_is_running_and_current_inside_callbacks);
        $m!(life04_close_of_running_loop_fails);
        $m!(life04_close_is_idempotent_and_drops_pending_work);
        $m!(life05_closed_loop_rejects_every_scheduling_call);
        $m!(life_run_cancels_leftover_tasks_before_closing);
        // 5. exceptions, 12. debug
        $m!(exc01_context_has_message_exception_and_handle);
        $m!(exc02_failing_callback_does_not_stop_the_loop);
        $m!(exc02_failing_timer_callback_is_reported);
        $m!(exc03_default_handler_logs_sorted_keys);
        $m!(exc03_clear_handler_restores_the_default);
        $m!(exc03_failing_custom_handler_falls_back_to_the_default);
        $m!(exc03_fatal_error_escapes_run_forever);
        $m!(dbg01_slow_callback_warns_in_debug_mode);
        $m!(dbg01_nothing_is_timed_when_debug_is_off);
        $m!(dbg01_slow_task_step_names_the_task);
        // 6. TCP server, 7. TCP client, EXC-04
        $m!(tcp_echo_round_trip);
        $m!(tcp_addresses_agree_between_ends);
        $m!(tcp_echo_1mib_full_duplex);
        $m!(tcp_half_close_keeps_the_read_side);
        $m!(tcp_peer_reset_is_an_error);
        $m!(tcp_connect_refused);
        $m!(tcp_clean_eof_is_sticky);
        $m!(tcp_50_connections_none_starves);
        $m!(tcp_drop_after_write_loses_nothing);
        $m!(tcp_sockets_dropped_after_loop_close);
        $m!(tcp_dropping_an_unclosed_loop_releases_its_sockets);
        $m!(tcp_shared_sources_wake_every_waiter);
        $m!(tcp_write_drop_and_return_loses_nothing);
        $m!(tcp_large_reply_then_wait_for_request);
        $m!(tcp_close_after_fatal_flushes_dropped_streams);
        $m!(srv01_start_serving_flag_and_idempotence);
        $m!(srv02_one_handler_task_per_connection);
        $m!(srv03_hosts_are_a_set);
        $m!(srv04_all_interfaces_dual_stack_is_two_sockets);
        $m!(srv04_ipv6_sockets_are_v6_only);
        $m!(srv04_reuse_address_allows_rebinding);
        $m!(srv05_bind_failure_names_the_address_and_closes_the_rest);
        $m!(srv07_close_stops_listening_and_keeps_connections);
        $m!(srv08_wait_closed_waits_for_the_last_connection);
        $m!(srv09_close_clients_ends_connections);
        $m!(srv09_abort_clients_ends_connections);
        $m!(srv10_serve_forever_rules);
        $m!(srv10_cancelled_serve_forever_reraises);
        $m!(exc04_io_errors_from_handlers_are_not_reported);
        $m!(cli01_bad_input_is_an_error);
        $m!(cli02_ip_literals_skip_the_resolver);
        $m!(cli02_unresolvable_name_is_a_resolve_error);
        $m!(cli03_sequential_attempts_without_happy_eyeballs);
        $m!(cli04_interleave_by_family);
        $m!(cli05_next_attempt_starts_after_the_delay);
        $m!(cli05_failure_starts_the_next_attempt_at_once);
        $m!(cli06_losers_are_closed);
        $m!(cli06_cancelling_the_race_closes_every_attempt);
        $m!(cli07_failure_reporting_follows_asyncio);
        $m!(cli08_local_addr_binding);
        $m!(cli09_defaults_and_connect_timeout);
        $m!(net_addresses_as_strings_and_tuples);
        // 8. UDP
        $m!(udp_send_and_receive_ipv4_and_ipv6);
        $m!(udp_1000_datagrams_each_way_arrive_intact);
        $m!(udp_connected_socket_talks_only_to_its_peer);
        $m!(udp_connect_while_a_task_receives);
        $m!(udp_unreachable_peer_is_reported_on_the_next_receive);
        $m!(udp_closed_socket_gives_errors);
        $m!(udp_create_datagram_endpoint_rules);
        $m!(udp_datagrams_sent_before_close_all_arrive);
        $m!(udp_connect_keeps_a_datagram_already_received);
        $m!(udp_connect_while_a_task_sends);
        // 9. sendfile
        $m!(sf02_offset_count_result_and_position);
        $m!(sf03_forced_fallback_gives_the_same_result);
        $m!(sf05_writes_before_and_after_keep_their_order);
        $m!(sf_peer_closing_part_way_reports_what_was_sent);
        // 10. executor
        $m!(exe01_run_in_executor_returns_the_value);
        $m!(exe03_shutdown_default_executor_rules);
        // hyper on wasio (wasio::hyper)
        $m!(http_keep_alive_serves_requests_on_one_connection);
        $m!(http_100_concurrent_requests_are_all_answered);
        $m!(http_1mib_body_is_echoed);
        $m!(http_header_read_timeout_closes_a_silent_connection);
        $m!(http_timer_and_executor_run_on_the_loop);
        $m!(http_serve_refuses_past_the_connection_limit);
        $m!(http_serve_closes_idle_connections);
        $m!(http_serve_shutdown_lets_requests_finish);
        $m!(http2_prior_knowledge_is_served);
        // cancellation and closing at any moment
        $m!(cancel_read_to_end_keeps_exactly_the_bytes_read);
        $m!(close_while_waiting_ends_every_waiter);
        $m!(cancel_every_operation_at_every_await_point);
        // robustness: generated programs against the asyncio model, misuse fuzzing
        $m!(prop_loop_follows_the_asyncio_model);
        $m!(fuzz_misuse_gives_clear_errors);
        $m!(prop_io_matches_the_byte_model);
        $m!(soak_echo_server_mixed_clients);
    };
}

/// The names of every case, in list order.
pub const CASES: &[&str] = &{
    macro_rules! name {
        ($n:ident) => {
            stringify!($n)
        };
    }
    macro_rules! count {
        ($n:ident) => {
            1
        };
    }
    const N: usize = {
        let mut n = 0;
        macro_rules! add {
            ($c:ident) => {
                n += count!($c);
            };
        }
        foreach_case!(add);
        n
    };
    let mut names = [""; N];
    let mut i = 0;
    macro_rules! put {
        ($c:ident) => {
            names[i] = name!($c);
            i += 1;
        };
    }
    foreach_case!(put);
    let _ = i;
    names
};

/// The ordered events a case recorded; shared by the closures the case schedules.
///
/// Besides the events (compared between the worlds), a case may leave notes: figures that
/// legitimately differ between runs (bytes moved, connections served, peak counts). Notes are
/// printed by the runners and never compared.
#[derive(Clone, Default)]
pub struct Transcript(Rc<RefCell<Vec<String>>>, Rc<RefCell<Vec<String>>>);

impl Transcript {
    /// A new, empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Records one event.
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// Number of events so far.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Leaves a note: printed by the runners, not compared.
    pub fn note(&self, note: impl Into<String>) {
        self.1.borrow_mut().push(note.into());
    }

    /// The notes so far.
    pub fn notes(&self) -> Vec<String> {
        self.1.borrow().clone()
    }

    /// A closure that records `event` (for `call_soon` and friends).
    pub fn rec(&self, event: &'static str) -> impl FnOnce() + 'static {
        let t = self.clone();
        move || t.push(event)
    }

    /// Fails unless the events are exactly `expected`.
    pub fn expect(&self, expected: &[&str]) -> Result<(), String> {
        let got = self.events();
        if got.iter().map(String::as_str).eq(expected.iter().copied()) {
            Ok(())
        } else {
            Err(format!(
                "transcript mismatch\n  expected: {expected:?}\n  got:      {got:?}"
            ))
        }
    }
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.borrow().iter()).finish()
    }
}

/// A `Send` event log for callbacks that must be `Send` (`call_soon_threadsafe`).
#[derive(Clone, Default)]
pub struct SendLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl SendLog {
    /// A new, empty log.
    pub fn new() -> SendLog {
        SendLog::default()
    }

    /// Records one event.
    pub fn push(&self, event: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.into());
    }

    /// A `Send` closure that records `event`.
    pub fn rec(&self, event: &'static str) -> impl FnOnce() + Send + 'static {
        let log = self.clone();
        move || log.push(event)
    }

    /// The events so far.
    pub fn events(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Appends the events to a transcript.
    pub fn copy_to(&self, t: &Transcript) {
        for e in self.events() {
            t.push(e);
        }
    }
}

/// What running one case produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The case returned `Ok`.
    pub passed: bool,
    /// The failure message (empty when passed).
    pub message: String,
    /// The recorded events.
    pub transcript: Vec<String>,
    /// Figures the case reported (not compared between the worlds).
    pub notes: Vec<String>,
}

/// Runs one case by name (used by the wasm export and by the native runners).
pub fn run_case(name: &str) -> Outcome {
    let t = Transcript::new();
    let result = run_by_name(name, &t);
    Outcome {
        passed: result.is_ok(),
        message: result.err().unwrap_or_default(),
        transcript: t.events(),
        notes: t.notes(),
    }
}

/// Runs one probe by name (wasm32-wasip2 only: probes have no native twin).
#[cfg(target_os = "wasi")]
pub(crate) fn run_probe(name: &str) -> Outcome {
    let t = Transcript::new();
    let result = probes::run(name, &t);
    Outcome {
        passed: result.is_ok(),
        message: result.err().unwrap_or_default(),
        transcript: t.events(),
        notes: t.notes(),
    }
}

fn run_by_name(name: &str, t: &Transcript) -> Result<(), String> {
    macro_rules! arm {
        ($n:ident) => {
            if name == stringify!($n) {
                return cases::$n(t);
            }
        };
    }
    foreach_case!(arm);
    Err(format!("unknown case `{name}`"))
}

/// Fails with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Fails unless the two values are equal, printing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(format!("{}: {:?} != {:?}", format!($($msg)+), l, r));
        }
    }};
}

/// Turns any displayable error into the case's `String` error, with context.
pub trait Context<T> {
    /// Adds `what` to the error message.
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Runs `body` on a fresh loop with `wasio::run` and flattens the two error layers.
pub fn block<F>(body: F) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), String>> + 'static,
{
    wasio::run(body).ctx("wasio::run")?
}

/// Awaits `fut` for at most `limit`; `Err` naming `what` if the limit is hit first. Unlike
/// `wasio::timeout`, the limit is checked *before* the future is polled again, so a future
/// that only makes progress because the limit's timer woke its task still fails: a lost
/// wake-up cannot pass for a slow one.
pub async fn within<F: std::future::Future>(
    limit: std::time::Duration,
    what: &str,
    fut: F,
) -> Result<F::Output, String> {
    let mut fut = std::pin::pin!(fut);
    let mut deadline = std::pin::pin!(wasio::sleep(limit));
    std::future::poll_fn(|cx| {
        if deadline.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Err(format!("{what}: not done within {limit:?}")));
        }
        fut.as_mut().poll(cx).map(Ok)
    })
    .await
}

/// A fresh path for a scratch file: in `WASIO_SCRATCH_DIR` (the host preopens one for every
/// case in wasmtime), else in the system's temporary directory.
pub fn scratch_file(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::var_os("WASIO_SCRATCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("wasio-{name}-{nanos}-{n}"))
}

/// The kind of an I/O error, as transcripts record it (the same in both worlds).
pub fn kind(e: &std::io::Error) -> String {
    format!("{:?}", e.kind())
}

/// A callback that stops `lp`.
pub fn stopper(lp: &wasio::EventLoop) -> impl FnOnce() + 'static {
    let lp = lp.clone();
    move || lp.stop()
}

/// A new event loop, or the case's error.
pub fn new_loop() -> Result<wasio::EventLoop, String> {
    wasio::EventLoop::new().ctx("EventLoop::new")
}
