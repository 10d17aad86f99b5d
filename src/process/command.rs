//! [`Command`] (how to start a child), [`ProcessOptions`] (the options of
//! [`subprocess_exec`](super::subprocess_exec) and [`subprocess_shell`](super::subprocess_shell)),
//! and the checks every spawn makes first (SUB-01).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::child::Child;
use crate::context::try_current_core;
use crate::error::Error;
use crate::sys;

/// How to start a child process: program, arguments, environment, working directory, what
/// its stdin, stdout and stderr are, and what closing the loop does to it. A Rust-style
/// builder close to `tokio::process::Command`; [`spawn`](Command::spawn) starts the child on
/// the running loop.
///
/// By default the child inherits the parent's stdin, stdout and stderr (as asyncio's
/// `create_subprocess_exec`); ask for pipes with [`Stdio::piped()`].
///
/// ```
/// use wasio::process::{Command, Stdio};
///
/// # #[cfg(unix)]
/// wasio::run(async {
///     let child = Command::new("sh")
///         .arg("-c")
///         .arg("echo hello; exit 7")
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut out = Vec::new();
///     child.stdout.as_ref().unwrap().read_to_end(&mut out).await?;
///     assert_eq!(out, b"hello\n");
///     assert_eq!(child.wait().await?.code(), Some(7));
///     std::io::Result::Ok(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_close: bool,
}

impl Command {
    /// A command that runs `program` (looked up in `PATH` unless it contains a `/`), with no
    /// arguments, the parent's environment and working directory, inherited stdio, and
    /// `kill_on_close(true)`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            kill_on_close: true,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds afterwards).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// What the child's stdin is: [`Stdio::piped()`] gives [`Child::stdin`].
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self
    }

    /// What the child's stdout is: [`Stdio::piped()`] gives [`Child::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// What the child's stderr is: [`Stdio::piped()`] gives [`Child::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Whether a child still running when its loop closes is killed (`SIGKILL`) and reaped
    /// (default `true`). With `false` it is left running, and a thread reaps it when it exits.
    /// A child that has exited is never signalled.
    pub fn kill_on_close(&mut self, kill: bool) -> &mut Command {
        self.kill_on_close = kill;
        self
    }

    /// The std command underneath (for options wasio does not wrap, such as Unix's
    /// `CommandExt`).
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std command underneath, mutably.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child on the loop running on this thread.
    ///
    /// Errors: `Unsupported` on WASI (naming it); `InvalidInput` for an empty program or a
    /// NUL byte in the program, an argument, the environment or the working directory, or an
    /// environment variable name that is empty or holds `=` (SUB-01); no running loop, or a
    /// closed one; the spawn's own error, kind kept and program named (`NotFound` for a
    /// program that does not exist). A failed spawn leaves no process and no descriptor behind
    /// (SUB-05).
    pub fn spawn(&mut self) -> io::Result<Child> {
        sys::process::supported()?;
        validate(&self.std)?;
        let core = try_current_core().map_err(io::Error::other)?;
        if core.is_closed() {
            return Err(io::Error::other(Error::closed()));
        }
        let spawned = sys::process::spawn(&mut self.std).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to spawn {:?}: {e}", self.std.get_program()),
            )
        })?;
        Child::start(&core, spawned, self.kill_on_close)
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("std", &self.std)
            .field("kill_on_close", &self.kill_on_close)
            .finish()
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn check_nul(what: &str, s: &OsStr) -> io::Result<()> {
    if s.as_encoded_bytes().contains(&0) {
        return Err(invalid(format!(
            "{what} must not contain a NUL byte: {s:?}"
        )));
    }
    Ok(())
}

