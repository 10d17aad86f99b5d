//! `wasio-host`: runs wasio guests in wasmtime 48 with the async WASI bindings.
//!
//! * [`Host`] owns the engine (epoch interruption on, one ticker thread), the linker with
//!   `wasi:*` 0.2 and 0.3, and the limits every store gets.
//! * [`Suite`] is the conformance component, compiled once (and cached on disk, see [`cache`]);
//!   every case runs in a fresh `Store` and instance, so a trap loses one case, not the run.
//!   It is either the WASI 0.2 build (`wasio:harness/runner`, called like any export) or the
//!   WASI 0.3 one (`wasio:harness/runner-p3`, whose `run-case` and `run-probe` are
//!   `async func`s called inside `Store::run_concurrent`); [`Suite::wasi_version`] says which.
//! * Guests run under [`tokio::task::coop::unconstrained`]: the host side of `wasi:io/poll`
//!   polls one tokio future per pollable, each using tokio's cooperative budget, and a guest
//!   that keeps finding work would otherwise exhaust it and see every later pollable as not
//!   ready (measured: 48 of 50 connections starved). Epoch yields still hand the thread back
//!   every tick.
//! * Limits: a wall-clock timeout per case (a guest blocked in `poll` is not running wasm, so
//!   epochs cannot stop it), a CPU limit on the time actually spent running wasm (measured at
//!   every entry into and exit from the guest, checked at each epoch tick), a memory limit per
//!   store, a limit on live handles that also caps WASI 0.3's streams, futures and tasks, and a
//!   network policy that allows TCP, UDP and name lookup on loopback addresses only
//!   ([`policy`], [`lookup`]). `host/SECURITY.md` has the threat model and the test of each
//!   promise.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{CallHook, Config, Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub mod cache;
pub mod compare;
pub mod crate_compare;
pub mod divergences;
pub mod libtest;
pub mod lookup;
pub mod policy;
pub mod serve;
pub mod sniff;

// The paths of what `host/build.rs` built in a wasio checkout: the suite's components, the
// examples, the native runner. A `wasio-host` built elsewhere (from crates.io, or with
// `WASIO_HOST_NO_SUITE`) has none of them: it runs components, it does not carry wasio's suite.
#[cfg(wasio_suite)]
include!(concat!(env!("OUT_DIR"), "/gen.rs"));

/// What one case of the conformance suite produced, in any world.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The case returned `Ok`.
    pub passed: bool,
    /// The failure message (empty when passed).
    pub message: String,
    /// The recorded events.
    pub transcript: Vec<String>,
    /// Figures the case reported (not compared between the worlds).
    pub notes: Vec<String>,
}

/// Host bindings of `wit/harness.wit`, world `conformance` (the WASI 0.2 suite).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "conformance",
        exports: { default: async },
    });
}

/// Host bindings of `wit/harness.wit`, world `conformance-p3` (the WASI 0.3 suite): its
/// `async func` exports take an `Accessor`, so they are called inside `run_concurrent`.
pub mod bindings_p3 {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "conformance-p3",
        exports: { default: async },
    });
}

use bindings::ConformancePre;
use bindings_p3::ConformanceP3Pre;

/// The export of the WASI 0.2 suite (`wit/harness.wit`), without its version.
pub const RUNNER_EXPORT: &str = "wasio:harness/runner";
/// The export of the WASI 0.3 suite, without its version.
pub const RUNNER_P3_EXPORT: &str = "wasio:harness/runner-p3";

pub use wasmtime::Result;

