//! The boundary's plumbing: panic guards, the per-thread last error, C strings, user data.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use libpublisher::{Error, ErrorCode, OptionValue};

use crate::lp_error;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Remembers `error` as this thread's last error and returns its code.
pub(crate) fn set_last_error(error: &Error) -> i32 {
    LAST_ERROR.with(|last| *last.borrow_mut() = cstring(&error.message));
    error.code()
}

pub(crate) fn last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// Runs the body of an exported function: its error becomes the return code and the thread's
/// last error, and a panic becomes `LP_INTERNAL_ERROR` instead of unwinding into C.
pub(crate) fn guard(body: impl FnOnce() -> libpublisher::Result<()>) -> i32 {
    LAST_ERROR.with(|last| *last.borrow_mut() = CString::default());
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => ErrorCode::Ok.code(),
        Ok(Err(error)) => set_last_error(&error),
        Err(panic) => set_last_error(&Error::from_panic("the C API", &*panic)),
    }
}

/// A C string from Rust text; an interior NUL (never valid in C) becomes U+FFFD.
pub(crate) fn cstring(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| {
        CString::new(text.replace('\0', "\u{FFFD}")).expect("NULs were replaced")
    })
}

/// Calls `f` with an `lp_error` describing `error`, valid for the duration of the call.
pub(crate) fn with_error<R>(error: &Error, f: impl FnOnce(&lp_error) -> R) -> R {
    let message = cstring(&error.message);
    let raw = lp_error {
        code: error.code(),
        name: crate::codes::error_name(error.code()),
        message: message.as_ptr(),
    };
    f(&raw)
}

/// Static C strings made once, looked up by a small key.
pub(crate) struct CStrTable(OnceLock<std::sync::Mutex<Vec<(i32, &'static std::ffi::CStr)>>>);

impl CStrTable {
    pub(crate) const fn new() -> Self {
        CStrTable(OnceLock::new())
    }

    /// The string for `key`, made by `make` on first use and kept for the process's life.
    pub(crate) fn get(&self, key: i32, make: impl FnOnce() -> String) -> *const c_char {
        let table = self.0.get_or_init(Default::default);
        let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, s)) = table.iter().find(|(k, _)| *k == key) {
            return s.as_ptr();
        }
        let leaked: &'static std::ffi::CStr = Box::leak(cstring(&make()).into_boxed_c_str());
        table.push((key, leaked));
        leaked.as_ptr()
    }
}

/// The host's `user_data`: the library only hands it back, on whichever thread calls back,
/// which the C API documents; the host is responsible for what it points to.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);

// SAFETY: the pointer is never dereferenced by the library, only passed back to the host.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

impl UserData {
    pub(crate) fn get(self) -> *mut c_void {
        self.0
    }
}

/// A copy of the host's callbacks struct (functions and `user_data`), for the library's
/// threads; like [`UserData`], it is only handed back to the host.
#[derive(Clone, Copy)]
pub(crate) struct HostCallbacks<T: Copy>(T);

// SAFETY: as for `UserData`: the library only calls the host's functions with its pointer.
unsafe impl<T: Copy> Send for HostCallbacks<T> {}
unsafe impl<T: Copy> Sync for HostCallbacks<T> {}

impl<T: Copy> HostCallbacks<T> {
    pub(crate) fn new(callbacks: T) -> Self {
        HostCallbacks(callbacks)
    }

    pub(crate) fn get(&self) -> T {
        self.0
    }
}

/// `*ptr`, for a pointer argument the host must not pass as NULL (1011 naming `field`).
pub(crate) fn arg_mut<'a, T>(field: &str, ptr: *mut T) -> libpublisher::Result<&'a mut T> {
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::invalid_parameter(field, "must not be NULL"))
}

/// `*ptr`, for a pointer argument the host must not pass as NULL (1011 naming `field`).
pub(crate) fn arg_ref<'a, T>(field: &str, ptr: *const T) -> libpublisher::Result<&'a T> {
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid_parameter(field, "must not be NULL"))
}

/// An optional C string argument: NULL is `None`.
pub(crate) fn optional_str<'a>(
    field: &str,
    ptr: *const c_char,
) -> libpublisher::Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        crate::arg_str(field, ptr).map(Some)
    }
}

/// Frees what `Box::into_raw` made (settings objects); NULL is ignored.
pub(crate) fn free_boxed<T>(ptr: *mut T) {
    if !ptr.is_null() {
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A settings object of the C API: the core sets, checks and names each option by key.
pub(crate) trait Options {
    fn set(&mut self, key: &str, value: OptionValue) -> libpublisher::Result<()>;
}

/// Sets option `key` of `settings` (1011 for NULL settings or a value the core refuses).
pub(crate) fn set_option<S: Options>(settings: *mut S, key: &str, value: OptionValue) -> i32 {
    guard(|| arg_mut("settings", settings)?.set(key, value))
}

/// Sets the string option `key`: NULL clears it when the option is `nullable`, and is refused
/// otherwise.
pub(crate) fn set_str_option<S: Options>(
    settings: *mut S,
    key: &str,
    value: *const c_char,
    nullable: bool,
) -> i32 {
    guard(|| {
        let value = match optional_str(key, value)? {
            Some(text) => OptionValue::Str(text.to_owned()),
            None if nullable => OptionValue::Null,
            None => return Err(Error::invalid_parameter(key, "must not be NULL")),
        };
        arg_mut("settings", settings)?.set(key, value)
    })
}
