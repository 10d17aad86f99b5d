//! The conformance suite natively, one case per process, for `wasio-host compare`.
//!
//! * `wasio-suite-native list`: the case names, one per line, in the suite's order.
//! * `wasio-suite-native run CASE`: runs the case and prints its outcome as one JSON object
//!   (`passed`, `message`, `transcript`, `notes`) on the last line of stdout, after the marker
//!   [`MARKER`], so whatever the case itself prints cannot be mistaken for it.
//!
//! The host runs each case in a process of its own so that a case that hangs is killed at the
//! time limit instead of leaving a thread behind, and so that the host does not link the suite
//! (which keeps `wasio-host` a crate that builds on its own).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool: its protocol is stdout"
)]

use std::process::ExitCode;

/// Precedes the outcome's JSON on its line.
const MARKER: &str = "wasio-suite-outcome: ";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for case in guest_tests::CASES {
                println!("{case}");
            }
            ExitCode::SUCCESS
        }
        ["run", case] => {
            if !guest_tests::CASES.contains(case) {
                eprintln!("no case named {case:?} (`list` prints them)");
                return ExitCode::from(2);
            }
            let o = guest_tests::run_case(case);
            let json = serde_json::json!({
                "passed": o.passed,
                "message": o.message,
                "transcript": o.transcript,
                "notes": o.notes,
            });
            println!("{MARKER}{json}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: wasio-suite-native list | run CASE");
            ExitCode::from(2)
        }
    }
}
