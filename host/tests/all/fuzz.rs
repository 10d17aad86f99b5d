//! Malformed inputs to `wasio-host run` and `test`: truncated and corrupted components, core
//! modules, components with unexpected imports or exports, and random bytes. The host must
//! answer each with a clear error or an exit code, never panic and never outlive its limits.
//! A bounded, seeded run (`WASIO_FUZZ_INPUTS`, default 400) that prints its count.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use wasio_host::{Host, HostConfig, RunOptions};

use crate::block_on;

/// SplitMix64, as the guest-side property tests use.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Hand-written inputs: shapes a user or an attacker could hand the host.
fn fixed_inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("magic only", b"\0asm".to_vec()),
        ("core module", b"\0asm\x01\0\0\0".to_vec()),
        ("empty component", b"\0asm\x0d\0\x01\0".to_vec()),
        ("wat component", b"(component)".to_vec()),
        (
            "component importing an unknown interface",
            br#"(component (import "evil:host/backdoor@1.0.0" (instance)))"#.to_vec(),
        ),
        (
            "component exporting a run of the wrong type",
            br#"(component
                 (core module $m (func (export "r") (result i32) i32.const 7))
                 (core instance $i (instantiate $m))
                 (func $f (result u32) (canon lift (core func $i "r")))
                 (instance $run (export "run" (func $f)))
                 (export "wasi:cli/run@0.2.0" (instance $run)))"#
                .to_vec(),
        ),
        ("elf", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec()),
        (
            "rlib",
            b"!<arch>\n/               0           0     0     0       8       `\n".to_vec(),
        ),
        ("dep file", b"target/x.wasm: src/main.rs\n".to_vec()),
        (
            "bad wat",
            b"(component (core module (func (unreachable) (i32.add))))".to_vec(),
        ),
    ]
}

#[test]
fn malformed_components_give_clear_errors_never_panics_or_hangs() {
    let inputs: usize = std::env::var("WASIO_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let host = Host::new(HostConfig {
        timeout: Some(Duration::from_secs(3)),
        cpu_limit: Some(Duration::from_secs(2)),
        cache: false,
        ..HostConfig::default()
    })
    .expect("host");
    // Mutations of a real command component (the smallest one the host builds: the WASI 0.3
    // probe, about 220 KB).
    let base = std::fs::read(wasio_host::WASI_P3_PROBE_COMPONENT).expect("the probe component");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(0xF022_0018);
    let mut cases = fixed_inputs()
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .collect::<Vec<_>>();
    while cases.len() < inputs {
        let mut b = base.clone();
        let kind = rng.below(4);
        let name = match kind {
            0 => {
                let cut = rng.below(b.len());
                b.truncate(cut);
                format!("truncated at {cut}")
            }
            1 => {
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    let at = rng.below(b.len());
                    b[at] ^= 1 << rng.below(8);
                }
                format!("{n} bit flips")
            }
            2 => {
                let at = rng.below(b.len());
                let len = 1 + rng.below(64);
                let end = (at + len).min(b.len());
                for x in &mut b[at..end] {
                    *x = rng.next() as u8;
                }
                format!("{len} random bytes at {at}")
            }
            _ => {
                let len = rng.below(4096);
                b = (0..len).map(|_| rng.next() as u8).collect();
                if rng.below(2) == 0 && b.len() >= 8 {
                    b[..8].copy_from_slice(b"\0asm\x0d\0\x01\0");
                }
                format!("{len} random bytes")
            }
        };
        cases.push((name, b));
    }
    let (mut errors, mut ran) = (0usize, 0usize);
    let started = Instant::now();
    for (i, (name, bytes)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("input-{i}.wasm"));
        std::fs::write(&path, bytes).expect("write input");
        let t0 = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let run = block_on(host.run_command(&path, &["input".into()], &RunOptions::default()));
            let suite = host.suite(Path::new(&path)).map(|_| ());
            (run.map(|_| ()), suite)
        }));
        let took = t0.elapsed();
        let (run, suite) =
            outcome.unwrap_or_else(|_| panic!("input {i} ({name}): the host panicked"));
        for res in [&run, &suite] {
            match res {
                Ok(()) => ran += 1,
                Err(e) => {
                    let msg = format!("{e:#}");
                    assert!(!msg.trim().is_empty(), "input {i} ({name}): an empty error");
                    errors += 1;
                }
            }
        }
        assert!(
            took < Duration::from_secs(30),
            "input {i} ({name}): {took:?}, past the host's limits"
        );
    }
    println!(
        "fuzz: {} inputs (run and test each): {errors} clear errors, {ran} ran, 0 panics, 0 hangs, in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The CLI on a wrong file: exit status 2 and a message that says what the file is, never a
/// panic.
#[test]
fn the_cli_names_what_a_wrong_file_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes, says) in [
        ("native", b"\x7fELF\x02\x01\x01\0".as_slice(), "native ELF"),
        ("lib.rlib", b"!<arch>\n".as_slice(), "library archive"),
        (
            "core.wasm",
            b"\0asm\x01\0\0\0".as_slice(),
            "core WebAssembly module",
        ),
        ("x.d", b"target/x.wasm: src/main.rs\n".as_slice(), ".d file"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        for sub in ["run", "test"] {
            let out = crate::wasio_host()
                .arg(sub)
                .arg(&path)
                .output()
                .expect("wasio-host");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{sub} {name}: {err}");
            assert!(err.contains(says), "{sub} {name}: {err}");
            assert!(!err.contains("panicked"), "{sub} {name}: {err}");
        }
    }
}
