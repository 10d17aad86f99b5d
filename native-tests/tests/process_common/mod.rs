//! The subprocess checks shared by `process.rs` (pidfd) and `process_fallback.rs` (waiter
//! threads). Each runs its own loop and panics with a message on failure.

#![allow(dead_code, reason = "each test binary uses its own subset")]

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wasio::EventLoop;
use wasio::process::{
    Child, Command, ProcessOptions, Stdio, returncode, subprocess_exec, subprocess_shell,
};

/// One test at a time: descriptor counts and `/proc` must not see another test's children.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state letter of `pid` in `/proc` (`Z`: zombie), or `None` once it is gone (reaped).
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits (blocking, outside any loop) until `pid` is in `state` (`None`: gone), or panics.
pub fn wait_proc_state(pid: u32, state: Option<char>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_state(pid) != state {
        assert!(
            Instant::now() < deadline,
            "{what}: pid {pid} is in state {:?}, expected {state:?}",
            proc_state(pid)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits on the running loop until `pid` is gone from `/proc` (reaped), or panics.
pub async fn reaped_within(pid: u32, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while proc_state(pid).is_some() {
        assert!(
            Instant::now() < deadline,
            "{what}: pid {pid} was not reaped (state {:?})",
            proc_state(pid)
        );
        wasio::sleep(Duration::from_millis(5)).await;
    }
}

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Descriptors of this process that are pidfds.
pub fn pidfd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("[pidfd]"))
        })
        .count()
}

/// Threads of this process named `wasio-exit-*` (the fallback's waiter threads).
pub fn waiter_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| c.starts_with("wasio-exit-"))
        })
        .count()
}

fn run<F: Future + 'static>(f: F) -> F::Output
where
    F::Output: 'static,
{
    wasio::run(f).expect("wasio::run")
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

fn piped_out(script: &str) -> Command {
    let mut c = sh(script);
    c.stdout(Stdio::piped());
    c
}

// ===== SUB-01 =====

pub fn invalid_arguments() {
    no_waiter_threads();
    run(async {
        let fds = fd_count();
        let cases: Vec<(&str, io::Result<Child>)> = vec![
            ("empty program", Command::new("").spawn()),
            ("NUL in program", Command::new("ec\0ho").spawn()),
            (
                "NUL in an argument",
                Command::new("echo").arg("a\0b").spawn(),
            ),
            ("empty env name", Command::new("true").env("", "x").spawn()),
            (
                "'=' in env name",
                Command::new("true").env("A=B", "x").spawn(),
            ),
            (
                "NUL in env value",
                Command::new("true").env("A", "x\0").spawn(),
            ),
            (
                "NUL in current_dir",
                Command::new("true").current_dir("/t\0mp").spawn(),
            ),
            (
                "exec: empty program",
                subprocess_exec("", ["x"], ProcessOptions::new()).await,
            ),
            (
                "exec: NUL in an argument",
                subprocess_exec("echo", ["a\0"], ProcessOptions::new()).await,
            ),
            (
                "exec: NUL in env",
                subprocess_exec(
                    "true",
                    [] as [&str; 0],
                    ProcessOptions::new().env("A\0", "1"),
                )
                .await,
            ),
            (
                "shell: empty cmd",
                subprocess_shell("", ProcessOptions::new()).await,
            ),
            (
                "shell: NUL in cmd",
                subprocess_shell("echo \0", ProcessOptions::new()).await,
            ),
        ];
        for (what, res) in cases {
            match res {
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}"),
                Ok(c) => panic!("{what}: spawned pid {}", c.id()),
            }
        }
        assert_eq!(fd_count(), fds, "a refused spawn opened descriptors");
        assert_eq!(
            wasio::current().stats().internal_tasks,
            0,
            "a refused spawn started a watcher"
        );
    });
}

// ===== exec and shell forms, exit codes =====