/// SUB-01 for Rust: asyncio's checks concern Python options that do not exist here (text
/// mode, buffering, `shell` against the form); what can be wrong in a Rust command is
/// checked before anything is spawned.
fn validate(cmd: &std::process::Command) -> io::Result<()> {
    let program = cmd.get_program();
    if program.is_empty() {
        return Err(invalid("program must not be empty".into()));
    }
    check_nul("program", program)?;
    for arg in cmd.get_args() {
        check_nul("argument", arg)?;
    }
    for (key, val) in cmd.get_envs() {
        if key.is_empty() {
            return Err(invalid(
                "environment variable name must not be empty".into(),
            ));
        }
        if key.as_encoded_bytes().contains(&b'=') {
            return Err(invalid(format!(
                "environment variable name must not contain '=': {key:?}"
            )));
        }
        check_nul("environment variable name", key)?;
        if let Some(val) = val {
            check_nul("environment variable value", val)?;
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        check_nul("current_dir", dir.as_os_str())?;
    }
    Ok(())
}

/// Checks a shell command line (SUB-01 `cmd must be a string`, made stricter: it must not be
/// empty either).
pub(crate) fn validate_shell(cmd: &OsStr) -> io::Result<()> {
    if cmd.is_empty() {
        return Err(invalid("cmd must be a non-empty string".into()));
    }
    check_nul("cmd", cmd)
}

/// The options of [`subprocess_exec`](super::subprocess_exec) and
/// [`subprocess_shell`](super::subprocess_shell): asyncio's keyword arguments that exist in
/// Rust. Defaults: inherited stdio (as asyncio's `create_subprocess_exec`), the parent's
/// environment and working directory, `kill_on_close(true)`.
#[derive(Debug)]
pub struct ProcessOptions {
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    /// Changes to the environment, in order (`None`: remove).
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    current_dir: Option<PathBuf>,
    kill_on_close: bool,
}

impl Default for ProcessOptions {
    fn default() -> ProcessOptions {
        ProcessOptions::new()
    }
}

impl ProcessOptions {
    /// The defaults.
    pub fn new() -> ProcessOptions {
        ProcessOptions {
            stdin: None,
            stdout: None,
            stderr: None,
            env: Vec::new(),
            env_clear: false,
            current_dir: None,
            kill_on_close: true,
        }
    }

    /// See [`Command::stdin`].
    pub fn stdin(mut self, cfg: impl Into<Stdio>) -> ProcessOptions {
        self.stdin = Some(cfg.into());
        self
    }

    /// See [`Command::stdout`].
    pub fn stdout(mut self, cfg: impl Into<Stdio>) -> ProcessOptions {
        self.stdout = Some(cfg.into());
        self
    }

    /// See [`Command::stderr`].
    pub fn stderr(mut self, cfg: impl Into<Stdio>) -> ProcessOptions {
        self.stderr = Some(cfg.into());
        self
    }

    /// See [`Command::env`].
    pub fn env(mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> ProcessOptions {
        self.env
            .push((key.as_ref().into(), Some(val.as_ref().into())));
        self
    }

    /// See [`Command::env_remove`].
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> ProcessOptions {
        self.env.push((key.as_ref().into(), None));
        self
    }

    /// See [`Command::env_clear`] (clears what `env` set before, too).
    pub fn env_clear(mut self) -> ProcessOptions {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// See [`Command::current_dir`].
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> ProcessOptions {
        self.current_dir = Some(dir.as_ref().into());
        self
    }

    /// See [`Command::kill_on_close`].
    pub fn kill_on_close(mut self, kill: bool) -> ProcessOptions {
        self.kill_on_close = kill;
        self
    }

    /// Applies the options to `cmd`.
    pub(crate) fn apply(self, cmd: &mut Command) {
        if self.env_clear {
            cmd.env_clear();
        }
        for (key, val) in self.env {
            match val {
                Some(val) => cmd.env(key, val),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = self.current_dir {
            cmd.current_dir(dir);
        }
        if let Some(s) = self.stdin {
            cmd.stdin(s);
        }
        if let Some(s) = self.stdout {
            cmd.stdout(s);
        }
        if let Some(s) = self.stderr {
            cmd.stderr(s);
        }
        cmd.kill_on_close(self.kill_on_close);
    }
}
