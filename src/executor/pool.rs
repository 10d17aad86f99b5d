//! [`ThreadPool`]: the worker threads behind `run_in_executor` (asyncio's
//! `ThreadPoolExecutor`), and the loop's default-executor slot.
//!
//! # Ground rules
//!
//! * Threads start lazily: one more only when a job is queued, no worker is idle, and fewer
//!   than `max_workers` run (`ThreadPoolExecutor._adjust_thread_count`). Workers never exit
//!   while the pool is open.
//! * A job never unwinds into a worker: the caller wraps it (`run_in_executor` catches the
//!   panic and hands it to the awaiting task).
//! * `shutdown` refuses new jobs; workers finish what is queued and exit. `shutdown(wait)`
//!   returns once every worker has exited, however many callers wait and whichever of them
//!   joins the threads; called from one of the pool's own workers it waits for the others
//!   (a thread cannot wait for itself). Dropping the last handle to an open pool shuts it
//!   down without waiting.
//! * Without threads (wasm32-wasip2) a pool never starts one; the layer above runs its jobs on
//!   the loop instead (see `executor`).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// A queued job.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// asyncio's default `max_workers`: `min(32, cpus + 4)`.
pub fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    (cpus + 4).min(32)
}

struct State {
    queue: VecDeque<Job>,
    /// Workers waiting for a job.
    idle: usize,
    /// Workers started.
    threads: usize,
    shutdown: bool,
    /// Workers that have not exited yet.
    alive: usize,
    /// Join handles not taken yet (a `shutdown(true)` takes them).
    handles: Vec<std::thread::JoinHandle<()>>,
}

struct Inner {
    max_workers: usize,
    name_prefix: String,
    state: Mutex<State>,
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
}

thread_local! {
    /// The pool this thread works for, if it is a worker: a `shutdown(true)` from a job must
    /// not wait for its own thread.
    static WORKER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A pool of worker threads for blocking functions (asyncio `ThreadPoolExecutor`).
///
/// Cloning gives another handle to the same pool. Give one to
/// [`EventLoop::set_default_executor`](crate::EventLoop::set_default_executor), or use it
/// directly with [`EventLoop::run_in_pool`](crate::EventLoop::run_in_pool).
///
/// ```
/// let pool = wasio::ThreadPool::new(2).unwrap();
/// assert_eq!(pool.max_workers(), 2);
/// assert!(wasio::ThreadPool::new(0).is_err(), "at least one worker");
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<Inner>,
    /// Shared by the handles only (not the workers): when the last handle goes, the pool
    /// shuts down.
    _handles: Arc<LastHandle>,
}

/// Shuts the pool down (without waiting) when the last handle goes.
struct LastHandle(Arc<Inner>);

impl ThreadPool {
    /// A pool of at most `max_workers` threads named `wasio-executor-<n>`; none starts until a
    /// job is queued. Zero workers is an `InvalidInput` error.
    pub fn new(max_workers: usize) -> io::Result<ThreadPool> {
        ThreadPool::with_name_prefix(max_workers, "wasio-executor")
    }

    /// Like [`new`](ThreadPool::new), with threads named `<prefix>-<n>` (asyncio
    /// `thread_name_prefix`).
    pub fn with_name_prefix(max_workers: usize, prefix: &str) -> io::Result<ThreadPool> {
        if max_workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_workers must be greater than 0",
            ));
        }
        let inner = Arc::new(Inner {
            max_workers,
            name_prefix: prefix.to_owned(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: 0,
                threads: 0,
                shutdown: false,
                alive: 0,
                handles: Vec::new(),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
        });
        Ok(ThreadPool {
            _handles: Arc::new(LastHandle(inner.clone())),
            inner,
        })
    }

    /// The most threads this pool runs.
    pub fn max_workers(&self) -> usize {
        self.inner.max_workers
    }

    /// Threads started so far.
    pub fn threads(&self) -> usize {
        self.inner.lock().threads
    }

    /// Whether [`shutdown`](ThreadPool::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.lock().shutdown
    }

    /// Queues `job`; gives it back when the pool is shut down, or when no thread can be
    /// started and none runs (the error says why).
    pub(crate) fn submit(&self, job: Job) -> Result<(), (Job, io::Error)> {
        let mut st = self.inner.lock();
        if st.shutdown {
            return Err((job, io::Error::other("the executor is shut down")));
        }
        st.queue.push_back(job);
        if st.idle >= st.queue.len() {
            self.inner.work.notify_one();
            return Ok(());
        }
        if st.threads < self.inner.max_workers {
            let n = st.threads;
            let inner = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{n}", self.inner.name_prefix))
                .spawn(move || worker(&inner));
            match spawned {
                Ok(handle) => {
                    st.threads += 1;
                    st.alive += 1;
                    st.handles.push(handle);
                }
                Err(e) if st.threads == 0 => {
                    let job = st.queue.pop_back();
                    drop(st);
                    return match job {
                        Some(job) => Err((job, e)),
                        None => Ok(()),
                    };
                }
                // A busy worker will take it.
                Err(e) => {
                    tracing::warn!(target: "wasio", error = %e, "could not start another executor thread")
                }
            }
        }
        self.inner.work.notify_one();
        Ok(())
    }

    /// Refuses new jobs; the workers finish the queue and exit. With `wait`, blocks until they
    /// have (asyncio `shutdown(wait=True)`), also when another call already started waiting or
    /// joined them. Called with `wait` from one of this pool's own jobs, it waits for every
    /// other worker and returns while its own thread finishes the job (asyncio would raise
    /// "cannot join current thread"; a shutdown from inside a job is legitimate, so wasio
    /// skips only the self-join). Idempotent.
    pub fn shutdown(&self, wait: bool) {
        let own = WORKER_OF.with(|w| w.get()) == self.id();
        let handles = {
            let mut st = self.inner.lock();
            st.shutdown = true;
            self.inner.work.notify_all();
            if !wait {
                return;
            }
            std::mem::take(&mut st.handles)
        };
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() == me {
                // Our own thread: it exits after this job (its handle is dropped, detached).
                continue;
            }
            // A worker that panicked has nothing more to tell.
            let _ = h.join();
        }
        // Handles another call took are joined there: wait for those workers to exit too.
        let mine = usize::from(own);
        let mut st = self.inner.lock();
        while st.alive > mine {
            st = self
                .inner
                .exited
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// This pool's identity (the address of its shared state).
    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }
}

