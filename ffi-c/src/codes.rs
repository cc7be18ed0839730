//! The error codes, reasons and log levels as C constants.
//!
//! cbindgen needs literal constants, so the table is spelled out here; the test below checks
//! it against the core's table, entry by entry, so the two can never drift apart.

use std::ffi::c_char;

use libpublisher::{ErrorCode, Reason};

use crate::util::CStrTable;

/// Success.
pub const LP_OK: i32 = 0;
/// The token was rejected (401/403).
pub const LP_AUTHENTICATION_ERROR: i32 = 1004;
/// The URL is malformed, of an unknown scheme, or names an unknown session (404).
pub const LP_INVALID_SESSION_ID: i32 = 1005;
/// The server is unreachable: DNS, connection refused, TLS failure.
pub const LP_CONNECT_FAILED: i32 = 1006;
/// The session is not connected.
pub const LP_NOT_CONNECTED: i32 = 1010;
/// A NULL or invalid handle or argument, a bad option value, invalid UTF-8.
pub const LP_INVALID_PARAMETER: i32 = 1011;
/// The call is not valid now (publish twice, use after free).
pub const LP_ILLEGAL_STATE: i32 = 1015;
/// No answer within the connect timeout.
pub const LP_CONNECT_TIMEOUT: i32 = 1021;
/// The server refuses for capacity (429, 503).
pub const LP_CONNECTION_LIMIT_EXCEEDED: i32 = 1027;
/// Consent denied by the host, or the OS denied permission.
pub const LP_USER_MEDIA_ACCESS_DENIED: i32 = 1500;
/// The server accepted nothing within the publish timeout.
pub const LP_PUBLISH_TIMEOUT: i32 = 1541;
/// No ICE path: a restrictive network, TURN unreachable.
pub const LP_CREATE_PEER_CONNECTION_FAILED: i32 = 1553;
/// The device is present but cannot be opened (busy, driver error).
pub const LP_HARDWARE_UNAVAILABLE: i32 = 1580;
/// No device of a requested kind.
pub const LP_NO_DEVICES_FOUND: i32 = 1581;
/// The requested device id is not present.
pub const LP_DEVICE_NOT_FOUND: i32 = 1582;
/// The device cannot deliver the requested resolution or rate.
pub const LP_CONSTRAINTS_NOT_SATISFIED: i32 = 1583;
/// A file source is unreadable or of a wrong format.
pub const LP_MEDIA_SOURCE_INVALID: i32 = 1584;
/// The server rejected the stream for another reason.
pub const LP_STREAM_CREATE_FAILED: i32 = 1590;
/// The server's answer cannot be applied (no common codec, bad SDP).
pub const LP_SET_REMOTE_DESCRIPTION_FAILED: i32 = 1610;
/// A bug, including a caught panic.
pub const LP_INTERNAL_ERROR: i32 = 2000;
/// A malformed server response (bad JSON, no Location, ...).
pub const LP_UNEXPECTED_SERVER_RESPONSE: i32 = 2001;

/// The host unpublished or disconnected.
pub const LP_REASON_CLIENT_DISCONNECTED: i32 = 1;
/// The server disconnected this client.
pub const LP_REASON_FORCE_DISCONNECTED: i32 = 2;
/// The server unpublished this stream.
pub const LP_REASON_FORCE_UNPUBLISHED: i32 = 3;
/// A source stopped delivering (device unplugged, capture failed).
pub const LP_REASON_MEDIA_STOPPED: i32 = 4;
/// The network path was lost and could not be recovered.
pub const LP_REASON_NETWORK_DISCONNECTED: i32 = 5;

/// Log levels for `lp_set_log_callback`.
pub const LP_LOG_OFF: i32 = 0;
/// Failures.
pub const LP_LOG_ERROR: i32 = 1;
/// Recoverable trouble.
pub const LP_LOG_WARN: i32 = 2;
/// Milestones.
pub const LP_LOG_INFO: i32 = 3;
/// Detail for debugging.
pub const LP_LOG_DEBUG: i32 = 4;
/// Everything.
pub const LP_LOG_TRACE: i32 = 5;

pub(crate) fn error_name(code: i32) -> *const c_char {
    static NAMES: CStrTable = CStrTable::new();
    NAMES.get(code, || {
        ErrorCode::from_code(code)
            .map_or("UNKNOWN", ErrorCode::name)
            .to_owned()
    })
}

