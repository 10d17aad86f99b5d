//! `bench`: builds what the benchmarks need, runs every contender and configuration in
//! alternation, and prints one report of tables with ratios against the rival and the floor
//! measured in the same run (see `BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release -p wasio-benches --bin bench                 # everything
//! cargo run --release -p wasio-benches --bin bench -- echo idle --quick
//! WASIO_HOST=target/release/wasio-host cargo run --release -p wasio-benches --bin bench
//! cargo run --release -p wasio-benches --bin bench -- --smoke      # CI: native, 0.2 s, C=2
//! ```
//!
//! # Ground rules
//!
//! * Contenders alternate within each round (the order rotates from round to round) and each
//!   figure is the median over the rounds, so slow drift of a shared machine hits all alike.
//! * A contender that fails (tokio on wasm32-wasip2 cannot `accept`) shows its error in the
//!   table and the run goes on; a failure of the harness itself (a build, a wrong byte in an
//!   echo) is reported as such.
//! * Progress goes to stderr; stdout holds only the report (markdown). `--out DIR` also writes
//!   `DIR/<date>.json` (every round) and `DIR/<date>.svg` (the chart).
#![allow(
    clippy::print_stdout,
    reason = "the benchmark's report is its output, printed to stdout"
)]

mod build;
mod chart;
mod procs;
mod table;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde::Serialize;
use wasio_benches::affinity;
use wasio_benches::report::{EchoResult, MicroResult, TimerResult};

use build::{Paths, tracing_line};

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum What {
    /// Echo round trips, C x S, every contender.
    Echo,
    /// One active connection beside idle ones.
    Idle,
    /// 1,000,000 sleeping tasks, half cancelled: lateness.
    Timers,
    /// Micro benchmarks (native and in wasmtime).
    Micro,
    /// Component sizes and compile/instantiate times.
    Sizes,
}

#[derive(Parser, Debug, Clone, Serialize)]
#[command(about = "wasio's benchmarks: build, run, print one report")]
pub struct Args {
    /// What to run (default: everything).
    #[arg(value_enum)]
    what: Vec<What>,
    /// A short run: 1 round, 1 s windows, fewer idle levels, 5 micro samples.
    #[arg(long)]
    quick: bool,
    /// CI smoke test: native echo contenders only, C=2, 0.2 s, bytes checked, no timing read.
    #[arg(long)]
    smoke: bool,
    /// Rounds (each figure is the median over them).
    #[arg(long)]
    rounds: Option<usize>,
    /// Measured window per echo run, seconds.
    #[arg(long)]
    secs: Option<f64>,
    /// Warm-up per echo run, seconds.
    #[arg(long)]
    warmup: Option<f64>,
    /// Write `<date>.json` and `<date>.svg` into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not build anything (use what is there).
    #[arg(long)]
    no_build: bool,
    /// Only these contenders (ids as in the table, e.g. `wasio,raw-wasm`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Do not wait for running compilers to finish before each measurement (by default a
    /// measurement waits up to 10 minutes for a quiet machine and is redone, up to twice, if
    /// a compiler ran during it; runs that still overlapped one are flagged).
    #[arg(long)]
    no_wait: bool,
    /// Also build wasio's contenders from this git revision and run them as `wasio@REV`
    /// and `wasio-wasm@REV` in the same run (the before/after of a core change).
    #[arg(long)]
    baseline: Option<String>,
}

/// Which side of the comparison a contender is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum World {
    /// A native process.
    Native,
    /// A component in `wasio-host`.
    Wasm,
}

/// An echo server to measure.
#[derive(Clone, Debug, Serialize)]
pub struct Contender {
    /// Its id in the table.
    pub id: String,
    /// Native or in wasmtime.
    pub world: World,
    /// Its role: `subject` (wasio), `rival`, `floor`, `baseline` (wasio at `--baseline REV`)
    /// or `other`.
    pub role: &'static str,
}

/// The echo contenders: id, world, role.
const CONTENDERS: &[(&str, World, &str)] = &[
    ("wasio", World::Native, "subject"),
    ("tokio", World::Native, "rival"),
    ("mio", World::Native, "floor"),
    ("wasio-wasm", World::Wasm, "subject"),
    ("wstd-wasm", World::Wasm, "rival"),
    ("raw-wasm", World::Wasm, "floor"),
    ("tokio-wasm", World::Wasm, "other"),
    // wasio on its WASI 0.3 backend, and the raw WASI 0.3 loop it is measured against.
    ("wasio-p3-wasm", World::Wasm, "other"),
    ("raw-p3-wasm", World::Wasm, "floor"),
    // The model and its fastest loop, in CPython (`benches/python/echo.py`).
    ("asyncio-streams", World::Native, "other"),
    ("asyncio-protocol", World::Native, "other"),
    ("uvloop", World::Native, "other"),
];

