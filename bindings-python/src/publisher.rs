//! `init_publisher`, the `Publisher` handle and the small value classes around it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMemoryView, PyString, PyTuple};

use libpublisher::host::args;
use libpublisher::publisher::InitDone;
use libpublisher::{
    AudioFrameRef, AudioSamples, OptionValue, PublisherEvent, PublisherSettings, VideoFormat,
    VideoFrameRef, PUBLISHER_EVENT_NAMES,
};

use crate::delivery::{Job, Route, Shared, WaitScope, Waiter};
use crate::errors::{error_object, reason_object, to_py_err};
use crate::handle::{handle_methods, stats_dict, Handle};
use crate::handlers::{call_handler, checked_callback, complete, emit, Events};
use crate::options;

/// The publisher's events, as `Publisher.on` accepts them.
pub(crate) static EVENTS: Events = Events::new("publisher", PUBLISHER_EVENT_NAMES);

pub(crate) fn python_repr(py: Python<'_>, value: Option<&str>) -> String {
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
    /// `"audioInput"`, `"videoInput"` or `"screen"`.
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
pub(crate) struct Publisher(Handle<libpublisher::Publisher>);

handle_methods!(
    Publisher,
    libpublisher::Publisher,
    EVENTS,
    example = "stream_created",
    close = "Stops the sources, the stream and every callback. When it returns, none of this
publisher's callbacks is running or will run (called from inside one, that one is the
last). Closing twice is harmless."
);

