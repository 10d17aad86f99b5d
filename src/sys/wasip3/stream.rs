//! A connected WASI 0.3 TCP stream (see the ground rules in `net.rs`).

use std::cell::RefCell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::task::Poll;

use wasip3::sockets::types::{ErrorCode, TcpSocket};
use wasip3::wit_bindgen::{FutureReader, StreamReader, StreamResult, StreamWriter};
use wasip3::wit_stream;

use super::addr::{family, from_wasi, not_connected, to_wasi, would_block};
use super::error::from_code;
use super::{Driver, Kick, MAX_READ, Op, WaitHandle, Wakers, drop_op, poll_op};
use crate::sys::wasi_shared::{no_nodelay, no_sendfile};
use crate::sys::{Direction, Token, bind_error};

/// A 0-length read in flight (the readiness check), with the stream it reads.
type Probe = (StreamReader<u8>, StreamResult);
/// A 0-length write in flight (the writability check), with the stream it writes.
type WriteProbe = (StreamWriter<u8>, StreamResult);
type Verdict = Result<(), ErrorCode>;

/// How reading ended (`None` while it has not).
enum ReadEnd {
    /// The stream was dropped by the host; its verdict is awaited.
    Pending(Op<Verdict>),
    /// Reads return this error once, then 0.
    Error(io::Error),
    /// Reads return 0.
    Eof,
}

#[derive(Default)]
struct StreamInner {
    wakers: Option<Wakers>,
    // Operations first: they are cancelled (in `Drop`) before the streams go.
    connect: Option<Op<Verdict>>,
    /// A connect `kick` found failed, for `finish_connect`.
    connect_error: Option<io::Error>,
    /// The streams were opened (connected or accepted).
    opened: bool,
    probe: Option<Op<Probe>>,
    wprobe: Option<Op<WriteProbe>>,
    end: Option<ReadEnd>,
    /// The receive stream (`None` while connecting, while a probe holds it, once ended).
    rx: Option<StreamReader<u8>>,
    /// The receive future: its verdict says how the stream ended.
    rx_done: Option<FutureReader<Verdict>>,
    /// The send stream (`None` while connecting, while a check holds it, once shut down).
    tx: Option<StreamWriter<u8>>,
    /// The send future: its verdict says why a write failed.
    sent: Option<FutureReader<Verdict>>,
    /// A write failed: every later one fails the same way.
    write_error: Option<(io::ErrorKind, String)>,
    /// Connecting to this address: the connect starts on first use.
    connect_to: Option<SocketAddr>,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        drop_op(self.connect.take());
        drop_op(self.probe.take());
        drop_op(self.wprobe.take());
        if let Some(ReadEnd::Pending(op)) = self.end.take() {
            drop_op(Some(op));
        }
    }
}

struct StreamState {
    inner: RefCell<StreamInner>,
    socket: Rc<TcpSocket>,
}

/// Opens the streams of a connected socket.
fn open_streams(s: &mut StreamInner, socket: &TcpSocket) {
    let (rx, rx_done) = socket.receive();
    let (tx, tx_reader) = wit_stream::new::<u8>();
    let sent = socket.send(tx_reader);
    s.rx = Some(rx);
    s.rx_done = Some(rx_done);
    s.tx = Some(tx);
    s.sent = Some(sent);
    s.opened = true;
}

/// `stream.read` / `stream.write` blocked: the copy waits for the other side.
const BLOCKED: u32 = u32::MAX;
/// The low four bits of a copy's result: the other side has dropped its end.
const DROPPED: u32 = 1;

/// What a copy's result code says: how many bytes moved, and whether the other side's end is
/// gone (then no further copy may be started on that handle).
fn copied(code: u32) -> (usize, bool) {
    ((code >> 4) as usize, code & 0xf == DROPPED)
}

/// Reads what the host has now straight into `buf`: `stream.read` with the caller's buffer,
/// cancelled at once when it would wait, so the host never writes into `buf` after this
/// returns. No copy through an intermediate buffer (wit-bindgen's `read` wants an owned `Vec`,
/// which the host would fill and wasio would copy again).
fn copy_in(rx: &StreamReader<u8>, buf: &mut [u8]) -> (usize, bool) {
    let ops = <u8 as wit_stream::StreamPayload>::VTABLE;
    let handle = rx.handle();
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes until this function returns, and
    // the read ends before then: it completes in `start_read`, or the synchronous
    // `cancel_read` below ends it (the canonical ABI's cancel of a blocked copy returns only
    // once the copy is over, with the count it made). No other operation is in flight on
    // `handle`: the reader is held here, not by a probe. `u8` needs no lifting.
    unsafe {
        let mut code = (ops.start_read)(handle, buf.as_mut_ptr(), buf.len());
        if code == BLOCKED {
            code = (ops.cancel_read)(handle);
        }
        copied(code)
    }
}

