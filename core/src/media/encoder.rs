//! Encoder threads: each takes raw frames from its source's queue, encodes them and hands the
//! result to the async side. They never run on the runtime, and when they fall behind the
//! queue drops the oldest raw frame rather than letting latency grow.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::h264::H264Encoder;
use super::opus::{OpusEncoder, OPUS_PACKET_MS};
use super::preference::VideoPreference;
use super::queue::PopError;
use super::scale::{Fit, I420Scaler};
use super::vp8::{EncodedFrame, Vp8Encoder};
use super::{AudioFrame, FrameQueue, VideoFrame};
use crate::adapt::degrade::{Degrader, FrameRateLimiter};
use crate::adapt::{
    Adaptation, DegradationPreference, FallbackEvent, QualityLimitation, SentVideo,
};
use crate::error::{Error, Result};
use crate::settings::{Resolution, VideoCodec};

mod simulcast;
pub(crate) use simulcast::start_simulcast;

/// One encoded frame (video) or packet (audio), ready to packetize.
#[derive(Debug, Clone)]
pub struct EncodedSample {
    /// The codec bitstream.
    pub data: Bytes,
    /// How much media time it covers.
    pub duration: Duration,
    /// A video keyframe.
    pub keyframe: bool,
    /// The simulcast layer it belongs to: 0 is full size (and the only one without
    /// simulcast).
    pub layer: usize,
}

/// Counters shared between an encoder thread and whoever reads stats.
#[derive(Debug, Default)]
pub struct EncoderCounters {
    /// Frames (video) or packets (audio) encoded and handed on.
    pub encoded: AtomicU64,
    /// Bytes of bitstream handed on.
    pub bytes: AtomicU64,
    /// Keyframes produced.
    pub keyframes: AtomicU64,
    /// Encoded output dropped because the sending side was full.
    pub dropped: AtomicU64,
}

/// How an encoder thread is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum EncoderStatus {
    /// Nothing handed on yet.
    Starting,
    /// Its first frame or packet was handed on.
    Running,
    /// The codec failed and the thread stopped: the stream cannot go on.
    Failed(Error),
}

/// The thread's side of [`EncoderStatus`].
struct StatusReporter {
    status: watch::Sender<EncoderStatus>,
    running: bool,
}

impl StatusReporter {
    fn new() -> (StatusReporter, watch::Receiver<EncoderStatus>) {
        let (status, watch) = watch::channel(EncoderStatus::Starting);
        let reporter = StatusReporter {
            status,
            running: false,
        };
        (reporter, watch)
    }

    fn handed_on(&mut self) {
        if !std::mem::replace(&mut self.running, true) {
            self.status.send_replace(EncoderStatus::Running);
        }
    }

    /// Logs the codec's failure and reports it; the thread stops after this.
    fn failed(&self, kind: &str, e: Error) {
        tracing::error!("{kind} encoder failed: {}", e.message);
        self.status.send_replace(EncoderStatus::Failed(e));
    }
}

