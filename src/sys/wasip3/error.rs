//! `wasi:sockets@0.3` error codes as `io::Error`, in one place.
//!
//! The kind follows the POSIX error each code stands for; the message keeps the WASI code name
//! (`wasi:sockets error-code connection-refused`), as the WASI 0.2 backend's does, so both
//! worlds report the same text.

use std::io::{self, ErrorKind};

use wasip3::sockets::types::ErrorCode;

/// Maps a `wasi:sockets` error code.
pub(crate) fn from_code(code: ErrorCode) -> io::Error {
    let (kind, name) = match &code {
        ErrorCode::AccessDenied => (ErrorKind::PermissionDenied, "access-denied"),
        ErrorCode::NotSupported => (ErrorKind::Unsupported, "not-supported"),
        ErrorCode::InvalidArgument => (ErrorKind::InvalidInput, "invalid-argument"),
        ErrorCode::OutOfMemory => (ErrorKind::OutOfMemory, "out-of-memory"),
        ErrorCode::Timeout => (ErrorKind::TimedOut, "timeout"),
        ErrorCode::InvalidState => (ErrorKind::InvalidInput, "invalid-state"),
        ErrorCode::AddressNotBindable => (ErrorKind::AddrNotAvailable, "address-not-bindable"),
        ErrorCode::AddressInUse => (ErrorKind::AddrInUse, "address-in-use"),
        ErrorCode::RemoteUnreachable => (ErrorKind::HostUnreachable, "remote-unreachable"),
        ErrorCode::ConnectionRefused => (ErrorKind::ConnectionRefused, "connection-refused"),
        ErrorCode::ConnectionBroken => (ErrorKind::BrokenPipe, "connection-broken"),
        ErrorCode::ConnectionReset => (ErrorKind::ConnectionReset, "connection-reset"),
        ErrorCode::ConnectionAborted => (ErrorKind::ConnectionAborted, "connection-aborted"),
        ErrorCode::DatagramTooLarge => (ErrorKind::InvalidInput, "datagram-too-large"),
        ErrorCode::Other(detail) => {
            return io::Error::other(format!(
                "wasi:sockets error-code other: {}",
                detail.as_deref().unwrap_or("no detail")
            ));
        }
    };
    if matches!(code, ErrorCode::AccessDenied) {
        return io::Error::new(
            kind,
            format!(
                "wasi:sockets error-code {name}: {}",
                crate::sys::wasi_shared::ACCESS_DENIED_HINT
            ),
        );
    }
    io::Error::new(kind, format!("wasi:sockets error-code {name}"))
}
