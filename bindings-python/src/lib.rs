//! `libpublisher._native`: the Python view of the `libpublisher` core.
//!
//! This crate converts types and marshals callbacks onto the right Python thread; every
//! default, validation and error mapping stays in the core. The pure-Python package around it
//! (`python/libpublisher`) adds the enums, the exception class, logging and asyncio glue.

mod delivery;
mod errors;
mod handle;
mod handlers;
mod logs;
mod options;
mod publisher;
mod session;

use pyo3::prelude::*;

use libpublisher::{ErrorCode, Reason};

/// Every capture device present, as `Device` objects.
#[pyfunction]
fn get_devices(py: Python<'_>) -> Vec<publisher::Device> {
    // Enumeration talks to ALSA and V4L2; other Python threads keep running meanwhile.
    py.detach(libpublisher::get_devices)
        .into_iter()
        .map(publisher::Device::from)
        .collect()
}

/// The core's error table, `(code, name)` in ascending order; `ErrorCode` is built from it.
#[pyfunction]
fn error_table() -> Vec<(i32, &'static str)> {
    ErrorCode::ALL
        .iter()
        .map(|c| (c.code(), c.name()))
        .collect()
}

/// The core's reasons, `(code, name)`; `Reason` is built from it.
#[pyfunction]
fn reason_table() -> Vec<(i32, &'static str)> {
    Reason::ALL.iter().map(|r| (r.code(), r.name())).collect()
}

/// Publisher event names as Python spells them (`access_allowed`, ...).
#[pyfunction]
fn event_names() -> Vec<&'static str> {
    publisher::EVENTS.names().to_vec()
}

/// Session event names as Python spells them (`session_connected`, ...).
#[pyfunction]
fn session_event_names() -> Vec<&'static str> {
    session::EVENTS.names().to_vec()
}

/// The core's session option names (`connect_timeout_ms`, `ice_servers`, ...).
#[pyfunction]
fn session_option_keys() -> Vec<&'static str> {
    libpublisher::SESSION_OPTION_KEYS.to_vec()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", libpublisher::VERSION)?;
    m.add(
        "DEFAULT_LOG_LEVEL",
        libpublisher::logging::DEFAULT_LOG_LEVEL as i32,
    )?;
    m.add_function(wrap_pyfunction!(get_devices, m)?)?;
    m.add_function(wrap_pyfunction!(error_table, m)?)?;
    m.add_function(wrap_pyfunction!(reason_table, m)?)?;
    m.add_function(wrap_pyfunction!(event_names, m)?)?;
    m.add_function(wrap_pyfunction!(session_event_names, m)?)?;
    m.add_function(wrap_pyfunction!(session_option_keys, m)?)?;
    m.add_function(wrap_pyfunction!(publisher::init_publisher, m)?)?;
    m.add_function(wrap_pyfunction!(session::init_session, m)?)?;
    m.add_function(wrap_pyfunction!(logs::set_log_sink, m)?)?;
    m.add_class::<publisher::Publisher>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<publisher::Device>()?;
    m.add_class::<publisher::AccessRequest>()?;
    m.add_class::<delivery::LoopRunner>()?;
    Ok(())
}
