//! Consent as a request the host answers later, on a thread of its own.
//!
//! The core asks for consent on the handle's callback thread and waits for the answer. A host
//! that can only answer on another thread (Node's main thread, an event loop) gets a
//! [`ConsentRequest`] there and calls [`ConsentRequest::answer`]. The waiting side is a
//! [`ConsentGate`], one per handle. The request is denied when the host drops it unanswered,
//! and when the handle closes — so that closing (which waits for the running callback) never
//! waits on the host.

use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use crate::settings::{AccessRequest, OptionValue};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where one answer goes; the first answer wins, later ones are ignored.
#[derive(Debug)]
struct Slot(Mutex<Option<mpsc::SyncSender<bool>>>);

impl Slot {
    fn answer(&self, allow: bool) {
        if let Some(tx) = lock(&self.0).take() {
            let _ = tx.try_send(allow);
        }
    }
}

/// One access request waiting for the host's answer.
#[derive(Debug)]
pub struct ConsentRequest {
    request: AccessRequest,
    slot: Arc<Slot>,
}

impl ConsentRequest {
    /// What is asked: the sources that need consent.
    pub fn request(&self) -> &AccessRequest {
        &self.request
    }

    /// The host's reply, read as [`super::consent::allows`] reads it (only `true` allows);
    /// `None` is a reply the binding could not read as a value. The first answer counts.
    pub fn answer(&self, reply: Option<&OptionValue>) {
        self.slot.answer(super::consent::allows(reply));
    }

    /// Denies (a host callback that failed).
    pub fn deny(&self) {
        self.slot.answer(false);
    }
}

impl Drop for ConsentRequest {
    /// A request dropped unanswered denies.
    fn drop(&mut self) {
        self.slot.answer(false);
    }
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    waiting: Option<Arc<Slot>>,
}

/// The consent requests of one handle: at most one waits at a time. Closing the gate denies
/// the one waiting and every later one.
#[derive(Debug, Default)]
pub struct ConsentGate(Mutex<GateState>);

impl ConsentGate {
    /// Asks the host: hands a [`ConsentRequest`] to `send` (false when it cannot reach the
    /// host, which denies) and blocks until it is answered, dropped or the gate closes.
    pub fn ask(&self, request: &AccessRequest, send: impl FnOnce(ConsentRequest) -> bool) -> bool {
        let (tx, rx) = mpsc::sync_channel(1);
        let slot = Arc::new(Slot(Mutex::new(Some(tx))));
        {
            let mut state = lock(&self.0);
            if state.closed {
                return false;
            }
            state.waiting = Some(slot.clone());
        }
        let asked = ConsentRequest {
            request: request.clone(),
            slot: slot.clone(),
        };
        if !send(asked) {
            slot.answer(false);
        }
        let allowed = rx.recv().unwrap_or(false);
        let mut state = lock(&self.0);
        if state
            .waiting
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &slot))
        {
            state.waiting = None;
        }
        allowed
    }

    /// Denies the request waiting, if any, and every later one.
    pub fn close(&self) {
        let waiting = {
            let mut state = lock(&self.0);
            state.closed = true;
            state.waiting.take()
        };
        if let Some(slot) = waiting {
            slot.answer(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AccessRequest {
        AccessRequest {
            audio: None,
            video: Some("synthetic".into()),
        }
    }

    /// Asks on another thread (as the core does) and hands the request to `host`.
    fn ask_on_a_thread(
        gate: &Arc<ConsentGate>,
    ) -> (
        mpsc::Receiver<ConsentRequest>,
        std::thread::JoinHandle<bool>,
    ) {
        let (to_host, host) = mpsc::channel();
        let gate = gate.clone();
        let asking = std::thread::spawn(move || {
            gate.ask(&request(), |r| {
                to_host.send(r).unwrap();
                true
            })
        });
        (host, asking)
    }

    #[test]
    fn the_hosts_answer_is_read_by_the_core() {
        let gate = Arc::new(ConsentGate::default());
        for (reply, allowed) in [
            (Some(OptionValue::Bool(true)), true),
            (Some(OptionValue::Int(1)), false),
            (None, false),
        ] {
            let (host, asking) = ask_on_a_thread(&gate);
            let asked = host.recv().unwrap();
            assert_eq!(asked.request().video.as_deref(), Some("synthetic"));
            asked.answer(reply.as_ref());
            asked.answer(Some(&OptionValue::Bool(!allowed))); // the first answer counts
            assert_eq!(asking.join().unwrap(), allowed);
        }
    }

    #[test]
    fn dropped_unanswered_denies() {
        let gate = Arc::new(ConsentGate::default());
        let (host, asking) = ask_on_a_thread(&gate);
        drop(host.recv().unwrap());
        assert!(!asking.join().unwrap());
    }

    #[test]
    fn closing_denies_the_waiting_request_and_later_ones() {
        let gate = Arc::new(ConsentGate::default());
        let (host, asking) = ask_on_a_thread(&gate);
        let asked = host.recv().unwrap();
        gate.close();
        assert!(!asking.join().unwrap());
        asked.answer(Some(&OptionValue::Bool(true))); // too late: ignored
        let mut sent = false;
        assert!(!gate.ask(&request(), |_| {
            sent = true;
            true
        }));
        assert!(!sent, "a closed gate asks nobody");
    }

    #[test]
    fn a_request_that_cannot_reach_the_host_denies() {
        let gate = ConsentGate::default();
        assert!(!gate.ask(&request(), |_| false));
    }
}
