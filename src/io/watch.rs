//! The table of watched raw sources: sources the loop does not read from, but runs a callback
//! for when they are ready (`add_reader` / `add_writer` natively, pollable readers on WASI).
//!
//! # Ground rules
//!
//! * One watch per source, found by the caller's key (a file descriptor natively, a
//!   registration number on WASI) and by its token: a slot reserved in the I/O registry, so
//!   tokens stay unique among all sources. No task ever waits on that slot.
//! * A watch holds at most one callback entry per direction. Readiness of a watched token
//!   queues those entries in the ready FIFO instead of waking tasks (asyncio `_process_events`).
//! * Data only: nothing here runs user code. Whatever leaves the table (a replaced entry, a
//!   removed watch) goes back to the caller, which cancels and drops it outside every borrow.
//! * Field order is drop order: a watch's source (a WASI pollable) goes before its callbacks,
//!   which may own the pollable's parent.

use std::collections::HashMap;

use crate::handle::EntryRef;
use crate::sys::{Direction, RawSource, Token};

/// How callers name a watched source.
pub(crate) type WatchKey = i64;

/// One watched source.
pub(crate) struct Watch {
    /// Declared first: dropped before the callbacks.
    pub(crate) source: RawSource,
    pub(crate) key: WatchKey,
    /// The callback entry of each direction.
    pub(crate) entries: [Option<EntryRef>; 2],
}

impl Watch {
    /// Whether a callback waits in `dir`.
    pub(crate) fn wants(&self, dir: Direction) -> bool {
        self.entries[dir as usize].is_some()
    }
}

/// The loop's watches.
#[derive(Default)]
pub(crate) struct Watchers {
    by_token: HashMap<usize, Watch>,
    by_key: HashMap<WatchKey, Token>,
}

impl Watchers {
    pub(crate) fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    /// The token of the watch named `key`.
    pub(crate) fn token_of(&self, key: WatchKey) -> Option<Token> {
        self.by_key.get(&key).copied()
    }

    pub(crate) fn get(&self, token: Token) -> Option<&Watch> {
        self.by_token.get(&token.0)
    }

    pub(crate) fn get_mut(&mut self, token: Token) -> Option<&mut Watch> {
        self.by_token.get_mut(&token.0)
    }

    /// Adds a watch under `token` (a slot the caller reserved in the registry).
    pub(crate) fn insert(&mut self, token: Token, watch: Watch) {
        self.by_key.insert(watch.key, token);
        self.by_token.insert(token.0, watch);
    }

    pub(crate) fn remove(&mut self, token: Token) -> Option<Watch> {
        let watch = self.by_token.remove(&token.0)?;
        self.by_key.remove(&watch.key);
        Some(watch)
    }

    /// Every watch (the loop is closing).
    pub(crate) fn take_all(&mut self) -> Vec<(Token, Watch)> {
        self.by_key.clear();
        self.by_token.drain().map(|(t, w)| (Token(t), w)).collect()
    }

    /// Passes to `queue` the entries readiness `bits` on `token` concerns, in direction order.
    /// Returns whether `token` is watched at all (if not, the event is for a task).
    pub(crate) fn fire(&self, token: Token, bits: u8, mut queue: impl FnMut(EntryRef)) -> bool {
        let Some(watch) = self.by_token.get(&token.0) else {
            return false;
        };
        for dir in Direction::BOTH {
            if bits & dir.mask() != 0
                && let Some(entry) = &watch.entries[dir as usize]
            {
                queue(entry.clone());
            }
        }
        true
    }
}
