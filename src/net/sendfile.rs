//! [`sendfile`]: a file's bytes to a [`TcpStream`], zero-copy where the platform can (asyncio
//! `loop.sendfile`).
//!
//! # Ground rules (SF-01..SF-05)
//!
//! * `count` of `Some(0)` is an error (asyncio: "count must be a positive integer"); `None`
//!   means "until end of file". An offset at or past the end sends nothing.
//! * The result is the number of bytes sent. The file position follows one rule on both
//!   paths (see [`sendfile`]): a regular file is left at `offset + sent` once the call gets
//!   past its checks, on success and on error alike, also when nothing was sent; a file that
//!   cannot seek (a pipe, a socket, a device) is read from where it is, never seeked, and
//!   only offset 0 is accepted for it.
//! * Natively on Linux the bytes go through `sendfile(2)`; when that is impossible for this
//!   file (not a regular file, or the call is unavailable) and nothing was sent yet, the
//!   fallback reads the file in 16 KiB chunks (asyncio's transport fallback size) and writes
//!   them to the stream, unless the caller disabled it. On WASI the fallback is the only
//!   path (divergence `sendfile`). Both give the same bytes, result and file position.
//! * Bytes written to the stream before the call go out before the file's, and bytes written
//!   after it returns go out after (the same stream, in order).
//! * A failure part-way (the peer closed) is an error that says how many bytes were sent
//!   ([`SendfileError`]).
//! * The fallback reads the file on the loop's thread: fine for files on disk; a FIFO or a
//!   device that blocks would block the loop.

use std::fmt;
use std::fs::File;
use std::future::poll_fn;
use std::io::{self, Read, Seek, SeekFrom};

use crate::net::stream::TcpStream;

/// The fallback's chunk size (asyncio: the transport fallback reads 16 KiB at a time).
pub const FALLBACK_CHUNK: usize = 16 * 1024;

/// The most one `sendfile(2)` call is asked to send.
const NATIVE_CHUNK: usize = 1 << 20;

/// Options of [`sendfile_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendfileOptions {
    offset: u64,
    count: Option<u64>,
    fallback: bool,
    force_fallback: bool,
}

impl Default for SendfileOptions {
    fn default() -> SendfileOptions {
        SendfileOptions {
            offset: 0,
            count: None,
            fallback: true,
            force_fallback: false,
        }
    }
}

impl SendfileOptions {
    /// From offset 0 to the end of the file, zero-copy where possible, else the fallback.
    pub fn new() -> SendfileOptions {
        SendfileOptions::default()
    }
    /// Where in the file to start.
    pub fn offset(mut self, offset: u64) -> SendfileOptions {
        self.offset = offset;
        self
    }
    /// At most this many bytes (`None`: to the end of the file; `Some(0)` is an error).
    pub fn count(mut self, count: Option<u64>) -> SendfileOptions {
        self.count = count;
        self
    }
    /// Whether the read/write fallback may be used when zero-copy is impossible (default
    /// true). Without it, that case is an `Unsupported` error with nothing sent and the file
    /// position unchanged (asyncio `fallback=False`).
    pub fn fallback(mut self, on: bool) -> SendfileOptions {
        self.fallback = on;
        self
    }
    /// Use the read/write fallback even where zero-copy works.
    pub fn force_fallback(mut self, on: bool) -> SendfileOptions {
        self.force_fallback = on;
        self
    }
}

/// What a `sendfile` that failed part-way had sent, inside the `io::Error` it returns (whose
/// kind is the underlying error's).
#[derive(Debug)]
pub struct SendfileError {
    sent: u64,
    source: io::Error,
}

impl SendfileError {
    /// Bytes sent before the failure.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The `SendfileError` inside an error from [`sendfile`], if it carries one.
    pub fn from_io(err: &io::Error) -> Option<&SendfileError> {
        err.get_ref()?.downcast_ref::<SendfileError>()
    }
}

impl fmt::Display for SendfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sendfile failed after {} bytes were sent: {}",
            self.sent, self.source
        )
    }
}

impl std::error::Error for SendfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Sends `count` bytes of `file` from `offset` (`None`: to the end) to `stream`; returns how
/// many were sent (asyncio `loop.sendfile`).
///
/// `Some(0)` is an `InvalidInput` error; an offset at or past the end sends nothing.
///
/// The file position: for a regular file it ends at `offset + sent` (so at `offset` when
/// nothing was sent, an offset at or past the end included), on success and on error alike;
/// the errors raised before anything is tried (`count` of 0, the fallback disabled where it
/// would be needed) leave it unchanged. A call cancelled part-way (its future dropped) leaves
/// it at `offset` plus what reached the stream too, as asyncio's `finally` does; a future
/// dropped before its first poll did nothing. asyncio's read/write fallback does the same (it seeks
/// to `offset` before reading and to `offset + sent` after); its zero-copy path leaves the
/// position alone when nothing was sent, and wasio follows the fallback on both paths so
/// that the worlds agree (on WASI the fallback is the only path). A file that cannot seek (a
/// pipe, a socket, a character device) is read from where it is and never seeked: `offset`
/// must then be 0 (else `InvalidInput`), and the fallback always serves it.
///
/// Natively on Linux a regular file goes through zero-copy `sendfile(2)`; otherwise (and
/// always on WASI) the file is read in 16 KiB chunks and written to the stream, with the same
/// bytes, result and position (see [`SendfileOptions`] to disable or force that fallback).
/// Bytes written to the stream before and after keep their order. A failure part-way is an
/// error carrying a [`SendfileError`] that says how many bytes were sent.
///
/// ```
/// use std::io::Write;
/// use wasio::net::{TcpListener, TcpStream, sendfile};
///
/// wasio::run(async {
///     let path = std::env::temp_dir().join(format!("wasio-doc-{}", std::process::id()));
///     std::fs::File::create(&path)?.write_all(b"abcdef")?;
///     let mut file = std::fs::File::open(&path)?;
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     let sent = sendfile(&server, &mut file, 1, Some(3)).await?;
///     server.close().await?;
///     let mut got = Vec::new();
///     client.read_to_end(&mut got).await?;
///     assert_eq!((sent, &got[..]), (3, &b"bcd"[..]));
///     use std::io::Seek;
///     assert_eq!(file.stream_position()?, 4);
///     std::fs::remove_file(&path)
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub async fn sendfile(
    stream: &TcpStream,
    file: &mut File,
    offset: u64,
    count: Option<u64>,
) -> io::Result<u64> {
    let opts = SendfileOptions::new().offset(offset).count(count);
    sendfile_with(stream, file, &opts).await
}

