//! Native side of UDP options WASI cannot provide (divergence `udp-options`): `SO_REUSEPORT`
//! and `SO_BROADCAST` (UDP-02).

use wasio::net::{DatagramOptions, UdpSocket, create_datagram_endpoint};

/// `reuse_port` lets two endpoints bind one port; without it the second bind fails.
#[test]
fn udp02_reuse_port_shares_a_port() {
    wasio::run(async {
        let opts = DatagramOptions::new()
            .local_addr("127.0.0.1", 0)
            .reuse_port(true);
        let a = create_datagram_endpoint(&opts).await.unwrap();
        let port = a.local_addr().unwrap().port();
        let same = DatagramOptions::new()
            .local_addr("127.0.0.1", port)
            .reuse_port(true);
        assert!(create_datagram_endpoint(&same).await.is_ok());
        let plain = DatagramOptions::new().local_addr("127.0.0.1", port);
        let err = create_datagram_endpoint(&plain).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    })
    .unwrap();
}

/// `allow_broadcast` sets `SO_BROADCAST` and skips `connect()`: the remote address is only the
/// default destination (asyncio), so `send` goes there and the socket has no peer.
#[test]
fn udp02_allow_broadcast_sets_the_option_and_skips_connect() {
    wasio::run(async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        let opts = DatagramOptions::new()
            .remote_addr("127.0.0.1", port)
            .allow_broadcast(true);
        let b = create_datagram_endpoint(&opts).await.unwrap();
        assert!(b.broadcast().unwrap());
        assert_eq!(
            b.peer_addr().unwrap_err().kind(),
            std::io::ErrorKind::NotConnected,
            "not connected"
        );
        b.send(b"to the remembered address").await.unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"to the remembered address");
        // Another destination is refused (asyncio: must be None or the address).
        let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = b
            .send_to(b"x", other.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        b.set_broadcast(false).unwrap();
        assert!(!b.broadcast().unwrap());
    })
    .unwrap();
}