/// The Python contenders: id, `--api`, `--loop` of `benches/python/echo.py`.
const PYTHON: &[(&str, &str, &str)] = &[
    ("asyncio-streams", "streams", "asyncio"),
    ("asyncio-protocol", "protocol", "asyncio"),
    ("uvloop", "protocol", "uvloop"),
];

fn python_args(id: &str) -> Option<(&'static str, &'static str)> {
    PYTHON
        .iter()
        .find(|(p, _, _)| *p == id)
        .map(|&(_, api, lp)| (api, lp))
}

/// One echo configuration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Config {
    pub conns: usize,
    pub size: usize,
    pub idle: usize,
}

/// Every round of one contender in one configuration.
#[derive(Clone, Debug, Serialize)]
pub struct EchoCell {
    pub contender: Contender,
    pub config: Config,
    /// One entry per round: a result or the error as recorded.
    pub runs: Vec<Result<EchoResult, String>>,
    /// Rounds during which a compiler ran on the machine (even after retries).
    pub busy: usize,
}

/// The timer-lateness runs of one runtime.
#[derive(Clone, Debug, Serialize)]
pub struct TimerCell {
    pub runtime: String,
    pub world: World,
    pub runs: Vec<Result<TimerResult, String>>,
    /// Rounds during which a compiler ran on the machine (even after retries).
    pub busy: usize,
}

/// A component's size and start-up times.
#[derive(Clone, Debug, Serialize)]
pub struct SizeRow {
    pub component: String,
    pub bytes: u64,
    /// `wasio-host run --no-cache` of the component with bad arguments: compile +
    /// instantiate + a failing `main`, milliseconds (median of 3).
    pub cold_ms: Option<f64>,
    /// The same with the compiled-component cache: instantiate + `main`.
    pub warm_ms: Option<f64>,
}

/// Everything a run produced (the JSON file).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub cpu: String,
    pub cores: usize,
    pub args: Args,
    pub rounds: usize,
    pub secs: f64,
    pub warmup: f64,
    pub echo: Vec<EchoCell>,
    pub timers: Vec<TimerCell>,
    pub micro: Vec<Result<MicroResult, String>>,
    pub sizes: Vec<SizeRow>,
    /// `--baseline`: the revision as given and its short hash (the `@` suffix).
    pub baseline: Option<(String, String)>,
    /// What the run could not do, and why (rows skipped).
    pub notes: Vec<String>,
}

