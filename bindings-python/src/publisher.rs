//! `init_publisher`, the `Publisher` handle and the small value classes around it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple};
use pyo3::PyTraverseError;

use libpublisher::{PublisherEvent, PublisherSettings, PUBLISHER_EVENT_NAMES};

use crate::delivery::{Job, Route, Shared};
use crate::errors::{error_object, invalid, is_ordinary, reason_object, to_py_err};
use crate::options::{self, mapping_items, type_name};

/// `accessAllowed` → `access_allowed`, the spelling `PublisherEvent::snake_name` gives.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The core's publisher event names, snake_case, in the core's order.
pub(crate) fn snake_event_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        PUBLISHER_EVENT_NAMES
            .iter()
            .map(|name| &*Box::leak(snake_case(name).into_boxed_str()))
            .collect()
    })
}

fn event_key(py: Python<'_>, name: &str) -> PyResult<&'static str> {
    snake_event_names()
        .iter()
        .copied()
        .find(|known| *known == name)
        .ok_or_else(|| {
            invalid(
                py,
                "event",
                format!(
                    "unknown publisher event {name:?}; the events are {}",
                    snake_event_names().join(", ")
                ),
            )
        })
}

fn python_repr(py: Python<'_>, value: Option<&str>) -> String {
    match value {
        None => "None".to_owned(),
        Some(s) => PyString::new(py, s)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| format!("{s:?}")),
    }
}

/// A capture device from `get_devices()`.
#[pyclass(frozen, eq, hash, get_all, module = "libpublisher")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Device {
    /// `"audioInput"` or `"videoInput"`.
    kind: String,
    /// The id to pass as `audio_source` / `video_source`.
    device_id: String,
    /// A name for people.
    label: String,
}

impl From<libpublisher::Device> for Device {
    fn from(device: libpublisher::Device) -> Self {
        Device {
            kind: device.kind.as_str().to_owned(),
            device_id: device.device_id,
            label: device.label,
        }
    }
}

#[pymethods]
impl Device {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Device(kind={}, device_id={}, label={})",
            python_repr(py, Some(&self.kind)),
            python_repr(py, Some(&self.device_id)),
            python_repr(py, Some(&self.label)),
        )
    }
}

/// What a publisher is about to open, given to the `access_request` callable.
#[pyclass(frozen, get_all, module = "libpublisher")]
pub(crate) struct AccessRequest {
    /// The microphone (or synthetic audio) asking for consent, or None.
    audio: Option<String>,
    /// The camera (or synthetic video) asking for consent, or None.
    video: Option<String>,
}

#[pymethods]
impl AccessRequest {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "AccessRequest(audio={}, video={})",
            python_repr(py, self.audio.as_deref()),
            python_repr(py, self.video.as_deref()),
        )
    }
}

/// A publisher: its camera and microphone, and later its stream. Created by `init_publisher`.
#[pyclass(frozen, weakref, module = "libpublisher")]
pub(crate) struct Publisher {
    inner: libpublisher::Publisher,
    shared: Arc<Shared>,
}

impl Publisher {
    fn register(&self, handler: &Bound<'_, PyAny>, event: &'static str) -> PyResult<()> {
        if !handler.is_callable() {
            return Err(invalid(
                handler.py(),
                "handler",
                format!("expected a callable, got {}", type_name(handler)),
            ));
        }
        // A closed publisher never calls it again: keeping it would only hold memory.
        if !self.shared.is_closed() {
            self.shared.add_handler(event, handler.clone().unbind());
        }
        Ok(())
    }

    fn close_now(&self, py: Python<'_>) {
        let held = self.shared.close(py);
        let inner = self.inner.clone();
        // The core waits for a callback running on its thread, which may need the interpreter.
        py.detach(move || inner.close());
        drop(held);
    }
}

