//! The load generator: C connections in strict ping-pong of S-byte messages against one echo
//! server, every echoed byte checked, one JSON line (`report::EchoResult`) on stdout.
//!
//! ```text
//! loadgen --addr 127.0.0.1:7000 --conns 50 --size 1024 --warmup 0.5 --secs 2 --server-pid 1234
//! ```
//!
//! # Ground rules
//!
//! * Its own process, one thread, a mio loop (no runtime that could bias the result), pinned to
//!   core 1 when the machine has two or more (the orchestrator pins the server to core 0).
//! * Each connection sends one message, reads the whole echo, checks it against what was sent
//!   (a slice compare: every byte), then sends the next. Message `k` of connection `i` is a
//!   window of a 256-periodic pattern starting at `(13 i + 7 k) mod 256`, so a byte that comes
//!   back misplaced, from another message or from another connection does not compare equal.
//! * Warm-up first; the measured window then counts round trips completed inside it, their
//!   latencies (send of the first byte to receipt of the last), and the server's CPU time read
//!   from `/proc/<pid>` at the window's two ends.
//! * `--idle N` first opens N connections, makes each echo one byte (so the server has
//!   accepted and registered it), and leaves them idle for the whole run.
//! * Any failure (a wrong byte, a closed connection, no progress for `--stall` seconds) ends
//!   the run with a message on stderr and exit status 1: the run is invalid, not slow.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark tool prints its result and its errors"
)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use wasio_benches::report::EchoResult;
use wasio_benches::{affinity, cpu, stats};

#[derive(Parser, Debug)]
#[command(about = "Ping-pong load against an echo server")]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// Active connections.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Warm-up, seconds.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Idle connections opened first and held.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// The server's pid, for its CPU time (0: not measured).
    #[arg(long, default_value_t = 0)]
    server_pid: u32,
    /// The core to pin to (ignored on a 1-core machine); -1: do not pin.
    #[arg(long, default_value_t = 1)]
    core: i64,
    /// Seconds without a completed round trip after which the run fails.
    #[arg(long, default_value_t = 10.0)]
    stall: f64,
}

/// Period of the payload pattern.
const PERIOD: usize = 256;

struct Conn {
    stream: TcpStream,
    /// Messages completed (ever).
    seq: u64,
    /// Offset of the current message in the pattern.
    off: usize,
    /// Bytes of the current message written, and read back.
    written: usize,
    read: usize,
    /// When the current message's first byte was written.
    sent_at: Instant,
    /// Round trips completed inside the measured window.
    in_window: u64,
}

fn fail(msg: String) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(1);
}