#[pymethods]
impl Publisher {
    /// Current counters: what the sources captured and, while published, what was sent.
    fn get_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = py.detach(|| self.inner.stats());
        let dict = stats_dict!(
            py,
            stats,
            libpublisher::PublisherStats {
                video_frames_captured,
                audio_frames_captured,
                video_frames_sent,
                video_keyframes_sent,
                audio_packets_sent,
                packets_sent,
                bytes_sent,
                bitrate_bps,
                rtt_ms,
                packets_lost,
                retransmitted_packets_sent,
                retransmitted_bytes_sent,
                target_bitrate_bps,
                available_outgoing_bitrate_bps,
                frame_width,
                frame_height,
                frames_per_second,
                quality_limitation_reason,
            }
        );
        Ok(dict)
    }

    /// Pushes one video frame to a publisher whose `video_source` is `"custom"`: `data` is
    /// packed I420 (Y, U, V planes without padding) or RGBA rows, as bytes or any buffer (a
    /// numpy `uint8` array). Converted to the publisher's resolution and frame rate with the
    /// GIL released. Raises `Error` 1011 for a wrong frame, 1015 when the source is not custom
    /// or the publisher is closed.
    #[pyo3(signature = (data, width, height, format="i420", timestamp_us=None))]
    fn push_video_frame(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        width: i64,
        height: i64,
        format: &str,
        timestamp_us: Option<i64>,
    ) -> PyResult<()> {
        let width = arg_u32(py, "width", width)?;
        let height = arg_u32(py, "height", height)?;
        let timestamp_us = arg_timestamp(py, timestamp_us)?;
        let (bytes, _) = buffer_bytes(py, "data", data)?;
        let bytes = bytes.as_bytes();
        let inner = &self.inner;
        py.detach(|| {
            let format = VideoFormat::from_name(format)?;
            let frame = VideoFrameRef::packed(format, width, height, bytes, timestamp_us)?;
            inner.push_video_frame(&frame)
        })
        .map_err(|e| to_py_err(py, &e))
    }

    /// Pushes interleaved PCM to a publisher whose `audio_source` is `"custom"`: bytes of
    /// native-endian int16, or a buffer of int16 or float32 (numpy arrays, `array.array`), of
    /// any length, mono or stereo, at `sample_rate`. Resampled to 48 kHz and cut into 10 ms
    /// frames with the GIL released; push in real time. Raises `Error` 1011 for wrong audio,
    /// 1015 when the source is not custom or the publisher is closed.
    #[pyo3(signature = (samples, sample_rate=48000, channels=1, timestamp_us=None))]
    fn push_audio_frame(
        &self,
        py: Python<'_>,
        samples: &Bound<'_, PyAny>,
        sample_rate: i64,
        channels: i64,
        timestamp_us: Option<i64>,
    ) -> PyResult<()> {
        let sample_rate = arg_u32(py, "sample_rate", sample_rate)?;
        let channels = arg_u32(py, "channels", channels)?;
        let timestamp_us = arg_timestamp(py, timestamp_us)?;
        let (bytes, element) = buffer_bytes(py, "samples", samples)?;
        let bytes = bytes.as_bytes();
        let samples = match element {
            Element::Float32 => AudioSamples::F32Bytes(bytes),
            Element::Int16 | Element::Bytes => AudioSamples::I16Bytes(bytes),
            Element::Other(format) => {
                let detail = format!(
                    "expected int16 or float32 samples (or bytes of int16), got a buffer of format {format:?}"
                );
                return Err(crate::errors::invalid(py, "samples", detail));
            }
        };
        let inner = &self.inner;
        py.detach(|| {
            inner.push_audio_frame(&AudioFrameRef {
                samples,
                sample_rate,
                channels,
                timestamp_us,
            })
        })
        .map_err(|e| to_py_err(py, &e))
    }

    /// Turns video off (`False`) or on again, before or while publishing (OpenTok's
    /// `publishVideo`): off, no video goes out but the track stays; on, it resumes with a
    /// keyframe. `video_disabled` / `video_enabled` follow with `Reason.publishVideo` when it
    /// changes. Raises `Error` 1015 when the publisher failed, is closed or has no video.
    fn publish_video(&self, py: Python<'_>, on: bool) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.publish_video(on))
            .map_err(|e| to_py_err(py, &e))
    }

    /// The latest captured video frame as PNG bytes (RGB, at the captured size), for previews
    /// and thumbnails; waits up to a second for a first frame. Raises `Error` 1015 when the
    /// publisher is not ready or publishing, has no video, or captured no frame yet.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = &self.inner;
        let png = py
            .detach(|| inner.snapshot())
            .map_err(|e| to_py_err(py, &e))?;
        Ok(PyBytes::new(py, &png))
    }

    /// Sends video at most at `resolution` (`"WxH"`), before or while publishing: a ceiling
    /// under the source's size, under which the network adaptation still steps down. Raises
    /// `Error` 1011 for a wrong resolution, 1015 when the publisher failed or is closed.
    fn set_preferred_resolution(&self, py: Python<'_>, resolution: &str) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.set_preferred_resolution(resolution))
            .map_err(|e| to_py_err(py, &e))
    }

    /// Sends video at most `frame_rate` frames a second (1..60), as `set_preferred_resolution`
    /// does for the size.
    fn set_preferred_frame_rate(&self, py: Python<'_>, frame_rate: i64) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.set_preferred_frame_rate(frame_rate))
            .map_err(|e| to_py_err(py, &e))
    }

    /// Switches the video to `source` (a device id, `"synthetic"`, `"file:PATH"`, `"custom"`,
    /// `"screen"`) while ready or publishing, on the same track: consent is asked where `init_publisher`
    /// would ask, the new source delivers its first frame, then replaces the old one, which
    /// stops. Without `callback`, blocks (GIL released) and raises `Error` on failure (1500,
    /// 1580, 1582, 1584, ...: the old source stays); with one, returns at once and later calls
    /// `callback(error_or_None)`. 1011 at once for a wrong source string, 1015 when not ready
    /// or publishing, without video, or while another switch is under way.
    #[pyo3(signature = (source, callback=None))]
    fn set_video_source(
        slf: &Bound<'_, Self>,
        source: &str,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let source = source.to_owned();
        Self::call(slf, "set_video_source", callback, move |p, done| {
            p.set_video_source(&source, done)
        })
    }

    /// Switches the video to the next camera `get_devices()` lists (after the current one,
    /// wrapping round; the first when the video is not a camera), as `set_video_source` does.
    /// Without `callback`, blocks and returns the camera's device id; with one, returns `None`
    /// at once and later calls `callback(error_or_None)`. 1581 at once when no camera is
    /// present, 1015 as `set_video_source`.
    #[pyo3(signature = (callback=None))]
    fn cycle_video(
        slf: &Bound<'_, Self>,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Option<String>> {
        let camera: Arc<Mutex<Option<String>>> = Arc::default();
        let chosen = camera.clone();
        Self::call(slf, "cycle_video", callback, move |p, done| {
            p.cycle_video(Box::new(move |p, outcome| {
                let outcome = outcome.map(|id| {
                    *chosen.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                });
                done(p, outcome)
            }))
        })?;
        let id = camera.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(id)
    }

    /// Switches the audio to `source`, as `set_video_source` does for video.
    #[pyo3(signature = (source, callback=None))]
    fn set_audio_source(
        slf: &Bound<'_, Self>,
        source: &str,
        callback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let source = source.to_owned();
        Self::call(slf, "set_audio_source", callback, move |p, done| {
            p.set_audio_source(&source, done)
        })
    }

    /// Turns audio off (`False`: the track sends silence) or on again, as `publish_video`
    /// does; `audio_disabled` / `audio_enabled` follow with `Reason.publishAudio`.
    fn publish_audio(&self, py: Python<'_>, on: bool) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.publish_audio(on))
            .map_err(|e| to_py_err(py, &e))
    }

    /// `"initializing"`, `"ready"`, `"publishing"`, `"failed"` or `"closed"`.
    #[getter]
    fn state(&self, py: Python<'_>) -> &'static str {
        self.0.state(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<libpublisher.Publisher id={} state={}>",
            self.inner.id(),
            python_repr(py, Some(self.0.state(py)))
        )
    }
}

