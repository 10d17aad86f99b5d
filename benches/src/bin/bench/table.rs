//! The report: markdown tables of the medians, every figure beside its ratio to the rival and
//! the floor of the same world measured in the same run, then the targets checked
//! against those ratios.
//!
//! Ratios read "this contender / reference": for CPU per round trip and latency lower is
//! better, for round trips per second higher is better.

use std::fmt::Write;

use wasio_benches::report::{MicroResult, TimerResult};
use wasio_benches::stats::median;

use crate::{EchoCell, Report, World};

/// The medians of one echo cell over its successful rounds.
#[derive(Clone, Copy, Debug)]
pub struct Med {
    pub rt_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub cpu_us: f64,
    pub slowest: f64,
    pub fastest: f64,
}

/// Medians of a cell, or the error of its first failed round if none succeeded.
pub fn med(cell: &EchoCell) -> Result<Med, String> {
    let ok: Vec<_> = cell.runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    if ok.is_empty() {
        return Err(cell
            .runs
            .iter()
            .find_map(|r| r.as_ref().err().cloned())
            .unwrap_or_else(|| "not run".into()));
    }
    let m = |f: &dyn Fn(&wasio_benches::report::EchoResult) -> f64| {
        median(&ok.iter().map(|r| f(r)).collect::<Vec<_>>()).unwrap_or(f64::NAN)
    };
    Ok(Med {
        rt_per_sec: m(&|r| r.rt_per_sec),
        p50_us: m(&|r| r.p50_ns as f64 / 1e3),
        p99_us: m(&|r| r.p99_ns as f64 / 1e3),
        cpu_us: m(&|r| r.cpu_ns_per_rt / 1e3),
        slowest: m(&|r| r.slowest as f64),
        fastest: m(&|r| r.fastest as f64),
    })
}

fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "–".into()
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Whether a contender runs on WASI 0.3 (`wasio-p3-wasm`, `raw-p3-wasm`).
fn is_p3(c: &EchoCell) -> bool {
    c.contender.id.contains("-p3-")
}

/// The reference cell (by role) of the same world and configuration. In wasmtime a WASI 0.3
/// contender is read against the WASI 0.3 reference (its own world's floor), except the WASI
/// 0.3 floor itself, which is read against the WASI 0.2 one; WASI 0.2 contenders against WASI
/// 0.2 references.
fn reference<'a>(report: &'a Report, cell: &EchoCell, role: &str) -> Option<&'a EchoCell> {
    let want_p3 = is_p3(cell) && cell.contender.role != role;
    let same = |c: &&EchoCell| {
        c.config == cell.config
            && c.contender.world == cell.contender.world
            && c.contender.role == role
    };
    report
        .echo
        .iter()
        .filter(same)
        .find(|c| is_p3(c) == want_p3)
        .or_else(|| report.echo.iter().find(same))
}

/// The cell of contender `id` in the configuration of `cell`.
fn cell_of<'a>(report: &'a Report, cell: &EchoCell, id: &str) -> Option<&'a EchoCell> {
    report
        .echo
        .iter()
        .find(|c| c.config == cell.config && c.contender.id == id)
}

fn reference_med(report: &Report, cell: &EchoCell, role: &str) -> Option<Med> {
    reference(report, cell, role).and_then(|c| med(c).ok())
}

/// Renders the whole report.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "wasio benchmarks, {} — {} ({} cores) — {} round(s), median; echo windows {} s after {} s warm-up\n",
        r.date, r.cpu, r.cores, r.rounds, r.secs, r.warmup
    );
    for n in &r.notes {
        let _ = writeln!(o, "Note: {n}\n");
    }
    if !r.echo.is_empty() {
        echo_table(&mut o, r);
    }
    if !r.timers.is_empty() {
        timers_table(&mut o, r);
    }
    if !r.micro.is_empty() {
        micro_table(&mut o, r);
    }
    if !r.sizes.is_empty() {
        sizes_table(&mut o, r);
    }
    if let Some((rev, short)) = &r.baseline {
        before_after(&mut o, r, rev, short);
    }
    targets(&mut o, r);
    o
}

