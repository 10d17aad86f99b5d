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
    CaseReport, Flavor, Host, HostConfig, RunOptions, Suite, WasiVersion, divergences,
};
use wasmtime::error::Context as _;

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
    /// and `compare`, 600 per test binary run for `compare --crate`, none for `run`.
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

/// Which WASI builds of the suite to run.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WasiArg {
    /// The WASI 0.2 build (`wasio:harness/runner`).
    P2,
    /// The WASI 0.3 build (`wasio:harness/runner-p3`, guest-tests with feature `p3`).
    P3,
    /// Both.
    All,
}

impl WasiArg {
    fn worlds(self) -> &'static [WasiVersion] {
        match self {
            WasiArg::P2 => &[WasiVersion::P2],
            WasiArg::P3 => &[WasiVersion::P3],
            WasiArg::All => &WasiVersion::ALL,
        }
    }
}

/// What `run` and `serve` give a guest beyond the defaults.
#[derive(clap::Args)]
struct GuestArgs {
    /// An environment variable for the guest: `NAME=VALUE`, or `NAME` for the host's value.
    /// The host's `WASIO_*`, `RUST_LOG` and `RUST_BACKTRACE` are always passed.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// A host directory the guest may use: `HOST[::GUEST]` (the guest path defaults to the
    /// host path). Read-write.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// WASI options, as `wasmtime run -S`: `inherit-network`, `tcp[=y|n]`, `udp[=y|n]`,
    /// `allow-ip-name-lookup[=y|n]`; comma-separated or repeated. They apply to a proxy
    /// component's outgoing `wasi:http` requests too.
    #[arg(short = 'S', value_name = "OPT[=VALUE]")]
    wasi: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a `wasi:cli` command component (an example, a binary or a test harness built for
    /// wasm32-wasip2) with the host's stdio and the given arguments. Networking is
    /// loopback-only unless `-S inherit-network`, and names resolve only when they stay on
    /// the machine (literals, localhost, /etc/hosts). Works as a cargo runner:
    /// `runner = ["wasio-host", "run"]`.
    ///
    /// `run` has no wall-clock or CPU limit unless `--timeout` / `--cpu-limit` give one: a
    /// guest that never ends (or sleeps between short bursts) then runs for ever. Give both
    /// for components you do not trust.
    Run {
        #[command(flatten)]
        guest: GuestArgs,
        /// Which `wasi:cli/run` to call: `p3` or `p2`. Default: WASI 0.3's when the component
        /// exports it (a `#[wasio::main]` built with wasio's `wasi-p3` feature), else WASI
        /// 0.2's.
        #[arg(long = "wasi", value_name = "p2|p3", value_parser = parse_world)]
        world: Option<WasiVersion>,
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
        /// Suite components, WASI 0.2 or 0.3 builds (told apart by their exports; at most one
        /// of each). Default: the ones built with this host, for the worlds `--wasi` selects.
        components: Vec<PathBuf>,
        /// Which builds of the suite to run: `p2`, `p3` or `all`. Default: the worlds of the
        /// components given, else `p2`.
        #[arg(long, value_enum)]
        wasi: Option<WasiArg>,
        /// Only cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// One JSON object per case on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compare native and WASI behaviour. With `--crate PATH`: build a crate's tests natively,
    /// for WASI 0.2 and for WASI 0.3, run them in each world and compare per test (a table,
    /// `--json`, `--junit FILE`); the crate lists accepted differences in
    /// `wasio-divergences.md`. Without it: wasio's own conformance suite, natively (each case
    /// in a process of its own) and in wasmtime, with the divergence probes of host/DIVERGENCES.md. Exits
    /// non-zero on any failure or unlisted disagreement.
    Compare {
        /// Suite components, WASI 0.2 or 0.3 builds (told apart by their exports; at most one
        /// of each). Default: the ones built with this host, for the worlds `--wasi` selects.
        components: Vec<PathBuf>,
        /// A crate of your own (its directory): compare its `cargo test` in every world.
        #[arg(long = "crate", value_name = "PATH")]
        krate: Option<PathBuf>,
        /// With `--crate`: the report as JSON on stdout instead of the table.
        #[arg(long, requires = "krate")]
        json: bool,
        /// With `--crate`: also write the report as JUnit XML to this file.
        #[arg(long, value_name = "FILE", requires = "krate")]
        junit: Option<PathBuf>,
        /// With `--crate`: features for every world's build (comma-separated or repeated).
        #[arg(long, value_name = "FEATURES", requires = "krate")]
        features: Vec<String>,
        /// With `--crate`: the features that make the WASI 0.3 build.
        #[arg(
            long,
            value_name = "FEATURES",
            default_value = "wasio/wasi-p3",
            requires = "krate"
        )]
        p3_features: Vec<String>,
        /// Which builds of the suite to compare with native: `p2`, `p3` or `all`. Default:
        /// the worlds of the components given, else `all` (both built with this host).
        #[arg(long, value_enum)]
        wasi: Option<WasiArg>,
        /// Only cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// The divergence list (default: host/DIVERGENCES.md; with `--crate`, the crate's
        /// wasio-divergences.md if it has one).
        #[arg(long)]
        divergences: Option<PathBuf>,
    },
    /// Serve a `wasi:http` proxy component over HTTP/1.1, as `wasmtime serve` does: WASI 0.2
    /// (`wasi:http/incoming-handler`) or WASI 0.3 (`wasi:http/handler`). Prints `listening on
    /// ADDR` first. Each request runs in an instance under the host's limits (`--timeout` is
    /// per request, default 60 s; `--cpu-limit` per instance, none by default; a WASI 0.2
    /// instance serves one request). The component's outgoing requests reach loopback
    /// addresses only, over plain HTTP, unless `-S inherit-network`; each refusal is logged.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Connections served at once (more wait in the listener's backlog).
        #[arg(long, default_value_t = 1000)]
        max_connections: usize,
        #[command(flatten)]
        guest: GuestArgs,
        /// The proxy component (.wasm).
        component: PathBuf,
    },
    /// The compiled-component cache: `dir` prints where it is, `clean` empties it. It keeps
    /// at most `$WASIO_HOST_CACHE_MAX_MB` (default 512) MiB, dropping the least recently used.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

