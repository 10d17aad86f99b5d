//! Subprocesses (docs/CONFORMANCE.md section 11, SUB-01..05), natively. On WASI every entry point
//! is `Unsupported` (divergence `subprocess`, probe `div_no_subprocess`).
//!
//! The tests count descriptors and look for zombies in `/proc`, so they run one at a time
//! (`serial()`). `process_fallback.rs` runs the same checks without pidfds.

#[path = "process_common/mod.rs"]
mod common;

use common::*;

#[test]
fn sub01_invalid_arguments_are_errors_and_spawn_nothing() {
    let _g = serial();
    invalid_arguments();
}

#[test]
fn exec_form_reads_stdout_and_exit_code() {
    let _g = serial();
    exec_form();
}

#[test]
fn shell_form_gives_the_exit_code() {
    let _g = serial();
    shell_form();
}

#[test]
fn sub04_kill_terminate_and_send_signal_give_minus_the_signal() {
    let _g = serial();
    signals();
}

#[test]
fn sub04_signal_after_exit_is_ignored_then_a_lookup_error() {
    let _g = serial();
    signal_after_exit();
}

#[test]
fn sub03_concurrent_waiters_all_get_the_status() {
    let _g = serial();
    concurrent_waiters();
}

#[test]
fn sub03_wait_resolves_at_exit_with_output_still_unread() {
    let _g = serial();
    wait_before_reading();
}

#[test]
fn stdin_to_stdout_round_trip_through_cat() {
    let _g = serial();
    cat_round_trip();
}

#[test]
fn communicate_feeds_stdin_and_collects_both_outputs() {
    let _g = serial();
    communicate();
}

#[test]
fn ten_mib_of_output_read_slowly_arrives_intact() {
    let _g = serial();
    ten_mib_slow_reader();
}

#[test]
fn sub05_failed_spawn_is_a_clear_error_and_leaks_no_descriptor() {
    let _g = serial();
    failed_spawn();
}

#[test]
fn dropped_child_is_reaped_while_the_loop_runs() {
    let _g = serial();
    dropped_child_is_reaped();
}

#[test]
fn loop_close_kills_a_running_child_and_reaps_an_exited_one() {
    let _g = serial();
    close_kills_running_reaps_exited();
}

#[test]
fn kill_on_close_false_leaves_the_child_running_and_still_reaps_it() {
    let _g = serial();
    close_without_kill();
}

#[test]
fn run_kills_leftover_children_without_waiting_for_them() {
    let _g = serial();
    run_kills_leftovers();
}

#[test]
fn dropping_an_unclosed_loop_kills_and_reaps_its_children() {
    let _g = serial();
    dropped_loop_kills();
}

#[test]
fn exit_watchers_are_internal_tasks_that_end_with_the_child() {
    let _g = serial();
    watcher_is_internal();
}

#[test]
fn exit_is_watched_through_a_pidfd_on_linux() {
    let _g = serial();
    let (pidfds, threads) = watch_mechanism();
    assert_eq!(pidfds, 1, "one pidfd while one child runs");
    assert_eq!(threads, 0, "no waiter thread when pidfds work");
}

#[test]
fn a_wait_in_progress_is_woken_when_another_path_reaps_first() {
    let _g = serial();
    wait_woken_by_try_wait();
}

#[test]
fn a_child_spawned_in_the_last_iteration_is_ended_by_close() {
    let _g = serial();
    spawned_in_the_last_iteration();
}

#[test]
fn exit_races_leave_no_hang_no_leak_no_zombie() {
    let _g = serial();
    let n = exit_races();
    println!("exit races: {n} scenarios, 0 hangs, 0 leaks, 0 zombies");
}