pub(crate) fn reason_name(reason: i32) -> *const c_char {
    static NAMES: CStrTable = CStrTable::new();
    NAMES.get(reason, || {
        Reason::from_code(reason)
            .map_or("unknown", Reason::name)
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every constant of the C table, as the header declares it.
    const C_ERRORS: &[(&str, i32)] = &[
        ("LP_OK", LP_OK),
        ("LP_AUTHENTICATION_ERROR", LP_AUTHENTICATION_ERROR),
        ("LP_INVALID_SESSION_ID", LP_INVALID_SESSION_ID),
        ("LP_CONNECT_FAILED", LP_CONNECT_FAILED),
        ("LP_NOT_CONNECTED", LP_NOT_CONNECTED),
        ("LP_INVALID_PARAMETER", LP_INVALID_PARAMETER),
        ("LP_ILLEGAL_STATE", LP_ILLEGAL_STATE),
        ("LP_CONNECT_TIMEOUT", LP_CONNECT_TIMEOUT),
        ("LP_CONNECTION_LIMIT_EXCEEDED", LP_CONNECTION_LIMIT_EXCEEDED),
        ("LP_USER_MEDIA_ACCESS_DENIED", LP_USER_MEDIA_ACCESS_DENIED),
        ("LP_PUBLISH_TIMEOUT", LP_PUBLISH_TIMEOUT),
        (
            "LP_CREATE_PEER_CONNECTION_FAILED",
            LP_CREATE_PEER_CONNECTION_FAILED,
        ),
        ("LP_HARDWARE_UNAVAILABLE", LP_HARDWARE_UNAVAILABLE),
        ("LP_NO_DEVICES_FOUND", LP_NO_DEVICES_FOUND),
        ("LP_DEVICE_NOT_FOUND", LP_DEVICE_NOT_FOUND),
        ("LP_CONSTRAINTS_NOT_SATISFIED", LP_CONSTRAINTS_NOT_SATISFIED),
        ("LP_MEDIA_SOURCE_INVALID", LP_MEDIA_SOURCE_INVALID),
        ("LP_STREAM_CREATE_FAILED", LP_STREAM_CREATE_FAILED),
        (
            "LP_SET_REMOTE_DESCRIPTION_FAILED",
            LP_SET_REMOTE_DESCRIPTION_FAILED,
        ),
        ("LP_INTERNAL_ERROR", LP_INTERNAL_ERROR),
        (
            "LP_UNEXPECTED_SERVER_RESPONSE",
            LP_UNEXPECTED_SERVER_RESPONSE,
        ),
    ];

    const C_REASONS: &[(&str, i32)] = &[
        (
            "LP_REASON_CLIENT_DISCONNECTED",
            LP_REASON_CLIENT_DISCONNECTED,
        ),
        ("LP_REASON_FORCE_DISCONNECTED", LP_REASON_FORCE_DISCONNECTED),
        ("LP_REASON_FORCE_UNPUBLISHED", LP_REASON_FORCE_UNPUBLISHED),
        ("LP_REASON_MEDIA_STOPPED", LP_REASON_MEDIA_STOPPED),
        (
            "LP_REASON_NETWORK_DISCONNECTED",
            LP_REASON_NETWORK_DISCONNECTED,
        ),
    ];

    fn screaming(camel: &str) -> String {
        let mut out = String::new();
        for c in camel.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn c_error_constants_are_the_core_table() {
        let core: Vec<(String, i32)> = ErrorCode::ALL
            .iter()
            .map(|c| (format!("LP_{}", c.name()), c.code()))
            .collect();
        let c: Vec<(String, i32)> = C_ERRORS.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        assert_eq!(c, core);
    }

    #[test]
    fn c_reason_constants_are_the_core_table() {
        let core: Vec<(String, i32)> = Reason::ALL
            .iter()
            .map(|r| (format!("LP_REASON_{}", screaming(r.name())), r.code()))
            .collect();
        let c: Vec<(String, i32)> = C_REASONS.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        assert_eq!(c, core);
    }

    #[test]
    fn names_come_from_the_core_table() {
        let name = unsafe { std::ffi::CStr::from_ptr(error_name(1010)) };
        assert_eq!(name.to_str().unwrap(), "NOT_CONNECTED");
        let name = unsafe { std::ffi::CStr::from_ptr(error_name(4242)) };
        assert_eq!(name.to_str().unwrap(), "UNKNOWN");
    }
}
