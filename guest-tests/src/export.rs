//! The component export (wasm32-wasip2 only): the `wasio:harness/runner` interface of
//! `wit/harness.wit`, so the host can list the cases and run one per fresh instance.

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "conformance",
    });

    use super::Suite;
    export!(Suite);
}

use bindings::exports::wasio::harness::runner::{Guest, Outcome};

struct Suite;

impl Guest for Suite {
    fn list_cases() -> Vec<String> {
        crate::CASES.iter().map(|c| c.to_string()).collect()
    }

    fn run_case(name: String) -> Outcome {
        convert(crate::run_case(&name))
    }

    fn run_probe(name: String) -> Outcome {
        convert(crate::run_probe(&name))
    }
}

fn convert(out: crate::Outcome) -> Outcome {
    Outcome {
        passed: out.passed,
        message: out.message,
        transcript: out.transcript,
        notes: out.notes,
    }
}
