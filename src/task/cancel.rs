//! Catching a task's cancellation: [`catch_cancel`] (asyncio `try: await … except
//! CancelledError:`) and [`Cancelled::propagate`] (`raise`).
//!
//! A cancel request goes to the innermost active scope of the task; with none, the task's
//! whole future is dropped at its current `.await` (see `task::join`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::state::{TaskHeader, cancel_current, current_header};

/// The error of [`catch_cancel`]: the task was asked to cancel while the scope was active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled(());

impl Cancelled {
    /// Passes the cancellation on, as `raise` inside `except CancelledError:` does: the
    /// request goes to the next enclosing [`catch_cancel`] scope, or, with none, ends the task
    /// cancelled. The returned future never completes; the task is ended at this `.await`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ended_cancelled = wasio::run(async {
    ///     let t = wasio::spawn(async {
    ///         if let Err(c) = wasio::task::catch_cancel(wasio::sleep(Duration::from_secs(3600))).await {
    ///             // clean up, then let the cancellation end the task
    ///             c.propagate().await;
    ///         }
    ///     });
    ///     wasio::yield_now().await;
    ///     t.cancel();
    ///     t.await.is_err_and(|e| e.is_cancelled())
    /// })
    /// .unwrap();
    /// assert!(ended_cancelled);
    /// ```
    pub async fn propagate(self) -> std::convert::Infallible {
        cancel_current();
        std::future::pending().await
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task cancellation requested")
    }
}

impl std::error::Error for Cancelled {}

/// Runs `future` so that a cancel request for the current task ends only `future`, as
/// `try: await fut / except CancelledError:` does in asyncio.
///
/// Returns `Err(Cancelled)` if the task's cancellation was requested while the scope was active
/// (the future is dropped at its current `.await`); the task then continues after the scope.
/// Outside a task it just awaits `future`.
///
/// ```
/// use std::time::Duration;
/// let out = wasio::run(async {
///     let t = wasio::spawn(async {
///         match wasio::task::catch_cancel(wasio::sleep(Duration::from_secs(3600))).await {
///             Ok(()) => "slept",
///             Err(_) => "cancelled, cleaned up",
///         }
///     });
///     wasio::yield_now().await; // let the task start
///     t.cancel();
///     t.await.unwrap()
/// })
/// .unwrap();
/// assert_eq!(out, "cancelled, cleaned up");
/// ```
pub fn catch_cancel<F: Future>(future: F) -> CatchCancel<F> {
    CatchCancel {
        future: Some(future),
        id: 0,
        header: None,
    }
}

pin_project_lite::pin_project! {
    /// Future returned by [`catch_cancel`].
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct CatchCancel<F> {
        #[pin]
        future: Option<F>,
        // This scope's id while registered with the current task (0: not registered).
        id: u32,
        header: Option<Rc<TaskHeader>>,
    }

    impl<F> PinnedDrop for CatchCancel<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            unregister(this.header, *this.id);
        }
    }
}

fn unregister(header: &mut Option<Rc<TaskHeader>>, id: u32) {
    if let Some(h) = header.take() {
        h.scopes.borrow_mut().retain(|s| *s != id);
    }
}

/// Whether the task's pending cancel request is for the scope `id` (the innermost).
fn request_is_for(header: &Option<Rc<TaskHeader>>, id: u32) -> bool {
    header
        .as_ref()
        .is_some_and(|h| h.cancel_pending.get() && h.scopes.borrow().last() == Some(&id))
}

impl<F: Future> Future for CatchCancel<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.header.is_none()
            && *this.id == 0
            && let Some(h) = current_header()
        {
            let id = h.next_scope.get();
            h.next_scope.set(id.wrapping_add(1).max(1));
            h.scopes.borrow_mut().push(id);
            *this.id = id;
            *this.header = Some(h);
        }
        if request_is_for(this.header, *this.id) {
            if let Some(h) = this.header.as_ref() {
                h.cancel_pending.set(false);
            }
            this.future.set(None);
            unregister(this.header, *this.id);
            return Poll::Ready(Err(Cancelled(())));
        }
        let Some(fut) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Cancelled(())));
        };
        match fut.poll(cx) {
            Poll::Ready(v) => {
                this.future.set(None);
                unregister(this.header, *this.id);
                Poll::Ready(Ok(v))
            }
            Poll::Pending => {
                if request_is_for(this.header, *this.id) {
                    // Requested while the inner future ran: deliver on the next poll.
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}

impl<F> fmt::Debug for CatchCancel<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatchCancel")
            .field("scope", &self.id)
            .finish()
    }
}
