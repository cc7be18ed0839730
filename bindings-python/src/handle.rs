//! What a `Publisher` and a `Session` share: the core handle with its Python callbacks, how
//! it closes (explicitly, by `with`, or when collected), and the Python methods that are the
//! same for both (`on`, `off`, `id`, `close`, `__enter__`, `__exit__`, `__traverse__`,
//! `__clear__`), written once by [`handle_methods`].

use std::sync::Arc;

use pyo3::prelude::*;

use crate::delivery::Shared;

/// The core's publisher or session, as [`Handle`] uses it.
pub(crate) trait CoreHandle: Clone + Send + Sync + 'static {
    fn close(&self);
    /// The state's name (`"ready"`, `"connected"`, `"closed"` ...).
    fn state_name(&self) -> &'static str;
}

impl CoreHandle for libpublisher::Publisher {
    fn close(&self) {
        libpublisher::Publisher::close(self);
    }

    fn state_name(&self) -> &'static str {
        self.state().as_str()
    }
}

impl CoreHandle for libpublisher::Session {
    fn close(&self) {
        libpublisher::Session::close(self);
    }

    fn state_name(&self) -> &'static str {
        self.state().as_str()
    }
}

/// A core handle and what its Python callbacks share.
pub(crate) struct Handle<C: CoreHandle> {
    pub(crate) inner: C,
    pub(crate) shared: Arc<Shared>,
}

impl<C: CoreHandle> Handle<C> {
    /// Stops the Python callbacks, then closes the core's handle.
    pub(crate) fn close(&self, py: Python<'_>) {
        let held = self.shared.close(py);
        let inner = self.inner.clone();
        // The core waits for a callback running on its thread, which may need the interpreter.
        py.detach(move || inner.close());
        drop(held);
    }

    pub(crate) fn state(&self, py: Python<'_>) -> &'static str {
        py.detach(|| self.inner.state_name())
    }
}

impl<C: CoreHandle> Drop for Handle<C> {
    fn drop(&mut self) {
        // Garbage-collected without close(): close it, so that nothing runs for it later.
        if Python::try_attach(|py| self.close(py)).is_none() {
            let inner = self.inner.clone();
            self.shared.close_at_shutdown(move || inner.close());
        }
    }
}

/// The Python methods a publisher and a session share, for `$class` (a pyclass wrapping a
/// [`Handle`] of `$core` as its field `0`) emitting `$events`; `$example` names one of them
/// in the docstring of `on`, `$close` is the docstring of `close`.
macro_rules! handle_methods {
    ($class:ty, $core:ty, $events:expr, example = $example:literal, close = $close:literal) => {
        impl std::ops::Deref for $class {
            type Target = $crate::handle::Handle<$core>;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        #[pymethods]
        impl $class {
            #[doc = concat!(
                                        "Registers `handler` for `event` (snake_case, e.g. `\"",
                                        $example,
                                        "\"`). Without\na handler, returns a decorator."
                                    )]
            #[pyo3(signature = (event, handler=None))]
            fn on(
                &self,
                py: Python<'_>,
                event: &str,
                handler: Option<Bound<'_, PyAny>>,
            ) -> PyResult<Py<PyAny>> {
                $events.on(py, &self.shared, event, handler)
            }

            /// Removes `handler` from `event`, or every handler of `event` without one.
            #[pyo3(signature = (event, handler=None))]
            fn off(
                &self,
                py: Python<'_>,
                event: &str,
                handler: Option<Bound<'_, PyAny>>,
            ) -> PyResult<()> {
                $events.off(py, &self.shared, event, handler)
            }

            /// Unique in the process, never reused.
            #[getter]
            fn id(&self) -> u64 {
                self.inner.id()
            }

            #[doc = $close]
            fn close(&self, py: Python<'_>) {
                self.0.close(py);
            }

            fn __enter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            #[pyo3(signature = (*_exc_info))]
            fn __exit__(
                &self,
                py: Python<'_>,
                _exc_info: &Bound<'_, pyo3::types::PyTuple>,
            ) -> bool {
                self.0.close(py);
                false
            }

            fn __traverse__(
                &self,
                visit: pyo3::gc::PyVisit<'_>,
            ) -> Result<(), pyo3::PyTraverseError> {
                self.shared.traverse(&visit)
            }

            fn __clear__(&self) {
                drop(self.shared.clear());
            }
        }
    };
}

pub(crate) use handle_methods;

/// A stats field as Python sees it: numbers as they are, the core's named values as their
/// names.
pub(crate) trait StatValue {
    type Py;
    fn py_value(self) -> Self::Py;
}

macro_rules! numbers_are_themselves {
    ($($t:ty),*) => {$(
        impl StatValue for $t {
            type Py = $t;
            fn py_value(self) -> $t {
                self
            }
        }
    )*};
}
numbers_are_themselves!(u64, i64, u32, f64, bool);

impl StatValue for libpublisher::QualityLimitation {
    type Py = &'static str;
    fn py_value(self) -> &'static str {
        self.as_str()
    }
}

/// A dict of a stats struct's fields by name, `$type { field, ... }` listing every field:
/// the pattern is exhaustive, so a field added to the core fails to compile here.
macro_rules! stats_dict {
    ($py:expr, $stats:expr, $type:path { $($field:ident),* $(,)? }) => {{
        use $crate::handle::StatValue as _;
        let $type { $($field),* } = $stats;
        let dict = PyDict::new($py);
        $(dict.set_item(intern!($py, stringify!($field)), $field.py_value())?;)*
        dict
    }};
}

pub(crate) use stats_dict;
