//! `wasio-host compare --crate PATH`: a user's own crate, natively, on WASI 0.2 and on WASI 0.3.
//!
//! For each world the crate's tests are built with `cargo test --no-run` (natively; with
//! `--target wasm32-wasip2`; and with `--target wasm32-wasip2 --features wasio/wasi-p3`), and
//! every test binary is run as `cargo test` would run it: natively as a process, on WASI with
//! `wasio-host run` (the cargo runner of a wasio crate), so WASI 0.3 `#[wasio::test]`s run
//! through wasio's test export ([`crate::libtest`]).
//!
//! * Test names come from libtest's `--list`.
//! * Each binary runs once with all its tests. On WASI a panic aborts the whole binary, so a
//!   test that failed or never reported (its binary aborted first) is run again alone with
//!   `--exact`: one failing test never hides the others' outcomes.
//! * Native is the reference. A test disagrees when a WASI world's outcome (passed, failed,
//!   ignored) differs from the native one, unless the crate's divergence list
//!   ([`load_list`], `wasio-divergences.md` by default) names it with a reason. A test that
//!   fails in every world fails the comparison too; a test built in some worlds only (behind a
//!   `cfg`) is reported, not counted as a disagreement.
//! * The report is a table ([`Report::table`]), JSON ([`Report::json`]) or JUnit XML
//!   ([`Report::junit`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::WasiVersion;

/// The file a crate lists its accepted divergences in, at its root.
pub const DEFAULT_LIST: &str = "wasio-divergences.md";

/// A world a crate's tests run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum World {
    /// The host's own target, as `cargo test` runs it.
    Native,
    /// wasm32-wasip2 in wasmtime, WASI 0.2 or WASI 0.3.
    Wasi(WasiVersion),
}

impl World {
    /// `native`, `wasi-p2`, `wasi-p3` (JSON keys, JUnit suite names).
    pub fn key(self) -> &'static str {
        match self {
            World::Native => "native",
            World::Wasi(WasiVersion::P2) => "wasi-p2",
            World::Wasi(WasiVersion::P3) => "wasi-p3",
        }
    }

    /// `native`, `WASI 0.2`, `WASI 0.3` (table headers).
    pub fn label(self) -> &'static str {
        match self {
            World::Native => "native",
            World::Wasi(w) => w.label(),
        }
    }
}

/// How to compare a crate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The crate's directory (holding `Cargo.toml`).
    pub crate_dir: PathBuf,
    /// The WASI worlds beside native.
    pub wasi: Vec<WasiVersion>,
    /// `--features` for every world's build.
    pub features: Vec<String>,
    /// The extra features of the WASI 0.3 build (default `wasio/wasi-p3`).
    pub p3_features: Vec<String>,
    /// The divergence list; `None`: `wasio-divergences.md` in the crate, if it exists.
    pub list: Option<PathBuf>,
    /// The `wasio-host` executable that runs WASI test binaries (`wasio-host run`).
    pub host_exe: PathBuf,
    /// Wall-clock limit for one run of a test binary.
    pub timeout: Duration,
    /// Only tests whose name contains this text.
    pub filter: Option<String>,
}

/// One accepted divergence of a crate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The heading.
    pub id: String,
    /// Why the worlds differ (required).
    pub reason: String,
    /// Test names (libtest's), each optionally prefixed by its binary's source path and `/`
    /// (`tests/net.rs/connects`).
    pub tests: Vec<String>,
    /// The WASI worlds it applies to (empty: both).
    pub worlds: Vec<WasiVersion>,
}

impl Accepted {
    fn covers(&self, binary: &str, test: &str, world: WasiVersion) -> bool {
        (self.worlds.is_empty() || self.worlds.contains(&world))
            && self.tests.iter().any(|t| {
                t == test
                    || t.strip_prefix(binary)
                        .and_then(|r| r.strip_prefix('/'))
                        .is_some_and(|r| r == test)
            })
    }
}

