//! Subprocesses on WASI: there are none. wasm32-wasip2 has no process spawning (PLAT-01), so
//! [`supported`] and [`spawn`] return `Unsupported` naming WASI, and the types behind a child
//! cannot be built (each holds an uninhabited value): their methods exist only so the shared
//! layer compiles unchanged.

use std::io;
use std::process::{Command, ExitStatus};

use super::{Driver, WaitHandle};
use crate::sys::Token;

/// `SIGKILL`'s number, as on Linux (nothing is ever signalled on WASI).
pub(crate) const SIGKILL: i32 = 9;
/// `SIGTERM`'s number, as on Linux.
pub(crate) const SIGTERM: i32 = 15;

/// The message every entry point returns.
const UNSUPPORTED: &str =
    "subprocesses are not supported on WASI (wasm32-wasip2 has no process spawning)";

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, UNSUPPORTED)
}

/// Always `Unsupported`, naming WASI.
pub(crate) fn supported() -> io::Result<()> {
    Err(unsupported())
}

/// Always `Unsupported`, naming WASI.
pub(crate) fn spawn(_cmd: &mut Command) -> io::Result<Spawned> {
    Err(unsupported())
}

/// The exit code (no status ever exists on WASI).
pub(crate) fn returncode(status: &ExitStatus) -> i32 {
    status.code().unwrap_or(i32::MIN)
}

/// No value of this type exists.
enum Never {}

/// Never built on WASI.
pub(crate) struct Spawned {
    pub(crate) process: Process,
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: Option<PipeReader>,
    pub(crate) stderr: Option<PipeReader>,
}

/// Never built on WASI.
pub(crate) struct Process(Never);

impl Process {
    pub(crate) fn id(&self) -> u32 {
        match self.0 {}
    }
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match self.0 {}
    }
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match self.0 {}
    }
    pub(crate) fn try_reap(&mut self) -> io::Result<ExitStatus> {
        match self.0 {}
    }
    pub(crate) fn signal(&mut self, _sig: i32) -> io::Result<Option<ExitStatus>> {
        match self.0 {}
    }
    pub(crate) fn close(self, _kill: bool) -> Option<ExitStatus> {
        match self.0 {}
    }
}

/// Never built on WASI.
pub(crate) struct PipeReader(Never);

impl PipeReader {
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match self.0 {}
    }
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match self.0 {}
    }
    pub(crate) fn try_read(&self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.0 {}
    }
}

/// Never built on WASI.
pub(crate) struct PipeWriter(Never);

impl PipeWriter {
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match self.0 {}
    }
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match self.0 {}
    }
    pub(crate) fn try_write(&self, _buf: &[u8]) -> io::Result<usize> {
        match self.0 {}
    }
}
