//! What only native targets can show about the task helpers: a panicking `TaskGroup` child
//! (a panic aborts a wasm32-wasip2 instance), and how many polls `gather` spends.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use wasio::task::{TaskFailure, TaskGroup};

/// A panicking child is a failure of the group like an `Err`: the siblings are cancelled,
/// `wait` returns the panic message, and nothing is reported as unretrieved.
#[test]
fn panicking_child_fails_the_group_without_a_report() {
    let lp = wasio::EventLoop::new().expect("loop");
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    lp.set_exception_handler(move |_, ctx| r.borrow_mut().push(ctx.message().to_string()));
    let (failures, sibling_cancelled) = lp
        .run_until_complete(async {
            let group = TaskGroup::<String>::new();
            let sibling = group
                .spawn(async {
                    wasio::sleep(std::time::Duration::from_secs(3600)).await;
                    Ok(())
                })
                .expect("spawn");
            let panicking = group
                .spawn(async {
                    wasio::yield_now().await;
                    if true {
                        panic!("child exploded");
                    }
                    Ok(())
                })
                .expect("spawn");
            drop(panicking); // detached: still no "never retrieved" report
            let err = group.wait().await.expect_err("the panic fails the group");
            let failures: Vec<String> = err
                .failures()
                .iter()
                .map(|f| match f {
                    TaskFailure::Panic(p) => format!("panic: {}", p.message()),
                    TaskFailure::Error(e) => format!("error: {e}"),
                })
                .collect();
            (failures, sibling.is_cancelled())
        })
        .expect("run");
    lp.close().expect("close");
    assert_eq!(failures, ["panic: child exploded"]);
    assert!(sibling_cancelled);
    assert!(
        reports.borrow().is_empty(),
        "reports: {:?}",
        reports.borrow()
    );
}

/// Counts its polls; ready after `wakes` self-wakes.
struct Counted {
    polls: Rc<Cell<usize>>,
    left: usize,
}

impl Future for Counted {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A future of the gather below.
type Job = Pin<Box<dyn Future<Output = Result<(), &'static str>>>>;

/// A wake-up polls only the future it was for: one busy future among 1,000 idle ones costs
/// one poll per wake-up, not a poll of every future.
#[test]
fn gather_polls_only_the_woken_future() {
    let polls = Rc::new(Cell::new(0));
    let idle_polls = Rc::new(Cell::new(0));
    let (p, ip) = (polls.clone(), idle_polls.clone());
    let out = wasio::run(async move {
        let mut futs: Vec<Job> = Vec::new();
        futs.push(Box::pin(async move {
            Counted {
                polls: p,
                left: 100,
            }
            .await;
            // try_gather returns at the first Err: the idle futures never complete.
            Err("busy one done")
        }));
        for _ in 0..1000 {
            let ip = ip.clone();
            futs.push(Box::pin(std::future::poll_fn(move |_| {
                ip.set(ip.get() + 1);
                Poll::Pending
            })));
        }
        wasio::try_gather(futs).await
    })
    .expect("run");
    assert_eq!(out, Err("busy one done"));
    assert_eq!(polls.get(), 101, "the busy future: one poll per wake-up");
    assert_eq!(idle_polls.get(), 1000, "each idle future was polled once");
}