/// Parses a crate's divergence list: `## id` headings, each with `- tests: a, b`,
/// `- reason: …` and optionally `- worlds: p2, p3`. Anything else is prose.
pub fn parse_list(text: &str) -> Result<Vec<Accepted>, String> {
    let mut out: Vec<Accepted> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if let Some(id) = line.strip_prefix("## ") {
            out.push(Accepted {
                id: id.trim().to_string(),
                ..Accepted::default()
            });
            continue;
        }
        let (Some(item), Some(entry)) = (line.strip_prefix("- "), out.last_mut()) else {
            continue;
        };
        let Some((key, value)) = item.split_once(':') else {
            continue;
        };
        let list = || {
            value
                .split(',')
                .map(|s| s.trim().trim_matches('`').to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        };
        match key.trim() {
            "tests" => entry.tests.extend(list()),
            "reason" => entry.reason = value.trim().to_string(),
            "worlds" => {
                for w in list() {
                    let world = WasiVersion::parse(&w)
                        .ok_or_else(|| format!("line {}: unknown world `{w}` (p2, p3)", n + 1))?;
                    entry.worlds.push(world);
                }
            }
            _ => {}
        }
    }
    for e in &out {
        if e.tests.is_empty() {
            return Err(format!("`{}`: no `- tests:` line", e.id));
        }
        if e.reason.is_empty() {
            return Err(format!(
                "`{}`: no `- reason:` (say why the worlds differ)",
                e.id
            ));
        }
    }
    Ok(out)
}

/// Reads the list at `path`.
pub fn load_list(path: &Path) -> Result<Vec<Accepted>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_list(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// What one test did in one world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed; its output (libtest's capture, or the host's report).
    Failed(String),
    /// Its binary aborted while it ran (a panic on WASI, a crash), also when run alone.
    Aborted(String),
    /// It is `#[ignore]`d.
    Ignored,
    /// The world has no such test (it is behind a `cfg`), or its binary was not built there.
    Absent,
}

impl Outcome {
    /// `passed`, `failed`, `aborted`, `ignored`, `absent`.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "failed",
            Outcome::Aborted(_) => "aborted",
            Outcome::Ignored => "ignored",
            Outcome::Absent => "absent",
        }
    }

    fn cell(&self) -> &'static str {
        match self {
            Outcome::Passed => "ok",
            Outcome::Failed(_) => "FAILED",
            Outcome::Aborted(_) => "ABORTED",
            Outcome::Ignored => "ignored",
            Outcome::Absent => "-",
        }
    }

    /// Passed, failed (aborting is failing) or ignored: what must agree across worlds.
    fn class(&self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::Failed(_) | Outcome::Aborted(_) => 1,
            Outcome::Ignored => 2,
            Outcome::Absent => 3,
        }
    }

    fn failed(&self) -> bool {
        self.class() == 1
    }

    fn output(&self) -> &str {
        match self {
            Outcome::Failed(o) | Outcome::Aborted(o) => o,
            _ => "",
        }
    }
}

/// How a test's worlds relate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same outcome everywhere it exists, and not a failure.
    Agree,
    /// It failed in every world it exists in.
    FailsEverywhere,
    /// The outcomes differ, as the listed divergence allows.
    Listed(String),
    /// The outcomes differ and no divergence lists it.
    Disagree,
}