#[pymethods]
impl Publisher {
    /// Registers `handler` for `event` (snake_case, e.g. `"access_allowed"`). Without a
    /// handler, returns a decorator.
    #[pyo3(signature = (event, handler=None))]
    fn on(
        slf: &Bound<'_, Self>,
        event: &str,
        handler: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let event = event_key(py, event)?;
        if let Some(handler) = handler {
            slf.get().register(&handler, event)?;
            return Ok(handler.unbind());
        }
        let publisher = slf.clone().unbind();
        let decorator = PyCFunction::new_closure(
            py,
            Some(c"on"),
            None,
            move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| {
                let py = args.py();
                if args.len() != 1 {
                    return Err(invalid(py, "handler", "the decorator takes one callable"));
                }
                let handler = args.get_item(0)?;
                publisher.get().register(&handler, event)?;
                Ok(handler.unbind())
            },
        )?;
        Ok(decorator.into_any().unbind())
    }

    /// Removes `handler` from `event`, or every handler of `event` without one.
    #[pyo3(signature = (event, handler=None))]
    fn off(&self, py: Python<'_>, event: &str, handler: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let event = event_key(py, event)?;
        drop(self.shared.remove_handlers(event, handler.as_ref()));
        Ok(())
    }

    /// Current counters, e.g. `{"video_frames_captured": 120, "audio_frames_captured": 400}`.
    fn get_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = py.detach(|| self.inner.stats());
        let dict = PyDict::new(py);
        dict.set_item(
            intern!(py, "video_frames_captured"),
            stats.video_frames_captured,
        )?;
        dict.set_item(
            intern!(py, "audio_frames_captured"),
            stats.audio_frames_captured,
        )?;
        Ok(dict)
    }

    /// `"initializing"`, `"ready"`, `"failed"` or `"closed"`.
    #[getter]
    fn state(&self, py: Python<'_>) -> &'static str {
        py.detach(|| self.inner.state()).as_str()
    }

    /// Unique in the process, never reused.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }

    /// Stops the sources and every callback. When it returns, none of this publisher's
    /// callbacks is running or will run (called from inside one, that one is the last).
    /// Closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        self.close_now(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, py: Python<'_>, _exc_info: &Bound<'_, PyTuple>) -> bool {
        self.close_now(py);
        false
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = self.state(py);
        format!(
            "<libpublisher.Publisher id={} state={}>",
            self.inner.id(),
            python_repr(py, Some(state))
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.shared.traverse(&visit)
    }

    fn __clear__(&self) {
        drop(self.shared.clear());
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // Garbage-collected without close(): close it, so that nothing runs for it later.
        if Python::try_attach(|py| self.close_now(py)).is_none() {
            // The interpreter is shutting down: a callback running on the library thread can
            // never get the interpreter back to finish, so waiting for it would hang the exit.
            self.shared.close_without_python();
            let inner = self.inner.clone();
            // Without a thread to spare the process is going away anyway: nothing to undo.
            let _ = std::thread::Builder::new()
                .name("lp-python-close".to_owned())
                .spawn(move || inner.close());
        }
    }
}

/// Registers the handlers of `on={"access_allowed": fn, "access_denied": [fn1, fn2]}`.
fn register_all(shared: &Shared, on: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = on.py();
    for (name, value) in mapping_items(on, "on")? {
        let name = name.cast::<PyString>().map_err(|_| {
            invalid(
                py,
                "on",
                format!("event names must be strings, got {}", type_name(&name)),
            )
        })?;
        let event = event_key(py, &name.to_cow()?)?;
        let handlers: Vec<Bound<'_, PyAny>> = if value.is_callable() {
            vec![value]
        } else {
            match value.try_iter() {
                Ok(iter) => iter.collect::<PyResult<_>>()?,
                Err(_) => Vec::new(),
            }
        };
        if handlers.is_empty() || handlers.iter().any(|h| !h.is_callable()) {
            return Err(invalid(
                py,
                "on",
                format!("{event}: expected a callable or a list of callables"),
            ));
        }
        for handler in handlers {
            shared.add_handler(event, handler.unbind());
        }
    }
    Ok(())
}

