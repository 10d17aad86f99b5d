//! The comparison of the worlds: each case natively (in a process of its own) and in wasmtime, in one
//! column per WASI build of the suite (WASI 0.2, WASI 0.3). A case agrees when every WASI
//! column agrees with native, or differs as a divergence listed for that world allows.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::divergences::{self, Divergence};
use crate::{CaseReport, Outcome, Suite, WasiVersion};

/// The line prefix before the outcome's JSON in the native runner's stdout.
const OUTCOME_MARKER: &str = "wasio-suite-outcome: ";

/// The suite's native side: the `wasio-suite-native` program (built by `host/build.rs` from
/// `native-tests` in a wasio checkout), which lists the cases and runs one per process.
#[derive(Debug, Clone)]
pub struct NativeSuite {
    runner: PathBuf,
}

impl NativeSuite {
    /// The runner at `path`.
    pub fn new(path: impl Into<PathBuf>) -> NativeSuite {
        NativeSuite {
            runner: path.into(),
        }
    }

    /// The runner built with this host, when it was built in a wasio checkout.
    pub fn built_in() -> Option<NativeSuite> {
        #[cfg(wasio_suite)]
        return Some(NativeSuite::new(crate::NATIVE_SUITE_RUNNER));
        #[cfg(not(wasio_suite))]
        None
    }

    /// The runner's path.
    pub fn path(&self) -> &Path {
        &self.runner
    }

    /// The case names, in the suite's order.
    pub fn cases(&self) -> Result<Vec<String>, String> {
        let out = Command::new(&self.runner)
            .arg("list")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.runner.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} list: {}: {}",
                self.runner.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Runs a case natively in a process of its own; a case that does not finish within
    /// `timeout` is killed and is a failure.
    pub fn run(&self, name: &str, timeout: Duration) -> (Outcome, Duration) {
        let started = Instant::now();
        let child = Command::new(&self.runner)
            .args(["run", name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                return (
                    failed(format!("cannot run {}: {e}", self.runner.display())),
                    started.elapsed(),
                );
            }
        };
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::Builder::new()
            .name(format!("native:{name}"))
            .spawn(move || {
                let _ = tx.send(child.wait_with_output());
            });
        let outcome = match waiter {
            Err(e) => failed(format!("could not start the waiting thread: {e}")),
            Ok(_) => match rx.recv_timeout(timeout) {
                Ok(Ok(out)) => parse_outcome(&out),
                Ok(Err(e)) => failed(format!("waiting for the case's process: {e}")),
                Err(_) => {
                    kill(pid);
                    failed(format!(
                        "no result within {timeout:?} (the process was killed)"
                    ))
                }
            },
        };
        (outcome, started.elapsed())
    }
}

/// Kills the runner's process (it has not been reaped: its waiting thread is still blocked).
fn kill(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, which its
    // waiting thread has not reaped yet (it would have sent the result), so it names no other
    // process.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// The outcome from the runner's output: the JSON after the marker, or a failure that says what
/// the process did instead.
fn parse_outcome(out: &std::process::Output) -> Outcome {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(json) = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(OUTCOME_MARKER))
    else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return failed(format!(
            "the native case reported no outcome ({}): {}",
            out.status,
            tail.join(" | ")
        ));
    };
    let strings = |v: &serde_json::Value, key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => Outcome {
            passed: v["passed"].as_bool().unwrap_or(false),
            message: v["message"].as_str().unwrap_or_default().to_string(),
            transcript: strings(&v, "transcript"),
            notes: strings(&v, "notes"),
        },
        Err(e) => failed(format!("the native case's outcome is not JSON: {e}")),
    }
}

fn failed(message: String) -> Outcome {
    Outcome {
        passed: false,
        message,
        transcript: Vec::new(),
        notes: Vec::new(),
    }
}

/// How a WASI run of a case relates to the native one (or, for a [`Row`], all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both passed with equal transcripts.
    Agree,
    /// They differ, as a listed divergence allows.
    Listed(String),
    /// A failure or an unlisted difference.
    Disagree(String),
}

/// One WASI column of a row: the case in one build of the suite.
#[derive(Debug, Clone)]
pub struct Column {
    /// Which build ran it.
    pub world: WasiVersion,
    /// The run.
    pub report: CaseReport,
    /// Its transcript equals the native one.
    pub same_transcript: bool,
    /// Its verdict against native.
    pub verdict: Verdict,
}

/// One row of the comparison.
#[derive(Debug, Clone)]
pub struct Row {
    /// Case name.
    pub name: String,
    /// Native outcome.
    pub native: Outcome,
    /// Native wall-clock time.
    pub native_elapsed: Duration,
    /// One column per WASI build compared, in the order the suites were given.
    pub columns: Vec<Column>,
    /// Every column's verdict together: `Disagree` if any column disagrees (the reasons, each
    /// naming its world, one per line), else `Listed` if any is a listed divergence (the ids),
    /// else `Agree`.
    pub verdict: Verdict,
}

