//! `init_session` and the `Session` handle: connect, publish, unpublish, disconnect.
//!
//! Each of the four calls either blocks (a [`Waiter`] runs the session's callbacks, and for
//! `publish`/`unpublish` the publisher's, on the calling thread until the core completes) or
//! takes a callback that runs where the session's callbacks run. State errors come back from
//! the core synchronously and are raised at once in both forms, with no callback.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use libpublisher::session::{SessionDone, SessionEventHandler};
use libpublisher::Session as CoreSession;
use libpublisher::{SessionEvent, SessionSettings, SESSION_EVENT_NAMES};

use crate::delivery::{Route, Shared};
use crate::errors::{invalid, reason_object, to_py_err};
use crate::handle::{handle_methods, stats_dict, Handle};
use crate::handlers::{emit, Events};
use crate::options::{self, type_name};
use crate::publisher::{python_repr, Publisher};

/// The session's events, as `Session.on` accepts them.
pub(crate) static EVENTS: Events = Events::new("session", SESSION_EVENT_NAMES);

/// A session on a media server, chosen by its URL. Created by `init_session`.
#[pyclass(frozen, weakref, module = "libpublisher")]
pub(crate) struct Session(Handle<libpublisher::Session>);

handle_methods!(
    Session,
    libpublisher::Session,
    EVENTS,
    example = "session_disconnected",
    close = "Ends every stream and the session at once, without waiting for the server. When it
returns, none of this session's callbacks is running or will run (called from inside
one, that one is the last); pending calls never complete. Closing twice is harmless."
);

fn publisher_arg<'a, 'py>(arg: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, Publisher>> {
    arg.cast::<Publisher>().map_err(|_| {
        invalid(
            arg.py(),
            "publisher",
            format!("expected a libpublisher.Publisher, got {}", type_name(arg)),
        )
    })
}

fn string_arg(field: &str, arg: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(arg) = arg.filter(|a| !a.is_none()) else {
        return Ok(None);
    };
    let string = arg.cast::<PyString>().map_err(|_| {
        invalid(
            arg.py(),
            field,
            format!("expected a string or None, got {}", type_name(arg)),
        )
    })?;
    Ok(Some(string.to_cow()?.into_owned()))
}

impl Session {
    /// Starts one of the four calls; `start` hands the completion to the core.
    fn call(
        slf: &Bound<'_, Self>,
        what: &'static str,
        publisher: Option<&Bound<'_, Publisher>>,
        callback: Option<Bound<'_, PyAny>>,
        start: impl FnOnce(&libpublisher::Session, SessionDone) -> libpublisher::Result<()> + Send,
    ) -> PyResult<()> {
        let this = slf.get();
        let inner = &this.inner;
        let others: Vec<_> = publisher.iter().map(|p| &p.get().shared).collect();
        let keep = publisher.map(|p| p.clone().into_any().unbind());
        this.shared.call(
            slf.as_any(),
            what,
            "session",
            callback,
            &others,
            keep,
            |done| {
                let done: SessionDone = Box::new(move |_, outcome| done(outcome));
                start(inner, done)
            },
        )
    }

    /// `publish` or `unpublish` (`op`, named `what`) of the publisher `arg`.
    fn publisher_call(
        slf: &Bound<'_, Self>,
        what: &'static str,
        arg: &Bound<'_, PyAny>,
        callback: Option<Bound<'_, PyAny>>,
        op: fn(
            &libpublisher::Session,
            &libpublisher::Publisher,
            SessionDone,
        ) -> libpublisher::Result<()>,
    ) -> PyResult<()> {
        let publisher = publisher_arg(arg)?;
        let target = publisher.get().inner.clone();
        Self::call(
            slf,
            what,
            Some(publisher),
            callback,
            move |session, done| op(session, &target, done),
        )
    }
}

#[pymethods]
impl Session {
    /// Connects with `token` (or none). Without `callback`, blocks and raises
    /// `libpublisher.Error` on failure; with one, returns at once and later calls
    /// `callback(error_or_None)`. 1015 at once if the session is not disconnected.
    #[pyo3(signature = (token=None, callback=None))]
    fn connect(
        slf: &Bound<'_, Self>,
        token: Option<Bound<'_, PyAny>>,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let token = string_arg("token", token.as_ref())?;
        Self::call(slf, "connect", None, callback, move |session, done| {
            session.connect(token, done)
        })
    }

    /// Publishes `publisher`; completes when media flows, after which the publisher emits
    /// `stream_created`. 1010 at once when not connected, 1015 when the publisher is not
    /// ready or already published.
    #[pyo3(signature = (publisher, callback=None))]
    fn publish(
        slf: &Bound<'_, Self>,
        publisher: &Bound<'_, PyAny>,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Self::publisher_call(slf, "publish", publisher, callback, CoreSession::publish)
    }

    /// Stops publishing `publisher`: it emits `stream_destroyed` (`clientDisconnected`), then
    /// the call completes. 1010 at once when not connected, 1015 when not published here.
    #[pyo3(signature = (publisher, callback=None))]
    fn unpublish(
        slf: &Bound<'_, Self>,
        publisher: &Bound<'_, PyAny>,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Self::publisher_call(
            slf,
            "unpublish",
            publisher,
            callback,
            CoreSession::unpublish,
        )
    }

    /// Ends every stream (`stream_destroyed`), then the session (`session_disconnected`),
    /// then completes.
    #[pyo3(signature = (callback=None))]
    fn disconnect(slf: &Bound<'_, Self>, callback: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        Self::call(slf, "disconnect", None, callback, |session, done| {
            session.disconnect(done)
        })
    }

    /// What the embedded receiver of a `loopback://` session got from `publisher`, or None
    /// (other backends, or not published here).
    fn get_receiver_stats<'py>(
        &self,
        py: Python<'py>,
        publisher: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let publisher = publisher_arg(publisher)?.get().inner.clone();
        let Some(stats) = py.detach(|| self.inner.receiver_stats(&publisher)) else {
            return Ok(None);
        };
        let dict = stats_dict!(
            py,
            stats,
            libpublisher::ReceiverStats {
                video_frames,
                video_keyframes,
                first_frame_was_keyframe,
                video_bytes,
                audio_packets,
                audio_bytes,
            }
        );
        Ok(Some(dict))
    }

    /// `"disconnected"`, `"connecting"`, `"connected"`, `"disconnecting"` or `"closed"`.
    #[getter]
    fn state(&self, py: Python<'_>) -> &'static str {
        self.0.state(py)
    }

    /// The URL the session was made for.
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<libpublisher.Session id={} url={} state={}>",
            self.inner.id(),
            python_repr(py, Some(self.inner.url())),
            python_repr(py, Some(self.0.state(py)))
        )
    }
}

