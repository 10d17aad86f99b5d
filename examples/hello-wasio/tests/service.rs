//! An integration test of the crate's public API; in wasmtime it is a component of its own.

use std::time::Duration;

#[wasio::test]
async fn a_slow_client_still_gets_its_answer() -> std::io::Result<()> {
    let addr = hello_wasio::start().await?;
    let conn = wasio::net::TcpStream::connect(addr).await?;
    conn.write_all(b"in ").await?;
    wasio::sleep(Duration::from_millis(10)).await;
    conn.write_all(b"parts\n").await?;
    let mut reply = [0u8; 9];
    conn.read_exact(&mut reply).await?;
    assert_eq!(&reply, b"IN PARTS\n");
    Ok(())
}

#[wasio::test]
async fn the_program_name_is_the_test_binary() {
    // The runner passes the program name as argv[0]: the test binary's (natively) or the
    // component's (in wasmtime) file name, both starting with this test's name.
    let args: Vec<String> = std::env::args().collect();
    let name = std::path::Path::new(&args[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    assert!(name.is_some_and(|n| n.starts_with("service")), "{args:?}");
}
