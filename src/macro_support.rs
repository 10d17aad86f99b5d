//! What `#[wasio::main]` and `#[wasio::test]` expand to call. Not public API: the names may
//! change with the macros, which always come from the same release.
//!
//! # Ground rules
//!
//! * The body runs with [`crate::run`] (asyncio's `asyncio.run`: a new loop, leftover tasks
//!   cancelled, the loop closed), on every target the same way.
//! * An [`Error`] of the loop itself is never dropped. `main` returning `Result<T, E>` returns
//!   it converted into `E` (hence `E: From<wasio::Error>`), so it is printed as `Error: …` with
//!   exit status 1 like any error of `main`; `main` returning `()` or `ExitCode` panics with its
//!   message (tokio panics the same way when its runtime fails). A test panics with it whatever
//!   it returns, which fails the test.
//! * The return type is checked by [`MainOutput`] and [`TestOutput`], whose diagnostics name the
//!   types that work.

use std::future::Future;
use std::process::ExitCode;

use crate::error::Error;

/// What `#[wasio::main]` can return, and what it does with an error of the loop.
#[diagnostic::on_unimplemented(
    message = "`#[wasio::main]` cannot return `{Self}`",
    label = "unsupported return type for `#[wasio::main]`",
    note = "return `()`, `std::process::ExitCode`, or `Result<T, E>` where `E: From<wasio::Error>` (`Box<dyn std::error::Error>`, `std::io::Error` and `wasio::Error` qualify)"
)]
pub trait MainOutput: Sized {
    /// The value `main` returns for the outcome of `wasio::run`.
    fn from_run(outcome: Result<Self, Error>) -> Self;
}

impl MainOutput for () {
    fn from_run(outcome: Result<(), Error>) {
        if let Err(e) = outcome {
            panic!("wasio::run failed: {e}");
        }
    }
}

impl MainOutput for ExitCode {
    fn from_run(outcome: Result<ExitCode, Error>) -> ExitCode {
        match outcome {
            Ok(code) => code,
            Err(e) => panic!("wasio::run failed: {e}"),
        }
    }
}

impl<T, E: From<Error>> MainOutput for Result<T, E> {
    fn from_run(outcome: Result<Result<T, E>, Error>) -> Result<T, E> {
        outcome.map_err(E::from).and_then(|r| r)
    }
}

/// What `#[wasio::test]` can return: what a `#[test]` can.
#[diagnostic::on_unimplemented(
    message = "`#[wasio::test]` cannot return `{Self}`",
    label = "unsupported return type for `#[wasio::test]`",
    note = "return `()` or `Result<T, E>` (with `T: Termination`, `E: Debug`, as for any `#[test]`)"
)]
pub trait TestOutput {}

impl TestOutput for () {}

impl<T, E> TestOutput for Result<T, E> {}

/// The body of `#[wasio::main]`.
pub fn run_main<R, F>(body: F) -> R
where
    R: MainOutput + 'static,
    F: Future<Output = R> + 'static,
{
    R::from_run(crate::run(body))
}

/// Fails to compile unless `R` is a return type `#[wasio::test]` supports.
pub const fn check_test_output<R: TestOutput>() {}

/// The body of `#[wasio::test]` (its return type was checked by [`check_test_output`]).
#[track_caller]
pub fn run_test<R, F>(body: F) -> R
where
    R: 'static,
    F: Future<Output = R> + 'static,
{
    match crate::run(body) {
        Ok(v) => v,
        Err(e) => panic!("wasio::run failed: {e}"),
    }
}
