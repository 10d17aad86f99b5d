//! The state one server's handles, accept loops and connection tasks share, and [`Kind`]: what
//! differs between a TCP and a Unix server.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context as TaskContext, Poll, Waker};

use slab::Slab;

use crate::core::Core;
use crate::exception::Context;
use crate::handle::Outcome;
use crate::net::inner::Control;
use crate::task::join::JoinHandle;

/// The kind of socket a server listens on (TCP or Unix): every type and operation the shared
/// machinery (`Inner`, the accept loop, the connection tasks) needs from it.
pub(crate) trait Kind: Sized + 'static {
    /// A socket bound, not yet listening.
    type Bound: 'static;
    /// A listening socket.
    type Listener: 'static;
    /// A connection, as the handler receives it.
    type Stream: 'static;
    /// A listening socket's address (`sockets()`; named in accept error reports).
    type Addr: Clone + fmt::Display + 'static;
    /// A peer's address (logged, named in handler error reports).
    type Peer: fmt::Display + 'static;

    /// Listens on a bound socket; on failure the socket comes back with the error.
    fn listen(
        bound: Self::Bound,
        core: &Rc<Core>,
        backlog: u32,
    ) -> Result<Self::Listener, (Self::Bound, io::Error)>;
    fn poll_accept(
        listener: &Self::Listener,
        cx: &mut TaskContext<'_>,
    ) -> Poll<io::Result<(Self::Stream, Self::Peer)>>;
    /// What `close_clients` / `abort_clients` act on, held weakly by the server.
    fn control(stream: &Self::Stream) -> Weak<dyn Control>;
    /// Prepares an accepted connection before the handler sees it (TCP: `TCP_NODELAY`).
    fn prepare(stream: &Self::Stream);
}

/// The connection handler, boxed once per server.
pub(crate) type Handler<S> = Rc<dyn Fn(S) -> Pin<Box<dyn Future<Output = Outcome>>>>;

/// One accepted connection, as the server tracks it from accept until its task ends.
pub(crate) struct Conn {
    /// The stream, held weakly: the handler owns it.
    pub(crate) stream: Weak<dyn Control>,
    /// The handler's task, until `close_clients`/`abort_clients` take it.
    pub(crate) task: Option<JoinHandle<()>>,
}

/// A server's shared state.
pub(crate) struct Inner<K: Kind> {
    pub(crate) core: Weak<Core>,
    pub(crate) handler: Handler<K::Stream>,
    pub(crate) backlog: u32,
    /// Bound, not yet listening.
    pub(crate) bound: RefCell<Vec<K::Bound>>,
    /// Listening sockets, by index of their accept task; `None` once closed.
    pub(crate) listeners: RefCell<Vec<Option<K::Listener>>>,
    pub(crate) accept_tasks: RefCell<Vec<JoinHandle<()>>>,
    /// Local addresses of every socket, in bind order.
    pub(crate) addrs: RefCell<Vec<K::Addr>>,
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

impl<K: Kind> Inner<K> {
    /// A server of `core` over sockets bound (not listening yet) at `addrs`.
    pub(crate) fn new(
        core: &Rc<Core>,
        handler: Handler<K::Stream>,
        backlog: u32,
        bound: Vec<K::Bound>,
        addrs: Vec<K::Addr>,
    ) -> Inner<K> {
        Inner {
            core: Rc::downgrade(core),
            handler,
            backlog,
            bound: RefCell::new(bound),
            listeners: RefCell::new(Vec::new()),
            accept_tasks: RefCell::new(Vec::new()),
            addrs: RefCell::new(addrs),
            serving: Cell::new(false),
            closed: Cell::new(false),
            conns: RefCell::new(Slab::new()),
            done: Cell::new(false),
            waiters: RefCell::new(Vec::new()),
            serving_forever: Cell::new(false),
            serve_waker: RefCell::new(None),
        }
    }

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
    pub(crate) fn take_conns(&self) -> Vec<(Option<Rc<dyn Control>>, Option<JoinHandle<()>>)> {
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
