//! Frame types: the library's own (I420 video, 10 ms of 48 kHz audio), shared between the
//! threads of a pipeline, and the ones a host pushes to a custom source, borrowed for the
//! call and checked before anything reads them (1011 naming the argument otherwise).

use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

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

/// Largest accepted side of a pushed video frame, in pixels.
pub const MAX_FRAME_SIDE: u32 = 8192;
/// Lowest accepted sample rate of pushed audio, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest accepted sample rate of pushed audio, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// The format of a pushed video frame whose host names none.
pub const DEFAULT_VIDEO_FORMAT: VideoFormat = VideoFormat::I420;
/// The sample rate of pushed audio whose host names none, in Hz.
pub const DEFAULT_SAMPLE_RATE: u32 = 48_000;
/// The channels of pushed audio whose host names none: mono.
pub const DEFAULT_CHANNELS: u32 = 1;

/// The pixel layout of a pushed video frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFormat {
    /// Planar 4:2:0: Y (width × height), then U and V (width/2 × height/2); even sides.
    I420,
    /// 8-bit R, G, B, A per pixel, in that byte order; alpha is ignored.
    Rgba,
}

impl VideoFormat {
    /// `"i420"` or `"rgba"`, the names the bindings accept.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoFormat::I420 => "i420",
            VideoFormat::Rgba => "rgba",
        }
    }

    /// The number the C API uses: 0 for I420, 1 for RGBA.
    pub fn code(self) -> i32 {
        match self {
            VideoFormat::I420 => 0,
            VideoFormat::Rgba => 1,
        }
    }

    /// The format with C number `code`; another number is 1011 naming `format`.
    pub fn from_code(code: i32) -> Result<Self> {
        match code {
            0 => Ok(VideoFormat::I420),
            1 => Ok(VideoFormat::Rgba),
            _ => Err(Error::invalid_parameter(
                "format",
                format!("{code} is not a video format: expected 0 (I420) or 1 (RGBA)"),
            )),
        }
    }

    /// The format named `name` (`"i420"`, `"rgba"`, any case); another name is 1011.
    pub fn from_name(name: &str) -> Result<Self> {
        name.parse()
            .map_err(|e: String| Error::invalid_parameter("format", e))
    }

    /// Checks a frame's size and strides (bytes per row, per plane; RGBA uses the first) and
    /// returns how many bytes each plane must hold: `stride × rows` (0 for planes the format
    /// does not have). Errors are 1011 naming the argument: `width`, `height`, `stride[i]`.
    pub fn plane_lengths(self, width: u32, height: u32, strides: [usize; 3]) -> Result<[usize; 3]> {
        for (name, side) in [("width", width), ("height", height)] {
            if side == 0 {
                return Err(Error::invalid_parameter(name, "must be at least 1"));
            }
            if side > MAX_FRAME_SIDE {
                return Err(Error::invalid_parameter(
                    name,
                    format!("{side} is larger than {MAX_FRAME_SIDE}"),
                ));
            }
        }
        let (w, h) = (width as usize, height as usize);
        let (rows, row_bytes, planes) = match self {
            VideoFormat::I420 => {
                for (name, side) in [("width", width), ("height", height)] {
                    if side % 2 != 0 {
                        return Err(Error::invalid_parameter(
                            name,
                            format!("{side} is odd; I420 frames have even sides"),
                        ));
                    }
                }
                ([h, h / 2, h / 2], [w, w / 2, w / 2], 3)
            }
            VideoFormat::Rgba => ([h, 0, 0], [w * 4, 0, 0], 1),
        };
        let mut lengths = [0usize; 3];
        for i in 0..planes {
            let name = format!("stride[{i}]");
            if strides[i] < row_bytes[i] {
                return Err(Error::invalid_parameter(
                    &name,
                    format!(
                        "{} is less than a row of a {width}-pixel-wide {} frame ({} bytes)",
                        strides[i],
                        self.as_str().to_ascii_uppercase(),
                        row_bytes[i]
                    ),
                ));
            }
            lengths[i] = strides[i]
                .checked_mul(rows[i])
                .ok_or_else(|| Error::invalid_parameter(&name, "is too large"))?;
        }
        Ok(lengths)
    }
}

impl FromStr for VideoFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "i420" => Ok(VideoFormat::I420),
            "rgba" => Ok(VideoFormat::Rgba),
            _ => Err(format!("expected \"i420\" or \"rgba\", got {s:?}")),
        }
    }
}

/// A video frame the host pushes, borrowed for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct VideoFrameRef<'a> {
    /// I420 or RGBA.
    pub format: VideoFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// I420: Y, U, V; RGBA: the pixels, then two unused (empty) slices.
    pub planes: [&'a [u8]; 3],
    /// Bytes per row of each plane (at least the row's width in bytes).
    pub strides: [usize; 3],
    /// Capture time in µs on the host's clock; `None` stamps the frame on arrival.
    pub timestamp_us: Option<u64>,
}

