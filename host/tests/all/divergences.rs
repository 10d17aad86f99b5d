//! The divergence list: it parses, and the WASI side of every entry is checked.

use wasio_host::divergences;

use crate::{block_on, suite};

/// The probes run in the WASI 0.2 suite, for the divergences that apply to it. (`compare`
/// runs them in the WASI 0.3 suite as well, for those that apply to it.)
#[test]
fn every_divergence_is_checked_on_wasi() {
    let list = divergences::load(&divergences::default_path()).expect("DIVERGENCES.md");
    assert!(!list.is_empty());
    let faults = include_str!("faults.rs");
    let suite = suite();
    for d in &list {
        if let Some(probe) = &d.probe
            && d.applies_to(suite.wasi_version())
        {
            let report = block_on(suite.run_probe(probe));
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
