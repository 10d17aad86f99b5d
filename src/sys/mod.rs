//! Platform backends: the only place that switches on the target.
//!
//! Exactly one backend is compiled: `native` (mio + socket2) everywhere except WASI, `wasi`
//! (`wasi:io/poll` + `wasi:sockets`) on wasm32-wasip2, and `wasip3` (`wasi:sockets@0.3.0`
//! streams and one persistent waitable set) on wasm32-wasip2 with the `wasi-p3` feature. Backends import nothing from the rest of
//! the crate except the items of this file: the loop above them drives them through this
//! contract, and they know nothing of tasks, callbacks or the loop's state.
//!
//! # The contract
//!
//! Both backends export the same names, and the compiler checks them, since shared code uses
//! them without any `cfg`:
//!
//! * `Driver`: the OS selector (native: `mio::Poll`) or the set of armed pollables (WASI).
//!   - `Driver::new() -> io::Result<(Driver, Unparker)>`
//!   - `Driver::wait(&mut self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<Wait>`:
//!     blocks at most `timeout` (`None`: until something happens); `Some(ZERO)` must not
//!     block. Appends one [`Event`] per ready source and direction, in the order the platform
//!     reported them (WASI: rotated by a counter that grows each wait, since wasmtime lists
//!     them by resource index, which would always serve the oldest sources first). Returns
//!     [`Wait::Stalled`] instead of blocking when nothing at all could end the wait (WASI,
//!     where polling an empty list traps). An interrupted wait (`EINTR`) is a normal, early
//!     return. A wait runs no code of the layers above.
//!   - `Driver::arm(&mut self, token: Token, dir: Direction, handle: WaitHandle)`: a task now
//!     waits on `token` in `dir`. Natively a no-op (mio watches both directions of every
//!     registered source, edge-triggered). On WASI the pollable behind `handle` joins the list
//!     the next waits poll, until it fires once (one-shot) or is disarmed. On WASI 0.3 the
//!     source starts the operation whose completion ends the wait (or queues the event when
//!     the direction is ready already). Idempotent.
//!   - `Driver::disarm(&mut self, token: Token)`: forget every armed direction of `token`. Must
//!     be called before the pollables behind its handles are dropped.
//!   - `Driver::armed(&self) -> usize`: how many (source, direction) pairs are armed.
//! * `WaitHandle`: `Copy`; what `arm` needs to watch one direction of a source (nothing
//!   natively, a pollable's handle on WASI). Sources hand them out with `wait_handles()`; the
//!   source keeps owning the resource behind the handle.
//! * `Unparker`: `Clone + Send + Sync`; `unpark()` makes the current or next `wait` return
//!   early. It never fails: errors of the wake-up write are swallowed (asyncio
//!   `_write_to_self`). On WASI, which has no threads, it is a no-op.
//! * `enter(&Driver) -> Entered`: what the backend needs in place while a loop runs, closes or
//!   is dropped (the loop holds the guard; natively and on WASI 0.2 nothing; on WASI 0.3 its
//!   reactor is wit-bindgen's current task, so every future a task polls or drops registers
//!   its waitables with the thread's set, counted for this loop, and the previous task is
//!   restored after).
//! * `clock_resolution() -> Duration`: resolution of the monotonic clock behind `Instant`
//!   (TMR-03).
//! * `THREADS: bool`: whether the target can run threads (the executor's pool; without
//!   threads, blocking functions run on the loop).
//! * `CATCHES_PANICS: bool`: whether a panic can be caught (false on wasm32-wasip2, where it
//!   aborts the instance).
//! * `read_drained(n, asked) -> bool`: whether a read that returned `n` of `asked` bytes
//!   emptied the source (the WASI host caps one read at 64 KiB, so a 64 KiB read of a larger
//!   buffer did not).
//! * `net`: `TcpListener`, `TcpStream` with non-blocking operations returning `WouldBlock`;
//!   `register(&mut self, &Driver, Token)` makes a source known to the driver (natively the mio
//!   registration; nothing on WASI) and `wait_handles() -> [WaitHandle; 2]` gives what
//!   [`Direction::Read`] and [`Direction::Write`] wait on. `TcpStream::try_sendfile(&File,
//!   &mut offset, len)` is the zero-copy path of `sendfile` (`WouldBlock` when full;
//!   `Unsupported` where there is none: the shared layer falls back to reads and writes).
//!   Natively only (called from `os::native`): `TcpStream::from_std` and
//!   `TcpListener::from_std` adopt non-blocking std sockets.
//! * `udp::UdpSocket`: `bind(addr, &UdpOptions)`, `register`, `wait_handles`,
//!   `connect(&mut self, peer)` (on WASI the streams and their pollables are replaced: the
//!   caller disarms first and takes the new `wait_handles` after), `try_send(buf, target)`,
//!   `try_recv(buf) -> (n, from)` (one datagram per call, truncated to `buf`; an empty
//!   datagram is `Ok((0, from))`), `local_addr`, `peer_addr`, `set_broadcast`, `broadcast`;
//!   `CONNECT_WHILE_RECEIVING`: whether `connect` may run while a task waits to receive (not
//!   on WASI 0.2, where wasmtime would trap).
//! * `process`: child processes. Natively std spawns them and mio watches their pipes and
//!   their exit; on WASI every entry point returns `Unsupported` naming WASI.
//!   - `supported() -> io::Result<()>`, `spawn(&mut std::process::Command) -> io::Result<Spawned>`
//!     (a `Process` and our ends of the requested pipes; a failure after the child exists
//!     kills and reaps it and closes every descriptor), `returncode(&ExitStatus) -> i32`
//!     (asyncio's: the code, or minus the signal), `SIGKILL`, `SIGTERM`.
//!   - `Process`, `PipeReader`, `PipeWriter`: sources like the TCP ones (`register`,
//!     `wait_handles`). A process is readable in [`Direction::Read`] once it has exited;
//!     `try_reap()` reaps it (`WouldBlock` while it runs), `signal(sig)` signals it unless it
//!     has exited (then it is reaped instead), `close(kill)` ends it when the loop closes (an
//!     exited child is reaped, never signalled; a running one is killed and reaped, or left to
//!     a reaping thread). No child is ever left a zombie.
//! * `unix`: `UnixListener` (`bind`, then `listen`, as `net::TcpListener`), `UnixStream`
//!   (`connect`, `pair`, the stream operations of `net::TcpStream`), `UnixDatagram` (`bind`,
//!   `unbound`, `pair`, `connect`, `try_send`/`try_recv`/`try_send_to`/`try_recv_from`), with
//!   `register` and `wait_handles` as above; `Addr` (`Option<PathBuf>`: the path, `None` for an
//!   unnamed socket); `remove_stale_socket(path)`: removes a socket file left at `path`, never
//!   another kind of file. Natively, a socket bound to a path unlinks it when dropped if the
//!   path still names the file its bind created. On WASI every constructor returns
//!   `Unsupported` naming WASI, and the types are uninhabited.
//! * `RawSource`: a source the loop watches to run callbacks (`add_reader` / `add_writer`
//!   natively, pollable readers on WASI) instead of doing I/O on it.
//!   - `RawSource::new`: target-specific, called from `os::native` (a `RawFd`, borrowed, never
//!     closed) or `os::wasi` (a `Pollable`, owned).
//!   - `set_interest(&mut self, &mut Driver, Token, read: bool, write: bool) -> io::Result<()>`:
//!     registers, changes or (neither direction) drops the watch. Must be called with neither
//!     direction before the source is dropped. A change re-evaluates readiness: a source
//!     already ready is reported by the next wait. WASI has only `read`.
//!   - `rearm(&self, &mut Driver, Token) -> io::Result<()>`: after a callback ran, makes the
//!     next wait report the source again if it is still ready (level-triggered, as asyncio's
//!     selector; natively a mio re-registration, on WASI arming the one-shot entry again).
//! * `dns::lookup(host, port, &impl Reactor) -> Result<Vec<SocketAddr>, LookupError>`: name
//!   resolution (never an IP literal: the shared layer handles those).
//! * [`Reactor`]: the one path upwards. A backend operation that must wait on the loop (a WASI
//!   pollable) or run off its thread (a blocking `getaddrinfo`) asks the reactor the shared
//!   layer passes in; backends never reach the loop otherwise.
//!
//! Shared code never reads readiness as truth: drivers may report spurious events.

