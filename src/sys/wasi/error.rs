//! `wasi:sockets` error codes and stream errors as `io::Error`, in one place.
//!
//! The kind follows the POSIX error each code stands for; the message keeps the WASI code name
//! (`wasi:sockets error-code connection-refused`), so nothing is lost in the mapping.

use std::io::{self, ErrorKind};

use wasip2::io::streams::StreamError;
use wasip2::sockets::network::ErrorCode;

/// Maps a `wasi:sockets` error code.
pub(crate) fn from_code(code: ErrorCode) -> io::Error {
    let kind = match code {
        ErrorCode::WouldBlock => ErrorKind::WouldBlock,
        ErrorCode::AccessDenied => ErrorKind::PermissionDenied,
        ErrorCode::NotSupported => ErrorKind::Unsupported,
        ErrorCode::InvalidArgument => ErrorKind::InvalidInput,
        ErrorCode::OutOfMemory => ErrorKind::OutOfMemory,
        ErrorCode::Timeout => ErrorKind::TimedOut,
        ErrorCode::InvalidState => ErrorKind::InvalidInput,
        ErrorCode::AddressNotBindable => ErrorKind::AddrNotAvailable,
        ErrorCode::AddressInUse => ErrorKind::AddrInUse,
        ErrorCode::RemoteUnreachable => ErrorKind::HostUnreachable,
        ErrorCode::ConnectionRefused => ErrorKind::ConnectionRefused,
        ErrorCode::ConnectionReset => ErrorKind::ConnectionReset,
        ErrorCode::ConnectionAborted => ErrorKind::ConnectionAborted,
        ErrorCode::DatagramTooLarge => ErrorKind::InvalidInput,
        ErrorCode::NameUnresolvable => ErrorKind::NotFound,
        ErrorCode::TemporaryResolverFailure => ErrorKind::Interrupted,
        ErrorCode::NotInProgress
        | ErrorCode::ConcurrencyConflict
        | ErrorCode::NewSocketLimit
        | ErrorCode::PermanentResolverFailure
        | ErrorCode::Unknown => ErrorKind::Other,
    };
    if code == ErrorCode::AccessDenied {
        return io::Error::new(
            kind,
            format!(
                "wasi:sockets error-code access-denied: {}",
                crate::sys::wasi_shared::ACCESS_DENIED_HINT
            ),
        );
    }
    io::Error::new(kind, format!("wasi:sockets error-code {}", code.name()))
}

/// Maps a stream error. wasi 0.2 has no stable way to get the socket error code behind a
/// stream error, so the host's description decides the kind: wasmtime describes it with its
/// error-code name (`ConnectionReset`), other hosts with the OS text (`Connection reset by
/// peer`). Only the first line is kept (hosts may append a backtrace).
pub(crate) fn from_stream(err: StreamError) -> io::Error {
    match err {
        StreamError::Closed => io::Error::new(ErrorKind::UnexpectedEof, "stream closed"),
        StreamError::LastOperationFailed(e) => {
            let text = e.to_debug_string();
            let first = text.lines().next().unwrap_or("").trim().to_string();
            io::Error::new(
                kind_of_description(&first),
                format!("wasi:io stream error: {first}"),
            )
        }
    }
}

/// The error kind an error description stands for, ignoring case, spaces, `-` and `_`.
fn kind_of_description(text: &str) -> ErrorKind {
    let t: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let table: [(&str, ErrorKind); 9] = [
        ("connectionreset", ErrorKind::ConnectionReset),
        ("resetbypeer", ErrorKind::ConnectionReset),
        ("connectionbroken", ErrorKind::BrokenPipe),
        ("brokenpipe", ErrorKind::BrokenPipe),
        ("connectionaborted", ErrorKind::ConnectionAborted),
        (
            "softwarecausedconnectionabort",
            ErrorKind::ConnectionAborted,
        ),
        ("connectionrefused", ErrorKind::ConnectionRefused),
        ("timedout", ErrorKind::TimedOut),
        ("notconnected", ErrorKind::NotConnected),
    ];
    table
        .iter()
        .find(|(needle, _)| t.contains(needle))
        .map_or(ErrorKind::Other, |(_, kind)| *kind)
}
