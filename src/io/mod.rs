//! I/O readiness: the registry of sources (`registry`) and a source's membership in it
//! (`registration`), which futures use to wait for readiness.

pub(crate) mod registration;
pub(crate) mod registry;
