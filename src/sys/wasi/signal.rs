//! No signals on WASI: every entry point is `Unsupported` (divergence `signals`).

use std::io;

use super::{Driver, WaitHandle};
use crate::sys::Token;

/// `SIGINT`'s number on Linux, for `ctrl_c` (which fails on WASI before using it).
pub(crate) const SIGINT: i32 = 2;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "signals are not supported on WASI (wasm32-wasip2 has no signal handlers); stop a \
         guest from the host instead",
    )
}

pub(crate) fn check(_sig: i32) -> io::Result<()> {
    Err(unsupported())
}

/// Uninhabited: `new` always fails.
pub(crate) struct Signals {
    void: std::convert::Infallible,
}

impl Signals {
    pub(crate) fn new() -> io::Result<Signals> {
        Err(unsupported())
    }
    pub(crate) fn register(&mut self, _driver: &Driver, _token: Token) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        match self.void {}
    }
    pub(crate) fn handle(&mut self, _sig: i32) -> io::Result<()> {
        match self.void {}
    }
    pub(crate) fn release(&mut self, _sig: i32) {
        match self.void {}
    }
    pub(crate) fn pending(&mut self, _out: &mut Vec<i32>) {
        match self.void {}
    }
}
