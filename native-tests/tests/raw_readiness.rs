//! Raw readiness (native only; divergence `raw-readiness`): `add_reader` / `add_writer` /
//! `remove_*` on any file descriptor, level-triggered as asyncio's selector, and adopting std
//! sockets with `from_std`.
//!
//! The loop is driven one iteration at a time (`run_once`). Where a descriptor may not be ready,
//! a `call_soon` first makes the wait non-blocking (`turn`); where it must be ready, a far timer
//! bounds the wait (`step`), so a lost readiness fails the test instead of hanging it.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use wasio::EventLoop;

/// Counts runs of a callback.
#[derive(Clone, Default)]
struct Count(Rc<Cell<u32>>);

impl Count {
    fn bump(&self) -> impl FnMut() + 'static {
        let c = self.0.clone();
        move || c.set(c.get() + 1)
    }
    fn get(&self) -> u32 {
        self.0.get()
    }
}

/// Sets a flag when dropped: tells when the loop let go of a callback.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// One iteration that does not block even if nothing is ready.
fn turn(lp: &EventLoop) {
    lp.call_soon(|| {}).expect("call_soon");
    lp.run_once().expect("run_once");
}

/// One iteration expected to find a descriptor ready: a far timer bounds the wait, so a lost
/// readiness fails the test instead of hanging it.
fn step(lp: &EventLoop) {
    let bound = lp
        .call_later(Duration::from_secs(10), || {})
        .expect("call_later");
    lp.run_once().expect("run_once");
    bound.cancel();
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("set_nonblocking");
    b.set_nonblocking(true).expect("set_nonblocking");
    (a, b)
}

#[test]
fn reader_runs_every_iteration_while_readable_and_stops_after_remove() {
    let lp = EventLoop::new().unwrap();
    let (mut tx, rx) = pair();
    let count = Count::default();
    lp.add_reader(rx.as_raw_fd(), count.bump()).unwrap();
    turn(&lp);
    assert_eq!(count.get(), 0, "not readable yet");
    tx.write_all(b"x").unwrap();
    for i in 1..=3 {
        step(&lp);
        assert_eq!(
            count.get(),
            i,
            "level-triggered: once per iteration while unread"
        );
    }
    assert!(lp.remove_reader(rx.as_raw_fd()));
    for _ in 0..3 {
        turn(&lp);
    }
    assert_eq!(count.get(), 3, "ran after remove_reader");
    assert!(!lp.remove_reader(rx.as_raw_fd()), "nothing left to remove");
    lp.close().unwrap();
}

#[test]
fn reader_that_consumes_the_data_runs_once_per_arrival() {
    let lp = EventLoop::new().unwrap();
    let (mut tx, mut rx) = pair();
    let fd = rx.as_raw_fd();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    lp.add_reader(fd, move || {
        let mut buf = [0u8; 64];
        let n = rx.read(&mut buf).unwrap();
        g.borrow_mut().push(buf[..n].to_vec());
    })
    .unwrap();
    tx.write_all(b"one").unwrap();
    step(&lp);
    for _ in 0..3 {
        turn(&lp);
    }
    tx.write_all(b"two").unwrap();
    step(&lp);
    turn(&lp);
    assert_eq!(*got.borrow(), [b"one".to_vec(), b"two".to_vec()]);
    assert!(lp.remove_reader(fd));
    lp.close().unwrap();
}

#[test]
fn second_add_reader_replaces_the_first() {
    let lp = EventLoop::new().unwrap();
    let (mut tx, rx) = pair();
    let (first, second) = (Count::default(), Count::default());
    let first_dropped = Rc::new(Cell::new(false));
    let flag = DropFlag(first_dropped.clone());
    let mut bump = first.bump();
    lp.add_reader(rx.as_raw_fd(), move || {
        let _keep = &flag;
        bump();
    })
    .unwrap();
    lp.add_reader(rx.as_raw_fd(), second.bump()).unwrap();
    assert!(
        first_dropped.get(),
        "the replaced callback is dropped at once"
    );
    tx.write_all(b"x").unwrap();
    step(&lp);
    step(&lp);
    assert_eq!((first.get(), second.get()), (0, 2));
    assert!(lp.remove_reader(rx.as_raw_fd()));
    lp.close().unwrap();
}

#[test]
fn writer_runs_while_writable_and_shares_the_descriptor_with_a_reader() {
    let lp = EventLoop::new().unwrap();
    let (mut tx, rx) = pair();
    let fd = rx.as_raw_fd();
    let (reads, writes) = (Count::default(), Count::default());
    lp.add_writer(fd, writes.bump()).unwrap();
    step(&lp);
    step(&lp);
    assert_eq!(writes.get(), 2, "an idle socket stays writable");
    lp.add_reader(fd, reads.bump()).unwrap();
    tx.write_all(b"x").unwrap();
    step(&lp);
    assert_eq!((reads.get(), writes.get()), (1, 3));
    assert!(lp.remove_writer(fd));
    assert!(!lp.remove_writer(fd));
    step(&lp);
    assert_eq!(
        (reads.get(), writes.get()),
        (2, 3),
        "the reader goes on alone"
    );
    assert!(lp.remove_reader(fd));
    turn(&lp);
    assert_eq!((reads.get(), writes.get()), (2, 3));
    lp.close().unwrap();
}