/// One test across the worlds.
#[derive(Debug, Clone)]
pub struct Row {
    /// The test binary, by its source path (`src/lib.rs`, `tests/net.rs`).
    pub binary: String,
    /// libtest's name.
    pub name: String,
    /// One outcome per world, in [`Report::worlds`] order.
    pub outcomes: Vec<Outcome>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The comparison of a crate.
#[derive(Debug, Clone)]
pub struct Report {
    /// The crate's directory.
    pub crate_dir: PathBuf,
    /// The worlds, native first.
    pub worlds: Vec<World>,
    /// One row per test, by binary then name.
    pub rows: Vec<Row>,
    /// Listed divergences whose tests all agree now (the entry can go).
    pub stale: Vec<String>,
    /// The divergence list read (if any).
    pub list: Option<PathBuf>,
}

impl Report {
    /// Whether CI should pass: no unlisted disagreement and no test failing everywhere.
    pub fn ok(&self) -> bool {
        !self.rows.is_empty()
            && self
                .rows
                .iter()
                .all(|r| matches!(r.verdict, Verdict::Agree | Verdict::Listed(_)))
    }

    fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.rows.iter().filter(|r| f(&r.verdict)).count()
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let absent = self
            .rows
            .iter()
            .filter(|r| r.outcomes.contains(&Outcome::Absent))
            .count();
        format!(
            "{} tests: {} agree, {} listed divergences, {} disagree, {} fail in every world; {} \
             not built in every world",
            self.rows.len(),
            self.count(|v| *v == Verdict::Agree),
            self.count(|v| matches!(v, Verdict::Listed(_))),
            self.count(|v| *v == Verdict::Disagree),
            self.count(|v| *v == Verdict::FailsEverywhere),
            absent
        )
    }

    /// The table: one row per test, one column per world, then what failed and why.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let width = self
            .rows
            .iter()
            .map(|r| r.binary.len() + 2 + r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut s = String::new();
        let _ = write!(s, "{:width$}", "test");
        for w in &self.worlds {
            let _ = write!(s, "  {:9}", w.label());
        }
        s.push('\n');
        for r in &self.rows {
            let _ = write!(s, "{:width$}", format!("{}  {}", r.binary, r.name));
            for o in &r.outcomes {
                let _ = write!(s, "  {:9}", o.cell());
            }
            match &r.verdict {
                Verdict::Agree => {}
                Verdict::Listed(id) => {
                    let _ = write!(s, "  (listed divergence: {id})");
                }
                Verdict::Disagree => s.push_str("  <-- disagreement"),
                Verdict::FailsEverywhere => s.push_str("  <-- fails in every world"),
            }
            s.push('\n');
        }
        let mut shown = false;
        for r in &self.rows {
            if matches!(r.verdict, Verdict::Agree | Verdict::Listed(_)) {
                continue;
            }
            for (w, o) in self.worlds.iter().zip(&r.outcomes) {
                if !o.failed() {
                    continue;
                }
                if !shown {
                    s.push_str("\nfailures:\n");
                    shown = true;
                }
                let _ = writeln!(s, "\n---- {}  {} ({}) ----", r.binary, r.name, w.label());
                let out = o.output().trim_end();
                let _ = writeln!(s, "{}", if out.is_empty() { "(no output)" } else { out });
            }
        }
        s.push('\n');
        for id in &self.stale {
            let _ = writeln!(
                s,
                "note: the listed divergence `{id}` no longer differs: its tests agree in every \
                 world (remove it from the list)"
            );
        }
        if let Some(list) = &self.list {
            let _ = writeln!(s, "divergence list: {}", list.display());
        }
        let _ = writeln!(s, "{}", self.summary());
        s
    }