use std::future::Future;
use std::io;
use std::time::Duration;

/// How a [`Driver`] wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The wait returned (timeout, readiness, or an unpark); the loop goes on.
    Waited,
    /// Nothing armed and no timeout: waiting would never return (WASI only).
    Stalled,
}

/// Identifies a registered source: the index of its slot in the loop's I/O registry.
///
/// A plain index fits every platform's token (`mio::Token` is a `usize`). Natively and on
/// WASI 0.2 a slot freed and reused cannot receive an event meant for its previous owner:
/// events are dispatched right after the wait that produced them, before any code that could
/// free a slot runs, and WASI sources are disarmed before they go. On WASI 0.3 an event queued
/// by a source's `kick` is collected by the next wait, so it can reach a slot reused in
/// between: a spurious event, which shared code already tolerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Token(pub(crate) usize);

/// A direction a task can wait in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Data, a connection or end of stream can be read.
    Read = 0,
    /// Data can be written, or a connect finished.
    Write = 1,
}

impl Direction {
    /// Both directions, in index order.
    pub(crate) const BOTH: [Direction; 2] = [Direction::Read, Direction::Write];

    /// The readiness bits that end a wait in this direction.
    pub(crate) fn mask(self) -> u8 {
        match self {
            Direction::Read => ready::READABLE | ready::READ_CLOSED | ready::ERROR,
            Direction::Write => ready::WRITABLE | ready::WRITE_CLOSED | ready::ERROR,
        }
    }
}

