//! Where and when a publisher's Python callbacks run.
//!
//! The core calls back on the publisher's own library thread, one callback at a time. The
//! contract wants them on "the Python thread that waits (or the asyncio loop)", so each core
//! callback is turned into a [`Job`] and handed over along the publisher's [`Route`]:
//!
//! - `Waiter`: the thread blocked in `init_publisher` runs it (consent prompts, event handlers
//!   and the outcome all happen on the caller's thread, like a synchronous API should);
//! - `Loop`: an asyncio loop runs it through `call_soon_threadsafe`;
//! - `Direct`: nobody waits (callback form, events after a blocking call returned), so the
//!   library thread attaches to the interpreter and runs it itself.
//!
//! The library thread waits until a handed-over job has run, so the core's ordering and
//! one-at-a-time guarantees carry over unchanged. Every Python callback runs through a gate
//! (`State::running_on`) that `close` shuts: once `close` returns, no callback of this
//! publisher is running (unless `close` was called from inside one, which is then the last)
//! and none will start. Nothing here holds a lock while waiting for the interpreter, and the
//! interpreter is never held while waiting for the core or for another thread.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::Duration;

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

/// Who runs this publisher's callbacks now.
#[derive(Clone)]
pub(crate) enum Route {
    /// The library thread, attached to the interpreter for each callback.
    Direct,
    /// The Python thread blocked in `init_publisher`.
    Waiter,
    /// An asyncio event loop.
    Loop(Arc<Py<PyAny>>),
}

/// A job handed to another thread, and what became of it.
pub(crate) struct Slot {
    job: Mutex<Option<Job>>,
    // Both flags change under `Shared::state`'s lock and are announced on `Shared::changed`.
    done: AtomicBool,
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
        self.job
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

struct State {
    closed: bool,
    /// The thread running one of this publisher's Python callbacks, if any.
    running_on: Option<ThreadId>,
    route: Route,
    /// A job for the thread blocked in `init_publisher`.
    inbox: Option<Arc<Slot>>,
    /// `init_publisher`'s outcome, for the thread blocked in it.
    outcome: Option<libpublisher::Result<()>>,
}

struct KeepAlive {
    init_done: bool,
    publisher: Option<Py<PyAny>>,
}

/// What one publisher's callbacks share. The core's closures hold it through an `Arc`.
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Event handlers by snake_case name. Locked only while attached and never across a call
    /// into Python, so `__traverse__` can take it.
    handlers: Mutex<HashMap<&'static str, Vec<Py<PyAny>>>>,
    access_request: Mutex<Option<Py<PyAny>>>,
    /// In the callback form the publisher object stays alive until its completion has run,
    /// so `init_publisher(opts, callback=cb)` without keeping the result still calls `cb`.
    keepalive: Mutex<KeepAlive>,
}

enum Wake {
    Job(Arc<Slot>),
    Outcome(libpublisher::Result<()>),
    Closed,
    Tick,
}

