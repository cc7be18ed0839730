//! Custom sources (`video_source` / `audio_source` `"custom"`): the host pushes the frames.
//!
//! [`Publisher::push_video_frame`](crate::Publisher::push_video_frame) takes I420 (three planes
//! with their strides) or RGBA (one plane with its stride) of any size. The frame is checked,
//! converted to I420 (RGBA by BT.601, limited range; alpha is ignored), scaled to the
//! publisher's resolution (bilinear, to the exact size: the aspect ratio is the host's to keep)
//! and thinned to the publisher's frame rate, as OpenTok publishes the size and rate it was
//! asked for.
//!
//! [`Publisher::push_audio_frame`](crate::Publisher::push_audio_frame) takes interleaved 16-bit
//! or float PCM, mono or stereo, at any rate from 8 to 192 kHz and of any length. It is
//! resampled (linearly) to 48 kHz and cut into the library's 10 ms frames; a remainder waits
//! for the next push.
//!
//! Checks and conversion run on the pushing thread, so that a bad frame fails its call (1011,
//! naming the argument) and the cost lands on the host that pushes. The frames then reach the
//! encoders through the source's own thread, like every source's; audio leaves it paced at
//! real time, so that a host may push in pieces larger than the encoder's queue (up to 320 ms
//! waits there; a host that runs further ahead loses the oldest audio, not latency).
//!
//! Timestamps (µs) are optional. Host timestamps keep their spacing on the source's clock;
//! ones that do not advance, or stray more than 2 s from the library's clock, are re-anchored to
//! it, so `0` (or no timestamp) means "now".
//!
//! Frames pushed while the publisher is not published are checked, counted as captured and
//! dropped, except the latest video frame: when publishing starts, the encoder begins (with a
//! keyframe) from it, so that `publish`, which completes once media flows, does not depend on
//! the host pushing at that moment. Audio is not kept (stale sound is worse than none): an
//! audio-only custom publisher completes `publish` once the host pushes. Frames pushed while
//! `init_publisher` runs are checked and dropped.

use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::convert::pushed_frame_to_i420;
use super::queue::PopError;
use super::resample::Resampler;
use super::source::Emitter;
use super::{
    AudioFrame, FrameQueue, MediaKind, Source, VideoFrame, AUDIO_FRAME_MS, AUDIO_FRAME_SAMPLES,
    AUDIO_SAMPLE_RATE,
};
use crate::error::{Error, Result};
use crate::settings::Resolution;

