//! The subprocess checks of `process.rs` with the exit watched by a waiter thread per child
//! instead of a pidfd (`WASIO_NO_PIDFD`): the fallback for kernels and sandboxes without
//! `pidfd_open`.
//!
//! The variable is set by the first test to take the lock, before any child is spawned, and
//! only tests of this file run in this process.

#[path = "process_common/mod.rs"]
mod common;

use std::sync::MutexGuard;

use common::*;

fn fallback() -> MutexGuard<'static, ()> {
    let g = serial();
    // SAFETY: every test of this binary sets the variable under the lock before doing
    // anything else, so no other thread reads the environment meanwhile.
    unsafe { std::env::set_var("WASIO_NO_PIDFD", "1") };
    g
}

#[test]
fn exit_is_watched_by_a_thread_without_pidfd() {
    let _g = fallback();
    let (pidfds, threads) = watch_mechanism();
    assert_eq!(pidfds, 0, "no pidfd with WASIO_NO_PIDFD set");
    assert_eq!(threads, 1, "one waiter thread while one child runs");
}

#[test]
fn fallback_exit_codes_and_signals() {
    let _g = fallback();
    shell_form();
    signals();
    signal_after_exit();
}

#[test]
fn fallback_concurrent_waiters_and_pipes() {
    let _g = fallback();
    concurrent_waiters();
    cat_round_trip();
    wait_before_reading();
}

#[test]
fn fallback_no_zombie_and_loop_close() {
    let _g = fallback();
    dropped_child_is_reaped();
    close_kills_running_reaps_exited();
    close_without_kill();
    run_kills_leftovers();
    dropped_loop_kills();
}

#[test]
fn fallback_failed_spawn_leaks_nothing() {
    let _g = fallback();
    failed_spawn();
}

#[test]
fn a_wait_in_progress_is_woken_when_another_path_reaps_first() {
    let _g = fallback();
    wait_woken_by_try_wait();
}

#[test]
fn a_child_spawned_in_the_last_iteration_is_ended_by_close() {
    let _g = fallback();
    spawned_in_the_last_iteration();
}

#[test]
fn exit_races_leave_no_hang_no_leak_no_zombie() {
    let _g = fallback();
    let n = exit_races();
    println!("exit races (waiter threads): {n} scenarios, 0 hangs, 0 leaks, 0 zombies");
}
