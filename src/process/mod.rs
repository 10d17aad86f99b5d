//! Child processes (asyncio's `subprocess_exec` / `subprocess_shell` and `Process`), natively.
//! On WASI, which has no process spawning, every entry point returns `Unsupported` naming WASI
//! (PLAT-01; divergence `subprocess`).
//!
//! * [`Command`] builds a child (program, arguments, environment, working directory, stdio,
//!   [`kill_on_close`](Command::kill_on_close)) and [`spawn`](Command::spawn)s it on the
//!   running loop; [`subprocess_exec`] and [`subprocess_shell`] are asyncio's two forms.
//! * [`Child`] gives the pid, the piped [`ChildStdin`] / [`ChildStdout`] / [`ChildStderr`]
//!   (`futures-io` streams), [`wait`](Child::wait) (any number of waiters), `try_wait`,
//!   asyncio's [`returncode`](Child::returncode) (minus the signal for a child a signal
//!   ended), [`kill`](Child::kill), [`terminate`](Child::terminate),
//!   [`send_signal`](Child::send_signal) and [`communicate`](Child::communicate).
//!
//! # Ground rules
//!
//! * Arguments are checked before anything is spawned (SUB-01), and a failed spawn is an
//!   error that names the program and leaves no process or descriptor behind (SUB-05).
//! * `wait()` resolves once the child has exited and was reaped, whatever its pipes still
//!   hold (SUB-03 without asyncio's wait for the pipes: here the caller reads them, and
//!   waiting for that would deadlock a caller that waits first). Every waiter gets the status.
//! * The loop reaps every child it spawned, whether or not its [`Child`] is still held; no
//!   zombie is left behind. Closing (or dropping) the loop kills and reaps the children that
//!   still run (unless spawned with `kill_on_close(false)`: those are left running and reaped
//!   by a thread when they exit); a child that has exited is reaped, never signalled. While a
//!   loop is not running nothing reaps: a child that exits then stays a zombie until the loop
//!   runs again or closes.
//! * Signals follow asyncio (SUB-04): ignored once the child exited, `NotFound`
//!   (`ProcessLookupError`) once its status was collected.
//! * Natively the exit is watched through a pidfd (Linux), or through a thread per child that
//!   waits for the exit without reaping it where there is no pidfd (or `WASIO_NO_PIDFD` is set).
//!
//! ```
//! use wasio::process::{ProcessOptions, Stdio, subprocess_exec, subprocess_shell};
//!
//! # #[cfg(unix)]
//! wasio::run(async {
//!     let mut cat = subprocess_exec(
//!         "cat",
//!         [] as [&str; 0],
//!         ProcessOptions::new().stdin(Stdio::piped()).stdout(Stdio::piped()),
//!     )
//!     .await?;
//!     let out = cat.communicate(Some(b"ping")).await?;
//!     assert_eq!(out.stdout, b"ping");
//!
//!     let sh = subprocess_shell("exit 7", ProcessOptions::new()).await?;
//!     assert_eq!(sh.wait().await?.code(), Some(7));
//!     std::io::Result::Ok(())
//! })
//! .unwrap()
//! .unwrap();
//! ```

mod child;
mod command;
mod pipe;

use std::ffi::OsStr;
use std::io;

pub use self::child::Child;
pub use self::command::{Command, ProcessOptions};
pub use self::pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use crate::sys;

/// asyncio's `returncode` of a status: the exit code, or minus the number of the signal that
/// ended the child (`-9` for `SIGKILL`).
pub fn returncode(status: &ExitStatus) -> i32 {
    sys::process::returncode(status)
}

/// Starts `program` with `args` (asyncio `subprocess_exec`; the exec form: no shell is
/// involved). See [`Command::spawn`] for the errors.
pub async fn subprocess_exec<I, S>(
    program: impl AsRef<OsStr>,
    args: I,
    options: ProcessOptions,
) -> io::Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    options.apply(&mut cmd);
    cmd.spawn()
}

/// Runs the command line `cmd` through `/bin/sh -c` (asyncio `subprocess_shell`; the shell
/// form). `cmd` must not be empty nor hold a NUL byte (`InvalidInput`); see
/// [`Command::spawn`] for the other errors.
pub async fn subprocess_shell(
    cmd: impl AsRef<OsStr>,
    options: ProcessOptions,
) -> io::Result<Child> {
    sys::process::supported()?;
    command::validate_shell(cmd.as_ref())?;
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(cmd);
    options.apply(&mut command);
    command.spawn()
}
