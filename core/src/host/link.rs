//! The host's side of one handle, for a binding that hands the core's callbacks over to a
//! thread or loop of its host (Node's main thread) and so delivers them later than the core
//! ran them.
//!
//! What the host has *received* is what counts here, not what the core has done: a completion
//! the core ran is still pending for the host until it is delivered. A [`HostLink`] is fed on
//! the host's thread, in the host's order, and says:
//! - which calls the host still waits for, with their outcome once the core completed them
//!   ([`HostLink::call`], [`HostLink::complete`], [`HostLink::take`]);
//! - what the host must do with the handle ([`Interest`]): keep its event loop alive and
//!   deliver, only deliver, or nothing;
//! - what `close` completes: every call still pending for the host, once, with the core's
//!   1015 ([`HostLink::close`]);
//! - the consent request the host has to answer ([`HostLink::ask_consent`]);
//! - when the host's one queue for all its handles must keep the event loop alive
//!   ([`LoopHold`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::calls::closed_while_pending;
use super::consent_request::{ConsentGate, ConsentRequest};
use crate::error::{Error, Result};
use crate::session::SessionEvent;
use crate::settings::AccessRequest;

/// What a host must do with a handle, as far as the messages it has received tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Nothing will be delivered until the host makes a call: the host may let the handle
    /// go (a handle its host collects is closed).
    Idle,
    /// Events may come without a call (a ready publisher's `audioLevelUpdated`,
    /// `mediaStopped`): keep the handle reachable to deliver them, without keeping the host's
    /// event loop alive for them.
    Listening,
    /// A call is pending, or a session is connecting, connected, reconnecting or
    /// disconnecting: keep the host's event loop alive (like a connected socket) and deliver.
    Engaged,
}

impl Interest {
    /// Whether the host keeps its event loop alive for the handle.
    pub fn keeps_alive(self) -> bool {
        self == Interest::Engaged
    }

    /// Whether messages may come, so the host keeps the handle reachable to deliver them.
    pub fn routed(self) -> bool {
        self != Interest::Idle
    }
}

/// The calls a host makes, by the core's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCall {
    /// `init_publisher`: its failure ends the publisher's events.
    InitPublisher,
    /// `connect`: accepted, the session is engaged until it fails or `sessionDisconnected`.
    Connect,
    /// `publish`.
    Publish,
    /// `unpublish`.
    Unpublish,
    /// `disconnect`.
    Disconnect,
    /// `set_video_source`.
    SetVideoSource,
    /// `set_audio_source`.
    SetAudioSource,
    /// `cycle_video`: completes with the camera's device id.
    CycleVideo,
}

impl HostCall {
    /// The core's name of the call: `"init_publisher"`, `"connect"`, ...
    pub fn name(self) -> &'static str {
        match self {
            HostCall::InitPublisher => "init_publisher",
            HostCall::Connect => "connect",
            HostCall::Publish => "publish",
            HostCall::Unpublish => "unpublish",
            HostCall::Disconnect => "disconnect",
            HostCall::SetVideoSource => "set_video_source",
            HostCall::SetAudioSource => "set_audio_source",
            HostCall::CycleVideo => "cycle_video",
        }
    }
}

#[derive(Debug)]
struct Pending {
    call: HostCall,
    /// The core's outcome, not delivered to the host yet: with the value the call gives,
    /// if it gives one (`cycle_video`'s device id).
    outcome: Option<Result<Option<String>>>,
    /// The outcome came from the core's `close`.
    by_close: bool,
}

#[derive(Debug)]
struct State {
    next: u64,
    calls: BTreeMap<u64, Pending>,
    /// A session from an accepted `connect` until it fails or `sessionDisconnected`.
    live: bool,
    connect: Option<u64>,
    /// Events may come without a call: a publisher, until its init fails.
    listening: bool,
    closing: bool,
    closed: bool,
}

/// The host's side of one handle (see the module's documentation).
#[derive(Debug)]
pub struct HostLink {
    what: &'static str,
    state: Mutex<State>,
    consent: ConsentGate,
    /// Whether this handle counts as engaged in its host's [`LoopHold`].
    held: AtomicBool,
}

/// What a host must do to the queue that keeps its event loop alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopChange {
    /// The first handle became engaged: keep the loop alive (Node: `ref`).
    Hold,
    /// The last engaged handle stopped being so: let the loop exit (Node: `unref`).
    Release,
}

