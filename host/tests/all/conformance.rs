//! Every shared case, one `#[test]` each, in wasmtime: it passes, and it leaves no resource
//! (socket, stream, pollable) behind in the store. `conformance::<case>` runs the WASI 0.2
//! suite, `conformance::p3::<case>` the WASI 0.3 one.

use wasio_host::Suite;

use crate::{block_on, suite};

/// Runs `name` in `suite`: it passes and leaves nothing behind in the store.
#[allow(
    clippy::print_stderr,
    reason = "the case's notes go to the test's output"
)]
fn check_case(suite: &Suite<'_>, name: &str) {
    let world = suite.wasi_version();
    let report = block_on(suite.run_case(name));
    assert!(report.passed(), "{name} ({world}): {}", report.explain());
    for note in report.outcome.iter().flat_map(|o| &o.notes) {
        eprintln!("{name}: {note}");
    }
    // Whatever the case opened (sockets, streams, pollables) is gone when it returns.
    let (before, after) = report.handles.expect("the case returned");
    assert_eq!(
        after,
        before,
        "{name} ({world}): the guest left {} resources behind",
        after.saturating_sub(before)
    );
}

/// One test per case, in the suite that `suite()` names where the macro is expanded.
macro_rules! host_case {
    ($name:ident) => {
        #[test]
        fn $name() {
            check_case(suite(), stringify!($name));
        }
    };
}

guest_tests::foreach_case!(host_case);

/// Every case in the WASI 0.3 suite (the `wasi-p3` backend).
mod p3 {
    use super::check_case;
    use crate::suite_p3 as suite;

    guest_tests::foreach_case!(host_case);
}

#[test]
fn guest_lists_exactly_the_compiled_cases() {
    let listed = block_on(suite().list_cases()).expect("list-cases");
    assert_eq!(listed, guest_tests::CASES, "rebuild the guest component");
}

#[test]
fn unknown_case_is_a_failed_outcome_not_a_trap() {
    let report = block_on(suite().run_case("no_such_case"));
    let outcome = report.outcome.expect("the guest returned");
    assert!(!outcome.passed);
    assert!(
        outcome.message.contains("unknown case"),
        "{}",
        outcome.message
    );
}
