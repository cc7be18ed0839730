//! libpublisher: capture camera and microphone, connect to a media session and publish over
//! WebRTC, with the flow and failure handling of the OpenTok / Vonage Video web client:
//! **init publisher → connect session → publish**, every failure a stable code and name.
//!
//! ```no_run
//! use std::sync::Arc;
//! use libpublisher::{init_publisher, OptionValue, PublisherSettings};
//!
//! let mut settings = PublisherSettings::default();
//! settings.set("video_source", OptionValue::Str("synthetic".into())).unwrap();
//! settings.set("audio_source", OptionValue::Str("synthetic".into())).unwrap();
//! let (tx, rx) = std::sync::mpsc::channel();
//! let publisher = init_publisher(
//!     settings,
//!     Arc::new(|_, event| println!("event: {}", event.name())),
//!     Box::new(move |_, outcome| tx.send(outcome).unwrap()),
//! )
//! .unwrap();
//! rx.recv().unwrap().expect("sources acquired");
//! publisher.close();
//! ```

#![warn(missing_docs)]

pub mod adapt;
pub mod devices;
pub mod error;
pub mod host;
pub mod logging;
pub mod media;
pub mod publisher;
pub mod runtime;
pub mod session;
pub mod settings;
mod stats;

/// Entry points for the fuzz targets in `fuzz/` (the `fuzzing` feature): thin wrappers over
/// the code that reads outside input (server answers, URLs, files, pushed frames, RTCP). Not
/// part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::media::custom::fuzzing::*;
    pub use crate::media::file_fuzzing::*;
    pub use crate::session::fuzzing::*;
}

// The integration tests' helpers (core/tests/common), for unit tests that need the crate's
// internals as well; they name the crate `libpublisher`, as the integration tests do.
#[cfg(test)]
extern crate self as libpublisher;
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_common;

pub use adapt::DegradationPreference;
pub use devices::{get_devices, Device, DeviceKind};
pub use error::{Error, ErrorCode, Reason, Result};
pub use logging::{set_log_sink, LogLevel, LogRecord};
pub use media::frame::{AudioFrameRef, AudioSamples, VideoFormat, VideoFrameRef};
pub use publisher::{
    init_publisher, Publisher, PublisherEvent, PublisherState, PublisherStats,
    PUBLISHER_EVENT_NAMES,
};
pub use session::{
    init_session, IceServer, IceTransportPolicy, ReceiverStats, Session, SessionEvent,
    SessionSettings, SessionState, SESSION_EVENT_NAMES, SESSION_OPTION_KEYS,
};
pub use settings::{AccessRequest, OptionValue, PublisherSettings, SourceSpec, VideoCodec};
pub use stats::QualityLimitation;

/// The library's version, e.g. `"0.1.0"`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