fn echo_table(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "## Echo (C connections in ping-pong of S bytes; idle: connections held open beside them)\n"
    );
    let _ = writeln!(
        o,
        "| world | C | S | idle | contender | rt/s | p50 µs | p99 µs | CPU µs/rt | slowest/fastest | rt/s vs rival | CPU vs rival | rt/s vs floor | CPU vs floor |"
    );
    let _ = writeln!(
        o,
        "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for cell in &r.echo {
        let world = match cell.contender.world {
            World::Native => "native",
            World::Wasm => "wasmtime",
        };
        let head = format!(
            "| {world} | {} | {} | {} | {} |",
            cell.config.conns,
            size_label(cell.config.size),
            thousands(cell.config.idle as f64),
            cell.contender.id
        );
        match med(cell) {
            Ok(m) => {
                let rival = reference_med(r, cell, "rival");
                let floor = reference_med(r, cell, "floor");
                let vs = |f: Option<Med>, get: fn(&Med) -> f64| {
                    f.map_or_else(|| "–".into(), |f| ratio(get(&m), get(&f)))
                };
                let failed = cell.runs.iter().filter(|x| x.is_err()).count();
                let mut note = String::new();
                if failed > 0 {
                    note += &format!(" ({failed} round(s) failed)");
                }
                if cell.busy > 0 {
                    note += &format!(" ({} round(s) beside a compiler)", cell.busy);
                }
                let _ = writeln!(
                    o,
                    "{head} {}{note} | {:.0} | {:.0} | {:.2} | {:.0}/{:.0} | {} | {} | {} | {} |",
                    thousands(m.rt_per_sec),
                    m.p50_us,
                    m.p99_us,
                    m.cpu_us,
                    m.slowest,
                    m.fastest,
                    vs(rival, |m| m.rt_per_sec),
                    vs(rival, |m| m.cpu_us),
                    vs(floor, |m| m.rt_per_sec),
                    vs(floor, |m| m.cpu_us),
                );
            }
            Err(e) => {
                let e = e.replace('|', "/");
                let _ = writeln!(o, "{head} failed: {e} | | | | | | | | |");
            }
        }
    }
    let _ = writeln!(o);
}

fn timer_med(runs: &[Result<TimerResult, String>]) -> Result<(f64, f64, f64, u64, u64), String> {
    let ok: Vec<&TimerResult> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    if ok.is_empty() {
        return Err(runs
            .iter()
            .find_map(|r| r.as_ref().err().cloned())
            .unwrap_or_else(|| "not run".into()));
    }
    let m = |f: &dyn Fn(&TimerResult) -> f64| {
        median(&ok.iter().map(|r| f(r)).collect::<Vec<_>>()).unwrap_or(f64::NAN)
    };
    Ok((
        m(&|t| t.mean_late_us),
        m(&|t| t.max_late_us),
        m(&|t| t.setup_ms),
        ok.iter().map(|t| t.fired).min().unwrap_or(0),
        ok.iter().map(|t| t.early).max().unwrap_or(0),
    ))
}

