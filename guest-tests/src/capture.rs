//! A minimal `tracing` subscriber that records events, so cases can assert on what wasio logs
//! (the default exception handler, slow-callback warnings) on both targets.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The event's level.
    pub level: Level,
    /// Its target.
    pub target: String,
    /// The `message` field, formatted.
    pub message: String,
    /// Every other field as `name=value`, in recording order.
    pub fields: Vec<String>,
}

/// Records every event it sees.
#[derive(Clone, Default)]
pub struct Capture {
    events: Arc<Mutex<Vec<Logged>>>,
}

impl Capture {
    /// Runs `f` with this subscriber as the thread's default and returns its result.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::subscriber::with_default(self.clone(), f)
    }

    /// The events recorded so far at `level` on target `wasio`.
    pub fn wasio_events(&self, level: Level) -> Vec<Logged> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.level == level && e.target == "wasio")
            .cloned()
            .collect()
    }
}

struct Fields<'a> {
    message: &'a mut String,
    fields: &'a mut Vec<String>,
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields.push(format!("{}={value}", field.name()));
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = String::new();
        let mut fields = Vec::new();
        event.record(&mut Fields {
            message: &mut message,
            fields: &mut fields,
        });
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Logged {
                level: *event.metadata().level(),
                target: event.metadata().target().to_string(),
                message,
                fields,
            });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