/// For a host that keeps its event loop alive through one queue shared by all its handles
/// (Node's threadsafe function): counts the engaged handles and says when the queue must be
/// held or released. Fed on the host's thread through [`LoopHold::sync`].
#[derive(Debug, Default)]
pub struct LoopHold {
    engaged: Mutex<usize>,
}

impl LoopHold {
    /// After anything that may change `link`'s [`Interest`]: counts it as engaged or not, as
    /// the link says now, and returns what to do to the queue, if anything. `apply` runs under
    /// the count's lock, so that holds and releases reach the queue in the count's order.
    pub fn sync<E>(
        &self,
        link: &HostLink,
        apply: impl FnOnce(LoopChange) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let engaged = link.interest().keeps_alive();
        if link.held.swap(engaged, Ordering::SeqCst) == engaged {
            return Ok(());
        }
        let mut count = self.engaged.lock().unwrap_or_else(|e| e.into_inner());
        let before = *count;
        *count = if engaged {
            before + 1
        } else {
            before.saturating_sub(1)
        };
        match (before, *count) {
            (0, 1) => apply(LoopChange::Hold),
            (1, 0) => apply(LoopChange::Release),
            _ => Ok(()),
        }
    }
}

impl HostLink {
    fn new(what: &'static str, listening: bool) -> Self {
        HostLink {
            what,
            state: Mutex::new(State {
                next: 1,
                calls: BTreeMap::new(),
                live: false,
                connect: None,
                listening,
                closing: false,
                closed: false,
            }),
            consent: ConsentGate::default(),
            held: AtomicBool::new(false),
        }
    }

    /// The link of a session: idle until a call.
    pub fn for_session() -> Self {
        HostLink::new("session", false)
    }