pub fn exec_form() {
    run(async {
        let child = subprocess_exec(
            "echo",
            ["hello", "world"],
            ProcessOptions::new().stdout(Stdio::piped()),
        )
        .await
        .expect("spawn echo");
        assert!(child.stdin.is_none() && child.stderr.is_none());
        let mut out = Vec::new();
        child
            .stdout
            .as_ref()
            .expect("stdout piped")
            .read_to_end(&mut out)
            .await
            .expect("read");
        assert_eq!(out, b"hello world\n");
        let status = child.wait().await.expect("wait");
        assert!(status.success());
        assert_eq!(child.returncode(), Some(0));

        // Environment and working directory reach the child.
        let mut c = Command::new("sh");
        c.args(["-c", "printf '%s %s' \"$WASIO_T\" \"$(pwd)\""])
            .env("WASIO_T", "v1")
            .current_dir("/")
            .stdout(Stdio::piped());
        let mut c = c.spawn().expect("spawn");
        let out = c.communicate(None).await.expect("communicate");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 /");
    });
}

pub fn shell_form() {
    run(async {
        let child = subprocess_shell("exit 7", ProcessOptions::new())
            .await
            .expect("spawn");
        let status = child.wait().await.expect("wait");
        assert_eq!(status.code(), Some(7));
        assert_eq!(returncode(&status), 7);
        assert_eq!(child.returncode(), Some(7));

        let mut child = subprocess_shell(
            "echo out; echo err >&2; exit 3",
            ProcessOptions::new()
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .await
        .expect("spawn");
        let out = child.communicate(None).await.expect("communicate");
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    });
}

// ===== SUB-04 =====

pub fn signals() {
    run(async {
        for (what, sig, expect) in [
            ("kill", libc::SIGKILL, -9),
            ("terminate", libc::SIGTERM, -15),
            // SIGUSR1, not SIGHUP: a test run under `nohup` (or any parent that ignores
            // SIGHUP) hands that disposition to the child, which would then sleep on.
            ("send_signal(SIGUSR1)", libc::SIGUSR1, -libc::SIGUSR1),
        ] {
            let child = Command::new("sleep").arg("30").spawn().expect("spawn");
            match what {
                "kill" => child.kill(),
                "terminate" => child.terminate(),
                _ => child.send_signal(sig),
            }
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            let status = child.wait().await.expect("wait");
            assert_eq!(returncode(&status), expect, "{what}: {status:?}");
            assert_eq!(child.returncode(), Some(expect), "{what}");
            assert_eq!(status.code(), None, "{what}: no exit code");
        }
    });
}

pub fn signal_after_exit() {
    run(async {
        let child = sh("exit 0").spawn().expect("spawn");
        // The loop's watcher records the exit; `wait` has not collected it yet.
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.returncode().is_none() {
            assert!(Instant::now() < deadline, "exit never recorded");
            wasio::sleep(Duration::from_millis(2)).await;
        }
        child
            .send_signal(libc::SIGHUP)
            .expect("a signal after exit is ignored");
        child.kill().expect("kill after exit is ignored");
        let status = child.wait().await.expect("wait");
        assert_eq!(
            status.code(),
            Some(0),
            "the ignored signals changed nothing"
        );
        let err = child.send_signal(libc::SIGHUP).expect_err("collected");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("ProcessLookupError"), "{err}");
        assert!(child.terminate().is_err());

        // A child that exited but that the loop has not seen yet: the signal reaps it instead.
        let child = sh("exit 5").spawn().expect("spawn");
        wait_proc_state(child.id(), Some('Z'), "exited child");
        child.kill().expect("kill of an exited child is ignored");
        assert_eq!(child.wait().await.expect("wait").code(), Some(5));
    });
}

// ===== SUB-03 =====

pub fn concurrent_waiters() {
    run(async {
        let child = Rc::new(sh("sleep 0.1; exit 5").spawn().expect("spawn"));
        let mut waiters = Vec::new();
        for _ in 0..3 {
            let c = child.clone();
            waiters.push(wasio::spawn(
                async move { c.wait().await.map(|s| s.code()) },
            ));
        }
        let direct = child.wait().await.expect("wait").code();
        assert_eq!(direct, Some(5));
        for w in waiters {
            assert_eq!(w.await.expect("task").expect("wait"), Some(5));
        }
        // And every later call.
        assert_eq!(child.wait().await.expect("wait again").code(), Some(5));
        assert_eq!(
            child.try_wait().expect("try_wait").map(|s| s.code()),
            Some(Some(5))
        );
    });
}

