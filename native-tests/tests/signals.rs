//! Signals natively (asyncio `add_signal_handler` / `remove_signal_handler`, tokio-style
//! `ctrl_c`). On WASI every entry point is `Unsupported` (divergence `signals`). Each test
//! that lets a signal reach its default action runs in a child process of its own.

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use wasio::signal::SIGINT;

fn raise(sig: i32) {
    // SAFETY: kill with our own pid and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(libc::getpid(), sig) };
    assert_eq!(rc, 0, "kill");
}

/// Runs this test binary's `name` (an ignored child test) with `--nocapture`.
fn child(name: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child")
}

#[test]
fn a_handler_runs_as_a_callback_each_time_its_signal_arrives() {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    wasio::run(async move {
        let lp = wasio::current();
        lp.add_signal_handler(libc::SIGUSR2, move || c.set(c.get() + 1))
            .expect("add");
        for n in 1..=3 {
            raise(libc::SIGUSR2);
            // Delivered within a few iterations: the watcher reads the pipe, then the
            // handler runs as a callback.
            wasio::timeout(Duration::from_secs(10), async {
                while count.get() < n {
                    wasio::sleep(Duration::from_millis(1)).await;
                }
            })
            .await
            .expect("the handler ran");
        }
        // A new handler replaces the old one.
        let second = Rc::new(Cell::new(false));
        let s = second.clone();
        lp.add_signal_handler(libc::SIGUSR2, move || s.set(true))
            .expect("replace");
        raise(libc::SIGUSR2);
        wasio::timeout(Duration::from_secs(10), async {
            while !second.get() {
                wasio::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the new handler ran");
        assert_eq!(count.get(), 3, "the old handler ran again");
        assert!(lp.remove_signal_handler(libc::SIGUSR2));
        assert!(!lp.remove_signal_handler(libc::SIGUSR2), "already removed");
    })
    .expect("run");
}

#[test]
fn invalid_and_uncatchable_signals_are_refused() {
    wasio::run(async {
        let lp = wasio::current();
        for sig in [0, 9999, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
            let e = lp.add_signal_handler(sig, || ()).expect_err("refused");
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{sig}: {e}");
        }
    })
    .expect("run");
}

#[test]
fn a_failing_handler_is_reported_to_the_exception_handler() {
    let reports = Rc::new(Cell::new(0));
    let r = reports.clone();
    wasio::run(async move {
        let lp = wasio::current();
        lp.set_exception_handler(move |_, _| r.set(r.get() + 1));
        lp.add_signal_handler(libc::SIGWINCH, || Err::<(), _>("handler failed"))
            .expect("add");
        raise(libc::SIGWINCH);
        wasio::timeout(Duration::from_secs(10), async {
            while reports.get() == 0 {
                wasio::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("reported");
        lp.remove_signal_handler(libc::SIGWINCH);
    })
    .expect("run");
}

/// Child: handles SIGUSR1, removes the handler, closes the loop, then raises SIGUSR1 itself:
/// the default action (termination) must be back.
#[test]
#[ignore = "run by a_removed_handler_gives_the_default_action_back, in a child process"]
fn child_default_after_remove() {
    wasio::run(async {
        let lp = wasio::current();
        lp.add_signal_handler(libc::SIGUSR1, || ()).expect("add");
        assert!(lp.remove_signal_handler(libc::SIGUSR1));
    })
    .expect("run");
    raise(libc::SIGUSR1);
    std::thread::sleep(Duration::from_secs(5));
    println!("survived SIGUSR1");
}

#[test]
fn a_removed_handler_gives_the_default_action_back() {
    let out = child("child_default_after_remove")
        .wait_with_output()
        .expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGUSR1),
        "the child was not ended by SIGUSR1: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Child: waits for Ctrl-C, then says so and ends normally.
#[test]
#[ignore = "run by ctrl_c_completes_on_sigint_instead_of_ending_the_process, in a child process"]
fn child_ctrl_c() {
    wasio::run(async {
        let sig = wasio::signal::ctrl_c();
        let mut sig = std::pin::pin!(sig);
        // Listening from the first poll on.
        assert!(futures_poll_once(sig.as_mut()).is_pending());
        println!("ready");
        sig.await.expect("ctrl_c");
        println!("got ctrl-c");
    })
    .expect("run");
}

fn futures_poll_once<F: std::future::Future>(
    f: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn ctrl_c_completes_on_sigint_instead_of_ending_the_process() {
    let mut c = child("child_ctrl_c");
    let stdout = c.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("the child's output").expect("utf-8");
        if line.contains("ready") {
            break;
        }
    }
    // SAFETY: kill with the child's pid and SIGINT.
    let rc = unsafe { libc::kill(c.id() as libc::pid_t, SIGINT) };
    assert_eq!(rc, 0);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = c.wait().expect("wait");
    assert!(status.success(), "{status:?} {rest:?}");
    assert!(rest.iter().any(|l| l.contains("got ctrl-c")), "{rest:?}");
}
