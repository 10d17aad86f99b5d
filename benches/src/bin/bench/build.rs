//! Building what the run needs, through nested `cargo` invocations:
//!
//! * the native binaries of this package (`cargo build --release -p wasio-benches --bins`);
//! * the guests (`benches/guests`, a workspace of its own) for wasm32-wasip2 in
//!   `<target>/bench-guests`, and `tokio-echo` once more with `--cfg tokio_unstable` in
//!   `<target>/bench-guests-tokio` (that flag must not reach the other guests' build), and
//!   the WASI 0.3 guests (`wasio-p3-echo`, `wasio-p3-micro`, `raw-p3-echo`) apart in
//!   `<target>/bench-guests-p3` (their `wasi-p3` feature must not reach the other guests' wasio
//!   either);
//! * `wasio-host` (`cargo build --release -p wasio-host`), unless `WASIO_HOST` names one.
//!
//! Each nested build drops the outer build's flags (`CARGO_ENCODED_RUSTFLAGS`, `RUSTFLAGS`),
//! prints its command line, and fails the run with that command's status if it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where everything lives.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository root (the main workspace).
    pub root: PathBuf,
    /// The cargo target directory the `bench` binary was built in.
    pub target: PathBuf,
    /// `<target>/release`: `loadgen`, `micro`, `echo-*`.
    pub bins: PathBuf,
    /// The guests' components (`<target>/bench-guests/wasm32-wasip2/release`).
    pub guests: PathBuf,
    /// The tokio guest built with `--cfg tokio_unstable`.
    pub tokio_guest: PathBuf,
    /// The wasio guest on the WASI 0.3 backend, built apart (its feature must not reach the
    /// other guests).
    pub p3_guest: PathBuf,
    /// wasio's micro benchmarks and timer lateness on the WASI 0.3 backend.
    pub p3_micro: PathBuf,
    /// The raw WASI 0.3 echo server (the WASI 0.3 floor).
    pub raw_p3: PathBuf,
    /// The `wasio-host` binary.
    pub host: PathBuf,
}

impl Paths {
    /// Finds the paths from this executable's location (`<target>/release/bench`) and the
    /// package's manifest directory.
    pub fn discover() -> Result<Paths, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("benches/ has no parent")?
            .to_path_buf();
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let bins = exe.parent().ok_or("bench has no directory")?.to_path_buf();
        let target = bins
            .parent()
            .ok_or("the profile directory has no parent")?
            .to_path_buf();
        let host = match std::env::var_os("WASIO_HOST") {
            Some(h) => PathBuf::from(h),
            None => bins.join("wasio-host"),
        };
        Ok(Paths {
            guests: target.join("bench-guests/wasm32-wasip2/release"),
            tokio_guest: target.join("bench-guests-tokio/wasm32-wasip2/release/tokio-echo.wasm"),
            p3_guest: target.join("bench-guests-p3/wasm32-wasip2/release/wasio_p3_echo.wasm"),
            p3_micro: target.join("bench-guests-p3/wasm32-wasip2/release/wasio_p3_micro.wasm"),
            raw_p3: target.join("bench-guests-p3/wasm32-wasip2/release/raw_p3_echo.wasm"),
            root,
            target,
            bins,
            host,
        })
    }

    /// A guest component by crate name.
    pub fn guest(&self, name: &str) -> PathBuf {
        self.guests.join(format!("{name}.wasm"))
    }
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    cmd
}

fn run(mut cmd: Command) -> Result<(), String> {
    tracing_line(&format!("running: {cmd:?}"));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// Progress goes to stderr, so stdout holds only the table.
pub fn tracing_line(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "bench: {msg}");
}

/// Builds the native binaries of this package.
pub fn native(p: &Paths) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.current_dir(&p.root)
        .env("CARGO_TARGET_DIR", &p.target)
        .args(["build", "--release", "-p", "wasio-benches", "--bins"]);
    run(cmd)
}

/// Builds the guests, `tokio-echo` with `--cfg tokio_unstable`, and the WASI 0.3 guests apart.
pub fn guests(p: &Paths) -> Result<(), String> {
    let dir = p.root.join("benches/guests");
    let mut cmd = cargo();
    cmd.current_dir(&dir)
        .env("CARGO_TARGET_DIR", p.target.join("bench-guests"))
        .args(["build", "--release", "--target", "wasm32-wasip2"]);
    run(cmd)?;
    let mut cmd = cargo();
    cmd.current_dir(&dir)
        .env("CARGO_TARGET_DIR", p.target.join("bench-guests-tokio"))
        .env("RUSTFLAGS", "--cfg tokio_unstable")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "tokio-echo",
        ]);
    run(cmd)?;
    let mut cmd = cargo();
    cmd.current_dir(&dir)
        .env("CARGO_TARGET_DIR", p.target.join("bench-guests-p3"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "wasio-p3-echo",
            "-p",
            "wasio-p3-micro",
            "-p",
            "raw-p3-echo",
        ]);
    run(cmd)
}

/// The interpreters the Python rows run on, and why a row cannot run.
#[derive(Debug, Clone, Default)]
pub struct Python {
    /// CPython 3 (`python3` on `PATH`), for the asyncio rows.
    pub python: Option<PathBuf>,
    /// The virtual environment's interpreter, with uvloop installed.
    pub uvloop: Option<PathBuf>,
    /// What is missing, for the report.
    pub notes: Vec<String>,
}

