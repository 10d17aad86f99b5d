//! `wasio-host run` on a WASI 0.3 test binary: libtest's behaviour for `#[wasio::test]`s that
//! libtest itself cannot run.
//!
//! libtest calls tests synchronously from `main`, the binary's WASI 0.2 `wasi:cli/run`, and
//! wasmtime traps when a WASI 0.3 loop blocks inside a synchronously lifted export. So a test
//! binary built with wasio's `wasi-p3` feature registers its `#[wasio::test]`s with wasio's
//! `wasio:test/runner` export (`wit/test/runner.wit`), whose `run-test` is an `async func`, and
//! keeps a `#[test]` stub of each for libtest to list. Given such a binary, `run`:
//!
//! 1. asks libtest (the binary's `main`, output captured) which tests the arguments select:
//!    `--list --format terse` with the user's filters, `--exact`, `--skip` and
//!    `--ignored` / `--include-ignored`, so selection is libtest's own;
//! 2. runs the selected tests that are not wasio's through libtest (`--exact NAME…`), with
//!    the user's output options and the host's stdio;
//! 3. runs each selected wasio test through `run-test` in a fresh instance (a panic aborts the
//!    instance, so one failing test never hides the others), honouring `#[ignore]` and
//!    `#[should_panic]`, and reports them in libtest's format: `test NAME ... ok`, the
//!    captured output of failures, `test result: …`, exit status 101 on any failure.
//!
//! `--list`, `--help` and anything this module does not know go to libtest unchanged (the
//! stubs list like any test).

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::error::Context as _;

use crate::{Host, RunOptions, Stdio, WasiVersion, describe_error, with_limits};

/// Host bindings of `wit/test/runner.wit`.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/test/runner.wit",
        world: "wasio:test/tests",
        exports: { default: async },
    });
}

use bindings::TestsPre;
use bindings::exports::wasio::test::runner::Test;

/// wasio's test export, without its version.
pub const TEST_EXPORT: &str = "wasio:test/runner";

/// The component exports `wasio:test/runner` (any WASI 0.3 component linked with wasio does;
/// its list says whether it has tests).
pub fn exports_tests(engine: &Engine, component: &Component) -> bool {
    component.component_type().exports(engine).any(|(name, _)| {
        name.strip_prefix(TEST_EXPORT)
            .is_some_and(|v| v.starts_with('@'))
    })
}

/// Which ignored tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ignored {
    /// Not the ignored ones (the default).
    Skip,
    /// Only the ignored ones (`--ignored`).
    Only,
    /// All (`--include-ignored`).
    Include,
}

/// The libtest arguments this module understands.
#[derive(Debug)]
struct Args {
    /// What selects tests, passed to libtest's `--list`.
    selection: Vec<String>,
    /// Output options passed to libtest's own run.
    output: Vec<String>,
    ignored: Ignored,
    nocapture: bool,
    show_output: bool,
    quiet: bool,
}

/// Parses libtest's command line (after the program name); `None` when it asks for something
/// libtest should answer itself (`--list`, `--help`, an option this module does not know).
fn parse(args: &[String]) -> Option<Args> {
    let mut out = Args {
        selection: Vec::new(),
        output: Vec::new(),
        ignored: Ignored::Skip,
        nocapture: false,
        show_output: false,
        quiet: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let value =
            |it: &mut std::slice::Iter<'_, String>| inline.clone().or_else(|| it.next().cloned());
        match flag {
            "--exact" => out.selection.push(arg.clone()),
            "--skip" => {
                let v = value(&mut it)?;
                out.selection.extend(["--skip".to_string(), v]);
            }
            "--ignored" => out.ignored = Ignored::Only,
            "--include-ignored" => out.ignored = Ignored::Include,
            "--nocapture" | "--no-capture" => {
                out.nocapture = true;
                out.output.push(arg.clone());
            }
            "--show-output" => {
                out.show_output = true;
                out.output.push(arg.clone());
            }
            "-q" | "--quiet" => {
                out.quiet = true;
                out.output.push(arg.clone());
            }
            "--format" => {
                let v = value(&mut it)?;
                match v.as_str() {
                    "pretty" => {}
                    "terse" => out.quiet = true,
                    _ => return None,
                }
                out.output.extend(["--format".to_string(), v]);
            }
            "--color" | "--test-threads" => {
                let v = value(&mut it)?;
                out.output.extend([flag.to_string(), v]);
            }
            // Single-threaded either way.
            "--test" => {}
            f if f.starts_with('-') => return None,
            _ => out.selection.push(arg.clone()),
        }
    }
    Some(out)
}

