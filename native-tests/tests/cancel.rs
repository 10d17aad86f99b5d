//! The cancellation harness (`guest_tests::cancel`) and close-while-waiting for what only the
//! native backend has: child processes (`wait`, `communicate`, the pipes) and Unix sockets.
//! The shared cases `cancel_every_operation_at_every_await_point` and
//! `close_while_waiting_ends_every_waiter` cover the rest in all three worlds.

use std::rc::Rc;
use std::time::Duration;

use guest_tests::cancel::{Ended, Tally, UNSET, When, check_split, distinct, drop_after, sweep};
use wasio::net::{UnixDatagram, UnixListener, UnixStream};
use wasio::process::{Command, Stdio, returncode};

const BOUND: Duration = Duration::from_secs(10);

type Trial = std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, String>>>>;

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

async fn within<F: std::future::Future>(what: &str, f: F) -> Result<F::Output, String> {
    guest_tests::within(BOUND, what, f).await
}

/// `wait` dropped after poll k while another task waits too: both learn the status once the
/// child exits, and a later `wait` returns it again.
fn wait_trial(k: usize, when: When) -> Trial {
    Box::pin(async move {
        let mut child = sh("read x; exit 4")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdin = child.stdin.take();
        let child = Rc::new(child);
        let c = child.clone();
        let other = wasio::spawn(async move { c.wait().await.map(|s| returncode(&s)) });
        wasio::yield_now().await;
        let closer = wasio::spawn(async move {
            wasio::yield_now().await;
            drop(stdin);
        });
        let done = match drop_after(child.wait(), k, when).await {
            Ended::Done(r, _) => {
                let code = returncode(&r.map_err(|e| format!("wait: {e}"))?);
                if code != 4 {
                    return Err(format!("wait gave {code}"));
                }
                true
            }
            Ended::Dropped(_) => false,
        };
        closer.await.map_err(|e| format!("closer: {e}"))?;
        let theirs = within("the other waiter", other)
            .await?
            .map_err(|e| format!("task: {e}"))?
            .map_err(|e| format!("other wait: {e}"))?;
        let again = within("a later wait", child.wait())
            .await?
            .map_err(|e| format!("wait again: {e}"))?;
        if theirs != 4 || returncode(&again) != 4 {
            return Err(format!("statuses {theirs} and {}", returncode(&again)));
        }
        Ok(done)
    })
}

/// `communicate` dropped after poll k: the pipes it took go with it (the child sees end of
/// input), and the child is still reaped with its status.
fn communicate_trial(k: usize, when: When) -> Trial {
    Box::pin(async move {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let input = vec![7u8; 200_000];
        let done = match drop_after(child.communicate(Some(&input)), k, when).await {
            Ended::Done(r, _) => {
                let out = r.map_err(|e| format!("communicate: {e}"))?;
                if out.stdout != input {
                    return Err(format!("cat echoed {} bytes", out.stdout.len()));
                }
                true
            }
            Ended::Dropped(_) => false,
        };
        // Never polled, the pipes are still the child's to close: drop them.
        drop(child.stdin.take());
        drop(child.stdout.take());
        let status = within("wait after communicate", child.wait())
            .await?
            .map_err(|e| format!("wait: {e}"))?;
        if !done && status.code().is_none() && status.signal_or_none().is_none() {
            return Err(format!("odd status {status:?}"));
        }
        Ok(done)
    })
}

trait SignalOrNone {
    fn signal_or_none(&self) -> Option<i32>;
}

impl SignalOrNone for std::process::ExitStatus {
    fn signal_or_none(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(self)
    }
}

/// A read of the child's stdout dropped after poll k: every byte arrives exactly once (the
/// dropped read's, then the follow-up's).
fn stdout_trial(exact: bool, k: usize, when: When) -> Trial {
    Box::pin(async move {
        let sent = distinct(1, 60);
        let script = "printf '\\001\\002\\003\\004\\005\\006\\007\\010\\011\\012'; read x; cat";
        let mut child = sh(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // The rest comes through `cat` once the script read its line.
        let rest_of_sent = sent[10..].to_vec();
        let feeder = wasio::spawn(async move {
            for _ in 0..3 {
                wasio::yield_now().await;
            }
            stdin.write_all(b"go\n").await?;
            stdin.write_all(&rest_of_sent).await?;
            stdin.close().await
        });
        let mut buf = [UNSET; 60];
        let mut vec = Vec::new();
        let (mine, done) = if exact {
            let ended = drop_after(stdout.read_exact(&mut buf[..30]), k, when).await;
            let filled = buf.iter().position(|&x| x == UNSET).unwrap_or(buf.len());
            (buf[..filled].to_vec(), ended.is_done())
        } else {
            let ended = drop_after(stdout.read_to_end(&mut vec), k, when).await;
            (vec.clone(), ended.is_done())
        };
        within("the feeder", feeder)
            .await?
            .map_err(|e| format!("task: {e}"))?
            .map_err(|e| format!("feed: {e}"))?;
        let mut rest = Vec::new();
        within("the follow-up read", stdout.read_to_end(&mut rest))
            .await?
            .map_err(|e| format!("read: {e}"))?;
        check_split(&sent, &[&mine, &rest])?;
        within("wait", child.wait())
            .await?
            .map_err(|e| format!("wait: {e}"))?;
        Ok(done)
    })
}

/// A `write_all` to the child's stdin dropped after poll k: `cat` echoes a prefix of the data,
/// then what the next write sends.
fn stdin_trial(k: usize, when: When) -> Trial {
    Box::pin(async move {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, std::io::Error>(got);
                }
                got.extend_from_slice(&buf[..n]);
                wasio::yield_now().await;
            }
        });
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let done = drop_after(stdin.write_all(&data), k, when).await.is_done();
        within("the follow-up write", stdin.write_all(b"--marker--"))
            .await?
            .map_err(|e| format!("write: {e}"))?;
        stdin.close().await.map_err(|e| format!("close: {e}"))?;
        let got = within("cat's output", reader)
            .await?
            .map_err(|e| format!("task: {e}"))?
            .map_err(|e| format!("read: {e}"))?;
        let body = got
            .strip_suffix(b"--marker--")
            .ok_or("the follow-up write did not come last")?;
        if !data.starts_with(body) || (done && body.len() != data.len()) {
            return Err(format!("cat echoed {} bytes, not a prefix", body.len()));
        }
        within("wait", child.wait())
            .await?
            .map_err(|e| format!("wait: {e}"))?;
        Ok(done)
    })
}