/// A running encoder thread.
pub struct EncoderThread {
    stop: Arc<AtomicBool>,
    keyframe: Arc<AtomicBool>,
    /// Simulcast layers asked for a keyframe of their own, a bit each (layer 0 is bit 0).
    layer_keyframes: Arc<AtomicU32>,
    bitrate_kbps: Arc<AtomicU32>,
    counters: Arc<EncoderCounters>,
    status: watch::Receiver<EncoderStatus>,
    /// Tests make the codec fail for real: the next frame reaches it cut short.
    #[cfg(test)]
    cut_next_frame: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EncoderThread {
    /// Asks for a keyframe as the next frame (a receiver's PLI/FIR).
    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::Release);
    }

    /// The flag `request_keyframe` sets, for callers that outlive a borrow of the thread.
    pub fn keyframe_trigger(&self) -> Arc<AtomicBool> {
        self.keyframe.clone()
    }

    /// The bits a receiver's keyframe request for one simulcast layer sets (`1 << layer`);
    /// an encoder of one layer reads only [`EncoderThread::keyframe_trigger`].
    pub fn layer_keyframe_trigger(&self) -> Arc<AtomicU32> {
        self.layer_keyframes.clone()
    }

    /// Changes the target bitrate (video, kbit/s).
    pub fn set_bitrate_kbps(&self, kbps: u32) {
        self.bitrate_kbps.store(kbps, Ordering::Release);
    }

    /// The current target bitrate in kbit/s.
    pub fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps.load(Ordering::Acquire)
    }

    /// The thread's counters.
    pub fn counters(&self) -> &Arc<EncoderCounters> {
        &self.counters
    }

    /// Follows the thread: first output handed on, or a failure of the codec.
    pub fn status(&self) -> watch::Receiver<EncoderStatus> {
        self.status.clone()
    }

    /// Hands the codec a frame it cannot take (half of the next one), so that it fails.
    #[cfg(test)]
    pub(crate) fn feed_a_broken_frame(&self) {
        self.cut_next_frame.store(true, Ordering::Release);
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EncoderThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The video encoder of the publisher's codec; both take I420 frames of one size.
enum VideoEncoder {
    // Boxed: both hold kilobytes of codec state inline.
    Vp8(Box<Vp8Encoder>),
    H264(Box<H264Encoder>),
}

impl VideoEncoder {
    /// `quantizer`: the last one of the encoder this one takes over from, if any.
    fn new(
        codec: VideoCodec,
        (width, height): (u32, u32),
        fps: u32,
        kbps: u32,
        quantizer: Option<u32>,
    ) -> Result<Self> {
        Ok(match codec {
            VideoCodec::Vp8 => VideoEncoder::Vp8(Box::new(Vp8Encoder::starting_at(
                width, height, fps, kbps, quantizer,
            )?)),
            VideoCodec::H264 => {
                VideoEncoder::H264(Box::new(H264Encoder::new(width, height, fps, kbps)?))
            }
        })
    }

    fn size(&self) -> (u32, u32) {
        match self {
            VideoEncoder::Vp8(e) => e.size(),
            VideoEncoder::H264(e) => e.size(),
        }
    }

    fn last_quantizer(&mut self) -> Option<u32> {
        match self {
            VideoEncoder::Vp8(e) => e.last_quantizer(),
            VideoEncoder::H264(_) => None,
        }
    }

    fn bitrate_kbps(&self) -> u32 {
        match self {
            VideoEncoder::Vp8(e) => e.bitrate_kbps(),
            VideoEncoder::H264(e) => e.bitrate_kbps(),
        }
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<()> {
        match self {
            VideoEncoder::Vp8(e) => e.set_bitrate(kbps),
            VideoEncoder::H264(e) => e.set_bitrate(kbps),
        }
    }

    fn encode(
        &mut self,
        i420: &[u8],
        pts_us: i64,
        duration_us: u64,
        keyframe: bool,
    ) -> Result<Option<EncodedFrame>> {
        match self {
            VideoEncoder::Vp8(e) => e.encode(i420, pts_us, duration_us, keyframe),
            VideoEncoder::H264(e) => e.encode(i420, pts_us, duration_us, keyframe),
        }
    }
}

/// A bitrate that looks good for VP8 (and H.264 baseline) at this size and rate: 0.07 bit per
/// pixel, 100 kbit/s to 4 Mbit/s (about 2 Mbit/s at 720p30, 650 kbit/s at 480p30).
pub fn default_video_bitrate_kbps(width: u32, height: u32, fps: u32) -> u32 {
    let kbps = f64::from(width) * f64::from(height) * f64::from(fps) * 0.07 / 1000.0;
    (kbps as u32).clamp(100, 4000)
}

/// Opus at 32 kbit/s: transparent for speech, fine for music in a call.
pub const AUDIO_BITRATE_BPS: i32 = 32_000;

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map_err(|e| Error::internal(format!("cannot start an encoder thread: {e}")))
}

/// How much media time a video sample covers: the source time since the last sample sent
/// (bounded to 1 ms..1 s, against a source clock that jumps), or the nominal frame time for
/// the first one.
fn sample_duration(last_sent_us: Option<u64>, now_us: u64, nominal: Duration) -> Duration {
    match last_sent_us {
        Some(last) if now_us > last => Duration::from_micros(now_us - last)
            .clamp(Duration::from_millis(1), Duration::from_secs(1)),
        _ => nominal,
    }
}

/// Closes a feed's queue when its encoder ends, so that no source feeds it any more.
struct CloseOnDrop<'a, F>(&'a FrameQueue<F>);

