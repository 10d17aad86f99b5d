//! Adapters that run other crates' async code on wasio, each behind a cargo feature of the
//! same name.
//!
//! # Ground rules
//!
//! * An adapter implements another crate's runtime traits with wasio's public pieces (streams,
//!   tasks, timers) and adds no behaviour of its own to the loop: it sits above `net`, `task`
//!   and `time`, and nothing in the crate uses it.
//! * Each adapter is published at the crate root under the feature's name (`wasio::hyper`).

#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "hyper")]
mod hyper_rt;
#[cfg(feature = "hyper")]
mod serve;
#[cfg(feature = "tls")]
pub mod tls;