pub fn wait_before_reading() {
    run(async {
        let child = piped_out("echo data; exit 4").spawn().expect("spawn");
        assert_eq!(child.wait().await.expect("wait").code(), Some(4));
        let mut out = Vec::new();
        child
            .stdout
            .as_ref()
            .expect("stdout")
            .read_to_end(&mut out)
            .await
            .expect("read after exit");
        assert_eq!(out, b"data\n");

        let child = sh("sleep 0.05").spawn().expect("spawn");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "still running"
        );
        assert!(child.wait().await.expect("wait").success());
    });
}

// ===== pipes =====

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

pub fn cat_round_trip() {
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn cat");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let data = pattern(1 << 20);
        let expect = data.clone();
        let writer = wasio::spawn(async move {
            for chunk in data.chunks(10_000) {
                stdin.write_all(chunk).await?;
            }
            stdin.close().await?;
            let err = stdin.write(b"x").await.expect_err("write after close");
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
            io::Result::Ok(())
        });
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.expect("read");
        writer.await.expect("writer task").expect("write");
        assert_eq!(out.len(), expect.len());
        assert!(out == expect, "cat changed the bytes");
        assert!(child.wait().await.expect("wait").success());
    });
}

pub fn communicate() {
    run(async {
        let mut child = sh("cat; echo done >&2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let input = pattern(300_000);
        let out = child.communicate(Some(&input)).await.expect("communicate");
        assert!(out.stdout == input, "stdout differs from the input");
        assert_eq!(out.stderr, b"done\n");
        assert!(out.status.success());

        // A child that does not read its input: BrokenPipe is no error.
        let mut child = sh("exit 2").stdin(Stdio::piped()).spawn().expect("spawn");
        let out = child
            .communicate(Some(&pattern(1 << 20)))
            .await
            .expect("communicate with a child that reads nothing");
        assert_eq!(out.status.code(), Some(2));
    });
}

pub fn ten_mib_slow_reader() {
    const TOTAL: usize = 10 * 1024 * 1024;
    const LINE: &[u8] = b"0123456789abcdef\n";
    run(async {
        let child = piped_out(&format!("yes 0123456789abcdef | head -c {TOTAL}"))
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.as_ref().expect("stdout");
        let mut buf = [0u8; 1000];
        let (mut total, mut reads) = (0usize, 0u64);
        loop {
            let n = stdout.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                let at = total + i;
                assert_eq!(*b, LINE[at % LINE.len()], "byte {at} is wrong");
            }
            total += n;
            reads += 1;
            // A slow reader: the child fills the pipe and blocks between our reads.
            wasio::yield_now().await;
            if reads % 512 == 0 {
                wasio::sleep(Duration::from_millis(1)).await;
            }
        }
        assert_eq!(total, TOTAL, "every byte arrives");
        assert!(child.wait().await.expect("wait").success());
    });
}

// ===== SUB-05 =====

/// Waits until the waiter threads of earlier children have ended (each holds a descriptor
/// until its child exits).
fn no_waiter_threads() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while waiter_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "waiter threads outlive their children"
        );
        std::thread::yield_now();
    }
}

pub fn failed_spawn() {
    no_waiter_threads();
    run(async {
        let fds = fd_count();
        for piped in [false, true] {
            let mut cmd = Command::new("/nonexistent/wasio-no-such-program");
            if piped {
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
            }
            let err = cmd.spawn().expect_err("spawning a missing program");
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains("wasio-no-such-program") && msg.contains("failed to spawn"),
                "the error names the program: {msg}"
            );
        }
        let err = subprocess_exec("wasio-no-such-program", ["a"], ProcessOptions::new())
            .await
            .expect_err("not in PATH");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        // Not executable: a directory.
        let err = Command::new("/").spawn().expect_err("a directory");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert_eq!(fd_count(), fds, "a failed spawn leaked descriptors");
        assert_eq!(wasio::current().stats().internal_tasks, 0);
        // No child is left: std reaped the failed ones.
        // SAFETY: waitpid with a null status pointer and WNOHANG only queries.
        let rc = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(rc, -1, "a child of a failed spawn is left");
    });
}

// ===== no zombie, loop close =====

