//! Library log records to a Python callable (the package routes them into `logging`).
//!
//! Records are produced on any library thread, sometimes under the core's locks, so they are
//! never handed to Python there: they go through a bounded queue to one forwarding thread,
//! which attaches to the interpreter. A full queue drops records (and says so later) rather
//! than stall capture or networking behind the interpreter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;

use pyo3::prelude::*;

use libpublisher::{LogLevel, LogRecord};

use crate::errors::{invalid, to_py_err};
use crate::options::type_name;

const QUEUE_CAPACITY: usize = 4096;

/// Sends records at `level` (0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace) and more severe
/// to `sink(level, target, message)`; `sink=None` or level 0 stops logging.
#[pyfunction]
#[pyo3(signature = (level, sink=None))]
pub(crate) fn set_log_sink(
    py: Python<'_>,
    level: i32,
    sink: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let level = LogLevel::from_i32(level).ok_or_else(|| {
        invalid(
            py,
            "level",
            format!("expected 0 (off) to 5 (trace), got {level}"),
        )
    })?;
    let sink = sink.filter(|s| !s.is_none() && level != LogLevel::Off);
    let Some(sink) = sink else {
        return py
            .detach(|| libpublisher::set_log_sink(LogLevel::Off, None))
            .map_err(|e| to_py_err(py, &e));
    };
    if !sink.is_callable() {
        return Err(invalid(
            py,
            "sink",
            format!("expected a callable or None, got {}", type_name(&sink)),
        ));
    }
    let (records, queue) = mpsc::sync_channel::<LogRecord>(QUEUE_CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    let forwarder_dropped = dropped.clone();
    let sink = sink.unbind();
    // The thread ends when the core lets go of the sender (a new sink, or logging off).
    std::thread::Builder::new()
        .name("lp-python-log".to_owned())
        .spawn(move || forward(sink, queue, forwarder_dropped))
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    let core_sink: libpublisher::logging::LogSink = Arc::new(move |record: &LogRecord| {
        if records.try_send(record.clone()).is_err() {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    });
    py.detach(|| libpublisher::set_log_sink(level, Some(core_sink)))
        .map_err(|e| to_py_err(py, &e))
}

fn forward(sink: Py<PyAny>, queue: Receiver<LogRecord>, dropped: Arc<AtomicU64>) {
    while let Ok(first) = queue.recv() {
        let attached = Python::try_attach(|py| {
            let sink = sink.bind(py);
            let lost = dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let message =
                    format!("{lost} log records were dropped: the queue to Python was full");
                deliver(sink, LogLevel::Warn, "libpublisher", &message);
            }
            // What is already queued goes in one visit to the interpreter (a bounded one).
            for record in std::iter::once(first).chain(queue.try_iter().take(255)) {
                deliver(sink, record.level, &record.target, &record.message);
            }
        });
        if attached.is_none() {
            // The interpreter is shutting down.
            break;
        }
    }
}

fn deliver(sink: &Bound<'_, PyAny>, level: LogLevel, target: &str, message: &str) {
    if let Err(err) = sink.call1((level as i32, target, message)) {
        err.write_unraisable(sink.py(), Some(sink));
    }
}