/// Limits and policies applied to every guest.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Wall-clock limit per case or command (`None`: no limit).
    pub timeout: Option<Duration>,
    /// CPU budget per guest: the epoch callback interrupts it after about this much time spent
    /// executing wasm (time blocked in host calls does not count).
    pub cpu_limit: Option<Duration>,
    /// Linear-memory limit per store.
    pub memory_limit: usize,
    /// Capacity of each captured output pipe (stdout, stderr).
    pub capture_limit: usize,
    /// Maximum live component handles per store (wasmtime's default is 100,000); the same
    /// number caps the entries of the store's WASI 0.3 table (streams, futures, waitable sets,
    /// tasks), whose host memory the memory limit does not see.
    pub max_component_handles: usize,
    /// Cache compiled components on disk.
    pub cache: bool,
    /// Instantiate from wasmtime's pooling allocator instead of on demand. Off by default:
    /// measured in `BENCHMARKS.md`, it changes neither a guest's round-trip cost nor, with
    /// the compiled-component cache, its start time by more than the noise, and it reserves
    /// address space up front.
    pub pooling: bool,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            timeout: Some(Duration::from_secs(120)),
            cpu_limit: Some(Duration::from_secs(60)),
            memory_limit: 1 << 30,
            capture_limit: 16 << 20,
            max_component_handles: 250_000,
            cache: true,
            pooling: false,
        }
    }
}

/// Epoch tick: how often a running guest yields to the host's executor.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per-store state.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// The network policy (name lookups read it; addresses are checked by wasmtime-wasi).
    network: policy::Network,
    /// Time spent running wasm, for the CPU limit.
    cpu: CpuMeter,
    /// `wasi:http`: the context, and the hooks that send outgoing requests under the network
    /// policy ([`serve`]).
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_hooks: serve::HttpHooks,
    /// The case's scratch directory, removed with the store.
    _scratch: Option<tempfile::TempDir>,
}

impl State {
    fn http_view(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl wasmtime_wasi_http::WasiHttpView for State {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        self.http_view()
    }
}

/// Time a guest spent executing wasm: from each entry into the guest (a call, or a host call
/// returning) to the next exit (the call returning, or a host call). A guest that yields to
/// the host's executor at an epoch tick is charged for the time until it resumes (it cannot
/// be told apart), which errs on the strict side.
#[derive(Default)]
struct CpuMeter {
    entered: Option<Instant>,
    spent: Duration,
}

impl CpuMeter {
    fn enter(&mut self, now: Instant) {
        self.entered.get_or_insert(now);
    }

    fn leave(&mut self, now: Instant) {
        if let Some(t) = self.entered.take() {
            self.spent += now.saturating_duration_since(t);
        }
    }

    fn total(&self, now: Instant) -> Duration {
        self.spent
            + self
                .entered
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }
}

/// A fresh scratch directory: random name, created exclusively with mode 0700 (no other user
/// can pre-create it or plant a link), removed with the guest's store.
fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("wasio-host-scratch-")
        .tempdir()
}

/// What `wasio-host run` gives a command beyond its arguments (in the spirit of
/// `wasmtime run --env / --dir / -S`).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Environment variables (besides the host's `WASIO_*`, `RUST_LOG` and `RUST_BACKTRACE`,
    /// which guests always see).
    pub env: Vec<(String, String)>,
    /// Host directories preopened at guest paths, read-write.
    pub dirs: Vec<(PathBuf, String)>,
    /// The network policy.
    pub network: policy::Network,
    /// Which `wasi:cli/run` to call; `None`: WASI 0.3's when the component exports it, else
    /// WASI 0.2's.
    pub world: Option<WasiVersion>,
}

/// Where the scratch directory appears in the guest; cases find it in `WASIO_SCRATCH_DIR`.
pub const GUEST_SCRATCH_DIR: &str = "/scratch";

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Where a guest's output goes.
enum Stdio {
    /// Captured in memory, returned with the outcome.
    Capture(MemoryOutputPipe, MemoryOutputPipe),
    /// The host process's own stdio.
    Inherit,
}

/// The engine, linker and limits shared by every guest.
pub struct Host {
    engine: Engine,
    linker: Linker<State>,
    config: HostConfig,
    ticker: Arc<AtomicBool>,
}

