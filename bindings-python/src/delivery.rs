//! Where and when the Python callbacks of a publisher or a session run.
//!
//! The core calls back on each handle's own library thread, one callback at a time. The
//! contract wants them on "the Python thread that waits (or the asyncio loop)", so each core
//! callback is turned into a [`Job`] and handed over:
//!
//! - to a [`Waiter`]: a Python thread blocked in a call (`init_publisher`, `session.connect`,
//!   `session.publish(publisher)` ...) runs the jobs of the handles that call involves until
//!   the call's outcome arrives;
//! - otherwise along the handle's [`Route`]: its asyncio loop (`call_soon_threadsafe`), or
//!   `Direct`: the library thread attaches to the interpreter and runs the job itself.
//!
//! A handle whose callbacks belong to an asyncio loop lets only a waiter on the loop's own
//! thread take them, so a handler of a `libpublisher.aio` object always runs on its loop.
//!
//! The library thread waits until a handed-over job has run, so the core's ordering and
//! one-at-a-time guarantees carry over unchanged. Every Python callback runs through a gate
//! (`State::running_on`) that `close` shuts: once `close` returns, no callback of the handle
//! is running (unless `close` was called from inside one, which is then the last) and none
//! will start. Nothing here holds a lock while waiting for the interpreter, and the
//! interpreter is never held while waiting for the core or for another thread.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::PyTraverseError;

/// A Python callback to run. It returns an exception that must reach the code waiting on the
/// thread that ran it (`KeyboardInterrupt`, `SystemExit`); ordinary exceptions were already
/// reported through `sys.unraisablehook`.
pub(crate) type Job = Box<dyn for<'py> FnOnce(Python<'py>) -> Option<PyErr> + Send>;

/// How often a waiting Python thread checks for signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);
/// How often the library thread checks that an asyncio loop it handed a job to is still open.
const LOOP_POLL: Duration = Duration::from_millis(250);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ----- wake-ups ------------------------------------------------------------------------------

// A blocked call waits on jobs from several handles at once (a session and a publisher), so
// every change anyone may wait for is announced on one process-wide condition variable. The
// few threads that wait here re-check their own condition on each announcement.
//
// Lock order: HUB, then any handle's, waiter's or slot's lock. So `announce` is only ever
// called with no other lock held, and `wait_for`'s condition takes no lock that is held
// while announcing.
static HUB: Mutex<()> = Mutex::new(());
static CHANGED: Condvar = Condvar::new();

fn announce() {
    drop(lock(&HUB));
    CHANGED.notify_all();
}

/// Waits until `ready` gives a value, or `timeout` passed (`None`). Never attached.
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
#[derive(Clone)]
pub(crate) enum Route {
    /// The library thread, attached to the interpreter for each callback.
    Direct,
    /// An asyncio event loop, running on `thread`.
    Loop {
        event_loop: Arc<Py<PyAny>>,
        thread: ThreadId,
    },
}

impl Route {
    /// Callbacks run on `event_loop`, which runs on the calling thread.
    pub(crate) fn event_loop(event_loop: Py<PyAny>) -> Route {
        Route::Loop {
            event_loop: Arc::new(event_loop),
            thread: thread::current().id(),
        }
    }
}

/// A job handed to another thread, and what became of it.
pub(crate) struct Slot {
    job: Mutex<Option<Job>>,
    done: AtomicBool,
    /// The other thread will not run it: whoever still finds the job runs it.
    abandoned: AtomicBool,
}

impl Slot {
    fn new(job: Job) -> Arc<Slot> {
        Arc::new(Slot {
            job: Mutex::new(Some(job)),
            done: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        })
    }

    /// The job, unless another thread already took it.
    fn take(&self) -> Option<Job> {
        lock(&self.job).take()
    }

    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        announce();
    }

    fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        announce();
    }
}

/// A Python thread blocked in a call: it runs the jobs handed to it until the call's outcome
/// arrives. Registered on every handle the call involves (see [`WaitScope`]).
pub(crate) struct Waiter {
    thread: ThreadId,
    /// Cleared, under `state`'s lock, once the outcome arrived or the thread stopped waiting.
    accepting: AtomicBool,
    /// Set, under `state`'s lock, once the thread stopped waiting and holds the interpreter.
    left: AtomicBool,
    state: Mutex<WaiterState>,
}