impl Row {
    /// The column of `world`, if it was compared.
    pub fn column(&self, world: WasiVersion) -> Option<&Column> {
        self.columns.iter().find(|c| c.world == world)
    }
}

/// Judges one case in one WASI build against native.
pub fn judge(
    name: &str,
    native: &Outcome,
    wasi: &CaseReport,
    world: WasiVersion,
    list: &[Divergence],
) -> (bool, Verdict) {
    let same = wasi
        .outcome
        .as_ref()
        .is_some_and(|w| w.transcript == native.transcript);
    let listed = divergences::allowing(list, name, world);
    let verdict = if !native.passed {
        Verdict::Disagree(format!("native failed: {}", native.message))
    } else if !wasi.passed() {
        Verdict::Disagree(format!("{world} {}", wasi.explain()))
    } else if let Some(d) = listed
        && let Some(missing) = shows_missing(d, native, wasi, world)
    {
        Verdict::Disagree(missing)
    } else if !same && let Some(d) = listed {
        // A listed divergence allows the transcripts to differ; both sides must still pass,
        // and show what the divergence says each world shows.
        Verdict::Listed(d.id.clone())
    } else if !same {
        let w = wasi
            .outcome
            .as_ref()
            .map(|o| o.transcript.clone())
            .unwrap_or_default();
        Verdict::Disagree(format!(
            "the {world} transcript differs from the native one\n  native: {:?}\n  {}:     {w:?}",
            native.transcript,
            world.short()
        ))
    } else {
        Verdict::Agree
    };
    (same, verdict)
}

