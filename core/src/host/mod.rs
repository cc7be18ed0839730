//! What every binding drives, written once so that C, Python and Node behave alike:
//!
//! - [`calls`]: a handle's calls in flight, each completed exactly once; closing a handle
//!   completes the ones still pending with 1015 ILLEGAL_STATE before `close` returns, and
//!   nothing of the handle runs after that.
//! - [`delivery`]: per-handle ordered delivery of completions and events on a callback
//!   thread of the handle's own, with a stated overflow policy ([`delivery::Backlog`]).
//! - [`handoff`]: for a host that runs callbacks on threads of its own (Python: the thread
//!   blocked in a call, or an asyncio loop), handing each job over to that thread and waiting
//!   for it, so that ordering, one-at-a-time and close's guarantees carry over.
//! - [`consent`]: how a host's reply to an access request is read.
//! - [`consent_request`]: consent as a request the host answers later, on its own thread;
//!   denied when dropped unanswered or when the handle closes.
//! - [`link`]: the host's side of one handle for a binding that delivers on its host's own
//!   thread or loop (Node): calls pending for the host, whether the handle keeps the host's
//!   loop alive ([`link::Interest`], [`link::LoopHold`]), and what `close` completes.
//! - [`args`]: numeric call arguments, with one wording for every language.
//!
//! The rules a host sees, the same in every language:
//! - A call refused at once (bad argument 1011, wrong state 1010/1015) fails at once: Rust
//!   returns the error, C returns the code, Python raises, Node throws; its completion never
//!   runs. A call that started completes exactly once, through its completion.
//! - `close` completes every call still pending with 1015, on the closing thread, before it
//!   returns; afterwards none of the handle's callbacks runs.
//! - A closed handle stays readable: its state is `closed`.

pub mod args;
pub mod calls;
pub mod consent;
pub mod consent_request;
pub mod delivery;
pub mod handoff;
pub mod link;

pub use calls::CallId;
pub use consent_request::{ConsentGate, ConsentRequest};
pub use delivery::{Admission, Backlog, BacklogTicket, DROPPABLE_BACKLOG};
pub use link::{HostCall, HostLink, Interest, LoopChange, LoopHold};
