//! The raw WASI 0.3 echo server, no runtime (the WASI 0.3 floor): `raw-p3-echo [HOST:PORT]`
//! (IPv4 only), a `wasi:cli/run@0.3.0` export.
//!
//! # Ground rules
//!
//! * One waitable set. The stream of accepted connections and each connection's two byte
//!   streams join it once; each copy (`stream.read` / `stream.write`) goes straight between
//!   the host and the connection's buffer, and one that cannot finish at once is reported by
//!   `waitable-set.wait`. This is what a runtime on WASI 0.3 cannot avoid paying; everything
//!   else here is as little as an echo can do.
//! * One copy in flight per connection: it reads when it owes nothing, and writes back all it
//!   read before reading again. So a connection is closed only when no copy of it is pending.
//! * Same 64 KiB reads and backlog (1024) as the other servers; prints `listening on ADDR`
//!   first.

use std::io::Write;

use wasip3::sockets::types::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, TcpSocket};
use wasip3::wit_bindgen::{FutureReader, StreamReader, StreamWriter};
use wasip3::wit_stream::{self, StreamPayload};

const BUF: usize = 64 * 1024;
const BACKLOG: u64 = 1024;

// Canonical built-ins of the component-model async ABI.
#[link(wasm_import_module = "$root")]
unsafe extern "C" {
    #[link_name = "[waitable-set-new]"]
    fn waitable_set_new() -> u32;
    #[link_name = "[waitable-join]"]
    fn waitable_join(waitable: u32, set: u32);
    #[link_name = "[waitable-set-wait]"]
    fn waitable_set_wait(set: u32, payload: *mut [u32; 2]) -> u32;
}

/// A copy that must wait: its completion comes as an event.
const BLOCKED: u32 = u32::MAX;
const EVENT_STREAM_READ: u32 = 2;
const EVENT_STREAM_WRITE: u32 = 3;

/// Bytes moved, and whether the other side's end is gone.
fn decode(code: u32) -> (usize, bool) {
    ((code >> 4) as usize, code & 0xf == 1)
}

struct Conn {
    // Field order is drop order: the streams and futures before their socket.
    rx: StreamReader<u8>,
    tx: StreamWriter<u8>,
    _rx_done: FutureReader<Result<(), wasip3::sockets::types::ErrorCode>>,
    _sent: FutureReader<Result<(), wasip3::sockets::types::ErrorCode>>,
    _socket: TcpSocket,
    /// Bytes read and not yet written back: `buf[off..len]`. Boxed: the host writes into it
    /// while a read is pending, so it must not move.
    buf: Box<[u8]>,
    off: usize,
    len: usize,
}

impl Conn {
    /// Moves bytes until a copy must wait (`true`) or the connection is over (`false`).
    fn drive(&mut self) -> bool {
        let ops = <u8 as StreamPayload>::VTABLE;
        loop {
            if self.off < self.len {
                let rest = &self.buf[self.off..self.len];
                // SAFETY: `buf` is boxed and outlives the copy: the connection is dropped only
                // when no copy of it is pending (one copy at a time, see the ground rules).
                let code =
                    unsafe { (ops.start_write)(self.tx.handle(), rest.as_ptr(), rest.len()) };
                if code == BLOCKED {
                    return true;
                }
                if !self.wrote(code) {
                    return false;
                }
                continue;
            }
            // SAFETY: as for the write.
            let code = unsafe {
                (ops.start_read)(self.rx.handle(), self.buf.as_mut_ptr(), self.buf.len())
            };
            if code == BLOCKED {
                return true;
            }
            if !self.read(code) {
                return false;
            }
        }
    }

    /// A read completed: `false` when the peer is gone and nothing came.
    fn read(&mut self, code: u32) -> bool {
        let (n, dropped) = decode(code);
        self.off = 0;
        self.len = n;
        n > 0 || !dropped
    }

    /// A write completed: `false` when the host stopped taking bytes.
    fn wrote(&mut self, code: u32) -> bool {
        let (k, dropped) = decode(code);
        self.off += k;
        !dropped
    }
}

