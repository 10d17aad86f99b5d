//! Native side of `sendfile` (divergence `sendfile`): zero-copy works without the fallback
//! for a regular file; a file zero-copy cannot send is an error without the fallback and
//! goes through it otherwise.

use std::io::Write;

use wasio::net::{SendfileOptions, TcpListener, TcpStream, sendfile_with};

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let c = TcpStream::connect(l.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (s, _) = l.accept().await.expect("accept");
    (s, c)
}

#[test]
fn zero_copy_needs_no_fallback_for_a_regular_file() {
    let path = std::env::temp_dir().join(format!("wasio-sf-native-{}", std::process::id()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&[9u8; 100_000])
        .unwrap();
    let mut file = std::fs::File::open(&path).unwrap();
    let got = wasio::run(async move {
        let (tx, rx) = pair().await;
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).await.map(|_| got)
        });
        let opts = SendfileOptions::new().fallback(false);
        let sent = sendfile_with(&tx, &mut file, &opts).await.unwrap();
        assert_eq!(sent, 100_000);
        tx.close().await.unwrap();
        drop(tx);
        reader.await.unwrap().unwrap()
    })
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(got, vec![9u8; 100_000]);
}

#[test]
fn a_device_goes_through_the_fallback_or_is_refused_without_it() {
    let (refused, zeros) = wasio::run(async {
        let (tx, rx) = pair().await;
        let mut dev = std::fs::File::open("/dev/zero").unwrap();
        let no_fallback = SendfileOptions::new().count(Some(1000)).fallback(false);
        let refused = sendfile_with(&tx, &mut dev, &no_fallback)
            .await
            .unwrap_err();
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).await.map(|_| got)
        });
        let with = SendfileOptions::new().count(Some(40_000));
        assert_eq!(sendfile_with(&tx, &mut dev, &with).await.unwrap(), 40_000);
        tx.close().await.unwrap();
        drop(tx);
        (refused, reader.await.unwrap().unwrap())
    })
    .unwrap();
    assert_eq!(refused.kind(), std::io::ErrorKind::Unsupported);
    assert_eq!(zeros, vec![0u8; 40_000]);
}

/// Issue 17 item 5: a pipe cannot seek, so zero-copy is impossible and the fallback serves it,
/// from where the pipe is, with offset 0 (another offset is a clear error, never a seek).
#[test]
fn a_pipe_goes_through_the_fallback() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "head -c 50000 /dev/zero | tr '\\0' 'p'"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let pipe = child.stdout.take().expect("piped stdout");
    let mut file = std::fs::File::from(std::os::fd::OwnedFd::from(pipe));
    let (offset_err, sent, got) = wasio::run(async move {
        let (tx, rx) = pair().await;
        let offset_err = sendfile_with(&tx, &mut file, &SendfileOptions::new().offset(5))
            .await
            .expect_err("an offset on a pipe");
        let reader = wasio::spawn(async move {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).await.map(|_| got)
        });
        let sent = sendfile_with(&tx, &mut file, &SendfileOptions::new()).await;
        tx.close().await.expect("close");
        drop(tx);
        (offset_err, sent, reader.await.expect("task").expect("read"))
    })
    .expect("run");
    child.wait().expect("wait");
    assert_eq!(
        offset_err.kind(),
        std::io::ErrorKind::InvalidInput,
        "{offset_err}"
    );
    assert_eq!(sent.expect("sendfile from a pipe"), 50_000);
    assert_eq!(got, vec![b'p'; 50_000]);
}
