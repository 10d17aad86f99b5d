//! I/O readiness: the registry of sources (`registry`) and a source's membership in it
//! (`registration`), which futures use to wait for readiness, and the loops every byte stream
//! shares (`ops`); a socket that can be closed while waited on (`closable`); sockets dropped with writes still queued (`linger`); the table of sources watched for callbacks instead (`watch`).

pub(crate) mod closable;
pub(crate) mod linger;
pub(crate) mod ops;
pub(crate) mod registration;
pub(crate) mod registry;
pub(crate) mod watch;
