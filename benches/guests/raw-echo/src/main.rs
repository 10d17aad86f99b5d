//! The raw `wasi:io/poll` echo server, no runtime (the WASI floor): `raw-echo [HOST:PORT]`
//! (IPv4 only).
//!
//! # Ground rules
//!
//! * One `poll` per iteration over the listener's pollable and one pollable per connection:
//!   its input stream's while it owes nothing, its output stream's while it holds bytes not
//!   yet written. This list, rebuilt each iteration, is what any WASI runtime pays per
//!   connection; everything else here is as little as an echo can do.
//! * Readiness is a hint: an empty read is not EOF (`StreamError::Closed` is), a `check_write`
//!   of 0 means wait.
//! * Same 64 KiB reads and backlog (1024) as the other servers; prints `listening on ADDR`
//!   first.
//! * Field order is drop order: pollables are children of their streams, streams of their
//!   socket.

use std::io::Write;

use wasip2::io::poll::{Pollable, poll};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

const BUF: u64 = 64 * 1024;
const BACKLOG: u64 = 1024;

struct Conn {
    // Field order matters: the pollables are children of the streams, the streams of the
    // socket.
    readable: Pollable,
    writable: Pollable,
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
    /// Bytes read and not yet written back, from `pending[sent..]`.
    pending: Vec<u8>,
    sent: usize,
}

impl Conn {
    /// Writes what it can; reads when it owes nothing. `false` when the connection is over.
    fn drive(&mut self) -> bool {
        loop {
            if self.sent < self.pending.len() {
                let permit = match self.output.check_write() {
                    Ok(p) => p as usize,
                    Err(_) => return false,
                };
                if permit == 0 {
                    return true;
                }
                let end = self.pending.len().min(self.sent + permit);
                if self.output.write(&self.pending[self.sent..end]).is_err() {
                    return false;
                }
                self.sent = end;
                continue;
            }
            match self.input.read(BUF) {
                Ok(data) if data.is_empty() => return true,
                Ok(data) => {
                    self.pending = data;
                    self.sent = 0;
                }
                Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => {
                    return false;
                }
            }
        }
    }

    fn waiting_on(&self) -> &Pollable {
        if self.sent < self.pending.len() {
            &self.writable
        } else {
            &self.readable
        }
    }
}

fn parse(addr: &str) -> Result<Ipv4SocketAddress, String> {
    let sa: std::net::SocketAddrV4 = addr
        .parse()
        .map_err(|e| format!("bad IPv4 address {addr:?}: {e}"))?;
    let o = sa.ip().octets();
    Ok(Ipv4SocketAddress {
        port: sa.port(),
        address: (o[0], o[1], o[2], o[3]),
    })
}

fn wait(p: &Pollable) {
    p.block();
}

fn listen(addr: Ipv4SocketAddress) -> Result<(TcpSocket, Pollable), ErrorCode> {
    let net = instance_network();
    let sock = create_tcp_socket(IpAddressFamily::Ipv4)?;
    let ready = sock.subscribe();
    sock.start_bind(&net, IpSocketAddress::Ipv4(addr))?;
    loop {
        match sock.finish_bind() {
            Err(ErrorCode::WouldBlock) => wait(&ready),
            other => break other?,
        }
    }
    sock.set_listen_backlog_size(BACKLOG)?;
    sock.start_listen()?;
    loop {
        match sock.finish_listen() {
            Err(ErrorCode::WouldBlock) => wait(&ready),
            other => break other?,
        }
    }
    drop(ready);
    let accept_ready = sock.subscribe();
    Ok((sock, accept_ready))
}

fn main() -> Result<(), String> {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    // Field order matters below too: `accept_ready` is dropped before `listener`.
    let (listener, accept_ready) =
        listen(parse(&arg)?).map_err(|e| format!("listen on {arg}: {e:?}"))?;
    let local = match listener.local_address() {
        Ok(IpSocketAddress::Ipv4(sa)) => {
            let (a, b, c, d) = sa.address;
            format!("{a}.{b}.{c}.{d}:{}", sa.port)
        }
        other => return Err(format!("local address: {other:?}")),
    };
    let mut out = std::io::stdout();
    writeln!(out, "listening on {local}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    // `slots[i]` is the connection behind poll index `i + 1` (index 0 is the listener).
    let mut slots: Vec<usize> = Vec::new();
    loop {
        slots.clear();
        let mut list: Vec<&Pollable> = Vec::with_capacity(conns.len() + 1);
        list.push(&accept_ready);
        for (i, c) in conns.iter().enumerate() {
            if let Some(c) = c {
                list.push(c.waiting_on());
                slots.push(i);
            }
        }
        let ready = poll(&list);
        drop(list);
        let mut accept = false;
        let mut to_drive: Vec<usize> = Vec::with_capacity(ready.len());
        for idx in ready {
            if idx == 0 {
                accept = true;
            } else {
                to_drive.push(slots[idx as usize - 1]);
            }
        }
        for slot in to_drive {
            let alive = conns[slot].as_mut().is_some_and(Conn::drive);
            if !alive && conns[slot].take().is_some() {
                free.push(slot);
            }
        }
        if accept {
            loop {
                match listener.accept() {
                    Ok((socket, input, output)) => {
                        let mut conn = Conn {
                            readable: input.subscribe(),
                            writable: output.subscribe(),
                            input,
                            output,
                            _socket: socket,
                            pending: Vec::new(),
                            sent: 0,
                        };
                        if conn.drive() {
                            match free.pop() {
                                Some(slot) => conns[slot] = Some(conn),
                                None => conns.push(Some(conn)),
                            }
                        }
                    }
                    Err(ErrorCode::WouldBlock) => break,
                    Err(ErrorCode::ConnectionAborted) => {}
                    Err(e) => return Err(format!("accept: {e:?}")),
                }
            }
        }
    }
}
