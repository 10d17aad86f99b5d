//! The cases, one module per CONFORMANCE.md area.

mod exceptions;
mod lifecycle;
mod sched;
mod tasks;
mod timers;

pub use self::exceptions::*;
pub use self::lifecycle::*;
pub use self::sched::*;
pub use self::tasks::*;
pub use self::timers::*;
