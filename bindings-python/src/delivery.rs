//! Where and when the Python callbacks of a publisher or a session run.
//!
//! The core calls back on each handle's own library thread, one callback at a time. The
//! contract wants them on "the Python thread that waits (or the asyncio loop)", so each core
//! callback is turned into a [`Job`] and handed over by the core's
//! [`libpublisher::host::handoff`]: to a [`Waiter`] (a Python thread blocked in a call runs
//! the jobs of the handles that call involves until the call's outcome arrives), otherwise
//! along the handle's [`Route`]: its asyncio loop (`call_soon_threadsafe`), or `Direct`: the
//! library thread attaches to the interpreter and runs the job itself. The rules (ordering,
//! one at a time, the gate `close` shuts, jobs emitted after a completion waiting for the
//! blocked call to return) are the core's; this file supplies what is Python's: attaching
//! to and detaching from the interpreter, `check_signals`, the asyncio loop, reporting
//! through `sys.unraisablehook`, garbage collection and keeping Python objects alive.
//!
//! Rules of this file, on top of the core's lock order (its wake-up hub, then any handoff's,
//! waiter's or slot's lock): nothing here holds a lock while waiting for the interpreter, and
//! the interpreter is never held while waiting for the core or for another thread — every
//! blocking call into `handoff` (`enter`, `close`, a waiter's wait) runs inside `py.detach`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::PyTraverseError;

use libpublisher::host::calls::closed_while_pending;
use libpublisher::host::handoff::{self, Entry, Handoff, Host, Slot};

use crate::errors::to_py_err;
use crate::handlers::{checked_callback, complete};

/// A Python callback to run. It returns an exception that must reach the code waiting on the
/// thread that ran it (`KeyboardInterrupt`, `SystemExit`); ordinary exceptions were already
/// reported through `sys.unraisablehook`.
pub(crate) type Job = Box<dyn for<'py> FnOnce(Python<'py>) -> Option<PyErr> + Send>;

/// Who runs a handle's callbacks when no blocked call takes them: `Direct` (the library
/// thread, attached for each callback) or an asyncio loop.
pub(crate) type Route = handoff::Route<Py<PyAny>>;
/// A Python thread blocked in a call.
pub(crate) type Waiter = handoff::Waiter<PyHost>;
/// Registers a [`Waiter`] on the handles of one call.
pub(crate) type WaitScope = handoff::WaitScope<PyHost>;

/// How often a waiting Python thread checks for signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The interpreter, as the core's handoff sees it.
pub(crate) struct PyHost;

impl Host for PyHost {
    type Job = Job;
    type EventLoop = Py<PyAny>;

    fn run_here(handoff: &Arc<Handoff<Self>>, job: Job) {
        Python::try_attach(|py| {
            if let Some(escalated) = run_guarded(py, handoff, job) {
                // Nothing on this thread could re-raise it.
                escalated.write_unraisable(py, None);
            }
        });
    }

    fn run_past_gate(job: Job) {
        Python::try_attach(|py| {
            if let Some(escalated) = contain(py, job) {
                escalated.write_unraisable(py, None);
            }
        });
    }

    fn post(event_loop: &Py<PyAny>, handoff: &Arc<Handoff<Self>>, slot: &Arc<Slot<Job>>) -> bool {
        let runner = LoopRunner {
            handoff: handoff.clone(),
            slot: slot.clone(),
        };
        Python::try_attach(|py| {
            Py::new(py, runner)
                .and_then(|runner| {
                    event_loop
                        .bind(py)
                        .call_method1(intern!(py, "call_soon_threadsafe"), (runner,))
                })
                .is_ok()
        })
        .unwrap_or(false)
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
}

/// Runs `job` on this thread through `handoff`'s gate: not once the handle is closed, and one
/// callback at a time.
fn run_guarded(py: Python<'_>, handoff: &Handoff<PyHost>, job: Job) -> Option<PyErr> {
    // Another thread may be inside a callback and need the interpreter to finish it.
    match py.detach(|| handoff.enter()) {
        Entry::Closed => {
            drop(job);
            None
        }
        Entry::Nested => contain(py, job),
        Entry::Entered(_running) => contain(py, job),
    }
}

/// Runs a handed-over job on this (Python) thread; the library thread is told it ran.
fn run_slot(py: Python<'_>, handoff: &Handoff<PyHost>, slot: &Slot<Job>) -> Option<PyErr> {
    slot.run(|job| run_guarded(py, handoff, job)).flatten()
}

// ----- one handle ----------------------------------------------------------------------------

/// Keeps the Python object alive while callback-form calls are pending, so that
/// `init_publisher(opts, callback=cb)` or `session.connect(callback=cb)` without keeping the
/// result still calls `cb`.
struct KeepAlive {
    pending: usize,
    object: Option<Py<PyAny>>,
}

/// What one publisher's or session's callbacks share. The core's closures hold it through an
/// `Arc`.
/// The completion a core call starts with: its outcome, from whichever thread completes it.
pub(crate) type Done = Box<dyn FnOnce(libpublisher::Result<()>) + Send>;

pub(crate) struct Shared {
    /// Where and when its callbacks run (the core's).
    pub(crate) handoff: Arc<Handoff<PyHost>>,
    /// Event handlers by snake_case name. Locked only while attached and never across a call
    /// into Python, so `__traverse__` can take it.
    handlers: Mutex<HashMap<&'static str, Vec<Py<PyAny>>>>,
    access_request: Mutex<Option<Py<PyAny>>>,
    keepalive: Mutex<KeepAlive>,
}

impl Shared {
    pub(crate) fn new(route: Route) -> Arc<Shared> {
        Arc::new(Shared {
            handoff: Handoff::new(route),
            handlers: Mutex::new(HashMap::new()),
            access_request: Mutex::new(None),
            keepalive: Mutex::new(KeepAlive {
                pending: 0,
                object: None,
            }),
        })
    }