/// The positional arguments a handler of `event` receives.
fn event_args<'py>(py: Python<'py>, event: &PublisherEvent) -> PyResult<Bound<'py, PyTuple>> {
    let arg: Bound<'py, PyAny> = match event {
        PublisherEvent::AccessAllowed => return Ok(PyTuple::empty(py)),
        PublisherEvent::AccessDenied { error } => error_object(py, error)?,
        PublisherEvent::StreamCreated { stream_id } => PyString::new(py, stream_id).into_any(),
        PublisherEvent::StreamDestroyed { reason } => reason_object(py, *reason)?,
        PublisherEvent::MediaStopped { kind } => PyString::new(py, kind.as_str()).into_any(),
        PublisherEvent::AudioLevelUpdated { level } => {
            f64::from(*level).into_pyobject(py)?.into_any()
        }
    };
    PyTuple::new(py, [arg])
}

/// Calls `f(*args)`: an `Exception` is reported through `sys.unraisablehook` and swallowed;
/// `KeyboardInterrupt`/`SystemExit` are returned for the waiting code to re-raise.
fn call_handler<'py>(
    f: &Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
) -> Result<Option<Bound<'py, PyAny>>, PyErr> {
    let py = f.py();
    match f.call1(args) {
        Ok(value) => Ok(Some(value)),
        Err(err) if is_ordinary(py, &err) => {
            err.write_unraisable(py, Some(f));
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

fn emit(py: Python<'_>, shared: &Shared, event: &PublisherEvent) -> Option<PyErr> {
    let handlers = shared.handlers_of(py, event.snake_name());
    if handlers.is_empty() {
        return None;
    }
    let args = match event_args(py, event) {
        Ok(args) => args,
        Err(err) => {
            err.write_unraisable(py, None);
            return None;
        }
    };
    for handler in handlers {
        // A handler that closed the publisher is the last one to run.
        if shared.is_closed() {
            break;
        }
        if let Err(escalated) = call_handler(handler.bind(py), args.clone()) {
            return Some(escalated);
        }
    }
    None
}

fn complete(
    py: Python<'_>,
    shared: &Shared,
    callback: &Py<PyAny>,
    outcome: libpublisher::Result<()>,
) -> Option<PyErr> {
    // Released after the callback, which may use the publisher through a closure.
    let _keepalive = shared.init_finished();
    let arg = match &outcome {
        Ok(()) => py.None().into_bound(py),
        Err(error) => match error_object(py, error) {
            Ok(error) => error,
            Err(err) => {
                err.write_unraisable(py, None);
                return None;
            }
        },
    };
    let args = match PyTuple::new(py, [arg]) {
        Ok(args) => args,
        Err(err) => {
            err.write_unraisable(py, None);
            return None;
        }
    };
    call_handler(callback.bind(py), args).err()
}

/// The host's consent, asked where the publisher's callbacks run. Runs on the library thread;
/// no answer (closed meanwhile, or the callable failed) denies.
pub(crate) fn ask_access(shared: &Arc<Shared>, request: &libpublisher::AccessRequest) -> bool {
    let allowed = Arc::new(AtomicBool::new(false));
    let answer = allowed.clone();
    let job_shared = shared.clone();
    let request = AccessRequest {
        audio: request.audio.clone(),
        video: request.video.clone(),
    };
    let job: Job = Box::new(move |py| {
        let callable = job_shared.access_request(py)?;
        let callable = callable.bind(py);
        let request = match Py::new(py, request) {
            Ok(request) => request.into_any().into_bound(py),
            Err(err) => {
                err.write_unraisable(py, Some(callable));
                return None;
            }
        };
        let args = PyTuple::new(py, [request]).ok()?;
        match call_handler(callable, args) {
            Ok(Some(reply)) => match consent(&reply) {
                Ok(yes) => answer.store(yes, Ordering::SeqCst),
                Err(err) => err.write_unraisable(py, Some(callable)),
            },
            Ok(None) => {}
            Err(escalated) => return Some(escalated),
        }
        None
    });
    shared.deliver(job);
    allowed.load(Ordering::SeqCst)
}

/// The truth of the reply; an awaitable is refused rather than read as "allow".
fn consent(reply: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = reply.py();
    if reply.hasattr(intern!(py, "__await__"))? {
        if reply.hasattr(intern!(py, "close"))? {
            reply.call_method0(intern!(py, "close"))?;
        }
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "access_request must return a bool, not an awaitable; access is denied",
        ));
    }
    reply.is_truthy()
}

