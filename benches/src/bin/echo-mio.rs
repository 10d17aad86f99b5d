//! The raw mio echo server, no runtime (the native floor): `echo-mio [HOST:PORT]`.
//!
//! One `mio::Poll`, a `Vec` of connections indexed by token, edge-triggered: on any event a
//! connection flushes what it owes, then reads until `WouldBlock`, echoing each read before
//! the next (so it never buffers more than one 64 KiB read). Same buffer, backlog and
//! `TCP_NODELAY` as the other servers; prints `listening on ADDR` first.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wasio_benches::shared::echo_wasio::{BACKLOG, BUF};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    /// Bytes `buf[start..end]` were read and not yet written back.
    start: usize,
    end: usize,
}

enum Step {
    Open,
    Closed,
}

impl Conn {
    fn drive(&mut self) -> io::Result<Step> {
        loop {
            while self.start < self.end {
                match self.stream.write(&self.buf[self.start..self.end]) {
                    Ok(0) => return Ok(Step::Closed),
                    Ok(n) => self.start += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Open),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Ok(Step::Closed),
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Open),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    // std listens with a backlog of 128; a second listen(2) raises it to the servers' 1024.
    let std_listener = std::net::TcpListener::bind(addr)?;
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the fd is a valid listening socket owned by `std_listener`; listen(2) only
        // changes its backlog.
        if unsafe { libc::listen(std_listener.as_raw_fd(), BACKLOG as libc::c_int) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    std_listener.set_nonblocking(true)?;
    Ok(TcpListener::from_std(std_listener))
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
    let mut listener = listen(addr)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut out = io::stdout();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    out.flush()?;

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in &events {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut stream,
                                Token(slot),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns[slot] = Some(Conn {
                                stream,
                                buf: vec![0u8; BUF].into_boxed_slice(),
                                start: 0,
                                end: 0,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let slot = ev.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let done = !matches!(conn.drive(), Ok(Step::Open));
            if done {
                if let Some(mut c) = conns[slot].take() {
                    poll.registry().deregister(&mut c.stream)?;
                }
                free.push(slot);
            }
        }
    }
}
