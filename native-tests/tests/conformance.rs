//! The shared conformance suite, one `#[test]` per case, on the native backend.

use std::sync::mpsc;
use std::time::Duration;

/// A case that has not finished after this long has hung; the test fails instead of blocking
/// the whole run.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

fn run_with_timeout(name: &'static str) -> guest_tests::Outcome {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _ = tx.send(guest_tests::run_case(name));
        })
        .expect("spawn case thread");
    match rx.recv_timeout(CASE_TIMEOUT) {
        Ok(out) => out,
        Err(e) => panic!("{name}: no outcome within {CASE_TIMEOUT:?} ({e})"),
    }
}

macro_rules! native_case {
    ($name:ident) => {
        #[test]
        fn $name() {
            let out = run_with_timeout(stringify!($name));
            assert!(
                out.passed,
                "{}: {}\ntranscript: {:?}",
                stringify!($name),
                out.message,
                out.transcript
            );
            for note in &out.notes {
                eprintln!("{}: {note}", stringify!($name));
            }
        }
    };
}

guest_tests::foreach_case!(native_case);

/// Every case function in `guest-tests/src/cases/` is in the list (and nothing else is), found
/// by reading the sources rather than by expanding the same macro.
#[test]
fn case_list_matches_the_case_functions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-tests/src/cases");
    let mut defined = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("cases dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read case file");
        // A case is `pub fn <name>(t: &Transcript) -> Result<(), String>`.
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("pub fn ") else {
                continue;
            };
            let Some((name, sig)) = rest.split_once('(') else {
                continue;
            };
            if sig.starts_with("t: &Transcript")
                || (sig.is_empty() && text.contains(&format!("pub fn {name}(\n    t: &Transcript")))
            {
                defined.push(name.to_string());
            }
        }
    }
    defined.sort();
    let mut listed: Vec<String> = guest_tests::CASES.iter().map(|c| c.to_string()).collect();
    let count = listed.len();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), count, "duplicate case names in foreach_case!");
    let missing: Vec<_> = defined.iter().filter(|d| !listed.contains(d)).collect();
    let extra: Vec<_> = listed.iter().filter(|l| !defined.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "case functions not in foreach_case!: {missing:?}; listed but not defined: {extra:?}"
    );
}

#[test]
fn unknown_case_fails_cleanly() {
    let out = guest_tests::run_case("no_such_case");
    assert!(!out.passed);
    assert!(out.message.contains("unknown case"));
}
