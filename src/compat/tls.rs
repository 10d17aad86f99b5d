//! TLS over wasio streams (cargo feature `tls`): [rustls] through `futures-rustls`, on the
//! `futures-io` traits every wasio stream implements, natively and on wasm32-wasip2 alike.
//!
//! # Ground rules
//!
//! * The crypto provider is RustCrypto's (`rustls-rustcrypto`): pure Rust, so a guest builds
//!   for `wasm32-wasip2` with the pinned toolchain and no C compiler (ring and aws-lc-rs
//!   need a C toolchain that targets wasm). The same provider serves natively, so both worlds
//!   negotiate the same suites. It is young: for a native-only program with other needs, build
//!   your own `rustls` configs with another provider and use the same [`TlsAcceptor`] /
//!   [`TlsConnector`].
//! * [`server_config`] and [`client_config`] read PEM (a certificate chain and a key; trusted
//!   roots) and advertise ALPN `h2` and `http/1.1`, which [`crate::hyper::serve`] uses to pick
//!   the protocol.
//! * Errors are `std::io::Error`s: `InvalidInput` for PEM or keys that do not parse, and
//!   whatever the handshake reports.
//!
//! ```
//! use wasio::net::{TcpListener, TcpStream};
//! use wasio::tls;
//!
//! // A self-signed certificate for "localhost" and its key, in PEM, made on the spot.
//! let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let (cert_pem, key_pem) = (made.cert.pem(), made.signing_key.serialize_pem());
//! let acceptor = tls::acceptor(cert_pem.as_bytes(), key_pem.as_bytes())?;
//! let connector = tls::connector(cert_pem.as_bytes())?;
//! wasio::run(async move {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let server = wasio::spawn(async move {
//!         let (tcp, _) = listener.accept().await?;
//!         let mut tls = acceptor.accept(tcp).await?;
//!         use futures_util::AsyncWriteExt;
//!         tls.write_all(b"hello over TLS").await?;
//!         tls.close().await
//!     });
//!     let tcp = TcpStream::connect(addr).await?;
//!     let name = tls::server_name("localhost")?;
//!     let mut tls = connector.connect(name, tcp).await?;
//!     let mut got = Vec::new();
//!     use futures_util::AsyncReadExt;
//!     tls.read_to_end(&mut got).await?;
//!     assert_eq!(got, b"hello over TLS");
//!     server.await.unwrap()
//! })
//! .unwrap()?;
//! # Ok::<_, std::io::Error>(())
//! ```

use std::io;
use std::sync::Arc;

pub use futures_rustls::{TlsAcceptor, TlsConnector, client, rustls, server};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

/// The crypto provider wasio's configs use (RustCrypto's; see the module docs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls_rustcrypto::provider())
}

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1), with ALPN `h2` and `http/1.1`.
pub fn server_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<rustls::ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("the certificate chain", e))?;
    if certs.is_empty() {
        return Err(invalid(
            "the certificate chain",
            "no certificate in the PEM",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid("the private key", e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("the protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("the certificate and key", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration trusting the PEM certificates `roots_pem`, with ALPN `h2` and
/// `http/1.1`.
pub fn client_config(roots_pem: &[u8]) -> io::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem) {
        let cert = cert.map_err(|e| invalid("a root certificate", e))?;
        roots
            .add(cert)
            .map_err(|e| invalid("a root certificate", e))?;
    }
    if roots.is_empty() {
        return Err(invalid("the roots", "no certificate in the PEM"));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("the protocol versions", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A [`TlsAcceptor`] from [`server_config`].
pub fn acceptor(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsAcceptor> {
    Ok(TlsAcceptor::from(Arc::new(server_config(
        cert_chain_pem,
        key_pem,
    )?)))
}

/// A [`TlsConnector`] from [`client_config`].
pub fn connector(roots_pem: &[u8]) -> io::Result<TlsConnector> {
    Ok(TlsConnector::from(Arc::new(client_config(roots_pem)?)))
}

/// The name a client checks the server's certificate against (`"localhost"`, a DNS name or
/// an IP literal).
pub fn server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned()).map_err(|e| invalid("the server name", e))
}
