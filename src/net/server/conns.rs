//! One task per accepted connection, counted by the server from accept until the task ends.

use std::io;
use std::rc::{Rc, Weak};

use super::state::{Conn, Inner, Kind};
use crate::exception::Context;
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;

/// Ends a connection's accounting when its task ends (completed, cancelled or destroyed).
///
/// It holds the server weakly: the server holds the connection's task handle, so a strong
/// reference here would be a cycle keeping both (and the stream) alive after the loop closes.
struct ConnGuard<K: Kind> {
    server: Weak<Inner<K>>,
    key: usize,
}

impl<K: Kind> Drop for ConnGuard<K> {
    fn drop(&mut self) {
        let Some(s) = self.server.upgrade() else {
            return;
        };
        let removed = s
            .conns
            .try_borrow_mut()
            .ok()
            .and_then(|mut c| c.try_remove(self.key));
        drop(removed);
        s.maybe_done();
    }
}

/// Runs the server's handler on `stream` in a new task.
pub(crate) fn spawn_connection<K: Kind>(server: &Rc<Inner<K>>, stream: K::Stream, peer: K::Peer) {
    let Some(core) = server.core.upgrade() else {
        return;
    };
    K::prepare(&stream);
    let key = server.conns.borrow_mut().insert(Conn {
        stream: K::control(&stream),
        task: None,
    });
    let guard = ConnGuard {
        server: Rc::downgrade(server),
        key,
    };
    let handler = server.handler.clone();
    let task = spawn_on(&core, None, TaskKind::User, async move {
        let guard = guard;
        match handler(stream).await {
            Ok(()) => {}
            Err(e) => {
                if let Some(io) = e.downcast_ref::<io::Error>() {
                    tracing::debug!(target: "wasio", %peer, error = %io, "connection ended with an I/O error");
                } else if let Some(server) = guard.server.upgrade() {
                    server.report(
                        Context::new("Unhandled exception in client_connected_cb")
                            .with_error(e)
                            .with("peer", peer),
                    );
                }
            }
        }
    });
    if let Some(c) = server.conns.borrow_mut().get_mut(key) {
        c.task = Some(task);
    }
}