/// Writes what the host takes now straight from `buf`, as [`copy_in`] reads.
fn copy_out(tx: &StreamWriter<u8>, buf: &[u8]) -> (usize, bool) {
    let ops = <u8 as wit_stream::StreamPayload>::VTABLE;
    let handle = tx.handle();
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes until this function returns, and
    // the write ends before then (completed in `start_write`, or ended by the synchronous
    // `cancel_write`). No other operation is in flight on `handle`: the writer is held here,
    // not by a writability check. `u8` needs no lowering.
    unsafe {
        let mut code = (ops.start_write)(handle, buf.as_ptr(), buf.len());
        if code == BLOCKED {
            code = (ops.cancel_write)(handle);
        }
        copied(code)
    }
}

impl StreamState {
    fn waker(&self, dir: Direction) -> Option<std::task::Waker> {
        self.inner
            .borrow()
            .wakers
            .as_ref()
            .map(|w| w.get(dir).clone())
    }

    /// Drives the connect: `Pending` while in flight.
    fn poll_connect(&self, s: &mut StreamInner) -> Poll<io::Result<()>> {
        if let Some(e) = s.connect_error.take() {
            return Poll::Ready(Err(e));
        }
        if s.opened {
            return Poll::Ready(Ok(()));
        }
        let Some(waker) = s.wakers.as_ref().map(|w| w.write.clone()) else {
            return Poll::Ready(Err(not_connected()));
        };
        let mut op = match (s.connect.take(), s.connect_to.take()) {
            (Some(op), _) => op,
            (None, Some(addr)) => {
                let socket = self.socket.clone();
                let op: Op<Verdict> = Box::pin(async move { socket.connect(to_wasi(addr)).await });
                op
            }
            (None, None) => return Poll::Ready(Err(not_connected())),
        };
        let verdict = match poll_op(&mut op, &waker) {
            Poll::Pending => {
                s.connect = Some(op);
                return Poll::Pending;
            }
            Poll::Ready(v) => v,
        };
        match verdict {
            Ok(()) => {
                open_streams(s, &self.socket);
                Poll::Ready(Ok(()))
            }
            Err(code) => Poll::Ready(Err(from_code(code))),
        }
    }

    /// Drives the readiness check: `Ready` once a read would not block (data, the end, or
    /// the end's verdict).
    fn poll_readable(&self, s: &mut StreamInner, waker: &std::task::Waker) -> Poll<()> {
        if let Some(ReadEnd::Pending(op)) = &mut s.end {
            return match poll_op(op, waker) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(verdict) => {
                    s.end = Some(match verdict {
                        Ok(()) => ReadEnd::Eof,
                        Err(code) => ReadEnd::Error(from_code(code)),
                    });
                    Poll::Ready(())
                }
            };
        }
        if s.end.is_some() {
            return Poll::Ready(());
        }
        let mut op = match s.probe.take() {
            Some(op) => op,
            None => {
                let Some(mut rx) = s.rx.take() else {
                    return Poll::Ready(());
                };
                Box::pin(async move {
                    let (res, _) = rx.read(Vec::new()).await;
                    (rx, res)
                })
            }
        };
        match poll_op(&mut op, waker) {
            Poll::Pending => {
                s.probe = Some(op);
                Poll::Pending
            }
            Poll::Ready((rx, res)) => {
                if res == StreamResult::Dropped {
                    drop(rx);
                    self.start_end(s);
                    return self.poll_readable(s, waker);
                }
                s.rx = Some(rx);
                Poll::Ready(())
            }
        }
    }

    /// The receive stream ended: awaits the receive future's verdict.
    fn start_end(&self, s: &mut StreamInner) {
        s.end = Some(match s.rx_done.take() {
            Some(done) => ReadEnd::Pending(Box::pin(done.into_future())),
            None => ReadEnd::Eof,
        });
    }

    /// Drives the writability check: `Ready` once a write would not block (the stream takes
    /// bytes, or has failed).
    fn poll_writable(&self, s: &mut StreamInner, waker: &std::task::Waker) -> Poll<()> {
        if s.write_error.is_some() {
            return Poll::Ready(());
        }
        let mut op = match s.wprobe.take() {
            Some(op) => op,
            None => {
                let Some(mut tx) = s.tx.take() else {
                    return Poll::Ready(());
                };
                Box::pin(async move {
                    let (res, _) = tx.write(Vec::new()).await;
                    (tx, res)
                })
            }
        };
        match poll_op(&mut op, waker) {
            Poll::Pending => {
                s.wprobe = Some(op);
                Poll::Pending
            }
            Poll::Ready((tx, res)) => {
                if res == StreamResult::Dropped {
                    drop(tx);
                    self.fail_writes(s);
                } else {
                    s.tx = Some(tx);
                }
                Poll::Ready(())
            }
        }
    }

    /// The host stopped taking writes: every later write fails with its reason.
    fn fail_writes(&self, s: &mut StreamInner) -> io::Error {
        let e = self.send_error(s);
        s.write_error = Some((e.kind(), e.to_string()));
        e
    }

    /// Why the host stopped taking writes: the send future's verdict when it is there.
    fn send_error(&self, s: &mut StreamInner) -> io::Error {
        if let Some(sent) = s.sent.take() {
            let mut op: Op<Verdict> = Box::pin(sent.into_future());
            let noop = std::task::Waker::noop();
            if let Poll::Ready(Err(code)) = poll_op(&mut op, noop) {
                return from_code(code);
            }
            drop_op(Some(op));
        }
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the connection is not writable anymore",
        )
    }
}

