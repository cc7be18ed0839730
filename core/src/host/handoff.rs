//! Handing a handle's callbacks over to the host thread that must run them.
//!
//! The core calls back on each handle's own library thread ([`super::delivery`]), one
//! callback at a time. A host may want them elsewhere: Python runs them on "the thread that
//! waits (or the asyncio loop)". A binding turns each core callback into a job (`H::Job`) and
//! hands it to a [`Handoff`], which delivers it:
//!
//! - to a [`Waiter`]: a host thread blocked in a call (`init_publisher`, `connect`,
//!   `publish(publisher)` ...) runs the jobs of the handles that call involves (a
//!   [`WaitScope`]: the session and the publisher of `publish`) until the call's outcome
//!   arrives;
//! - otherwise along the handle's [`Route`]: an event loop ([`Host::post`]), or `Direct`: the
//!   library thread runs the job itself ([`Host::run_here`]).
//!
//! A handle whose callbacks belong to an event loop lets only a waiter on the loop's own
//! thread take them, so a handler of an event-loop object always runs on its loop.
//!
//! The library thread waits until a handed-over job has run ([`Slot`]), so the core's
//! ordering and one-at-a-time guarantees carry over unchanged. Every job runs through a gate
//! ([`Handoff::enter`]) that [`Handoff::close`] shuts: once `close` returns, no callback of
//! the handle is running (unless `close` was called from inside one, which is then the last)
//! and none will start. A job the core emits after a call's completion (`streamCreated`
//! after `publish`) waits until the blocked call has returned.
//!
//! What stays in the binding: attaching to its interpreter, and the rule that nothing here
//! is called while holding it when it may wait (every blocking function below says so).
//! Nothing here holds a lock while waiting for the host, so a host that keeps its
//! interpreter released while it waits for the core or another thread never deadlocks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often a library thread checks that an event loop it handed a job to is still open.
const LOOP_POLL: Duration = Duration::from_millis(250);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a binding supplies: its jobs, its event loops, and how to run a job on the thread at
/// hand. Every method is called on a library thread (or, for [`Host::run_past_gate`], the
/// thread closing the handle), outside the host's interpreter and with no lock of this
/// module held.
pub trait Host: Sized + Send + Sync + 'static {
    /// A host callback to run (Python: a closure given the interpreter).
    type Job: Send + 'static;
    /// An event loop that runs the callbacks of some handles (Python: an asyncio loop).
    type EventLoop: Send + Sync + 'static;

    /// Runs `job` on this library thread, through `handoff`'s gate ([`Handoff::enter`]).
    fn run_here(handoff: &Arc<Handoff<Self>>, job: Self::Job);

    /// Runs `job` on this thread past the gate: a call's completion on a closed handle (see
    /// [`Handoff::deliver_completion`]).
    fn run_past_gate(job: Self::Job);

    /// Asks `event_loop` to run `slot`'s job through `handoff`'s gate on the loop's thread
    /// ([`Slot::run`]); `false` when the loop is closed and will run nothing.
    fn post(
        event_loop: &Self::EventLoop,
        handoff: &Arc<Handoff<Self>>,
        slot: &Arc<Slot<Self::Job>>,
    ) -> bool;

    /// Whether `event_loop` is closed (its pending calls will never run).
    fn loop_is_closed(event_loop: &Self::EventLoop) -> bool;
}

// ----- wake-ups ------------------------------------------------------------------------------

// A blocked call waits on jobs from several handles at once (a session and a publisher), so
// every change anyone may wait for is announced on one process-wide condition variable. The
// few threads that wait here re-check their own condition on each announcement.
//
// Lock order: HUB, then any handoff's, waiter's or slot's lock. So `announce` is only ever
// called with no other lock held, and `wait_for`'s condition takes no lock that is held
// while announcing.
static HUB: Mutex<()> = Mutex::new(());
static CHANGED: Condvar = Condvar::new();

fn announce() {
    drop(lock(&HUB));
    CHANGED.notify_all();
}