    /// The link of a publisher: its events may come until its init fails or it closes.
    pub fn for_publisher() -> Self {
        HostLink::new("publisher", true)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `call`: `start(number)` starts it in the core, with a completion that hands its
    /// outcome to [`HostLink::complete`] under `number`. Accepted, it is pending for the host
    /// and its number returned; refused at once, its error is returned and nothing is pending.
    pub fn call(&self, call: HostCall, start: impl FnOnce(u64) -> Result<()>) -> Result<u64> {
        let number = {
            let mut state = self.state();
            let number = state.next;
            state.next += 1;
            state.calls.insert(
                number,
                Pending {
                    call,
                    outcome: None,
                    by_close: false,
                },
            );
            number
        };
        // Not under the lock: the completion may run on another thread at once.
        let started = start(number);
        let mut state = self.state();
        match started {
            Ok(()) => {
                if call == HostCall::Connect {
                    state.live = true;
                    state.connect = Some(number);
                }
                Ok(number)
            }
            Err(e) => {
                state.calls.remove(&number);
                Err(e)
            }
        }
    }

    /// The core completed call `number` (on any thread). True when the binding should now
    /// hand the host a message to [`HostLink::take`] it; false when the host is not to hear
    /// of it (the handle is closing or closed: `close` reports it).
    pub fn complete(&self, number: u64, outcome: Result<Option<String>>) -> bool {
        let mut state = self.state();
        let closing = state.closing;
        let Some(pending) = state.calls.get_mut(&number) else {
            return false;
        };
        if pending.outcome.is_some() {
            return false;
        }
        pending.outcome = Some(outcome);
        pending.by_close = closing;
        !closing
    }

    /// On the host's thread, as the completion of `number` is delivered: its outcome, once;
    /// `None` after `close` (which completed it).
    pub fn take(&self, number: u64) -> Option<Result<Option<String>>> {
        let mut state = self.state();
        if state.closed || state.closing {
            return None;
        }
        let pending = state.calls.remove(&number)?;
        let Some(outcome) = pending.outcome else {
            // Not completed yet: a message that ran ahead of its completion; keep it.
            state.calls.insert(number, pending);
            return None;
        };
        if outcome.is_err() {
            if pending.call == HostCall::InitPublisher {
                state.listening = false; // a failed publisher emits nothing more
            }
            if state.connect == Some(number) {
                state.live = false;
                state.connect = None;
            }
        }
        Some(outcome)
    }

    /// On the host's thread, as a session event is delivered: whether the host gets it
    /// (false once closed). `sessionDisconnected` ends the session's engagement.
    pub fn session_event(&self, event: &SessionEvent) -> bool {
        let mut state = self.state();
        if matches!(event, SessionEvent::SessionDisconnected { .. }) {
            state.live = false;
            state.connect = None;
        }
        !(state.closed || state.closing)
    }

    /// Whether the handle is closed (or closing): nothing more is delivered.
    pub fn is_closed(&self) -> bool {
        let state = self.state();
        state.closed || state.closing
    }

    /// What the host must do with the handle now.
    pub fn interest(&self) -> Interest {
        let state = self.state();
        if state.closed || state.closing {
            Interest::Idle
        } else if state.live || !state.calls.is_empty() {
            Interest::Engaged
        } else if state.listening {
            Interest::Listening
        } else {
            Interest::Idle
        }
    }

    /// On the library's thread: asks the host for consent through `send` and waits for its
    /// answer (see [`ConsentGate::ask`]); denied once the handle closes.
    pub fn ask_consent(
        &self,
        request: &AccessRequest,
        send: impl FnOnce(ConsentRequest) -> bool,
    ) -> bool {
        self.consent.ask(request, send)
    }

    /// Closes the handle: denies a waiting consent request (so that the core's close never
    /// waits on the host), runs `close_handle` (the core's `close`, which completes its pending
    /// calls with 1015), and returns every call still pending for the host, oldest first, each
    /// with the core's 1015 — also a call the core had completed before but whose completion
    /// had not reached the host. Nothing of the handle is delivered afterwards. Closing twice
    /// returns nothing the second time.
    pub fn close(&self, close_handle: impl FnOnce()) -> Vec<(u64, Error)> {
        self.state().closing = true;
        self.consent.close();
        close_handle();
        let mut state = self.state();
        state.closed = true;
        state.live = false;
        state.listening = false;
        let calls = std::mem::take(&mut state.calls);
        drop(state);
        calls
            .into_iter()
            .map(|(number, pending)| {
                let error = match pending.outcome {
                    Some(Err(e)) if pending.by_close => e,
                    _ => closed_while_pending(pending.call.name(), self.what),
                };
                (number, error)
            })
            .collect()
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        self.consent.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, Reason};

    fn accepted(link: &HostLink, call: HostCall) -> u64 {
        link.call(call, |_| Ok(())).unwrap()
    }

    #[test]
    fn a_session_is_engaged_from_connect_to_sessiondisconnected_as_the_host_sees_it() {
        let link = HostLink::for_session();
        assert_eq!(link.interest(), Interest::Idle);
        let connect = accepted(&link, HostCall::Connect);
        assert_eq!(link.interest(), Interest::Engaged);
        assert!(link.complete(connect, Ok(None)));
        assert_eq!(link.take(connect), Some(Ok(None)));
        assert_eq!(link.take(connect), None, "delivered once");
        assert_eq!(link.interest(), Interest::Engaged, "connected");

        let disconnect = accepted(&link, HostCall::Disconnect);
        assert!(link.session_event(&SessionEvent::SessionDisconnected {
            reason: Reason::ClientDisconnected
        }));
        // The core completed it; the host has not received it yet: still engaged.
        assert!(link.complete(disconnect, Ok(None)));
        assert_eq!(link.interest(), Interest::Engaged);
        // A call made before that completion reaches the host keeps it engaged too.
        let again = accepted(&link, HostCall::Connect);
        assert_eq!(link.take(disconnect), Some(Ok(None)));
        assert_eq!(link.interest(), Interest::Engaged);
        assert!(link.complete(again, Err(Error::illegal_state("x"))));
        assert_eq!(link.take(again), Some(Err(Error::illegal_state("x"))));
        assert_eq!(link.interest(), Interest::Idle, "a failed connect ends it");
    }

    #[test]
    fn a_refused_call_is_not_pending_and_does_not_end_a_connection() {
        let link = HostLink::for_session();
        let connect = accepted(&link, HostCall::Connect);
        link.complete(connect, Ok(None));
        link.take(connect);
        let refused = link.call(HostCall::Connect, |_| {
            Err(Error::illegal_state("connected"))
        });
        assert_eq!(refused.unwrap_err().code, ErrorCode::IllegalState);
        assert_eq!(link.interest(), Interest::Engaged, "still connected");
        assert!(link.session_event(&SessionEvent::SessionDisconnected {
            reason: Reason::NetworkDisconnected
        }));
        assert_eq!(link.interest(), Interest::Idle);
    }

    #[test]
    fn a_publisher_listens_until_its_init_fails_and_is_engaged_while_it_runs() {
        let link = HostLink::for_publisher();
        assert_eq!(link.interest(), Interest::Listening);
        let init = accepted(&link, HostCall::InitPublisher);
        assert_eq!(link.interest(), Interest::Engaged);
        link.complete(init, Ok(None));
        link.take(init);
        assert_eq!(link.interest(), Interest::Listening);

        let failing = HostLink::for_publisher();
        let init = accepted(&failing, HostCall::InitPublisher);
        failing.complete(init, Err(Error::new(ErrorCode::DeviceNotFound, "x")));
        failing.take(init);
        assert_eq!(failing.interest(), Interest::Idle);
    }

    #[test]
    fn close_returns_every_call_pending_for_the_host_with_the_cores_1015() {
        let link = HostLink::for_session();
        let connect = accepted(&link, HostCall::Connect);
        let publish = accepted(&link, HostCall::Publish);
        let unpublish = accepted(&link, HostCall::Unpublish);
        // Completed by the core, not yet delivered to the host.
        assert!(link.complete(publish, Ok(None)));
        let completed = link.close(|| {
            // The core's close completes what it still has, with its own error.
            assert!(!link.complete(connect, Err(closed_while_pending("connect", "session"))));
            assert!(!link.complete(unpublish, Err(Error::illegal_state("core's words"))));
        });
        let messages: Vec<_> = completed
            .iter()
            .map(|(n, e)| (*n, e.code, e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    connect,
                    ErrorCode::IllegalState,
                    "the session was closed before connect completed"
                ),
                (
                    publish,
                    ErrorCode::IllegalState,
                    "the session was closed before publish completed"
                ),
                (unpublish, ErrorCode::IllegalState, "core's words"),
            ]
        );
        assert_eq!(link.take(publish), None, "nothing is delivered after close");
        assert_eq!(link.interest(), Interest::Idle);
        assert!(link.close(|| {}).is_empty(), "closing twice");
        let late = link.call(HostCall::Disconnect, |_| Ok(())).unwrap();
        assert!(
            !link.complete(late, Ok(None)),
            "a closed handle delivers nothing"
        );
    }