fn connect(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let s = std::net::TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Opens `n` idle connections, each echoing one byte once, in batches.
fn open_idle(addr: SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
    let mut idle = Vec::with_capacity(n);
    let mut done = 0;
    while done < n {
        let batch = (n - done).min(200);
        let mut fresh = Vec::with_capacity(batch);
        for _ in 0..batch {
            let mut s = connect(addr).unwrap_or_else(|e| fail(format!("idle connect: {e}")));
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap_or_else(|e| fail(format!("set_read_timeout: {e}")));
            s.write_all(b"i")
                .unwrap_or_else(|e| fail(format!("idle write: {e}")));
            fresh.push(s);
        }
        for mut s in fresh {
            let mut b = [0u8; 1];
            s.read_exact(&mut b)
                .unwrap_or_else(|e| fail(format!("idle connection {done} got no echo: {e}")));
            if b != *b"i" {
                fail(format!("idle connection {done}: wrong echo {b:?}"));
            }
            idle.push(s);
            done += 1;
        }
    }
    idle
}

fn main() {
    let args = Args::parse();
    if args.conns == 0 || args.size == 0 {
        fail("--conns and --size must be positive".into());
    }
    if args.core >= 0 && affinity::cores() >= 2 {
        affinity::pin(0, args.core as usize).unwrap_or_else(|e| fail(format!("pin: {e}")));
    }
    let _idle = open_idle(args.addr, args.idle);

    // The pattern: two periods longer than a message, so any offset has a full window.
    let pattern: Vec<u8> = (0..args.size + PERIOD)
        .map(|j| (j % PERIOD) as u8 ^ 0x5a)
        .collect();
    let mut poll = Poll::new().unwrap_or_else(|e| fail(format!("mio::Poll: {e}")));
    let mut conns = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let s = connect(args.addr).unwrap_or_else(|e| fail(format!("connect: {e}")));
        s.set_nonblocking(true)
            .unwrap_or_else(|e| fail(format!("set_nonblocking: {e}")));
        let mut stream = TcpStream::from_std(s);
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .unwrap_or_else(|e| fail(format!("register: {e}")));
        conns.push(Conn {
            stream,
            seq: 0,
            off: (13 * i) % PERIOD,
            written: 0,
            read: 0,
            sent_at: Instant::now(),
            in_window: 0,
        });
    }

    let size = args.size;
    let mut rbuf = vec![0u8; size.min(256 * 1024)];
    let mut latencies: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut events = Events::with_capacity(4096);
    let t0 = Instant::now();
    let win_start = t0 + Duration::from_secs_f64(args.warmup);
    let win_end = win_start + Duration::from_secs_f64(args.secs);
    let stall = Duration::from_secs_f64(args.stall);
    let mut last_progress = Instant::now();
    let mut in_window = false;
    let mut cpu_start = 0u64;
    let mut bytes_checked = 0u64;
    let read_cpu = |pid: u32| -> u64 {
        if pid == 0 {
            return 0;
        }
        cpu::process_cpu_ns(pid).unwrap_or_else(|e| fail(format!("server CPU time: {e}")))
    };

    // Every connection starts its first message.
    for (i, c) in conns.iter_mut().enumerate() {
        c.sent_at = Instant::now();
        drive(c, i, &pattern, size, &mut rbuf, &mut |_, _| {});
    }
    loop {
        let now = Instant::now();
        if !in_window && now >= win_start {
            in_window = true;
            cpu_start = read_cpu(args.server_pid);
            for c in &mut conns {
                c.in_window = 0;
            }
        }
        if now >= win_end {
            break;
        }
        if now.duration_since(last_progress) > stall {
            fail(format!(
                "no round trip completed for {:.1} s (server stalled or gone)",
                stall.as_secs_f64()
            ));
        }
        let next = if in_window { win_end } else { win_start };
        let timeout = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        if let Err(e) = poll.poll(&mut events, Some(timeout))
            && e.kind() != io::ErrorKind::Interrupted
        {
            fail(format!("poll: {e}"));
        }
        for ev in &events {
            let i = ev.token().0;
            let c = &mut conns[i];
            let counting = in_window;
            drive(c, i, &pattern, size, &mut rbuf, &mut |c, lat| {
                last_progress = Instant::now();
                if counting && last_progress < win_end {
                    c.in_window += 1;
                    latencies.push(lat);
                    bytes_checked += size as u64;
                }
            });
        }
    }
    let cpu_end = read_cpu(args.server_pid);
    let secs = Duration::from_secs_f64(args.secs).as_secs_f64();
    let round_trips: u64 = conns.iter().map(|c| c.in_window).sum();
    latencies.sort_unstable();
    let server_cpu_ns = cpu_end.saturating_sub(cpu_start);
    let result = EchoResult {
        conns: args.conns,
        size,
        idle: args.idle,
        secs,
        round_trips,
        rt_per_sec: round_trips as f64 / secs,
        p50_ns: stats::percentile(&latencies, 50.0),
        p99_ns: stats::percentile(&latencies, 99.0),
        slowest: conns.iter().map(|c| c.in_window).min().unwrap_or(0),
        fastest: conns.iter().map(|c| c.in_window).max().unwrap_or(0),
        server_cpu_ns,
        cpu_ns_per_rt: if round_trips == 0 {
            0.0
        } else {
            server_cpu_ns as f64 / round_trips as f64
        },
        bytes_checked,
    };
    println!(
        "{}",
        serde_json::to_string(&result).unwrap_or_else(|e| fail(format!("json: {e}")))
    );
}

/// Advances connection `i` as far as it can without blocking: finishes writing the current
/// message, reads and checks its echo, and on each completed round trip calls `done` with the
/// latency in nanoseconds and starts the next message.
fn drive(
    c: &mut Conn,
    i: usize,
    pattern: &[u8],
    size: usize,
    rbuf: &mut [u8],
    done: &mut dyn FnMut(&mut Conn, u64),
) {
    loop {
        while c.written < size {
            let msg = &pattern[c.off..c.off + size];
            match c.stream.write(&msg[c.written..]) {
                Ok(0) => fail(format!("connection {i}: write returned 0")),
                Ok(n) => c.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => fail(format!("connection {i}: write: {e}")),
            }
        }
        // Read what has come back (never more than was sent).
        let want = (c.written - c.read).min(rbuf.len());
        if want == 0 {
            // All that was sent has come back but the rest cannot be sent yet: wait for
            // writability. (A complete message was reset below before coming here.)
            return;
        } else {
            match c.stream.read(&mut rbuf[..want]) {
                Ok(0) => fail(format!("connection {i}: the server closed it")),
                Ok(n) => {
                    let expect = &pattern[c.off + c.read..c.off + c.read + n];
                    if rbuf[..n] != *expect {
                        let at = rbuf[..n]
                            .iter()
                            .zip(expect)
                            .position(|(a, b)| a != b)
                            .unwrap_or(0);
                        fail(format!(
                            "connection {i}, message {}: byte {} differs",
                            c.seq,
                            c.read + at
                        ));
                    }
                    c.read += n;
                }
                // Nothing to read and (the write loop above ended) nothing more can be
                // written: the next readable or writable event resumes us.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => fail(format!("connection {i}: read: {e}")),
            }
        }
        if c.read == size {
            let lat = c.sent_at.elapsed().as_nanos() as u64;
            c.seq += 1;
            c.off = (13 * i + 7 * c.seq as usize) % PERIOD;
            c.written = 0;
            c.read = 0;
            done(c, lat);
            c.sent_at = Instant::now();
        }
    }
}
