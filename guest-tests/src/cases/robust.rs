//! Robustness: generated programs checked against a model of asyncio's rules, and misuse
//! fuzzing (see `crate::prop`).

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::Transcript;
use crate::prop::{self, fuzz, io, model};

/// Issue 11 item 11: at least 10,000 random programs of `call_soon`, `call_at` (past, equal
/// and huge deadlines), `call_later`, cancels, `stop`, nested scheduling, tasks that yield and
/// are cancelled, misuse from callbacks, and `close`, each run on a real loop and compared
/// with what asyncio's rules give. A failure prints the seed, which replays with
/// `WASIO_PROP_SEED=<seed> WASIO_PROP_PROGRAMS=1`.
pub fn prop_loop_follows_the_asyncio_model(t: &Transcript) -> Result<(), String> {
    let (seed, programs) = prop::settings(0x5EED_0011, 10_000);
    let (mut ops, mut events) = (0usize, 0usize);
    for i in 0..programs {
        let s = seed.wrapping_add(i);
        let program = model::generate(&mut model::Rng::new(s));
        let want = model::model(&program);
        let got = match catch_unwind(AssertUnwindSafe(|| model::execute(&program))) {
            Ok(r) => r?,
            Err(_) => return Err(replay(s, "the program panicked", &program, &want, &[])),
        };
        if got != want {
            return Err(replay(
                s,
                "the loop and the model differ",
                &program,
                &want,
                &got,
            ));
        }
        ops += model::size(&program);
        events += want.len();
    }
    t.push(format!("{programs} programs, every one as the model says"));
    t.note(format!(
        "{programs} programs from seed {seed:#x}: {ops} ops, {events} events, 0 differences"
    ));
    Ok(())
}

fn replay(
    seed: u64,
    what: &str,
    program: &model::Program,
    want: &[String],
    got: &[String],
) -> String {
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    format!(
        "{what} (seed {seed}; replay with WASIO_PROP_SEED={seed} WASIO_PROP_PROGRAMS=1), first \
         difference at event {at}\n  program: {program:?}\n  model:   {want:?}\n  loop:    {got:?}"
    )
}

/// Issue 11 item 12: random misuse from the top level, from callbacks, tasks and `Drop`
/// impls (close while running, run while running, stop twice, calls on closed loops, I/O on
/// closed streams and servers). Every call returns a value or a clear error; where asyncio
/// fixes the answer it is checked; nothing panics (natively) or traps (in wasmtime).
pub fn fuzz_misuse_gives_clear_errors(t: &Transcript) -> Result<(), String> {
    let (seed, programs) = prop::settings(0xF022_0012, 400);
    let mut total = fuzz::Tally::default();
    let mut panics = Vec::new();
    for i in 0..programs {
        let s = seed.wrapping_add(i);
        match catch_unwind(AssertUnwindSafe(|| fuzz::fuzz(s, 1))) {
            Ok(r) => {
                let tally = r?;
                total.programs += tally.programs;
                total.ops += tally.ops;
                total.errors += tally.errors;
                total.wrong.extend(tally.wrong);
            }
            Err(_) => panics.push(s),
        }
    }
    if !panics.is_empty() || !total.wrong.is_empty() {
        return Err(format!(
            "{} panics (seeds {panics:?}; replay with WASIO_PROP_SEED=<seed> \
             WASIO_PROP_PROGRAMS=1); wrong answers: {:?}",
            panics.len(),
            total.wrong.iter().take(10).collect::<Vec<_>>()
        ));
    }
    t.push(format!("{programs} programs: no panic, no wrong answer"));
    t.note(format!(
        "{} programs from seed {seed:#x}: {} misuse calls, {} answered with a clear error, 0 panics",
        total.programs, total.ops, total.errors
    ));
    Ok(())
}

/// Issue 17 item 18: at least 2,000 random programs of reads, writes, exact reads, half-closes,
/// closes and cancellations at chosen polls over a TCP socket pair, each checked byte for
/// byte against a model of the two directions (`prop::io`). A failure prints the seed, which
/// replays with `WASIO_PROP_SEED=<seed> WASIO_PROP_PROGRAMS=1`.
pub fn prop_io_matches_the_byte_model(t: &Transcript) -> Result<(), String> {
    let (seed, programs) = prop::settings(0x10_5EED, 2_000);
    let t = t.clone();
    crate::block(async move {
        let (mut steps, mut checks) = (0usize, 0usize);
        for i in 0..programs {
            let s = seed.wrapping_add(i);
            let program = io::generate(&mut model::Rng::new(s));
            match io::execute(&program).await {
                Ok(n) => checks += n,
                Err(e) => {
                    return Err(format!(
                        "{e} (seed {s}; replay with WASIO_PROP_SEED={s} WASIO_PROP_PROGRAMS=1)\n  \
                         program: {program:?}"
                    ));
                }
            }
            steps += io::size(&program);
        }
        t.push(format!(
            "{programs} I/O programs, every byte as the model says"
        ));
        t.note(format!(
            "{programs} I/O programs from seed {seed:#x}: {steps} steps, {checks} checks, 0 differences"
        ));
        Ok(())
    })
}
