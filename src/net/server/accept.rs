//! The accept loop: one task per listening socket.
//!
//! It accepts until `WouldBlock` (yielding after `backlog + 1` in a row), skips
//! `ConnectionAborted`, and on `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` reports to the exception
//! handler and pauses accepting for one second (asyncio `ACCEPT_RETRY_DELAY`).

use std::future::poll_fn;
use std::io;
use std::rc::Weak;
use std::task::Poll;
use std::time::Duration;

use super::conns::spawn_connection;
use super::state::{Inner, Kind};
use crate::exception::Context;
use crate::sys;

/// asyncio `ACCEPT_RETRY_DELAY`.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Consecutive accept errors (other than resource exhaustion) after which the loop pauses
/// anyway, so a persistent error cannot spin.
const ERRORS_BEFORE_PAUSE: u32 = 100;

pub(crate) async fn accept_loop<K: Kind>(server: Weak<Inner<K>>, index: usize) {
    let mut in_a_row: u32 = 0;
    let mut errors_in_a_row: u32 = 0;
    loop {
        let res = poll_fn(|cx| {
            let Some(s) = server.upgrade() else {
                return Poll::Ready(None);
            };
            let listeners = s.listeners.borrow();
            match listeners.get(index) {
                Some(Some(l)) => K::poll_accept(l, cx).map(Some),
                _ => Poll::Ready(None),
            }
        })
        .await;
        let Some(s) = server.upgrade() else { return };
        match res {
            None => return,
            Some(Ok((stream, peer))) => {
                errors_in_a_row = 0;
                spawn_connection(&s, stream, peer);
                in_a_row += 1;
                if in_a_row > s.backlog {
                    in_a_row = 0;
                    drop(s);
                    crate::time::yield_now().await;
                }
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Some(Err(e)) => {
                in_a_row = 0;
                errors_in_a_row += 1;
                let addr = s.addrs.borrow().get(index).cloned();
                let exhausted = sys::net::is_resource_exhaustion(&e);
                let message = if exhausted {
                    "socket.accept() out of system resource"
                } else {
                    "Error on accepting a connection"
                };
                s.report(Context::new(message).with_error(e).with(
                    "socket",
                    addr.map_or_else(|| "?".to_string(), |a| a.to_string()),
                ));
                drop(s);
                // asyncio pauses accepting only when out of resources; other errors are
                // reported and accepting goes on (a persistent one is paused after a while).
                if exhausted || errors_in_a_row >= ERRORS_BEFORE_PAUSE {
                    errors_in_a_row = 0;
                    crate::time::sleep(ACCEPT_RETRY_DELAY).await;
                } else {
                    crate::time::yield_now().await;
                }
            }
        }
    }
}
