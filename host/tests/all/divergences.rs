//! The divergence list: it parses, and the WASI side of every entry is checked.

use wasio_host::divergences;

use crate::{block_on, suite};

#[test]
fn every_divergence_is_checked_on_wasi() {
    let list = divergences::load(&divergences::default_path()).expect("DIVERGENCES.md");
    assert!(!list.is_empty());
    let faults = include_str!("faults.rs");
    for d in &list {
        if let Some(probe) = &d.probe {
            let report = block_on(suite().run_probe(probe));
            assert!(report.passed(), "divergence {}: {}", d.id, report.explain());
        }
        if let Some(test) = &d.test {
            let name = test.rsplit('`').nth(1).unwrap_or(test);
            assert!(
                faults.contains(&format!("fn {name}()")),
                "divergence {} names a test that does not exist: {test}",
                d.id
            );
        }
        for case in &d.cases {
            assert!(
                guest_tests::CASES.contains(&case.as_str()),
                "divergence {} lists an unknown case {case}",
                d.id
            );
        }
    }
}