struct WaiterState {
    inbox: VecDeque<(Arc<Shared>, Arc<Slot>)>,
    outcome: Option<libpublisher::Result<()>>,
}

enum Next {
    Job(Arc<Shared>, Arc<Slot>),
    Outcome(libpublisher::Result<()>),
}

impl Waiter {
    /// A waiter for the calling thread.
    pub(crate) fn new() -> Arc<Waiter> {
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

    fn accepts(&self, route: &Route) -> bool {
        self.accepting.load(Ordering::SeqCst)
            && match route {
                Route::Direct => true,
                Route::Loop { thread, .. } => *thread == self.thread,
            }
    }

    fn offer(&self, shared: Arc<Shared>, slot: Arc<Slot>) -> bool {
        {
            let mut st = lock(&self.state);
            if !self.accepting.load(Ordering::SeqCst) {
                return false;
            }
            st.inbox.push_back((shared, slot));
        }
        announce();
        true
    }

    /// Its outcome arrived but the thread is not back in Python yet.
    fn is_returning(&self) -> bool {
        !self.accepting.load(Ordering::SeqCst) && !self.left.load(Ordering::SeqCst)
    }

    /// The call's outcome (the core's completion, on a library thread). The jobs already
    /// handed over run before it is returned; later ones go to their handle's route once the
    /// call has returned (see [`Shared::deliver`]), since the core emits them after the
    /// completion.
    pub(crate) fn set_outcome(&self, outcome: libpublisher::Result<()>) {
        {
            let mut st = lock(&self.state);
            if !self.accepting.swap(false, Ordering::SeqCst) {
                return; // the thread stopped waiting (closed, interrupted)
            }
            st.outcome = Some(outcome);
        }
        announce();
    }

    fn next(&self) -> Option<Next> {
        let mut st = lock(&self.state);
        if let Some((shared, slot)) = st.inbox.pop_front() {
            return Some(Next::Job(shared, slot));
        }
        st.outcome.take().map(Next::Outcome)
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
}

/// Registers a waiter on the handles of one call, and unregisters it when dropped.
pub(crate) struct WaitScope {
    waiter: Arc<Waiter>,
    handles: Vec<Arc<Shared>>,
}

impl WaitScope {
    /// `owner` completes the call (the session of `publish`); `others` take part in it (the
    /// publisher).
    pub(crate) fn new(
        waiter: &Arc<Waiter>,
        owner: &Arc<Shared>,
        others: &[&Arc<Shared>],
    ) -> WaitScope {
        let mut handles = vec![owner.clone()];
        owner.state().waiters.push(Registered {
            waiter: waiter.clone(),
            owner: true,
        });
        for shared in others {
            shared.state().waiters.push(Registered {
                waiter: waiter.clone(),
                owner: false,
            });
            handles.push((*shared).clone());
        }
        WaitScope {
            waiter: waiter.clone(),
            handles,
        }
    }
}

impl Drop for WaitScope {
    fn drop(&mut self) {
        self.waiter.leave();
        for shared in &self.handles {
            shared
                .state()
                .waiters
                .retain(|r| !Arc::ptr_eq(&r.waiter, &self.waiter));
        }
    }
}

// ----- one handle ----------------------------------------------------------------------------

struct State {
    closed: bool,
    /// The thread running one of this handle's Python callbacks, if any.
    running_on: Option<ThreadId>,
    route: Route,
    /// Blocked calls that take this handle's jobs, innermost last.
    waiters: Vec<Registered>,
}

struct Registered {
    waiter: Arc<Waiter>,
    /// This handle completes the call.
    owner: bool,
}

/// Keeps the Python object alive while callback-form calls are pending, so that
/// `init_publisher(opts, callback=cb)` or `session.connect(callback=cb)` without keeping the
/// result still calls `cb`.
struct KeepAlive {
    pending: usize,
    object: Option<Py<PyAny>>,
}

/// What one publisher's or session's callbacks share. The core's closures hold it through an
/// `Arc`.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Event handlers by snake_case name. Locked only while attached and never across a call
    /// into Python, so `__traverse__` can take it.
    handlers: Mutex<HashMap<&'static str, Vec<Py<PyAny>>>>,
    access_request: Mutex<Option<Py<PyAny>>>,
    keepalive: Mutex<KeepAlive>,
}

enum Target {
    Waiter(Arc<Waiter>),
    /// A call involving this handle got its outcome and is returning.
    AfterReturn(Arc<Waiter>),
    Route(Route),
}

enum SlotWake {
    Done,
    Closed,
    Abandoned(Job),
}

enum Wake {
    Job(Arc<Shared>, Arc<Slot>),
    Outcome(libpublisher::Result<()>),
    Closed,
}

enum Entry {
    Entered,
    Nested,
    Closed,
}

impl Shared {
    pub(crate) fn new(route: Route) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                closed: false,
                running_on: None,
                route,
                waiters: Vec::new(),
            }),
            handlers: Mutex::new(HashMap::new()),
            access_request: Mutex::new(None),
            keepalive: Mutex::new(KeepAlive {
                pending: 0,
                object: None,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Whether the calling thread is inside one of this handle's callbacks.
    pub(crate) fn runs_callback_here(&self) -> bool {
        self.state().running_on == Some(thread::current().id())
    }

    // ----- handlers -----

    pub(crate) fn add_handler(&self, event: &'static str, handler: Py<PyAny>) {
        lock(&self.handlers).entry(event).or_default().push(handler);
    }

    /// Removes `handler` (compared by identity) or, without one, every handler of `event`;
    /// returns what was removed so that it is dropped outside the lock.
    pub(crate) fn remove_handlers(
        &self,
        event: &'static str,
        handler: Option<&Bound<'_, PyAny>>,
    ) -> Vec<Py<PyAny>> {
        let mut handlers = lock(&self.handlers);
        let Some(list) = handlers.get_mut(event) else {
            return Vec::new();
        };
        match handler {
            None => std::mem::take(list),
            Some(h) => match list.iter().position(|x| x.as_ptr() == h.as_ptr()) {
                Some(i) => vec![list.remove(i)],
                None => Vec::new(),
            },
        }
    }

    pub(crate) fn handlers_of(&self, py: Python<'_>, event: &str) -> Vec<Py<PyAny>> {
        lock(&self.handlers)
            .get(event)
            .map(|list| list.iter().map(|h| h.clone_ref(py)).collect())
            .unwrap_or_default()
    }

    pub(crate) fn set_access_request(&self, callable: Option<Py<PyAny>>) {
        // The previous one is released after the lock: its finalizer may run Python code.
        let previous = std::mem::replace(&mut *lock(&self.access_request), callable);
        drop(previous);
    }

    pub(crate) fn access_request(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        lock(&self.access_request).as_ref().map(|c| c.clone_ref(py))
    }

    // ----- keeping the Python object alive -----

    /// A callback-form call starts: keeps `object` (or, without one, the object given to
    /// [`Shared::keep`] later) alive until the matching [`Shared::release`].
    pub(crate) fn hold(&self, object: Option<Py<PyAny>>) {
        let mut keep = lock(&self.keepalive);
        keep.pending += 1;
        let spare = if keep.object.is_none() {
            keep.object = object;
            None
        } else {
            object
        };
        drop(keep);
        drop(spare);
    }

    /// The object to keep, once it exists; dropped if its pending calls all finished.
    pub(crate) fn keep(&self, object: Py<PyAny>) {
        let mut keep = lock(&self.keepalive);
        if keep.pending > 0 && keep.object.is_none() {
            keep.object = Some(object);
        }
    }

    /// A callback-form call finished (or never started); returns the object once nothing is
    /// pending, for the caller to drop after its callback ran.
    pub(crate) fn release(&self) -> Option<Py<PyAny>> {
        let mut keep = lock(&self.keepalive);
        keep.pending = keep.pending.saturating_sub(1);
        if keep.pending == 0 {
            keep.object.take()
        } else {
            None
        }
    }

    // ----- the gate -----

    /// Runs `job` on this thread unless the handle is closed, one callback at a time.
    pub(crate) fn run_guarded(&self, py: Python<'_>, job: Job) -> Option<PyErr> {
        let me = thread::current().id();
        // Another thread may be inside a callback and need the interpreter to finish it.
        let entry = py.detach(|| {
            wait_for(None, || {
                let mut st = self.state();
                if st.closed {
                    return Some(Entry::Closed);
                }
                match st.running_on {
                    None => {
                        st.running_on = Some(me);
                        Some(Entry::Entered)
                    }
                    Some(t) if t == me => Some(Entry::Nested),
                    Some(_) => None,
                }
            })
            .unwrap_or(Entry::Closed)
        });
        match entry {
            Entry::Closed => {
                drop(job);
                None
            }
            Entry::Nested => contain(py, job),
            Entry::Entered => {
                let _running = Running(self);
                contain(py, job)
            }
        }
    }

    /// Shuts the gate: when this returns no callback is running on another thread and none
    /// will start. Returns the Python objects the handle held, for the caller to drop.
    pub(crate) fn close(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        let me = thread::current().id();
        let route = py.detach(|| {
            self.state().closed = true;
            announce();
            wait_for(None, || {
                let st = self.state();
                (!matches!(st.running_on, Some(t) if t != me)).then_some(())
            });
            std::mem::replace(&mut self.state().route, Route::Direct)
        });
        let mut held = self.clear();
        held.extend(lock(&self.keepalive).object.take());
        if let Route::Loop { event_loop, .. } = route {
            held.extend(Arc::into_inner(event_loop));
        }
        held
    }

    /// Marks the handle closed without waiting (no interpreter available).
    pub(crate) fn close_without_python(&self) {
        self.state().closed = true;
        announce();
    }

    /// Closes a handle garbage-collected while the interpreter shuts down: a callback running
    /// on the library thread can never get the interpreter back to finish, so waiting for it
    /// would hang the exit. `close` (the core's) runs on a thread of its own instead; without a
    /// thread to spare the process is going away anyway, with nothing to undo.
    pub(crate) fn close_at_shutdown(&self, close: impl FnOnce() + Send + 'static) {
        self.close_without_python();
        let _ = thread::Builder::new()
            .name("lp-python-close".to_owned())
            .spawn(close);
    }

    // ----- handing jobs over -----

    /// Delivers a call's completion as [`Shared::deliver`] does, except on a closed handle:
    /// the core completes the calls still pending (1015) while it closes, and `close` returns
    /// only after they ran, so there it runs on this thread, past the closed gate.
    pub(crate) fn deliver_completion(self: &Arc<Self>, job: Job) {
        if !self.is_closed() {
            return self.deliver(job);
        }
        Python::try_attach(|py| {
            if let Some(escalated) = contain(py, job) {
                escalated.write_unraisable(py, None);
            }
        });
    }

    /// Runs `job` where this handle's callbacks belong and returns once it ran or was
    /// dropped because the handle closed. Called on a library thread, never attached.
    pub(crate) fn deliver(self: &Arc<Self>, mut job: Job) {
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
                    // Emitted after the completion (`stream_created` after `publish`): it must
                    // not start before the blocked call has returned. Once that thread holds
                    // the interpreter again, this one needs it too, so the call returns first.
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
                Target::Route(Route::Direct) => return self.run_here(job),
                Target::Route(Route::Loop { event_loop, .. }) => {
                    let slot = Slot::new(job);
                    let runner = LoopRunner {
                        shared: self.clone(),
                        slot: slot.clone(),
                    };
                    let posted = Python::try_attach(|py| {
                        Py::new(py, runner)
                            .and_then(|runner| {
                                event_loop
                                    .bind(py)
                                    .call_method1(intern!(py, "call_soon_threadsafe"), (runner,))
                            })
                            .is_ok()
                    })
                    .unwrap_or(false);
                    if !posted {
                        // The loop is closed: nobody else will run it.
                        slot.abandon();
                    }
                    if let Some(job) = self.await_slot(&slot, Some(&event_loop)) {
                        self.run_here(job);
                    }
                    return;
                }
            }
        }
    }

    /// Waits until the job in `slot` ran elsewhere (`None`), or returns it when the other
    /// side abandoned it before starting.
    fn await_slot(&self, slot: &Arc<Slot>, event_loop: Option<&Arc<Py<PyAny>>>) -> Option<Job> {
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
                        if loop_is_closed(event_loop) {
                            slot.abandon();
                        }
                    }
                }
            }
        }
    }

    /// Runs `job` on the library thread.
    fn run_here(&self, job: Job) {
        Python::try_attach(|py| {
            if let Some(escalated) = self.run_guarded(py, job) {
                // Nothing on this thread could re-raise it.
                escalated.write_unraisable(py, None);
            }
        });
    }

    /// Runs a handed-over job on this (Python) thread and tells the library thread.
    fn run_slot(&self, py: Python<'_>, slot: &Slot) -> Option<PyErr> {
        let escalated = slot.take().and_then(|job| self.run_guarded(py, job));
        slot.finish();
        escalated
    }

    // ----- a Python thread blocked in a call -----

    /// Runs the jobs handed to `waiter` on the calling thread until its outcome arrives, this
    /// handle is closed (`Ok(Err(closed()))`), or a signal handler raises (`Err`). The waiter
    /// must be registered (a [`WaitScope`]) before the call starts. It leaves the waiter
    /// while attached, which is what [`Shared::deliver`] waits for.
    pub(crate) fn wait_for_outcome(
        &self,
        py: Python<'_>,
        waiter: &Waiter,
        closed: impl FnOnce() -> libpublisher::Error,
    ) -> PyResult<libpublisher::Result<()>> {
        let result = loop {
            let wake = py.detach(|| {
                wait_for(Some(SIGNAL_POLL), || match waiter.next() {
                    Some(Next::Job(shared, slot)) => Some(Wake::Job(shared, slot)),
                    Some(Next::Outcome(outcome)) => Some(Wake::Outcome(outcome)),
                    None => self.is_closed().then_some(Wake::Closed),
                })
            });
            match wake {
                Some(Wake::Job(shared, slot)) => {
                    if let Some(escalated) = shared.run_slot(py, &slot) {
                        break Err(escalated);
                    }
                }
                Some(Wake::Outcome(outcome)) => break Ok(outcome),
                Some(Wake::Closed) => break Ok(Err(closed())),
                None => {
                    if let Err(e) = py.check_signals() {
                        break Err(e);
                    }
                }
            }
        };
        waiter.leave();
        result
    }

    // ----- garbage collection -----

    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Skipping a busy lock under-reports references, which only keeps objects alive.
        if let Ok(handlers) = self.handlers.try_lock() {
            for handler in handlers.values().flatten() {
                visit.call(handler)?;
            }
        }
        if let Ok(callable) = self.access_request.try_lock() {
            if let Some(callable) = callable.as_ref() {
                visit.call(callable)?;
            }
        }
        // The keepalive is deliberately not reported: it is a root while a call is pending.
        Ok(())
    }

    /// Takes the handlers and the consent callable, for the caller to drop.
    pub(crate) fn clear(&self) -> Vec<Py<PyAny>> {
        let mut taken: Vec<Py<PyAny>> = lock(&self.handlers)
            .drain()
            .flat_map(|(_, list)| list)
            .collect();
        taken.extend(lock(&self.access_request).take());
        taken
    }
}

/// Clears `running_on` when a callback ends, even by a panic.
struct Running<'a>(&'a Shared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.state().running_on = None;
        announce();
    }
}

/// Runs a job so that a Rust panic inside it is reported, never unwound into the caller.
fn contain(py: Python<'_>, job: Job) -> Option<PyErr> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| job(py))) {
        Ok(escalated) => escalated,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a callback panicked".to_owned());
            PanicException::new_err(message).write_unraisable(py, None);
            None
        }
    }
}

fn loop_is_closed(event_loop: &Py<PyAny>) -> bool {
    Python::try_attach(|py| {
        event_loop
            .bind(py)
            .call_method0(intern!(py, "is_closed"))
            .and_then(|closed| closed.is_truthy())
            .unwrap_or(true)
    })
    .unwrap_or(true)
}

/// A job posted to an asyncio loop with `call_soon_threadsafe`.
#[pyclass(frozen, module = "libpublisher._native")]
pub(crate) struct LoopRunner {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
}

#[pymethods]
impl LoopRunner {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        match self.shared.run_slot(py, &self.slot) {
            Some(escalated) => Err(escalated),
            None => Ok(()),
        }
    }
}