impl Host {
    /// Creates the engine (epoch interruption on) and starts its epoch ticker thread.
    pub fn new(config: HostConfig) -> Result<Host> {
        let mut cfg = Config::new();
        cfg.epoch_interruption(true);
        // The component-model async ABI, for WASI 0.3 components (already wasmtime 48's
        // default; explicit so a change of default cannot silently turn WASI 0.3 off).
        cfg.wasm_component_model_async(true);
        if config.pooling {
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            // Enough for the suite's one store per case and a few left behind by a failing one.
            pool.total_component_instances(64)
                .total_core_instances(1024)
                .total_memories(256)
                .total_tables(1024)
                .max_memory_size(config.memory_limit);
            cfg.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&cfg)?;
        let mut linker = Linker::new(&engine);
        // WASI 0.2 for every guest (Rust std imports it even in a WASI 0.3 component), and
        // WASI 0.3 beside it: the versions differ, so both sets live in one linker.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        // Name lookups under the network policy (a guest-chosen name never reaches the
        // system resolver unless any address is allowed).
        lookup::add_to_linker(&mut linker)?;
        // `wasi:http` (0.2's outgoing handler and types, 0.3's client and types): the proxy
        // components of `serve`, and any guest's outgoing requests, under the network policy.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("wasio-host-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    e.increment_epoch();
                }
            })
            .context("start the epoch ticker")?;
        Ok(Host {
            engine,
            linker,
            config,
            ticker: stop,
        })
    }

    /// The limits in force.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component, or loads it from the on-disk cache. A file that is not a
    /// component (a native binary, a Rust library, a core module, text) is a clear error
    /// saying what it is and what to do ([`sniff`]).
    pub fn load(&self, path: &Path) -> Result<Component> {
        let bytes =
            std::fs::read(path).with_context(|| format!("read component {}", path.display()))?;
        sniff::check(path, &bytes).map_err(wasmtime::Error::msg)?;
        if self.config.cache {
            cache::load_or_compile(&self.engine, &bytes)
        } else {
            Component::new(&self.engine, &bytes)
        }
    }

    /// Loads a conformance component: the WASI 0.2 suite (it exports `wasio:harness/runner`)
    /// or the WASI 0.3 one (`wasio:harness/runner-p3`), told apart by its exports.
    pub fn suite(&self, path: &Path) -> Result<Suite<'_>> {
        let component = self.load(path)?;
        let Some(version) = suite_version(&self.engine, &component) else {
            let command = component
                .component_type()
                .exports(&self.engine)
                .any(|(name, _)| name.starts_with("wasi:cli/run@"));
            if command {
                wasmtime::bail!(
                    "{} is a command (it exports wasi:cli/run), not wasio's conformance suite: \
                     run it with `wasio-host run {}` (a test binary of your own crate: \
                     `cargo test --target wasm32-wasip2` with wasio-host as the runner)",
                    path.display(),
                    path.display()
                );
            }
            wasmtime::bail!(
                "{} exports neither {RUNNER_EXPORT} nor {RUNNER_P3_EXPORT}: not a conformance suite",
                path.display()
            );
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .context("link the suite component")?;
        let pre = match version {
            WasiVersion::P2 => SuitePre::P2(
                ConformancePre::new(pre)
                    .with_context(|| format!("the component's {RUNNER_EXPORT} does not match"))?,
            ),
            WasiVersion::P3 => {
                SuitePre::P3(ConformanceP3Pre::new(pre).with_context(|| {
                    format!("the component's {RUNNER_P3_EXPORT} does not match")
                })?)
            }
        };
        Ok(Suite { host: self, pre })
    }

    /// A store; with `scratch`, a fresh host directory is preopened as `/scratch` (when it
    /// cannot be made, the guest simply has none, and a case that needs it says so).
    fn store_with(
        &self,
        args: &[String],
        stdio: &Stdio,
        scratch: bool,
        opts: &RunOptions,
    ) -> Result<Store<State>> {
        let mut b = WasiCtxBuilder::new();
        let net = opts.network;
        b.args(args)
            .allow_tcp(net.tcp)
            .allow_udp(net.udp)
            .allow_ip_name_lookup(net.ip_name_lookup)
            .socket_addr_check(move |addr, use_| {
                Box::pin(async move {
                    let ok = net.allows(addr, use_);
                    if !ok {
                        policy::log_refusal(addr, use_);
                    } else if !net.any_address
                        && matches!(use_, wasmtime_wasi::sockets::SocketAddrUse::TcpListen)
                        && addr.ip().is_unspecified()
                    {
                        policy::note_unspecified_bind(addr);
                    }
                    ok
                })
            });
        match stdio {
            Stdio::Capture(out, err) => {
                b.stdout(out.clone()).stderr(err.clone());
            }
            Stdio::Inherit => {
                b.inherit_stdio();
            }
        }
        // Guests see the host's WASIO_* settings (debug mode, for instance) and its logging
        // settings, so `WASIO_LOG` / `RUST_LOG` work the same in both worlds.
        for (k, v) in std::env::vars()
            .filter(|(k, _)| k.starts_with("WASIO_") || k == "RUST_LOG" || k == "RUST_BACKTRACE")
        {
            b.env(k, v);
        }
        for (k, v) in &opts.env {
            b.env(k, v);
        }
        for (host, guest) in &opts.dirs {
            b.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadWrite)
                .with_context(|| format!("preopen {} as {guest}", host.display()))?;
        }
        let scratch = scratch.then(scratch_dir).and_then(Result::ok).filter(|d| {
            b.preopened_dir(
                d.path(),
                GUEST_SCRATCH_DIR,
                wasmtime_wasi::FsPerms::ReadWrite,
            )
            .is_ok()
        });
        if scratch.is_some() {
            b.env("WASIO_SCRATCH_DIR", GUEST_SCRATCH_DIR);
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.config.memory_limit)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi: b.build(),
                table: ResourceTable::new(),
                limits,
                network: net,
                cpu: CpuMeter::default(),
                http: wasmtime_wasi_http::WasiHttpCtx::new(),
                http_hooks: serve::HttpHooks::new(net),
                _scratch: scratch,
            },
        );
        store.limiter(|s| &mut s.limits);
        store.set_max_component_handles(self.config.max_component_handles);
        // WASI 0.3's streams, futures, waitable sets and tasks live in wasmtime's own table,
        // in host memory the memory limit does not count: the handle limit caps it too.
        if let Some(t) = store.concurrent_resource_table() {
            t.set_max_capacity(self.config.max_component_handles);
        }
        store.set_epoch_deadline(1);
        // The CPU limit counts the time spent executing wasm, measured at every entry into
        // and exit from the guest (a guest that sleeps between short bursts is charged for
        // every burst); the epoch callback, which runs only while wasm executes, about once
        // per tick, checks it. Without a limit no hook is installed (it costs two clock reads
        // per host call).
        let limit = self.config.cpu_limit;
        if limit.is_some() {
            store.call_hook(|mut cx, hook| {
                let now = Instant::now();
                let cpu = &mut cx.data_mut().cpu;
                match hook {
                    CallHook::CallingWasm | CallHook::ReturningFromHost => cpu.enter(now),
                    CallHook::ReturningFromWasm | CallHook::CallingHost => cpu.leave(now),
                }
                Ok(())
            });
        }
        store.epoch_deadline_callback(move |cx| {
            Ok(match limit {
                Some(max) if cx.data().cpu.total(Instant::now()) >= max => {
                    UpdateDeadline::Interrupt
                }
                _ => UpdateDeadline::Yield(1),
            })
        });
        Ok(store)
    }

    fn capture_pipes(&self) -> (MemoryOutputPipe, MemoryOutputPipe) {
        (
            MemoryOutputPipe::new(self.config.capture_limit),
            MemoryOutputPipe::new(self.config.capture_limit),
        )
    }

    /// Runs a `wasi:cli` command component with `args` (`args[0]` is the program name), the
    /// host's stdio and `opts`. Returns the exit code. A component exporting
    /// `wasi:cli/run@0.3.x` runs as a WASI 0.3 command (its `run` is an `async func`), any
    /// other as a WASI 0.2 one; both under the same limits and network policy. A WASI 0.3 test
    /// binary whose `#[wasio::test]`s are registered with wasio's `wasio:test/runner` export
    /// runs as libtest would run it ([`libtest`]).
    pub async fn run_command(
        &self,
        path: &Path,
        args: &[String],
        opts: &RunOptions,
    ) -> Result<i32> {
        let component = self.load(path)?;
        let detected = wasi_version(&self.engine, &component);
        let version = opts.world.unwrap_or(detected);
        if version == WasiVersion::P3 && detected != WasiVersion::P3 {
            wasmtime::bail!(
                "{} does not export wasi:cli/run@0.3 (it is a WASI 0.2 command)",
                path.display()
            );
        }
        if version == WasiVersion::P2
            && opts.world.is_none()
            && libtest::exports_tests(&self.engine, &component)
            && let Some(code) = libtest::run(self, &component, args, opts).await?
        {
            return Ok(code);
        }
        self.run_component(&component, version, args, &Stdio::Inherit, opts)
            .await
    }

    /// Runs a command component's `wasi:cli/run` (of `version`) with `stdio`; returns the exit
    /// code.
    async fn run_component(
        &self,
        component: &Component,
        version: WasiVersion,
        args: &[String],
        stdio: &Stdio,
        opts: &RunOptions,
    ) -> Result<i32> {
        let mut store = self.store_with(args, stdio, false, opts)?;
        let fut = async {
            match version {
                WasiVersion::P2 => {
                    let cmd = wasmtime_wasi::p2::bindings::Command::instantiate_async(
                        &mut store,
                        component,
                        &self.linker,
                    )
                    .await
                    .context("instantiate the command (does it export wasi:cli/run?)")?;
                    cmd.wasi_cli_run().call_run(&mut store).await
                }
                WasiVersion::P3 => {
                    let cmd = wasmtime_wasi::p3::bindings::Command::instantiate_async(
                        &mut store,
                        component,
                        &self.linker,
                    )
                    .await
                    .context("instantiate the WASI 0.3 command")?;
                    store
                        .run_concurrent(async move |accessor| {
                            cmd.wasi_cli_run().call_run(accessor).await
                        })
                        .await?
                }
            }
        };
        let res = with_limits(self.config.timeout, fut).await;
        match res {
            Ok(Ok(())) => Ok(0),
            Ok(Err(())) => Ok(1),
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(wasmtime::Error::msg(describe_error(&self.config, &e))),
            },
        }
    }
}

