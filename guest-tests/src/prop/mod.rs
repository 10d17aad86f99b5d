//! Generated programs: a reference model of asyncio's scheduling rules (`model`), misuse
//! fuzzing (`fuzz`), and byte-exact I/O programs over socket pairs (`io`). Both are seeded, so a failing seed replays identically on both targets.

pub mod fuzz;
pub mod io;
pub mod model;

/// The seed and count the robustness cases use: `WASIO_PROP_SEED` and `WASIO_PROP_PROGRAMS`
/// override the defaults (the host passes `WASIO_*` variables to guests, so a seed replays in
/// wasmtime too).
pub fn settings(default_seed: u64, default_programs: u64) -> (u64, u64) {
    let read = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    (
        read("WASIO_PROP_SEED").unwrap_or(default_seed),
        read("WASIO_PROP_PROGRAMS").unwrap_or(default_programs),
    )
}