/// A Python int as the core's `u32`, checked by the core.
fn arg_u32(py: Python<'_>, field: &str, value: i64) -> PyResult<u32> {
    args::u32_arg(field, &OptionValue::Int(value)).map_err(|e| to_py_err(py, &e))
}

fn arg_timestamp(py: Python<'_>, value: Option<i64>) -> PyResult<Option<u64>> {
    let value = value.map_or(OptionValue::Null, OptionValue::Int);
    args::timestamp_us_arg("timestamp_us", &value).map_err(|e| to_py_err(py, &e))
}

/// What a buffer's items are, from its `struct` format.
enum Element {
    Bytes,
    Int16,
    Float32,
    Other(String),
}

/// The bytes of a bytes-like object: `bytes` as they are, any other buffer (bytearray,
/// memoryview, numpy array, array.array) copied in C order. (The abi3 build for Python 3.9
/// has no direct access to the buffer protocol, so the copy goes through `memoryview`.)
fn buffer_bytes<'py>(
    py: Python<'py>,
    field: &str,
    value: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Element)> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok((bytes.clone(), Element::Bytes));
    }
    let view = PyMemoryView::from(value).map_err(|_| {
        let type_name = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        crate::errors::invalid(
            py,
            field,
            format!(
                "expected bytes or a buffer (bytearray, memoryview, numpy array), got {type_name}"
            ),
        )
    })?;
    let format: String = view.getattr(intern!(py, "format"))?.extract()?;
    // Native order ('@', '='), or the explicit order of this machine.
    let native = if cfg!(target_endian = "little") {
        '<'
    } else {
        '>'
    };
    let element = match format.trim_start_matches(['@', '=', native]) {
        "B" | "b" | "c" => Element::Bytes,
        "h" => Element::Int16,
        "f" => Element::Float32,
        _ => Element::Other(format.clone()),
    };
    let bytes = view
        .call_method0(intern!(py, "tobytes"))?
        .cast_into::<PyBytes>()?;
    Ok((bytes, element))
}