/// Readiness bits.
pub(crate) mod ready {
    /// Data (or a connection, or EOF) can be read.
    pub(crate) const READABLE: u8 = 1;
    /// Data can be written (or a connect finished).
    pub(crate) const WRITABLE: u8 = 2;
    /// The read side is closed.
    pub(crate) const READ_CLOSED: u8 = 4;
    /// The write side is closed.
    pub(crate) const WRITE_CLOSED: u8 = 8;
    /// An error is pending on the source.
    pub(crate) const ERROR: u8 = 16;
}

/// One readiness report of a wait: which source, and which [`ready`] bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) token: Token,
    pub(crate) bits: u8,
}

/// What backend operations may ask of the loop above them (see the module docs).
pub(crate) trait Reactor {
    /// Completes once the pollable behind `handle` is ready (used on WASI).
    #[allow(dead_code, reason = "only the WASI backend waits on handles")]
    fn ready(&self, handle: WaitHandle) -> impl Future<Output = io::Result<()>>;
    /// Runs `job` off the loop's thread and completes with its result (used natively; WASI has
    /// no threads).
    #[allow(dead_code, reason = "only the native backend offloads blocking work")]
    fn offload<T, F>(&self, job: F) -> impl Future<Output = io::Result<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static;
}

/// Why a name lookup failed.
#[derive(Debug)]
pub(crate) enum LookupError {
    /// The resolver answered: the name does not resolve (`temporary`: the resolver could not
    /// answer now, e.g. `EAI_AGAIN`).
    Name { temporary: bool, detail: String },
    /// Anything else (the loop is gone, the host refused...).
    Io(io::Error),
}

/// Socket options of a listening socket, as the shared server code asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenOptions {
    /// `SO_REUSEADDR` (default on, as asyncio on Unix).
    pub(crate) reuse_address: bool,
    /// `SO_REUSEPORT` (default off).
    pub(crate) reuse_port: bool,
    /// `SO_KEEPALIVE` on accepted sockets (default off).
    pub(crate) keep_alive: bool,
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions {
            reuse_address: true,
            reuse_port: false,
            keep_alive: false,
        }
    }
}

/// Options of a UDP socket (asyncio `create_datagram_endpoint`'s socket options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UdpOptions {
    /// `SO_REUSEPORT` (an error where unsupported, never ignored).
    pub(crate) reuse_port: bool,
    /// `SO_BROADCAST`.
    pub(crate) broadcast: bool,
}

/// asyncio's `OSError(errno, 'error while attempting to bind on address ...: <reason lower-cased>')`
/// (SRV-05, CLI-08): the kind is kept, the message names the address.
pub(crate) fn bind_error(addr: std::net::SocketAddr, e: std::io::Error) -> std::io::Error {
    let reason = e.to_string().to_lowercase();
    std::io::Error::new(
        e.kind(),
        format!("error while attempting to bind on address {addr}: {reason}"),
    )
}

#[cfg(not(target_os = "wasi"))]
mod native;
#[cfg(not(target_os = "wasi"))]
pub(crate) use self::native::*;

#[cfg(target_os = "wasi")]
mod wasi_shared;

#[cfg(all(target_os = "wasi", target_env = "p2", not(feature = "wasi-p3")))]
mod wasi;
#[cfg(all(target_os = "wasi", target_env = "p2", not(feature = "wasi-p3")))]
pub(crate) use self::wasi::*;

#[cfg(all(target_os = "wasi", target_env = "p2", feature = "wasi-p3"))]
mod wasip3;
#[cfg(all(target_os = "wasi", target_env = "p2", feature = "wasi-p3"))]
pub(crate) use self::wasip3::*;

#[allow(
    dead_code,
    reason = "documents the contract; each backend defines its own"
)]
const _: Option<Duration> = None;