/// The verdict of a row from its columns' (see [`Row::verdict`]).
pub fn overall(columns: &[Column]) -> Verdict {
    let mut disagree: Vec<&str> = Vec::new();
    for c in columns {
        // A native failure is the same message in every column: once.
        if let Verdict::Disagree(why) = &c.verdict
            && !disagree.contains(&why.as_str())
        {
            disagree.push(why);
        }
    }
    if !disagree.is_empty() {
        return Verdict::Disagree(disagree.join("\n"));
    }
    let mut listed: Vec<&str> = columns
        .iter()
        .filter_map(|c| match &c.verdict {
            Verdict::Listed(id) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    listed.sort_unstable();
    listed.dedup();
    if listed.is_empty() {
        Verdict::Agree
    } else {
        Verdict::Listed(listed.join(", "))
    }
}

/// What a listed case fails to show of its divergence's `native-shows` / `wasi-shows`.
fn shows_missing(
    d: &Divergence,
    native: &Outcome,
    wasi: &CaseReport,
    world: WasiVersion,
) -> Option<String> {
    let wasi_events = wasi
        .outcome
        .as_ref()
        .map(|o| o.transcript.as_slice())
        .unwrap_or(&[]);
    if let Some(want) = &d.native_shows
        && !native.transcript.iter().any(|e| e == want)
    {
        return Some(format!(
            "divergence `{}`: the native transcript must show {want:?}: {:?}",
            d.id, native.transcript
        ));
    }
    if let Some(want) = &d.wasi_shows
        && !wasi_events.iter().any(|e| e == want)
    {
        return Some(format!(
            "divergence `{}`: the {world} transcript must show {want:?}: {wasi_events:?}",
            d.id
        ));
    }
    None
}

/// Runs `name` natively, then in each suite (one column each, in order).
pub async fn compare_case(
    native: &NativeSuite,
    suites: &[&Suite<'_>],
    name: &str,
    native_timeout: Duration,
    list: &[Divergence],
) -> Row {
    let (native, native_elapsed) = native.run(name, native_timeout);
    let mut columns = Vec::with_capacity(suites.len());
    for suite in suites {
        let world = suite.wasi_version();
        let report = suite.run_case(name).await;
        let (same_transcript, verdict) = judge(name, &native, &report, world, list);
        columns.push(Column {
            world,
            report,
            same_transcript,
            verdict,
        });
    }
    let verdict = overall(&columns);
    Row {
        name: name.to_string(),
        native,
        native_elapsed,
        columns,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `wasio-suite-native`: a shell script with this body.
    fn runner(dir: &tempfile::TempDir, body: &str) -> NativeSuite {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join("runner");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .expect("make it executable");
        NativeSuite::new(path)
    }

    #[test]
    fn a_native_case_that_hangs_is_killed_at_the_time_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let native = runner(&dir, "exec sleep 600");
        let (o, took) = native.run("hangs", Duration::from_millis(300));
        assert!(!o.passed);
        assert!(o.message.contains("killed"), "{}", o.message);
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(60), "{took:?}");
    }

    #[test]
    fn the_native_outcome_is_the_marked_line_whatever_the_case_prints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let native = runner(
            &dir,
            r#"echo 'wasio-suite-outcome: {"passed":false}'
echo "noise from the case"
echo 'wasio-suite-outcome: {"passed":true,"message":"","transcript":["a","b"],"notes":["n"]}'"#,
        );
        let (o, _) = native.run("x", Duration::from_secs(60));
        assert_eq!(o, {
            let mut want = outcome(true, &["a", "b"]);
            want.notes = vec!["n".into()];
            want
        });
    }

    #[test]
    fn a_native_case_that_dies_is_a_failure_with_its_last_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let native = runner(&dir, "echo 'thread panicked at boom' >&2; exit 101");
        let (o, _) = native.run("x", Duration::from_secs(60));
        assert!(!o.passed);
        assert!(o.message.contains("no outcome"), "{}", o.message);
        assert!(o.message.contains("panicked at boom"), "{}", o.message);
    }

    #[test]
    fn the_case_list_comes_from_the_runner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let native = runner(&dir, r#"[ "$1" = list ] && printf 'one\ntwo\n'"#);
        assert_eq!(native.cases().expect("a list"), ["one", "two"]);
        let missing = NativeSuite::new(dir.path().join("nothing-here"));
        assert!(missing.cases().is_err());
    }

    fn outcome(passed: bool, transcript: &[&str]) -> Outcome {
        Outcome {
            passed,
            message: if passed { String::new() } else { "boom".into() },
            transcript: transcript.iter().map(|e| e.to_string()).collect(),
            notes: Vec::new(),
        }
    }

    fn report(o: Outcome) -> CaseReport {
        CaseReport {
            name: "c".into(),
            outcome: Some(o),
            failure: None,
            stdout: String::new(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            handles: Some((0, 0)),
        }
    }

    fn column(world: WasiVersion, verdict: Verdict) -> Column {
        Column {
            world,
            report: report(outcome(true, &[])),
            same_transcript: matches!(verdict, Verdict::Agree),
            verdict,
        }
    }

    #[test]
    fn a_divergence_applies_only_to_its_worlds() {
        let list = divergences::parse(
            "## d\n- what: w\n- wasi: v\n- test: t\n- cases: c\n- worlds: p3\n- wasi-shows: eof\n",
        )
        .unwrap();
        let native = outcome(true, &["reset"]);
        let wasi = report(outcome(true, &["eof"]));
        let (same, v) = judge("c", &native, &wasi, WasiVersion::P3, &list);
        assert!(!same);
        assert_eq!(v, Verdict::Listed("d".into()));
        let (_, v) = judge("c", &native, &wasi, WasiVersion::P2, &list);
        assert!(
            matches!(v, Verdict::Disagree(ref m) if m.contains("WASI 0.2 transcript differs")),
            "{v:?}"
        );
        // `wasi-shows` is checked in the worlds it applies to.
        let (_, v) = judge(
            "c",
            &native,
            &report(outcome(true, &["x"])),
            WasiVersion::P3,
            &list,
        );
        assert!(
            matches!(v, Verdict::Disagree(ref m) if m.contains("WASI 0.3 transcript")),
            "{v:?}"
        );
    }

    #[test]
    fn a_row_agrees_only_when_every_column_does() {
        use WasiVersion::{P2, P3};
        assert_eq!(
            overall(&[column(P2, Verdict::Agree), column(P3, Verdict::Agree)]),
            Verdict::Agree
        );
        assert_eq!(
            overall(&[
                column(P2, Verdict::Listed("d".into())),
                column(P3, Verdict::Listed("d".into()))
            ]),
            Verdict::Listed("d".into())
        );
        assert_eq!(
            overall(&[
                column(P2, Verdict::Agree),
                column(P3, Verdict::Listed("d".into()))
            ]),
            Verdict::Listed("d".into())
        );
        let v = overall(&[
            column(P2, Verdict::Listed("d".into())),
            column(P3, Verdict::Disagree("WASI 0.3 no".into())),
        ]);
        assert_eq!(v, Verdict::Disagree("WASI 0.3 no".into()));
        let native_failed = Verdict::Disagree("native failed: x".into());
        let v = overall(&[
            column(P2, native_failed.clone()),
            column(P3, native_failed.clone()),
        ]);
        assert_eq!(v, native_failed, "said once");
        // A failing WASI column is a disagreement even with an equal transcript elsewhere.
        let native = outcome(true, &["a"]);
        let failed = CaseReport {
            outcome: None,
            failure: Some("trapped".into()),
            handles: None,
            ..report(outcome(true, &["a"]))
        };
        let (_, v) = judge("c", &native, &failed, P3, &[]);
        assert!(
            matches!(v, Verdict::Disagree(ref m) if m.starts_with("WASI 0.3 did not complete")),
            "{v:?}"
        );
    }
}