    #[test]
    fn the_loop_is_held_from_the_first_engaged_handle_to_the_last() {
        let hold = LoopHold::default();
        let changes = std::cell::RefCell::new(Vec::new());
        let sync = |link: &HostLink| {
            hold.sync(link, |change| {
                changes.borrow_mut().push(change);
                Ok::<(), ()>(())
            })
            .unwrap()
        };
        let a = HostLink::for_session();
        let b = HostLink::for_session();
        sync(&a);
        assert!(changes.borrow().is_empty(), "an idle handle holds nothing");
        let connect_a = accepted(&a, HostCall::Connect);
        sync(&a);
        sync(&a);
        let connect_b = accepted(&b, HostCall::Connect);
        sync(&b);
        assert_eq!(*changes.borrow(), vec![LoopChange::Hold], "held once");
        a.close(|| {});
        sync(&a);
        assert_eq!(changes.borrow().len(), 1, "b still engaged");
        b.complete(connect_b, Err(Error::illegal_state("x")));
        b.take(connect_b);
        sync(&b);
        assert_eq!(
            *changes.borrow(),
            vec![LoopChange::Hold, LoopChange::Release]
        );
        assert!(!a.complete(connect_a, Ok(None)));
        sync(&a);
        sync(&b);
        assert_eq!(changes.borrow().len(), 2, "released once");
    }

    #[test]
    fn close_denies_the_consent_request_the_core_waits_for() {
        let link = std::sync::Arc::new(HostLink::for_publisher());
        let (to_host, host) = std::sync::mpsc::channel();
        let asking = {
            let link = link.clone();
            std::thread::spawn(move || {
                link.ask_consent(
                    &AccessRequest {
                        audio: None,
                        video: None,
                    },
                    |r| to_host.send(r).is_ok(),
                )
            })
        };
        let _unanswered = host.recv().unwrap();
        link.close(|| {});
        assert!(!asking.join().unwrap());
    }
}
