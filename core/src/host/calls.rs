//! Calls in flight on one handle, each completed exactly once.
//!
//! A call's completion is taken from here *on the handle's callback thread*, just before it
//! runs. So a completion that was queued but never ran (the handle closed first) is still
//! here when `close` drains the table, and `close` completes it with 1015 ILLEGAL_STATE —
//! every call completes once, and nothing runs after `close` returns.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Identifies one call on its handle; never reused on that handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// The completions (`D`, the host's callback) of a handle's calls in flight.
pub(crate) struct PendingCalls<D> {
    next: u64,
    open: BTreeMap<u64, D>,
    closed: bool,
}

impl<D> Default for PendingCalls<D> {
    fn default() -> Self {
        PendingCalls {
            next: 1,
            open: BTreeMap::new(),
            closed: false,
        }
    }
}

impl<D> PendingCalls<D> {
    /// Registers a call; a closed handle takes no more (1015, named by `call`).
    pub(crate) fn start(&mut self, call: &str, done: D) -> Result<CallId> {
        if self.closed {
            return Err(Error::illegal_state(format!(
                "{call}: the handle is closed"
            )));
        }
        let id = self.next;
        self.next += 1;
        self.open.insert(id, done);
        Ok(CallId(id))
    }

    /// The completion of `id`, once: `None` when it was taken already or the handle closed.
    pub(crate) fn take(&mut self, id: CallId) -> Option<D> {
        self.open.remove(&id.0)
    }

    /// Closes the table and returns every completion still owed, oldest call first.
    pub(crate) fn close(&mut self) -> Vec<D> {
        self.closed = true;
        std::mem::take(&mut self.open).into_values().collect()
    }
}

/// The error a call still in flight completes with when its handle (`what`: `"session"`,
/// `"publisher"`) is closed.
pub fn closed_while_pending(call: &str, what: &str) -> Error {
    Error::illegal_state(format!("the {what} was closed before {call} completed"))
}

/// A call's completion: the host's callback, given the handle and the outcome.
pub(crate) type Completion<H> = Box<dyn FnOnce(&H, Result<()>) + Send>;

/// The calls in flight on one handle of kind `what` (`"session"`), by name.
pub(crate) struct Calls<H> {
    what: &'static str,
    table: std::sync::Mutex<PendingCalls<(&'static str, Completion<H>)>>,
}

impl<H> Calls<H> {
    pub(crate) fn new(what: &'static str) -> Self {
        Calls {
            what,
            table: std::sync::Mutex::new(PendingCalls::default()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, PendingCalls<(&'static str, Completion<H>)>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `call` (its name, e.g. `"publish"`); 1015 once the handle is closed.
    pub(crate) fn start(&self, call: &'static str, done: Completion<H>) -> Result<CallId> {
        self.table().start(call, (call, done))
    }

    /// The completion of `id`, once. Take it on the handle's callback thread, right before
    /// running it (see the module's comment).
    pub(crate) fn take(&self, id: CallId) -> Option<Completion<H>> {
        self.table().take(id).map(|(_, done)| done)
    }

    /// Completes every call still in flight with 1015, oldest first, on the calling thread.
    /// Call it once the handle's callbacks are stopped.
    pub(crate) fn close(&self, handle: &H) {
        let owed = self.table().close();
        for (call, done) in owed {
            done(handle, Err(closed_while_pending(call, self.what)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn each_call_completes_once_and_close_returns_the_rest_in_order() {
        let mut calls = PendingCalls::default();
        let a = calls.start("connect", "a").unwrap();
        let b = calls.start("publish", "b").unwrap();
        let c = calls.start("unpublish", "c").unwrap();
        assert_eq!(calls.take(b), Some("b"));
        assert_eq!(calls.take(b), None, "a completion is taken once");
        assert_eq!(calls.close(), vec!["a", "c"]);
        assert_eq!(calls.take(a), None);
        assert_eq!(calls.take(c), None);
        let refused = calls.start("disconnect", "d").unwrap_err();
        assert_eq!(refused.code, ErrorCode::IllegalState);
        assert_eq!(refused.message, "disconnect: the handle is closed");
    }
}
