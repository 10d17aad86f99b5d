//! The loops every byte stream shares (TCP streams, child pipes), over its `poll_read` or
//! `poll_write`: read exactly, read to the end, write everything.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

/// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the stream ends first.
pub(crate) async fn read_exact(
    mut poll_read: impl FnMut(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    mut buf: &mut [u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| poll_read(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
    }
    Ok(())
}

/// Reads until end of stream, appending to `out`; returns the number of bytes read.
///
/// Cancel-safe as far as `out` goes: the bytes read so far are in `out` and nothing else is.
/// `out` is grown before each read (reads go straight into it, so the future holds no buffer
/// a task would keep whole); a guard truncates it to what was read when the future is dropped
/// mid-read, so a cancelled call never leaves the unread, zeroed tail behind.
pub(crate) async fn read_to_end(
    mut poll_read: impl FnMut(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    const CHUNK: usize = 16 * 1024;
    let start = out.len();
    let mut guard = Filled { filled: start, out };
    loop {
        let len = guard.filled;
        guard.out.resize(len + CHUNK, 0);
        let res = poll_fn(|cx| poll_read(cx, &mut guard.out[len..])).await;
        if let Ok(n) = res {
            guard.filled = len + n;
        }
        guard.out.truncate(guard.filled);
        if res? == 0 {
            return Ok(guard.filled - start);
        }
    }
}

/// `out` holds `filled` bytes of data and perhaps a zeroed tail being read into; dropping the
/// guard (the read ended, or its future was dropped) cuts the tail off.
struct Filled<'a> {
    out: &'a mut Vec<u8>,
    filled: usize,
}

impl Drop for Filled<'_> {
    fn drop(&mut self) {
        self.out.truncate(self.filled);
    }
}

/// Writes all of `buf`; `WriteZero` if the stream takes nothing.
pub(crate) async fn write_all(
    mut poll_write: impl FnMut(&mut Context<'_>, &[u8]) -> Poll<io::Result<usize>>,
    mut buf: &[u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}
