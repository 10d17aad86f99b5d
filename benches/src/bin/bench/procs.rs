//! Running the processes of a measurement: a server pinned to core 0, the load generator
//! (which pins itself to core 1), the micro-benchmark programs; and reading their JSON lines.
//!
//! # Ground rules
//!
//! * A server must print `listening on ADDR` within [`LISTEN_TIMEOUT`] (the first run of a
//!   component includes its compilation), or the run fails with its stderr.
//! * A server's stderr goes to a log file under `<target>/bench-logs/`, never to a pipe that
//!   could fill up and stall it; a failure report quotes its last lines.
//! * Servers are killed (SIGKILL) after each run; nothing outlives the measurement.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wasio_benches::affinity;

/// How long a server may take to print its address.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(120);

/// A running server: killed on drop.
pub struct Server {
    child: Child,
    /// Where its stderr goes.
    log: PathBuf,
    /// Its `listening on` address.
    pub addr: String,
}

impl Server {
    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited, and the last lines of its stderr if so.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("server exited ({status}): {}", tail(&self.log))),
            _ => None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last few lines of a log file, on one line.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}

/// Pins the child to core 0 before it runs (so all its threads inherit the mask), when the
/// machine has two or more cores.
pub fn pin_child(cmd: &mut Command) {
    if affinity::cores() < 2 {
        return;
    }
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // sched_setaffinity system call (async-signal-safe); it touches no lock or allocation.
    unsafe {
        cmd.pre_exec(|| affinity::pin(0, 0));
    }
}

/// Starts `cmd` as a server and waits for its `listening on ADDR` line.
pub fn start_server(mut cmd: Command, logs: &Path, name: &str) -> Result<Server, String> {
    std::fs::create_dir_all(logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let log = logs.join(format!("{name}.stderr"));
    let err = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    pin_child(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err));
    let mut child = cmd.spawn().map_err(|e| format!("start {cmd:?}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        // The first line; later output is read and dropped so the pipe never fills.
        let first = lines.next();
        let _ = tx.send(first);
        for _ in lines {}
    });
    let mut server = Server {
        child,
        log,
        addr: String::new(),
    };
    match rx.recv_timeout(LISTEN_TIMEOUT) {
        Ok(Some(Ok(line))) => match line.strip_prefix("listening on ") {
            Some(addr) => {
                server.addr = addr.trim().to_string();
                Ok(server)
            }
            None => Err(format!("{name}: unexpected first line {line:?}")),
        },
        _ => Err(server
            .exited()
            .unwrap_or_else(|| format!("{name}: no `listening on` line"))),
    }
}

/// Runs `cmd` to completion and returns its stdout's lines, or an error with its stderr.
pub fn output_lines(mut cmd: Command) -> Result<Vec<String>, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("start {cmd:?}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(3);
        return Err(format!("{} ({})", lines[start..].join(" | "), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Whether a compiler (`rustc`) is running on the machine: a build beside a measurement
/// takes a core from it, so the measurement would say more about the build than the code.
pub fn compiler_running() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "rustc")
    })
}

/// Waits until no compiler has run for `settle`, at most `max`; `false` if it gave up.
pub fn wait_quiet(settle: Duration, max: Duration) -> bool {
    let start = std::time::Instant::now();
    let mut quiet_since = std::time::Instant::now();
    let mut said = false;
    loop {
        if compiler_running() {
            quiet_since = std::time::Instant::now();
            if !said {
                crate::build::tracing_line("a compiler is running: waiting for it to finish");
                said = true;
            }
        } else if quiet_since.elapsed() >= settle {
            return true;
        }
        if start.elapsed() >= max {
            crate::build::tracing_line("still busy: measuring anyway (the run is flagged)");
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs `f` while a thread looks for a compiler every 200 ms; returns `f`'s result and
/// whether one was seen.
pub fn watched<T>(f: impl FnOnce() -> T) -> (T, bool) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicBool::new(compiler_running()));
    let (s2, seen2) = (stop.clone(), seen.clone());
    let sampler = std::thread::spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            if compiler_running() {
                seen2.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let out = f();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let busy = seen.load(Ordering::Relaxed) || compiler_running();
    (out, busy)
}
