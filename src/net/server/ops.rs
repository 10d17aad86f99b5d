//! What a server does, whatever it listens on: the bodies of the methods `Server` and
//! `UnixServer` share (SRV-01, SRV-07 to SRV-10).

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::Poll;

use super::accept::accept_loop;
use super::state::{Inner, Kind};
use crate::core::Core;
use crate::error::Error;
use crate::task::cancel::catch_cancel;
use crate::task::join::spawn_on;
use crate::task::state::TaskKind;

fn core<K: Kind>(inner: &Inner<K>) -> io::Result<Rc<Core>> {
    inner
        .core
        .upgrade()
        .ok_or_else(|| io::Error::other(Error::closed()))
}

/// The end of `start_server` / `start_unix_server`: serve at once if asked.
pub(crate) async fn finish_start<K: Kind>(inner: &Rc<Inner<K>>, start: bool) -> io::Result<()> {
    if start {
        start_serving(inner)?;
        // asyncio awaits sleep(0) here: the accept loops get their first turn.
        crate::time::yield_now().await;
    }
    Ok(())
}

/// Starts accepting (idempotent; an error on a closed server).
///
/// All or nothing, and nothing lost: if one socket fails to listen, the error comes back, the
/// sockets already listening stay the server's (not accepting yet) and the failed one and the
/// rest stay bound, so [`close`] closes them all and a later call tries again.
pub(crate) fn start_serving<K: Kind>(inner: &Rc<Inner<K>>) -> io::Result<()> {
    if inner.closed.get() {
        return Err(io::Error::other("server is closed"));
    }
    if inner.serving.get() {
        return Ok(());
    }
    let core = core(inner)?;
    let bound = std::mem::take(&mut *inner.bound.borrow_mut());
    let mut rest = bound.into_iter();
    while let Some(b) = rest.next() {
        match K::listen(b, &core, inner.backlog) {
            Ok(l) => inner.listeners.borrow_mut().push(Some(l)),
            Err((b, e)) => {
                let mut kept = inner.bound.borrow_mut();
                kept.push(b);
                kept.extend(rest);
                return Err(e);
            }
        }
    }
    let first = inner.accept_tasks.borrow().len();
    let count = inner.listeners.borrow().len();
    for i in first..count {
        let weak = Rc::downgrade(inner);
        let name = format!("wasio-accept-{i}");
        let task = spawn_on(
            &core,
            Some(name.into()),
            TaskKind::User,
            accept_loop(weak, i),
        );
        inner.accept_tasks.borrow_mut().push(task);
    }
    inner.serving.set(true);
    Ok(())
}

/// Stops listening now and leaves existing connections open; idempotent (SRV-07). Dropping
/// the sockets closes them (and removes a Unix socket's path if it is still ours).
pub(crate) fn close<K: Kind>(inner: &Inner<K>) {
    if inner.closed.replace(true) {
        return;
    }
    inner.serving.set(false);
    inner.addrs.borrow_mut().clear();
    let bound = std::mem::take(&mut *inner.bound.borrow_mut());
    let listeners = std::mem::take(&mut *inner.listeners.borrow_mut());
    let tasks = std::mem::take(&mut *inner.accept_tasks.borrow_mut());
    // Closing the sockets first refuses new connects at once.
    drop(bound);
    drop(listeners);
    for t in &tasks {
        t.cancel();
    }
    drop(tasks);
    if let Some(w) = inner.serve_waker.borrow_mut().take() {
        w.wake();
    }
    inner.maybe_done();
}

/// Closes (`abort`: false) or aborts every client connection and cancels its task (SRV-09).
pub(crate) fn end_clients<K: Kind>(inner: &Inner<K>, abort: bool) {
    for (stream, task) in inner.take_conns() {
        if let Some(s) = stream {
            let _ = if abort {
                s.abort()
            } else {
                s.close_gracefully()
            };
        }
        if let Some(t) = task {
            t.cancel();
        }
    }
}

/// Waits until the server is closed and no connection remains (SRV-08).
pub(crate) async fn wait_closed<K: Kind>(inner: &Inner<K>) {
    poll_fn(|cx| {
        if inner.done.get() {
            return Poll::Ready(());
        }
        let mut waiters = inner.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    })
    .await
}

/// Serves until the server is closed (SRV-10); see `Server::serve_forever`.
pub(crate) async fn serve_forever<K: Kind>(inner: &Rc<Inner<K>>) -> io::Result<()> {
    if inner.closed.get() {
        return Err(io::Error::other("server is closed"));
    }
    if inner.serving_forever.get() {
        return Err(io::Error::other(
            "server is already being awaited on serve_forever()",
        ));
    }
    start_serving(inner)?;
    inner.serving_forever.set(true);
    let guard = ServeGuard(inner.clone());
    let until_closed = poll_fn(|cx| {
        if inner.closed.get() {
            Poll::Ready(())
        } else {
            *inner.serve_waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    });
    match catch_cancel(until_closed).await {
        Ok(()) => {
            drop(guard);
            Ok(())
        }
        Err(cancelled) => {
            close(inner);
            wait_closed(inner).await;
            drop(guard);
            match cancelled.propagate().await {}
        }
    }
}

/// Clears the `serve_forever` flag; closes the server if the future was dropped mid-way.
struct ServeGuard<K: Kind>(Rc<Inner<K>>);

impl<K: Kind> Drop for ServeGuard<K> {
    fn drop(&mut self) {
        self.0.serving_forever.set(false);
        if std::thread::panicking() {
            return;
        }
        if !self.0.closed.get() {
            close(&self.0);
        }
    }
}
