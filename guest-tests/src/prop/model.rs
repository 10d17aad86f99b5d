//! Random loop programs checked against a reference model of asyncio's scheduling rules
//! (issue 11, item 11), and misuse fuzzing (item 12).
//!
//! A program is a list of phases; each phase schedules work from the top level (`call_soon`,
//! `call_soon_threadsafe`, `call_at` with past, equal or huge deadlines, `call_later(0)`,
//! tasks that yield, cancels, `stop`) and then runs the loop with `run_forever`. Callbacks and
//! task steps do the same from inside (nested scheduling), and may also misuse the loop
//! (`close` or `run_forever` while it runs, `stop` twice, a failing or fatal callback). The
//! program ends with `close()` and a few calls on the closed loop.
//!
//! [`model`] computes the transcript asyncio's rules give; [`execute`] runs the program on a
//! real [`wasio::EventLoop`] and records what happened. The case fails with the seed, the
//! program and both transcripts at the first difference. Deadlines are chosen so that the
//! iteration in which a timer is due does not depend on how fast the machine is: every
//! non-huge deadline is at or before the program's start (so it is due at the next timer
//! pass), and `call_later(0)` is due at the next timer pass too.
//!
//! The generator is a SplitMix64 stream: the same seed gives the same programs on every target,
//! so the transcripts of both worlds agree.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use wasio::{EventLoop, Handle, JoinHandle, ThreadsafeHandle, TimerHandle};

// ===== random numbers =====

/// SplitMix64: tiny, fast, the same on every target.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` %.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ===== programs =====

/// When a timer is due, relative to the program's start `B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `call_at(B - k ms)`: in the past (k = 0 is `B` itself), due at the next timer pass.
    Past(u8),
    /// `call_later(0)`: due at the next timer pass, after every `Past` deadline.
    Now,
    /// Far in the future: never due while the program runs.
    Huge,
}

/// One action, at the top level or inside a callback or task step.
#[derive(Debug, Clone)]
pub enum Op {
    /// `call_soon` of a callback that records `id` and runs `body`.
    Soon(u32, Vec<Op>),
    /// `call_soon_threadsafe` (from the loop's thread: FIFO with `call_soon`).
    Threadsafe(u32),
    /// A timer recording `id` and running `body`.
    Timer(u32, When, Vec<Op>),
    /// A task that records `id.k` for each of its `steps`, yielding between them, and runs
    /// `body` in its first step.
    Task(u32, u8, Vec<Op>),
    /// Cancels the handle (callback, timer or task) created by the op with this id.
    Cancel(u32),
    /// `stop()`.
    Stop,
    /// Inside a callback: `close()` (refused while running), `run_forever()` (refused), an
    /// error for the exception handler, or a `Fatal` error that ends the run.
    Close,
    RunNested,
    Fail,
    Fatal,
}

/// A program: phases of top-level ops, each followed by `run_forever`.
#[derive(Debug, Clone)]
pub struct Program {
    pub phases: Vec<Vec<Op>>,
}

/// Where an op runs: at the top level, in a callback, or in a task step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Callback,
    Task,
}

struct Gen<'a> {
    rng: &'a mut Rng,
    next_id: u32,
    /// Ids created so far (targets for `Cancel`).
    ids: Vec<u32>,
}