/// [`sendfile`] with every option.
pub async fn sendfile_with(
    stream: &TcpStream,
    file: &mut File,
    opts: &SendfileOptions,
) -> io::Result<u64> {
    if opts.count == Some(0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "count must be a positive integer (got 0)",
        ));
    }
    let offset = opts.offset;
    let meta = file.metadata()?;
    // What is there to send, for a regular file (others are read until they end).
    let available = meta.is_file().then(|| meta.len().saturating_sub(offset));
    let want = match (opts.count, available) {
        (Some(c), Some(a)) => c.min(a),
        (Some(c), None) => c,
        (None, Some(a)) => a,
        (None, None) => u64::MAX,
    };
    let seekable = meta.is_file();
    if !seekable && offset != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "offset {offset} needs a file that can seek; this one (a pipe, socket or device) \
                 can only be sent from where it is, with offset 0"
            ),
        ));
    }
    let mut progress = Progress {
        file,
        seekable,
        offset,
        sent: 0,
        settled: false,
    };
    if want == 0 {
        return progress.finish(Ok(()));
    }
    let mut native_failed = None;
    if !opts.force_fallback && seekable {
        match zero_copy(stream, &mut progress, want).await {
            Ok(()) => return progress.finish(Ok(())),
            Err(e) if progress.sent == 0 && unavailable(&e) => native_failed = Some(e),
            Err(e) => return progress.finish(Err(e)),
        }
    }
    if !opts.fallback {
        // Nothing was tried that moves the position: leave it.
        progress.settled = true;
        let why = native_failed.map_or_else(
            || "the file is not a regular file".to_string(),
            |e| e.to_string(),
        );
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("fallback is disabled and zero-copy sendfile is not possible: {why}"),
        ));
    }
    let res = copy(stream, &mut progress, want).await;
    progress.finish(res)
}

/// The file and how much of it was sent. `finish` leaves a regular file at `offset + sent`;
/// so does dropping it unfinished (the `sendfile` future was cancelled part-way), as asyncio's
/// `finally` does.
struct Progress<'a> {
    file: &'a mut File,
    seekable: bool,
    offset: u64,
    sent: u64,
    /// The position was settled (or must stay as it was).
    settled: bool,
}

impl Progress<'_> {
    fn settle(&mut self) -> io::Result<()> {
        self.settled = true;
        if self.seekable {
            self.file
                .seek(SeekFrom::Start(self.offset.saturating_add(self.sent)))?;
        }
        Ok(())
    }

    /// Settles the position and wraps a failure with what was sent.
    fn finish(mut self, res: io::Result<()>) -> io::Result<u64> {
        self.settle()?;
        let sent = self.sent;
        match res {
            Ok(()) => Ok(sent),
            Err(source) => Err(io::Error::new(
                source.kind(),
                SendfileError { sent, source },
            )),
        }
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let _ = self.settle();
        }
    }
}

/// Whether a first zero-copy error means "not possible for this pair" (the backend says
/// `Unsupported`): fall back.
fn unavailable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
}

/// The zero-copy path: `sendfile(2)` until `want` bytes are sent or the file ends.
async fn zero_copy(stream: &TcpStream, p: &mut Progress<'_>, want: u64) -> io::Result<()> {
    let inner = stream.inner();
    let mut pos = p.offset;
    while p.sent < want {
        let len = usize::try_from(want - p.sent)
            .unwrap_or(usize::MAX)
            .min(NATIVE_CHUNK);
        let file: &File = p.file;
        let n = poll_fn(|cx| inner.poll_sendfile(cx, file, &mut pos, len)).await?;
        if n == 0 {
            // The file ended (it shrank since we looked).
            break;
        }
        p.sent += n as u64;
    }
    Ok(())
}

/// The fallback: read 16 KiB chunks from `offset` (a file that cannot seek: from where it
/// is) and write them to the stream.
async fn copy(stream: &TcpStream, p: &mut Progress<'_>, want: u64) -> io::Result<()> {
    if p.seekable {
        p.file.seek(SeekFrom::Start(p.offset))?;
    }
    let mut buf = vec![0u8; FALLBACK_CHUNK];
    while p.sent < want {
        let len = usize::try_from(want - p.sent)
            .unwrap_or(usize::MAX)
            .min(FALLBACK_CHUNK);
        let n = loop {
            match p.file.read(&mut buf[..len]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            break;
        }
        // Counted write by write: a future dropped part-way knows exactly what went out.
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let w = stream.write(chunk).await?;
            if w == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            p.sent += w as u64;
            chunk = &chunk[w..];
        }
    }
    Ok(())
}
