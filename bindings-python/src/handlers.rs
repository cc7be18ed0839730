//! Event handlers and completion callbacks, the same for publishers and sessions: `on`/`off`,
//! the `on={...}` keyword, and calling host callables so that their failures never disturb
//! the library.

use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple};

use crate::delivery::Shared;
use crate::errors::{error_object, invalid, is_ordinary};
use crate::options::{mapping_items, type_name};

/// The events one kind of handle emits, as Python spells them.
pub(crate) struct Events {
    /// `"publisher"` or `"session"`, for messages.
    kind: &'static str,
    camel: &'static [&'static str],
    snake: OnceLock<Vec<&'static str>>,
}

impl Events {
    pub(crate) const fn new(kind: &'static str, camel: &'static [&'static str]) -> Events {
        Events {
            kind,
            camel,
            snake: OnceLock::new(),
        }
    }

    /// The core's names, snake_case, in the core's order.
    pub(crate) fn names(&self) -> &[&'static str] {
        self.snake.get_or_init(|| {
            self.camel
                .iter()
                .map(|name| &*Box::leak(libpublisher::settings::snake_case(name).into_boxed_str()))
                .collect()
        })
    }

    /// The snake_case name of the core's event `camel`.
    pub(crate) fn snake_of(&self, camel: &str) -> &'static str {
        let index = self.camel.iter().position(|c| *c == camel);
        // Every name an event carries is in the core's list (a core test says so).
        index.map_or("unknown_event", |i| self.names()[i])
    }

    fn key(&self, py: Python<'_>, name: &str) -> PyResult<&'static str> {
        self.names()
            .iter()
            .copied()
            .find(|known| *known == name)
            .ok_or_else(|| {
                invalid(
                    py,
                    "event",
                    format!(
                        "unknown {} event {name:?}; the events are {}",
                        self.kind,
                        self.names().join(", ")
                    ),
                )
            })
    }

    /// `obj.on(event, handler)`, or `obj.on(event)` as a decorator.
    pub(crate) fn on(
        &'static self,
        py: Python<'_>,
        shared: &Arc<Shared>,
        event: &str,
        handler: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let event = self.key(py, event)?;
        if let Some(handler) = handler {
            register(shared, &handler, event)?;
            return Ok(handler.unbind());
        }
        let shared = shared.clone();
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
                register(&shared, &handler, event)?;
                Ok(handler.unbind())
            },
        )?;
        Ok(decorator.into_any().unbind())
    }

    /// `obj.off(event, handler=None)`.
    pub(crate) fn off(
        &self,
        py: Python<'_>,
        shared: &Shared,
        event: &str,
        handler: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let event = self.key(py, event)?;
        drop(shared.remove_handlers(event, handler.as_ref()));
        Ok(())
    }

    /// Registers the handlers of `on={"event": fn, "other": [fn1, fn2]}`.
    pub(crate) fn register_all(&self, shared: &Shared, on: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = on.py();
        for (name, value) in mapping_items(on, "on")? {
            let name = name.cast::<PyString>().map_err(|_| {
                invalid(
                    py,
                    "on",
                    format!("event names must be strings, got {}", type_name(&name)),
                )
            })?;
            let event = self.key(py, &name.to_cow()?)?;
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
}

fn register(shared: &Shared, handler: &Bound<'_, PyAny>, event: &'static str) -> PyResult<()> {
    if !handler.is_callable() {
        return Err(invalid(
            handler.py(),
            "handler",
            format!("expected a callable, got {}", type_name(handler)),
        ));
    }
    // A closed handle never calls it again: keeping it would only hold memory.
    if !shared.is_closed() {
        shared.add_handler(event, handler.clone().unbind());
    }
    Ok(())
}

/// `callback` unless it is None; 1011 if it cannot be called.
pub(crate) fn checked_callback<'py>(
    py: Python<'py>,
    callback: Option<Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
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
    Ok(callback)
}

/// Calls `f(*args)`: an `Exception` is reported through `sys.unraisablehook` and swallowed;
/// `KeyboardInterrupt`/`SystemExit` are returned for the waiting code to re-raise.
pub(crate) fn call_handler<'py>(
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

/// Calls every handler of `event` with the arguments `args` builds.
pub(crate) fn emit<'py>(
    py: Python<'py>,
    shared: &Shared,
    event: &str,
    args: impl FnOnce(Python<'py>) -> PyResult<Bound<'py, PyTuple>>,
) -> Option<PyErr> {
    let handlers = shared.handlers_of(py, event);
    if handlers.is_empty() {
        return None;
    }
    let args = match args(py) {
        Ok(args) => args,
        Err(err) => {
            err.write_unraisable(py, None);
            return None;
        }
    };
    for handler in handlers {
        // A handler that closed the handle is the last one to run.
        if shared.is_closed() {
            break;
        }
        if let Err(escalated) = call_handler(handler.bind(py), args.clone()) {
            return Some(escalated);
        }
    }
    None
}

/// Calls a completion callback with `None` or the `libpublisher.Error`.
pub(crate) fn complete(
    py: Python<'_>,
    callback: &Py<PyAny>,
    outcome: libpublisher::Result<()>,
) -> Option<PyErr> {
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