impl<F> Drop for CloseOnDrop<'_, F> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Source times on one timeline across sources: a source opened again, or another one
/// switched in, starts its clock over, and the media time must not run backwards (a receiver
/// would take the frames for old ones). A new clock continues from the last frame's time
/// plus the wall time since it came.
#[derive(Default)]
struct SourceClock {
    /// Added to the source's times.
    offset_us: u64,
    /// The last time given, on the timeline, and when its frame came.
    last: Option<(u64, std::time::Instant)>,
}

impl SourceClock {
    fn follow(&mut self, source_us: u64, now: std::time::Instant) -> u64 {
        let mut at = source_us.saturating_add(self.offset_us);
        if let Some((last_us, came)) = self.last.filter(|(last_us, _)| at <= *last_us) {
            let since = now.saturating_duration_since(came).as_micros() as u64;
            self.offset_us = (last_us + since.max(1)).saturating_sub(source_us);
            at = source_us.saturating_add(self.offset_us);
        }
        self.last = Some((at, now));
        at
    }
}

/// What the video encoder threads do with each frame before encoding it: wait for it, put it
/// on one timeline, and hold it back while video is off (the host) or not sent (the
/// audio-only fallback). Video that starts again starts with a keyframe. The source's queue
/// is closed when the intake goes.
struct FrameIntake<'a> {
    queue: &'a FrameQueue<VideoFrame>,
    on: &'a AtomicBool,
    adaptation: &'a Adaptation,
    keyframe: &'a AtomicBool,
    clock: SourceClock,
    stopped: bool,
}

/// What [`FrameIntake::next`] has.
enum Intake {
    /// A frame to encode; `restarted` when video starts again after it stopped.
    Frame { frame: VideoFrame, restarted: bool },
    /// Nothing to encode now.
    Skip,
    /// The source's queue closed.
    Closed,
}

impl<'a> FrameIntake<'a> {
    fn new(
        queue: &'a FrameQueue<VideoFrame>,
        on: &'a AtomicBool,
        adaptation: &'a Adaptation,
        keyframe: &'a AtomicBool,
    ) -> Self {
        FrameIntake {
            queue,
            on,
            adaptation,
            keyframe,
            clock: SourceClock::default(),
            stopped: false,
        }
    }

    fn stop(&mut self) {
        if !std::mem::replace(&mut self.stopped, true) {
            self.adaptation.set_sent(self.adaptation.sent().stopped());
        }
    }

    /// The next frame (waiting up to 100 ms), telling `on_change` of the fallback's moves.
    fn next(&mut self, on_change: &OnVideoChange) -> Intake {
        if !self.on.load(Ordering::Acquire) {
            self.stop();
        }
        let frame = match self.queue.pop(Duration::from_millis(100)) {
            Ok(frame) => frame,
            Err(PopError::Timeout) => return Intake::Skip,
            Err(PopError::Closed) => return Intake::Closed,
        };
        let frame = VideoFrame {
            timestamp_us: self
                .clock
                .follow(frame.timestamp_us, std::time::Instant::now()),
            ..frame
        };
        let (sends, events) = self.adaptation.poll_video(std::time::Instant::now());
        for event in events {
            on_change(VideoChange::Fallback(event));
        }
        if !sends || !self.on.load(Ordering::Acquire) {
            self.stop();
            return Intake::Skip;
        }
        let restarted = std::mem::take(&mut self.stopped);
        let asked = self.adaptation.take_keyframe();
        if restarted || asked {
            self.keyframe.store(true, Ordering::Release);
        }
        Intake::Frame { frame, restarted }
    }
}

