//! Native-only extras: callbacks on the readiness of any file descriptor (asyncio
//! `add_reader` / `add_writer` / `remove_reader` / `remove_writer`), and adopting std sockets
//! (`TcpStream::from_std`, `TcpListener::from_std`, `UdpSocket::from_std`).
//!
//! # Ground rules
//!
//! * The methods are on [`EventLoop`] and [`TcpStream`] / [`TcpListener`] / [`UdpSocket`]; this module only
//!   holds them (it has no items of its own).
//! * Level-triggered, as asyncio's selector: while the descriptor stays ready, its callback
//!   runs once per loop iteration, until it is removed. wasio's selector is edge-triggered
//!   (mio), so each run re-registers the descriptor, which makes the kernel report it again
//!   if it is still ready: one `epoll_ctl` per callback run.
//! * The loop never owns a watched descriptor: `remove_*` deregisters it, and nothing closes
//!   it. Remove a watch before closing its descriptor: the kernel forgets a closed descriptor
//!   on its own, but a new file may get the same number.
//! * A descriptor wasio already drives (a wasio socket) cannot be watched: the selector refuses
//!   it (`EEXIST`), as asyncio refuses the descriptor of a transport.
//! * Adopted std sockets are made non-blocking and registered with the running loop; outside
//!   one, adopting fails.

use std::io;
use std::os::fd::RawFd;

use crate::context::try_current_core;
use crate::core::EventLoop;
use crate::error::Error;
use crate::event_loop::watch;
use crate::handle::CallbackResult;
use crate::net::{TcpListener, TcpStream, UdpSocket};
use crate::sys::{self, Direction, RawSource};

#[cfg_attr(docsrs, doc(cfg(not(target_os = "wasi"))))]
impl EventLoop {
    /// Runs `callback` in every iteration in which `fd` is readable (asyncio `add_reader`),
    /// until [`remove_reader`](EventLoop::remove_reader). A reader already set for `fd` is
    /// replaced (it will not run again).
    ///
    /// `callback` returns `()` or `Result<(), E>`; an error (or a panic) goes to the exception
    /// handler like any callback's. Errors: [`Error::is_closed`] on a closed loop;
    /// [`Error::is_io`] when the selector refuses `fd` (not open, a regular file, or a
    /// descriptor wasio already drives).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::io::Write;
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    /// use std::rc::Rc;
    ///
    /// let lp = wasio::EventLoop::new().unwrap();
    /// let (mut tx, rx) = UnixStream::pair().unwrap();
    /// tx.write_all(b"x").unwrap();
    /// let runs = Rc::new(Cell::new(0));
    /// let r = runs.clone();
    /// lp.add_reader(rx.as_raw_fd(), move || r.set(r.get() + 1)).unwrap();
    /// // Nothing reads the byte: the callback runs in each iteration.
    /// for _ in 0..3 {
    ///     lp.run_once().unwrap();
    /// }
    /// assert_eq!(runs.get(), 3);
    /// assert!(lp.remove_reader(rx.as_raw_fd()));
    /// assert!(!lp.remove_reader(rx.as_raw_fd()));
    /// lp.close().unwrap();
    /// ```
    pub fn add_reader<F, R>(&self, fd: RawFd, callback: F) -> Result<(), Error>
    where
        F: FnMut() -> R + 'static,
        R: CallbackResult,
    {
        let source = move || RawSource::new(fd);
        watch::add(&self.core, fd.into(), Direction::Read, source, callback)
    }

    /// Runs `callback` in every iteration in which `fd` is writable (asyncio `add_writer`),
    /// until [`remove_writer`](EventLoop::remove_writer); the same rules as
    /// [`add_reader`](EventLoop::add_reader).
    pub fn add_writer<F, R>(&self, fd: RawFd, callback: F) -> Result<(), Error>
    where
        F: FnMut() -> R + 'static,
        R: CallbackResult,
    {
        let source = move || RawSource::new(fd);
        watch::add(&self.core, fd.into(), Direction::Write, source, callback)
    }

    /// Stops watching `fd` for reading; returns whether a reader was set. A run already queued
    /// is skipped. Always `false` on a closed loop (LIFE-05). The descriptor is not closed.
    pub fn remove_reader(&self, fd: RawFd) -> bool {
        watch::remove(&self.core, fd.into(), Direction::Read)
    }

    /// Stops watching `fd` for writing; returns whether a writer was set. The same rules as
    /// [`remove_reader`](EventLoop::remove_reader).
    pub fn remove_writer(&self, fd: RawFd) -> bool {
        watch::remove(&self.core, fd.into(), Direction::Write)
    }
}

#[cfg_attr(docsrs, doc(cfg(not(target_os = "wasi"))))]
impl TcpStream {
    /// Adopts a connected std socket: makes it non-blocking, sets `TCP_NODELAY` (as asyncio's
    /// transports do on every TCP socket) and registers it with the running loop. Fails
    /// outside a running loop.
    ///
    /// ```
    /// wasio::run(async {
    ///     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    ///     let std_client = std::net::TcpStream::connect(listener.local_addr()?)?;
    ///     let (std_server, _) = listener.accept()?;
    ///     let client = wasio::net::TcpStream::from_std(std_client)?;
    ///     let server = wasio::net::TcpStream::from_std(std_server)?;
    ///     client.write_all(b"hi").await?;
    ///     let mut buf = [0u8; 2];
    ///     server.read_exact(&mut buf).await?;
    ///     assert_eq!(&buf, b"hi");
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        let core = try_current_core().map_err(io::Error::other)?;
        stream.set_nonblocking(true)?;
        let sys = sys::net::TcpStream::from_std(stream);
        // asyncio's TCP transports set TCP_NODELAY on every socket (SRV-06).
        let _ = sys.set_nodelay(true);
        TcpStream::accepted(&core, sys)
    }
}

#[cfg_attr(docsrs, doc(cfg(not(target_os = "wasi"))))]
impl TcpListener {
    /// Adopts a listening std socket: makes it non-blocking and registers it with the running
    /// loop. Fails outside a running loop.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        let core = try_current_core().map_err(io::Error::other)?;
        listener.set_nonblocking(true)?;
        TcpListener::registered(&core, sys::net::TcpListener::from_std(listener))
            .map_err(|(_, e)| e)
    }
}

#[cfg_attr(docsrs, doc(cfg(not(target_os = "wasi"))))]
impl UdpSocket {
    /// Adopts a bound std socket: makes it non-blocking and registers it with the running
    /// loop. Fails outside a running loop. A std socket that was connected keeps its peer,
    /// but wasio does not know it: use [`UdpSocket::send_to`] or connect again.
    ///
    /// ```
    /// wasio::run(async {
    ///     let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    ///     let adopted = wasio::net::UdpSocket::from_std(std_socket)?;
    ///     let peer = wasio::net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     adopted.send_to(b"hi", peer.local_addr()?).await?;
    ///     let mut buf = [0u8; 2];
    ///     peer.recv_from(&mut buf).await?;
    ///     assert_eq!(&buf, b"hi");
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::registered(sys::udp::UdpSocket::from_std(socket)?)
    }
}
