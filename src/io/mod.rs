//! I/O readiness: the registry of sources (`registry`) and a source's membership in it
//! (`registration`), which futures use to wait for readiness, and the loops every byte stream
//! shares (`ops`); the table of sources watched for callbacks instead (`watch`).

pub(crate) mod ops;
pub(crate) mod registration;
pub(crate) mod registry;
pub(crate) mod watch;