/// How one wasio test ended.
enum Verdict {
    Passed,
    Failed(String),
    Ignored,
}

/// Runs a test binary that exports `wasio:test/runner`; `None` when it has no wasio tests or
/// the arguments are libtest's alone to answer (the caller then runs `main` as usual).
pub(crate) async fn run(
    host: &Host,
    component: &Component,
    args: &[String],
    opts: &RunOptions,
) -> wasmtime::Result<Option<i32>> {
    let Some((program, rest)) = args.split_first() else {
        return Ok(None);
    };
    let Some(parsed) = parse(rest) else {
        return Ok(None);
    };
    let pre = host
        .linker
        .instantiate_pre(component)
        .context("link the test binary")?;
    let pre = TestsPre::new(pre).context("the binary's wasio:test/runner does not match")?;
    let registered = list(host, &pre, args, opts).await?;
    if registered.is_empty() {
        return Ok(None);
    }
    let selected = select(host, component, program, &parsed, opts).await?;
    let by_name: HashMap<&str, &Test> = registered.iter().map(|t| (t.name.as_str(), t)).collect();
    let (ours, theirs): (Vec<&String>, Vec<&String>) = selected
        .iter()
        .partition(|n| by_name.contains_key(n.as_str()));

    let mut failed_any = false;
    if !theirs.is_empty() {
        let mut argv = vec![program.clone()];
        argv.extend(parsed.output.iter().cloned());
        match parsed.ignored {
            Ignored::Skip => {}
            Ignored::Only => argv.push("--ignored".into()),
            Ignored::Include => argv.push("--include-ignored".into()),
        }
        argv.push("--exact".into());
        argv.extend(theirs.iter().map(|n| n.to_string()));
        let code = host
            .run_component(component, WasiVersion::P2, &argv, &Stdio::Inherit, opts)
            .await?;
        failed_any |= code != 0;
    }

    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    let plural = if ours.len() == 1 { "" } else { "s" };
    let _ = writeln!(
        out,
        "\nrunning {} test{plural} (#[wasio::test] on WASI 0.3)",
        ours.len()
    );
    let _ = out.flush();
    let (mut passed, mut ignored) = (0usize, 0usize);
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut successes_output: Vec<(String, String)> = Vec::new();
    for (i, name) in ours.iter().enumerate() {
        let test = by_name[name.as_str()];
        if parsed.quiet {
            if i > 0 && i % 88 == 0 {
                let _ = writeln!(out, " {i}/{}", ours.len());
            }
        } else {
            let _ = write!(out, "test {name} ... ");
        }
        let _ = out.flush();
        let (verdict, output) = if test.ignore && parsed.ignored == Ignored::Skip {
            (Verdict::Ignored, String::new())
        } else {
            run_one(host, &pre, test, args, parsed.nocapture, opts).await
        };
        let word = match &verdict {
            Verdict::Passed => {
                passed += 1;
                if parsed.show_output {
                    successes_output.push((name.to_string(), output));
                }
                if parsed.quiet { "." } else { "ok" }
            }
            Verdict::Ignored => {
                ignored += 1;
                if parsed.quiet { "i" } else { "ignored" }
            }
            Verdict::Failed(why) => {
                let mut text = output;
                if !why.is_empty() {
                    text.push_str(why);
                    text.push('\n');
                }
                failures.push((name.to_string(), text));
                if parsed.quiet { "F" } else { "FAILED" }
            }
        };
        if parsed.quiet {
            let _ = write!(out, "{word}");
        } else {
            let _ = writeln!(out, "{word}");
        }
        let _ = out.flush();
    }
    if parsed.quiet {
        let _ = writeln!(out);
    }
    if !successes_output.is_empty() {
        let _ = writeln!(out, "\nsuccesses:\n");
        for (name, text) in &successes_output {
            let _ = writeln!(out, "---- {name} stdout ----\n{text}");
        }
        let _ = writeln!(out, "\nsuccesses:");
        for (name, _) in &successes_output {
            let _ = writeln!(out, "    {name}");
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures:\n");
        for (name, text) in &failures {
            let _ = writeln!(out, "---- {name} stdout ----\n{text}");
        }
        let _ = writeln!(out, "\nfailures:");
        for (name, _) in &failures {
            let _ = writeln!(out, "    {name}");
        }
    }
    let filtered = registered.len() - ours.len();
    let status = if failures.is_empty() { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\ntest result: {status}. {passed} passed; {} failed; {ignored} ignored; 0 measured; \
         {filtered} filtered out; finished in {:.2}s\n",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = out.flush();
    failed_any |= !failures.is_empty();
    Ok(Some(if failed_any { 101 } else { 0 }))
}

/// The registered wasio tests (`list-tests`, in an instance of its own).
async fn list(
    host: &Host,
    pre: &TestsPre<crate::State>,
    args: &[String],
    opts: &RunOptions,
) -> wasmtime::Result<Vec<Test>> {
    let (out, err) = host.capture_pipes();
    let mut store = host.store_with(args, &Stdio::Capture(out, err.clone()), false, opts)?;
    let fut = async {
        let inst = pre.instantiate_async(&mut store).await?;
        inst.wasio_test_runner().call_list_tests(&mut store).await
    };
    with_limits(host.config.timeout, fut)
        .await
        .with_context(|| {
            format!(
                "list the binary's #[wasio::test]s: {}",
                String::from_utf8_lossy(&err.contents())
            )
        })
}

/// The names libtest selects for these arguments, in its order (`--list --format terse`).
async fn select(
    host: &Host,
    component: &Component,
    program: &str,
    parsed: &Args,
    opts: &RunOptions,
) -> wasmtime::Result<Vec<String>> {
    let mut argv = vec![program.to_string()];
    argv.extend(parsed.selection.iter().cloned());
    match parsed.ignored {
        Ignored::Skip | Ignored::Include => {}
        Ignored::Only => argv.push("--ignored".into()),
    }
    argv.extend(["--list", "--format", "terse"].map(String::from));
    let (out, err) = host.capture_pipes();
    let code = host
        .run_component(
            component,
            WasiVersion::P2,
            &argv,
            &Stdio::Capture(out.clone(), err.clone()),
            opts,
        )
        .await?;
    if code != 0 {
        wasmtime::bail!(
            "libtest refused the arguments ({code}): {}",
            String::from_utf8_lossy(&err.contents()).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.contents()).into_owned();
    Ok(text
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// Runs one wasio test in a fresh instance; returns its verdict and its captured output.
async fn run_one(
    host: &Host,
    pre: &TestsPre<crate::State>,
    test: &Test,
    args: &[String],
    nocapture: bool,
    opts: &RunOptions,
) -> (Verdict, String) {
    let (out, err) = host.capture_pipes();
    let stdio = if nocapture {
        Stdio::Inherit
    } else {
        Stdio::Capture(out.clone(), err.clone())
    };
    let outcome = async {
        let mut store = host.store_with(args, &stdio, false, opts)?;
        let fut = async {
            let inst = pre.instantiate_async(&mut store).await?;
            let name = test.name.clone();
            store
                .run_concurrent(async move |accessor| {
                    inst.wasio_test_runner().call_run_test(accessor, name).await
                })
                .await?
        };
        with_limits(host.config.timeout, fut).await
    }
    .await;
    let mut output = String::from_utf8_lossy(&out.contents()).into_owned();
    output.push_str(&String::from_utf8_lossy(&err.contents()));
    let verdict = match (outcome, test.should_panic) {
        (Ok(true), false) => Verdict::Passed,
        (Ok(false), _) => Verdict::Failed(String::new()),
        (Ok(true), true) => Verdict::Failed("note: test did not panic as expected".into()),
        (Err(e), false) => Verdict::Failed(describe_error(&host.config, &e)),
        (Err(e), true) => {
            // A panic aborts the instance (a trap, after the panic hook printed "panicked
            // at"); anything else (a limit, an exit) is not the panic the test expects. With
            // --nocapture the output went to the terminal: any trap counts, unchecked.
            let trapped = e.downcast_ref::<wasmtime::Trap>().is_some();
            let panicked = trapped && (nocapture || output.contains("panicked at"));
            match (&test.expected, panicked) {
                (_, false) => Verdict::Failed(describe_error(&host.config, &e)),
                (None, true) => Verdict::Passed,
                (Some(_), true) if nocapture => Verdict::Passed,
                (Some(text), true) if output.contains(text.as_str()) => Verdict::Passed,
                (Some(text), true) => Verdict::Failed(format!(
                    "note: panic did not contain expected string\n      expected substring: \
                     {text:?}"
                )),
            }
        }
    };
    (verdict, output)
}
