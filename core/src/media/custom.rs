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

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::convert::pushed_frame_to_i420;
// The pushed frame types live in `frame`; these paths stay for the bindings and the publisher.
pub use super::frame::{
    audio_sample_count, AudioFrameRef, AudioSamples, VideoFormat, VideoFrameRef, MAX_FRAME_SIDE,
    MAX_SAMPLE_RATE, MIN_SAMPLE_RATE,
};
use super::queue::PopError;
use super::resample::Resampler;
use super::source::Emitter;
use super::{
    AudioFrame, FrameQueue, MediaKind, Source, VideoFrame, AUDIO_FRAME_MS, AUDIO_FRAME_SAMPLES,
    AUDIO_SAMPLE_RATE,
};
use crate::error::Result;
use crate::settings::Resolution;

/// Host timestamps further than this from the library's clock are re-anchored to it.
const MAX_TIMESTAMP_SKEW_US: i128 = 2_000_000;
/// Pushed audio the source holds before dropping the oldest: 320 ms.
const AUDIO_INTAKE_FRAMES: usize = 32;
/// How far ahead of real time the audio source may hand frames to the encoders.
const AUDIO_LEAD: Duration = Duration::from_millis(40);
/// How often a source thread looks at its stop flag while idle.
const POLL: Duration = Duration::from_millis(50);

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
    /// An input publishing `resolution` at `frame_rate`, handing frames to `intake`.
    fn new(resolution: Resolution, frame_rate: u32, intake: Arc<FrameQueue<VideoFrame>>) -> Self {
        VideoInput {
            resolution,
            period_us: 1_000_000 / u64::from(frame_rate.max(1)),
            intake,
            state: Mutex::new(VideoState {
                clock: Clock::new(Instant::now()),
                next_due: None,
                latest: None,
            }),
        }
    }

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
    /// An input handing 10 ms frames to `intake`.
    fn new(intake: Arc<FrameQueue<AudioFrame>>) -> Self {
        AudioInput {
            intake,
            state: Mutex::new(AudioState {
                clock: Clock::new(Instant::now()),
                format: None,
                resampler: Resampler::new(AUDIO_SAMPLE_RATE, 1),
                pending: Vec::new(),
                next_us: None,
            }),
        }
    }

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
    let input = Arc::new(VideoInput::new(resolution, frame_rate, intake.clone()));
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
    let input = Arc::new(AudioInput::new(intake.clone()));
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

/// What the fuzz targets reach of the custom sources (the `fuzzing` feature): the inputs the
/// host pushes into, without the source thread that hands their frames on.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;

    /// A custom video source's input publishing `resolution` at `frame_rate`.
    pub struct VideoPush(VideoInput, Arc<FrameQueue<VideoFrame>>);

    impl VideoPush {
        /// A new input.
        pub fn new(resolution: Resolution, frame_rate: u32) -> Self {
            let intake = Arc::new(FrameQueue::new(64));
            VideoPush(
                VideoInput::new(resolution, frame_rate, intake.clone()),
                intake,
            )
        }

        /// Pushes a frame as the bindings do.
        pub fn push(&self, frame: &VideoFrameRef<'_>) -> Result<()> {
            self.0.push(frame)
        }

        /// The frames handed on so far.
        pub fn take(&self) -> Vec<VideoFrame> {
            drain(&self.1)
        }
    }

    /// A custom audio source's input.
    pub struct AudioPush(AudioInput, Arc<FrameQueue<AudioFrame>>);

    impl Default for AudioPush {
        fn default() -> Self {
            let intake = Arc::new(FrameQueue::new(1024));
            AudioPush(AudioInput::new(intake.clone()), intake)
        }
    }

    impl AudioPush {
        /// Pushes audio as the bindings do.
        pub fn push(&self, frame: &AudioFrameRef<'_>) -> Result<()> {
            self.0.push(frame)
        }

        /// The 10 ms frames handed on so far.
        pub fn take(&self) -> Vec<AudioFrame> {
            drain(&self.1)
        }
    }

    fn drain<F>(queue: &FrameQueue<F>) -> Vec<F> {
        let mut out = Vec::new();
        while let Ok(frame) = queue.pop(Duration::ZERO) {
            out.push(frame);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
