//! The `options` dicts of `init_publisher` and `init_session`: every key and value goes
//! through the core's `PublisherSettings::set` / `SessionSettings::set`, which own parsing,
//! defaults and the wording of every error. Only the access-request callable is the binding's,
//! since the core cannot hold Python objects.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};

use libpublisher::{AccessRequest, OptionValue, PublisherSettings, SessionSettings};

use crate::delivery::Shared;
use crate::errors::{invalid, to_py_err};

/// The key of the consent callback; the camelCase spelling is accepted like the core's keys.
fn is_access_request_key(key: &str) -> bool {
    key == "access_request" || key == "accessRequest"
}

/// `(key, value)` pairs of a dict or any mapping with `items()`, in iteration order.
pub(crate) fn mapping_items<'py>(
    obj: &Bound<'py, PyAny>,
    field: &str,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let py = obj.py();
    if let Ok(dict) = obj.cast::<PyDict>() {
        return Ok(dict.iter().collect());
    }
    let not_a_mapping = || {
        invalid(
            py,
            field,
            format!("expected a dict, got {}", type_name(obj)),
        )
    };
    let items = obj.call_method0("items").map_err(|_| not_a_mapping())?;
    let mut pairs = Vec::new();
    for item in items.try_iter().map_err(|_| not_a_mapping())? {
        let item = item?;
        let pair = item.cast::<PyTuple>().map_err(|_| not_a_mapping())?;
        if pair.len() != 2 {
            return Err(not_a_mapping());
        }
        pairs.push((pair.get_item(0)?, pair.get_item(1)?));
    }
    Ok(pairs)
}

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Calls `apply(key, value)` for each item of `options` (None: no items).
fn for_each_option(
    options: Option<&Bound<'_, PyAny>>,
    mut apply: impl FnMut(&str, &Bound<'_, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    let Some(options) = options.filter(|o| !o.is_none()) else {
        return Ok(());
    };
    let py = options.py();
    for (key, value) in mapping_items(options, "options")? {
        let key = key.cast::<PyString>().map_err(|_| {
            invalid(
                py,
                "options",
                format!("keys must be strings, got {}", type_name(&key)),
            )
        })?;
        apply(&key.to_cow()?, &value)?;
    }
    Ok(())
}

/// Applies `options` to `settings`; the consent callable goes to `shared`.
pub(crate) fn apply(
    settings: &mut PublisherSettings,
    shared: &Arc<Shared>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    for_each_option(options, |key, value| {
        if is_access_request_key(key) {
            return set_access_request(settings, shared, key, value);
        }
        let py = value.py();
        let value = option_value(key, value)?;
        settings.set(key, value).map_err(|e| to_py_err(py, &e))
    })
}

/// Applies `options` (`connect_timeout_ms`, `ice_servers` ...) to `settings`.
pub(crate) fn apply_session(
    settings: &mut SessionSettings,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    for_each_option(options, |key, value| {
        let py = value.py();
        let value = option_value(key, value)?;
        settings.set(key, value).map_err(|e| to_py_err(py, &e))
    })
}

/// The core's view of one Python value: lists and tuples become lists and dicts (any
/// mapping) mappings, element by element (for `ice_servers`).
pub(crate) fn option_value(key: &str, value: &Bound<'_, PyAny>) -> PyResult<OptionValue> {
    option_value_at(key, value, 0)
}

fn option_value_at(key: &str, value: &Bound<'_, PyAny>, depth: usize) -> PyResult<OptionValue> {
    let py = value.py();
    // Lists and mappings nest only as deep as the core allows (a cycle would never end).
    let deeper = || OptionValue::check_depth(key, depth).map_err(|e| to_py_err(py, &e));
    if value.is_none() {
        Ok(OptionValue::Null)
    } else if let Ok(b) = value.cast::<PyBool>() {
        // Checked before int: bool is an int subclass in Python.
        Ok(OptionValue::Bool(b.is_true()))
    } else if let Ok(i) = value.cast::<PyInt>() {
        i.extract::<i64>()
            .map(OptionValue::Int)
            .map_err(|_| invalid(py, key, format!("{i} is out of range")))
    } else if let Ok(f) = value.cast::<PyFloat>() {
        Ok(OptionValue::Float(f.value()))
    } else if let Ok(s) = value.cast::<PyString>() {
        Ok(OptionValue::Str(s.to_cow()?.into_owned()))
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        deeper()?;
        let mut items = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            items.push(option_value_at(&format!("{key}[{i}]"), &item?, depth + 1)?);
        }
        Ok(OptionValue::List(items))
    } else if value.is_instance_of::<PyDict>() || value.cast::<PyMapping>().is_ok() {
        deeper()?;
        let mut entries = Vec::new();
        for (k, v) in mapping_items(value, key)? {
            let k = k.cast::<PyString>().map_err(|_| {
                invalid(
                    py,
                    key,
                    format!("keys must be strings, got {}", type_name(&k)),
                )
            })?;
            let k = k.to_cow()?.into_owned();
            let v = option_value_at(&format!("{key}.{k}"), &v, depth + 1)?;
            entries.push((k, v));
        }
        Ok(OptionValue::Map(entries))
    } else {
        // The core has no value kind for these, so it cannot word this one.
        Err(invalid(
            py,
            key,
            format!(
                "expected a string, a number, a boolean, None, a list or a dict, got {}",
                type_name(value)
            ),
        ))
    }
}

fn set_access_request(
    settings: &mut PublisherSettings,
    shared: &Arc<Shared>,
    key: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    if value.is_none() {
        // No callback: the core's default allows.
        settings.access_request = None;
        shared.set_access_request(None);
        return Ok(());
    }
    if !value.is_callable() {
        return Err(invalid(
            value.py(),
            key,
            format!("expected a callable or None, got {}", type_name(value)),
        ));
    }
    shared.set_access_request(Some(value.clone().unbind()));
    let shared = shared.clone();
    settings.access_request = Some(Arc::new(move |request: &AccessRequest| {
        crate::publisher::ask_access(&shared, request)
    }));
    Ok(())
}
