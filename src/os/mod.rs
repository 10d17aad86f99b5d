//! Platform-specific extras, published per target.
//!
//! The rest of the API is identical on both targets; what only one of them can offer lives
//! here: `os::native` everywhere but WASI (callbacks on file descriptor readiness, adopting std
//! sockets) and `os::wasi` on wasm32-wasip2 (awaiting any WASI pollable, callbacks on pollable
//! readiness).

#[cfg(not(target_os = "wasi"))]
#[cfg_attr(docsrs, doc(cfg(not(target_os = "wasi"))))]
pub mod native;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
#[cfg_attr(docsrs, doc(cfg(all(target_os = "wasi", target_env = "p2"))))]
pub mod wasi;
