//! A user's crate in three worlds: `#[wasio::test]` on WASI 0.3 through `wasio-host run`
//! (libtest's arguments, one instance per test), and `wasio-host compare --crate` on
//! `examples/hello-wasio` (every test agrees) and `examples/disagree` (differences reported,
//! and failing the run unless the crate lists them).
//!
//! The crates are built by cargo here, in `target/hello-wasio` (CI's own build of hello-wasio
//! uses it too, so the work is shared).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::wasio_host;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is in the repository")
        .to_path_buf()
}

fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name)
}

fn target_dir() -> PathBuf {
    repo().join("target").join("hello-wasio")
}

/// Builds a crate's tests for wasm32-wasip2 with `features`; returns (source path, component).
fn wasm_tests(dir: &Path, features: &str) -> Vec<(String, PathBuf)> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .args([
            "test",
            "--no-run",
            "--message-format=json",
            "--target",
            "wasm32-wasip2",
        ]);
    if !features.is_empty() {
        cmd.args(["--features", features]);
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "cargo test --no-run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter_map(|m| {
            let exe = m["executable"].as_str()?;
            let src = m["target"]["src_path"].as_str()?;
            Some((src.to_string(), PathBuf::from(exe)))
        })
        .collect()
}

fn lib_tests(dir: &Path, features: &str) -> PathBuf {
    wasm_tests(dir, features)
        .into_iter()
        .find(|(src, _)| src.ends_with("src/lib.rs"))
        .map(|(_, exe)| exe)
        .expect("the library's test component")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(component: &Path, args: &[&str]) -> Output {
    wasio_host()
        .arg("run")
        .arg(component)
        .args(args)
        .output()
        .expect("run wasio-host")
}

#[test]
fn p3_wasio_tests_run_as_libtest_would() {
    let tests = lib_tests(&example("hello-wasio"), "wasi-p3");

    // Everything: the ignored test is reported, not run.
    let all = run(&tests, &[]);
    let out = text(&all.stdout);
    assert!(all.status.success(), "{out}{}", text(&all.stderr));
    for line in [
        "test tests::replies_in_upper_case ... ok",
        "test tests::serves_clients_concurrently ... ok",
        "test tests::sleeps_on_the_loop_clock ... ok",
        "test tests::ignored_unless_asked ... ignored",
        "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }

    // A filter, as libtest reads it (a substring), and --exact.
    let some = text(&run(&tests, &["upper"]).stdout);
    assert!(
        some.contains("test tests::replies_in_upper_case ... ok"),
        "{some}"
    );
    assert!(
        some.contains("1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out"),
        "{some}"
    );
    let exact = text(&run(&tests, &["--exact", "tests::sleeps_on_the_loop_clock"]).stdout);
    assert!(exact.contains("1 passed;"), "{exact}");
    let none = text(&run(&tests, &["--exact", "sleeps_on_the_loop_clock"]).stdout);
    assert!(
        none.contains("0 passed;") && none.contains("4 filtered out"),
        "{none}"
    );

    // --ignored runs the ignored one only; --list is libtest's own, stubs included.
    let ignored = text(&run(&tests, &["--ignored"]).stdout);
    assert!(
        ignored.contains("test tests::ignored_unless_asked ... ok"),
        "{ignored}"
    );
    assert!(ignored.contains("1 passed;"), "{ignored}");
    let listed = text(&run(&tests, &["--list", "--format", "terse"]).stdout);
    assert_eq!(
        listed.lines().filter(|l| l.ends_with(": test")).count(),
        4,
        "{listed}"
    );
}

#[test]
fn p3_failing_tests_show_their_message_and_never_hide_the_others() {
    let tests = lib_tests(&example("disagree"), "wasio/wasi-p3");
    let all = run(&tests, &[]);
    let out = text(&all.stdout);
    assert_eq!(all.status.code(), Some(101), "{out}{}", text(&all.stderr));
    for line in [
        "test tests::agrees_everywhere ... ok",
        "test tests::knows_it_is_native ... FAILED",
        "test tests::panics_on_wasi ... FAILED",
        // After the panic, in a fresh instance.
        "test tests::zz_runs_after_the_panic ... ok",
        "test result: FAILED. 2 passed; 2 failed; 2 ignored;",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    // Each failure with its own message, as libtest shows it.
    assert!(
        out.contains("---- tests::knows_it_is_native stdout ----"),
        "{out}"
    );
    assert!(out.contains("this test expects to run natively"), "{out}");
    assert!(out.contains("a panic on WASI"), "{out}");
    // The message once, with the hint that fits a test in an instance of its own.
    assert_eq!(out.matches("a panic on WASI").count(), 1, "{out}");
    assert!(out.contains("wasio-host runs each #[wasio::test]"), "{out}");
    assert!(
        !out.contains("the tests after this one did not run"),
        "{out}"
    );
    // A failure returned as `Err`, run with --ignored.
    let ignored = run(&tests, &["--ignored", "--exact", "tests::fails_everywhere"]);
    let out = text(&ignored.stdout);
    assert_eq!(ignored.status.code(), Some(101), "{out}");
    assert!(
        out.contains("test tests::fails_everywhere ... FAILED"),
        "{out}"
    );
    assert!(out.contains("Error: \"always\""), "{out}");
}

#[test]
fn p3_a_hanging_test_is_stopped_by_the_time_limit_and_the_next_one_runs() {
    let tests = lib_tests(&example("disagree"), "wasio/wasi-p3");
    let started = std::time::Instant::now();
    let out = wasio_host()
        .args(["--timeout", "2", "run"])
        .arg(&tests)
        .args([
            "--include-ignored",
            "tests::hangs_until_stopped",
            "tests::zz_runs_after_the_panic",
        ])
        .output()
        .expect("run wasio-host");
    let elapsed = started.elapsed();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(101),
        "{stdout}{}",
        text(&out.stderr)
    );
    for line in [
        "test tests::hangs_until_stopped ... FAILED",
        "test tests::zz_runs_after_the_panic ... ok",
        "test result: FAILED. 1 passed; 1 failed; 0 ignored;",
        "wall-clock limit",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    // The limit holds per test, and stops the hour-long sleep: at least the limit, far less
    // than the sleep.
    assert!(elapsed >= std::time::Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(600), "{elapsed:?}");
}

#[test]
fn p3_test_stubs_name_wasio_host_when_libtest_runs_them() {
    let tests = lib_tests(&example("hello-wasio"), "wasi-p3");
    // `--wasi p2` calls libtest's `main` as another runner would.
    let out = wasio_host()
        .args(["run", "--wasi", "p2"])
        .arg(&tests)
        .args(["--exact", "tests::sleeps_on_the_loop_clock"])
        .output()
        .expect("run wasio-host");
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("#[wasio::test] built for WASI 0.3") && err.contains("wasio-host run"),
        "{err}"
    );
}

/// `wasio-host compare --crate DIR` with `args`, JSON on stdout; returns the status and the
/// document.
fn compare(dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = wasio_host()
        .env("CARGO_TARGET_DIR", target_dir())
        .args(["compare", "--crate"])
        .arg(dir)
        .args(args)
        .output()
        .expect("run wasio-host compare");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), doc, text(&out.stderr))
}

