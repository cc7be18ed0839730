//! Raw media: frames, the queues between threads, and the sources that produce frames.
//!
//! Each source produces frames on its own thread and hands them to its subscribers through
//! bounded queues that drop the oldest frame when full: a consumer that falls behind loses
//! frames, it never builds up latency or memory.

mod camera;
mod convert;
pub mod custom;
pub mod encoder;
pub(crate) mod feed;
mod file;
#[cfg(feature = "fuzzing")]
pub(crate) use file::fuzzing as file_fuzzing;
pub mod frame;
pub mod h264;
pub mod level;
mod microphone;
pub mod opus;
pub(crate) mod preference;
mod queue;
mod resample;
pub(crate) mod scale;
#[cfg(target_os = "linux")]
pub(crate) mod screen;
/// Screen capture exists on Linux (X11) only.
#[cfg(not(target_os = "linux"))]
pub(crate) mod screen {
    use crate::devices::Device;
    use crate::error::{Error, ErrorCode, Result};

    fn unsupported() -> Error {
        Error::new(
            ErrorCode::HardwareUnavailable,
            "screen capture is not supported on this platform",
        )
    }
    pub(crate) fn list() -> Result<Vec<Device>> {
        Err(unsupported())
    }
    pub(crate) fn find(_: Option<u32>) -> Result<Device> {
        Err(unsupported())
    }
    pub(crate) fn video(
        _: u32,
        _: crate::settings::Resolution,
        _: u32,
    ) -> Result<super::Source<super::VideoFrame>> {
        Err(unsupported())
    }
}
pub(crate) mod snapshot;
mod source;
pub mod synthetic;
pub mod vp8;

pub use frame::{AudioFrame, VideoFrame};
pub use queue::FrameQueue;
pub use source::{Source, SourceStatus};

use crate::devices::Device;
use crate::error::{Error, Result};
use crate::settings::{Resolution, SourceSpec};

/// Sample rate of every audio frame inside the library (Opus's native rate).
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Duration of one audio frame: 10 ms, the unit WebRTC audio processing works in.
pub const AUDIO_FRAME_MS: u32 = 10;
/// Samples per channel in one audio frame.
pub const AUDIO_FRAME_SAMPLES: usize = (AUDIO_SAMPLE_RATE * AUDIO_FRAME_MS / 1000) as usize;

/// What kind of media a source or device produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Microphone-like sources.
    Audio,
    /// Camera-like sources.
    Video,
}

impl MediaKind {
    /// `"audio"` or `"video"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// Opens the video source `spec` names (`device` is what `devices::resolve` found for it).
pub(crate) fn open_video(
    spec: &SourceSpec,
    device: Option<&Device>,
    resolution: Resolution,
    frame_rate: u32,
) -> Result<Source<VideoFrame>> {
    match spec {
        SourceSpec::Synthetic => synthetic::video(resolution.width, resolution.height, frame_rate),
        SourceSpec::File(path) => file::video(path, resolution, frame_rate),
        SourceSpec::Custom => custom::video(resolution, frame_rate),
        // Screen ids are `screen:<index>`, as `devices::resolve` found it.
        SourceSpec::Screen(_) => match device
            .and_then(|d| d.device_id.strip_prefix("screen:"))
            .map(str::parse::<u32>)
        {
            Some(Ok(index)) => screen::video(index, resolution, frame_rate),
            _ => Err(not_available("video_source", spec, device)),
        },
        SourceSpec::Default | SourceSpec::Device(_) => match device {
            // Camera ids are `video:<index>`, as `get_devices` lists them.
            Some(d) => match d.device_id.strip_prefix("video:").map(str::parse::<u32>) {
                Some(Ok(index)) => camera::open(index, &d.label, resolution, frame_rate),
                _ => Err(not_available("video_source", spec, device)),
            },
            None => Err(not_available("video_source", spec, device)),
        },
    }
}

/// Opens the audio source `spec` names (`device` is what `devices::resolve` found for it).
pub(crate) fn open_audio(spec: &SourceSpec, device: Option<&Device>) -> Result<Source<AudioFrame>> {
    match spec {
        SourceSpec::Synthetic => synthetic::audio(1),
        SourceSpec::Default => microphone::open(None),
        SourceSpec::Device(_) => match device {
            Some(d) => microphone::open(Some(&d.label)),
            None => Err(not_available("audio_source", spec, device)),
        },
        SourceSpec::File(path) => file::audio(path),
        SourceSpec::Custom => custom::audio(),
        SourceSpec::Screen(_) => Err(Error::invalid_parameter(
            "audio_source",
            "a screen is a video source",
        )),
    }
}

// A device the build cannot capture from is refused plainly rather than pretending to open.
fn not_available(field: &str, spec: &SourceSpec, device: Option<&Device>) -> Error {
    match device {
        Some(d) => Error::new(
            crate::error::ErrorCode::HardwareUnavailable,
            format!(
                "{field}: capturing from {:?} is not supported by this build yet",
                d.label
            ),
        ),
        None => Error::invalid_parameter(
            field,
            format!("{spec:?} sources are not supported by this build yet"),
        ),
    }
}