/// Which WASI a component is written against: for a command, `wasi:cli/run@0.3.x` among its
/// exports makes it WASI 0.3 ([`wasi_version`]); for a conformance suite,
/// `wasio:harness/runner-p3` does ([`Suite::wasi_version`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WasiVersion {
    /// WASI 0.2 (`wasi:cli/run@0.2.x`, and anything that is not WASI 0.3).
    P2,
    /// WASI 0.3: the component exports `wasi:cli/run@0.3.x`.
    P3,
}

impl WasiVersion {
    /// Both versions, oldest first.
    pub const ALL: [WasiVersion; 2] = [WasiVersion::P2, WasiVersion::P3];

    /// `"WASI 0.2"` or `"WASI 0.3"`.
    pub fn label(self) -> &'static str {
        match self {
            WasiVersion::P2 => "WASI 0.2",
            WasiVersion::P3 => "WASI 0.3",
        }
    }

    /// `"p2"` or `"p3"`, as `DIVERGENCES.md` and the command line spell them.
    pub fn short(self) -> &'static str {
        match self {
            WasiVersion::P2 => "p2",
            WasiVersion::P3 => "p3",
        }
    }

    /// Parses `p2` / `p3` (also `0.2` / `0.3`, `wasi-p2`, `preview2`...).
    pub fn parse(s: &str) -> Option<WasiVersion> {
        match s.trim().to_ascii_lowercase().as_str() {
            "p2" | "0.2" | "wasi-p2" | "wasip2" | "preview2" => Some(WasiVersion::P2),
            "p3" | "0.3" | "wasi-p3" | "wasip3" | "preview3" => Some(WasiVersion::P3),
            _ => None,
        }
    }

    /// The conformance component built with this host for this version (`None`: this host
    /// was not built in a wasio checkout, or the WASI 0.3 build was skipped; see
    /// `host/build.rs`).
    pub fn default_suite(self) -> Option<&'static str> {
        #[cfg(wasio_suite)]
        return match self {
            WasiVersion::P2 => Some(GUEST_TESTS_COMPONENT),
            WasiVersion::P3 => GUEST_TESTS_P3_COMPONENT,
        };
        #[cfg(not(wasio_suite))]
        {
            let _ = self;
            None
        }
    }
}