impl Publisher {
    /// Starts an asynchronous call on the publisher: blocking without `callback`, else
    /// completed through it (as `Session`'s calls are).
    fn call(
        slf: &Bound<'_, Self>,
        what: &'static str,
        callback: Option<Bound<'_, PyAny>>,
        start: impl FnOnce(&libpublisher::Publisher, InitDone) -> libpublisher::Result<()> + Send,
    ) -> PyResult<()> {
        let this = slf.get();
        let inner = &this.inner;
        this.shared.call(
            slf.as_any(),
            what,
            "publisher",
            callback,
            &[],
            None,
            |done| start(inner, Box::new(move |_, outcome| done(outcome))),
        )
    }
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
        PublisherEvent::VideoDimensionsChanged {
            old_width,
            old_height,
            new_width,
            new_height,
        } => {
            let dict = PyDict::new(py);
            dict.set_item(intern!(py, "old_width"), old_width)?;
            dict.set_item(intern!(py, "old_height"), old_height)?;
            dict.set_item(intern!(py, "new_width"), new_width)?;
            dict.set_item(intern!(py, "new_height"), new_height)?;
            dict.into_any()
        }
        PublisherEvent::VideoDisableWarning | PublisherEvent::VideoDisableWarningLifted => {
            return Ok(PyTuple::empty(py))
        }
        PublisherEvent::VideoDisabled { reason }
        | PublisherEvent::VideoEnabled { reason }
        | PublisherEvent::AudioDisabled { reason }
        | PublisherEvent::AudioEnabled { reason } => reason_object(py, *reason)?,
    };
    PyTuple::new(py, [arg])
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

/// The reply as the core reads it (only `True` allows); an awaitable is refused rather
/// than left unawaited.
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
    let value = crate::options::option_value("access_request", reply).ok();
    Ok(libpublisher::host::consent::allows(value.as_ref()))
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
    let callback = checked_callback(py, callback)?;
    let route = match (event_loop.filter(|l| !l.is_none()), &callback) {
        (Some(event_loop), Some(_)) => Route::event_loop(event_loop.unbind()),
        (Some(_), None) => {
            return Err(crate::errors::invalid(
                py,
                "callback",
                "an event loop needs a completion callback",
            ))
        }
        (None, _) => Route::Direct,
    };
    let shared = Shared::new(route);
    let mut settings = PublisherSettings::default();
    options::apply(&mut settings, &shared, options)?;
    if let Some(on) = on.filter(|o| !o.is_none()) {
        EVENTS.register_all(&shared, on)?;
    }

    let event_shared = shared.clone();
    let on_event = Arc::new(move |_: &libpublisher::Publisher, event: PublisherEvent| {
        let job_shared = event_shared.clone();
        event_shared.deliver(Box::new(move |py| {
            emit(py, &job_shared, EVENTS.snake_of(event.name()), |py| {
                event_args(py, &event)
            })
        }));
    });
    // Registered before the core starts, so that the first callback already finds it.
    let waiter = callback.is_none().then(Waiter::new);
    let scope = waiter
        .as_ref()
        .map(|waiter| WaitScope::new(waiter, &shared.handoff, &[]));
    let on_done: libpublisher::publisher::InitDone = match (&waiter, callback) {
        (Some(waiter), _) => {
            let waiter = waiter.clone();
            Box::new(move |_, outcome| waiter.set_outcome(outcome))
        }
        (None, Some(callback)) => {
            shared.hold(None);
            let done_shared = shared.clone();
            let callback = callback.unbind();
            Box::new(move |_, outcome| {
                let job_shared = done_shared.clone();
                done_shared.deliver_completion(Box::new(move |py| {
                    // Released after the callback, which may use the publisher.
                    let _publisher = job_shared.release();
                    complete(py, &callback, outcome)
                }));
            })
        }
        (None, None) => unreachable!("a call without a callback has a waiter"),
    };
    let started = py.detach(|| libpublisher::init_publisher(settings, on_event, on_done));
    let inner = match started {
        Ok(inner) => inner,
        Err(e) => {
            if waiter.is_none() {
                drop(shared.release());
            }
            return Err(to_py_err(py, &e));
        }
    };
    let publisher = Py::new(
        py,
        Publisher(Handle {
            inner,
            shared: shared.clone(),
        }),
    )?;
    let Some(waiter) = waiter else {
        shared.keep(publisher.clone_ref(py).into_any());
        return Ok(publisher);
    };
    let outcome = shared.wait_for_outcome(py, &waiter, || {
        libpublisher::host::calls::closed_while_pending("init_publisher", "publisher")
    });
    drop(scope);
    let failure = match outcome {
        Ok(Ok(())) => return Ok(publisher),
        Ok(Err(error)) => to_py_err(py, &error),
        Err(interrupted) => interrupted,
    };
    // The caller never sees this publisher: free its sources now rather than at collection.
    publisher.get().0.close(py);
    Err(failure)
}
