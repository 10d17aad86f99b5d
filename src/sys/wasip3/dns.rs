//! WASI 0.3 name lookup: `wasi:sockets/ip-name-lookup@0.3.0`, an async import awaited in the
//! task that asked (its completion wakes that task through the reactor).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use wasip3::sockets::ip_name_lookup::{ErrorCode, resolve_addresses};

use super::addr::ip_from_wasi;
use super::{drop_op, poll_op};
use crate::sys::{LookupError, Reactor};

/// Resolves `host` (not an IP literal).
pub(crate) async fn lookup(
    host: &str,
    port: u16,
    _reactor: &impl Reactor,
) -> Result<Vec<SocketAddr>, LookupError> {
    let op = Box::pin(resolve_addresses(host.to_string()));
    let ips = InReactor(Some(op)).await.map_err(name_error)?;
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip_from_wasi(ip), port))
        .collect())
}

/// Polls (and drops) a wit-bindgen future with the reactor installed.
struct InReactor<T>(Option<Pin<Box<dyn Future<Output = T>>>>);

impl<T> Future for InReactor<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(op) = &mut self.0 else {
            return Poll::Pending;
        };
        let out = poll_op(op, cx.waker());
        if out.is_ready() {
            self.0 = None;
        }
        out
    }
}

impl<T> Drop for InReactor<T> {
    fn drop(&mut self) {
        drop_op(self.0.take());
    }
}

fn name_error(code: ErrorCode) -> LookupError {
    let (temporary, name) = match &code {
        ErrorCode::NameUnresolvable => (false, "name-unresolvable"),
        ErrorCode::TemporaryResolverFailure => (true, "temporary-resolver-failure"),
        ErrorCode::PermanentResolverFailure => (false, "permanent-resolver-failure"),
        ErrorCode::AccessDenied => {
            return LookupError::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "wasi:sockets error-code access-denied",
            ));
        }
        ErrorCode::InvalidArgument => {
            return LookupError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "wasi:sockets error-code invalid-argument",
            ));
        }
        ErrorCode::Other(detail) => {
            return LookupError::Io(std::io::Error::other(format!(
                "wasi:sockets error-code other: {}",
                detail.as_deref().unwrap_or("no detail")
            )));
        }
    };
    LookupError::Name {
        temporary,
        detail: format!("wasi:sockets error-code {name}"),
    }
}