impl std::fmt::Display for WasiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Detects the WASI version of a command component from its exports.
pub fn wasi_version(engine: &Engine, component: &Component) -> WasiVersion {
    let p3 = component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name.starts_with("wasi:cli/run@0.3."));
    if p3 { WasiVersion::P3 } else { WasiVersion::P2 }
}

/// Which suite world a component exports: `wasio:harness/runner-p3@..` is WASI 0.3,
/// `wasio:harness/runner@..` WASI 0.2, anything else is not a suite (`None`).
pub fn suite_version(engine: &Engine, component: &Component) -> Option<WasiVersion> {
    let names: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports = |iface: &str| {
        names
            .iter()
            .any(|n| n.strip_prefix(iface).is_some_and(|v| v.starts_with('@')))
    };
    if exports(RUNNER_P3_EXPORT) {
        Some(WasiVersion::P3)
    } else if exports(RUNNER_EXPORT) {
        Some(WasiVersion::P2)
    } else {
        None
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.ticker.store(true, Ordering::Relaxed);
    }
}

/// Runs a guest future outside tokio's cooperative budget and under the wall-clock limit.
async fn with_limits<T>(
    timeout: Option<Duration>,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let fut = tokio::task::coop::unconstrained(fut);
    match timeout {
        None => fut.await,
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(wasmtime::format_err!(
                "no result within the wall-clock limit of {limit:?} (a guest blocked in \
                 wasi:io/poll is not running wasm, so only this limit can stop it)"
            )),
        },
    }
}

