//! SF-01..SF-05: `sendfile` (zero-copy natively on Linux, the read/write fallback on WASI):
//! the same bytes, results and file positions in both worlds.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use wasio::net::{SendfileError, SendfileOptions, TcpListener, TcpStream, sendfile, sendfile_with};

use super::net_util::{WAIT, checksum, lo4, payload};
use crate::{Context, Transcript, block, ensure, kind, scratch_file, within};

/// A scratch file holding `data`, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(data: &[u8]) -> Result<(Scratch, File), String> {
        let path = scratch_file("sendfile");
        File::create(&path)
            .and_then(|mut f| f.write_all(data))
            .ctx("write the scratch file")?;
        let file = File::open(&path).ctx("open the scratch file")?;
        Ok((Scratch(path), file))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A connected pair: (the side that sends the file, the side that reads).
async fn pair() -> Result<(TcpStream, TcpStream), String> {
    let l = TcpListener::bind(lo4()).await.ctx("bind")?;
    let c = TcpStream::connect(l.local_addr().ctx("addr")?)
        .await
        .ctx("connect")?;
    let (s, _) = l.accept().await.ctx("accept")?;
    Ok((s, c))
}

/// Sends with `opts`, closes, and returns (result, bytes the peer got, file position).
async fn run(
    file: &mut File,
    opts: &SendfileOptions,
) -> Result<(std::io::Result<u64>, Vec<u8>, u64), String> {
    let (tx, rx) = pair().await?;
    let reader = wasio::spawn(async move {
        let mut got = Vec::new();
        rx.read_to_end(&mut got).await.map(|_| got)
    });
    let res = sendfile_with(&tx, file, opts).await;
    tx.close().await.ctx("close")?;
    drop(tx);
    let got = within(WAIT, "the peer's read", reader)
        .await?
        .ctx("reader")?
        .ctx("read")?;
    let pos = file.stream_position().ctx("position")?;
    Ok((res, got, pos))
}

/// SF-01, SF-02: a count of 0 is an error; the result is the bytes sent; afterwards the file
/// position is `offset + sent`; an offset at or past the end sends nothing and leaves the
/// position at the offset (asyncio's fallback seeks there first; wasio's zero-copy path
/// agrees, so native and WASI match); a count past the end stops at the end; an empty file
/// sends nothing.
pub fn sf02_offset_count_result_and_position(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let data = payload(21, 100 * 1024);
        let (_keep, mut file) = Scratch::new(&data)?;
        let zero = run(&mut file, &SendfileOptions::new().count(Some(0))).await?;
        t.push(format!(
            "count 0: {} {:?}",
            zero.0.as_ref().err().map(kind).unwrap_or_default(),
            zero.0
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        ));
        let (res, got, pos) = run(
            &mut file,
            &SendfileOptions::new().offset(1000).count(Some(100)),
        )
        .await?;
        t.push(format!(
            "offset 1000 count 100: sent {:?} bytes ok={} position {pos}",
            res.ctx("sendfile")?,
            got == data[1000..1100]
        ));
        let (res, got, pos) = run(&mut file, &SendfileOptions::new()).await?;
        t.push(format!(
            "whole file: sent {:?} ok={} position {pos}",
            res.ctx("sendfile")?,
            checksum(&got) == checksum(&data)
        ));
        file.seek(SeekFrom::Start(7)).ctx("seek")?;
        let past = (data.len() + 10) as u64;
        let (res, got, pos) = run(&mut file, &SendfileOptions::new().offset(past)).await?;
        t.push(format!(
            "offset past the end: sent {:?}, {} bytes, position {pos}",
            res.ctx("sendfile")?,
            got.len()
        ));
        let tail = (data.len() - 500) as u64;
        let (res, got, pos) = run(
            &mut file,
            &SendfileOptions::new().offset(tail).count(Some(10_000)),
        )
        .await?;
        t.push(format!(
            "count past the end: sent {:?} ok={} position {pos}",
            res.ctx("sendfile")?,
            got == data[data.len() - 500..]
        ));
        let (_empty_keep, mut empty) = Scratch::new(&[])?;
        let (res, got, _) = run(&mut empty, &SendfileOptions::new()).await?;
        t.push(format!(
            "empty file: sent {:?}, {} bytes",
            res.ctx("sendfile")?,
            got.len()
        ));
        t.expect(&[
            "count 0: InvalidInput \"count must be a positive integer (got 0)\"",
            "offset 1000 count 100: sent 100 bytes ok=true position 1100",
            "whole file: sent 102400 ok=true position 102400",
            "offset past the end: sent 0, 0 bytes, position 102410",
            "count past the end: sent 500 ok=true position 102400",
            "empty file: sent 0, 0 bytes",
        ])
    })
}