    /// One JSON document.
    pub fn json(&self) -> String {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                let outcomes: serde_json::Map<String, serde_json::Value> = self
                    .worlds
                    .iter()
                    .zip(&r.outcomes)
                    .map(|(w, o)| (w.key().to_string(), o.word().into()))
                    .collect();
                let output: serde_json::Map<String, serde_json::Value> = self
                    .worlds
                    .iter()
                    .zip(&r.outcomes)
                    .filter(|(_, o)| o.failed())
                    .map(|(w, o)| (w.key().to_string(), o.output().into()))
                    .collect();
                let (verdict, divergence) = match &r.verdict {
                    Verdict::Agree => ("agree", None),
                    Verdict::Listed(id) => ("listed", Some(id.clone())),
                    Verdict::Disagree => ("disagree", None),
                    Verdict::FailsEverywhere => ("fails-everywhere", None),
                };
                serde_json::json!({
                    "binary": r.binary,
                    "name": r.name,
                    "outcomes": outcomes,
                    "verdict": verdict,
                    "divergence": divergence,
                    "output": output,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "crate": self.crate_dir.display().to_string(),
            "worlds": self.worlds.iter().map(|w| w.key()).collect::<Vec<_>>(),
            "tests": rows,
            "stale_divergences": self.stale,
            "summary": self.summary(),
            "ok": self.ok(),
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// JUnit XML: one `testsuite` per world (its tests' own outcomes), and one named
    /// `agreement` whose test cases fail where the worlds disagree.
    pub fn junit(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        // A failure the crate accepts (a listed divergence) is reported as skipped, with the
        // entry's name, so that the XML is red exactly when the exit status is.
        let counted = |r: &Row, o: &Outcome| o.failed() && !matches!(r.verdict, Verdict::Listed(_));
        let failures: usize = self
            .rows
            .iter()
            .map(|r| r.outcomes.iter().filter(|o| counted(r, o)).count())
            .sum::<usize>()
            + self.count(|v| matches!(v, Verdict::Disagree | Verdict::FailsEverywhere));
        let _ = writeln!(
            s,
            "<testsuites name=\"wasio compare {}\" failures=\"{failures}\">",
            xml(&self.crate_dir.display().to_string())
        );
        for (i, w) in self.worlds.iter().enumerate() {
            let cases: Vec<(&Row, &Outcome)> = self
                .rows
                .iter()
                .map(|r| (r, &r.outcomes[i]))
                .filter(|(_, o)| **o != Outcome::Absent)
                .collect();
            let failed = cases.iter().filter(|(r, o)| counted(r, o)).count();
            let skipped = cases
                .iter()
                .filter(|(r, o)| **o == Outcome::Ignored || (o.failed() && !counted(r, o)))
                .count();
            let _ = writeln!(
                s,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\">",
                w.key(),
                cases.len()
            );
            for (r, o) in cases {
                let _ = write!(
                    s,
                    "    <testcase classname=\"{}.{}\" name=\"{}\"",
                    w.key(),
                    xml(&r.binary),
                    xml(&r.name)
                );
                match (o, &r.verdict) {
                    (Outcome::Passed, _) => s.push_str("/>\n"),
                    (Outcome::Ignored, _) => s.push_str("><skipped/></testcase>\n"),
                    (_, Verdict::Listed(entry)) => {
                        let _ = writeln!(
                            s,
                            "><skipped message=\"{} here, as the listed divergence {} accepts\">{}</skipped></testcase>",
                            o.word(),
                            xml(entry),
                            xml(o.output())
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            s,
                            "><failure message=\"{}\">{}</failure></testcase>",
                            o.word(),
                            xml(o.output())
                        );
                    }
                }
            }
            s.push_str("  </testsuite>\n");
        }
        let bad = self.count(|v| matches!(v, Verdict::Disagree | Verdict::FailsEverywhere));
        let _ = writeln!(
            s,
            "  <testsuite name=\"agreement\" tests=\"{}\" failures=\"{bad}\">",
            self.rows.len()
        );
        for r in &self.rows {
            let _ = write!(
                s,
                "    <testcase classname=\"agreement.{}\" name=\"{}\"",
                xml(&r.binary),
                xml(&r.name)
            );
            let cells: Vec<String> = self
                .worlds
                .iter()
                .zip(&r.outcomes)
                .map(|(w, o)| format!("{}: {}", w.key(), o.word()))
                .collect();
            match &r.verdict {
                Verdict::Agree | Verdict::Listed(_) => s.push_str("/>\n"),
                Verdict::Disagree => {
                    let _ = writeln!(
                        s,
                        "><failure message=\"the worlds disagree\">{}</failure></testcase>",
                        xml(&cells.join(", "))
                    );
                }
                Verdict::FailsEverywhere => {
                    let _ = writeln!(
                        s,
                        "><failure message=\"fails in every world\">{}</failure></testcase>",
                        xml(&cells.join(", "))
                    );
                }
            }
        }
        s.push_str("  </testsuite>\n</testsuites>\n");
        s
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A test binary cargo built.
#[derive(Debug, Clone)]
struct Binary {
    /// Its source path relative to the crate (`src/lib.rs`, `tests/net.rs`).
    label: String,
    /// The executable or component.
    path: PathBuf,
}

/// Builds the crate's tests for `world` and returns its test binaries.
fn build(opts: &Options, world: World) -> Result<Vec<Binary>, String> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&opts.crate_dir).args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    let mut features = opts.features.clone();
    if let World::Wasi(v) = world {
        cmd.args(["--target", "wasm32-wasip2"]);
        if v == WasiVersion::P3 {
            features.extend(opts.p3_features.iter().cloned());
        }
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    tracing::info!(world = world.key(), ?cmd, "building the tests");
    // cargo's diagnostics go to our stderr as they come; its messages are parsed.
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo test --no-run` for {} failed ({})",
            world.label(),
            out.status
        ));
    }
    let root = std::fs::canonicalize(&opts.crate_dir).unwrap_or_else(|_| opts.crate_dir.clone());
    let mut bins: Vec<Binary> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let src = msg["target"]["src_path"].as_str().unwrap_or_default();
        let label = Path::new(src)
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| src.to_string());
        if !bins.iter().any(|b| b.path == Path::new(exe)) {
            bins.push(Binary {
                label,
                path: PathBuf::from(exe),
            });
        }
    }
    Ok(bins)
}

/// What one run of a test binary printed.
struct Run {
    /// Exit status (`None`: killed at the time limit, or no status).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs a test binary with `args` in `world`, in the crate's directory (as `cargo test` does).
fn run(opts: &Options, world: World, bin: &Binary, args: &[&str]) -> Result<Run, String> {
    let mut cmd = match world {
        World::Native => Command::new(&bin.path),
        World::Wasi(_) => {
            let mut c = Command::new(&opts.host_exe);
            c.arg("--timeout")
                .arg(format!("{}", opts.timeout.as_secs_f64()))
                .arg("run")
                .arg(&bin.path);
            c
        }
    };
    cmd.args(args)
        .current_dir(&opts.crate_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("run {}: {e}", bin.path.display()))?;
    // Both pipes are drained on threads of their own, so a chatty test cannot block on a full
    // pipe while this one waits for it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + opts.timeout + Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait for {}: {e}", bin.path.display())),
        }
    };
    Ok(Run {
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// The test names of a binary (`--list --format terse`).
fn list(opts: &Options, world: World, bin: &Binary) -> Result<Vec<String>, String> {
    let r = run(opts, world, bin, &["--list", "--format", "terse"])?;
    if r.code != Some(0) {
        return Err(format!(
            "{} --list in {}: {}",
            bin.label,
            world.label(),
            r.stderr.trim()
        ));
    }
    Ok(r.stdout
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// The outcomes libtest printed (`test NAME ... ok|FAILED|ignored`), with each failure's
/// captured output.
fn parse_results(stdout: &str) -> BTreeMap<String, Outcome> {
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, verdict)) = rest.split_once(" ... ") else {
            continue;
        };
        let outcome = if verdict.starts_with("ok") {
            Outcome::Passed
        } else if verdict.starts_with("FAILED") {
            Outcome::Failed(String::new())
        } else if verdict.starts_with("ignored") {
            Outcome::Ignored
        } else {
            continue;
        };
        out.insert(name.to_string(), outcome);
    }
    // libtest prints each failure's output under `---- NAME stdout ----`.
    let mut current: Option<String> = None;
    let mut text = String::new();
    let flush = |name: &Option<String>, text: &mut String, out: &mut BTreeMap<String, Outcome>| {
        if let Some(n) = name
            && let Some(Outcome::Failed(o)) = out.get_mut(n)
        {
            *o = std::mem::take(text);
        }
        text.clear();
    };
    for line in stdout.lines() {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            flush(&current, &mut text, &mut out);
            current = Some(name.to_string());
        } else if line == "failures:" || line == "successes:" {
            flush(&current, &mut text, &mut out);
            current = None;
        } else if current.is_some() {
            text.push_str(line);
            text.push('\n');
        }
    }
    flush(&current, &mut text, &mut out);
    out
}

/// The outcome of every test of `bin` in `world`: one run of all, then each test that failed
/// (on WASI) or never reported (its binary aborted) alone.
fn outcomes(
    opts: &Options,
    world: World,
    bin: &Binary,
    names: &[String],
) -> Result<BTreeMap<String, Outcome>, String> {
    let mut args: Vec<&str> = Vec::new();
    if let Some(f) = &opts.filter {
        args.push(f);
    }
    let all = run(opts, world, bin, &args)?;
    let mut results = parse_results(&all.stdout);
    for name in names {
        if opts.filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let again = match results.get(name) {
            None => true,
            Some(Outcome::Failed(_)) => world != World::Native,
            Some(_) => false,
        };
        if !again {
            continue;
        }
        let alone = run(opts, world, bin, &["--exact", name])?;
        let mut got = parse_results(&alone.stdout);
        let outcome = match got.remove(name) {
            Some(o) => o,
            None => {
                let why = match alone.code {
                    None => format!("no result within {:?}", opts.timeout),
                    Some(c) => format!("the test binary exited with {c} before the test ended"),
                };
                let mut text = alone.stderr.trim_end().to_string();
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&why);
                Outcome::Aborted(text)
            }
        };
        results.insert(name.clone(), outcome);
    }
    if results.is_empty() && all.code != Some(0) && !names.is_empty() {
        tracing::warn!(binary = %bin.label, world = world.key(), stderr = %all.stderr, "the test binary reported nothing");
    }
    Ok(results)
}

/// Builds and runs the crate's tests in every world and compares them.
pub fn compare_crate(opts: &Options) -> Result<Report, String> {
    if !opts.crate_dir.join("Cargo.toml").is_file() {
        return Err(format!(
            "{}: no Cargo.toml (give the crate's directory)",
            opts.crate_dir.display()
        ));
    }
    let list_path = match &opts.list {
        Some(p) => Some(p.clone()),
        None => Some(opts.crate_dir.join(DEFAULT_LIST)).filter(|p| p.is_file()),
    };
    let accepted = match &list_path {
        Some(p) => load_list(p)?,
        None => Vec::new(),
    };
    let mut worlds = vec![World::Native];
    worlds.extend(opts.wasi.iter().map(|&w| World::Wasi(w)));
    // (binary label, test name) -> outcome per world.
    let mut table: BTreeMap<(String, String), Vec<Outcome>> = BTreeMap::new();
    for (i, &world) in worlds.iter().enumerate() {
        let bins = build(opts, world)?;
        for bin in &bins {
            let names = list(opts, world, bin)?;
            let results = outcomes(opts, world, bin, &names)?;
            for name in names {
                if opts.filter.as_deref().is_some_and(|f| !name.contains(f)) {
                    continue;
                }
                let outcome = results
                    .get(&name)
                    .cloned()
                    .unwrap_or(Outcome::Aborted("no result".to_string()));
                let row = table
                    .entry((bin.label.clone(), name))
                    .or_insert_with(|| vec![Outcome::Absent; worlds.len()]);
                row[i] = outcome;
            }
        }
    }
    let mut used: Vec<&str> = Vec::new();
    let mut differing: Vec<&str> = Vec::new();
    let mut rows = Vec::new();
    for ((binary, name), outcomes) in table {
        let native = &outcomes[0];
        let present: Vec<&Outcome> = outcomes.iter().filter(|o| **o != Outcome::Absent).collect();
        let mut verdict = Verdict::Agree;
        for (w, o) in worlds.iter().zip(&outcomes).skip(1) {
            let World::Wasi(v) = *w else { continue };
            if *o == Outcome::Absent || *native == Outcome::Absent || o.class() == native.class() {
                continue;
            }
            match accepted.iter().find(|a| a.covers(&binary, &name, v)) {
                Some(a) => {
                    if !differing.contains(&a.id.as_str()) {
                        differing.push(&a.id);
                    }
                    if verdict == Verdict::Agree {
                        verdict = Verdict::Listed(a.id.clone());
                    }
                }
                None => verdict = Verdict::Disagree,
            }
        }
        if verdict == Verdict::Agree && !present.is_empty() && present.iter().all(|o| o.failed()) {
            verdict = Verdict::FailsEverywhere;
        }
        for a in &accepted {
            if worlds.iter().any(|w| match w {
                World::Wasi(v) => a.covers(&binary, &name, *v),
                World::Native => false,
            }) && !used.contains(&a.id.as_str())
            {
                used.push(&a.id);
            }
        }
        rows.push(Row {
            binary,
            name,
            outcomes,
            verdict,
        });
    }
    // Entries whose tests ran and agree everywhere; entries naming no test that ran are kept
    // quiet (their tests may be filtered out or in worlds not compared).
    let stale = accepted
        .iter()
        .filter(|a| used.contains(&a.id.as_str()) && !differing.contains(&a.id.as_str()))
        .map(|a| a.id.clone())
        .collect();
    Ok(Report {
        crate_dir: opts.crate_dir.clone(),
        worlds,
        rows,
        stale,
        list: list_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_needs_tests_and_a_reason() {
        let ok = parse_list(
            "# Accepted\n\n## knows-its-target\n- tests: tests::native_only, `tests/x.rs/y`\n- reason: it checks cfg!\n- worlds: p2\n",
        );
        let list = ok.unwrap_or_default();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].tests, ["tests::native_only", "tests/x.rs/y"]);
        assert_eq!(list[0].worlds, [WasiVersion::P2]);
        assert!(list[0].covers("src/lib.rs", "tests::native_only", WasiVersion::P2));
        assert!(!list[0].covers("src/lib.rs", "tests::native_only", WasiVersion::P3));
        assert!(list[0].covers("tests/x.rs", "y", WasiVersion::P2));
        assert!(!list[0].covers("tests/z.rs", "y", WasiVersion::P2));
        assert!(parse_list("## a\n- tests: t\n").is_err());
        assert!(parse_list("## a\n- reason: r\n").is_err());
        assert!(parse_list("## a\n- tests: t\n- reason: r\n- worlds: p9\n").is_err());
    }

    #[test]
    fn libtest_output_is_read_with_each_failure_s_output() {
        let out = "\nrunning 3 tests\ntest a ... ok\ntest b ... FAILED\ntest c ... ignored, slow\n\nfailures:\n\n---- b stdout ----\nthread 'b' panicked at src/lib.rs:1:1:\nboom\n\n\nfailures:\n    b\n\ntest result: FAILED. 1 passed; 1 failed; 1 ignored\n";
        let r = parse_results(out);
        assert_eq!(r.get("a"), Some(&Outcome::Passed));
        assert_eq!(r.get("c"), Some(&Outcome::Ignored));
        match r.get("b") {
            Some(Outcome::Failed(o)) => assert!(o.contains("boom"), "{o}"),
            other => panic!("{other:?}"),
        }
    }
}