/// The positional arguments a handler of `event` receives.
fn event_args<'py>(py: Python<'py>, event: &SessionEvent) -> PyResult<Bound<'py, PyTuple>> {
    match event {
        SessionEvent::SessionDisconnected { reason } => {
            PyTuple::new(py, [reason_object(py, *reason)?])
        }
        SessionEvent::SessionConnected
        | SessionEvent::SessionReconnecting
        | SessionEvent::SessionReconnected => Ok(PyTuple::empty(py)),
    }
}

/// Makes a session for `url` (`loopback://` ...). A malformed URL or an unknown scheme
/// raises 1005 at once; nothing touches the network until `connect`. With `event_loop`,
/// every callback of the session runs on that asyncio loop.
#[pyfunction]
#[pyo3(signature = (url, options=None, *, on=None, event_loop=None))]
pub(crate) fn init_session(
    py: Python<'_>,
    url: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
    on: Option<&Bound<'_, PyAny>>,
    event_loop: Option<Bound<'_, PyAny>>,
) -> PyResult<Py<Session>> {
    let url = url
        .cast::<PyString>()
        .map_err(|_| {
            invalid(
                py,
                "url",
                format!("expected a string, got {}", type_name(url)),
            )
        })?
        .to_cow()?
        .into_owned();
    let route = match event_loop.filter(|l| !l.is_none()) {
        Some(event_loop) => Route::event_loop(event_loop.unbind()),
        None => Route::Direct,
    };
    let shared = Shared::new(route);
    let mut settings = SessionSettings::default();
    options::apply_session(&mut settings, options)?;
    if let Some(on) = on.filter(|o| !o.is_none()) {
        EVENTS.register_all(&shared, on)?;
    }
    let event_shared = shared.clone();
    let on_event: SessionEventHandler =
        Arc::new(move |_: &libpublisher::Session, event: SessionEvent| {
            let job_shared = event_shared.clone();
            event_shared.deliver(Box::new(move |py| {
                emit(py, &job_shared, EVENTS.snake_of(event.name()), |py| {
                    event_args(py, &event)
                })
            }));
        });
    let inner = py
        .detach(|| libpublisher::init_session(&url, settings, on_event))
        .map_err(|e| to_py_err(py, &e))?;
    Py::new(py, Session(Handle { inner, shared }))
}
