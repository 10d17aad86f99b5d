//! `#[wasio::test]` used directly, and the compile errors of both macros (trybuild, with the
//! expected messages in `tests/ui/*.stderr`). `#[wasio::main]` is exercised by
//! `examples/countdown.rs`, which the host also runs in wasmtime.

use std::time::Duration;

#[wasio::test]
async fn test_body_runs_on_a_loop() {
    assert!(wasio::try_current().is_ok(), "the body runs on a loop");
    let t = wasio::spawn(async { 6 * 7 });
    assert_eq!(t.await.ok(), Some(42));
}

#[wasio::test]
async fn test_may_return_a_result() -> Result<(), wasio::JoinError> {
    let t = wasio::spawn(async {
        wasio::sleep(Duration::from_millis(1)).await;
        7
    });
    assert_eq!(t.await?, 7);
    Ok(())
}

#[wasio::test]
async fn test_can_use_question_mark_with_conversion() -> Result<(), Box<dyn std::error::Error>> {
    let v: u32 = "42".parse()?;
    wasio::timeout(Duration::from_secs(60), wasio::yield_now()).await?;
    assert_eq!(v, 42);
    Ok(())
}

#[wasio::test]
#[should_panic(expected = "the body panicked")]
async fn test_panic_in_the_body_fails_the_test() {
    wasio::yield_now().await;
    panic!("the body panicked");
}

#[wasio::test]
#[ignore = "shows that other attributes are kept: this one never runs"]
async fn test_attributes_are_kept() {
    panic!("an ignored test ran");
}

/// Every test gets a fresh loop: the leftover task of one cannot reach another.
#[wasio::test]
async fn test_each_test_has_its_own_loop() {
    let stats = wasio::current().stats();
    assert_eq!(stats.tasks, 1, "only the test's own task: {stats:?}");
}

#[test]
fn macro_misuse_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

// `#[wasio::main]` works on any function name, so its error paths can be called from tests.

#[wasio::main]
async fn main_returning_a_result() -> Result<u32, wasio::Error> {
    wasio::yield_now().await;
    Ok(5)
}

#[wasio::main]
async fn main_whose_body_panics() -> Result<(), wasio::Error> {
    wasio::yield_now().await;
    panic!("boom in main");
}

/// A loop error that is not a panic: a callback stops the loop with `Fatal`.
#[wasio::main]
async fn main_whose_loop_fails() -> Result<(), wasio::Error> {
    wasio::current().call_soon(|| Err(wasio::Fatal::new("fatal in main")))?;
    wasio::sleep(std::time::Duration::from_secs(60)).await;
    Ok(())
}

#[wasio::main]
async fn main_without_a_result_whose_loop_fails() {
    let _ = wasio::current().call_soon(|| Err(wasio::Fatal::new("fatal without a Result")));
    wasio::sleep(std::time::Duration::from_secs(60)).await;
}

#[wasio::main]
async fn main_returning_an_exit_code() -> std::process::ExitCode {
    wasio::yield_now().await;
    std::process::ExitCode::from(3)
}

#[test]
fn main_returns_the_value_of_its_body() {
    assert_eq!(main_returning_a_result().ok(), Some(5));
    assert_eq!(
        main_returning_an_exit_code(),
        std::process::ExitCode::from(3)
    );
}

#[test]
fn main_returns_a_loop_error_as_err() {
    let err = main_whose_loop_fails().expect_err("the loop's error comes back as Err");
    assert!(err.is_fatal(), "{err:?}");
    assert!(err.to_string().contains("fatal in main"), "{err}");
}

#[test]
#[should_panic(expected = "wasio::run failed")]
fn main_without_a_result_panics_with_a_loop_error() {
    main_without_a_result_whose_loop_fails();
}

/// A panic in the body is the body's own: it goes on unwinding with its message (printed
/// once, by the panic hook), whatever `main` returns.
#[test]
#[should_panic(expected = "boom in main")]
fn a_panic_in_main_goes_on_unwinding() {
    let _ = main_whose_body_panics();
}

/// A `cfg` on the function applies to the whole expansion (this one is never compiled).
#[wasio::test]
#[cfg(any())]
async fn test_cfg_applies_to_the_return_type_check() -> NoSuchType {
    unreachable!()
}

/// The child half of `a_panic_in_main_is_printed_once`: `#[wasio::main]`'s expansion with a
/// body that panics.
#[test]
#[ignore = "run by a_panic_in_main_is_printed_once in a child process"]
fn panicking_main_child() {
    wasio::__private::run_main(async { panic!("boom-printed-once") })
}

/// A panic in `#[wasio::main]`'s body is printed once (by the panic hook, where it happened),
/// not a second time when the entry point reports the loop's error.
#[test]
fn a_panic_in_main_is_printed_once() {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "panicking_main_child",
            "--ignored",
            "--nocapture",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("boom-printed-once").count(),
        1,
        "printed more or less than once:\n{stderr}"
    );
    assert!(!out.status.success());
}

/// `wasio::Error`'s `Debug` is its message: `main() -> Result<_, wasio::Error>` prints that.
#[test]
fn error_debug_is_the_message() {
    let lp = wasio::EventLoop::new().expect("loop");
    lp.close().expect("close");
    let err = lp.run_forever().expect_err("closed");
    assert_eq!(format!("{err:?}"), format!("{err}"));
    assert!(
        format!("{err:?}").contains("event loop is closed"),
        "{err:?}"
    );
}
