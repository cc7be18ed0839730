//! The simulcast encoder: one thread takes each frame of the source once and encodes it at
//! every layer's size (full, 1/2, 1/4), each layer with an encoder and a bitrate of its own.
//! Which layers go out, and at what rate, is the allocator's call (`adapt::simulcast`); the
//! host's preferred size and rate are the top layer's.

use super::*;
use crate::adapt::simulcast::{layer_size, Allocator};

/// One layer's encoder and what it owes.
#[derive(Default)]
struct LayerEncoder {
    encoder: Option<VideoEncoder>,
    resizer: Resizer,
    /// The next frame must be a keyframe (new encoder, or a frame the sender dropped).
    keyframe: bool,
    last_sent_us: Option<u64>,
}

/// Starts encoding what comes in `queue` at `layers` sizes (2 or 3) with `codec`, into
/// `out`, each sample tagged with its layer (0 is full size). A receiver's keyframe request
/// (PLI/FIR) is for the layer whose SSRC it names (`layer_keyframe_trigger`); the stream's own
/// requests (`keyframe_trigger`) are for every layer. The video target of the stream's
/// adaptation is split over the layers, the top one stopping first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_simulcast(
    queue: Arc<FrameQueue<VideoFrame>>,
    codec: VideoCodec,
    fps: u32,
    layers: usize,
    adapt: VideoAdaptation,
    on: Arc<AtomicBool>,
    preferred: Arc<VideoPreference>,
    out: mpsc::Sender<EncodedSample>,
) -> Result<EncoderThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let keyframe = Arc::new(AtomicBool::new(true));
    let layer_keyframes = Arc::new(AtomicU32::new(0));
    let kbps_of = |bps: f64| (bps / 1000.0).clamp(1.0, f64::from(u32::MAX)) as u32;
    let bitrate = Arc::new(AtomicU32::new(kbps_of(
        adapt.adaptation.video_target_bps() as f64
    )));
    let counters = Arc::new(EncoderCounters::default());
    let (mut reporter, status) = StatusReporter::new();
    #[cfg(test)]
    let cut_next_frame = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, keyframe, layer_keyframes, bitrate, counters) = (
            stop.clone(),
            keyframe.clone(),
            layer_keyframes.clone(),
            bitrate.clone(),
            counters.clone(),
        );
        #[cfg(test)]
        let cut_next_frame = cut_next_frame.clone();
        spawn("lp-video-enc", move || {
            let VideoAdaptation {
                adaptation,
                on_change,
                ..
            } = adapt;
            let mut encoders: Vec<LayerEncoder> =
                (0..layers).map(|_| LayerEncoder::default()).collect();
            let mut allocator = Allocator::new(layers);
            let mut limiter = FrameRateLimiter::default();
            let mut meter = RateMeter::default();
            let mut sent_size: Option<(u32, u32)> = None;
            let mut intake = FrameIntake::new(&queue, &on, &adaptation, &keyframe);
            'frames: while !stop.load(Ordering::Acquire) {
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
                let level_fps = preferred.fps_for(fps);
                if level_fps < fps && !limiter.keep(frame.timestamp_us, level_fps) {
                    continue;
                }
                let base = preferred.size_for(frame.width, frame.height);
                // Every frame: a stopped layer's trial is a matter of time too.
                let now = std::time::Instant::now();
                let target = adaptation.video_target_bps() as f64;
                let rates = allocator.allocate(
                    target,
                    adaptation.video_ceiling_bps(now),
                    base,
                    level_fps,
                    now,
                );
                bitrate.store(kbps_of(target), Ordering::Release);
                let top = allocator.top();
                let top_size = layer_size(base, top);
                if let Some(old) = sent_size.replace(top_size).filter(|old| *old != top_size) {
                    tracing::debug!("simulcast top layer now {top_size:?}");
                    // Stats tell the new top at once, before the host is told to read them.
                    let fps = adaptation.sent().frames_per_second;
                    adaptation.set_sent(sent_video(top_size, fps, top > 0));
                    on_change(VideoChange::Size(old, top_size));
                }
                let all_keyframe = keyframe.swap(false, Ordering::AcqRel);
                let asked = layer_keyframes.swap(0, Ordering::AcqRel);
                let frame_duration = Duration::from_secs_f64(1.0 / f64::from(level_fps.max(1)));
                for (index, layer) in encoders.iter_mut().enumerate() {
                    let Some(rate) = rates.get(index).copied().flatten() else {
                        // Stopped: a new encoder (and so a keyframe) when it comes back.
                        layer.encoder = None;
                        continue;
                    };
                    let size = layer_size(base, index);
                    let kbps = kbps_of(rate);
                    if layer.encoder.as_ref().is_none_or(|e| e.size() != size) {
                        match VideoEncoder::new(codec, size, level_fps, kbps, None) {
                            Ok(e) => layer.encoder = Some(e),
                            Err(e) => {
                                reporter.failed("video", e);
                                break 'frames;
                            }
                        }
                        layer.keyframe = true;
                    }
                    let enc = layer.encoder.as_mut().expect("made above");
                    if kbps != enc.bitrate_kbps() {
                        if let Err(e) = enc.set_bitrate(kbps) {
                            tracing::warn!("video bitrate change: {}", e.message);
                        }
                    }
                    let force = all_keyframe
                        || asked & (1 << index) != 0
                        || std::mem::take(&mut layer.keyframe);
                    let picture = layer.resizer.fit(&frame, size);
                    #[cfg(test)]
                    let picture = match index == 0 && cut_next_frame.swap(false, Ordering::AcqRel) {
                        true => Cow::Owned(picture[..picture.len() / 2].to_vec()),
                        false => picture,
                    };
                    let encoded = match enc.encode(
                        &picture,
                        frame.timestamp_us as i64,
                        frame_duration.as_micros() as u64,
                        force,
                    ) {
                        Ok(encoded) => encoded,
                        Err(e) => {
                            reporter.failed("video", e);
                            break 'frames;
                        }
                    };
                    let Some(encoded) = encoded else {
                        // A keyframe asked for is still owed.
                        layer.keyframe |= force;
                        continue;
                    };
                    let is_top = index == top;
                    if is_top {
                        if let Some(fps) = meter.frame(std::time::Instant::now()) {
                            adaptation.set_sent(sent_video(size, fps, top > 0));
                        }
                    }
                    let duration =
                        sample_duration(layer.last_sent_us, frame.timestamp_us, frame_duration);
                    match hand_on(
                        &out,
                        encoded,
                        duration,
                        index,
                        is_top,
                        &counters,
                        &mut reporter,
                    ) {
                        HandedOn::Sent => layer.last_sent_us = Some(frame.timestamp_us),
                        HandedOn::Dropped => layer.keyframe = true,
                        HandedOn::Closed => break 'frames,
                    }
                }
            }
        })?
    };
    Ok(EncoderThread {
        stop,
        keyframe,
        layer_keyframes,
        bitrate_kbps: bitrate,
        counters,
        status,
        #[cfg(test)]
        cut_next_frame,
        thread: Some(thread),
    })
}