/// Largest accepted side of a pushed video frame, in pixels.
pub const MAX_FRAME_SIDE: u32 = 8192;
/// Lowest accepted sample rate of pushed audio, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest accepted sample rate of pushed audio, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Host timestamps further than this from the library's clock are re-anchored to it.
const MAX_TIMESTAMP_SKEW_US: i128 = 2_000_000;
/// Pushed audio the source holds before dropping the oldest: 320 ms.
const AUDIO_INTAKE_FRAMES: usize = 32;
/// How far ahead of real time the audio source may hand frames to the encoders.
const AUDIO_LEAD: Duration = Duration::from_millis(40);
/// How often a source thread looks at its stop flag while idle.
const POLL: Duration = Duration::from_millis(50);

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
    fn count(&self) -> Result<usize> {
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
    fn append_i16(&self, out: &mut Vec<i16>) {
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The source's clock: µs since it opened. Maps host timestamps onto it.
struct Clock {
    start: Instant,
    /// Source time minus host time, once a host timestamp was seen.
    offset: Option<i128>,
    last: Option<u64>,
}

impl Clock {
    fn new(start: Instant) -> Self {
        Clock {
            start,
            offset: None,
            last: None,
        }
    }

    /// The source time of something the host stamped `host` (or did not stamp), strictly
    /// after the previous one.
    fn stamp(&mut self, host: Option<u64>) -> u64 {
        let now = self.start.elapsed().as_micros() as i128;
        let floor = self.last.map_or(0, |l| i128::from(l) + 1);
        let mapped = match (host, self.offset) {
            (Some(t), Some(offset)) => Some(i128::from(t) + offset)
                .filter(|&ts| ts >= floor && (ts - now).abs() <= MAX_TIMESTAMP_SKEW_US),
            _ => None,
        };
        let ts = mapped.unwrap_or_else(|| {
            let ts = now.max(floor);
            if let Some(t) = host {
                self.offset = Some(ts - i128::from(t));
            }
            ts
        });
        let ts = ts.clamp(0, i128::from(u64::MAX)) as u64;
        self.last = Some(ts);
        ts
    }
}

/// The entry point of a custom video source.
pub(crate) struct VideoInput {
    resolution: Resolution,
    period_us: u64,
    intake: Arc<FrameQueue<VideoFrame>>,
    state: Mutex<VideoState>,
}

struct VideoState {
    clock: Clock,
    /// When the next frame is due at the publisher's frame rate.
    next_due: Option<u64>,
    /// The last frame pushed, for an encoder that starts after it.
    latest: Option<VideoFrame>,
}

impl VideoState {
    /// Whether a frame at `ts` is kept at one frame per `period` µs. A frame a little early
    /// (a quarter period: jitter) is kept; earlier ones are thinned out.
    fn admit(&mut self, ts: u64, period: u64) -> bool {
        if let Some(due) = self.next_due {
            if ts + period / 4 < due {
                return false;
            }
            // On the grid while the host keeps up; from this frame on after a gap.
            self.next_due = Some(if ts < due + period {
                due + period
            } else {
                ts + period
            });
        } else {
            self.next_due = Some(ts + period);
        }
        true
    }
}

impl VideoInput {
    /// Checks, converts and hands on one frame.
    pub(crate) fn push(&self, frame: &VideoFrameRef<'_>) -> Result<()> {
        frame.check()?;
        let timestamp_us = {
            let mut state = lock(&self.state);
            let ts = state.clock.stamp(frame.timestamp_us);
            if !state.admit(ts, self.period_us) {
                return Ok(());
            }
            ts
        };
        let frame = VideoFrame {
            width: self.resolution.width,
            height: self.resolution.height,
            timestamp_us,
            data: pushed_frame_to_i420(frame, self.resolution).into(),
        };
        lock(&self.state).latest = Some(frame.clone());
        self.intake.push(frame);
        Ok(())
    }

    /// The latest frame again, stamped now: the first frame of an encoder that starts while
    /// the host pushes nothing (so that `publish`, which completes once media flows, does not
    /// wait for the host's next frame).
    fn replay(&self) -> Option<VideoFrame> {
        let mut state = lock(&self.state);
        let mut frame = state.latest.clone()?;
        frame.timestamp_us = state.clock.stamp(None);
        Some(frame)
    }
}

/// The entry point of a custom audio source.
pub(crate) struct AudioInput {
    intake: Arc<FrameQueue<AudioFrame>>,
    state: Mutex<AudioState>,
}

struct AudioState {
    clock: Clock,
    /// The rate and channel count of the previous push.
    format: Option<(u32, u16)>,
    resampler: Resampler,
    /// 48 kHz samples not yet making a whole 10 ms frame.
    pending: Vec<i16>,
    /// Source time of the first pending sample (of the next frame).
    next_us: Option<u64>,
}

/// How far the time of a push may be past where the audio before it ended before the
/// timeline is re-anchored (after a pause, or a jump of the host's clock).
const AUDIO_REANCHOR_US: u64 = 100_000;

impl AudioInput {
    /// Checks, resamples and cuts one piece of audio into 10 ms frames.
    pub(crate) fn push(&self, frame: &AudioFrameRef<'_>) -> Result<()> {
        let per_channel = frame.check()?;
        let channels = frame.channels as u16;
        let rate = frame.sample_rate;
        let mut pcm = Vec::with_capacity(per_channel * channels as usize);
        frame.samples.append_i16(&mut pcm);

        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let ts = state.clock.stamp(frame.timestamp_us);
        if state.format != Some((rate, channels)) {
            if state.format.map(|(_, c)| c) != Some(channels) {
                state.pending.clear();
            }
            state.format = Some((rate, channels));
            state.resampler = Resampler::new(rate, channels);
        }
        // Frame times follow the samples; the push's time only re-anchors them after a pause
        // or a jump. What is pending came before this push, whose first sample is at `ts`.
        let ch = channels as usize;
        let frame_us = u64::from(AUDIO_FRAME_MS) * 1000;
        let pending_us =
            (state.pending.len() / ch) as u64 * 1_000_000 / u64::from(AUDIO_SAMPLE_RATE);
        let anchored = ts.saturating_sub(pending_us);
        // Forward only: never before the frames already handed on.
        let mut next_us = match state.next_us {
            Some(next) if anchored <= next + AUDIO_REANCHOR_US => next,
            _ => anchored,
        };
        state.resampler.process(&pcm, &mut state.pending);

        let chunk = AUDIO_FRAME_SAMPLES * ch;
        let mut used = 0;
        while state.pending.len() - used >= chunk {
            self.intake.push(AudioFrame {
                channels,
                timestamp_us: next_us,
                samples: Arc::from(&state.pending[used..used + chunk]),
            });
            next_us += frame_us;
            used += chunk;
        }
        state.pending.drain(..used);
        state.next_us = Some(next_us);
        Ok(())
    }
}

/// Opens a custom video source publishing `resolution` at `frame_rate`.
pub(crate) fn video(resolution: Resolution, frame_rate: u32) -> Result<Source<VideoFrame>> {
    let intake = Arc::new(FrameQueue::new(2));
    let input = Arc::new(VideoInput {
        resolution,
        period_us: 1_000_000 / u64::from(frame_rate.max(1)),
        intake: intake.clone(),
        state: Mutex::new(VideoState {
            clock: Clock::new(Instant::now()),
            next_due: None,
            latest: None,
        }),
    });
    let feed = input.clone();
    let source = Source::spawn(MediaKind::Video, "custom", move |out| {
        let mut known = 0;
        relay(
            &intake,
            out,
            |_| true,
            |out| {
                // A new subscriber (an encoder starting) gets the latest frame at once.
                let subscribers = out.subscribers();
                if subscribers > known {
                    if let Some(frame) = feed.replay() {
                        out.emit(frame);
                    }
                }
                known = subscribers;
            },
        );
        Ok(())
    })?;
    Ok(source.with_input(input))
}

/// Opens a custom audio source.
pub(crate) fn audio() -> Result<Source<AudioFrame>> {
    let intake = Arc::new(FrameQueue::new(AUDIO_INTAKE_FRAMES));
    let input = Arc::new(AudioInput {
        intake: intake.clone(),
        state: Mutex::new(AudioState {
            clock: Clock::new(Instant::now()),
            format: None,
            resampler: Resampler::new(AUDIO_SAMPLE_RATE, 1),
            pending: Vec::new(),
            next_us: None,
        }),
    });
    let source = Source::spawn(MediaKind::Audio, "custom", move |out| {
        let period = Duration::from_millis(u64::from(AUDIO_FRAME_MS));
        let mut due: Option<Instant> = None;
        relay(
            &intake,
            out,
            |out| {
                // Real time, a little ahead; after a pause (or when late) from now.
                let now = Instant::now();
                let at = due.filter(|&d| d + period > now).unwrap_or(now);
                if at > now + AUDIO_LEAD && !out.sleep_until(at - AUDIO_LEAD) {
                    return false;
                }
                due = Some(at + period);
                true
            },
            |_| {},
        );
        Ok(())
    })?;
    Ok(source.with_input(input))
}

/// The source thread: hands what the host pushed to the subscribers, after `pace` (false:
/// stop), until the source stops. `tick` runs between frames and while idle.
fn relay<F: Clone>(
    intake: &FrameQueue<F>,
    out: &Emitter<F>,
    mut pace: impl FnMut(&Emitter<F>) -> bool,
    mut tick: impl FnMut(&Emitter<F>),
) {
    while !out.should_stop() {
        tick(out);
        match intake.pop(POLL) {
            Ok(frame) => {
                if !pace(out) {
                    break;
                }
                out.emit(frame);
            }
            Err(PopError::Timeout) => {}
            Err(PopError::Closed) => break,
        }
    }
    intake.close();
}

/// The entry point of a custom video source, or `None` for another kind of source.
pub(crate) fn video_input(source: &Source<VideoFrame>) -> Option<Arc<VideoInput>> {
    source.input::<VideoInput>()
}

/// The entry point of a custom audio source, or `None` for another kind of source.
pub(crate) fn audio_input(source: &Source<AudioFrame>) -> Option<Arc<AudioInput>> {
    source.input::<AudioInput>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn field_of(e: &Error) -> &str {
        e.message.split(':').next().unwrap()
    }

    #[test]
    fn wrong_frames_are_1011_naming_the_argument() {
        let data = vec![0u8; 100];
        let cases: Vec<(Result<VideoFrameRef>, &str)> = vec![
            (
                VideoFrameRef::packed(VideoFormat::I420, 0, 2, &data, None),
                "width",
            ),
            (
                VideoFrameRef::packed(VideoFormat::I420, 2, 0, &data, None),
                "height",
            ),
            (
                VideoFrameRef::packed(VideoFormat::I420, 3, 2, &data, None),
                "width",
            ),
            (
                VideoFrameRef::packed(VideoFormat::I420, 4, 5, &data, None),
                "height",
            ),
            (
                VideoFrameRef::packed(VideoFormat::I420, 8, 8, &data, None),
                "data",
            ),
            (
                VideoFrameRef::packed(VideoFormat::Rgba, 5, 6, &data, None),
                "data",
            ),
            (
                VideoFrameRef::packed(VideoFormat::Rgba, 9000, 1, &data, None),
                "width",
            ),
        ];
        for (outcome, field) in cases {
            let e = outcome.unwrap_err();
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

    #[test]
    fn clock_keeps_host_spacing_and_reanchors_stalled_timestamps() {
        let mut clock = Clock::new(Instant::now());
        let first = clock.stamp(Some(5_000_000));
        assert_eq!(clock.stamp(Some(5_033_333)), first + 33_333);
        // A timestamp that does not advance is replaced by the clock, still strictly later.
        let stalled = clock.stamp(Some(5_033_333));
        assert!(stalled > first + 33_333);
        let a = clock.stamp(Some(0));
        let b = clock.stamp(Some(0));
        assert!(b > a);
        let c = clock.stamp(None);
        assert!(c > b);
    }

    #[test]
    fn frames_beyond_the_frame_rate_are_thinned() {
        let mut state = VideoState {
            clock: Clock::new(Instant::now()),
            next_due: None,
            latest: None,
        };
        let period = 33_333;
        // 60 fps in: every other frame is kept.
        let kept = (0..60).filter(|i| state.admit(i * 16_667, period)).count();
        assert!((29..=31).contains(&kept), "{kept}");
        // 30 fps with jitter: all kept.
        let mut state = VideoState {
            clock: Clock::new(Instant::now()),
            next_due: None,
            latest: None,
        };
        let jitter = [0i64, 6_000, -6_000, 3_000];
        let kept = (0..60)
            .filter(|&i| {
                let ts = 2_000_000 + i as i64 * period as i64 + jitter[i % 4];
                state.admit(ts as u64, period)
            })
            .count();
        assert_eq!(kept, 60);
    }

    #[test]
    fn audio_source_cuts_pushes_into_10ms_frames() {
        let source = audio().unwrap();
        let queue = source.subscribe(100);
        let input = audio_input(&source).unwrap();
        // 25 ms of mono 48 kHz, then 25 ms more: five frames, the rest pending.
        let piece = vec![1000i16; 1200];
        for _ in 0..2 {
            input
                .push(&AudioFrameRef {
                    samples: AudioSamples::I16(&piece),
                    sample_rate: 48_000,
                    channels: 1,
                    timestamp_us: None,
                })
                .unwrap();
        }
        let mut frames = Vec::new();
        while frames.len() < 5 {
            frames.push(queue.pop(Duration::from_secs(2)).unwrap());
        }
        assert!(frames
            .iter()
            .all(|f| f.samples.len() == AUDIO_FRAME_SAMPLES));
        assert!(frames
            .windows(2)
            .all(|w| w[1].timestamp_us > w[0].timestamp_us));
        assert_eq!(
            queue.pop(Duration::from_millis(100)).unwrap_err(),
            PopError::Timeout
        );
        source.stop();
        assert_eq!(source.frames(), 5);
    }
}