impl Gen<'_> {
    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.ids.push(self.next_id);
        self.next_id
    }

    fn when(&mut self) -> When {
        match self.rng.below(10) {
            0..=4 => When::Past(self.rng.below(4) as u8),
            5..=7 => When::Now,
            _ => When::Huge,
        }
    }

    fn body(&mut self, depth: u32, ctx: Ctx) -> Vec<Op> {
        if depth >= 3 {
            return Vec::new();
        }
        let n = match ctx {
            Ctx::Top => 1 + self.rng.below(8),
            _ => self.rng.below(3),
        };
        (0..n).map(|_| self.op(depth, ctx)).collect()
    }

    fn op(&mut self, depth: u32, ctx: Ctx) -> Op {
        let roll = self.rng.below(100);
        let inside = ctx != Ctx::Top;
        match roll {
            0..=24 => {
                let id = self.id();
                Op::Soon(id, self.body(depth + 1, Ctx::Callback))
            }
            25..=31 => Op::Threadsafe(self.id()),
            32..=56 => {
                let id = self.id();
                let when = self.when();
                Op::Timer(id, when, self.body(depth + 1, Ctx::Callback))
            }
            57..=68 => {
                let id = self.id();
                let steps = 1 + self.rng.below(3) as u8;
                Op::Task(id, steps, self.body(depth + 1, Ctx::Task))
            }
            69..=82 if !self.ids.is_empty() => {
                let i = self.rng.below(self.ids.len() as u64) as usize;
                Op::Cancel(self.ids[i])
            }
            83..=87 => Op::Stop,
            88..=90 if inside => Op::Close,
            91..=93 if inside => Op::RunNested,
            94..=97 if ctx == Ctx::Callback => Op::Fail,
            98..=99 if ctx == Ctx::Callback => Op::Fatal,
            _ => Op::Threadsafe(self.id()),
        }
    }
}

/// Generates a program from `rng`.
pub fn generate(rng: &mut Rng) -> Program {
    let mut g = Gen {
        rng,
        next_id: 0,
        ids: Vec::new(),
    };
    let phases = 1 + g.rng.below(3) as usize;
    let phases = (0..phases).map(|_| g.body(0, Ctx::Top)).collect();
    Program { phases }
}

/// The number of ops in a program (for the report).
pub fn size(p: &Program) -> usize {
    fn count(ops: &[Op]) -> usize {
        ops.iter()
            .map(|op| match op {
                Op::Soon(_, b) | Op::Timer(_, _, b) | Op::Task(_, _, b) => 1 + count(b),
                _ => 1,
            })
            .sum()
    }
    p.phases.iter().map(|ph| count(ph)).sum()
}

/// How many iterations a phase may run before the harness stops it (a chain of `call_soon`
/// callbacks started with the phase guarantees every `run_forever` ends).
const PHASE_ITERATIONS: u32 = 6;

// ===== the reference model =====

#[derive(Debug, Clone)]
enum MEntry {
    Call { id: u32, body: Vec<Op> },
    Chain(u32),
    Task(u32),
}

#[derive(Debug)]
struct MTimer {
    key: (u8, i64, u64),
    id: u32,
    body: Vec<Op>,
}

#[derive(Debug)]
struct MTask {
    steps: u8,
    done_steps: u8,
    body: Vec<Op>,
    cancel_pending: bool,
    finished: bool,
}

/// How a body of ops ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Every op ran.
    Done,
    /// A `Fail` op: the callback returned an error (the rest of the body is skipped).
    Failed,
    /// A `Fatal` op: the callback returned `Fatal` (the run ends).
    Fatal,
}

#[derive(Default)]
struct Model {
    ready: VecDeque<MEntry>,
    timers: Vec<MTimer>,
    seq: u64,
    created: HashSet<u32>,
    cancelled: HashSet<u32>,
    tasks: HashMap<u32, MTask>,
    stopping: bool,
    out: Vec<String>,
}

