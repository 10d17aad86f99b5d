//! The state one server's handles, accept loops and connection tasks share.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::Waker;

use slab::Slab;

use crate::core::Core;
use crate::exception::Context;
use crate::handle::Outcome;
use crate::net::listener::{BoundSocket, TcpListener};
use crate::net::stream::{StreamInner, TcpStream};
use crate::task::join::JoinHandle;

/// The connection handler, boxed once per server.
pub(crate) type Handler = Rc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = Outcome>>>>;

/// One accepted connection, as the server tracks it from accept until its task ends.
pub(crate) struct Conn {
    /// The stream, held weakly: the handler owns it.
    pub(crate) stream: Weak<StreamInner>,
    /// The handler's task, until `close_clients`/`abort_clients` take it.
    pub(crate) task: Option<JoinHandle<()>>,
}

/// A server's shared state.
pub(crate) struct Inner {
    pub(crate) core: Weak<Core>,
    pub(crate) handler: Handler,
    pub(crate) backlog: u32,
    /// Bound, not yet listening.
    pub(crate) bound: RefCell<Vec<BoundSocket>>,
    /// Listening sockets, by index of their accept task; `None` once closed.
    pub(crate) listeners: RefCell<Vec<Option<TcpListener>>>,
    pub(crate) accept_tasks: RefCell<Vec<JoinHandle<()>>>,
    /// Local addresses of every socket, in bind order.
    pub(crate) addrs: RefCell<Vec<SocketAddr>>,
    pub(crate) serving: Cell<bool>,
    pub(crate) closed: Cell<bool>,
    /// Open connections (their number is asyncio's `_active_count`).
    pub(crate) conns: RefCell<Slab<Conn>>,
    /// `wait_closed` has completed once: later calls return at once.
    pub(crate) done: Cell<bool>,
    pub(crate) waiters: RefCell<Vec<Waker>>,
    /// A `serve_forever` is pending.
    pub(crate) serving_forever: Cell<bool>,
    pub(crate) serve_waker: RefCell<Option<Waker>>,
}

impl Inner {
    /// Open connections.
    pub(crate) fn active(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Releases `wait_closed` once the server is closed and no connection is left (SRV-08).
    pub(crate) fn maybe_done(&self) {
        if self.closed.get() && self.active() == 0 && !self.done.replace(true) {
            let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
        }
    }

    /// The streams and tasks of every open connection (for `close_clients`/`abort_clients`).
    #[allow(clippy::type_complexity, reason = "a private pair of optional handles")]
    pub(crate) fn take_conns(&self) -> Vec<(Option<Rc<StreamInner>>, Option<JoinHandle<()>>)> {
        let mut conns = self.conns.borrow_mut();
        conns
            .iter_mut()
            .map(|(_, c)| (c.stream.upgrade(), c.task.take()))
            .collect()
    }

    pub(crate) fn report(&self, ctx: Context) {
        if let Some(core) = self.core.upgrade() {
            core.call_exception_handler(&ctx);
        }
    }
}