fn main() {
    if let Err(e) = real_main() {
        tracing_line(&format!("error: {e}"));
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), String> {
    let args = Args::parse();
    let paths = Paths::discover()?;
    let mut what = args.what.clone();
    if what.is_empty() {
        what = vec![
            What::Echo,
            What::Idle,
            What::Timers,
            What::Micro,
            What::Sizes,
        ];
    }
    if args.smoke {
        what = vec![What::Echo];
    }
    let quick = args.quick || args.smoke;
    let rounds = args.rounds.unwrap_or(if quick { 1 } else { 3 }).max(1);
    let secs = args.secs.unwrap_or(if args.smoke {
        0.2
    } else if quick {
        1.0
    } else {
        2.0
    });
    let warmup = args.warmup.unwrap_or(if args.smoke {
        0.0
    } else if quick {
        0.3
    } else {
        0.5
    });
    let mut contenders: Vec<Contender> = CONTENDERS
        .iter()
        .map(|&(id, world, role)| Contender {
            id: id.to_string(),
            world,
            role,
        })
        // The smoke test checks wasio's own servers and their rivals, not the Python rows.
        .filter(|c| !args.smoke || (c.world == World::Native && python_args(&c.id).is_none()))
        .filter(|c| args.only.is_empty() || args.only.contains(&c.id))
        .collect();
    let echo_only = what.iter().all(|w| matches!(w, What::Echo | What::Idle));
    let needs_wasm =
        !args.smoke && (!echo_only || contenders.iter().any(|c| c.world == World::Wasm));
    if !args.no_build {
        build::native(&paths)?;
        if needs_wasm {
            build::guests(&paths)?;
            build::host(&paths)?;
        }
    }
    let baseline = match &args.baseline {
        Some(rev) => Some(build::baseline(&paths, rev, needs_wasm)?),
        None => None,
    };
    if let Some(b) = &baseline {
        let mut extra = Vec::new();
        for c in contenders.iter().filter(|c| c.role == "subject") {
            extra.push(Contender {
                id: format!("{}@{}", c.id, b.short),
                world: c.world,
                role: "baseline",
            });
        }
        contenders.extend(extra);
    }
    // Python for the asyncio and uvloop rows; rows it cannot run are dropped, and the report
    // says why.
    let mut notes = Vec::new();
    let wants_python = what.iter().any(|w| matches!(w, What::Echo | What::Idle))
        && contenders.iter().any(|c| python_args(&c.id).is_some());
    let python = if wants_python {
        let wants_uvloop = contenders.iter().any(|c| c.id == "uvloop");
        build::python(&paths, wants_uvloop)
    } else {
        build::Python::default()
    };
    notes.extend(python.notes.iter().cloned());
    contenders.retain(|c| match python_args(&c.id) {
        None => true,
        Some((_, "uvloop")) => python.uvloop.is_some(),
        Some(_) => python.python.is_some(),
    });
    match affinity::raise_fd_limit() {
        Ok(n) => tracing_line(&format!("file descriptor limit {n}")),
        Err(e) => tracing_line(&format!("cannot raise the file descriptor limit: {e}")),
    }
    let mut report = Report {
        date: today(),
        cpu: cpu_model(),
        cores: affinity::cores(),
        args: args.clone(),
        rounds,
        secs,
        warmup,
        echo: Vec::new(),
        timers: Vec::new(),
        micro: Vec::new(),
        sizes: Vec::new(),
        baseline: baseline.as_ref().map(|b| (b.rev.clone(), b.short.clone())),
        notes,
    };
    let run = Runner {
        paths: &paths,
        secs,
        warmup,
        baseline: baseline.as_ref(),
        python: &python,
        wait: !args.no_wait && !args.smoke,
    };
    let started = Instant::now();

    // Echo and idle share one matrix: configurations x contenders x rounds.
    let mut configs: Vec<(Config, World)> = Vec::new();
    if what.contains(&What::Echo) {
        let (cs, ss): (&[usize], &[usize]) = if args.smoke {
            (&[2], &[64, 65536])
        } else {
            (&[1, 50, 500], &[64, 1024, 65536])
        };
        for &conns in cs {
            for &size in ss {
                for world in [World::Native, World::Wasm] {
                    configs.push((
                        Config {
                            conns,
                            size,
                            idle: 0,
                        },
                        world,
                    ));
                }
            }
        }
    }
    if what.contains(&What::Idle) {
        let native: &[usize] = if quick { &[1_000] } else { &[1_000, 10_000] };
        let wasm: &[usize] = if quick {
            &[100, 1_000]
        } else {
            &[100, 1_000, 5_000]
        };
        for (world, levels) in [(World::Native, native), (World::Wasm, wasm)] {
            // Idle 0 is the C=1, 64 B echo configuration; run it here too if echo is off.
            let zero = (!what.contains(&What::Echo)).then_some(0);
            for &idle in zero.iter().chain(levels) {
                configs.push((
                    Config {
                        conns: 1,
                        size: 64,
                        idle,
                    },
                    world,
                ));
            }
        }
    }
    for (config, world) in &configs {
        for c in contenders.iter().filter(|c| c.world == *world) {
            if config.idle > 0 && c.id == "tokio-wasm" {
                continue; // it cannot accept a connection: nothing to learn from idle ones
            }
            report.echo.push(EchoCell {
                contender: c.clone(),
                config: *config,
                runs: Vec::new(),
                busy: 0,
            });
        }
    }
    for round in 0..rounds {
        for (config, world) in &configs {
            let idx: Vec<usize> = report
                .echo
                .iter()
                .enumerate()
                .filter(|(_, e)| e.config == *config && e.contender.world == *world)
                .map(|(i, _)| i)
                .collect();
            for k in 0..idx.len() {
                let i = idx[(k + round) % idx.len()];
                let cell = &report.echo[i];
                // A contender that could not serve at all is not retried.
                if cell
                    .runs
                    .iter()
                    .any(|r| r.as_ref().is_err_and(|e| e.contains("server exited")))
                {
                    let prev = cell.runs[0].clone();
                    report.echo[i].runs.push(prev);
                    continue;
                }
                tracing_line(&format!(
                    "round {}/{rounds}: {} C={} S={} idle={} ({:.0} s elapsed)",
                    round + 1,
                    cell.contender.id,
                    config.conns,
                    config.size,
                    config.idle,
                    started.elapsed().as_secs_f64()
                ));
                let contender = cell.contender.clone();
                let (r, busy) = run.quietly(|| run.echo(&contender, config));
                if let Err(e) = &r {
                    tracing_line(&format!("  failed: {e}"));
                }
                report.echo[i].runs.push(r);
                report.echo[i].busy += usize::from(busy);
            }
        }
    }

    if what.contains(&What::Timers) {
        report.timers = run.timers(rounds, &contenders);
    }
    if what.contains(&What::Micro) {
        report.micro = run.micro(if quick { 5 } else { 11 });
    }
    if what.contains(&What::Sizes) {
        report.sizes = run.sizes();
    }

    let text = table::render(&report);
    println!("{text}");
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let json = dir.join(format!("{}.json", report.date));
        let body = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(&json, body).map_err(|e| format!("{}: {e}", json.display()))?;
        let md = dir.join(format!("{}.md", report.date));
        std::fs::write(&md, &text).map_err(|e| format!("{}: {e}", md.display()))?;
        let svg = dir.join(format!("{}.svg", report.date));
        chart::draw(&report, &svg)?;
        tracing_line(&format!(
            "wrote {}, {} and {}",
            json.display(),
            md.display(),
            svg.display()
        ));
    }
    if args.smoke {
        let failed: Vec<String> = report
            .echo
            .iter()
            .flat_map(|c| c.runs.iter().filter_map(|r| r.as_ref().err()).cloned())
            .collect();
        if !failed.is_empty() {
            return Err(format!("smoke test failed: {}", failed.join("; ")));
        }
    }
    Ok(())
}

