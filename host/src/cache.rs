//! On-disk cache of compiled components, so a second run skips Cranelift.
//!
//! A cache entry is native code: loading it (`Component::deserialize_file`) runs whatever it
//! holds. So the cache trusts nothing it did not write itself:
//!
//! * **Where.** `$WASIO_HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/wasio-host`, else
//!   `$HOME/.cache/wasio-host`, else `wasio-host-cache-<uid>` in the system temp dir. The
//!   directory is created with mode 0700 (one of ours that others could enter is closed to
//!   0700) and used only if it is a real directory (not a symbolic link) owned by this user
//!   with no access for group or others; otherwise the cache is off for this run (with a
//!   warning), and components are compiled in memory.
//! * **Which.** An entry's name is the SHA-256 of the component bytes, this host's version,
//!   the wasmtime version and the engine's compatibility hash (target and compiler settings):
//!   another build, another wasmtime or other settings never reuse it.
//! * **Whose.** An entry is loaded only if it is a regular file owned by this user that
//!   neither group nor others may write; anything else is refused (and replaced).
//! * Files are written to a temporary name and renamed into place, never modified in place,
//!   so a file another process has mapped stays valid. A file that fails to deserialize (a
//!   damaged file) is recompiled and replaced.
//! * **Size.** After each write the oldest entries (by last use) are removed until the cache
//!   holds at most [`max_bytes`] (`$WASIO_HOST_CACHE_MAX_MB`, default 512 MiB).
//!   `wasio-host cache dir` prints the directory, `wasio-host cache clean` empties it.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Result};

/// Entries end with this.
const SUFFIX: &str = ".cwasm";

/// The cache directory (not checked: see [`private_dir`]).
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WASIO_HOST_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("wasio-host");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("wasio-host");
    }
    std::env::temp_dir().join(format!("wasio-host-cache-{}", euid()))
}

/// The most the cache keeps, in bytes.
pub fn max_bytes() -> u64 {
    std::env::var("WASIO_HOST_CACHE_MAX_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(512)
        .saturating_mul(1 << 20)
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why a directory or file is not trusted.
fn distrust(meta: &std::fs::Metadata, dir: bool) -> Option<String> {
    if meta.file_type().is_symlink() {
        return Some("it is a symbolic link".into());
    }
    if dir && !meta.is_dir() {
        return Some("it is not a directory".into());
    }
    if !dir && !meta.is_file() {
        return Some("it is not a regular file".into());
    }
    if meta.uid() != euid() {
        return Some(format!("it belongs to user {}, not {}", meta.uid(), euid()));
    }
    let mode = meta.permissions().mode();
    let loose = if dir { mode & 0o077 } else { mode & 0o022 };
    if loose != 0 {
        return Some(format!("its mode {:o} lets others in", mode & 0o777));
    }
    None
}

/// Creates `dir` (mode 0700) if needed and checks that only this user can use it.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    // A directory of ours that others may enter (an older wasio-host made it 0755): close it.
    if meta.is_dir() && meta.uid() == euid() && meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        tracing::debug!(dir = %dir.display(), "made the cache directory private (mode 0700)");
    }
    let meta = std::fs::symlink_metadata(dir)?;
    match distrust(&meta, true) {
        None => Ok(()),
        Some(why) => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("not a private cache directory: {why}"),
        )),
    }
}

/// The entry name for `bytes` under `engine`.
pub fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update([0]);
    h.update(wasmtime_version().as_bytes());
    h.update([0]);
    std::hash::Hash::hash(
        &engine.precompile_compatibility_hash(),
        &mut IntoSha(&mut h),
    );
    let digest = h.finalize();
    let mut name = String::with_capacity(64 + SUFFIX.len());
    for b in digest {
        name.push_str(&format!("{b:02x}"));
    }
    name.push_str(SUFFIX);
    name
}

/// Feeds a `Hash` value (the engine's compatibility hash) into the SHA-256.
struct IntoSha<'a>(&'a mut Sha256);

impl std::hash::Hasher for IntoSha<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

fn wasmtime_version() -> &'static str {
    // Kept in step with Cargo.toml; part of the key so an upgrade never reuses old artifacts.
    "48"
}

/// Loads the compiled form of `bytes` from the cache, compiling and storing it on a miss.
pub fn load_or_compile(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    load_or_compile_in(&dir(), engine, bytes).map(|(c, _)| c)
}

/// Like [`load_or_compile`] with an explicit directory; also says whether it was a cache hit.
pub fn load_or_compile_in(dir: &Path, engine: &Engine, bytes: &[u8]) -> Result<(Component, bool)> {
    if let Err(e) = private_dir(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "component cache off for this run");
        return Ok((Component::new(engine, bytes)?, false));
    }
    let path = dir.join(key(engine, bytes));
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        match distrust(&meta, false) {
            Some(why) => {
                tracing::warn!(path = %path.display(), "refusing a cache entry: {why}");
                let _ = std::fs::remove_file(&path);
            }
            None => {
                // SAFETY: the file is ours (checked just above: a regular file this user owns
                // that nobody else may write, in a directory only this user can use), named by
                // the SHA-256 of the component and of this build's engine settings, and was
                // produced by `Component::serialize`; entries are replaced by rename, never
                // written in place, so the mapping stays valid while the component lives.
                // `deserialize_file` still checks the header and rejects foreign artifacts.
                match unsafe { Component::deserialize_file(engine, &path) } {
                    Ok(c) => {
                        tracing::debug!(path = %path.display(), "component cache hit");
                        touch(&path);
                        return Ok((c, true));
                    }
                    Err(e) => tracing::warn!(
                        path = %path.display(), error = %e, "bad cache entry; recompiling"
                    ),
                }
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(dir, &path, &component) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not write the component cache");
    }
    prune(dir, max_bytes());
    Ok((component, false))
}

/// Marks an entry as just used (the pruning order).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn store(dir: &Path, path: &Path, component: &Component) -> Result<()> {
    use std::io::Write;
    let data = component.serialize()?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&data)?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

/// The entries of `dir`: (path, size, last use).
fn entries(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(SUFFIX))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.len(), meta.modified().ok()?))
        })
        .collect()
}

/// Removes the least recently used entries until `dir` holds at most `max` bytes; returns
/// (entries removed, bytes freed).
pub fn prune(dir: &Path, max: u64) -> (usize, u64) {
    let mut all = entries(dir);
    let mut total: u64 = all.iter().map(|e| e.1).sum();
    all.sort_by_key(|e| e.2);
    let (mut n, mut freed) = (0, 0);
    for (path, size, _) in all {
        if total <= max {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= size;
            freed += size;
            n += 1;
        }
    }
    (n, freed)
}

/// Removes every entry; returns (entries removed, bytes freed).
pub fn clean(dir: &Path) -> (usize, u64) {
    prune(dir, 0)
}

/// (entries, bytes) in `dir`.
pub fn usage(dir: &Path) -> (usize, u64) {
    let all = entries(dir);
    (all.len(), all.iter().map(|e| e.1).sum())
}