fn row<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["tests"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no row for {name} in {doc:#}"))
}

#[test]
fn compare_crate_agrees_on_hello_wasio_in_three_worlds() {
    let junit = tempfile::NamedTempFile::new().expect("a temporary file");
    let (code, doc, err) = compare(
        &example("hello-wasio"),
        &["--json", "--junit", &junit.path().display().to_string()],
    );
    assert_eq!(code, Some(0), "{doc:#}\n{err}");
    assert_eq!(
        doc["worlds"],
        serde_json::json!(["native", "wasi-p2", "wasi-p3"])
    );
    let rows = doc["tests"].as_array().expect("rows");
    // The library's four tests and the integration test's two.
    assert_eq!(rows.len(), 6, "{doc:#}");
    assert!(rows.iter().all(|r| r["verdict"] == "agree"), "{doc:#}");
    let upper = row(&doc, "tests::replies_in_upper_case");
    assert_eq!(upper["binary"], "src/lib.rs");
    for w in ["native", "wasi-p2", "wasi-p3"] {
        assert_eq!(upper["outcomes"][w], "passed", "{upper:#}");
        assert_eq!(
            row(&doc, "tests::ignored_unless_asked")["outcomes"][w],
            "ignored"
        );
    }
    let xml = std::fs::read_to_string(junit.path()).expect("the JUnit file");
    for part in [
        "<testsuite name=\"native\" tests=\"6\" failures=\"0\" skipped=\"1\">",
        "<testsuite name=\"wasi-p3\" tests=\"6\" failures=\"0\" skipped=\"1\">",
        "<testsuite name=\"agreement\" tests=\"6\" failures=\"0\">",
        "name=\"a_slow_client_still_gets_its_answer\"",
    ] {
        assert!(xml.contains(part), "{part:?} in\n{xml}");
    }
}

#[test]
fn compare_crate_fails_on_a_difference_the_crate_does_not_list() {
    let empty = tempfile::NamedTempFile::new().expect("a temporary file");
    let junit = tempfile::NamedTempFile::new().expect("a temporary file");
    let (code, doc, err) = compare(
        &example("disagree"),
        &[
            "--json",
            "--divergences",
            &empty.path().display().to_string(),
            "--junit",
            &junit.path().display().to_string(),
        ],
    );
    assert_eq!(code, Some(1), "{doc:#}\n{err}");
    assert_eq!(doc["ok"], false);
    let native = row(&doc, "tests::knows_it_is_native");
    assert_eq!(native["verdict"], "disagree", "{native:#}");
    assert_eq!(native["outcomes"]["native"], "passed");
    // An assertion is a panic: on WASI 0.2 it aborts the binary (run alone, "aborted"); on
    // WASI 0.3 the host runs the test in an instance of its own and reports it failed.
    assert_eq!(native["outcomes"]["wasi-p2"], "aborted", "{native:#}");
    assert_eq!(native["outcomes"]["wasi-p3"], "failed", "{native:#}");
    for w in ["wasi-p2", "wasi-p3"] {
        let output = native["output"][w].as_str().unwrap_or_default();
        assert!(
            output.contains("this test expects to run natively"),
            "{w}: {output}"
        );
    }
    // The panic aborts the WASI 0.2 binary: run alone, it is reported as aborted with its
    // message; on WASI 0.3 each test has its own instance.
    let panics = row(&doc, "tests::panics_on_wasi");
    assert_eq!(panics["verdict"], "disagree");
    assert_eq!(panics["outcomes"]["wasi-p2"], "aborted", "{panics:#}");
    assert_eq!(panics["outcomes"]["wasi-p3"], "failed", "{panics:#}");
    assert!(
        panics["output"]["wasi-p2"]
            .as_str()
            .is_some_and(|o| o.contains("a panic on WASI")),
        "{panics:#}"
    );
    // The tests after the panic still have their outcomes.
    let after = row(&doc, "tests::zz_runs_after_the_panic");
    assert_eq!(after["verdict"], "agree", "{after:#}");
    assert_eq!(after["outcomes"]["wasi-p2"], "passed", "{after:#}");
    let xml = std::fs::read_to_string(junit.path()).expect("the JUnit file");
    assert!(
        xml.contains("<testsuite name=\"agreement\" tests=\"6\" failures=\"2\">"),
        "{xml}"
    );
    assert!(xml.contains("the worlds disagree"), "{xml}");
}

#[test]
fn compare_crate_accepts_the_differences_the_crate_lists() {
    let junit = tempfile::NamedTempFile::new().expect("a temporary file");
    let out = wasio_host()
        .env("CARGO_TARGET_DIR", target_dir())
        .args(["compare", "--crate"])
        .arg(example("disagree"))
        .arg("--junit")
        .arg(junit.path())
        .output()
        .expect("run wasio-host compare");
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}{}", text(&out.stderr));
    for part in [
        "native     WASI 0.2   WASI 0.3",
        "(listed divergence: knows-its-target)",
        "(listed divergence: panics-on-wasi)",
        "6 tests: 4 agree, 2 listed divergences, 0 disagree, 0 fail in every world",
        "wasio-divergences.md",
    ] {
        assert!(table.contains(part), "{part:?} in\n{table}");
    }
    let line = table
        .lines()
        .find(|l| l.contains("tests::knows_it_is_native"))
        .expect("its row");
    assert!(line.contains("ok") && line.contains("FAILED"), "{line}");
    // The XML is red exactly when the exit status is: accepted failures are skipped cases
    // that name their entry.
    let xml = std::fs::read_to_string(junit.path()).expect("the JUnit file");
    for part in [
        "failures=\"0\">",
        "<testsuite name=\"wasi-p2\" tests=\"6\" failures=\"0\" skipped=\"4\">",
        "<skipped message=\"aborted here, as the listed divergence knows-its-target accepts\">",
        "<skipped message=\"failed here, as the listed divergence panics-on-wasi accepts\">",
    ] {
        assert!(xml.contains(part), "{part:?} in\n{xml}");
    }
}