/// Runs single measurements.
struct Runner<'a> {
    paths: &'a Paths,
    secs: f64,
    warmup: f64,
    baseline: Option<&'a build::Baseline>,
    /// The interpreters of the Python rows.
    python: &'a build::Python,
    /// Wait for a quiet machine before each measurement, and redo one a compiler disturbed.
    wait: bool,
}

impl Runner<'_> {
    /// Runs one measurement on a quiet machine: waits for running compilers to finish and
    /// redoes the measurement (up to twice) if one started meanwhile. Returns the result and
    /// whether a compiler still overlapped it.
    fn quietly<T>(&self, mut f: impl FnMut() -> T) -> (T, bool) {
        if !self.wait {
            return (f(), false);
        }
        let mut attempt = 0;
        loop {
            procs::wait_quiet(Duration::from_secs(5), Duration::from_secs(600));
            let (out, busy) = procs::watched(&mut f);
            attempt += 1;
            if !busy || attempt == 3 {
                return (out, busy);
            }
            tracing_line("  a compiler ran during the measurement: measuring again");
        }
    }

    fn server_command(&self, c: &Contender) -> Command {
        let p = self.paths;
        let base = self.baseline.filter(|_| c.role == "baseline");
        let mut cmd = match c.world {
            World::Native => match (base, python_args(&c.id)) {
                (Some(b), _) => Command::new(&b.echo_native),
                (None, Some((api, lp))) => {
                    let python = match lp {
                        "uvloop" => self.python.uvloop.clone(),
                        _ => self.python.python.clone(),
                    };
                    let mut cmd = Command::new(python.unwrap_or_else(|| "python3".into()));
                    cmd.arg(p.root.join("benches/python/echo.py"))
                        .args(["--api", api, "--loop", lp]);
                    cmd
                }
                (None, None) => Command::new(p.bins.join(format!("echo-{}", c.id))),
            },
            World::Wasm => {
                let component = match (base, c.id.as_str()) {
                    (Some(b), _) => b.echo_wasm.clone(),
                    (None, "tokio-wasm") => p.tokio_guest.clone(),
                    (None, "wasio-p3-wasm") => p.p3_guest.clone(),
                    (None, "raw-p3-wasm") => p.raw_p3.clone(),
                    (None, id) => p.guest(&format!("{}-echo", id.trim_end_matches("-wasm"))),
                };
                let mut cmd = Command::new(&p.host);
                cmd.arg("run").arg(component);
                cmd
            }
        };
        cmd.arg("127.0.0.1:0");
        cmd
    }

    fn echo(&self, c: &Contender, config: &Config) -> Result<EchoResult, String> {
        let logs = self.paths.target.join("bench-logs");
        let mut server = procs::start_server(self.server_command(c), &logs, &c.id)?;
        let mut cmd = Command::new(self.paths.bins.join("loadgen"));
        cmd.args(["--addr", &server.addr])
            .args(["--conns", &config.conns.to_string()])
            .args(["--size", &config.size.to_string()])
            .args(["--idle", &config.idle.to_string()])
            .args(["--warmup", &self.warmup.to_string()])
            .args(["--secs", &self.secs.to_string()])
            .args(["--server-pid", &server.pid().to_string()]);
        match procs::output_lines(cmd) {
            Ok(lines) => {
                let line = lines.last().ok_or("loadgen printed nothing")?;
                serde_json::from_str(line).map_err(|e| format!("loadgen output {line:?}: {e}"))
            }
            Err(e) => {
                // Give a dying server a moment to be seen dead.
                std::thread::sleep(std::time::Duration::from_millis(200));
                // `e` is the load generator's own message ("loadgen: ...").
                Err(match server.exited() {
                    Some(why) => format!("{why}; {e}"),
                    None => e,
                })
            }
        }
    }

    fn host_run(&self, component: PathBuf, memory_mib: Option<u32>) -> Command {
        let mut cmd = Command::new(&self.paths.host);
        cmd.arg("run");
        if let Some(m) = memory_mib {
            cmd.args(["--memory-mib", &m.to_string()]);
        }
        cmd.arg(component);
        procs::pin_child(&mut cmd);
        cmd
    }

    /// The command of one timer-lateness run.
    fn timers_command(&self, cell: &TimerCell, tasks: &str) -> Command {
        let runtime = cell.runtime.as_str();
        let base = self.baseline.filter(|_| runtime.contains('@'));
        match (base, runtime) {
            (Some(b), _) => {
                let mut cmd = if cell.world == World::Native {
                    let mut cmd = Command::new(&b.micro_native);
                    procs::pin_child(&mut cmd);
                    cmd
                } else {
                    self.host_run(b.micro_wasm.clone(), Some(4000))
                };
                cmd.args(["--runtime", runtime, "--timers", tasks]);
                cmd
            }
            (None, "wasio" | "tokio") => {
                let mut cmd = Command::new(self.paths.bins.join("micro"));
                cmd.args(["--runtime", runtime, "--timers", "--tasks", tasks]);
                procs::pin_child(&mut cmd);
                cmd
            }
            (None, "wasio-wasm") => {
                let mut cmd = self.host_run(self.paths.guest("wasio-micro"), Some(4000));
                cmd.args(["--timers", tasks]);
                cmd
            }
            (None, "wasio-p3-wasm") => {
                let mut cmd = self.host_run(self.paths.p3_micro.clone(), Some(4000));
                cmd.args(["--timers", tasks]);
                cmd
            }
            _ => {
                let mut cmd = self.host_run(self.paths.guest("tokio-echo"), Some(4000));
                cmd.args(["--timers", tasks]);
                cmd
            }
        }
    }

    fn timers(&self, rounds: usize, contenders: &[Contender]) -> Vec<TimerCell> {
        let want_wasm = contenders.iter().any(|c| c.world == World::Wasm);
        let want_native = contenders.iter().any(|c| c.world == World::Native);
        let mut cells: Vec<TimerCell> = Vec::new();
        let tasks = "1000000";
        let mut runtimes = vec![
            ("wasio".to_string(), World::Native),
            ("tokio".to_string(), World::Native),
            ("wasio-wasm".to_string(), World::Wasm),
            ("wasio-p3-wasm".to_string(), World::Wasm),
            ("tokio-wasm".to_string(), World::Wasm),
        ];
        if let Some(b) = self.baseline {
            runtimes.push((format!("wasio@{}", b.short), World::Native));
            runtimes.push((format!("wasio-wasm@{}", b.short), World::Wasm));
        }
        for (runtime, world) in runtimes {
            if (world == World::Wasm && !want_wasm) || (world == World::Native && !want_native) {
                continue;
            }
            cells.push(TimerCell {
                runtime,
                world,
                runs: Vec::new(),
                busy: 0,
            });
        }
        for round in 0..rounds {
            for k in 0..cells.len() {
                let i = (k + round) % cells.len();
                let runtime = cells[i].runtime.clone();
                tracing_line(&format!("round {}/{rounds}: timers {runtime}", round + 1));
                let cell = &cells[i];
                let (r, busy) = self.quietly(|| {
                    procs::output_lines(self.timers_command(cell, tasks)).and_then(|lines| {
                        let line = lines.last().ok_or("printed nothing")?;
                        serde_json::from_str::<TimerResult>(line)
                            .map_err(|e| format!("output {line:?}: {e}"))
                    })
                });
                cells[i].runs.push(r);
                cells[i].busy += usize::from(busy);
            }
        }
        cells
    }

    fn micro(&self, samples: usize) -> Vec<Result<MicroResult, String>> {
        let mut out = Vec::new();
        let s = samples.to_string();
        let mut runtimes = vec![
            "wasio".to_string(),
            "tokio".into(),
            "wasio-wasm".into(),
            "wasio-p3-wasm".into(),
        ];
        if let Some(b) = self.baseline {
            runtimes.push(format!("wasio@{}", b.short));
            runtimes.push(format!("wasio-wasm@{}", b.short));
        }
        for runtime in runtimes {
            let runtime = runtime.as_str();
            tracing_line(&format!("micro benchmarks: {runtime}"));
            let base = self.baseline.filter(|_| runtime.contains('@'));
            let make = || {
                if let Some(b) = base {
                    let mut cmd = if runtime.starts_with("wasio-wasm") {
                        self.host_run(b.micro_wasm.clone(), None)
                    } else {
                        let mut cmd = Command::new(&b.micro_native);
                        procs::pin_child(&mut cmd);
                        cmd
                    };
                    cmd.args(["--runtime", runtime, "--samples", &s]);
                    cmd
                } else if runtime == "wasio-wasm" {
                    let mut cmd = self.host_run(self.paths.guest("wasio-micro"), None);
                    cmd.args(["--samples", &s]);
                    cmd
                } else if runtime == "wasio-p3-wasm" {
                    let mut cmd = self.host_run(self.paths.p3_micro.clone(), None);
                    cmd.args(["--samples", &s]);
                    cmd
                } else {
                    let mut cmd = Command::new(self.paths.bins.join("micro"));
                    cmd.args(["--runtime", runtime, "--samples", &s]);
                    procs::pin_child(&mut cmd);
                    cmd
                }
            };
            let (lines, busy) = self.quietly(|| procs::output_lines(make()));
            if busy {
                tracing_line(&format!(
                    "  {runtime}: a compiler ran during the measurement"
                ));
            }
            match lines {
                Ok(lines) => out.extend(lines.iter().map(|l| {
                    serde_json::from_str::<MicroResult>(l).map_err(|e| format!("{l:?}: {e}"))
                })),
                Err(e) => out.push(Err(format!("{runtime}: {e}"))),
            }
        }
        out
    }

    fn sizes(&self) -> Vec<SizeRow> {
        let mut rows = Vec::new();
        let mut components: Vec<(String, PathBuf)> =
            ["wasio-echo", "wstd-echo", "raw-echo", "wasio-micro"]
                .iter()
                .map(|n| (n.to_string(), self.paths.guest(n)))
                .collect();
        components.push(("tokio-echo".into(), self.paths.tokio_guest.clone()));
        for (name, path) in components {
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            tracing_line(&format!("start-up time: {name}"));
            let time = |cache: bool| -> Option<f64> {
                let mut ms = Vec::new();
                for _ in 0..3 {
                    let mut cmd = Command::new(&self.paths.host);
                    cmd.arg("run");
                    if !cache {
                        cmd.arg("--no-cache");
                    }
                    // A bad address (or argument) makes every guest's main fail at once.
                    cmd.arg(&path).arg("--no-such-argument");
                    cmd.stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null());
                    let t = Instant::now();
                    cmd.status().ok()?;
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                wasio_benches::stats::median(&ms)
            };
            // Warm the cache once, then time both ways.
            let _ = time(true);
            rows.push(SizeRow {
                component: name,
                bytes,
                cold_ms: time(false),
                warm_ms: time(true),
            });
        }
        rows
    }
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Howard Hinnant's days-to-civil algorithm.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The CPU model from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