impl Drop for FrameIntake<'_> {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// What video is sent at, as the stats tell it.
fn sent_video((width, height): (u32, u32), fps: f64, limited: bool) -> SentVideo {
    SentVideo {
        width,
        height,
        frames_per_second: fps,
        limitation: if limited {
            QualityLimitation::Bandwidth
        } else {
            QualityLimitation::None
        },
    }
}

/// What became of an encoded frame handed on.
enum HandedOn {
    Sent,
    /// The sending side was full: dropped.
    Dropped,
    /// The sending side is gone.
    Closed,
}

/// Hands `encoded` on to the sending side as simulcast `layer`, covering `duration`, and
/// counts it: its bytes always, the frame itself when `counts_as_frame` (with simulcast,
/// frames count once, at the size the top layer sends).
fn hand_on(
    out: &mpsc::Sender<EncodedSample>,
    encoded: EncodedFrame,
    duration: Duration,
    layer: usize,
    counts_as_frame: bool,
    counters: &EncoderCounters,
    reporter: &mut StatusReporter,
) -> HandedOn {
    let len = encoded.data.len() as u64;
    let keyframe = encoded.keyframe;
    let sample = EncodedSample {
        data: Bytes::from(encoded.data),
        duration,
        keyframe,
        layer,
    };
    match out.try_send(sample) {
        Ok(()) => {
            counters.bytes.fetch_add(len, Ordering::Relaxed);
            if counts_as_frame {
                counters.encoded.fetch_add(1, Ordering::Relaxed);
                if keyframe {
                    counters.keyframes.fetch_add(1, Ordering::Relaxed);
                }
            }
            reporter.handed_on();
            HandedOn::Sent
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            HandedOn::Dropped
        }
        Err(mpsc::error::TrySendError::Closed(_)) => HandedOn::Closed,
    }
}

/// A change in how video is sent that the host hears of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum VideoChange {
    /// The old and the new size video is sent at.
    Size((u32, u32), (u32, u32)),
    /// The audio-only fallback moved.
    Fallback(FallbackEvent),
}

/// Told of each [`VideoChange`].
pub(crate) type OnVideoChange = Box<dyn Fn(VideoChange) + Send>;

/// What the video encoder follows: the stream's adaptation (bitrate, and how it reports what
/// it sends), what to give up when bits run short, and whom to tell when the sent size changes
/// or the audio-only fallback moves.
pub(crate) struct VideoAdaptation {
    pub adaptation: Arc<Adaptation>,
    pub preference: DegradationPreference,
    pub on_change: OnVideoChange,
}

/// Frames of the source at the size a [`Level`] sends, scaled when that is smaller.
#[derive(Default)]
struct Resizer {
    scaler: Option<I420Scaler>,
}

impl Resizer {
    fn fit<'a>(&mut self, frame: &'a VideoFrame, (w, h): (u32, u32)) -> Cow<'a, [u8]> {
        if (w, h) == (frame.width, frame.height) {
            return Cow::Borrowed(&frame.data);
        }
        let fits = self.scaler.as_ref().is_some_and(|s| {
            s.source_size() == (frame.width, frame.height) && s.output_size() == (w, h)
        });
        if !fits {
            let out = Resolution {
                width: w,
                height: h,
            };
            self.scaler = Some(I420Scaler::new(
                frame.width,
                frame.height,
                out,
                Fit::Stretch,
            ));
        }
        let scaler = self.scaler.as_ref().expect("made above");
        Cow::Owned(scaler.scale_packed(&frame.data))
    }
}

/// Frames encoded over the last second.
#[derive(Default)]
struct RateMeter {
    since: Option<std::time::Instant>,
    frames: u32,
    fps: f64,
}

impl RateMeter {
    /// Counts a frame; the rate over the second that ended, when one did.
    fn frame(&mut self, now: std::time::Instant) -> Option<f64> {
        let since = *self.since.get_or_insert(now);
        self.frames += 1;
        let elapsed = now.saturating_duration_since(since);
        if elapsed < Duration::from_secs(1) {
            return None;
        }
        self.fps = f64::from(self.frames - 1) / elapsed.as_secs_f64();
        self.frames = 1;
        self.since = Some(now);
        Some(self.fps)
    }
}