/// Finds `python3` and, if `uvloop` is wanted, makes `<target>/bench-venv` with uvloop in it
/// (`python3 -m venv`, then `pip install`; kept for the next run).
pub fn python(p: &Paths, uvloop: bool) -> Python {
    let mut out = Python::default();
    let version = Command::new("python3").arg("--version").output();
    match version {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
            tracing_line(&format!("{v} for the asyncio rows"));
            out.python = Some(PathBuf::from("python3"));
        }
        _ => {
            out.notes.push(
                "python3 was not found: the asyncio and uvloop rows are skipped (install \
                 Python 3 with its venv module to get them)"
                    .into(),
            );
            return out;
        }
    }
    if !uvloop {
        return out;
    }
    let venv = p.target.join("bench-venv");
    let py = venv.join("bin/python");
    let has_uvloop = |py: &Path| {
        Command::new(py)
            .args(["-c", "import uvloop"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has_uvloop(&py) {
        tracing_line(&format!("making {} with uvloop", venv.display()));
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(&py)
                .args(["-m", "pip", "install", "--quiet", "uvloop>=0.19,<1"])
                .status()
                .is_ok_and(|s| s.success());
        if !made || !has_uvloop(&py) {
            out.notes.push(format!(
                "uvloop could not be installed into {} (python3 -m venv, then pip install \
                 uvloop): the uvloop row is skipped",
                venv.display()
            ));
            return out;
        }
    }
    out.uvloop = Some(py);
    out
}

/// Builds `wasio-host` unless `WASIO_HOST` points at one.
pub fn host(p: &Paths) -> Result<(), String> {
    if std::env::var_os("WASIO_HOST").is_some() {
        if !p.host.is_file() {
            return Err(format!("WASIO_HOST={} is not a file", p.host.display()));
        }
        tracing_line(&format!("using WASIO_HOST={}", p.host.display()));
        return Ok(());
    }
    let mut cmd = cargo();
    cmd.current_dir(&p.root)
        .env("CARGO_TARGET_DIR", &p.target)
        .args(["build", "--release", "-p", "wasio-host"]);
    run(cmd)
}

/// The wasio contenders built from another git revision (`--baseline REV`).
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The revision as given.
    pub rev: String,
    /// Its short hash, in contender names (`wasio@<short>`).
    pub short: String,
    /// The native echo server and micro program (the guests' crates built natively).
    pub echo_native: PathBuf,
    pub micro_native: PathBuf,
    /// The components.
    pub echo_wasm: PathBuf,
    pub micro_wasm: PathBuf,
}

fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .map_err(|e| format!("git {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Copies the directory `from` into `to` (created), skipping `target` directories.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&path, &dest)?;
            }
        } else {
            std::fs::copy(&path, &dest).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Checks out `rev` as a detached worktree under `<target>/bench-baseline/`, copies the
/// current contender sources (`benches/src`, `benches/guests`) into it, and builds
/// `wasio-echo` and `wasio-micro` against that revision's wasio, natively and for
/// wasm32-wasip2 (`wasm`). The harness code is today's; only wasio is the old one.
pub fn baseline(p: &Paths, rev: &str, wasm: bool) -> Result<Baseline, String> {
    let short = git(
        &p.root,
        &["rev-parse", "--short", &format!("{rev}^{{commit}}")],
    )?;
    let base = p.target.join("bench-baseline");
    let wt = base.join(&short);
    if !wt.join(".git").exists() {
        std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        let wt_str = wt.to_string_lossy().to_string();
        let _ = git(&p.root, &["worktree", "prune"]);
        git(&p.root, &["worktree", "add", "--detach", &wt_str, &short])?;
    }
    copy_tree(&p.root.join("benches/src"), &wt.join("benches/src"))?;
    copy_tree(&p.root.join("benches/guests"), &wt.join("benches/guests"))?;
    let guests = wt.join("benches/guests");
    let native_target = base.join("target-native");
    let mut cmd = cargo();
    cmd.current_dir(&guests)
        .env("CARGO_TARGET_DIR", &native_target)
        .args([
            "build",
            "--release",
            "-p",
            "wasio-echo",
            "-p",
            "wasio-micro",
        ]);
    run(cmd)?;
    let wasm_target = base.join("target-wasm");
    if wasm {
        let mut cmd = cargo();
        cmd.current_dir(&guests)
            .env("CARGO_TARGET_DIR", &wasm_target)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                "wasio-echo",
                "-p",
                "wasio-micro",
            ]);
        run(cmd)?;
    }
    // Both target directories are shared by every revision: copy this one's binaries aside.
    let keep = base.join(format!("bin-{short}"));
    std::fs::create_dir_all(&keep).map_err(|e| format!("{}: {e}", keep.display()))?;
    let copy = |from: PathBuf, name: &str| -> Result<PathBuf, String> {
        let to = keep.join(name);
        if from.is_file() {
            std::fs::copy(&from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
        }
        Ok(to)
    };
    let wasm_dir = wasm_target.join("wasm32-wasip2/release");
    Ok(Baseline {
        rev: rev.to_string(),
        echo_native: copy(native_target.join("release/wasio-echo"), "wasio-echo")?,
        micro_native: copy(native_target.join("release/wasio-micro"), "wasio-micro")?,
        echo_wasm: copy(wasm_dir.join("wasio-echo.wasm"), "wasio-echo.wasm")?,
        micro_wasm: copy(wasm_dir.join("wasio-micro.wasm"), "wasio-micro.wasm")?,
        short,
    })
}
