//! The exception handler: where errors nobody else can receive end up (asyncio
//! `call_exception_handler`).
//!
//! # Ground rules
//!
//! * A [`Context`] always has a message; the other keys (asyncio EXC-01: `exception`, `task`,
//!   `handle`, `future`, `transport`, `peer`, ...) are optional and listed by [`Context::keys`].
//! * The default handler logs one `tracing` ERROR event on target `wasio`: the message, then one
//!   `key: value` line per other key in sorted order, leaving out `message` and `exception`; the
//!   error goes in the `error` field (EXC-03).
//! * A custom handler that fails (returns `Err`, or panics on native targets) is caught; the
//!   default handler then reports `Unhandled error in exception handler` with the original
//!   context under the `context` key.
//! * The default handler never lets a failure escape: if logging itself panics (a tracing
//!   subscriber that panics), the panic is caught and `Exception in default exception handler`
//!   is logged instead, as asyncio's `call_exception_handler` does; if even that fails, the
//!   report is dropped. Either way the loop goes on.

use std::error::Error as StdError;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What went wrong, and where (asyncio's context dict).
pub struct Context {
    message: String,
    error: Option<Box<dyn StdError>>,
    /// Other keys, kept sorted by key.
    fields: Vec<(&'static str, String)>,
}

/// The default message (asyncio: `'Unhandled exception in event loop'`).
pub const DEFAULT_MESSAGE: &str = "Unhandled exception in event loop";

impl Context {
    /// A context with a message and no other key. An empty message becomes
    /// [`DEFAULT_MESSAGE`] when the default handler logs it.
    pub fn new(message: impl Into<String>) -> Context {
        Context {
            message: message.into(),
            error: None,
            fields: Vec::new(),
        }
    }

    /// Sets the `exception` key.
    pub fn with_error(mut self, error: impl Into<Box<dyn StdError>>) -> Context {
        self.error = Some(error.into());
        self
    }

    /// Sets another key (`task`, `handle`, `future`, `peer`, ...), replacing an earlier value.
    pub fn with(mut self, key: &'static str, value: impl fmt::Display) -> Context {
        let value = value.to_string();
        match self.fields.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => self.fields[i].1 = value,
            Err(i) => self.fields.insert(i, (key, value)),
        }
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error (`exception` key), if any.
    pub fn error(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.as_deref()
    }

    /// The value of a key other than `message` and `exception`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every key present, sorted, `message` and `exception` included.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = vec!["message"];
        if self.error.is_some() {
            keys.push("exception");
        }
        keys.extend(self.fields.iter().map(|(k, _)| *k));
        keys.sort_unstable();
        keys
    }

    /// The text the default handler logs: the message, then `key: value` lines in key order.
    pub fn render(&self) -> String {
        let mut out = if self.message.is_empty() {
            DEFAULT_MESSAGE.to_string()
        } else {
            self.message.clone()
        };
        for (k, v) in &self.fields {
            out.push('\n');
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
        }
        out
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Context");
        d.field("message", &self.message);
        if let Some(e) = &self.error {
            d.field("exception", &format_args!("{e}"));
        }
        for (k, v) in &self.fields {
            d.field(k, v);
        }
        d.finish()
    }
}

/// The default handler: one ERROR event on target `wasio`. May panic if the tracing
/// subscriber does; see [`default_handler_guarded`].
pub(crate) fn default_handler(ctx: &Context) {
    let text = ctx.render();
    match ctx.error() {
        Some(err) => tracing::error!(target: "wasio", error = %err, "{text}"),
        None => tracing::error!(target: "wasio", "{text}"),
    }
}

/// Runs the default handler so that nothing escapes: a panic while logging `ctx` is reported
/// as `what` (asyncio: `'Exception in default exception handler'`), and a panic while logging
/// that is dropped.
pub(crate) fn default_handler_guarded(ctx: &Context, what: &str) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(|| default_handler(ctx))) else {
        return;
    };
    let msg = panic_message(&*payload);
    drop(payload);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        tracing::error!(target: "wasio", error = %msg, context = ?ctx, "{what}");
    }));
}

/// A panic payload as text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Box<str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).into()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str().into()
    } else {
        "panic with a non-string payload".into()
    }
}

/// A caught panic, as the `exception` of a context.
#[derive(Debug)]
pub struct PanicError {
    message: Box<str>,
}

impl PanicError {
    pub(crate) fn new(message: Box<str>) -> PanicError {
        PanicError { message }
    }
    /// The panic message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl StdError for PanicError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_and_render_skips_message_and_exception() {
        let ctx = Context::new("boom")
            .with("task", "Task-1")
            .with("handle", "<Handle f>")
            .with_error("bad");
        assert_eq!(ctx.keys(), vec!["exception", "handle", "message", "task"]);
        assert_eq!(ctx.render(), "boom\nhandle: <Handle f>\ntask: Task-1");
        assert_eq!(ctx.get("task"), Some("Task-1"));
        assert_eq!(ctx.error().map(|e| e.to_string()), Some("bad".to_string()));
    }

    #[test]
    fn empty_message_renders_default() {
        assert_eq!(Context::new("").render(), DEFAULT_MESSAGE);
    }
}