    /// Makes the core call `what` for a method of `owner`, the Python object of the handle
    /// this belongs to (a `kind`: "session" or "publisher"). Without `callback`, it blocks
    /// with the GIL released, running the callbacks of this handle and of `others` meanwhile,
    /// and raises on failure; with one, it returns at once and later calls
    /// `callback(error_or_None)`, keeping `owner` and `keep` alive until then. Refused at
    /// once, it raises and no callback runs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn call(
        self: &Arc<Self>,
        owner: &Bound<'_, PyAny>,
        what: &'static str,
        kind: &'static str,
        callback: Option<Bound<'_, PyAny>>,
        others: &[&Arc<Shared>],
        keep: Option<Py<PyAny>>,
        start: impl FnOnce(Done) -> libpublisher::Result<()> + Send,
    ) -> PyResult<()> {
        let py = owner.py();
        let Some(callback) = checked_callback(py, callback)? else {
            let instead = "pass callback= or use libpublisher.aio";
            let other = others.first().map(|s| &*s.handoff);
            Handoff::check_blocking_call(what, &self.handoff, other, instead)
                .map_err(|e| to_py_err(py, &e))?;
            let waiter = Waiter::new();
            let other_handoffs: Vec<_> = others.iter().map(|s| &s.handoff).collect();
            // Registered before the core starts, so that the first callback already finds it.
            let scope = WaitScope::new(&waiter, &self.handoff, &other_handoffs);
            let done_waiter = waiter.clone();
            let done: Done = Box::new(move |outcome| done_waiter.set_outcome(outcome));
            py.detach(|| start(done)).map_err(|e| to_py_err(py, &e))?;
            let outcome = self.wait_for_outcome(py, &waiter, || closed_while_pending(what, kind));
            drop(scope);
            return outcome?.map_err(|e| to_py_err(py, &e));
        };
        // Until the callback ran, the handle (and `keep`) stay alive even if the host dropped
        // them: `init_session(url).connect(callback=cb)` still calls `cb`.
        self.hold(Some(owner.clone().unbind()));
        let callback = callback.unbind();
        let shared = self.clone();
        let done: Done = Box::new(move |outcome| {
            let job_shared = shared.clone();
            shared.deliver_completion(Box::new(move |py| {
                // Released after the callback, which may use them.
                let _owner = job_shared.release();
                let _keep = keep;
                complete(py, &callback, outcome)
            }));
        });
        match py.detach(|| start(done)) {
            Ok(()) => Ok(()),
            Err(e) => {
                drop(self.release());
                Err(to_py_err(py, &e))
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.handoff.is_closed()
    }

    /// Runs `job` where this handle's callbacks belong and returns once it ran or was
    /// dropped because the handle closed. Called on a library thread, never attached.
    pub(crate) fn deliver(&self, job: Job) {
        self.handoff.deliver(job);
    }

    /// Delivers a call's completion; on a closed handle it runs on this thread (see
    /// [`Handoff::deliver_completion`]).
    pub(crate) fn deliver_completion(&self, job: Job) {
        self.handoff.deliver_completion(job);
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

    // ----- closing -----

    /// Shuts the gate: when this returns no callback is running on another thread and none
    /// will start. Returns the Python objects the handle held, for the caller to drop.
    pub(crate) fn close(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        let route = py.detach(|| self.handoff.close());
        let mut held = self.clear();
        held.extend(lock(&self.keepalive).object.take());
        if let Route::Loop { event_loop, .. } = route {
            held.extend(Arc::into_inner(event_loop));
        }
        held
    }

    /// Closes a handle garbage-collected while the interpreter shuts down, without waiting
    /// for it (see [`Handoff::close_elsewhere`]); `close` is the core's.
    pub(crate) fn close_at_shutdown(&self, close: impl FnOnce() + Send + 'static) {
        self.handoff.close_elsewhere(close);
    }

    // ----- a Python thread blocked in a call -----

    /// Runs the jobs handed to `waiter` on the calling thread until its outcome arrives, this
    /// handle is closed (`Ok(Err(closed()))`), or a signal handler raises (`Err`). The waiter
    /// must be registered (a [`WaitScope`]) before the call starts. It leaves the waiter
    /// while attached, which is what a job emitted after the completion waits for.
    pub(crate) fn wait_for_outcome(
        &self,
        py: Python<'_>,
        waiter: &Waiter,
        closed: impl FnOnce() -> libpublisher::Error,
    ) -> PyResult<libpublisher::Result<()>> {
        waiter.wait(
            &self.handoff,
            SIGNAL_POLL,
            |next| py.detach(next),
            |handoff, slot| run_slot(py, handoff, slot).map_or(Ok(()), Err),
            || py.check_signals(),
            closed,
        )
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

/// Runs a job so that a Rust panic inside it is reported, never unwound into the caller.
fn contain(py: Python<'_>, job: Job) -> Option<PyErr> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| job(py))) {
        Ok(escalated) => escalated,
        Err(payload) => {
            let error = libpublisher::Error::from_panic("a callback", &*payload);
            PanicException::new_err(error.message).write_unraisable(py, None);
            None
        }
    }
}

/// A job posted to an asyncio loop with `call_soon_threadsafe`.
#[pyclass(frozen, module = "libpublisher._native")]
pub(crate) struct LoopRunner {
    handoff: Arc<Handoff<PyHost>>,
    slot: Arc<Slot<Job>>,
}

#[pymethods]
impl LoopRunner {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        match run_slot(py, &self.handoff, &self.slot) {
            Some(escalated) => Err(escalated),
            None => Ok(()),
        }
    }
}