/// SF-03/SF-04: the read/write fallback, on request, gives the same bytes, result and
/// position as the default path (zero-copy natively, the fallback on WASI).
pub fn sf03_forced_fallback_gives_the_same_result(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let data = payload(23, 300 * 1024 + 17);
        let (_keep, mut file) = Scratch::new(&data)?;
        let mut seen = Vec::new();
        for force in [false, true] {
            let opts = SendfileOptions::new()
                .offset(33)
                .count(Some(200_000))
                .force_fallback(force);
            let (res, got, pos) = run(&mut file, &opts).await?;
            seen.push((res.ctx("sendfile")?, checksum(&got), pos));
        }
        t.push(format!(
            "same result={} sent {} position {}",
            seen[0] == seen[1],
            seen[1].0,
            seen[1].2
        ));
        ensure!(
            seen[1].1 == checksum(&data[33..200_033]),
            "the fallback sent other bytes"
        );
        t.expect(&["same result=true sent 200000 position 200033"])
    })
}

/// SF-05: bytes written before `sendfile` go out before the file's, bytes written after it
/// returns go out after.
pub fn sf05_writes_before_and_after_keep_their_order(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let data = payload(25, 64 * 1024);
        let (_keep, mut file) = Scratch::new(&data)?;
        let (tx, rx) = pair().await?;
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).await.map(|_| got)
        });
        tx.write_all(b"PREFIX").await.ctx("prefix")?;
        let sent = sendfile(&tx, &mut file, 0, None).await.ctx("sendfile")?;
        tx.write_all(b"SUFFIX").await.ctx("suffix")?;
        tx.close().await.ctx("close")?;
        drop(tx);
        let got = within(WAIT, "the peer's read", reader)
            .await?
            .ctx("reader")?
            .ctx("read")?;
        let mut want = b"PREFIX".to_vec();
        want.extend_from_slice(&data);
        want.extend_from_slice(b"SUFFIX");
        t.push(format!(
            "sent {sent}; prefix, file, suffix in order={}",
            got == want
        ));
        t.expect(&["sent 65536; prefix, file, suffix in order=true"])
    })
}

/// A peer that closes part-way: `sendfile` fails with an error that says how many bytes were
/// sent, and the file position is `offset + sent`.
pub fn sf_peer_closing_part_way_reports_what_was_sent(t: &Transcript) -> Result<(), String> {
    let t = t.clone();
    block(async move {
        let data = payload(27, 16 << 20);
        let (_keep, mut file) = Scratch::new(&data)?;
        let (tx, rx) = pair().await?;
        let reader = wasio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let n = rx.read(&mut buf).await?;
            drop(rx);
            Ok::<_, std::io::Error>(n)
        });
        let res = within(WAIT, "sendfile", sendfile(&tx, &mut file, 5, None)).await?;
        within(WAIT, "the reader", reader)
            .await?
            .ctx("reader")?
            .ctx("read")?;
        let err = match res {
            Ok(n) => return Err(format!("sendfile sent all {n} bytes to a closed peer")),
            Err(e) => e,
        };
        let sent = SendfileError::from_io(&err).map(SendfileError::sent);
        let pos = file.stream_position().ctx("position")?;
        t.push(format!(
            "error says what was sent={} position is offset + sent={}",
            sent.is_some(),
            sent.is_some_and(|s| pos == if s > 0 { 5 + s } else { 0 })
        ));
        t.expect(&["error says what was sent=true position is offset + sent=true"])
    })
}