impl Kick for StreamState {
    fn kick(&self, dir: Direction) {
        let Some(waker) = self.waker(dir) else { return };
        let mut s = self.inner.borrow_mut();
        let ready = match dir {
            Direction::Read => {
                if !s.opened {
                    // Still connecting: nothing to read yet.
                    return;
                }
                self.poll_readable(&mut s, &waker).is_ready()
            }
            Direction::Write => match self.poll_connect(&mut s) {
                Poll::Pending => false,
                Poll::Ready(Err(e)) => {
                    // `finish_connect` reports it.
                    s.connect_error = Some(e);
                    true
                }
                Poll::Ready(Ok(())) => self.poll_writable(&mut s, &waker).is_ready(),
            },
        };
        drop(s);
        if ready {
            waker.wake();
        }
    }
}

/// A connected (or connecting) stream.
pub(crate) struct TcpStream {
    state: Rc<StreamState>,
}

impl TcpStream {
    fn with(socket: TcpSocket, inner: StreamInner) -> TcpStream {
        TcpStream {
            state: Rc::new(StreamState {
                inner: RefCell::new(inner),
                socket: Rc::new(socket),
            }),
        }
    }

    /// An accepted socket, with its streams open.
    pub(crate) fn connected(socket: TcpSocket) -> TcpStream {
        let mut inner = StreamInner::default();
        open_streams(&mut inner, &socket);
        TcpStream::with(socket, inner)
    }

    /// A connect to `addr` (it starts once registered; finished by
    /// [`finish_connect`](Self::finish_connect)).
    pub(crate) fn connect(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
        let socket = TcpSocket::create(family(&addr)).map_err(from_code)?;
        if let Some(local) = local {
            socket
                .bind(to_wasi(local))
                .map_err(|c| bind_error(local, from_code(c)))?;
        }
        let mut inner = StreamInner::default();
        inner.connect_to = Some(addr);
        Ok(TcpStream::with(socket, inner))
    }

    pub(crate) fn register(&mut self, driver: &Driver, token: Token) -> io::Result<()> {
        let wakers = driver.attach(token, &self.state);
        self.state.inner.borrow_mut().wakers = Some(wakers);
        Ok(())
    }

    pub(crate) fn wait_handles(&self) -> [WaitHandle; 2] {
        [Some(()), Some(())]
    }