impl Model {
    fn schedule(&mut self, ops: &[Op]) -> Flow {
        for op in ops {
            match op {
                Op::Soon(id, body) => {
                    self.created.insert(*id);
                    self.ready.push_back(MEntry::Call {
                        id: *id,
                        body: body.clone(),
                    });
                }
                Op::Threadsafe(id) => {
                    self.created.insert(*id);
                    self.ready.push_back(MEntry::Call {
                        id: *id,
                        body: Vec::new(),
                    });
                }
                Op::Timer(id, when, body) => {
                    self.created.insert(*id);
                    self.seq += 1;
                    let key = match when {
                        When::Past(k) => (0, -i64::from(*k), self.seq),
                        When::Now => (1, 0, self.seq),
                        When::Huge => (2, 0, self.seq),
                    };
                    self.timers.push(MTimer {
                        key,
                        id: *id,
                        body: body.clone(),
                    });
                }
                Op::Task(id, steps, body) => {
                    self.created.insert(*id);
                    self.tasks.insert(
                        *id,
                        MTask {
                            steps: *steps,
                            done_steps: 0,
                            body: body.clone(),
                            cancel_pending: false,
                            finished: false,
                        },
                    );
                    self.ready.push_back(MEntry::Task(*id));
                }
                Op::Cancel(id) => {
                    if let Some(t) = self.tasks.get_mut(id) {
                        let ok = !t.finished;
                        if ok {
                            t.cancel_pending = true;
                        }
                        self.out.push(format!("cancel T{id}={ok}"));
                    } else if self.created.contains(id) {
                        self.cancelled.insert(*id);
                    }
                }
                Op::Stop => self.stopping = true,
                Op::Close => self.out.push("close refused".into()),
                Op::RunNested => self.out.push("nested run refused".into()),
                Op::Fail => {
                    self.out.push("reported failure".into());
                    return Flow::Failed;
                }
                Op::Fatal => return Flow::Fatal,
            }
        }
        Flow::Done
    }

    fn run_phase(&mut self, ops: &[Op]) {
        self.schedule(ops);
        self.ready.push_back(MEntry::Chain(1));
        loop {
            // Step 4: due timers, in (deadline, seq) order.
            let (mut due, keep): (Vec<MTimer>, Vec<MTimer>) =
                self.timers.drain(..).partition(|t| t.key.0 < 2);
            self.timers = keep;
            due.sort_by_key(|t| t.key);
            for t in due {
                if !self.cancelled.contains(&t.id) {
                    self.ready.push_back(MEntry::Call {
                        id: t.id,
                        body: t.body,
                    });
                }
            }
            // Step 5: the snapshot.
            let n = self.ready.len();
            for _ in 0..n {
                let Some(e) = self.ready.pop_front() else {
                    break;
                };
                if self.run_entry(e) == Flow::Fatal {
                    self.stopping = false;
                    self.out.push("run ended: fatal".into());
                    return;
                }
            }
            if self.stopping {
                self.stopping = false;
                self.out.push("run ended".into());
                return;
            }
        }
    }

    fn run_entry(&mut self, e: MEntry) -> Flow {
        match e {
            MEntry::Call { id, body } => {
                if self.cancelled.contains(&id) {
                    return Flow::Done;
                }
                self.out.push(format!("C{id}"));
                self.schedule(&body)
            }
            MEntry::Chain(k) => {
                if k >= PHASE_ITERATIONS {
                    self.stopping = true;
                } else {
                    self.ready.push_back(MEntry::Chain(k + 1));
                }
                Flow::Done
            }
            MEntry::Task(id) => {
                let Some(t) = self.tasks.get_mut(&id) else {
                    return Flow::Done;
                };
                if t.finished {
                    return Flow::Done;
                }
                if t.cancel_pending {
                    t.finished = true;
                    self.out.push(format!("T{id} dropped"));
                    return Flow::Done;
                }
                let step = t.done_steps;
                t.done_steps += 1;
                let body = if step == 0 {
                    std::mem::take(&mut t.body)
                } else {
                    Vec::new()
                };
                self.out.push(format!("T{id}.{step}"));
                self.schedule(&body);
                let Some(t) = self.tasks.get_mut(&id) else {
                    return Flow::Done;
                };
                if t.done_steps == t.steps {
                    t.finished = true;
                    self.out.push(format!("T{id} done"));
                } else {
                    self.ready.push_back(MEntry::Task(id));
                }
                Flow::Done
            }
        }
    }

