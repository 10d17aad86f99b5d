//! Platform-specific extras, published per target.
//!
//! The rest of the API is identical on both targets; what only one of them can offer lives
//! here: `os::wasi` on wasm32-wasip2 (awaiting any WASI pollable).

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub mod wasi;
