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
pub(crate) async fn read_to_end(
    mut poll_read: impl FnMut(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    const CHUNK: usize = 16 * 1024;
    let start = out.len();
    loop {
        // Read straight into `out` (no buffer in the future's state, which a task keeps whole).
        let len = out.len();
        out.resize(len + CHUNK, 0);
        let res = poll_fn(|cx| poll_read(cx, &mut out[len..])).await;
        let n = *res.as_ref().unwrap_or(&0);
        out.truncate(len + n);
        if res? == 0 {
            return Ok(out.len() - start);
        }
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