/// Starts encoding what comes in `queue` (a publisher's video feed) with `codec` (VP8 or
/// H.264), starting with a keyframe, into `out`; the queue is closed when encoding stops.
/// Keyframes also come every 3 s and whenever `request_keyframe` asks (a receiver's PLI/FIR).
/// The bitrate follows the stream's estimate, and the size and frame rate step down (and back
/// up) as the degrader decides.
pub(crate) fn start_video(
    queue: Arc<FrameQueue<VideoFrame>>,
    codec: VideoCodec,
    fps: u32,
    adapt: VideoAdaptation,
    on: Arc<AtomicBool>,
    preferred: Arc<VideoPreference>,
    out: mpsc::Sender<EncodedSample>,
) -> Result<EncoderThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let keyframe = Arc::new(AtomicBool::new(true));
    let kbps_of = |bps: u64| (bps / 1000).min(u64::from(u32::MAX)) as u32;
    let bitrate = Arc::new(AtomicU32::new(kbps_of(adapt.adaptation.video_target_bps())));
    let counters = Arc::new(EncoderCounters::default());
    let (mut reporter, status) = StatusReporter::new();
    #[cfg(test)]
    let cut_next_frame = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, keyframe, bitrate, counters) = (
            stop.clone(),
            keyframe.clone(),
            bitrate.clone(),
            counters.clone(),
        );
        #[cfg(test)]
        let cut_next_frame = cut_next_frame.clone();
        spawn("lp-video-enc", move || {
            let VideoAdaptation {
                adaptation,
                preference,
                on_change,
            } = adapt;
            let mut encoder: Option<VideoEncoder> = None;
            let mut degrader = Degrader::new(preference, fps);
            let mut limiter = FrameRateLimiter::default();
            let mut resizer = Resizer::default();
            let mut meter = RateMeter::default();
            let mut generation = None;
            let mut sent_size: Option<(u32, u32)> = None;
            // The RTP clock follows the source's clock, not the nominal rate: a file at its
            // own rate, a host pushing slower, frames the queue or the degrader dropped. Each
            // sample covers the time since the last one sent, so the timeline never drifts by
            // more than a frame.
            let mut last_sent_us: Option<u64> = None;
            let mut intake = FrameIntake::new(&queue, &on, &adaptation, &keyframe);
            while !stop.load(Ordering::Acquire) {
                let frame = match intake.next(&on_change) {
                    Intake::Frame { frame, restarted } => {
                        if restarted {
                            meter = RateMeter::default();
                        }
                        frame
                    }
                    Intake::Skip => continue,
                    Intake::Closed => break,
                };
                let level = degrader.level();
                // The host's preferred rate and size are a ceiling the degrader steps under.
                let level_fps = preferred.fps_for(level.fps);
                // At the full rate every frame goes: a source may run at its own rate (a
                // file, a host pushing), and only the degrader's steps (or the host) thin it.
                if level_fps < fps && !limiter.keep(frame.timestamp_us, level_fps) {
                    continue;
                }
                let (base_w, base_h) = preferred.size_for(frame.width, frame.height);
                let size = level.size(base_w, base_h);
                // Made on the first frame and again when the size changes (a camera switching
                // mode, the degrader stepping).
                if encoder.as_ref().is_none_or(|e| e.size() != size) {
                    let quantizer = encoder.as_mut().and_then(VideoEncoder::last_quantizer);
                    match VideoEncoder::new(
                        codec,
                        size,
                        level_fps,
                        bitrate.load(Ordering::Acquire),
                        quantizer,
                    ) {
                        Ok(e) => encoder = Some(e),
                        Err(e) => {
                            reporter.failed("video", e);
                            break;
                        }
                    }
                    keyframe.store(true, Ordering::Release);
                    if let Some(old) = sent_size.replace(size).filter(|old| *old != size) {
                        adaptation.on_resized();
                        on_change(VideoChange::Size(old, size));
                    }
                }
                let Some(enc) = encoder.as_mut() else { break };
                if generation != Some(adaptation.generation()) {
                    generation = Some(adaptation.generation());
                    let target = adaptation.video_target_bps();
                    degrader.on_target(target as f64);
                    bitrate.store(kbps_of(target), Ordering::Release);
                }
                let wanted = bitrate.load(Ordering::Acquire);
                if wanted != enc.bitrate_kbps() {
                    if let Err(e) = enc.set_bitrate(wanted) {
                        tracing::warn!("video bitrate change: {}", e.message);
                    }
                }
                let force = keyframe.swap(false, Ordering::AcqRel);
                let picture = resizer.fit(&frame, size);
                let i420: &[u8] = &picture;
                #[cfg(test)]
                let i420 = match cut_next_frame.swap(false, Ordering::AcqRel) {
                    true => &i420[..i420.len() / 2],
                    false => i420,
                };
                let frame_duration = Duration::from_secs_f64(1.0 / f64::from(level_fps.max(1)));
                let outcome = enc.encode(
                    i420,
                    frame.timestamp_us as i64,
                    frame_duration.as_micros() as u64,
                    force,
                );
                let now = std::time::Instant::now();
                let encoded = match outcome {
                    Ok(encoded) => encoded,
                    Err(e) => {
                        reporter.failed("video", e);
                        break;
                    }
                };
                let quantizer = enc.last_quantizer();
                if force && encoded.is_some() {
                    degrader.on_keyframe(now);
                }
                degrader.hold_up(adaptation.probes_climbing());
                if let Some(next) =
                    degrader.on_frame(now, encoded.as_ref().map(|e| e.data.len()), quantizer)
                {
                    tracing::debug!(
                        "video steps to {:?} at {:.0} fps ({} kbit/s)",
                        next.size(frame.width, frame.height),
                        next.fps,
                        bitrate.load(Ordering::Relaxed)
                    );
                    // Stats tell the new level at once, not at the meter's next second: a host
                    // told of the new size reads it, and why, in the stats.
                    let fps = adaptation.sent().frames_per_second;
                    let size = next.size(base_w, base_h);
                    adaptation.set_sent(sent_video(size, fps, degrader.degraded()));
                    if size == level.size(base_w, base_h) && adaptation.receiver_waits() {
                        // A new rate at the same size sends no keyframe of its own (a new
                        // size does, and skips ahead with it: `session::resume`), and the
                        // receiver would go on waiting behind the repair of older packets.
                        adaptation.skip_ahead();
                    }
                }
                let Some(encoded) = encoded else {
                    if force {
                        // The keyframe asked for is still owed.
                        keyframe.store(true, Ordering::Release);
                    }
                    continue;
                };
                if let Some(fps) = meter.frame(now) {
                    tracing::trace!(
                        "video {}x{} at {fps:.1} fps, {} kbit/s asked",
                        size.0,
                        size.1,
                        bitrate.load(Ordering::Relaxed)
                    );
                    // The level's size, not this frame's: a step on this very frame (the
                    // degrader's window and the meter's second end together) is what goes
                    // from the next one, and the host is about to be told so.
                    let sent = degrader.level().size(base_w, base_h);
                    adaptation.set_sent(sent_video(sent, fps, degrader.degraded()));
                }
                let duration = sample_duration(last_sent_us, frame.timestamp_us, frame_duration);
                match hand_on(&out, encoded, duration, 0, true, &counters, &mut reporter) {
                    HandedOn::Sent => last_sent_us = Some(frame.timestamp_us),
                    // The receiver cannot decode past a missing frame: restart with a key.
                    HandedOn::Dropped => keyframe.store(true, Ordering::Release),
                    HandedOn::Closed => break,
                }
            }
        })?
    };
    Ok(EncoderThread {
        stop,
        keyframe,
        layer_keyframes: Arc::default(),
        bitrate_kbps: bitrate,
        counters,
        status,
        #[cfg(test)]
        cut_next_frame,
        thread: Some(thread),
    })
}