    /// `Ok` once connected, `WouldBlock` while in progress, or the connect error.
    pub(crate) fn finish_connect(&mut self) -> io::Result<()> {
        let mut s = self.state.inner.borrow_mut();
        match self.state.poll_connect(&mut s) {
            Poll::Pending => Err(would_block()),
            Poll::Ready(r) => r,
        }
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let st = &self.state;
        let mut s = st.inner.borrow_mut();
        let waker = s
            .wakers
            .as_ref()
            .map(|w| w.read.clone())
            .ok_or_else(not_connected)?;
        // Two rounds at most: a check that completes at once means data, or the end, is there.
        for _ in 0..2 {
            if st.poll_readable(&mut s, &waker).is_pending() {
                return Err(would_block());
            }
            match s.end.take() {
                Some(ReadEnd::Error(e)) => {
                    s.end = Some(ReadEnd::Eof);
                    return Err(e);
                }
                Some(ReadEnd::Eof) => {
                    s.end = Some(ReadEnd::Eof);
                    return Ok(0);
                }
                Some(pending) => {
                    s.end = Some(pending);
                    return Err(would_block());
                }
                None => {}
            }
            let Some(rx) = s.rx.take() else {
                // Shut down for reading, or not connected yet.
                return if s.opened {
                    Ok(0)
                } else {
                    Err(not_connected())
                };
            };
            let want = buf.len().min(MAX_READ);
            let (n, dropped) = copy_in(&rx, &mut buf[..want]);
            if dropped {
                // The host's end is gone: no read may follow on this handle. The bytes that
                // came with the news are returned now; the verdict is awaited after them.
                drop(rx);
                st.start_end(&mut s);
            } else {
                s.rx = Some(rx);
            }
            if n > 0 {
                return Ok(n);
            }
        }
        // Readiness said yes twice and the read still found nothing: try again next time.
        drop(s);
        waker.wake();
        Err(would_block())
    }

    /// Writes what the host takes at once; `WouldBlock` (with a writability check in flight)
    /// when it takes nothing. A write that cannot complete at once is cancelled, which hands
    /// back what the host did not take, so the count returned is exactly what was sent.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let st = &self.state;
        let mut s = st.inner.borrow_mut();
        let waker = s
            .wakers
            .as_ref()
            .map(|w| w.write.clone())
            .ok_or_else(not_connected)?;
        // Two rounds at most, as for reads.
        for _ in 0..2 {
            if st.poll_writable(&mut s, &waker).is_pending() {
                return Err(would_block());
            }
            if let Some((kind, msg)) = &s.write_error {
                return Err(io::Error::new(*kind, msg.clone()));
            }
            let Some(tx) = s.tx.take() else {
                return Err(if s.opened {
                    io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the stream was shut down for writing",
                    )
                } else {
                    not_connected()
                });
            };
            let n = buf.len().min(MAX_READ);
            let (k, dropped) = copy_out(&tx, &buf[..n]);
            if dropped {
                drop(tx);
                if k > 0 {
                    // Those bytes were taken; the failure is for the next write.
                    let _ = st.fail_writes(&mut s);
                    return Ok(k);
                }
                return Err(st.fail_writes(&mut s));
            }
            s.tx = Some(tx);
            if k > 0 {
                return Ok(k);
            }
        }
        // The check said yes twice and the host still took nothing: try again next time.
        drop(s);
        waker.wake();
        Err(would_block())
    }

    /// Nothing to flush: a write returns once the host has taken its bytes.
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut s = self.state.inner.borrow_mut();
        let mut wake = Vec::new();
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            drop_op(s.probe.take());
            drop(s.rx.take());
            if s.end.is_none() {
                s.end = Some(ReadEnd::Eof);
            }
            wake.extend(s.wakers.as_ref().map(|w| w.read.clone()));
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            // Dropping the stream sends FIN once the host has written what it took.
            drop_op(s.wprobe.take());
            drop(s.tx.take());
            wake.extend(s.wakers.as_ref().map(|w| w.write.clone()));
        }
        drop(s);
        // A task waiting on a direction that just ended finds out now (its check is gone).
        for w in wake {
            w.wake();
        }
        Ok(())
    }

    /// Ends the connection without losing written data: every write returned once the host
    /// had taken its bytes, so closing the send side now loses nothing.
    pub(crate) fn shutdown_graceful(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    /// No `SO_LINGER` on WASI: the closest to an abort is dropping both streams now.
    pub(crate) fn abort(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Both)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.state
            .socket
            .get_remote_address()
            .map(from_wasi)
            .map_err(from_code)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.state
            .socket
            .get_local_address()
            .map(from_wasi)
            .map_err(from_code)
    }

    pub(crate) fn set_nodelay(&self, _on: bool) -> io::Result<()> {
        Err(no_nodelay())
    }

    /// No zero-copy file transfer on WASI: the caller falls back to reads and writes.
    pub(crate) fn try_sendfile(
        &self,
        _file: &std::fs::File,
        _offset: &mut u64,
        _len: usize,
    ) -> io::Result<usize> {
        Err(no_sendfile())
    }

    pub(crate) fn nodelay(&self) -> io::Result<bool> {
        Err(no_nodelay())
    }

    /// Never anything: a write returns once the host has taken its bytes.
    pub(crate) fn take_unflushed(&mut self) -> Option<TcpStream> {
        None
    }

    /// Nothing to wait for (see `take_unflushed`).
    pub(crate) fn flush_blocking(&self, _limit: std::time::Duration) {}
}
