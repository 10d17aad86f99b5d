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
        }
    };
}

guest_tests::foreach_case!(native_case);

#[test]
fn case_list_matches_macro() {
    let mut names = Vec::new();
    macro_rules! collect {
        ($name:ident) => {
            names.push(stringify!($name));
        };
    }
    guest_tests::foreach_case!(collect);
    assert_eq!(names, guest_tests::CASES);
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "duplicate case names");
}

#[test]
fn unknown_case_fails_cleanly() {
    let out = guest_tests::run_case("no_such_case");
    assert!(!out.passed);
    assert!(out.message.contains("unknown case"));
}