#[test]
fn removal_skips_a_run_already_queued() {
    let lp = EventLoop::new().unwrap();
    let (mut ta, ra) = pair();
    let (mut tb, rb) = pair();
    ta.write_all(b"a").unwrap();
    tb.write_all(b"b").unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (fa, fb) = (ra.as_raw_fd(), rb.as_raw_fd());
    // Whichever runs first removes the other, whose run was queued by the same wait.
    for (fd, other, name) in [(fa, fb, "a"), (fb, fa, "b")] {
        let (l, lp2) = (log.clone(), lp.clone());
        lp.add_reader(fd, move || {
            l.borrow_mut().push(name);
            lp2.remove_reader(other);
        })
        .unwrap();
    }
    step(&lp);
    step(&lp);
    assert_eq!(
        log.borrow().len(),
        2,
        "one callback, twice: {:?}",
        log.borrow()
    );
    assert_eq!(log.borrow()[0], log.borrow()[1]);
    lp.close().unwrap();
}

#[test]
fn callback_errors_go_to_the_exception_handler_and_it_may_remove_itself() {
    let lp = EventLoop::new().unwrap();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    lp.set_exception_handler(move |_, ctx| {
        r.borrow_mut().push(format!(
            "{} / {}",
            ctx.message()
                .split(' ')
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            ctx.error().map(|e| e.to_string()).unwrap_or_default()
        ));
    });
    let (mut tx, rx) = pair();
    let fd = rx.as_raw_fd();
    tx.write_all(b"x").unwrap();
    let runs = Rc::new(Cell::new(0));
    let dropped = Rc::new(Cell::new(false));
    let (n, flag, lp2) = (runs.clone(), DropFlag(dropped.clone()), lp.clone());
    lp.add_reader(fd, move || -> Result<(), String> {
        let _keep = &flag;
        n.set(n.get() + 1);
        if n.get() == 2 {
            assert!(lp2.remove_reader(fd));
            return Ok(());
        }
        Err(format!("run {}", n.get()))
    })
    .unwrap();
    step(&lp);
    assert!(!dropped.get());
    step(&lp);
    assert!(
        dropped.get(),
        "a callback that removed itself is dropped once it returns"
    );
    turn(&lp);
    assert_eq!(runs.get(), 2);
    assert_eq!(*reports.borrow(), ["Exception in callback / run 1"]);
    lp.close().unwrap();
}

#[test]
fn closed_loop_refuses_add_and_remove_returns_false() {
    let lp = EventLoop::new().unwrap();
    let (_tx, rx) = pair();
    let fd = rx.as_raw_fd();
    let dropped = Rc::new(Cell::new(false));
    let flag = DropFlag(dropped.clone());
    lp.add_reader(fd, move || {
        let _keep = &flag;
    })
    .unwrap();
    lp.close().unwrap();
    assert!(dropped.get(), "close() lets go of every callback");
    assert!(lp.add_reader(fd, || {}).unwrap_err().is_closed());
    assert!(lp.add_writer(fd, || {}).unwrap_err().is_closed());
    assert!(!lp.remove_reader(fd));
    assert!(!lp.remove_writer(fd));
    // The descriptor is the caller's: still open and usable.
    let mut buf = [0u8; 1];
    let e = (&rx).read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn descriptors_the_selector_refuses_are_io_errors() {
    let lp = EventLoop::new().unwrap();
    let file = std::fs::File::open("/proc/self/exe")
        .or_else(|_| std::fs::File::open("Cargo.toml"))
        .unwrap();
    let e = lp.add_reader(file.as_raw_fd(), || {}).unwrap_err();
    assert!(e.is_io(), "regular file: {e}");
    let e = lp.add_reader(-1, || {}).unwrap_err();
    assert!(e.is_io(), "negative fd: {e}");
    assert!(!lp.remove_reader(-1));
    assert!(
        !lp.remove_reader(file.as_raw_fd()),
        "a refused add leaves nothing behind"
    );
    assert_eq!(lp.stats().io_sources, 0);
    lp.close().unwrap();
}

#[test]
fn from_std_adopts_streams_and_listeners() {
    wasio::run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = wasio::net::TcpListener::from_std(std_listener).unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let client = wasio::net::TcpStream::from_std(std_client).unwrap();
        assert!(
            client.nodelay().unwrap(),
            "adopted TCP sockets get TCP_NODELAY"
        );
        let (conn, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        client.write_all(b"adopted").await.unwrap();
        client.close().await.unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"adopted");
        conn.write_all(b"back").await.unwrap();
        conn.close().await.unwrap();
        got.clear();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"back");
    })
    .unwrap();
    // Outside a running loop: an error, not a panic.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = wasio::net::TcpListener::from_std(l).unwrap_err();
    assert!(e.to_string().contains("no wasio event loop"), "{e}");
}