/// Starts Opus encoding of what comes in `queue` (a publisher's audio feed) into `out`, one
/// packet every 20 ms; silence while `on` is false (the host turned audio off: the stream
/// keeps its timing). The queue is closed when encoding stops.
pub(crate) fn start_audio(
    queue: Arc<FrameQueue<AudioFrame>>,
    on: Arc<AtomicBool>,
    out: mpsc::Sender<EncodedSample>,
) -> Result<EncoderThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(EncoderCounters::default());
    let bitrate = Arc::new(AtomicU32::new((AUDIO_BITRATE_BPS / 1000) as u32));
    let (mut reporter, status) = StatusReporter::new();
    let thread = {
        let (stop, counters) = (stop.clone(), counters.clone());
        spawn("lp-audio-enc", move || {
            let _close = CloseOnDrop(&queue);
            let mut encoder: Option<OpusEncoder> = None;
            while !stop.load(Ordering::Acquire) {
                let frame = match queue.pop(Duration::from_millis(100)) {
                    Ok(frame) => frame,
                    Err(PopError::Timeout) => continue,
                    Err(PopError::Closed) => break,
                };
                if encoder
                    .as_ref()
                    .is_none_or(|e| e.channels() != frame.channels)
                {
                    match OpusEncoder::new(frame.channels, AUDIO_BITRATE_BPS) {
                        Ok(e) => encoder = Some(e),
                        Err(e) => {
                            reporter.failed("audio", e);
                            break;
                        }
                    }
                }
                let Some(enc) = encoder.as_mut() else { break };
                let frame = if on.load(Ordering::Acquire) {
                    frame
                } else {
                    AudioFrame {
                        samples: vec![0; frame.samples.len()].into(),
                        ..frame
                    }
                };
                let packet = match enc.push(&frame) {
                    Ok(Some(packet)) => packet,
                    Ok(None) => continue,
                    Err(e) => {
                        reporter.failed("audio", e);
                        break;
                    }
                };
                let len = packet.len() as u64;
                let sample = EncodedSample {
                    data: Bytes::from(packet),
                    duration: Duration::from_millis(u64::from(OPUS_PACKET_MS)),
                    keyframe: false,
                    layer: 0,
                };
                match out.try_send(sample) {
                    Ok(()) => {
                        counters.encoded.fetch_add(1, Ordering::Relaxed);
                        counters.bytes.fetch_add(len, Ordering::Relaxed);
                        reporter.handed_on();
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        })?
    };
    Ok(EncoderThread {
        stop,
        keyframe: Arc::new(AtomicBool::new(false)),
        layer_keyframes: Arc::default(),
        bitrate_kbps: bitrate,
        counters,
        status,
        #[cfg(test)]
        cut_next_frame: Arc::new(AtomicBool::new(false)),
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_that_starts_over_continues_the_timeline() {
        let t0 = std::time::Instant::now();
        let mut clock = SourceClock::default();
        assert_eq!(clock.follow(5_000_000, t0), 5_000_000);
        assert_eq!(clock.follow(5_033_000, t0), 5_033_000);
        // A source opened again 2 s later starts at 0: it goes on 2 s after the last frame.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(clock.follow(0, later), 7_033_000);
        assert_eq!(clock.follow(33_000, later), 7_066_000);
    }

    #[test]
    fn samples_cover_the_source_time_since_the_last_one_sent() {
        let nominal = Duration::from_micros(33_333);
        assert_eq!(sample_duration(None, 5_000, nominal), nominal);
        // A 25 fps file under a 30 fps setting, a skipped frame, a clock that stood still or
        // jumped: the source's own spacing, bounded.
        assert_eq!(
            sample_duration(Some(0), 40_000, nominal),
            Duration::from_millis(40)
        );
        assert_eq!(
            sample_duration(Some(0), 80_000, nominal),
            Duration::from_millis(80)
        );
        assert_eq!(sample_duration(Some(9), 9, nominal), nominal);
        assert_eq!(
            sample_duration(Some(0), 60_000_000, nominal),
            Duration::from_secs(1)
        );
    }
}