impl<'a> VideoFrameRef<'a> {
    /// A frame from one buffer without padding: I420's three planes one after the other, or
    /// RGBA's rows. Its length must be exactly the frame's (1011 naming `data` otherwise).
    pub fn packed(
        format: VideoFormat,
        width: u32,
        height: u32,
        data: &'a [u8],
        timestamp_us: Option<u64>,
    ) -> Result<Self> {
        let (w, half) = (width as usize, width as usize / 2);
        let strides = match format {
            VideoFormat::I420 => [w, half, half],
            VideoFormat::Rgba => [w.saturating_mul(4), 0, 0],
        };
        let lengths = format.plane_lengths(width, height, strides)?;
        let expected: usize = lengths.iter().sum();
        if data.len() != expected {
            return Err(Error::invalid_parameter(
                "data",
                format!(
                    "{} bytes is not a {width}x{height} {} frame ({expected} bytes)",
                    data.len(),
                    format.as_str().to_ascii_uppercase()
                ),
            ));
        }
        let (y, rest) = data.split_at(lengths[0]);
        let (u, v) = rest.split_at(lengths[1]);
        Ok(VideoFrameRef {
            format,
            width,
            height,
            planes: [y, u, v],
            strides,
            timestamp_us,
        })
    }

    /// Checks the frame: size, strides, and that each plane holds `stride × rows` bytes.
    pub fn check(&self) -> Result<()> {
        let lengths = self
            .format
            .plane_lengths(self.width, self.height, self.strides)?;
        for (i, (plane, needed)) in self.planes.iter().zip(lengths).enumerate() {
            if plane.len() < needed {
                return Err(Error::invalid_parameter(
                    &format!("data[{i}]"),
                    format!(
                        "{} bytes is less than stride[{i}] x rows ({needed} bytes)",
                        plane.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Interleaved PCM the host pushes, in one of the layouts hosts have at hand.
#[derive(Debug, Clone, Copy)]
pub enum AudioSamples<'a> {
    /// 16-bit signed samples.
    I16(&'a [i16]),
    /// Float samples, full scale ±1.0 (beyond is clipped).
    F32(&'a [f32]),
    /// 16-bit signed samples as bytes in the machine's byte order (a Python `bytes`, a Node
    /// `Buffer`); an odd length is 1011.
    I16Bytes(&'a [u8]),
    /// Float samples as bytes in the machine's byte order.
    F32Bytes(&'a [u8]),
}

impl AudioSamples<'_> {
    /// The number of samples (all channels); bytes that do not make whole samples are 1011.
    pub(crate) fn count(&self) -> Result<usize> {
        let (bytes, size, what) = match self {
            AudioSamples::I16(s) => return Ok(s.len()),
            AudioSamples::F32(s) => return Ok(s.len()),
            AudioSamples::I16Bytes(b) => (b.len(), 2, "16-bit"),
            AudioSamples::F32Bytes(b) => (b.len(), 4, "32-bit float"),
        };
        if bytes % size != 0 {
            return Err(Error::invalid_parameter(
                "samples",
                format!("{bytes} bytes is not a whole number of {what} samples"),
            ));
        }
        Ok(bytes / size)
    }

    /// Appends every sample as i16.
    pub(crate) fn append_i16(&self, out: &mut Vec<i16>) {
        fn from_f32(x: f32) -> i16 {
            // NaN becomes silence; `as` saturates what lies beyond full scale.
            if x.is_nan() {
                0
            } else {
                (x * 32767.0).round() as i16
            }
        }
        match self {
            AudioSamples::I16(s) => out.extend_from_slice(s),
            AudioSamples::F32(s) => out.extend(s.iter().map(|&x| from_f32(x))),
            AudioSamples::I16Bytes(b) => {
                out.extend(b.chunks_exact(2).map(|c| i16::from_ne_bytes([c[0], c[1]])))
            }
            AudioSamples::F32Bytes(b) => out.extend(
                b.chunks_exact(4)
                    .map(|c| from_f32(f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))),
            ),
        }
    }
}

/// Audio the host pushes, borrowed for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct AudioFrameRef<'a> {
    /// Interleaved samples: `samples per channel × channels` of them.
    pub samples: AudioSamples<'a>,
    /// Samples per second per channel, 8000..=192000.
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo, left first).
    pub channels: u32,
    /// Capture time of the first sample in µs on the host's clock; `None` stamps it on arrival.
    pub timestamp_us: Option<u64>,
}

impl AudioFrameRef<'_> {
    /// Checks the piece of audio; returns its samples per channel.
    pub fn check(&self) -> Result<usize> {
        check_channels(self.channels)?;
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&self.sample_rate) {
            return Err(Error::invalid_parameter(
                "sample_rate",
                format!(
                    "{} Hz is outside {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz",
                    self.sample_rate
                ),
            ));
        }
        let count = self.samples.count()?;
        if count == 0 {
            return Err(Error::invalid_parameter("samples", "no samples"));
        }
        if count % self.channels as usize != 0 {
            return Err(Error::invalid_parameter(
                "samples",
                format!(
                    "{count} samples do not split into {} channels",
                    self.channels
                ),
            ));
        }
        Ok(count / self.channels as usize)
    }
}

fn check_channels(channels: u32) -> Result<()> {
    if !(1..=2).contains(&channels) {
        return Err(Error::invalid_parameter(
            "channels",
            format!("{channels}: expected 1 (mono) or 2 (stereo)"),
        ));
    }
    Ok(())
}

/// How many samples `samples_per_channel` frames of `channels` channels are, for an API that
/// is given the two separately (C): checks `channels` (1011) and the product.
pub fn audio_sample_count(samples_per_channel: usize, channels: u32) -> Result<usize> {
    check_channels(channels)?;
    samples_per_channel
        .checked_mul(channels as usize)
        .filter(|&n| n <= isize::MAX as usize / 4)
        .ok_or_else(|| Error::invalid_parameter("samples_per_channel", "is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::media::AUDIO_FRAME_SAMPLES;

    fn field_of(e: &Error) -> &str {
        e.message.split(':').next().unwrap()
    }

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

    #[test]
    fn wrong_frames_are_1011_naming_the_argument() {
        let data = vec![0u8; 100];
        use VideoFormat::{Rgba, I420};
        let cases = [
            (I420, 0, 2, "width"),
            (I420, 2, 0, "height"),
            (I420, 3, 2, "width"),
            (I420, 4, 5, "height"),
            (I420, 8, 8, "data"),
            (Rgba, 5, 6, "data"),
            (Rgba, 9000, 1, "width"),
        ];
        for (format, width, height, field) in cases {
            let e = VideoFrameRef::packed(format, width, height, &data, None).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidParameter.code(), "{e:?}");
            assert_eq!(field_of(&e), field, "{e:?}");
        }
        let y = [0u8; 16];
        let short = [0u8; 3];
        let mut frame = VideoFrameRef {
            format: VideoFormat::I420,
            width: 4,
            height: 4,
            planes: [&y, &short, &short],
            strides: [4, 2, 2],
            timestamp_us: None,
        };
        assert_eq!(field_of(&frame.check().unwrap_err()), "data[1]");
        frame.strides = [3, 2, 2];
        assert_eq!(field_of(&frame.check().unwrap_err()), "stride[0]");
        let rgba = VideoFrameRef {
            format: VideoFormat::Rgba,
            width: 2,
            height: 2,
            planes: [&y, &[], &[]],
            strides: [12, 0, 0],
            timestamp_us: None,
        };
        assert_eq!(field_of(&rgba.check().unwrap_err()), "data[0]");
        assert_eq!(
            field_of(&VideoFormat::from_name("nv12").unwrap_err()),
            "format"
        );
        assert_eq!(field_of(&VideoFormat::from_code(7).unwrap_err()), "format");
        assert_eq!(VideoFormat::from_name("RGBA").unwrap(), VideoFormat::Rgba);
    }

    #[test]
    fn wrong_audio_is_1011_naming_the_argument() {
        let samples = [0i16; 96];
        let piece = |samples, sample_rate, channels| AudioFrameRef {
            samples,
            sample_rate,
            channels,
            timestamp_us: None,
        };
        let cases = [
            (piece(AudioSamples::I16(&samples), 48_000, 0), "channels"),
            (piece(AudioSamples::I16(&samples), 48_000, 3), "channels"),
            (piece(AudioSamples::I16(&samples), 0, 1), "sample_rate"),
            (
                piece(AudioSamples::I16(&samples[..0]), 48_000, 1),
                "samples",
            ),
            (
                piece(AudioSamples::I16(&samples[..5]), 48_000, 2),
                "samples",
            ),
            (piece(AudioSamples::I16Bytes(&[0; 3]), 48_000, 1), "samples"),
            (piece(AudioSamples::F32Bytes(&[0; 6]), 48_000, 1), "samples"),
        ];
        for (frame, field) in cases {
            let e = frame.check().unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidParameter.code(), "{e:?}");
            assert_eq!(field_of(&e), field, "{e:?}");
        }
        assert_eq!(
            field_of(&audio_sample_count(10, 0).unwrap_err()),
            "channels"
        );
        assert_eq!(audio_sample_count(10, 2).unwrap(), 20);
    }
}