pub fn dropped_child_is_reaped() {
    no_waiter_threads();
    run(async {
        let fds = fd_count();
        let exited = sh("exit 0").stdout(Stdio::piped()).spawn().expect("spawn");
        let running = sh("sleep 0.2").spawn().expect("spawn");
        let (a, b) = (exited.id(), running.id());
        drop(exited);
        drop(running);
        reaped_within(a, Duration::from_secs(10), "child dropped at once").await;
        assert!(
            matches!(proc_state(b), Some(s) if s != 'Z'),
            "dropping does not kill"
        );
        reaped_within(b, Duration::from_secs(10), "child dropped while running").await;
        // The watchers reaped them, so they are gone, and with them every descriptor.
        assert_eq!(wasio::current().stats().internal_tasks, 0);
        assert_eq!(
            fd_count(),
            fds,
            "descriptors left after the children were reaped"
        );
    });
}

pub fn close_kills_running_reaps_exited() {
    let lp = EventLoop::new().expect("loop");
    let (running, mut exited) = lp
        .run_until_complete(async {
            let running = Command::new("sleep").arg("30").spawn().expect("spawn");
            // Exits when its stdin closes, which happens once the loop has stopped.
            let exited = sh("read x; exit 3")
                .stdin(Stdio::piped())
                .spawn()
                .expect("spawn");
            (running, exited)
        })
        .expect("run");
    drop(exited.stdin.take());
    // Nothing reaps while the loop is not running: the exited child stays a zombie until
    // the loop closes.
    wait_proc_state(exited.id(), Some('Z'), "exited child before close");
    assert!(
        matches!(proc_state(running.id()), Some(s) if s != 'Z'),
        "the other child runs"
    );
    let started = Instant::now();
    lp.close().expect("close");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "close waited for the child"
    );
    assert_eq!(
        proc_state(running.id()),
        None,
        "running child reaped at close"
    );
    assert_eq!(
        proc_state(exited.id()),
        None,
        "exited child reaped at close"
    );
    assert_eq!(
        running.returncode(),
        Some(-9),
        "running child killed at close"
    );
    assert_eq!(
        exited.returncode(),
        Some(3),
        "exited child keeps its own status"
    );
    // The status stays available after the loop closed.
    let status = EventLoop::new()
        .expect("loop")
        .run_until_complete(async move { running.wait().await })
        .expect("run")
        .expect("wait after close");
    assert_eq!(returncode(&status), -9);
}

pub fn close_without_kill() {
    let lp = EventLoop::new().expect("loop");
    let mut child = lp
        .run_until_complete(async {
            // Runs until its stdin closes.
            sh("read x")
                .stdin(Stdio::piped())
                .kill_on_close(false)
                .spawn()
                .expect("spawn")
        })
        .expect("run");
    let pid = child.id();
    let stdin = child.stdin.take();
    lp.close().expect("close");
    assert!(
        matches!(proc_state(pid), Some(s) if s != 'Z'),
        "left running at close: {:?}",
        proc_state(pid)
    );
    assert_eq!(child.returncode(), None);
    drop(stdin);
    // A thread reaps it when it exits: no zombie.
    wait_proc_state(pid, None, "child left running at close");
    assert!(
        child.try_wait().is_err(),
        "its status went to the reaping thread"
    );
}

pub fn run_kills_leftovers() {
    let started = Instant::now();
    let pid = wasio::run(async {
        let child = Command::new("sleep").arg("30").spawn().expect("spawn");
        let pid = child.id();
        // Held by a task that is still waiting when `run` ends.
        wasio::spawn(async move {
            let _ = child.wait().await;
        })
        .detach();
        wasio::sleep(Duration::from_millis(10)).await;
        pid
    })
    .expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "run waited for the child"
    );
    assert_eq!(
        proc_state(pid),
        None,
        "killed and reaped when run closed the loop"
    );
}

pub fn dropped_loop_kills() {
    let lp = EventLoop::new().expect("loop");
    let pid = lp
        .run_until_complete(async { Command::new("sleep").arg("30").spawn().expect("spawn").id() })
        .expect("run");
    assert!(matches!(proc_state(pid), Some(s) if s != 'Z'));
    drop(lp);
    assert_eq!(
        proc_state(pid),
        None,
        "killed and reaped when the loop was dropped"
    );
}