    /// `close()`: pending tasks are destroyed in queue order; those without a pending cancel
    /// are reported as destroyed while pending.
    fn close(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        for e in ready {
            if let MEntry::Task(id) = e
                && let Some(t) = self.tasks.get_mut(&id)
                && !t.finished
            {
                t.finished = true;
                self.out.push(format!("T{id} dropped"));
                if !t.cancel_pending {
                    self.out.push("reported destroyed".into());
                }
            }
        }
        self.out.push("closed".into());
    }
}

/// The transcript asyncio's rules give for `program`.
pub fn model(program: &Program) -> Vec<String> {
    let mut m = Model::default();
    for phase in &program.phases {
        m.run_phase(phase);
    }
    m.close();
    m.out.push("after close: closed closed closed".into());
    m.out
}

// ===== running a program on a real loop =====

/// A handle the program may cancel later.
enum AnyHandle {
    Call(Handle),
    Threadsafe(ThreadsafeHandle),
    Timer(TimerHandle),
    Task(JoinHandle<()>),
}

/// What the callbacks of one program share.
struct Exec {
    lp: EventLoop,
    out: Log,
    handles: RefCell<HashMap<u32, AnyHandle>>,
    /// The program's start: every `Past` deadline is at or before it.
    base: Instant,
}

/// The transcript, shared with `Send` callbacks.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn rec(out: &Log, event: String) {
    out.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(event);
}

/// Records `T<id> dropped` when a task's future goes without having finished.
struct DropRecord {
    out: Log,
    id: u32,
    done: bool,
}

impl Drop for DropRecord {
    fn drop(&mut self) {
        if !self.done {
            rec(&self.out, format!("T{} dropped", self.id));
        }
    }
}

fn flow_result(flow: Flow) -> Result<(), Box<dyn std::error::Error>> {
    match flow {
        Flow::Done => Ok(()),
        Flow::Failed => Err("the program's callback failed".into()),
        Flow::Fatal => Err(Box::new(wasio::Fatal::new("the program's fatal op"))),
    }
}

fn run_ops(x: &Rc<Exec>, ops: &[Op]) -> Flow {
    for op in ops {
        match op {
            Op::Soon(id, body) => {
                let (x2, body, id) = (x.clone(), body.clone(), *id);
                let h = x.lp.call_soon(move || {
                    rec(&x2.out, format!("C{id}"));
                    flow_result(run_ops(&x2, &body))
                });
                if let Ok(h) = h {
                    x.handles.borrow_mut().insert(id, AnyHandle::Call(h));
                }
            }
            Op::Threadsafe(id) => {
                let (out, id) = (x.out.clone(), *id);
                let h =
                    x.lp.call_soon_threadsafe(move || rec(&out, format!("C{id}")));
                if let Ok(h) = h {
                    x.handles.borrow_mut().insert(id, AnyHandle::Threadsafe(h));
                }
            }
            Op::Timer(id, when, body) => {
                let (x2, body, id) = (x.clone(), body.clone(), *id);
                let f = move || {
                    rec(&x2.out, format!("C{id}"));
                    flow_result(run_ops(&x2, &body))
                };
                let h = match when {
                    When::Past(k) => {
                        let at = x
                            .base
                            .checked_sub(Duration::from_nanos(u64::from(*k)))
                            .unwrap_or(x.base);
                        x.lp.call_at(at, f)
                    }
                    When::Now => x.lp.call_later(Duration::ZERO, f),
                    When::Huge => x.lp.call_later(Duration::from_secs(1_000_000), f),
                };
                if let Ok(h) = h {
                    x.handles.borrow_mut().insert(id, AnyHandle::Timer(h));
                }
            }
            Op::Task(id, steps, body) => {
                let (x2, body, id, steps) = (x.clone(), body.clone(), *id, *steps);
                let mut guard = DropRecord {
                    out: x.out.clone(),
                    id,
                    done: false,
                };
                let h = x.lp.create_task(async move {
                    for step in 0..steps {
                        rec(&x2.out, format!("T{id}.{step}"));
                        if step == 0 {
                            let _ = run_ops(&x2, &body);
                        }
                        if step + 1 == steps {
                            break;
                        }
                        wasio::yield_now().await;
                    }
                    rec(&x2.out, format!("T{id} done"));
                    guard.done = true;
                    drop(guard);
                });
                if let Ok(h) = h {
                    x.handles.borrow_mut().insert(id, AnyHandle::Task(h));
                }
            }
            Op::Cancel(id) => {
                let handles = x.handles.borrow();
                match handles.get(id) {
                    Some(AnyHandle::Call(h)) => h.cancel(),
                    Some(AnyHandle::Threadsafe(h)) => h.cancel(),
                    Some(AnyHandle::Timer(h)) => h.cancel(),
                    Some(AnyHandle::Task(h)) => {
                        let ok = h.cancel();
                        rec(&x.out, format!("cancel T{id}={ok}"));
                    }
                    None => {}
                }
            }
            Op::Stop => x.lp.stop(),
            Op::Close => match x.lp.close() {
                Err(e) if e.is_close_running() => rec(&x.out, "close refused".into()),
                other => rec(&x.out, format!("close: {other:?}")),
            },
            Op::RunNested => match x.lp.run_forever() {
                Err(e) if e.is_already_running() => rec(&x.out, "nested run refused".into()),
                other => rec(&x.out, format!("nested run: {other:?}")),
            },
            Op::Fail => return Flow::Failed,
            Op::Fatal => return Flow::Fatal,
        }
    }
    Flow::Done
}