/// Starts acquiring the sources `options` names.
///
/// Without `callback`, blocks (running this publisher's callbacks on the calling thread)
/// until the sources deliver, and returns the publisher or raises `libpublisher.Error`. With
/// one, returns at once and later calls `callback(error_or_None)`; with `event_loop` as well,
/// every callback of the publisher runs on that asyncio loop.
#[pyfunction]
#[pyo3(signature = (options=None, callback=None, *, on=None, event_loop=None))]
pub(crate) fn init_publisher(
    py: Python<'_>,
    options: Option<&Bound<'_, PyAny>>,
    callback: Option<Bound<'_, PyAny>>,
    on: Option<&Bound<'_, PyAny>>,
    event_loop: Option<Bound<'_, PyAny>>,
) -> PyResult<Py<Publisher>> {
    let callback = callback.filter(|c| !c.is_none());
    if let Some(callback) = &callback {
        if !callback.is_callable() {
            return Err(invalid(
                py,
                "callback",
                format!("expected a callable or None, got {}", type_name(callback)),
            ));
        }
    }
    let event_loop = event_loop.filter(|l| !l.is_none());
    let route = match (&event_loop, &callback) {
        (Some(event_loop), Some(_)) => Route::Loop(Arc::new(event_loop.clone().unbind())),
        (Some(_), None) => {
            return Err(invalid(
                py,
                "callback",
                "an event loop needs a completion callback",
            ))
        }
        (None, Some(_)) => Route::Direct,
        (None, None) => Route::Waiter,
    };
    let shared = Shared::new(route);
    let mut settings = PublisherSettings::default();
    options::apply(&mut settings, &shared, options)?;
    if let Some(on) = on.filter(|o| !o.is_none()) {
        register_all(&shared, on)?;
    }

    let event_shared = shared.clone();
    let on_event = Arc::new(move |_: &libpublisher::Publisher, event: PublisherEvent| {
        let job_shared = event_shared.clone();
        event_shared.deliver(Box::new(move |py| emit(py, &job_shared, &event)));
    });
    let done_shared = shared.clone();
    let blocking = callback.is_none();
    let on_done: libpublisher::publisher::InitDone = match callback {
        None => Box::new(move |_, outcome| done_shared.set_outcome(outcome)),
        Some(callback) => {
            let callback = callback.unbind();
            Box::new(move |_, outcome| {
                let job_shared = done_shared.clone();
                done_shared.deliver(Box::new(move |py| {
                    complete(py, &job_shared, &callback, outcome)
                }));
            })
        }
    };
    let inner = py
        .detach(|| libpublisher::init_publisher(settings, on_event, on_done))
        .map_err(|e| to_py_err(py, &e))?;
    let publisher = Py::new(
        py,
        Publisher {
            inner,
            shared: shared.clone(),
        },
    )?;
    if !blocking {
        shared.keep_alive_until_done(publisher.clone_ref(py).into_any());
        return Ok(publisher);
    }
    let outcome = shared.wait_for_outcome(py);
    let failure = match outcome {
        Ok(Ok(())) => return Ok(publisher),
        Ok(Err(error)) => to_py_err(py, &error),
        Err(interrupted) => interrupted,
    };
    // The caller never sees this publisher: free its sources now rather than at collection.
    publisher.get().close_now(py);
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use libpublisher::media::MediaKind;
    use libpublisher::{Error, ErrorCode, Reason};

    #[test]
    fn derived_names_are_the_names_events_carry() {
        let events = [
            PublisherEvent::AccessAllowed,
            PublisherEvent::AccessDenied {
                error: Error::new(ErrorCode::UserMediaAccessDenied, "x"),
            },
            PublisherEvent::StreamCreated {
                stream_id: "s".into(),
            },
            PublisherEvent::StreamDestroyed {
                reason: Reason::ClientDisconnected,
            },
            PublisherEvent::MediaStopped {
                kind: MediaKind::Audio,
            },
            PublisherEvent::AudioLevelUpdated { level: 0.5 },
        ];
        let carried: Vec<&str> = events.iter().map(|e| e.snake_name()).collect();
        assert_eq!(snake_event_names(), carried.as_slice());
    }
}
