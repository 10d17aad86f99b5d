//! `wasio-host`: run wasio guests in wasmtime, run the conformance suite, compare the worlds.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on its own stdout and stderr"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use wasio_host::compare::{self, Verdict};
use wasio_host::{
    CaseReport, Flavor, GUEST_TESTS_COMPONENT, Host, HostConfig, RunOptions, divergences,
};

#[derive(Parser)]
#[command(
    name = "wasio-host",
    version,
    about = "Run wasio guests in wasmtime 48, run the conformance suite, compare native and WASI"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Wall-clock limit per case or command, in seconds (0: none). Default: 120 for `test`
    /// and `compare`, none for `run`.
    #[arg(long, global = true)]
    timeout: Option<f64>,
    /// CPU limit per guest, in seconds of wasm execution (0: none). Default: 60 for `test`
    /// and `compare`, none for `run`.
    #[arg(long, global = true)]
    cpu_limit: Option<f64>,
    /// Linear-memory limit per store, in MiB.
    #[arg(long, global = true, default_value_t = 1024)]
    memory_mib: usize,
    /// Do not read or write the compiled-component cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// The host's tokio runtime (`current-thread` costs the least CPU per guest round trip;
    /// measured in BENCHMARKS.md).
    #[arg(long, global = true, value_enum, default_value_t = RuntimeArg::CurrentThread)]
    runtime: RuntimeArg,
    /// Instantiate guests from wasmtime's pooling allocator.
    #[arg(long, global = true)]
    pooling: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RuntimeArg {
    CurrentThread,
    MultiThread,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a `wasi:cli` command component (an example, a binary or a test harness built for
    /// wasm32-wasip2) with the host's stdio and the given arguments. Networking is
    /// loopback-only unless `-S inherit-network`. Works as a cargo runner:
    /// `runner = ["wasio-host", "run"]`.
    Run {
        /// An environment variable for the guest: `NAME=VALUE`, or `NAME` for the host's value.
        /// The host's `WASIO_*`, `RUST_LOG` and `RUST_BACKTRACE` are always passed.
        #[arg(long = "env", value_name = "NAME[=VALUE]")]
        env: Vec<String>,
        /// A host directory the guest may use: `HOST[::GUEST]` (the guest path defaults to the
        /// host path). Read-write.
        #[arg(long = "dir", value_name = "HOST[::GUEST]")]
        dirs: Vec<String>,
        /// WASI options, as `wasmtime run -S`: `inherit-network`, `tcp[=y|n]`, `udp[=y|n]`,
        /// `allow-ip-name-lookup[=y|n]`; comma-separated or repeated.
        #[arg(short = 'S', value_name = "OPT[=VALUE]")]
        wasi: Vec<String>,
        /// The component (.wasm), then the guest's arguments: everything after the component
        /// goes to the guest unchanged, also what looks like a wasio-host option (a `--` right
        /// after the component is dropped, as a separator).
        #[arg(
            value_name = "COMPONENT [ARGS]",
            required = true,
            num_args = 1..,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        command: Vec<String>,
    },
    /// Run the conformance suite component in wasmtime, one fresh store per case.
    Test {
        /// The suite component (default: the one built with this host).
        component: Option<PathBuf>,
        /// Only cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// One JSON object per case on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the suite natively (in this process) and in wasmtime and compare per case; also
    /// checks the WASI side of every listed divergence. Exits non-zero on any failure or
    /// unlisted disagreement.
    Compare {
        /// The suite component (default: the one built with this host).
        component: Option<PathBuf>,
        /// Only cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// The divergence list (default: host/DIVERGENCES.md).
        #[arg(long)]
        divergences: Option<PathBuf>,
    },
}

/// A limit in seconds: 0 (or a negative, NaN or infinite value) means none; values too large
/// for a `Duration` are capped.
fn secs(v: f64) -> Option<Duration> {
    if v > 0.0 && v.is_finite() {
        Some(Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX))
    } else {
        None
    }
}

fn main() -> ExitCode {
    // `WASIO_LOG` first (the variable the guests read too), then `RUST_LOG`, then warnings.
    let filter = ["WASIO_LOG", "RUST_LOG"]
        .iter()
        .find_map(|var| {
            let spec = std::env::var(var).ok()?;
            tracing_subscriber::EnvFilter::try_new(spec).ok()
        })
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let is_run = matches!(cli.cmd, Cmd::Run { .. });
    let (timeout, cpu_limit) = if is_run { (0.0, 0.0) } else { (120.0, 60.0) };
    let config = HostConfig {
        timeout: secs(cli.timeout.unwrap_or(timeout)),
        cpu_limit: secs(cli.cpu_limit.unwrap_or(cpu_limit)),
        memory_limit: cli.memory_mib.saturating_mul(1 << 20),
        cache: !cli.no_cache,
        pooling: cli.pooling,
        ..HostConfig::default()
    };
    let flavor = match cli.runtime {
        RuntimeArg::CurrentThread => Flavor::CurrentThread,
        RuntimeArg::MultiThread => Flavor::MultiThread,
    };
    match run(cli.cmd, config, flavor) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasio-host: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cmd: Cmd, config: HostConfig, flavor: Flavor) -> wasmtime::Result<ExitCode> {
    let rt = wasio_host::runtime_with(flavor)?;
    let host = Host::new(config)?;
    match cmd {
        Cmd::Run {
            env,
            dirs,
            wasi,
            command,
        } => {
            let mut command = command.into_iter();
            let component = PathBuf::from(command.next().unwrap_or_default());
            let mut args: Vec<String> = command.collect();
            if args.first().is_some_and(|a| a == "--") {
                args.remove(0);
            }
            let opts = run_options(&env, &dirs, &wasi)?;
            let mut argv = vec![program_name(&component)];
            argv.extend(args);
            let code = rt.block_on(host.run_command(&component, &argv, &opts))?;
            Ok(ExitCode::from(
                u8::try_from(code.clamp(0, 255)).unwrap_or(1),
            ))
        }
        Cmd::Test {
            component,
            filter,
            json,
        } => {
            let path = component.unwrap_or_else(|| PathBuf::from(GUEST_TESTS_COMPONENT));
            rt.block_on(test(&host, &path, filter.as_deref(), json))
        }
        Cmd::Compare {
            component,
            filter,
            divergences,
        } => {
            let path = component.unwrap_or_else(|| PathBuf::from(GUEST_TESTS_COMPONENT));
            let list_path = divergences.unwrap_or_else(divergences::default_path);
            rt.block_on(compare(&host, &path, filter.as_deref(), &list_path))
        }
    }
}

/// `--env`, `--dir` and `-S` as [`RunOptions`]; a clear error for anything malformed.
fn run_options(env: &[String], dirs: &[String], wasi: &[String]) -> wasmtime::Result<RunOptions> {
    let mut opts = RunOptions::default();
    for e in env {
        let (name, value) = match e.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (e.clone(), std::env::var(e).unwrap_or_default()),
        };
        if name.is_empty() {
            wasmtime::bail!("--env {e:?}: the variable has no name");
        }
        opts.env.push((name, value));
    }
    for d in dirs {
        let (host, guest) = match d.split_once("::") {
            Some((h, g)) => (h, g),
            None => (d.as_str(), d.as_str()),
        };
        if host.is_empty() || guest.is_empty() {
            wasmtime::bail!("--dir {d:?}: expected HOST or HOST::GUEST");
        }
        opts.dirs.push((PathBuf::from(host), guest.to_string()));
    }
    for opt in wasi.iter().flat_map(|o| o.split(',')) {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let on = match value {
            None | Some("y" | "yes" | "true") => true,
            Some("n" | "no" | "false") => false,
            Some(v) => wasmtime::bail!("-S {key}={v}: expected y or n"),
        };
        match key {
            "inherit-network" => opts.network.any_address = on,
            "tcp" => opts.network.tcp = on,
            "udp" => opts.network.udp = on,
            "allow-ip-name-lookup" => opts.network.ip_name_lookup = on,
            // Accepted for compatibility with `wasmtime run`: wasio's host always gives them.
            "cli" | "preview2" | "network-error-code" => {}
            _ => wasmtime::bail!(
                "-S {opt}: unknown option (known: inherit-network, tcp, udp, allow-ip-name-lookup)"
            ),
        }
    }
    Ok(opts)
}