fn timers_table(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "## Timers (1,000,000 tasks sleeping until 2–3 s, half cancelled at 1 s; lateness of the ones that fire)\n"
    );
    let _ = writeln!(
        o,
        "| world | runtime | fired | early | spawn ms | mean late ms | max late ms | mean vs tokio | max vs tokio | mean late ms by tenth of the deadlines (first … last) |"
    );
    let _ = writeln!(o, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|");
    for cell in &r.timers {
        let world = match cell.world {
            World::Native => "native",
            World::Wasm => "wasmtime",
        };
        let tokio_id = match cell.world {
            World::Native => "tokio",
            World::Wasm => "tokio-wasm",
        };
        let tokio = r
            .timers
            .iter()
            .find(|c| c.runtime == tokio_id)
            .and_then(|c| timer_med(&c.runs).ok());
        match timer_med(&cell.runs) {
            Ok((mean, max, setup, fired, early)) => {
                // The tenths of the median run (by mean lateness).
                let tenths = cell
                    .runs
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .min_by(|a, b| {
                        (a.mean_late_us - mean)
                            .abs()
                            .total_cmp(&(b.mean_late_us - mean).abs())
                    })
                    .map(|t| {
                        t.tenths_mean_late_us
                            .iter()
                            .map(|v| format!("{:.1}", v / 1e3))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    o,
                    "| {world} | {}{} | {} | {early} | {setup:.0} | {:.2} | {:.2} | {} | {} | {tenths} |",
                    cell.runtime,
                    if cell.busy > 0 {
                        format!(" ({} round(s) beside a compiler)", cell.busy)
                    } else {
                        String::new()
                    },
                    thousands(fired as f64),
                    mean / 1e3,
                    max / 1e3,
                    tokio.map_or("–".into(), |t| ratio(mean, t.0)),
                    tokio.map_or("–".into(), |t| ratio(max, t.1)),
                );
            }
            Err(e) => {
                let _ = writeln!(
                    o,
                    "| {world} | {} | failed: {} | | | | | | |",
                    cell.runtime,
                    e.replace('|', "/")
                );
            }
        }
    }
    let _ = writeln!(o);
}

fn micro_ns(r: &Report, runtime: &str, name: &str) -> Option<f64> {
    r.micro
        .iter()
        .filter_map(|m| m.as_ref().ok())
        .find(|m: &&MicroResult| m.runtime == runtime && m.name == name)
        .map(|m| m.ns_per_op)
}

fn micro_table(o: &mut String, r: &Report) {
    let _ = writeln!(o, "## Micro benchmarks (median ns per operation)\n");
    let _ = writeln!(
        o,
        "| benchmark | wasio | tokio | wasio vs tokio | wasio in wasmtime | wasmtime vs native | wasio on WASI 0.3 | WASI 0.3 vs 0.2 |"
    );
    let _ = writeln!(o, "|---|--:|--:|--:|--:|--:|--:|--:|");
    let names = [
        ("call_soon_dispatch", "call_soon + dispatch"),
        ("timer_insert", "timer insert"),
        ("timer_insert_cancel", "timer insert + cancel"),
        (
            "timers_1m_half_cancelled",
            "1,000,000 timers, half cancelled (per timer)",
        ),
        ("spawn_noop", "spawn + complete a no-op task"),
        (
            "call_soon_threadsafe_cross_thread",
            "call_soon_threadsafe from another thread",
        ),
    ];
    let cell = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1}"));
    for (key, label) in names {
        let w = micro_ns(r, "wasio", key);
        let t = micro_ns(r, "tokio", key);
        // WASI has no threads: its row is call_soon_threadsafe from the loop's own thread.
        let (wasm, wasm_note) = match micro_ns(r, "wasio-wasm", key) {
            Some(v) => (Some(v), ""),
            None if key == "call_soon_threadsafe_cross_thread" => (
                micro_ns(r, "wasio-wasm", "call_soon_threadsafe_same_thread"),
                " (same thread: no threads on WASI)",
            ),
            None => (None, ""),
        };
        let p3 = match micro_ns(r, "wasio-p3-wasm", key) {
            Some(v) => Some(v),
            None if key == "call_soon_threadsafe_cross_thread" => {
                micro_ns(r, "wasio-p3-wasm", "call_soon_threadsafe_same_thread")
            }
            None => None,
        };
        let _ = writeln!(
            o,
            "| {label} | {} | {} | {} | {}{wasm_note} | {} | {} | {} |",
            cell(w),
            cell(t),
            match (w, t) {
                (Some(w), Some(t)) => ratio(w, t),
                _ => "–".into(),
            },
            cell(wasm),
            match (wasm, w) {
                (Some(a), Some(b)) if wasm_note.is_empty() => ratio(a, b),
                _ => "–".into(),
            },
            cell(p3),
            match (p3, wasm) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => "–".into(),
            },
        );
    }
    for e in r.micro.iter().filter_map(|m| m.as_ref().err()) {
        let _ = writeln!(o, "\nfailed: {e}");
    }
    let _ = writeln!(
        o,
        "\ntokio has no callback queue (no `call_soon` row); its cross-thread row is `Handle::spawn` of a no-op task.\n"
    );
}

fn sizes_table(o: &mut String, r: &Report) {
    let _ = writeln!(o, "## Components (release, no debug info)\n");
    let _ = writeln!(
        o,
        "| component | size KiB | vs raw-echo | compile + start ms (no cache) | start ms (cached) |"
    );
    let _ = writeln!(o, "|---|--:|--:|--:|--:|");
    let raw = r
        .sizes
        .iter()
        .find(|s| s.component == "raw-echo")
        .map(|s| s.bytes as f64);
    for s in &r.sizes {
        let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.0}"));
        let _ = writeln!(
            o,
            "| {} | {:.0} | {} | {} | {} |",
            s.component,
            s.bytes as f64 / 1024.0,
            raw.map_or("–".into(), |raw| ratio(s.bytes as f64, raw)),
            f(s.cold_ms),
            f(s.warm_ms),
        );
    }
    let _ = writeln!(o);
}

fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn targets(o: &mut String, r: &Report) {
    let mut lines: Vec<String> = Vec::new();
    for cell in r
        .echo
        .iter()
        .filter(|c| c.contender.role == "subject" && c.config.idle == 0)
    {
        let Ok(m) = med(cell) else { continue };
        let cfg = format!("C={} S={}", cell.config.conns, size_label(cell.config.size));
        match cell.contender.world {
            World::Native => {
                if let (Some(t), Some(f)) = (
                    reference_med(r, cell, "rival"),
                    reference_med(r, cell, "floor"),
                ) {
                    let (rt, rf) = (m.cpu_us / t.cpu_us, m.cpu_us / f.cpu_us);
                    lines.push(format!(
                        "- native {cfg}: CPU/rt {rt:.2}× tokio ({}), {rf:.2}× mio ({} ≤ 1.1×)",
                        mark(rt <= 1.0),
                        mark(rf <= 1.1)
                    ));
                }
            }
            World::Wasm => {
                if cell.config.conns < 50 {
                    continue;
                }
                if let Some(f) = reference_med(r, cell, "floor") {
                    let (rc, rr) = (m.cpu_us / f.cpu_us, m.rt_per_sec / f.rt_per_sec);
                    let fair = m.slowest / m.fastest.max(1.0);
                    lines.push(format!(
                        "- wasmtime {cfg}: CPU/rt {rc:.2}× raw loop ({} ≤ 1.1×), rt/s {rr:.2}× raw ({} ≥ 1), fairness slowest/fastest {fair:.2} ({} ≥ 0.5)",
                        mark(rc <= 1.1),
                        mark(rr >= 1.0),
                        mark(fair >= 0.5)
                    ));
                }
            }
        }
    }
    // WASI 0.3 (issue 19): against its own floor, the 64 KiB echo against the WASI 0.2 raw
    // loop, and fairness at C=500.
    for cell in r
        .echo
        .iter()
        .filter(|c| c.contender.id == "wasio-p3-wasm" && c.config.idle == 0)
    {
        let Ok(m) = med(cell) else { continue };
        let cfg = format!("C={} S={}", cell.config.conns, size_label(cell.config.size));
        let mut parts = Vec::new();
        if let Some(f) = cell_of(r, cell, "raw-p3-wasm").and_then(|c| med(c).ok()) {
            parts.push(format!(
                "CPU/rt {:.2}× the raw WASI 0.3 loop, rt/s {:.2}×",
                m.cpu_us / f.cpu_us,
                m.rt_per_sec / f.rt_per_sec
            ));
        }
        if cell.config.size >= 64 * 1024
            && cell.config.conns >= 50
            && let Some(f) = cell_of(r, cell, "raw-wasm").and_then(|c| med(c).ok())
        {
            let rc = m.cpu_us / f.cpu_us;
            parts.push(format!(
                "CPU/rt {rc:.2}× the raw WASI 0.2 loop ({} ≤ 1.0×)",
                mark(rc <= 1.0)
            ));
        }
        if cell.config.conns >= 500 {
            let fair = m.slowest / m.fastest.max(1.0);
            parts.push(format!(
                "fairness slowest/fastest {fair:.2} ({} ≥ 0.9)",
                mark(fair >= 0.9)
            ));
        }
        if !parts.is_empty() {
            lines.push(format!("- WASI 0.3 {cfg}: {}", parts.join(", ")));
        }
    }
    for (subject, rival, world) in [
        ("wasio", "tokio", "native"),
        ("wasio-wasm", "tokio-wasm", "wasmtime"),
        ("wasio-p3-wasm", "tokio-wasm", "wasmtime (WASI 0.3)"),
    ] {
        let get = |id: &str| {
            r.timers
                .iter()
                .find(|c| c.runtime == id)
                .and_then(|c| timer_med(&c.runs).ok())
        };
        if let (Some(s), Some(t)) = (get(subject), get(rival)) {
            lines.push(format!(
                "- timers {world}: mean lateness {:.2} ms vs tokio {:.2} ms ({}), max {:.2} ms vs {:.2} ms ({})",
                s.0 / 1e3,
                t.0 / 1e3,
                mark(s.0 <= t.0),
                s.1 / 1e3,
                t.1 / 1e3,
                mark(s.1 <= t.1)
            ));
        }
    }
    for (runtime, world) in [
        ("wasio", "native"),
        ("wasio-wasm", "wasmtime"),
        ("wasio-p3-wasm", "wasmtime (WASI 0.3)"),
    ] {
        if let Some(v) = micro_ns(r, runtime, "call_soon_dispatch") {
            lines.push(format!(
                "- micro {world}: call_soon + dispatch {v:.1} ns ({} ≤ 20 ns)",
                mark(v <= 20.0)
            ));
        }
        if let Some(v) = micro_ns(r, runtime, "timer_insert_cancel") {
            lines.push(format!(
                "- micro {world}: timer insert + cancel {v:.1} ns ({} ≤ 100 ns)",
                mark(v <= 100.0)
            ));
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(o, "## Targets (issues 8 and 19)\n");
        for l in lines {
            let _ = writeln!(o, "{l}");
        }
    }
}

/// `--baseline`: wasio now against wasio at the revision, every figure of the run.
fn before_after(o: &mut String, r: &Report, rev: &str, short: &str) {
    let _ = writeln!(
        o,
        "## Before/after: wasio now vs wasio@{short} (`{rev}`), same run (ratio now / then)\n"
    );
    let _ = writeln!(o, "| what | now | then | ratio |");
    let _ = writeln!(o, "|---|--:|--:|--:|");
    for cell in r.echo.iter().filter(|c| c.contender.role == "subject") {
        let then_id = format!("{}@{short}", cell.contender.id);
        let Some(then) = r
            .echo
            .iter()
            .find(|c| c.contender.id == then_id && c.config == cell.config)
        else {
            continue;
        };
        let (Ok(a), Ok(b)) = (med(cell), med(then)) else {
            continue;
        };
        let what = format!(
            "{} C={} S={} idle={}",
            cell.contender.id,
            cell.config.conns,
            size_label(cell.config.size),
            cell.config.idle
        );
        let _ = writeln!(
            o,
            "| {what}: CPU µs/rt | {:.2} | {:.2} | {} |",
            a.cpu_us,
            b.cpu_us,
            ratio(a.cpu_us, b.cpu_us)
        );
        let _ = writeln!(
            o,
            "| {what}: rt/s | {} | {} | {} |",
            thousands(a.rt_per_sec),
            thousands(b.rt_per_sec),
            ratio(a.rt_per_sec, b.rt_per_sec)
        );
        let _ = writeln!(
            o,
            "| {what}: p99 µs | {:.0} | {:.0} | {} |",
            a.p99_us,
            b.p99_us,
            ratio(a.p99_us, b.p99_us)
        );
    }
    for now in ["wasio", "wasio-wasm"] {
        let then_id = format!("{now}@{short}");
        let get = |id: &str| {
            r.timers
                .iter()
                .find(|c| c.runtime == id)
                .and_then(|c| timer_med(&c.runs).ok())
        };
        if let (Some(a), Some(b)) = (get(now), get(&then_id)) {
            let _ = writeln!(
                o,
                "| timers {now}: mean late ms | {:.2} | {:.2} | {} |",
                a.0 / 1e3,
                b.0 / 1e3,
                ratio(a.0, b.0)
            );
            let _ = writeln!(
                o,
                "| timers {now}: max late ms | {:.2} | {:.2} | {} |",
                a.1 / 1e3,
                b.1 / 1e3,
                ratio(a.1, b.1)
            );
        }
        for m in r
            .micro
            .iter()
            .filter_map(|m| m.as_ref().ok())
            .filter(|m| m.runtime == now)
        {
            if let Some(b) = micro_ns(r, &then_id, &m.name) {
                let _ = writeln!(
                    o,
                    "| micro {now}: {} ns | {:.1} | {b:.1} | {} |",
                    m.name,
                    m.ns_per_op,
                    ratio(m.ns_per_op, b)
                );
            }
        }
    }
    let _ = writeln!(o);
}