/// The harness's chain: one callback per iteration, stopping after `PHASE_ITERATIONS`.
fn chain(lp: &EventLoop, k: u32) {
    let lp2 = lp.clone();
    let _ = lp.call_soon(move || {
        if k >= PHASE_ITERATIONS {
            lp2.stop();
        } else {
            chain(&lp2, k + 1);
        }
    });
}

/// The next instant the clock gives after `t`.
fn after(t: Instant) -> Instant {
    loop {
        let now = Instant::now();
        if now > t {
            return now;
        }
        std::hint::spin_loop();
    }
}

/// Runs `program` on a new loop and returns what happened.
pub fn execute(program: &Program) -> Result<Vec<String>, String> {
    let base = Instant::now();
    after(base);
    let lp = EventLoop::new().map_err(|e| format!("EventLoop::new: {e}"))?;
    let out: Log = Default::default();
    let o2 = out.clone();
    lp.set_exception_handler(move |_, ctx| {
        let m = ctx.message();
        let what = if m.starts_with("Exception in callback") {
            "reported failure".to_string()
        } else if m == "Task was destroyed but it is pending!" {
            "reported destroyed".to_string()
        } else {
            format!("reported: {m}")
        };
        rec(&o2, what);
    });
    let x = Rc::new(Exec {
        lp: lp.clone(),
        out: out.clone(),
        handles: RefCell::default(),
        base,
    });
    for phase in &program.phases {
        run_ops(&x, phase);
        chain(&lp, 1);
        match lp.run_forever() {
            Ok(()) => rec(&out, "run ended".into()),
            Err(e) if e.is_fatal() => rec(&out, "run ended: fatal".into()),
            Err(e) => rec(&out, format!("run error: {e}")),
        }
    }
    match lp.close() {
        Ok(()) => rec(&out, "closed".into()),
        Err(e) => rec(&out, format!("close error: {e}")),
    }
    let a = lp.call_soon(|| {}).err().is_some_and(|e| e.is_closed());
    let b = lp
        .call_later(Duration::ZERO, || {})
        .err()
        .is_some_and(|e| e.is_closed());
    let c = lp
        .create_task(async {})
        .err()
        .is_some_and(|e| e.is_closed());
    let word = |ok: bool| if ok { "closed" } else { "accepted" };
    rec(
        &out,
        format!("after close: {} {} {}", word(a), word(b), word(c)),
    );
    // Break the program's reference cycles (handles hold closures that hold the context).
    x.handles.borrow_mut().clear();
    let events = out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(events)
}