enum Entry {
    Entered,
    Nested,
    Closed,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(route: Route) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                closed: false,
                running_on: None,
                route,
                inbox: None,
                outcome: None,
            }),
            changed: Condvar::new(),
            handlers: Mutex::new(HashMap::new()),
            access_request: Mutex::new(None),
            keepalive: Mutex::new(KeepAlive {
                init_done: false,
                publisher: None,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_timeout<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> (MutexGuard<'a, State>, bool) {
        let (guard, result) = self
            .changed
            .wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        (guard, result.timed_out())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
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

    /// Keeps `publisher` alive until [`Shared::init_finished`] (or `close`).
    pub(crate) fn keep_alive_until_done(&self, publisher: Py<PyAny>) {
        let mut keep = lock(&self.keepalive);
        if !keep.init_done {
            keep.publisher = Some(publisher);
        }
    }

    /// The completion ran: the publisher no longer needs to keep itself alive.
    pub(crate) fn init_finished(&self) -> Option<Py<PyAny>> {
        let mut keep = lock(&self.keepalive);
        keep.init_done = true;
        keep.publisher.take()
    }

    // ----- the gate -----

    /// Runs `job` on this thread unless the publisher is closed, one callback at a time.
    pub(crate) fn run_guarded(&self, py: Python<'_>, job: Job) -> Option<PyErr> {
        let me = thread::current().id();
        // Another thread may be inside a callback and need the interpreter to finish it.
        let entry = py.detach(|| {
            let mut st = self.state();
            loop {
                if st.closed {
                    return Entry::Closed;
                }
                match st.running_on {
                    None => {
                        st.running_on = Some(me);
                        return Entry::Entered;
                    }
                    Some(t) if t == me => return Entry::Nested,
                    Some(_) => st = self.wait(st),
                }
            }
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
    /// will start. Returns the Python objects the publisher held, for the caller to drop.
    pub(crate) fn close(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        let me = thread::current().id();
        let route = py.detach(|| {
            let mut st = self.state();
            st.closed = true;
            st.inbox = None;
            self.changed.notify_all();
            while matches!(st.running_on, Some(t) if t != me) {
                st = self.wait(st);
            }
            std::mem::replace(&mut st.route, Route::Direct)
        });
        let mut held = self.take_python_refs();
        if let Route::Loop(event_loop) = route {
            held.extend(Arc::into_inner(event_loop));
        }
        held
    }

    /// Marks the publisher closed without waiting (no interpreter available).
    pub(crate) fn close_without_python(&self) {
        let mut st = self.state();
        st.closed = true;
        st.inbox = None;
        self.changed.notify_all();
    }

    fn take_python_refs(&self) -> Vec<Py<PyAny>> {
        let mut taken: Vec<Py<PyAny>> = lock(&self.handlers)
            .drain()
            .flat_map(|(_, list)| list)
            .collect();
        taken.extend(lock(&self.access_request).take());
        taken.extend(self.init_finished());
        taken
    }

    // ----- handing jobs over -----

    /// Runs `job` where this publisher's callbacks belong and returns once it ran or was
    /// dropped because the publisher closed. Called on the library thread, never attached.
    pub(crate) fn deliver(self: &Arc<Self>, job: Job) {
        let route = {
            let st = self.state();
            if st.closed {
                return;
            }
            st.route.clone()
        };
        match route {
            Route::Direct => self.run_here(job),
            Route::Waiter => {
                let slot = Slot::new(job);
                {
                    let mut st = self.state();
                    if matches!(st.route, Route::Waiter) && st.inbox.is_none() {
                        st.inbox = Some(slot.clone());
                        self.changed.notify_all();
                    } else {
                        slot.abandoned.store(true, Ordering::SeqCst);
                    }
                }
                self.await_slot(&slot, None);
            }
            Route::Loop(event_loop) => {
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
                    self.abandon(&slot);
                }
                self.await_slot(&slot, Some(&event_loop));
            }
        }
    }

    fn abandon(&self, slot: &Slot) {
        let _st = self.state();
        slot.abandoned.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn await_slot(&self, slot: &Arc<Slot>, event_loop: Option<&Arc<Py<PyAny>>>) {
        loop {
            let mut st = self.state();
            if slot.done.load(Ordering::SeqCst) {
                return;
            }
            if st.closed {
                drop(st);
                // Never started: it must not start now. Already running elsewhere: `close`
                // waits for it there, and the core must not wait for us meanwhile.
                drop(slot.take());
                return;
            }
            if slot.abandoned.load(Ordering::SeqCst) {
                drop(st);
                if let Some(job) = slot.take() {
                    self.run_here(job);
                    return;
                }
                // The other thread took it before giving up: it finishes it.
                st = self.state();
                if slot.done.load(Ordering::SeqCst) || st.closed {
                    continue;
                }
            }
            let (st, timed_out) = self.wait_timeout(st, LOOP_POLL);
            drop(st);
            if let (true, Some(event_loop)) = (timed_out, event_loop) {
                if loop_is_closed(event_loop) {
                    self.abandon(slot);
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
        let _st = self.state();
        slot.done.store(true, Ordering::SeqCst);
        self.changed.notify_all();
        escalated
    }

    // ----- the thread blocked in init_publisher -----

    /// Sets the blocking caller's outcome (the core's completion, on the library thread).
    pub(crate) fn set_outcome(&self, outcome: libpublisher::Result<()>) {
        let mut st = self.state();
        if matches!(st.route, Route::Waiter) {
            st.outcome = Some(outcome);
            self.changed.notify_all();
        }
    }

    /// Runs this publisher's callbacks on the calling thread until the outcome arrives, the
    /// publisher is closed elsewhere (`Ok(Err(1015))`), or a signal handler raises (`Err`).
    /// Afterwards callbacks run on the library thread.
    pub(crate) fn wait_for_outcome(&self, py: Python<'_>) -> PyResult<libpublisher::Result<()>> {
        let result = loop {
            let wake = py.detach(|| {
                let mut st = self.state();
                loop {
                    if let Some(slot) = st.inbox.take() {
                        return Wake::Job(slot);
                    }
                    if let Some(outcome) = st.outcome.take() {
                        return Wake::Outcome(outcome);
                    }
                    if st.closed {
                        return Wake::Closed;
                    }
                    let (guard, timed_out) = self.wait_timeout(st, SIGNAL_POLL);
                    st = guard;
                    if timed_out {
                        return Wake::Tick;
                    }
                }
            });
            match wake {
                Wake::Job(slot) => {
                    if let Some(escalated) = self.run_slot(py, &slot) {
                        break Err(escalated);
                    }
                }
                Wake::Outcome(outcome) => break Ok(outcome),
                Wake::Closed => {
                    break Ok(Err(libpublisher::Error::illegal_state(
                        "the publisher was closed before init_publisher completed",
                    )))
                }
                Wake::Tick => {
                    if let Err(e) = py.check_signals() {
                        break Err(e);
                    }
                }
            }
        };
        let mut st = self.state();
        st.route = Route::Direct;
        if let Some(slot) = st.inbox.take() {
            slot.abandoned.store(true, Ordering::SeqCst);
        }
        self.changed.notify_all();
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
        // The keepalive is deliberately not reported: it is a root until the completion runs.
        Ok(())
    }

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
        let mut st = self.0.state();
        st.running_on = None;
        self.0.changed.notify_all();
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
