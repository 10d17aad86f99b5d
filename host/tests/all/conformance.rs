//! Every shared case, one `#[test]` each, in wasmtime.

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