/// The conformance suite component, ready to instantiate.
pub struct Suite<'h> {
    host: &'h Host,
    pre: SuitePre,
}

/// The suite's world, pre-instantiated.
enum SuitePre {
    /// `wasio:harness/runner`: plain exports.
    P2(ConformancePre<State>),
    /// `wasio:harness/runner-p3`: `run-case` and `run-probe` are `async func`s.
    P3(ConformanceP3Pre<State>),
}

/// The guest's outcome as the host's type (from the WASI 0.2 world).
fn outcome_p2(o: bindings::exports::wasio::harness::runner::Outcome) -> Outcome {
    Outcome {
        passed: o.passed,
        message: o.message,
        transcript: o.transcript,
        notes: o.notes,
    }
}

/// The guest's outcome as the host's type (from the WASI 0.3 world).
fn outcome_p3(o: bindings_p3::exports::wasio::harness::runner_p3::Outcome) -> Outcome {
    Outcome {
        passed: o.passed,
        message: o.message,
        transcript: o.transcript,
        notes: o.notes,
    }
}

/// What running one case (or probe) in wasmtime produced.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// Case name.
    pub name: String,
    /// The guest's outcome, when the call returned.
    pub outcome: Option<Outcome>,
    /// Why there is no outcome: a trap, a limit, a host error.
    pub failure: Option<String>,
    /// Captured guest stdout.
    pub stdout: String,
    /// Captured guest stderr.
    pub stderr: String,
    /// Wall-clock time of the case.
    pub elapsed: Duration,
    /// Live resources in the store's table just before the case ran and just after it
    /// returned (when it returned): a difference is something the guest leaked.
    pub handles: Option<(usize, usize)>,
}

