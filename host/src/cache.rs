//! On-disk cache of compiled components, so a second run skips Cranelift.
//!
//! The key hashes the component bytes, the wasmtime version and the engine's compatibility
//! hash (target and compiler settings). Files are written to a temporary name and renamed into
//! place, never modified in place, so a file that another process has mapped stays valid. A
//! file that fails to deserialize (another wasmtime, a damaged file) is recompiled and replaced.
//!
//! Location: `$WASIO_HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/wasio-host`, else
//! `$HOME/.cache/wasio-host`, else a directory under the system temp dir.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use wasmtime::component::Component;
use wasmtime::{Engine, Result};

/// The cache directory.
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
    std::env::temp_dir().join("wasio-host-cache")
}

fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    let content = h.finish();
    let mut h = DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    wasmtime_version().hash(&mut h);
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{content:016x}-{:016x}.cwasm", h.finish())
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
pub fn load_or_compile_in(
    dir: &std::path::Path,
    engine: &Engine,
    bytes: &[u8],
) -> Result<(Component, bool)> {
    let path = dir.join(key(engine, bytes));
    if path.exists() {
        // SAFETY: the file was produced by `Component::serialize` of this same wasmtime build
        // (the key covers the version and engine settings) and is only ever replaced by rename,
        // never written in place, so the mapping stays valid while the component lives.
        // `deserialize_file` still checks the header and rejects foreign or stale artifacts.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => {
                tracing::debug!(path = %path.display(), "component cache hit");
                return Ok((c, true));
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "bad cache entry; recompiling")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(dir, &path, &component) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not write the component cache");
    }
    Ok((component, false))
}

fn store(dir: &std::path::Path, path: &std::path::Path, component: &Component) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let data = component.serialize()?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