/// A Unix stream read dropped after poll k while the peer writes in stages.
fn unix_read_trial(k: usize, when: When) -> Trial {
    Box::pin(async move {
        let (a, b) = UnixStream::pair().map_err(|e| format!("pair: {e}"))?;
        let sent = distinct(1, 60);
        let chunks: Vec<Vec<u8>> = sent.chunks(20).map(<[u8]>::to_vec).collect();
        let writer = wasio::spawn(async move {
            for c in chunks {
                wasio::yield_now().await;
                a.write_all(&c).await?;
            }
            a.shutdown_write().await
        });
        let mut vec = Vec::new();
        let done = drop_after(b.read_to_end(&mut vec), k, when).await.is_done();
        within("writer", writer)
            .await?
            .map_err(|e| format!("task: {e}"))?
            .map_err(|e| format!("write: {e}"))?;
        let mut rest = Vec::new();
        within("follow-up", b.read_to_end(&mut rest))
            .await?
            .map_err(|e| format!("read: {e}"))?;
        check_split(&sent, &[&vec, &rest])?;
        Ok(done)
    })
}

#[test]
fn native_operations_survive_a_drop_at_every_await_point() {
    let tally = wasio::run(async {
        let mut tally = Tally::default();
        sweep(&mut tally, "Child::wait", 6, &mut wait_trial).await;
        sweep(&mut tally, "Child::communicate", 12, &mut communicate_trial).await;
        sweep(&mut tally, "ChildStdout::read_exact", 8, &mut |k, w| {
            stdout_trial(true, k, w)
        })
        .await;
        sweep(&mut tally, "ChildStdout::read_to_end", 8, &mut |k, w| {
            stdout_trial(false, k, w)
        })
        .await;
        sweep(&mut tally, "ChildStdin::write_all", 12, &mut stdin_trial).await;
        sweep(
            &mut tally,
            "UnixStream::read_to_end",
            8,
            &mut unix_read_trial,
        )
        .await;
        tally
    })
    .expect("run");
    println!("native cancellation harness: {}", tally.summary());
    assert!(
        tally.violations.is_empty(),
        "{}:\n  {}",
        tally.summary(),
        tally.violations.join("\n  ")
    );
}

/// Issue 17 item 16, native sources: one task waits, another closes; the waiter ends at once
/// with the documented error.
#[test]
fn closing_a_native_source_ends_its_waiter() {
    wasio::run(async {
        let dir = std::env::temp_dir().join(format!("wasio-close-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);

        let l = Rc::new(UnixListener::bind(dir.join("l.sock")).expect("bind"));
        let l2 = l.clone();
        let accepting = wasio::spawn(async move { l2.accept().await.map(drop) });
        wasio::yield_now().await;
        l.close();
        let r = within("accept after close", accepting)
            .await
            .expect("bounded");
        assert_eq!(
            r.expect("task").expect_err("accept").kind(),
            std::io::ErrorKind::NotConnected
        );
        assert!(!dir.join("l.sock").exists(), "the path goes with the close");

        let d = Rc::new(UnixDatagram::bind(dir.join("d.sock")).expect("bind"));
        let d2 = d.clone();
        let receiving = wasio::spawn(async move {
            let mut buf = [0u8; 4];
            d2.recv(&mut buf).await.map(drop)
        });
        wasio::yield_now().await;
        d.close();
        let r = within("recv after close", receiving)
            .await
            .expect("bounded");
        assert_eq!(
            r.expect("task").expect_err("recv").kind(),
            std::io::ErrorKind::NotConnected
        );

        // A write to a child's stdin waiting for room (the child reads nothing), closed by
        // another task: the writer fails with BrokenPipe at once.
        let mut child = sh("exec sleep 30")
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdin = Rc::new(child.stdin.take().expect("stdin"));
        let s2 = stdin.clone();
        let writing = wasio::spawn(async move { s2.write_all(&vec![0u8; 1 << 20]).await });
        for _ in 0..100 {
            wasio::yield_now().await;
        }
        assert!(!writing.is_finished(), "1 MiB fitted in the pipe");
        stdin.close().await.expect("close");
        let r = within("write after close", writing).await.expect("bounded");
        assert_eq!(
            r.expect("task").expect_err("write").kind(),
            std::io::ErrorKind::BrokenPipe
        );
        child.kill().expect("kill");
        child.wait().await.expect("wait");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .expect("run");
}
