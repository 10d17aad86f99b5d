//! The WASI 0.3 entry points behind `#[wasio::main]` and `#[wasio::test]`.
//!
//! A WASI 0.3 loop blocks in `waitable-set.wait`, which wasmtime allows only inside an
//! asynchronously lifted export. So:
//!
//! * **`#[wasio::main]`** expands (in the user's crate) to an `async func` export of
//!   `wasi:cli/run@0.3.0` that runs the body with [`run_main`], beside a synchronous `fn main`
//!   that only says how to run the program ([`main_called_through_wasi_p2`]): Rust makes every
//!   binary a WASI 0.2 command too, and a host that calls that one gets a clear message
//!   instead of a trap. Hosts that know WASI 0.3 (`wasio-host run`, `wasmtime run -Sp3`) call
//!   the 0.3 export.
//! * **`#[wasio::test]`** registers each test here ([`Test`], collected with `inventory`) and
//!   keeps a synchronous `#[test]` stub for libtest to list. wasio exports the registry as
//!   `wasio:test/runner` (`wit/test/runner.wit`): `list-tests` names the tests, and the `async func`
//!   `run-test` runs one of them. `wasio-host run`, given a test binary that carries tests here,
//!   runs the binary's other tests through libtest and these through `run-test`, one fresh instance
//!   each, and reports them as libtest would. The stub, if libtest runs it (another runner),
//!   fails with a message that names `wasio-host`.
//!
//! The export exists in every WASI 0.3 component linked with wasio (Rust exports every
//! `#[export_name]` symbol of its dependencies); with no `#[wasio::test]` its list is empty.

use std::future::Future;
use std::io::Write;
use std::process::{ExitCode, Termination};

pub use inventory;
pub use wasip3;
/// What the `wasi:cli/run@0.3.0` export of `#[wasio::main]` implements.
pub use wasip3::exports::cli::run::Guest as RunGuest;

/// One `#[wasio::test]` of a WASI 0.3 test binary.
#[derive(Debug)]
pub struct Test {
    /// `module_path!()` of the test.
    pub module: &'static str,
    /// The function's name.
    pub name: &'static str,
    /// It carries `#[ignore]`.
    pub ignore: bool,
    /// `None`: no `#[should_panic]`; `Some(expected)` otherwise.
    pub should_panic: Option<Option<&'static str>>,
    /// Runs the test to its end on a new loop; success is [`ExitCode::SUCCESS`].
    pub run: fn() -> ExitCode,
}

inventory::collect!(Test);

impl Test {
    /// libtest's name for it: the module path without the crate's name, then the function's.
    fn libtest_name(&self) -> String {
        match self.module.split_once("::") {
            Some((_crate, path)) => format!("{path}::{}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// The body of `#[wasio::main]`'s `wasi:cli/run@0.3.0` export: runs it as the WASI 0.2 entry
/// point does, reports its outcome as `main` would (`Error: …` for an `Err`) and flushes
/// stdout, which no runtime cleanup does after an export returns.
#[allow(clippy::result_unit_err)] // `wasi:cli/run` returns `result` with no payloads
pub fn run_main<R, F>(body: F) -> Result<(), ()>
where
    R: crate::macro_support::MainOutput + Termination + 'static,
    F: Future<Output = R> + 'static,
{
    let code = crate::macro_support::run_main(body).report();
    let _ = std::io::stdout().flush();
    exit_with(code)
}

/// `Ok` for success, `Err` for the generic failure, and any other code through `exit`.
fn exit_with(code: ExitCode) -> Result<(), ()> {
    if code == ExitCode::SUCCESS {
        Ok(())
    } else if code == ExitCode::FAILURE {
        Err(())
    } else {
        let raw = (0..=u8::MAX)
            .find(|&c| ExitCode::from(c) == code)
            .unwrap_or(1);
        std::process::exit(i32::from(raw))
    }
}

/// The synchronous `fn main` of a `#[wasio::main]` program built for WASI 0.3, reached only
/// when a host runs it as a WASI 0.2 command.
pub fn main_called_through_wasi_p2() -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "error: this program was built with wasio's `wasi-p3` feature: it is a WASI 0.3 \
         command, and this host ran it as a WASI 0.2 one. Run it with `wasio-host run` or \
         `wasmtime run -Sp3 -Wcomponent-model-async`, or build it without `wasi-p3`."
    );
    std::process::exit(2)
}

/// The body of a `#[wasio::test]` on WASI 0.3 (called through the `run` export).
pub fn run_test<R, F>(body: F) -> ExitCode
where
    R: Termination + 'static,
    F: Future<Output = R> + 'static,
{
    let code =
        crate::macro_support::run_test_in(crate::macro_support::Entry::OwnInstanceTest, body)
            .report();
    let _ = std::io::stdout().flush();
    code
}

/// The `#[test]` stub libtest sees for a `#[wasio::test]` on WASI 0.3; it runs only under a
/// runner that is not `wasio-host`.
pub fn test_called_by_libtest(name: &str) -> ! {
    // Straight to stderr: libtest captures what `eprintln!` writes, and the panic aborts the
    // instance before libtest could print it.
    let _ = writeln!(
        std::io::stderr(),
        "`{name}` is a #[wasio::test] built for WASI 0.3, which libtest cannot run (its tests \
         are synchronous, and a WASI 0.3 loop blocks inside an async export). Run the test \
         binary with `wasio-host run` (in .cargo/config.toml: \
         `[target.wasm32-wasip2] runner = [\"wasio-host\", \"run\"]`): it runs these tests \
         through wasio's `wasio:test/runner` export."
    );
    panic!("`{name}` needs wasio-host to run on WASI 0.3")
}

mod bindings {
    wit_bindgen::generate!({
        path: "wit/test/runner.wit",
        world: "wasio:test/tests",
    });

    use super::Runner;
    export!(Runner);
}

use bindings::exports::wasio::test::runner::{Guest, Test as Listed};

struct Runner;

impl Guest for Runner {
    fn list_tests() -> Vec<Listed> {
        inventory::iter::<Test>
            .into_iter()
            .map(|t| Listed {
                name: t.libtest_name(),
                ignore: t.ignore,
                should_panic: t.should_panic.is_some(),
                expected: t.should_panic.flatten().map(str::to_string),
            })
            .collect()
    }

    async fn run_test(name: String) -> bool {
        let test = inventory::iter::<Test>
            .into_iter()
            .find(|t| t.libtest_name() == name);
        match test {
            Some(t) => (t.run)() == ExitCode::SUCCESS,
            None => {
                let _ = writeln!(std::io::stderr(), "no #[wasio::test] named `{name}`");
                false
            }
        }
    }
}