impl CaseReport {
    /// The case ran and passed.
    pub fn passed(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.passed)
    }

    /// One paragraph explaining a failure, with the guest's output.
    pub fn explain(&self) -> String {
        let mut s = match (&self.outcome, &self.failure) {
            (Some(o), _) if o.passed => "passed".to_string(),
            (Some(o), _) => format!("failed: {}\ntranscript: {:?}", o.message, o.transcript),
            (None, Some(f)) => format!("did not complete: {f}"),
            (None, None) => "did not complete".to_string(),
        };
        if !self.stdout.trim().is_empty() {
            s.push_str(&format!(
                "\n--- guest stdout ---\n{}",
                self.stdout.trim_end()
            ));
        }
        if !self.stderr.trim().is_empty() {
            s.push_str(&format!(
                "\n--- guest stderr ---\n{}",
                self.stderr.trim_end()
            ));
        }
        s
    }
}

/// The number of live resources in a store: the host's table (sockets, WASI 0.2 streams and
/// pollables...) and wasmtime's WASI 0.3 table (streams, futures, waitable sets, tasks).
/// Filesystem descriptors are left out: wasi-libc opens the preopened directories once, on
/// first use, and keeps them for the instance's life.
fn live_handles(store: &mut Store<State>) -> usize {
    let host = store
        .data_mut()
        .table
        .iter_mut()
        .filter(|r| !r.is::<wasmtime_wasi::filesystem::Descriptor>())
        .count();
    // Counted through its `Debug` list, which leaves out the tombstones wasmtime keeps in
    // place of some deleted entries (they are not live, and `iter_mut` would count them).
    let p3 = store.concurrent_resource_table().map_or(0, |t| {
        let list = format!("{t:?}");
        let inner = list.trim_start_matches('[').trim_end_matches(']');
        if inner.is_empty() {
            0
        } else {
            inner.split(',').count()
        }
    });
    host + p3
}

/// Describes a guest error: which limit stopped it (named, with its value and the option
/// that sets it), or the trap.
pub fn describe_error(config: &HostConfig, e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    if matches!(
        e.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        let limit = config
            .cpu_limit
            .map_or("none".into(), |l| format!("{:.3} s", l.as_secs_f64()));
        return format!(
            "stopped by the CPU limit ({limit} of time running wasm, `--cpu-limit`): {text}"
        );
    }
    if text.contains("forcing trap when growing memory") {
        return format!(
            "stopped by the memory limit ({} MiB of linear memory per store, `--memory-mib`): {text}",
            config.memory_limit >> 20
        );
    }
    if text.contains("store handle limit exceeded")
        || text.contains("resource table has no free keys")
    {
        return format!(
            "stopped by the handle limit ({} live component handles, and as many WASI 0.3 \
             streams, futures and tasks, per store): {text}",
            config.max_component_handles
        );
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => {
            let mut s = format!("guest trapped: {trap}");
            if matches!(trap, wasmtime::Trap::UnreachableCodeReached) {
                s.push_str(" (a Rust panic aborts on WASI: its message is in the guest's stderr)");
            }
            if backtrace_wanted() {
                s.push_str(&format!("\n{text}"));
            } else {
                s.push_str("; WASIO_BACKTRACE=1 shows the wasm backtrace");
            }
            s
        }
        None => text,
    }
}

/// Whether traps are reported with their wasm backtrace (`WASIO_BACKTRACE` set, not `0`).
fn backtrace_wanted() -> bool {
    std::env::var_os("WASIO_BACKTRACE").is_some_and(|v| !v.is_empty() && v != "0")
}