/// Waits until `ready` gives a value, or `timeout` passed (`None`).
fn wait_for<T>(timeout: Option<Duration>, mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut hub = lock(&HUB);
    loop {
        if let Some(value) = ready() {
            return Some(value);
        }
        hub = match deadline {
            None => CHANGED.wait(hub).unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                CHANGED
                    .wait_timeout(hub, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

// ----- jobs handed over ----------------------------------------------------------------------

/// Who runs a handle's callbacks when no blocked call takes them.
pub enum Route<L> {
    /// The library thread.
    Direct,
    /// An event loop, running on `thread`.
    Loop {
        /// The loop.
        event_loop: Arc<L>,
        /// The thread it runs on.
        thread: ThreadId,
    },
}

impl<L> Clone for Route<L> {
    fn clone(&self) -> Self {
        match self {
            Route::Direct => Route::Direct,
            Route::Loop { event_loop, thread } => Route::Loop {
                event_loop: event_loop.clone(),
                thread: *thread,
            },
        }
    }
}

impl<L> Route<L> {
    /// Callbacks run on `event_loop`, which runs on the calling thread.
    pub fn event_loop(event_loop: L) -> Route<L> {
        Route::Loop {
            event_loop: Arc::new(event_loop),
            thread: thread::current().id(),
        }
    }
}

/// A job handed to another thread, and what became of it.
pub struct Slot<J> {
    job: Mutex<Option<J>>,
    done: AtomicBool,
    /// The other thread will not run it: whoever still finds the job runs it.
    abandoned: AtomicBool,
}

impl<J> Slot<J> {
    fn new(job: J) -> Arc<Slot<J>> {
        Arc::new(Slot {
            job: Mutex::new(Some(job)),
            done: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        })
    }

    /// The job, unless another thread already took it.
    fn take(&self) -> Option<J> {
        lock(&self.job).take()
    }

    /// Runs the job with `run` on this thread unless another thread took it (`None`), and
    /// tells the library thread that handed it over. `run` goes through the handle's gate.
    pub fn run<R>(&self, run: impl FnOnce(J) -> R) -> Option<R> {
        /// Tells the library thread even if `run` unwinds.
        struct Finish<'a, J>(&'a Slot<J>);
        impl<J> Drop for Finish<'_, J> {
            fn drop(&mut self) {
                self.0.done.store(true, Ordering::SeqCst);
                announce();
            }
        }
        let _finish = Finish(self);
        self.take().map(run)
    }

    fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        announce();
    }
}

/// A host thread blocked in a call: it runs the jobs handed to it until the call's outcome
/// arrives. Registered on every handle the call involves (see [`WaitScope`]).
pub struct Waiter<H: Host> {
    thread: ThreadId,
    /// Cleared, under `state`'s lock, once the outcome arrived or the thread stopped waiting.
    accepting: AtomicBool,
    /// Set, under `state`'s lock, once the thread stopped waiting and is back in the host.
    left: AtomicBool,
    state: Mutex<WaiterState<H>>,
}

type Handed<H> = (Arc<Handoff<H>>, Arc<Slot<<H as Host>::Job>>);

struct WaiterState<H: Host> {
    inbox: VecDeque<Handed<H>>,
    outcome: Option<Result<()>>,
}

/// What woke a [`Waiter`]; given to the host's `released` function of [`Waiter::wait`].
pub struct Wake<H: Host>(WakeKind<H>);

enum WakeKind<H: Host> {
    Job(Arc<Handoff<H>>, Arc<Slot<H::Job>>),
    Outcome(Result<()>),
    Closed,
}

impl<H: Host> Waiter<H> {
    /// A waiter for the calling thread.
    pub fn new() -> Arc<Waiter<H>> {
        Arc::new(Waiter {
            thread: thread::current().id(),
            accepting: AtomicBool::new(true),
            left: AtomicBool::new(false),
            state: Mutex::new(WaiterState {
                inbox: VecDeque::new(),
                outcome: None,
            }),
        })
    }

    fn accepts(&self, route: &Route<H::EventLoop>) -> bool {
        self.accepting.load(Ordering::SeqCst)
            && match route {
                Route::Direct => true,
                Route::Loop { thread, .. } => *thread == self.thread,
            }
    }

    fn offer(&self, handoff: Arc<Handoff<H>>, slot: Arc<Slot<H::Job>>) -> bool {
        {
            let mut st = lock(&self.state);
            if !self.accepting.load(Ordering::SeqCst) {
                return false;
            }
            st.inbox.push_back((handoff, slot));
        }
        announce();
        true
    }

    /// Its outcome arrived but the thread is not back in the host yet.
    fn is_returning(&self) -> bool {
        !self.accepting.load(Ordering::SeqCst) && !self.left.load(Ordering::SeqCst)
    }

    /// The call's outcome (the core's completion, on a library thread). The jobs already
    /// handed over run before it is returned; later ones go to their handle's route once the
    /// call has returned (see [`Handoff::deliver`]), since the core emits them after the
    /// completion.
    pub fn set_outcome(&self, outcome: Result<()>) {
        {
            let mut st = lock(&self.state);
            if !self.accepting.swap(false, Ordering::SeqCst) {
                return; // the thread stopped waiting (closed, interrupted)
            }
            st.outcome = Some(outcome);
        }
        announce();
    }

    fn next(&self) -> Option<WakeKind<H>> {
        let mut st = lock(&self.state);
        if let Some((handoff, slot)) = st.inbox.pop_front() {
            return Some(WakeKind::Job(handoff, slot));
        }
        st.outcome.take().map(WakeKind::Outcome)
    }

    /// Stops taking jobs; the ones not run yet go back to their library threads.
    fn leave(&self) {
        let left = {
            let mut st = lock(&self.state);
            self.accepting.store(false, Ordering::SeqCst);
            self.left.store(true, Ordering::SeqCst);
            std::mem::take(&mut st.inbox)
        };
        for (_, slot) in &left {
            slot.abandon();
        }
        announce();
    }

    /// Runs the jobs handed to this waiter on the calling thread (its own) until the call's
    /// outcome arrives, `owner` (the handle the call belongs to) is closed (`closed()`), or
    /// `idle` fails (`Err`: Python's signal handler raised). The waiter must be registered
    /// (a [`WaitScope`]) before the call starts.
    ///
    /// - `released(next)` calls `next` with the host's interpreter released and returns
    ///   what it gave: `next` blocks up to `poll`;
    /// - `run(handoff, slot)` runs a job handed over, through `handoff`'s gate
    ///   ([`Slot::run`]); `Err` stops waiting;
    /// - `idle()` runs every `poll` while nothing happens.
    ///
    /// The waiter is left when this returns, on the calling thread, back in the host: which
    /// is what a job emitted after the completion waits for.
    pub fn wait<E>(
        &self,
        owner: &Handoff<H>,
        poll: Duration,
        mut released: impl FnMut(&(dyn Fn() -> Option<Wake<H>> + Sync)) -> Option<Wake<H>>,
        mut run: impl FnMut(&Arc<Handoff<H>>, &Slot<H::Job>) -> std::result::Result<(), E>,
        mut idle: impl FnMut() -> std::result::Result<(), E>,
        closed: impl FnOnce() -> Error,
    ) -> std::result::Result<Result<()>, E> {
        let next = || {
            wait_for(Some(poll), || match self.next() {
                Some(wake) => Some(Wake(wake)),
                None => owner.is_closed().then_some(Wake(WakeKind::Closed)),
            })
        };
        let result = loop {
            match released(&next).map(|wake| wake.0) {
                Some(WakeKind::Job(handoff, slot)) => {
                    if let Err(stop) = run(&handoff, &slot) {
                        break Err(stop);
                    }
                }
                Some(WakeKind::Outcome(outcome)) => break Ok(outcome),
                Some(WakeKind::Closed) => break Ok(Err(closed())),
                None => {
                    if let Err(stop) = idle() {
                        break Err(stop);
                    }
                }
            }
        };
        self.leave();
        result
    }
}

/// Registers a waiter on the handles of one call, and unregisters it when dropped.
pub struct WaitScope<H: Host> {
    waiter: Arc<Waiter<H>>,
    handles: Vec<Arc<Handoff<H>>>,
}

impl<H: Host> WaitScope<H> {
    /// `owner` completes the call (the session of `publish`); `others` take part in it (the
    /// publisher).
    pub fn new(
        waiter: &Arc<Waiter<H>>,
        owner: &Arc<Handoff<H>>,
        others: &[&Arc<Handoff<H>>],
    ) -> WaitScope<H> {
        let mut handles = vec![owner.clone()];
        owner.state().waiters.push(Registered {
            waiter: waiter.clone(),
            owner: true,
        });
        for handoff in others {
            handoff.state().waiters.push(Registered {
                waiter: waiter.clone(),
                owner: false,
            });
            handles.push((*handoff).clone());
        }
        WaitScope {
            waiter: waiter.clone(),
            handles,
        }
    }
}

impl<H: Host> Drop for WaitScope<H> {
    fn drop(&mut self) {
        self.waiter.leave();
        for handoff in &self.handles {
            handoff
                .state()
                .waiters
                .retain(|r| !Arc::ptr_eq(&r.waiter, &self.waiter));
        }
    }
}

// ----- one handle ----------------------------------------------------------------------------

struct State<H: Host> {
    closed: bool,
    /// The thread running one of this handle's callbacks, if any.
    running_on: Option<ThreadId>,
    route: Route<H::EventLoop>,
    /// Blocked calls that take this handle's jobs, innermost last.
    waiters: Vec<Registered<H>>,
}

struct Registered<H: Host> {
    waiter: Arc<Waiter<H>>,
    /// This handle completes the call.
    owner: bool,
}

/// Where and when one handle's host callbacks run: its route, the blocked calls that take
/// its jobs, and the gate `close` shuts. The core's closures hold it through an `Arc`.
pub struct Handoff<H: Host> {
    state: Mutex<State<H>>,
}

enum Target<H: Host> {
    Waiter(Arc<Waiter<H>>),
    /// A call involving this handle got its outcome and is returning.
    AfterReturn(Arc<Waiter<H>>),
    Route(Route<H::EventLoop>),
}

enum SlotWake<J> {
    Done,
    Closed,
    Abandoned(J),
}

/// Whether a callback may start: see [`Handoff::enter`].
pub enum Entry<'a, H: Host> {
    /// It may; the gate is open again when this is dropped.
    Entered(Running<'a, H>),
    /// The calling thread is inside one of the handle's callbacks already: run it there.
    Nested,
    /// The handle is closed: drop the job.
    Closed,
}

/// One callback of a handle running; dropping it (even by a panic) lets the next one start.
pub struct Running<'a, H: Host>(&'a Handoff<H>);

