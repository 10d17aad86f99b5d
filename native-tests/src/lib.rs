//! Native runner for the wasio conformance suite (tests live in `tests/`).
