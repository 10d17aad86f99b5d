//! The cases, one module per CONFORMANCE.md area.

mod combinators;
mod connect;
mod exceptions;
mod executor;
mod http;
mod lifecycle;
pub(crate) mod net_util;
mod robust;
mod sched;
mod sendfile;
mod server;
mod soak;
mod sync;
mod taskgroup;
pub(crate) mod tasks;
mod tcp;
mod timers;
mod udp;

pub use self::combinators::*;
pub use self::connect::*;
pub use self::exceptions::*;
pub use self::executor::*;
pub use self::http::*;
pub use self::lifecycle::*;
pub use self::robust::*;
pub use self::sched::*;
pub use self::sendfile::*;
pub use self::server::*;
pub use self::soak::*;
pub use self::sync::*;
pub use self::taskgroup::*;
pub use self::tasks::*;
pub use self::tcp::*;
pub use self::timers::*;
pub use self::udp::*;
