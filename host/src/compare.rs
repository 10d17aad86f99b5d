//! The comparison of the two worlds: each case natively (in this process) and in wasmtime.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::divergences::{self, Divergence};
use crate::{CaseReport, Suite};

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

/// How the two runs of a case relate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both passed with equal transcripts.
    Agree,
    /// They differ, as a listed divergence allows.
    Listed(String),
    /// A failure or an unlisted difference.
    Disagree(String),
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
    /// WASI run.
    pub wasi: CaseReport,
    /// Transcripts equal.
    pub same_transcript: bool,
    /// Verdict.
    pub verdict: Verdict,
}

/// Judges one case.
pub fn judge(
    name: &str,
    native: &guest_tests::Outcome,
    wasi: &CaseReport,
    list: &[Divergence],
) -> (bool, Verdict) {
    let same = wasi
        .outcome
        .as_ref()
        .is_some_and(|w| w.transcript == native.transcript);
    let listed = divergences::allowing(list, name);
    let verdict = if !native.passed {
        Verdict::Disagree(format!("native failed: {}", native.message))
    } else if !wasi.passed() {
        Verdict::Disagree(format!("WASI {}", wasi.explain()))
    } else if let Some(d) = listed
        && let Some(missing) = shows_missing(d, native, wasi)
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
            "transcripts differ\n  native: {:?}\n  wasi:   {w:?}",
            native.transcript
        ))
    } else {
        Verdict::Agree
    };
    (same, verdict)
}

/// What a listed case fails to show of its divergence's `native-shows` / `wasi-shows`.
fn shows_missing(
    d: &Divergence,
    native: &guest_tests::Outcome,
    wasi: &CaseReport,
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
            "divergence `{}`: the WASI transcript must show {want:?}: {wasi_events:?}",
            d.id
        ));
    }
    None
}

/// Runs `name` in both worlds.
pub async fn compare_case(
    suite: &Suite<'_>,
    name: &str,
    native_timeout: Duration,
    list: &[Divergence],
) -> Row {
    let (native, native_elapsed) = run_native(name, native_timeout);
    let wasi = suite.run_case(name).await;
    let (same_transcript, verdict) = judge(name, &native, &wasi, list);
    Row {
        name: name.to_string(),
        native,
        native_elapsed,
        wasi,
        same_transcript,
        verdict,
    }
}
