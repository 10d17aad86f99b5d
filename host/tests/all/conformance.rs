//! Every shared case, one `#[test]` each, in wasmtime: it passes, and it leaves no resource
//! (socket, stream, pollable) behind in the store.

use crate::{block_on, suite};

macro_rules! host_case {
    ($name:ident) => {
        #[test]
        fn $name() {
            let report = block_on(suite().run_case(stringify!($name)));
            assert!(
                report.passed(),
                "{}: {}",
                stringify!($name),
                report.explain()
            );
            for note in report.outcome.iter().flat_map(|o| &o.notes) {
                eprintln!("{}: {note}", stringify!($name));
            }
            // Whatever the case opened (sockets, streams, pollables) is gone when it returns.
            let (before, after) = report.handles.expect("the case returned");
            assert_eq!(
                after,
                before,
                "{}: the guest left {} resources behind",
                stringify!($name),
                after.saturating_sub(before)
            );
        }
    };
}

guest_tests::foreach_case!(host_case);

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
