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
//! * A panic of the body is reported once. Natively the panic hook has already printed it
//!   (with its backtrace) where it happened; the loop caught it, and the entry point carries
//!   it on with `resume_unwind`, which prints nothing more (the process still exits with 101,
//!   the test still fails). On WASI a panic aborts the instance: a panic hook writes the
//!   message straight to stderr first (libtest's output capture would lose it with the
//!   instance) with a one-line hint, and the host keeps the wasm backtrace for
//!   `WASIO_BACKTRACE=1`.

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

/// Carries a panic of the body on without printing it again (see the module docs).
fn resume_if_panic<T>(outcome: &Result<T, Error>) {
    if let Err(e) = outcome
        && e.is_panic()
    {
        std::panic::resume_unwind(Box::new(e.to_string()));
    }
}

/// Where a body runs, for the hint printed with a panic on WASI.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `#[wasio::main]`.
    Main,
    /// `#[wasio::test]` under libtest, which captures output and shares one instance.
    Test,
    /// `#[wasio::test]` run by wasio-host in an instance of its own (WASI 0.3), output not
    /// captured by libtest.
    #[cfg_attr(
        not(all(target_os = "wasi", target_env = "p2", feature = "wasi-p3")),
        allow(dead_code, reason = "WASI 0.3 only")
    )]
    OwnInstanceTest,
}

/// On WASI, where a panic aborts the instance: print the message to stderr at once, past any
/// output capture, with a hint (installed once, before the body runs).
pub(crate) fn install_abort_hook(entry: Entry) {
    if crate::sys::CATCHES_PANICS {
        return;
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            use std::io::Write;
            let hint = match entry {
                Entry::Test => {
                    "note: on WASI a panic aborts the whole test binary: the tests after this \
                     one did not run (run one with `-- --exact NAME`); WASIO_BACKTRACE=1 shows \
                     the wasm backtrace"
                }
                Entry::Main => {
                    "note: on WASI a panic aborts the program; WASIO_BACKTRACE=1 shows the wasm \
                     backtrace"
                }
                Entry::OwnInstanceTest => {
                    // Nothing captures this output: the usual report, then the hint.
                    previous(info);
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: on WASI a panic aborts the instance; wasio-host runs each \
                         #[wasio::test] of a WASI 0.3 build in its own, so the other tests \
                         still run; WASIO_BACKTRACE=1 shows the wasm backtrace"
                    );
                    return;
                }
            };
            let _ = writeln!(std::io::stderr(), "{info}\n{hint}");
            previous(info);
        }));
    });
}

/// The body of `#[wasio::main]`.
pub fn run_main<R, F>(body: F) -> R
where
    R: MainOutput + 'static,
    F: Future<Output = R> + 'static,
{
    install_abort_hook(Entry::Main);
    let outcome = crate::run(body);
    resume_if_panic(&outcome);
    R::from_run(outcome)
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
    run_test_in(Entry::Test, body)
}

/// [`run_test`], with the hint for where the test runs.
#[track_caller]
pub(crate) fn run_test_in<R, F>(entry: Entry, body: F) -> R
where
    R: 'static,
    F: Future<Output = R> + 'static,
{
    install_abort_hook(entry);
    let outcome = crate::run(body);
    resume_if_panic(&outcome);
    match outcome {
        Ok(v) => v,
        Err(e) => panic!("wasio::run failed: {e}"),
    }
}
