//! The comparison of the worlds: each case natively (in this process) and in wasmtime, in one
//! column per WASI build of the suite (WASI 0.2, WASI 0.3). A case agrees when every WASI
//! column agrees with native, or differs as a divergence listed for that world allows.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::divergences::{self, Divergence};
use crate::{CaseReport, Suite, WasiVersion};

/// Runs a case natively on its own thread; a case that does not finish within `timeout` is a
/// failure (its thread is left behind).
pub fn run_native(name: &str, timeout: Duration) -> (guest_tests::Outcome, Duration) {
    let (tx, rx) = mpsc::channel();
    let owned = name.to_string();
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name(format!("native:{name}"))
        .spawn(move || {
            let _ = tx.send(guest_tests::run_case(&owned));
        });
    let outcome = match spawned {
        Err(e) => failed(format!("could not start the case thread: {e}")),
        Ok(_) => match rx.recv_timeout(timeout) {
            Ok(o) => o,
            Err(mpsc::RecvTimeoutError::Timeout) => failed(format!("no result within {timeout:?}")),
            Err(mpsc::RecvTimeoutError::Disconnected) => failed("the case panicked".into()),
        },
    };
    (outcome, started.elapsed())
}

fn failed(message: String) -> guest_tests::Outcome {
    guest_tests::Outcome {
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
    pub native: guest_tests::Outcome,
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
    native: &guest_tests::Outcome,
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
    native: &guest_tests::Outcome,
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
    suites: &[&Suite<'_>],
    name: &str,
    native_timeout: Duration,
    list: &[Divergence],
) -> Row {
    let (native, native_elapsed) = run_native(name, native_timeout);
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

    fn outcome(passed: bool, transcript: &[&str]) -> guest_tests::Outcome {
        guest_tests::Outcome {
            passed,
            message: if passed { String::new() } else { "boom".into() },
            transcript: transcript.iter().map(|e| e.to_string()).collect(),
            notes: Vec::new(),
        }
    }

    fn report(o: guest_tests::Outcome) -> CaseReport {
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