impl Suite<'_> {
    /// The WASI version the suite was built for (which world it exports).
    pub fn wasi_version(&self) -> WasiVersion {
        match self.pre {
            SuitePre::P2(_) => WasiVersion::P2,
            SuitePre::P3(_) => WasiVersion::P3,
        }
    }

    /// The case names the guest lists.
    pub async fn list_cases(&self) -> Result<Vec<String>> {
        let (out, err) = self.host.capture_pipes();
        let mut store = self.host.store_with(
            &["guest-tests".into()],
            &Stdio::Capture(out, err),
            false,
            &RunOptions::default(),
        )?;
        // `list-cases` is a plain (synchronous) export in both worlds.
        let fut = async {
            match &self.pre {
                SuitePre::P2(pre) => {
                    let inst = pre.instantiate_async(&mut store).await?;
                    inst.wasio_harness_runner()
                        .call_list_cases(&mut store)
                        .await
                }
                SuitePre::P3(pre) => {
                    let inst = pre.instantiate_async(&mut store).await?;
                    inst.wasio_harness_runner_p3()
                        .call_list_cases(&mut store)
                        .await
                }
            }
        };
        with_limits(self.host.config.timeout, fut).await
    }

    /// Runs one conformance case in a fresh store.
    pub async fn run_case(&self, name: &str) -> CaseReport {
        self.run(name, false).await
    }

    /// Runs one probe (a guest behaviour for the host's fault and divergence tests, not a
    /// conformance case).
    pub async fn run_probe(&self, name: &str) -> CaseReport {
        self.run(name, true).await
    }

    async fn run(&self, name: &str, probe: bool) -> CaseReport {
        let (out, err) = self.host.capture_pipes();
        let store = self.host.store_with(
            &["guest-tests".into(), name.into()],
            &Stdio::Capture(out.clone(), err.clone()),
            true,
            &RunOptions::default(),
        );
        let mut store = match store {
            Ok(s) => s,
            Err(e) => {
                return CaseReport {
                    name: name.to_string(),
                    outcome: None,
                    failure: Some(format!("could not set the store up: {e:#}")),
                    stdout: String::new(),
                    stderr: String::new(),
                    elapsed: Duration::ZERO,
                    handles: None,
                };
            }
        };
        let started = Instant::now();
        let fut = async {
            match &self.pre {
                SuitePre::P2(pre) => {
                    let inst = pre
                        .instantiate_async(&mut store)
                        .await
                        .context("instantiate guest-tests")?;
                    let runner = inst.wasio_harness_runner();
                    let before = live_handles(&mut store);
                    let out = if probe {
                        runner.call_run_probe(&mut store, name).await
                    } else {
                        runner.call_run_case(&mut store, name).await
                    }?;
                    Ok((outcome_p2(out), before, live_handles(&mut store)))
                }
                SuitePre::P3(pre) => {
                    let inst = pre
                        .instantiate_async(&mut store)
                        .await
                        .context("instantiate guest-tests (WASI 0.3)")?;
                    let before = live_handles(&mut store);
                    // An `async func` export: called concurrently, inside the store's event
                    // loop, where the guest may block (in `waitable-set.wait`).
                    let name = name.to_string();
                    let out = store
                        .run_concurrent(async move |accessor| {
                            let runner = inst.wasio_harness_runner_p3();
                            let out = if probe {
                                runner.call_run_probe(accessor, name).await
                            } else {
                                runner.call_run_case(accessor, name).await
                            };
                            // Let the store finish what the guest's last drops started (a
                            // stream's host side goes after its guest end) before counting.
                            for _ in 0..16 {
                                tokio::task::yield_now().await;
                            }
                            out
                        })
                        .await??;
                    Ok((outcome_p3(out), before, live_handles(&mut store)))
                }
            }
        };
        let res = with_limits(self.host.config.timeout, fut).await;
        let elapsed = started.elapsed();
        let text = |p: &MemoryOutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
        let (outcome, failure, handles) = match res {
            Ok((o, before, after)) => (Some(o), None, Some((before, after))),
            Err(e) => (None, Some(describe_error(&self.host.config, &e)), None),
        };
        CaseReport {
            name: name.to_string(),
            outcome,
            failure,
            handles,
            stdout: text(&out),
            stderr: text(&err),
            elapsed,
        }
    }
}

/// A current-thread tokio runtime with timers, as the host runs guests.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    runtime_with(Flavor::CurrentThread)
}

/// The tokio runtime the host's WASI implementation runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Flavor {
    /// One thread: the guest and the host's socket work take turns (the default; measured in
    /// `BENCHMARKS.md`: the cheapest CPU per round trip).
    #[default]
    CurrentThread,
    /// tokio's work-stealing pool (one worker per core): the host's socket work may run on
    /// another core while the guest runs.
    MultiThread,
}

/// A tokio runtime of the given flavour with timers and I/O.
pub fn runtime_with(flavor: Flavor) -> std::io::Result<tokio::runtime::Runtime> {
    match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
}
