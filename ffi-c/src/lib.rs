//! The C API of libpublisher (`include/libpublisher.h`, generated from this file by cbindgen).
//!
//! Rules every function keeps: pointers are checked (NULL → `LP_INVALID_PARAMETER`), strings
//! are UTF-8, a panic never crosses the boundary (→ `LP_INTERNAL_ERROR`), handles are ids
//! looked up in a registry so a stale or forged handle gives `LP_ILLEGAL_STATE`, never a
//! crash. Strings handed to a callback live until it returns. After a failing call,
//! `lp_last_error_message()` tells what went wrong on the calling thread.

#![allow(non_camel_case_types)]
// Every exported function checks its pointers itself; the C caller owns their validity.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

mod codes;
mod publisher;
mod registry;
mod session;
mod util;

pub use codes::*;
pub use publisher::*;
pub use session::*;

use std::ffi::{c_char, c_void, CStr};

use libpublisher::logging::{LogLevel, LogRecord};
use util::{guard, CStrTable, UserData};

/// An error as the C API reports it to a callback. Valid only during the callback.
#[repr(C)]
pub struct lp_error {
    /// A stable `LP_*` code.
    pub code: i32,
    /// The code's stable name, e.g. `"NOT_CONNECTED"`.
    pub name: *const c_char,
    /// What happened, for people.
    pub message: *const c_char,
}

/// One capture device, as listed by `lp_get_devices`.
#[repr(C)]
pub struct lp_device {
    /// `"audioInput"`, `"videoInput"` or `"screen"`.
    pub kind: *const c_char,
    /// The id to pass as a video or audio source.
    pub device_id: *const c_char,
    /// A name for people.
    pub label: *const c_char,
}

/// Receives the device list; `devices` holds `count` entries and lives until it returns.
pub type lp_devices_cb =
    Option<unsafe extern "C" fn(devices: *const lp_device, count: usize, user_data: *mut c_void)>;

/// Receives one log record; the strings live until it returns.
pub type lp_log_cb = Option<
    unsafe extern "C" fn(
        level: i32,
        target: *const c_char,
        message: *const c_char,
        user_data: *mut c_void,
    ),
>;

/// The library's version, e.g. `"0.1.0"`. The string is static.
#[no_mangle]
pub extern "C" fn lp_version() -> *const c_char {
    static VERSION: CStrTable = CStrTable::new();
    VERSION.get(0, || libpublisher::VERSION.to_owned())
}

/// The stable name of an error code (`"NOT_CONNECTED"` for 1010), or `"UNKNOWN"` for a number
/// that is not in the table. The string is static.
#[no_mangle]
pub extern "C" fn lp_error_name(code: i32) -> *const c_char {
    codes::error_name(code)
}

/// The stable name of a stream-destroyed / session-disconnected reason
/// (`"networkDisconnected"` for `LP_REASON_NETWORK_DISCONNECTED`), or `"unknown"`.
#[no_mangle]
pub extern "C" fn lp_reason_name(reason: i32) -> *const c_char {
    codes::reason_name(reason)
}

/// A message describing the last failing call on this thread (empty when there is none).
/// Valid until the next call into the library on this thread.
#[no_mangle]
pub extern "C" fn lp_last_error_message() -> *const c_char {
    util::last_error_message()
}

/// Lists microphones and cameras: calls `cb` once, before returning, with the list (possibly
/// empty: a machine without devices is not an error).
#[no_mangle]
pub extern "C" fn lp_get_devices(cb: lp_devices_cb, user_data: *mut c_void) -> i32 {
    guard(|| {
        let Some(cb) = cb else {
            return Err(libpublisher::Error::invalid_parameter(
                "cb",
                "must not be NULL",
            ));
        };
        let devices = libpublisher::get_devices();
        let strings: Vec<_> = devices
            .iter()
            .map(|d| {
                (
                    util::cstring(d.kind.as_str()),
                    util::cstring(&d.device_id),
                    util::cstring(&d.label),
                )
            })
            .collect();
        let list: Vec<lp_device> = strings
            .iter()
            .map(|(kind, id, label)| lp_device {
                kind: kind.as_ptr(),
                device_id: id.as_ptr(),
                label: label.as_ptr(),
            })
            .collect();
        unsafe { cb(list.as_ptr(), list.len(), user_data) };
        Ok(())
    })
}

/// Routes the library's logs at `level` (`LP_LOG_ERROR` … `LP_LOG_TRACE`) and more severe to
/// `cb`, called on library threads. `cb` NULL or `LP_LOG_OFF` stops logging. When this
/// returns, the callback it replaces is not running (unless this is called from inside it)
/// and will not run again, so its `user_data` may be freed.
#[no_mangle]
pub extern "C" fn lp_set_log_callback(level: i32, cb: lp_log_cb, user_data: *mut c_void) -> i32 {
    guard(|| {
        let level = LogLevel::from_i32(level).ok_or_else(|| {
            libpublisher::Error::invalid_parameter(
                "level",
                format!("{level} is not a LP_LOG_* level"),
            )
        })?;
        let sink = cb.map(|cb| {
            let user_data = UserData(user_data);
            std::sync::Arc::new(move |record: &LogRecord| {
                let target = util::cstring(&record.target);
                let message = util::cstring(&record.message);
                unsafe {
                    cb(
                        record.level as i32,
                        target.as_ptr(),
                        message.as_ptr(),
                        user_data.get(),
                    )
                }
            }) as libpublisher::logging::LogSink
        });
        libpublisher::set_log_sink(level, sink)
    })
}

/// Reads a C string argument: NULL or invalid UTF-8 → 1011 naming the argument.
pub(crate) fn arg_str<'a>(field: &str, ptr: *const c_char) -> libpublisher::Result<&'a str> {
    if ptr.is_null() {
        return Err(libpublisher::Error::invalid_parameter(
            field,
            "must not be NULL",
        ));
    }
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| libpublisher::Error::invalid_parameter(field, "is not valid UTF-8"))
}