fn program_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into())
}

fn selected(cases: Vec<String>, filter: Option<&str>) -> Vec<String> {
    cases
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.contains(f)))
        .collect()
}

async fn test(
    host: &Host,
    path: &Path,
    filter: Option<&str>,
    json: bool,
) -> wasmtime::Result<ExitCode> {
    let suite = host.suite(path)?;
    let cases = selected(suite.list_cases().await?, filter);
    let (mut passed, mut failed) = (0usize, 0usize);
    for name in &cases {
        if !json {
            eprint!("{name} ... ");
        }
        let report = suite.run_case(name).await;
        if report.passed() {
            passed += 1;
        } else {
            failed += 1;
        }
        if json {
            println!("{}", report_json(&report));
        } else if report.passed() {
            eprintln!("ok ({} ms)", report.elapsed.as_millis());
        } else {
            eprintln!("FAILED\n{}", indent(&report.explain()));
        }
    }
    let summary = format!("{passed} passed, {failed} failed");
    if json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(if failed == 0 && !cases.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn compare(
    host: &Host,
    path: &Path,
    filter: Option<&str>,
    list_path: &Path,
) -> wasmtime::Result<ExitCode> {
    let list = divergences::load(list_path).map_err(wasmtime::Error::msg)?;
    let suite = host.suite(path)?;
    let guest_cases = suite.list_cases().await?;
    let mut bad = 0usize;
    if guest_cases
        .iter()
        .map(String::as_str)
        .ne(guest_tests::CASES.iter().copied())
    {
        eprintln!("the component's case list differs from this host's (rebuild the component)");
        bad += 1;
    }
    let cases = selected(guest_cases, filter);
    let native_timeout = host.config().timeout.unwrap_or(Duration::from_secs(600));
    let width = cases.iter().map(String::len).max().unwrap_or(4).max(4);
    println!(
        "{:width$}  {:6}  {:6}  transcripts",
        "case", "native", "wasi"
    );
    let (mut agree, mut listed) = (0usize, 0usize);
    for name in &cases {
        let row = compare::compare_case(&suite, name, native_timeout, &list).await;
        let pass = |p: bool| if p { "pass" } else { "FAIL" };
        let same = if row.same_transcript {
            "equal"
        } else {
            "DIFFER"
        };
        let note = match &row.verdict {
            Verdict::Agree => {
                agree += 1;
                String::new()
            }
            Verdict::Listed(id) => {
                listed += 1;
                format!("  (listed divergence: {id})")
            }
            Verdict::Disagree(_) => {
                bad += 1;
                "  <-- disagreement".to_string()
            }
        };
        println!(
            "{:width$}  {:6}  {:6}  {same}{note}",
            row.name,
            pass(row.native.passed),
            pass(row.wasi.passed())
        );
        if let Verdict::Disagree(why) = &row.verdict {
            println!("{}", indent(why));
        }
        for n in &row.native.notes {
            println!("    native: {n}");
        }
        for n in row.wasi.outcome.iter().flat_map(|o| &o.notes) {
            println!("    wasi:   {n}");
        }
    }
    println!();
    println!("divergences ({}):", list_path.display());
    let mut probes_bad = 0usize;
    for d in &list {
        let Some(probe) = &d.probe else {
            let test = d.test.as_deref().unwrap_or("-");
            println!("  {:24} WASI side checked by the host test {test}", d.id);
            continue;
        };
        let report = suite.run_probe(probe).await;
        let ok = report.passed();
        if !ok {
            probes_bad += 1;
        }
        println!(
            "  {:24} WASI side checked by probe `{probe}`: {}",
            d.id,
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            println!("{}", indent(&report.explain()));
        }
    }
    println!();
    println!(
        "{} cases: {agree} agree, {listed} listed divergences, {bad} disagree; {} divergence probes, {probes_bad} failed",
        cases.len(),
        list.iter().filter(|d| d.probe.is_some()).count()
    );
    Ok(if bad == 0 && probes_bad == 0 && !cases.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn report_json(r: &CaseReport) -> String {
    let (message, transcript) = match &r.outcome {
        Some(o) => (o.message.clone(), o.transcript.clone()),
        None => (r.failure.clone().unwrap_or_default(), Vec::new()),
    };
    let transcript: Vec<String> = transcript.iter().map(|e| json_str(e)).collect();
    format!(
        "{{\"case\":{},\"passed\":{},\"elapsed_ms\":{},\"message\":{},\"transcript\":[{}],\"stderr\":{}}}",
        json_str(&r.name),
        r.passed(),
        r.elapsed.as_millis(),
        json_str(&message),
        transcript.join(","),
        json_str(&r.stderr)
    )
}