pub fn watcher_is_internal() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        let lp = wasio::current();
        lp.set_exception_handler(move |_, ctx| l.borrow_mut().push(ctx.message().to_string()));
        let before = lp.stats();
        let child = sh("sleep 0.05").spawn().expect("spawn");
        let during = lp.stats();
        assert_eq!(during.internal_tasks, before.internal_tasks + 1);
        assert_eq!(
            during.tasks - during.internal_tasks,
            before.tasks - before.internal_tasks,
            "the watcher is not a user task"
        );
        child.wait().await.expect("wait");
        // The exit woke the watcher too; it ends in its next step.
        for _ in 0..100 {
            if lp.stats().internal_tasks == before.internal_tasks {
                break;
            }
            wasio::yield_now().await;
        }
        assert_eq!(
            lp.stats().internal_tasks,
            before.internal_tasks,
            "watcher ended"
        );
        // One left running at the end is destroyed quietly.
        let _ = Command::new("sleep").arg("30").spawn().expect("spawn");
    });
    assert!(log.borrow().is_empty(), "reports: {:?}", log.borrow());
}

/// (pidfds, waiter threads) while one child runs.
pub fn watch_mechanism() -> (usize, usize) {
    run(async {
        let (pidfds, threads) = (pidfd_count(), waiter_threads());
        let child = Command::new("sleep").arg("30").spawn().expect("spawn");
        // A pidfd exists at once; a new thread names itself once it runs.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = (0, 0);
        while seen.0 + seen.1 == 0 && Instant::now() < deadline {
            wasio::yield_now().await;
            seen = (pidfd_count() - pidfds, waiter_threads() - threads);
        }
        child.kill().expect("kill");
        assert_eq!(returncode(&child.wait().await.expect("wait")), -9);
        seen
    })
}

// ===== exit races (issue 17 items 1, 2 and 17) =====

/// How the child ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Exits with status 3 as soon as its stdin closes (which the scenario decides).
    Short,
    /// Runs 30 s unless killed.
    Long,
}

/// The path that meets the exit, besides the loop's own watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Other {
    /// Nothing: the loop sees the exit.
    Nothing,
    /// `try_wait` after the exit, before the loop saw it.
    TryWait,
    /// `kill` after the exit, before the loop saw it.
    KillAfterExit,
    /// `send_signal(SIGTERM)` after the exit, before the loop saw it.
    SignalAfterExit,
    /// `kill` while the child runs (the exit follows).
    KillRunning,
}

/// How the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Every waiter is awaited.
    Awaited,
    /// `stop` once the other path ran, then `close`, waiters still pending.
    StopThenClose,
}

/// One scenario: spawn, `waiters` tasks in `wait`, the other path, the end. Panics on a
/// waiter that hangs, a leaked watcher or slot, or a zombie.
fn exit_race(life: Life, waiters: usize, other: Other, end: End) {
    let what = format!("{life:?} child, {waiters} waiter(s), {other:?}, {end:?}");
    let lp = EventLoop::new().expect("loop");
    let before = lp.stats();
    let outcome: Rc<RefCell<Vec<io::Result<i32>>>> = Rc::default();
    let pid = lp
        .run_until_complete({
            let outcome = outcome.clone();
            let lp2 = lp.clone();
            let what = what.clone();
            async move {
                let script = match life {
                    Life::Short => "read x; exit 3",
                    Life::Long => "exec sleep 30",
                };
                let mut child = sh(script).stdin(Stdio::piped()).spawn().expect("spawn");
                let stdin = child.stdin.take();
                let child = Rc::new(child);
                let pid = child.id();
                let mut handles = Vec::new();
                for _ in 0..waiters {
                    let (c, out) = (child.clone(), outcome.clone());
                    handles.push(wasio::spawn(async move {
                        let r = c.wait().await.map(|s| returncode(&s));
                        out.borrow_mut().push(r);
                    }));
                }
                // The waiters park first; then the short child may exit.
                wasio::yield_now().await;
                drop(stdin);
                if matches!(
                    other,
                    Other::TryWait | Other::KillAfterExit | Other::SignalAfterExit
                ) {
                    // Block the loop until the child is a zombie: it has exited, and the loop
                    // has not looked since.
                    wait_proc_state(pid, Some('Z'), &what);
                }
                match other {
                    Other::Nothing => {}
                    Other::TryWait => {
                        let st = child.try_wait().expect("try_wait").expect("exited");
                        assert_eq!(returncode(&st), 3, "{what}");
                    }
                    Other::KillAfterExit | Other::KillRunning => child.kill().expect("kill"),
                    Other::SignalAfterExit => child.terminate().expect("terminate"),
                }
                match end {
                    End::Awaited => {
                        for h in handles {
                            wasio::timeout(Duration::from_secs(10), h)
                                .await
                                .unwrap_or_else(|_| panic!("{what}: a waiter hangs"))
                                .expect("waiter task");
                        }
                        let st = wasio::timeout(Duration::from_secs(10), child.wait())
                            .await
                            .unwrap_or_else(|_| panic!("{what}: wait hangs"))
                            .expect("wait");
                        let want = if life == Life::Short { 3 } else { -9 };
                        assert_eq!(returncode(&st), want, "{what}");
                        for r in outcome.borrow().iter() {
                            assert_eq!(r.as_ref().ok(), Some(&want), "{what}: {r:?}");
                        }
                        // The watcher ends in its next step; its slot went with the exit.
                        for _ in 0..100 {
                            if lp2.stats().internal_tasks == before.internal_tasks {
                                break;
                            }
                            wasio::yield_now().await;
                        }
                        let now = lp2.stats();
                        assert_eq!(
                            now.internal_tasks, before.internal_tasks,
                            "{what}: the watcher task leaked"
                        );
                        assert_eq!(
                            now.io_sources, before.io_sources,
                            "{what}: the exit watch's slot leaked"
                        );
                    }
                    End::StopThenClose => {
                        for h in handles {
                            h.detach();
                        }
                    }
                }
                pid
            }
        })
        .expect("run");
    lp.close().expect("close");
    assert_eq!(proc_state(pid), None, "{what}: a zombie or a survivor");
}