impl<H: Host> Drop for Running<'_, H> {
    fn drop(&mut self) {
        self.0.state().running_on = None;
        announce();
    }
}

impl<H: Host> Handoff<H> {
    /// The handoff of a new handle whose callbacks go along `route`.
    pub fn new(route: Route<H::EventLoop>) -> Arc<Handoff<H>> {
        Arc::new(Handoff {
            state: Mutex::new(State {
                closed: false,
                running_on: None,
                route,
                waiters: Vec::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State<H>> {
        lock(&self.state)
    }

    /// Whether `close` (or `shut`) was called.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Whether the calling thread is inside one of this handle's callbacks.
    pub fn runs_callback_here(&self) -> bool {
        self.state().running_on == Some(thread::current().id())
    }

    /// Whether the session call `what` may block this thread until it completes: refused
    /// (1015) inside one of `session`'s callbacks, whose thread would have to deliver the
    /// completion, and for `unpublish` also inside one of `publisher`'s, since the core waits
    /// for that thread to deliver `streamDestroyed` first. `instead` names the host's
    /// non-blocking forms of the call, for the message.
    pub fn check_blocking_call(
        what: &str,
        session: &Handoff<H>,
        publisher: Option<&Handoff<H>>,
        instead: &str,
    ) -> Result<()> {
        let whose = if session.runs_callback_here() {
            "this session's"
        } else if what == "unpublish" && publisher.is_some_and(|p| p.runs_callback_here()) {
            "this publisher's"
        } else {
            return Ok(());
        };
        Err(Error::illegal_state(format!(
            "{what}: cannot block inside one of {whose} callbacks; {instead}"
        )))
    }

    // ----- the gate -----

    /// Waits until one of this handle's callbacks may start on this thread: one at a time,
    /// none once closed. Blocks: call it with the host's interpreter released, since the
    /// callback running on another thread may need it to finish.
    pub fn enter(&self) -> Entry<'_, H> {
        let me = thread::current().id();
        wait_for(None, || {
            let mut st = self.state();
            if st.closed {
                return Some(Entry::Closed);
            }
            match st.running_on {
                None => {
                    st.running_on = Some(me);
                    Some(Entry::Entered(Running(self)))
                }
                Some(t) if t == me => Some(Entry::Nested),
                Some(_) => None,
            }
        })
        .unwrap_or(Entry::Closed)
    }

    /// Shuts the gate: when this returns no callback is running on another thread and none
    /// will start. Returns the route, for the host to release its event loop. Blocks: call
    /// it with the host's interpreter released.
    pub fn close(&self) -> Route<H::EventLoop> {
        let me = thread::current().id();
        self.shut();
        wait_for(None, || {
            let st = self.state();
            (!matches!(st.running_on, Some(t) if t != me)).then_some(())
        });
        std::mem::replace(&mut self.state().route, Route::Direct)
    }

    /// Shuts the gate without waiting for a callback running elsewhere.
    pub fn shut(&self) {
        self.state().closed = true;
        announce();
    }

    /// Closes a handle whose host cannot wait (its interpreter is going away, so a callback
    /// running on the library thread could never finish): shuts the gate and runs the core's
    /// `close` on a thread of its own. Without a thread to spare the process is going away
    /// anyway, with nothing to undo.
    pub fn close_elsewhere(&self, close: impl FnOnce() + Send + 'static) {
        self.shut();
        let _ = thread::Builder::new()
            .name("lp-host-close".to_owned())
            .spawn(close);
    }

    // ----- handing jobs over -----

    /// Delivers a call's completion as [`Handoff::deliver`] does, except on a closed handle:
    /// the core completes the calls still pending (1015) while it closes, and `close` returns
    /// only after they ran, so there it runs on this thread, past the closed gate.
    pub fn deliver_completion(self: &Arc<Self>, job: H::Job) {
        if self.is_closed() {
            H::run_past_gate(job);
        } else {
            self.deliver(job);
        }
    }

    /// Runs `job` where this handle's callbacks belong and returns once it ran or was
    /// dropped because the handle closed. Called on a library thread, never in the host's
    /// interpreter.
    pub fn deliver(self: &Arc<Self>, mut job: H::Job) {
        loop {
            let target = {
                let st = self.state();
                if st.closed {
                    drop(st);
                    drop(job);
                    return;
                }
                if let Some(r) = st
                    .waiters
                    .iter()
                    .find(|r| !r.owner && r.waiter.is_returning())
                {
                    Target::AfterReturn(r.waiter.clone())
                } else if let Some(r) = st
                    .waiters
                    .iter()
                    .rev()
                    .find(|r| r.waiter.accepts(&st.route))
                {
                    Target::Waiter(r.waiter.clone())
                } else {
                    Target::Route(st.route.clone())
                }
            };
            match target {
                Target::AfterReturn(waiter) => {
                    // Emitted after the completion (`streamCreated` after `publish`): it must
                    // not start before the blocked call has returned. Once that thread is back
                    // in the host, this one needs the host too, so the call returns first.
                    // Never the owner's thread waits: the waiter has nothing left to run that
                    // this thread could be holding up, so it always gets back.
                    wait_for(None, || {
                        (!waiter.is_returning() || self.is_closed()).then_some(())
                    });
                }
                Target::Waiter(waiter) => {
                    let slot = Slot::new(job);
                    if waiter.offer(self.clone(), slot.clone()) {
                        match self.await_slot(&slot, None) {
                            // It stopped waiting before running it: choose again.
                            Some(returned) => job = returned,
                            None => return,
                        }
                    } else {
                        match slot.take() {
                            Some(returned) => job = returned,
                            None => return,
                        }
                    }
                }
                Target::Route(Route::Direct) => return H::run_here(self, job),
                Target::Route(Route::Loop { event_loop, .. }) => {
                    let slot = Slot::new(job);
                    if !H::post(&event_loop, self, &slot) {
                        // The loop is closed: nobody else will run it.
                        slot.abandon();
                    }
                    if let Some(job) = self.await_slot(&slot, Some(&event_loop)) {
                        H::run_here(self, job);
                    }
                    return;
                }
            }
        }
    }

    /// Waits until the job in `slot` ran elsewhere (`None`), or returns it when the other
    /// side abandoned it before starting.
    fn await_slot(
        &self,
        slot: &Arc<Slot<H::Job>>,
        event_loop: Option<&Arc<H::EventLoop>>,
    ) -> Option<H::Job> {
        loop {
            let wake = wait_for(Some(LOOP_POLL), || {
                if slot.done.load(Ordering::SeqCst) {
                    return Some(SlotWake::Done);
                }
                if self.is_closed() {
                    return Some(SlotWake::Closed);
                }
                if slot.abandoned.load(Ordering::SeqCst) {
                    // Taken already: the other thread started it and finishes it.
                    return slot.take().map(SlotWake::Abandoned);
                }
                None
            });
            match wake {
                Some(SlotWake::Done) => return None,
                Some(SlotWake::Closed) => {
                    // Never started: it must not start now. Already running elsewhere: `close`
                    // waits for it there, and the core must not wait for us meanwhile.
                    drop(slot.take());
                    return None;
                }
                Some(SlotWake::Abandoned(job)) => return Some(job),
                None => {
                    if let Some(event_loop) = event_loop {
                        if H::loop_is_closed(event_loop) {
                            slot.abandon();
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_blocking_call_is_refused_inside_the_callbacks_it_would_wait_for() {
        let session = Handoff::<Plain>::new(Route::Direct);
        let publisher = Handoff::<Plain>::new(Route::Direct);
        let check =
            |what| Handoff::check_blocking_call(what, &session, Some(&publisher), "call it later");
        assert!(check("unpublish").is_ok(), "outside any callback");
        {
            let Entry::Entered(_running) = publisher.enter() else {
                panic!("the gate is open")
            };
            assert!(check("publish").is_ok());
            let refused = check("unpublish").unwrap_err();
            assert_eq!(refused.code, ErrorCode::IllegalState);
            assert!(refused.message.contains("this publisher's callbacks"));
        }
        let Entry::Entered(_running) = session.enter() else {
            panic!("the gate is open")
        };
        let refused = check("connect").unwrap_err();
        assert_eq!(
            refused.message,
            "connect: cannot block inside one of this session's callbacks; call it later"
        );
    }
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    type Job = Box<dyn FnOnce() + Send>;

    /// A host of plain threads: jobs are closures, an event loop is a thread running what
    /// it is sent.
    struct Plain;

    struct TestLoop {
        sender: Mutex<mpsc::Sender<Job>>,
        closed: AtomicBool,
    }

    /// A running event loop and the route to it.
    fn start_loop() -> (Arc<TestLoop>, Route<Arc<TestLoop>>) {
        let (sender, receiver) = mpsc::channel::<Job>();
        let event_loop = Arc::new(TestLoop {
            sender: Mutex::new(sender),
            closed: AtomicBool::new(false),
        });
        let thread = thread::spawn(move || {
            while let Ok(job) = receiver.recv() {
                job();
            }
        })
        .thread()
        .id();
        let route = Route::Loop {
            event_loop: Arc::new(event_loop.clone()),
            thread,
        };
        (event_loop, route)
    }

    fn run_gated(handoff: &Handoff<Plain>, job: Job) {
        match handoff.enter() {
            Entry::Closed => {}
            Entry::Nested => job(),
            Entry::Entered(_running) => job(),
        }
    }

    impl Host for Plain {
        type Job = Job;
        type EventLoop = Arc<TestLoop>;

        fn run_here(handoff: &Arc<Handoff<Self>>, job: Job) {
            run_gated(handoff, job);
        }

        fn run_past_gate(job: Job) {
            job();
        }

        fn post(
            event_loop: &Arc<TestLoop>,
            handoff: &Arc<Handoff<Self>>,
            slot: &Arc<Slot<Job>>,
        ) -> bool {
            if event_loop.closed.load(Ordering::SeqCst) {
                return false;
            }
            let (handoff, slot) = (handoff.clone(), slot.clone());
            lock(&event_loop.sender)
                .send(Box::new(move || {
                    slot.run(|job| run_gated(&handoff, job));
                }))
                .is_ok()
        }

        fn loop_is_closed(event_loop: &Arc<TestLoop>) -> bool {
            event_loop.closed.load(Ordering::SeqCst)
        }
    }

    type Log = Arc<Mutex<Vec<(&'static str, ThreadId)>>>;

    /// A job that logs `name` and the thread it ran on.
    fn logging(log: &Log, name: &'static str) -> Job {
        let log = log.clone();
        Box::new(move || lock(&log).push((name, thread::current().id())))
    }

    /// A library thread delivering jobs `names` to `handoff` in order; joining it gives its id.
    fn library_thread(
        handoff: &Arc<Handoff<Plain>>,
        log: &Log,
        names: &'static [&'static str],
    ) -> thread::JoinHandle<ThreadId> {
        let (handoff, log) = (handoff.clone(), log.clone());
        thread::spawn(move || {
            for name in names {
                handoff.deliver(logging(&log, name));
            }
            thread::current().id()
        })
    }

    /// Waits on the calling thread as a host does, with nothing to release.
    fn wait(waiter: &Waiter<Plain>, owner: &Handoff<Plain>) -> Result<()> {
        waiter
            .wait(
                owner,
                Duration::from_millis(10),
                |next| next(),
                |handoff, slot| {
                    slot.run(|job| run_gated(handoff, job));
                    Ok::<(), ()>(())
                },
                || Ok(()),
                || Error::illegal_state("closed while waiting"),
            )
            .unwrap()
    }

    #[test]
    fn direct_jobs_run_in_order_one_at_a_time() {
        let handoff = Handoff::<Plain>::new(Route::Direct);
        let inside = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let (handoff, inside, log) = (handoff.clone(), inside.clone(), log.clone());
                thread::spawn(move || {
                    for i in 0..50 {
                        let (inside, log) = (inside.clone(), log.clone());
                        handoff.deliver(Box::new(move || {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two at once");
                            thread::sleep(Duration::from_micros(200));
                            inside.fetch_sub(1, Ordering::SeqCst);
                            lock(&log).push((t, i));
                        }));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let log = lock(&log);
        assert_eq!(log.len(), 100);
        for t in 0..2 {
            let order: Vec<_> = log
                .iter()
                .filter(|(x, _)| *x == t)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(order, (0..50).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_blocked_call_runs_the_jobs_of_its_handles_in_order_on_its_own_thread() {
        let session = Handoff::<Plain>::new(Route::Direct);
        let publisher = Handoff::<Plain>::new(Route::Direct);
        let waiter = Waiter::new();
        let scope = WaitScope::new(&waiter, &session, &[&publisher]);
        let log: Log = Arc::default();
        let library = {
            let (session, publisher, waiter, log) = (
                session.clone(),
                publisher.clone(),
                waiter.clone(),
                log.clone(),
            );
            thread::spawn(move || {
                session.deliver(logging(&log, "s1"));
                publisher.deliver(logging(&log, "p1"));
                session.deliver(logging(&log, "s2"));
                waiter.set_outcome(Err(Error::new(ErrorCode::ConnectFailed, "refused")));
            })
        };
        let outcome = wait(&waiter, &session);
        drop(scope);
        library.join().unwrap();
        assert_eq!(outcome.unwrap_err().code, ErrorCode::ConnectFailed);
        let me = thread::current().id();
        assert_eq!(*lock(&log), vec![("s1", me), ("p1", me), ("s2", me)]);
    }

    #[test]
    fn closing_the_owner_ends_the_wait() {
        let session = Handoff::<Plain>::new(Route::Direct);
        let waiter = Waiter::new();
        let _scope = WaitScope::new(&waiter, &session, &[]);
        let closer = {
            let session = session.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(30));
                session.close();
            })
        };
        let outcome = wait(&waiter, &session);
        closer.join().unwrap();
        assert_eq!(outcome.unwrap_err().message, "closed while waiting");
        // The core's completion, arriving late, is ignored.
        waiter.set_outcome(Ok(()));
    }

    #[test]
    fn close_waits_for_a_running_job_and_shuts_the_gate() {
        let handoff = Handoff::<Plain>::new(Route::Direct);
        let (started_tx, started_rx) = mpsc::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let library = {
            let (handoff, finished) = (handoff.clone(), finished.clone());
            thread::spawn(move || {
                handoff.deliver(Box::new(move || {
                    started_tx.send(()).unwrap();
                    thread::sleep(Duration::from_millis(100));
                    finished.store(true, Ordering::SeqCst);
                }));
            })
        };
        started_rx.recv().unwrap();
        assert!(matches!(handoff.close(), Route::Direct));
        assert!(
            finished.load(Ordering::SeqCst),
            "close returned during a job"
        );
        library.join().unwrap();
        let later = Arc::new(AtomicBool::new(false));
        let flag = later.clone();
        handoff.deliver(Box::new(move || flag.store(true, Ordering::SeqCst)));
        assert!(!later.load(Ordering::SeqCst), "a job ran after close");
        assert!(matches!(handoff.enter(), Entry::Closed));
        // A completion still owed runs past the gate, on the closing thread.
        let flag = later.clone();
        handoff.deliver_completion(Box::new(move || flag.store(true, Ordering::SeqCst)));
        assert!(later.load(Ordering::SeqCst));
    }

    #[test]
    fn close_from_inside_a_job_does_not_wait_for_itself() {
        let handoff = Handoff::<Plain>::new(Route::Direct);
        let inner = handoff.clone();
        let (done_tx, done_rx) = mpsc::channel();
        thread::spawn(move || {
            let closer = inner.clone();
            inner.deliver(Box::new(move || {
                closer.close();
                done_tx.send(()).unwrap();
            }));
        });
        done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(handoff.is_closed());
    }

    #[test]
    fn a_job_emitted_after_the_completion_waits_for_the_call_to_return() {
        // The waiting thread holds `interpreter` except while it waits, as a host thread
        // holds its interpreter; a job run on a library thread needs it too.
        let interpreter = Arc::new(Mutex::new(()));
        let session = Handoff::<Plain>::new(Route::Direct);
        let publisher = Handoff::<Plain>::new(Route::Direct);
        let waiter = Waiter::new();
        let scope = WaitScope::new(&waiter, &session, &[&publisher]);
        let returned = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(None));
        let me = thread::current().id();
        let library = {
            let (publisher, waiter) = (publisher.clone(), waiter.clone());
            let (interpreter, returned, seen) =
                (interpreter.clone(), returned.clone(), seen.clone());
            thread::spawn(move || {
                waiter.set_outcome(Ok(()));
                publisher.deliver(Box::new(move || {
                    let _attached = lock(&interpreter);
                    *lock(&seen) = Some((thread::current().id(), returned.load(Ordering::SeqCst)));
                }));
            })
        };
        let mut attached = Some(lock(&interpreter));
        let outcome = waiter.wait(
            &session,
            Duration::from_millis(10),
            |next| {
                attached.take();
                let wake = next();
                // Time for a job that did not wait to take the interpreter first.
                thread::sleep(Duration::from_millis(20));
                attached = Some(lock(&interpreter));
                wake
            },
            |handoff, slot| {
                slot.run(|job| run_gated(handoff, job));
                Ok::<(), ()>(())
            },
            || Ok(()),
            || Error::illegal_state("closed"),
        );
        assert!(outcome.unwrap().is_ok());
        returned.store(true, Ordering::SeqCst);
        drop(attached);
        drop(scope);
        library.join().unwrap();
        let (ran_on, after_return) = lock(&seen).expect("the job ran");
        assert_ne!(
            ran_on, me,
            "the returning thread ran a job emitted after its completion"
        );
        assert!(
            after_return,
            "a job emitted after the completion ran before the call returned"
        );
    }

    #[test]
    fn a_job_the_waiter_abandons_runs_on_the_library_thread() {
        let handoff = Handoff::<Plain>::new(Route::Direct);
        let waiter = Waiter::new();
        let scope = WaitScope::new(&waiter, &handoff, &[]);
        let log: Log = Arc::default();
        let library = library_thread(&handoff, &log, &["job"]);
        // Handed over, never run: the waiter stops waiting (interrupted) first.
        while lock(&waiter.state).inbox.is_empty() {
            thread::sleep(Duration::from_millis(1));
        }
        drop(scope);
        let library_thread = library.join().unwrap();
        assert_eq!(*lock(&log), vec![("job", library_thread)]);
    }

    #[test]
    fn an_event_loop_runs_its_handles_jobs_and_only_its_own_thread_waits_for_them() {
        let (_event_loop, route) = start_loop();
        let Route::Loop {
            thread: loop_thread,
            ..
        } = route.clone()
        else {
            unreachable!()
        };
        let handoff = Handoff::<Plain>::new(route);
        // A blocked call on another thread does not take the loop's jobs.
        let waiter = Waiter::new();
        let _scope = WaitScope::new(&waiter, &handoff, &[]);
        let log: Log = Arc::default();
        let library = library_thread(&handoff, &log, &["a", "b"]);
        library.join().unwrap();
        assert_eq!(*lock(&log), vec![("a", loop_thread), ("b", loop_thread)]);
        assert!(lock(&waiter.state).inbox.is_empty());
    }

    #[test]
    fn a_job_for_a_closed_event_loop_runs_on_the_library_thread() {
        let (event_loop, route) = start_loop();
        event_loop.closed.store(true, Ordering::SeqCst);
        let handoff = Handoff::<Plain>::new(route);
        let log: Log = Arc::default();
        let library = library_thread(&handoff, &log, &["job"]);
        let library_thread = library.join().unwrap();
        assert_eq!(*lock(&log), vec![("job", library_thread)]);
        // Closing returns the route, for the host to release its loop.
        assert!(matches!(handoff.close(), Route::Loop { .. }));
    }
}
