//! The error table of the public contract: one enum, stable numeric codes and names.
//!
//! Every binding derives its own view (C `#define`s and `lp_error_name`, Python `ErrorCode`,
//! Node `ErrorCode`) from [`ErrorCode::ALL`], so a code can never mean two things in two
//! languages. Codes are never renumbered; new conditions get new codes.

use std::fmt;

/// A table of stable codes: the enum, its `code`, `ALL` (in the table's order, ascending by
/// code), the stable `name` and `from_code`. Used for [`ErrorCode`] and [`Reason`]. ffi-c/build.rs reads
/// the two tables below as text to write C's `LP_*` constants: keep one row a line,
/// `Variant = code, "NAME";`, after its `///` docs.
macro_rules! code_table {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[repr(i32)]
        pub enum $enum {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl $enum {
            /// The number (C's `LP_*` value).
            pub const fn code(self) -> i32 {
                self as i32
            }

            /// Every value, in ascending order of code.
            pub const ALL: &'static [$enum] = &[ $( $enum::$variant, )* ];

            /// The stable name, as the table spells it.
            pub const fn name(self) -> &'static str {
                match self { $( $enum::$variant => $name, )* }
            }

            /// The value for a number, if the table has it.
            pub const fn from_code(code: i32) -> Option<$enum> {
                match code { $( $code => Some($enum::$variant), )* _ => None }
            }
        }
    };
}

code_table! {
    /// A stable error code. The numbers match OpenTok's where OpenTok defines the same
    /// condition; our own sit in 1580–1599. Names are like `"NOT_CONNECTED"`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum ErrorCode {
        /// Success.
        Ok = 0, "OK";
        /// The token was rejected (401/403).
        AuthenticationError = 1004, "AUTHENTICATION_ERROR";
        /// The URL is malformed, of an unknown scheme, or names an unknown session (404).
        InvalidSessionId = 1005, "INVALID_SESSION_ID";
        /// The server is unreachable: DNS, connection refused, TLS failure.
        ConnectFailed = 1006, "CONNECT_FAILED";
        /// The session is not connected.
        NotConnected = 1010, "NOT_CONNECTED";
        /// A NULL or invalid handle or argument, a bad option value, invalid UTF-8.
        InvalidParameter = 1011, "INVALID_PARAMETER";
        /// The call is not valid in the object's current state (publish twice, use after free).
        IllegalState = 1015, "ILLEGAL_STATE";
        /// No answer within the connect timeout.
        ConnectTimeout = 1021, "CONNECT_TIMEOUT";
        /// The server refuses for capacity (429, 503).
        ConnectionLimitExceeded = 1027, "CONNECTION_LIMIT_EXCEEDED";
        /// Consent denied by the host, or the OS denied permission.
        UserMediaAccessDenied = 1500, "USER_MEDIA_ACCESS_DENIED";
        /// The server accepted nothing within the publish timeout.
        PublishTimeout = 1541, "PUBLISH_TIMEOUT";
        /// No ICE path: a restrictive network, TURN unreachable.
        CreatePeerConnectionFailed = 1553, "CREATE_PEER_CONNECTION_FAILED";
        /// The device is present but cannot be opened (busy, driver error).
        HardwareUnavailable = 1580, "HARDWARE_UNAVAILABLE";
        /// No device of a requested kind.
        NoDevicesFound = 1581, "NO_DEVICES_FOUND";
        /// The requested device id is not present.
        DeviceNotFound = 1582, "DEVICE_NOT_FOUND";
        /// The device cannot deliver the requested resolution or rate.
        ConstraintsNotSatisfied = 1583, "CONSTRAINTS_NOT_SATISFIED";
        /// A file source is unreadable or of a wrong format.
        MediaSourceInvalid = 1584, "MEDIA_SOURCE_INVALID";
        /// The server rejected the stream for another reason.
        StreamCreateFailed = 1590, "STREAM_CREATE_FAILED";
        /// The server's answer cannot be applied (no common codec, bad SDP).
        SetRemoteDescriptionFailed = 1610, "SET_REMOTE_DESCRIPTION_FAILED";
        /// A bug, including a caught panic.
        InternalError = 2000, "INTERNAL_ERROR";
        /// A malformed server response (bad JSON, no Location, ...).
        UnexpectedServerResponse = 2001, "UNEXPECTED_SERVER_RESPONSE";
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

/// An error as every binding shows it: a stable code (and its name) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({} {})", code.code(), code.name())]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What happened, for people; never contains secrets.
    pub message: String,
}