/// Every order of exit, reap by another path, waiters and the end of the loop (issue 17
/// item 17); returns the number of scenarios.
pub fn exit_races() -> usize {
    let mut n = 0;
    for life in [Life::Short, Life::Long] {
        let others: &[Other] = match life {
            Life::Short => &[
                Other::Nothing,
                Other::TryWait,
                Other::KillAfterExit,
                Other::SignalAfterExit,
            ],
            Life::Long => &[Other::KillRunning],
        };
        for &other in others {
            for waiters in 0..=3 {
                for end in [End::Awaited, End::StopThenClose] {
                    exit_race(life, waiters, other, end);
                    n += 1;
                }
            }
        }
    }
    n
}

/// Issue 17 item 1: a `wait` in progress is woken when `try_wait` reaps the child first.
pub fn wait_woken_by_try_wait() {
    exit_race(Life::Short, 1, Other::TryWait, End::Awaited);
    exit_race(Life::Short, 2, Other::KillAfterExit, End::Awaited);
}

/// Issue 17 item 2: a child spawned by a plain callback in the loop's last iteration (its
/// watcher never polled) is killed and reaped by `close`, with or without `kill_on_close`.
pub fn spawned_in_the_last_iteration() {
    for kill in [true, false] {
        let lp = EventLoop::new().expect("loop");
        let pid = Rc::new(std::cell::Cell::new(0));
        let (p, l) = (pid.clone(), lp.clone());
        lp.call_soon(move || {
            let script = if kill { "exec sleep 30" } else { "exit 0" };
            let child = sh(script).kill_on_close(kill).spawn().expect("spawn");
            p.set(child.id());
            l.stop();
        })
        .expect("call_soon");
        lp.run_forever().expect("run_forever");
        lp.close().expect("close");
        let pid = pid.get();
        assert_ne!(pid, 0);
        if kill {
            assert_eq!(proc_state(pid), None, "killed and reaped at close");
        } else {
            // Left running (it exits at once): a thread reaps it, no zombie stays.
            wait_proc_state(pid, None, "child left to exit after close");
        }
    }
    // The same through `wasio::run` when the spawning callback is fatal.
    let pid = Rc::new(std::cell::Cell::new(0));
    let p = pid.clone();
    let res = wasio::run(async move {
        let lp = wasio::current();
        lp.call_soon(move || {
            let child = sh("exec sleep 30").spawn().expect("spawn");
            p.set(child.id());
            Err::<(), _>(wasio::Fatal::new("stop everything"))
        })
        .expect("call_soon");
        wasio::sleep(Duration::from_secs(60)).await;
    });
    assert!(res.is_err_and(|e| e.is_fatal()));
    assert_eq!(
        proc_state(pid.get()),
        None,
        "killed and reaped after a Fatal"
    );
}