fn worker(inner: &Arc<Inner>) {
    WORKER_OF.with(|w| w.set(Arc::as_ptr(inner) as usize));
    // Counted out however the thread ends (a job never unwinds into it, but be sure).
    struct Exit<'a>(&'a Inner);
    impl Drop for Exit<'_> {
        fn drop(&mut self) {
            let mut st = self.0.lock();
            st.alive -= 1;
            self.0.exited.notify_all();
        }
    }
    let _exit = Exit(inner);
    let mut st = inner.lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job();
            st = inner.lock();
            continue;
        }
        if st.shutdown {
            return;
        }
        st.idle += 1;
        st = inner.work.wait(st).unwrap_or_else(PoisonError::into_inner);
        st.idle -= 1;
    }
}

impl Drop for LastHandle {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.shutdown = true;
        self.0.work.notify_all();
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("ThreadPool")
            .field("max_workers", &self.inner.max_workers)
            .field("threads", &st.threads)
            .field("queued", &st.queue.len())
            .field("shutdown", &st.shutdown)
            .finish()
    }
}

/// The loop's default executor (asyncio `_default_executor`, `_executor_shutdown_called`).
#[derive(Default)]
pub(crate) struct DefaultExecutor {
    /// Created on first use.
    pub(crate) pool: Option<ThreadPool>,
    /// `shutdown_default_executor` or `close` was called: the default executor is refused.
    pub(crate) shutdown_called: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn threads_start_lazily_and_stop_at_the_maximum() {
        let pool = ThreadPool::new(2).unwrap();
        assert_eq!(pool.threads(), 0);
        let (tx, rx) = mpsc::channel();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate_rx));
        for _ in 0..4 {
            let (tx, gate) = (tx.clone(), gate.clone());
            pool.submit(Box::new(move || {
                let _ = gate.lock().unwrap().recv();
                tx.send(std::thread::current().name().map(str::to_owned))
                    .unwrap();
            }))
            .map_err(|(_, e)| e)
            .unwrap();
        }
        assert_eq!(pool.threads(), 2, "no more than max_workers");
        for _ in 0..4 {
            gate_tx.send(()).unwrap();
        }
        let names: Vec<_> = (0..4).map(|_| rx.recv().unwrap().unwrap()).collect();
        assert!(
            names.iter().all(|n| n.starts_with("wasio-executor-")),
            "{names:?}"
        );
        pool.shutdown(true);
        assert!(pool.is_shutdown());
    }

    #[test]
    fn an_idle_worker_is_reused() {
        let pool = ThreadPool::new(4).unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (tx, rx) = mpsc::channel();
            let c = count.clone();
            pool.submit(Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            }))
            .map_err(|(_, e)| e)
            .unwrap();
            rx.recv().unwrap();
            // Let the worker go idle before the next job (bounded: a hang fails the test).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while pool.inner.lock().idle == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the worker never went idle"
                );
                std::thread::yield_now();
            }
        }
        assert_eq!(count.load(Ordering::SeqCst), 10);
        assert_eq!(pool.threads(), 1, "one worker sufficed");
        pool.shutdown(true);
    }

    #[test]
    fn shutdown_refuses_new_jobs_and_finishes_the_queue() {
        let pool = ThreadPool::new(1).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let tx = tx.clone();
            pool.submit(Box::new(move || tx.send(i).unwrap()))
                .map_err(|(_, e)| e)
                .unwrap();
        }
        pool.shutdown(true);
        let got: Vec<i32> = rx.try_iter().collect();
        assert_eq!(got, [0, 1, 2]);
        assert!(pool.submit(Box::new(|| {})).is_err());
    }
}
