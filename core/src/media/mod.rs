//! Raw media: frames, the queues between threads, and the sources that produce frames.
//!
//! Each source produces frames on its own thread and hands them to its subscribers through
//! bounded queues that drop the oldest frame when full: a consumer that falls behind loses
//! frames, it never builds up latency or memory.

mod camera;
mod convert;
pub mod custom;
pub mod encoder;
mod file;
pub mod h264;
pub mod level;
mod microphone;
pub mod opus;
mod queue;
mod resample;
pub(crate) mod scale;
mod source;
pub mod synthetic;
pub mod vp8;

pub use queue::FrameQueue;
pub use source::{Source, SourceStatus};

use std::sync::Arc;

use crate::devices::Device;
use crate::error::{Error, Result};
use crate::settings::{Resolution, SourceSpec};

/// Sample rate of every audio frame inside the library (Opus's native rate).
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Duration of one audio frame: 10 ms, the unit WebRTC audio processing works in.
pub const AUDIO_FRAME_MS: u32 = 10;
/// Samples per channel in one audio frame.
pub const AUDIO_FRAME_SAMPLES: usize = (AUDIO_SAMPLE_RATE * AUDIO_FRAME_MS / 1000) as usize;

/// One video frame in I420: the Y plane (`width * height` bytes), then U, then V (each
/// `width/2 * height/2` bytes), without padding.
#[derive(Clone, Debug)]
pub struct VideoFrame {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Capture time on the source's clock, in microseconds from the source's start.
    pub timestamp_us: u64,
    /// The three planes, shared between the consumers of the frame.
    pub data: Arc<[u8]>,
}

impl VideoFrame {
    /// Bytes needed for an I420 frame of this size.
    pub fn i420_len(width: u32, height: u32) -> usize {
        let luma = width as usize * height as usize;
        luma + 2 * (luma / 4)
    }

    /// The Y, U and V planes.
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let luma = self.width as usize * self.height as usize;
        let chroma = luma / 4;
        let (y, rest) = self.data.split_at(luma);
        let (u, v) = rest.split_at(chroma);
        (y, u, v)
    }
}

/// One frame of audio: 10 ms of 16-bit PCM at 48 kHz, channels interleaved.
#[derive(Clone, Debug)]
pub struct AudioFrame {
    /// Number of interleaved channels (1 or 2).
    pub channels: u16,
    /// Capture time on the source's clock, in microseconds from the source's start.
    pub timestamp_us: u64,
    /// `AUDIO_FRAME_SAMPLES * channels` samples.
    pub samples: Arc<[i16]>,
}

impl AudioFrame {
    /// Root-mean-square level of the frame, 0..1 (a full-scale sine is about 0.707).
    pub fn rms_level(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: f64 = self
            .samples
            .iter()
            .map(|&s| {
                let x = s as f64 / i16::MAX as f64;
                x * x
            })
            .sum();
        ((sum / self.samples.len() as f64).sqrt() as f32).min(1.0)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i420_planes_split_at_the_right_offsets() {
        let len = VideoFrame::i420_len(4, 2);
        assert_eq!(len, 8 + 2 + 2);
        let frame = VideoFrame {
            width: 4,
            height: 2,
            timestamp_us: 0,
            data: (0..len as u8).collect::<Vec<u8>>().into(),
        };
        let (y, u, v) = frame.planes();
        assert_eq!((y.len(), u.len(), v.len()), (8, 2, 2));
        assert_eq!((u[0], v[0]), (8, 10));
    }

    #[test]
    fn rms_of_silence_and_full_scale() {
        let silent = AudioFrame {
            channels: 1,
            timestamp_us: 0,
            samples: vec![0i16; AUDIO_FRAME_SAMPLES].into(),
        };
        assert_eq!(silent.rms_level(), 0.0);
        let loud = AudioFrame {
            channels: 1,
            timestamp_us: 0,
            samples: vec![i16::MAX; AUDIO_FRAME_SAMPLES].into(),
        };
        assert!((loud.rms_level() - 1.0).abs() < 1e-6);
    }
}