fn run_server() -> Result<(), String> {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let sa: std::net::SocketAddrV4 = arg
        .parse()
        .map_err(|e| format!("bad IPv4 address {arg:?}: {e}"))?;
    let o = sa.ip().octets();
    let listener = TcpSocket::create(IpAddressFamily::Ipv4).map_err(|e| format!("{e:?}"))?;
    listener
        .bind(IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: sa.port(),
            address: (o[0], o[1], o[2], o[3]),
        }))
        .map_err(|e| format!("bind {arg}: {e:?}"))?;
    listener
        .set_listen_backlog_size(BACKLOG)
        .map_err(|e| format!("{e:?}"))?;
    let incoming = listener.listen().map_err(|e| format!("listen: {e:?}"))?;
    let local = match listener.get_local_address() {
        Ok(IpSocketAddress::Ipv4(a)) => {
            let (x, y, z, w) = a.address;
            format!("{x}.{y}.{z}.{w}:{}", a.port)
        }
        other => return Err(format!("local address: {other:?}")),
    };
    let mut out = std::io::stdout();
    writeln!(out, "listening on {local}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;

    // SAFETY: `waitable-set.new` has no preconditions.
    let set = unsafe { waitable_set_new() };
    let accept_handle = incoming.handle();
    // SAFETY: the handle is the listener's live stream of connections.
    unsafe { waitable_join(accept_handle, set) };
    let sock_ops = <TcpSocket as StreamPayload>::VTABLE;
    let lift = sock_ops
        .lift
        .ok_or("a socket stream must lift its handles")?;
    // The accepted socket's handle, written by the host (the canonical ABI's `own` is an i32).
    let mut slot: Box<u32> = Box::new(0);

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    // `owner[h]`: the connection whose stream has handle `h`.
    let mut owner: Vec<usize> = Vec::new();

    let mut accepted: Vec<TcpSocket> = Vec::new();
    // Starts accepts until one must wait; what completes at once is in `accepted`.
    let accept = |accepted: &mut Vec<TcpSocket>, slot: &mut u32| -> Result<(), String> {
        loop {
            // SAFETY: `slot` is boxed and lives as long as the loop; one accept at a time.
            let code =
                unsafe { (sock_ops.start_read)(accept_handle, (slot as *mut u32).cast(), 1) };
            if code == BLOCKED {
                return Ok(());
            }
            let (n, dropped) = decode(code);
            if n == 1 {
                // SAFETY: the host wrote one owned socket handle into `slot`.
                accepted.push(unsafe { lift((slot as *mut u32).cast()) });
            } else if dropped {
                return Err("the listener's stream ended".into());
            }
        }
    };
    accept(&mut accepted, &mut slot)?;
    loop {
        for socket in accepted.drain(..) {
            let (rx, rx_done) = socket.receive();
            let (tx, tx_reader) = wit_stream::new::<u8>();
            let sent = socket.send(tx_reader);
            let mut conn = Conn {
                rx,
                tx,
                _rx_done: rx_done,
                _sent: sent,
                _socket: socket,
                buf: vec![0; BUF].into_boxed_slice(),
                off: 0,
                len: 0,
            };
            let i = free.pop().unwrap_or(conns.len());
            for h in [conn.rx.handle(), conn.tx.handle()] {
                let h = h as usize;
                if owner.len() <= h {
                    owner.resize(h + 1, usize::MAX);
                }
                owner[h] = i;
                // SAFETY: a live stream end of this connection.
                unsafe { waitable_join(h as u32, set) };
            }
            if conn.drive() {
                if i == conns.len() {
                    conns.push(Some(conn));
                } else {
                    conns[i] = Some(conn);
                }
            } else {
                free.push(i);
            }
        }
        let mut payload = [0u32; 2];
        // SAFETY: `payload` is valid for the two words the host writes.
        let event = unsafe { waitable_set_wait(set, &mut payload) };
        let [handle, code] = payload;
        if handle == accept_handle {
            let (n, dropped) = decode(code);
            if n == 1 {
                // SAFETY: the host wrote one owned socket handle into `slot`.
                accepted.push(unsafe { lift((&mut *slot as *mut u32).cast()) });
            } else if dropped {
                return Err("the listener's stream ended".into());
            }
            accept(&mut accepted, &mut slot)?;
            continue;
        }
        let Some(&i) = owner.get(handle as usize) else {
            continue;
        };
        let Some(conn) = conns.get_mut(i).and_then(Option::as_mut) else {
            continue;
        };
        let alive = match event {
            EVENT_STREAM_READ => conn.read(code) && conn.drive(),
            EVENT_STREAM_WRITE => conn.wrote(code) && conn.drive(),
            _ => true,
        };
        if !alive {
            conns[i] = None;
            free.push(i);
        }
    }
}

struct Echo;

wasip3::cli::command::export!(Echo);

impl wasip3::exports::cli::run::Guest for Echo {
    async fn run() -> Result<(), ()> {
        run_server().map_err(|e| {
            let _ = writeln!(std::io::stderr(), "raw-p3-echo: {e}");
        })
    }
}