#[derive(Subcommand)]
enum CacheAction {
    /// Print the cache directory.
    Dir,
    /// Remove every cached component.
    Clean,
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
    let is_crate = matches!(cli.cmd, Cmd::Compare { krate: Some(_), .. });
    let is_serve = matches!(cli.cmd, Cmd::Serve { .. });
    // `compare --crate`: the limit is per run of a whole test binary; `serve`: per request.
    let (timeout, cpu_limit) = match (is_run, is_crate, is_serve) {
        (true, _, _) => (0.0, 0.0),
        (_, true, _) => (600.0, 0.0),
        (_, _, true) => (60.0, 0.0),
        _ => (120.0, 60.0),
    };
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
    if let Cmd::Cache { action } = &cmd {
        let dir = wasio_host::cache::dir();
        match action {
            CacheAction::Dir => println!("{}", dir.display()),
            CacheAction::Clean => {
                let (n, bytes) = wasio_host::cache::clean(&dir);
                println!(
                    "removed {n} compiled components ({:.1} MiB) from {}",
                    bytes as f64 / (1 << 20) as f64,
                    dir.display()
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rt = wasio_host::runtime_with(flavor)?;
    let host = Host::new(config)?;
    match cmd {
        Cmd::Cache { .. } => Ok(ExitCode::SUCCESS),
        Cmd::Serve {
            addr,
            max_connections,
            guest,
            component,
        } => {
            let opts = wasio_host::serve::ServeOptions {
                addr,
                run: run_options(&guest.env, &guest.dirs, &guest.wasi)?,
                max_connections,
            };
            let host = std::sync::Arc::new(host);
            rt.block_on(wasio_host::serve::serve(
                host,
                &component,
                opts,
                |local| {
                    println!("listening on {local}");
                    let _ = std::io::Write::flush(&mut std::io::stdout());
                },
                std::future::pending(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            guest,
            world,
            command,
        } => {
            let mut command = command.into_iter();
            let component = PathBuf::from(command.next().unwrap_or_default());
            let mut args: Vec<String> = command.collect();
            if args.first().is_some_and(|a| a == "--") {
                args.remove(0);
            }
            let mut opts = run_options(&guest.env, &guest.dirs, &guest.wasi)?;
            opts.world = world;
            let mut argv = vec![program_name(&component)];
            argv.extend(args);
            let code = rt.block_on(host.run_command(&component, &argv, &opts))?;
            Ok(ExitCode::from(
                u8::try_from(code.clamp(0, 255)).unwrap_or(1),
            ))
        }
        Cmd::Test {
            components,
            wasi,
            filter,
            json,
        } => {
            let suites = load_suites(&host, &components, wasi, WasiArg::P2)?;
            rt.block_on(test(&suites, filter.as_deref(), json))
        }
        Cmd::Compare {
            krate: Some(dir),
            components,
            wasi,
            filter,
            divergences,
            json,
            junit,
            features,
            p3_features,
        } => {
            if !components.is_empty() {
                wasmtime::bail!("--crate compares a crate's tests: give no suite components");
            }
            let split = |v: Vec<String>| -> Vec<String> {
                v.iter()
                    .flat_map(|f| f.split([',', ' ']))
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let opts = wasio_host::crate_compare::Options {
                crate_dir: dir,
                wasi: wasi.unwrap_or(WasiArg::All).worlds().to_vec(),
                features: split(features),
                p3_features: split(p3_features),
                list: divergences,
                host_exe: std::env::current_exe()?,
                timeout: host.config().timeout.unwrap_or(Duration::from_secs(600)),
                filter,
            };
            drop(host);
            let report =
                wasio_host::crate_compare::compare_crate(&opts).map_err(wasmtime::Error::msg)?;
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            if let Some(path) = junit {
                std::fs::write(&path, report.junit())
                    .with_context(|| format!("write {}", path.display()))?;
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Compare {
            components,
            wasi,
            filter,
            divergences,
            ..
        } => {
            let suites = load_suites(&host, &components, wasi, WasiArg::All)?;
            let list_path = divergences.unwrap_or_else(divergences::default_path);
            rt.block_on(compare(&host, &suites, filter.as_deref(), &list_path))
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

fn parse_world(s: &str) -> Result<WasiVersion, String> {
    WasiVersion::parse(s).ok_or_else(|| format!("{s:?}: expected p2 or p3"))
}

fn program_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into())
}

/// The suites to run, in world order (WASI 0.2 first): the worlds are `--wasi`'s, else those
/// of the components given, else `default`'s; each is the component given for it, else the
/// one built with this host.
fn load_suites<'h>(
    host: &'h Host,
    components: &[PathBuf],
    wasi: Option<WasiArg>,
    default: WasiArg,
) -> wasmtime::Result<Vec<Suite<'h>>> {
    let mut given: Vec<Suite<'h>> = Vec::new();
    for path in components {
        let suite = host.suite(path)?;
        let world = suite.wasi_version();
        if given.iter().any(|s| s.wasi_version() == world) {
            wasmtime::bail!(
                "{}: a second {world} suite (give at most one per world)",
                path.display()
            );
        }
        given.push(suite);
    }
    let worlds: Vec<WasiVersion> = match wasi {
        Some(w) => w.worlds().to_vec(),
        None if !given.is_empty() => given.iter().map(Suite::wasi_version).collect(),
        // By default, the worlds this host was built with (the WASI 0.3 build may be skipped).
        None => default
            .worlds()
            .iter()
            .copied()
            .filter(|w| w.default_suite().is_some())
            .collect(),
    };
    if let Some(extra) = given.iter().find(|s| !worlds.contains(&s.wasi_version())) {
        wasmtime::bail!(
            "a {} suite was given, but --wasi selects {}",
            extra.wasi_version(),
            worlds
                .iter()
                .map(|w| w.short())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut suites = Vec::with_capacity(worlds.len());
    for world in WasiVersion::ALL {
        if !worlds.contains(&world) {
            continue;
        }
        if let Some(i) = given.iter().position(|s| s.wasi_version() == world) {
            suites.push(given.swap_remove(i));
            continue;
        }
        let Some(path) = world.default_suite() else {
            wasmtime::bail!(
                "no {world} suite was built with this host (it is built in a wasio checkout \
                 unless WASIO_HOST_SUITE=0, and WASIO_HOST_SKIP_P3 skips the WASI 0.3 one): give \
                 its path"
            );
        };
        let suite = host.suite(Path::new(path))?;
        if suite.wasi_version() != world {
            wasmtime::bail!("{path} is a {} suite, not {world}", suite.wasi_version());
        }
        suites.push(suite);
    }
    if suites.is_empty() {
        wasmtime::bail!(
            "no suite to run: this wasio-host carries no build of wasio's own suite (it is \
             built in a wasio checkout unless WASIO_HOST_SUITE=0); give a suite component's \
             path, or use `run` for a program and `compare --crate PATH` for a crate of your own"
        );
    }
    Ok(suites)
}

fn selected(cases: Vec<String>, filter: Option<&str>) -> Vec<String> {
    cases
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.contains(f)))
        .collect()
}

async fn test(
    suites: &[Suite<'_>],
    filter: Option<&str>,
    json: bool,
) -> wasmtime::Result<ExitCode> {
    let several = suites.len() > 1;
    let mut ok = true;
    for suite in suites {
        let world = suite.wasi_version();
        let cases = selected(suite.list_cases().await?, filter);
        let (mut passed, mut failed) = (0usize, 0usize);
        for name in &cases {
            if !json {
                if several {
                    eprint!("{}: ", world.short());
                }
                eprint!("{name} ... ");
            }
            let report = suite.run_case(name).await;
            if report.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
            if json {
                println!("{}", report_json(&report, world));
            } else if report.passed() {
                eprintln!("ok ({} ms)", report.elapsed.as_millis());
            } else {
                eprintln!("FAILED\n{}", indent(&report.explain()));
            }
        }
        // One world: `N passed, M failed`; several: one such line per world, named.
        let summary = if several {
            format!("{world}: {passed} passed, {failed} failed")
        } else {
            format!("{passed} passed, {failed} failed")
        };
        if json {
            eprintln!("{summary}");
        } else {
            println!("{summary}");
        }
        ok &= failed == 0 && !cases.is_empty();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The counts of one WASI column (or, for the last summary line, of the rows).
#[derive(Default)]
struct Tally {
    agree: usize,
    listed: usize,
    bad: usize,
    probes: usize,
    probes_bad: usize,
}

impl Tally {
    fn count(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Agree => self.agree += 1,
            Verdict::Listed(_) => self.listed += 1,
            Verdict::Disagree(_) => self.bad += 1,
        }
    }

    fn line(&self, cases: usize) -> String {
        format!(
            "{cases} cases: {} agree, {} listed divergences, {} disagree; {} divergence probes, {} failed",
            self.agree, self.listed, self.bad, self.probes, self.probes_bad
        )
    }
}

async fn compare(
    host: &Host,
    suites: &[Suite<'_>],
    filter: Option<&str>,
    list_path: &Path,
) -> wasmtime::Result<ExitCode> {
    let list = divergences::load(list_path).map_err(wasmtime::Error::msg)?;
    let native = compare::NativeSuite::built_in().ok_or_else(|| {
        wasmtime::Error::msg(
            "this wasio-host was built without wasio's suite (outside a wasio checkout, or with \
             WASIO_HOST_SUITE=0), so it has no native build of wasio's suite to compare with (build it with `cargo run --release -p wasio-host -- \
             compare` in a clone of wasio; for a crate of your own, use `compare --crate PATH`)",
        )
    })?;
    let native_cases = native.cases().map_err(wasmtime::Error::msg)?;
    let worlds: Vec<WasiVersion> = suites.iter().map(Suite::wasi_version).collect();
    let mut tallies: Vec<Tally> = worlds.iter().map(|_| Tally::default()).collect();
    let mut total = Tally::default();
    for (suite, tally) in suites.iter().zip(&mut tallies) {
        let guest_cases = suite.list_cases().await?;
        if guest_cases
            .iter()
            .map(String::as_str)
            .ne(native_cases.iter().map(String::as_str))
        {
            eprintln!(
                "the {} component's case list differs from this host's (rebuild the component)",
                suite.wasi_version()
            );
            tally.bad += 1;
            total.bad += 1;
        }
    }
    // The host's own list: every case runs natively, and in each component (a case a
    // component lacks fails there).
    let cases = selected(native_cases, filter);
    let native_timeout = host.config().timeout.unwrap_or(Duration::from_secs(600));
    let width = cases.iter().map(String::len).max().unwrap_or(4).max(4);
    let col = worlds
        .iter()
        .map(|w| w.label().len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut header = format!("{:width$}  {:6}", "case", "native");
    for w in &worlds {
        header.push_str(&format!("  {:col$}", w.label()));
    }
    println!("{header}  transcripts");
    let suite_refs: Vec<&Suite<'_>> = suites.iter().collect();
    let pass = |p: bool| if p { "pass" } else { "FAIL" };
    for name in &cases {
        let row = compare::compare_case(&native, &suite_refs, name, native_timeout, &list).await;
        for (c, tally) in row.columns.iter().zip(&mut tallies) {
            tally.count(&c.verdict);
        }
        total.count(&row.verdict);
        let mut line = format!("{:width$}  {:6}", row.name, pass(row.native.passed));
        for c in &row.columns {
            line.push_str(&format!("  {:col$}", pass(c.report.passed())));
        }
        let same = |s: bool| if s { "equal" } else { "DIFFER" };
        let transcripts = if row.columns.iter().all(|c| c.same_transcript) {
            "equal".to_string()
        } else if row.columns.len() == 1 || row.columns.iter().all(|c| !c.same_transcript) {
            "DIFFER".to_string()
        } else {
            row.columns
                .iter()
                .map(|c| format!("{} {}", c.world.short(), same(c.same_transcript)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let note = match &row.verdict {
            Verdict::Agree => String::new(),
            Verdict::Listed(id) => format!("  (listed divergence: {id})"),
            Verdict::Disagree(_) => "  <-- disagreement".to_string(),
        };
        println!("{line}  {transcripts}{note}");
        if let Verdict::Disagree(why) = &row.verdict {
            println!("{}", indent(why));
        }
        for n in &row.native.notes {
            println!("    native: {n}");
        }
        for c in &row.columns {
            for n in c.report.outcome.iter().flat_map(|o| &o.notes) {
                println!("    {}:     {n}", c.world.short());
            }
        }
    }
    println!();
    println!("divergences ({}):", list_path.display());
    for d in &list {
        let Some(probe) = &d.probe else {
            let test = d.test.as_deref().unwrap_or("-");
            println!("  {:24} WASI side checked by the host test {test}", d.id);
            continue;
        };
        let mut results = Vec::new();
        let mut failures = Vec::new();
        for (suite, tally) in suites.iter().zip(&mut tallies) {
            let world = suite.wasi_version();
            if !d.applies_to(world) {
                continue;
            }
            let report = suite.run_probe(probe).await;
            tally.probes += 1;
            total.probes += 1;
            let ok = report.passed();
            if !ok {
                tally.probes_bad += 1;
                total.probes_bad += 1;
                failures.push((world, report));
            }
            results.push(format!(
                "{} {}",
                world.short(),
                if ok { "ok" } else { "FAILED" }
            ));
        }
        if results.is_empty() {
            let only: Vec<&str> = d.worlds.iter().map(|w| w.short()).collect();
            println!(
                "  {:24} not for the worlds compared (only {})",
                d.id,
                only.join(", ")
            );
            continue;
        }
        println!(
            "  {:24} WASI side checked by probe `{probe}`: {}",
            d.id,
            results.join(", ")
        );
        for (world, report) in failures {
            println!("{}", indent(&format!("{world}: {}", report.explain())));
        }
    }
    println!();
    if worlds.len() > 1 {
        for (w, tally) in worlds.iter().zip(&tallies) {
            println!("{w}: {}", tally.line(cases.len()));
        }
    }
    // Every world together: a case agrees when it agrees in every column.
    let prefix = if worlds.len() > 1 {
        "every world: "
    } else {
        ""
    };
    println!("{prefix}{}", total.line(cases.len()));
    Ok(
        if total.bad == 0 && total.probes_bad == 0 && !cases.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
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

fn report_json(r: &CaseReport, world: WasiVersion) -> String {
    let (message, transcript) = match &r.outcome {
        Some(o) => (o.message.clone(), o.transcript.clone()),
        None => (r.failure.clone().unwrap_or_default(), Vec::new()),
    };
    let transcript: Vec<String> = transcript.iter().map(|e| json_str(e)).collect();
    format!(
        "{{\"case\":{},\"passed\":{},\"elapsed_ms\":{},\"message\":{},\"transcript\":[{}],\"stderr\":{},\"wasi\":{}}}",
        json_str(&r.name),
        r.passed(),
        r.elapsed.as_millis(),
        json_str(&message),
        transcript.join(","),
        json_str(&r.stderr),
        json_str(world.short())
    )
}
