//! The component export of the WASI 0.3 build (`p3` feature): `wasio:harness/runner-p3`.
//!
//! The same cases as [`export`](super), through `async func`s: wasmtime 48 traps when a
//! component blocks inside a synchronously lifted export, and the WASI 0.3 loop blocks in
//! `waitable-set.wait`. Each call runs its case to the end on first poll (the loop blocks as it
//! likes inside an async-lifted call), so wit-bindgen's executor never waits on anything.

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "conformance-p3",
    });

    use super::Suite;
    export!(Suite);
}

use bindings::exports::wasio::harness::runner_p3::{Guest, Outcome};

struct Suite;

impl Guest for Suite {
    fn list_cases() -> Vec<String> {
        crate::CASES.iter().map(|c| c.to_string()).collect()
    }

    async fn run_case(name: String) -> Outcome {
        convert(crate::run_case(&name))
    }

    async fn run_probe(name: String) -> Outcome {
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
