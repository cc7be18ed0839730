//! Core errors as `libpublisher.Error`, and the Python-side enums the events carry.

use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use libpublisher::{Error, Reason};

// The exception class and enums are plain Python (custom `__str__`, pickling, IntEnum), defined
// in `libpublisher._errors`, which imports this module: look them up on first use, not at init.
const TYPES_MODULE: &str = "libpublisher._errors";

fn python_type<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, TYPES_MODULE, name)
}

/// A `libpublisher.Error` instance for a core error.
pub(crate) fn error_object<'py>(py: Python<'py>, error: &Error) -> PyResult<Bound<'py, PyAny>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    python_type(py, &CLASS, "Error")?.call1((error.code(), error.message.as_str(), error.name()))
}

/// The `PyErr` to raise for a core error.
pub(crate) fn to_py_err(py: Python<'_>, error: &Error) -> PyErr {
    match error_object(py, error) {
        Ok(instance) => PyErr::from_value(instance),
        // Only reachable when the package is broken (the `_errors` module is missing).
        Err(e) => {
            let fallback = PyRuntimeError::new_err(error.to_string());
            fallback.set_cause(py, Some(e));
            fallback
        }
    }
}

/// 1011 INVALID_PARAMETER naming `field`, as the core words it.
pub(crate) fn invalid(py: Python<'_>, field: &str, detail: impl std::fmt::Display) -> PyErr {
    to_py_err(py, &Error::invalid_parameter(field, detail))
}

/// A `libpublisher.Reason` member.
pub(crate) fn reason_object<'py>(py: Python<'py>, reason: Reason) -> PyResult<Bound<'py, PyAny>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    python_type(py, &CLASS, "Reason")?.call1((reason.code(),))
}

/// Whether an exception raised by a host callback may be reported and swallowed: `Exception`s
/// can, but `KeyboardInterrupt` and `SystemExit` must reach the code that waits.
pub(crate) fn is_ordinary(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<PyException>(py)
}
