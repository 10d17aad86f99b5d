//! Native name lookup: `getaddrinfo` on a helper thread, so the loop never blocks on it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

type Slot = Arc<Mutex<(Option<io::Result<Vec<SocketAddr>>>, Option<Waker>)>>;

/// Resolves `host` (not an IP literal) on a helper thread.
pub(crate) async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let slot: Slot = Arc::new(Mutex::new((None, None)));
    let (theirs, name) = (slot.clone(), host.to_owned());
    std::thread::Builder::new()
        .name("wasio-getaddrinfo".into())
        .spawn(move || {
            let res = (name.as_str(), port)
                .to_socket_addrs()
                .map(|it| it.collect::<Vec<_>>())
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("getaddrinfo('{name}') failed: {e}"))
                });
            let waker = {
                let mut g = theirs.lock().unwrap_or_else(PoisonError::into_inner);
                g.0 = Some(res);
                g.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        })?;
    std::future::poll_fn(|cx| {
        let mut g = slot.lock().unwrap_or_else(PoisonError::into_inner);
        match g.0.take() {
            Some(res) => Poll::Ready(res),
            None => {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}