impl Error {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// 1011: a bad argument. `field` names the option or argument so that the host knows which.
    pub fn invalid_parameter(field: &str, detail: impl fmt::Display) -> Self {
        Error::new(ErrorCode::InvalidParameter, format!("{field}: {detail}"))
    }

    /// 1011: an argument of the wrong type, worded alike in every language:
    /// `"{field}: expected {expected}, got {got}"`, with `got` worded as
    /// [`crate::OptionValue::kind`] words a value (`"a string"`, `"null"`, `"undefined"`).
    pub fn wrong_type(field: &str, expected: &str, got: &str) -> Self {
        Error::invalid_parameter(field, format_args!("expected {expected}, got {got}"))
    }

    /// 2000: a panic caught at a binding's boundary, `"{context} panicked: {message}"`.
    pub fn from_panic(context: &str, panic: &(dyn std::any::Any + Send)) -> Self {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::internal(format!("{context} panicked: {message}"))
    }

    /// 1015: the call is not valid now.
    pub fn illegal_state(detail: impl Into<String>) -> Self {
        Error::new(ErrorCode::IllegalState, detail)
    }

    /// 2000: a bug.
    pub fn internal(detail: impl Into<String>) -> Self {
        Error::new(ErrorCode::InternalError, detail)
    }

    /// The numeric code.
    pub fn code(&self) -> i32 {
        self.code.code()
    }

    /// The stable name of the code.
    pub fn name(&self) -> &'static str {
        self.code.name()
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

code_table! {
    /// Why a stream was destroyed, a session disconnected, or video went off or on (OpenTok's
    /// `reason` strings, named like `"networkDisconnected"`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Reason {
        /// The host unpublished or disconnected.
        ClientDisconnected = 1, "clientDisconnected";
        /// The server disconnected this client.
        ForceDisconnected = 2, "forceDisconnected";
        /// The server unpublished this stream.
        ForceUnpublished = 3, "forceUnpublished";
        /// A source stopped delivering (device unplugged, capture failed).
        MediaStopped = 4, "mediaStopped";
        /// The network path was lost and could not be recovered.
        NetworkDisconnected = 5, "networkDisconnected";
        /// The path was too narrow for video, or is wide enough again (audio-only fallback).
        Quality = 6, "quality";
        /// The host turned video off or on.
        PublishVideo = 7, "publishVideo";
        /// The host turned audio off or on.
        PublishAudio = 8, "publishAudio";
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        let mut seen_codes = std::collections::HashSet::new();
        let mut seen_names = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen_codes.insert(code.code()), "duplicate code {code}");
            assert!(seen_names.insert(code.name()), "duplicate name {code}");
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
        }
        assert_eq!(ErrorCode::from_code(1501), None);
    }

    #[test]
    fn contract_codes_are_the_documented_numbers() {
        assert_eq!(ErrorCode::NotConnected.code(), 1010);
        assert_eq!(
            ErrorCode::UserMediaAccessDenied.name(),
            "USER_MEDIA_ACCESS_DENIED"
        );
        assert_eq!(ErrorCode::CreatePeerConnectionFailed.code(), 1553);
        assert_eq!(ErrorCode::UnexpectedServerResponse.code(), 2001);
    }

    #[test]
    fn display_carries_code_and_name() {
        let e = Error::invalid_parameter("resolution", "expected WIDTHxHEIGHT");
        assert_eq!(
            e.to_string(),
            "resolution: expected WIDTHxHEIGHT (1011 INVALID_PARAMETER)"
        );
    }
}
