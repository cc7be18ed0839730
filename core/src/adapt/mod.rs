//! Adapting to the network: how much the path carries ([`estimate`]) and what the video gives
//! up when that is too little ([`degrade`]). Both are sans-IO; [`Adaptation`] is where the
//! stream's interceptor (which hears the receiver) and its video encoder (which follows) meet.

pub mod degrade;
pub(crate) mod estimate;
pub(crate) mod fallback;
pub(crate) mod probe;
pub(crate) mod simulcast;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use crate::stats::QualityLimitation;
pub use degrade::DegradationPreference;
use estimate::Estimate;
use fallback::Fallback;
pub(crate) use fallback::FallbackEvent;
use probe::{Prober, Verdict, PROBE_KEPT};

use crate::media::encoder::default_video_bitrate_kbps;
use crate::settings::PublisherSettings;

/// What audio takes on the wire: Opus at 32 kbit/s and the headers of 50 packets a second.
pub(crate) const AUDIO_WIRE_BPS: f64 = 60_000.0;
/// The least video is asked for; below it a frame every few seconds is all that fits.
pub(crate) const MIN_VIDEO_BPS: f64 = 30_000.0;
/// Share of the video's part of the estimate left for headers and retransmissions.
const VIDEO_SHARE: f64 = 0.9;
/// How long after an outage its repair goes on (the receiver asks for what it missed).
pub(crate) const OUTAGE_REPAIR: Duration = Duration::from_millis(2500);
/// Retransmissions take at most this share of what audio leaves from the video (a burst
/// after an outage is soon over).
const MAX_RESENT_SHARE: f64 = 0.5;
/// The pacer lets packets out this much faster than the estimate (libwebrtc's factor), and
/// never slower than `MIN_PACING_BPS`: a keyframe drains in a few frame times without a burst
/// at line rate, and the pacer never holds back what the encoders were asked for (a pacer
/// queue that overflows looks like loss to the receiver, and the estimate would follow it
/// down).
const PACING_FACTOR: f64 = 2.5;
const MIN_PACING_BPS: f64 = 300_000.0;
/// For this long after a fall on loss that left at least `AFTER_FALL_KEPT` of the estimate,
/// the pacer goes at only `AFTER_FALL_FACTOR` times it: the fall found a policer, which is
/// empty now, and what leaves faster than it refills is lost again (keyframes and resends at
/// 2.5 times made a second burst of loss). A deeper fall is a path that narrowed: what waits
/// in the pacer is the old rate's, and is better sent fast or dropped (see
/// `session::pacer`) than trickled. A fall on loss alone goes to 0.475 at most (half, a
/// little under), the usual fall at a policer's cliff: with 0.5 that one kept the fast
/// pacer, and at 800 kbit/s the longest freeze was 1.06 s (median of eight) against 0.59 s
/// with 0.4.
const AFTER_FALL: Duration = Duration::from_secs(3);
const AFTER_FALL_KEPT: f64 = 0.4;
const AFTER_FALL_FACTOR: f64 = 1.2;

/// What the path's loss says, for the resends (see `session::retransmit`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LossOutlook {
    /// The latest round trip (100 ms until one is measured).
    pub rtt: Duration,
    /// The path loses a little of what it carries, steadily (a lossy radio link, not a full
    /// one; see [`estimate::Estimate::loses_steadily`]).
    pub steady: bool,
    /// Its reports lose a little, with no fall since (see
    /// [`estimate::Estimate::loses_a_little`]).
    pub a_little: bool,
    /// Loss heard now is a probe's: one under way, or one that failed lately.
    pub probe: bool,
}

/// What video is sent as now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct SentVideo {
    pub width: u32,
    pub height: u32,
    /// Frames per second the encoder produced over the last second.
    pub frames_per_second: f64,
    pub limitation: QualityLimitation,
}

impl SentVideo {
    /// The same, with no frames going out for want of bandwidth (the audio-only fallback
    /// stopped video).
    pub(crate) fn stopped(self) -> Self {
        SentVideo {
            frames_per_second: 0.0,
            limitation: QualityLimitation::Bandwidth,
            ..self
        }
    }
}

/// One stream's estimate and what its video encoder is asked for.
#[derive(Debug)]
pub(crate) struct Adaptation {
    estimate: Mutex<Estimate>,
    audio_bps: f64,
    available_bps: AtomicU64,
    video_target_bps: AtomicU64,
    sent: Mutex<SentVideo>,
    /// Bumped whenever the video target changes, so the encoder re-reads it cheaply.
    generation: AtomicU32,
    /// The audio-only fallback, when the publisher has it and sends audio.
    fallback: Option<Mutex<Fallback>>,
    /// Video is to skip its sequence numbers ahead (see `session::resume`).
    skip: AtomicBool,
    /// Video is to send a keyframe.
    keyframe: AtomicBool,
    /// Retransmissions sent over the last two measurements, bit/s.
    resent_bps: Mutex<[f64; 2]>,
    /// The receiver was heard again after an outage (the retransmissions may burst).
    outage_over: AtomicBool,
    /// Video changed size: its next keyframe is at the new one.
    resized: AtomicBool,
    /// Video SSRCs whose receiver waits for packets that have not gone yet, or for copies
    /// that were lost (see `session::retransmit`).
    waits: Mutex<HashSet<u32>>,
    /// When to probe the path, and what probes found (see [`probe`]).
    prober: Mutex<Prober>,
    /// The SSRC probe packets go on (0 until the pacer can send them: the receiver negotiated
    /// retransmissions, whose payload type they carry).
    probe_ssrc: AtomicU32,
}

impl Adaptation {
    /// Video starts at `initial_video_bps` and never asks for more than `max_video_bps`; `audio`
    /// says whether audio shares the path. No audio-only fallback.
    #[cfg(test)]
    pub(crate) fn new(initial_video_bps: f64, max_video_bps: f64, audio: bool) -> Self {
        Self::with_fallback(initial_video_bps, max_video_bps, audio, false)
    }

    /// As [`Adaptation::new`]; with `audio_fallback` (and audio), video stops while the path
    /// is too narrow for it (see [`fallback`]).
    pub(crate) fn with_fallback(
        initial_video_bps: f64,
        max_video_bps: f64,
        audio: bool,
        audio_fallback: bool,
    ) -> Self {
        let audio_bps = if audio { AUDIO_WIRE_BPS } else { 0.0 };
        let wire = |video: f64| video / VIDEO_SHARE + audio_bps;
        let estimate = Estimate::new(
            wire(initial_video_bps),
            wire(MIN_VIDEO_BPS),
            wire(max_video_bps.max(MIN_VIDEO_BPS)),
        );
        let adaptation = Adaptation {
            estimate: Mutex::new(estimate),
            audio_bps,
            available_bps: AtomicU64::new(0),
            video_target_bps: AtomicU64::new(0),
            sent: Mutex::default(),
            generation: AtomicU32::new(0),
            fallback: (audio && audio_fallback)
                .then(|| Mutex::new(Fallback::new(initial_video_bps, max_video_bps))),
            skip: AtomicBool::new(false),
            keyframe: AtomicBool::new(false),
            resent_bps: Mutex::default(),
            outage_over: AtomicBool::new(false),
            resized: AtomicBool::new(false),
            waits: Mutex::default(),
            prober: Mutex::default(),
            probe_ssrc: AtomicU32::new(0),
        };
        adaptation.publish(Instant::now());
        adaptation
    }

    fn lock(&self) -> MutexGuard<'_, Estimate> {
        self.estimate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the estimate at `now` the one read; the pacing rate when the estimate changed.
    fn publish(&self, now: Instant) -> Option<f64> {
        let available = self.lock().target(now);
        lock(&self.prober).on_estimate(now, available);
        let share = available - self.audio_bps;
        // Retransmissions take their part first, as libwebrtc's protection overhead does:
        // an encoder that kept all of it would push repairs past what the path carries,
        // and a repair lost there costs a freeze. The fallback judges the path, not a
        // passing burst of repairs.
        let resent =
            (lock(&self.resent_bps).iter().sum::<f64>() / 2.0).min(share * MAX_RESENT_SHARE);
        let video = ((share - resent) * VIDEO_SHARE).max(MIN_VIDEO_BPS);
        let previous = self.available_bps.swap(available as u64, Ordering::AcqRel);
        let previous_video = self.video_target_bps.swap(video as u64, Ordering::AcqRel);
        if let Some(fallback) = &self.fallback {
            lock(fallback).on_target(now, (share * VIDEO_SHARE).max(MIN_VIDEO_BPS));
        }
        if previous_video != video as u64 {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        if previous == available as u64 {
            return None;
        }
        tracing::debug!(
            "estimate {} kbit/s, video asked for {} kbit/s ({} kbit/s resent)",
            available as u64 / 1000,
            video as u64 / 1000,
            resent as u64 / 1000
        );
        Some(pacing_for(available))
    }

    /// A receiver report's loss fraction, and how many packets it is of; the new pacing rate
    /// if the estimate moved.
    pub(crate) fn on_loss_report(
        &self,
        now: Instant,
        fraction_lost: f64,
        packets: Option<u32>,
    ) -> Option<f64> {
        let mut prober = lock(&self.prober);
        if prober.explains_loss(now) {
            return None;
        }
        prober.on_loss(now, fraction_lost);
        self.follow(now, &mut prober, |e| {
            e.on_loss_report(now, fraction_lost, packets)
        });
        drop(prober);
        self.publish(now)
    }

    /// Moves the estimate with `change`; a fall is told to the prober.
    fn follow(&self, now: Instant, prober: &mut Prober, change: impl FnOnce(&mut Estimate)) {
        let mut estimate = self.lock();
        let before = estimate.last_fall().map(|(at, _)| at);
        change(&mut estimate);
        if estimate.last_fall().map(|(at, _)| at) != before {
            prober.on_fall(now);
        }
    }

    /// The loss fraction of the last half second or so, from NACKs: it only makes the
    /// estimate fall.
    pub(crate) fn on_early_loss(
        &self,
        now: Instant,
        fraction_lost: f64,
        packets: Option<u32>,
    ) -> Option<f64> {
        let rtt = self.rtt();
        let mut prober = lock(&self.prober);
        prober.on_early_loss(now, fraction_lost, rtt);
        if prober.explains_loss(now) {
            drop(prober);
            self.undo_probe();
            return self.publish(now);
        }
        self.follow(now, &mut prober, |e| {
            e.on_early_loss(now, fraction_lost, packets)
        });
        drop(prober);
        self.publish(now)
    }

    /// Most retransmissions sent lately were lost (see `session::retransmit`): the path is
    /// full, unless a probe filled it.
    pub(crate) fn on_copies_lost(&self, now: Instant) {
        let mut prober = lock(&self.prober);
        if prober.explains_loss(now) {
            return;
        }
        self.follow(now, &mut prober, |e| e.on_copies_lost(now));
        drop(prober);
        self.publish(now);
    }

    /// The receiver's own estimate (REMB, or transport-wide feedback's delay-based one).
    pub(crate) fn on_remote_estimate(&self, now: Instant, bps: f64) -> Option<f64> {
        self.lock().on_remote_estimate(now, bps);
        self.publish(now)
    }

    /// A REMB: the receiver's estimate for the streams that carry the absolute send time,
    /// which are the video's; audio rides beside them.
    pub(crate) fn on_remb(&self, now: Instant, video_bps: f64) -> Option<f64> {
        if self.sends_video() {
            self.lock().on_remb(now, video_bps + self.audio_bps);
        } else {
            // It covers the video alone, and none arrives: it says nothing new.
            let mut estimate = self.lock();
            estimate.forget_ceiling();
            estimate.on_remote_estimate(now, video_bps + self.audio_bps);
        }
        self.publish(now)
    }

    /// What was sent over the last interval, bit/s (all media, on the wire), and how much of
    /// it was retransmissions.
    pub(crate) fn on_sent_rate(&self, now: Instant, bps: f64, resent_bps: f64) {
        self.lock().on_sent_rate(bps);
        lock(&self.prober).on_sending(now);
        {
            let mut resent = lock(&self.resent_bps);
            resent[0] = resent[1];
            resent[1] = if resent_bps.is_finite() {
                resent_bps.max(0.0)
            } else {
                0.0
            };
        }
        self.publish(now);
    }

    /// What the receiver's reports say the path delivered, bit/s (all media).
    pub(crate) fn on_delivered_rate(&self, now: Instant, bps: f64) {
        self.lock().on_delivered_rate(now, bps);
    }

    /// The latest round trip.
    pub(crate) fn on_rtt(&self, rtt: Duration) {
        self.lock().on_rtt(rtt);
    }

    /// Moves the fallback on with time (the video encoder calls it for each frame): whether
    /// video is to be sent now, and what to tell the host. A try of video after the fallback
    /// starts the estimate at what video needs.
    pub(crate) fn poll_video(&self, now: Instant) -> (bool, Vec<FallbackEvent>) {
        let Some(fallback) = &self.fallback else {
            return (true, Vec::new());
        };
        let (sends, try_bps, events) = {
            let mut f = lock(fallback);
            let was_trying = f.trying();
            let sends = f.poll(now);
            let starts_try = f.trying() && !was_trying;
            let events: Vec<_> = std::iter::from_fn(|| f.next_event()).collect();
            (sends, starts_try.then(|| f.try_bps()), events)
        };
        if let Some(video) = try_bps {
            self.lock()
                .restart_at(now, video / VIDEO_SHARE + self.audio_bps);
            self.publish(now);
            // Resumed video starts with a keyframe anyway.
            self.skip.store(true, Ordering::Release);
        }
        (sends, events)
    }

    /// Packets the receiver waits for will not come: video skips its sequence numbers ahead
    /// and sends a keyframe.
    pub(crate) fn skip_ahead(&self) {
        self.skip.store(true, Ordering::Release);
        self.keyframe.store(true, Ordering::Release);
    }

    /// Whether the receiver of `ssrc` waits for packets that have not gone yet (the resend
    /// budget owes them) or for copies that were lost.
    pub(crate) fn set_receiver_waits(&self, ssrc: u32, waits: bool) {
        let mut set = lock(&self.waits);
        if waits {
            set.insert(ssrc);
        } else {
            set.remove(&ssrc);
        }
    }

    /// Whether a receiver waits for older packets now.
    pub(crate) fn receiver_waits(&self) -> bool {
        !lock(&self.waits).is_empty()
    }

    /// Whether the receiver of `ssrc` waited for older packets, once.
    pub(crate) fn take_receiver_waits(&self, ssrc: u32) -> bool {
        lock(&self.waits).remove(&ssrc)
    }

    /// The video encoder changed size (its next keyframe is at the new one).
    pub(crate) fn on_resized(&self) {
        self.resized.store(true, Ordering::Release);
    }

    /// Whether video changed size since the last call.
    pub(crate) fn take_resized(&self) -> bool {
        self.resized.swap(false, Ordering::AcqRel)
    }

    /// The receiver is heard again after an outage.
    pub(crate) fn on_outage_over(&self) {
        self.outage_over.store(true, Ordering::Release);
    }

    /// Whether an outage ended since the last call.
    pub(crate) fn take_outage_over(&self) -> bool {
        self.outage_over.swap(false, Ordering::AcqRel)
    }

    /// Whether video is to skip ahead, once: the first video packet to go out takes it.
    pub(crate) fn take_skip(&self) -> bool {
        self.skip.swap(false, Ordering::AcqRel)
    }

    /// Whether video is to send a keyframe, once.
    pub(crate) fn take_keyframe(&self) -> bool {
        self.keyframe.swap(false, Ordering::AcqRel)
    }

    /// Whether video is being sent (not stopped by the audio-only fallback).
    pub(crate) fn sends_video(&self) -> bool {
        self.fallback.as_ref().is_none_or(|f| lock(f).sends_video())
    }

    /// What the path's loss says at `now`, read at once (the resends read it for every RTCP
    /// packet).
    pub(crate) fn loss_outlook(&self, now: Instant) -> LossOutlook {
        let probe = lock(&self.prober).explains_loss(now);
        let estimate = self.lock();
        LossOutlook {
            rtt: estimate.rtt(),
            steady: estimate.loses_steadily(now),
            a_little: estimate.loses_a_little(),
            probe,
        }
    }

    /// The latest round trip (100 ms until one is measured).
    pub(crate) fn rtt(&self) -> Duration {
        self.lock().rtt()
    }

    /// The rate the pacer goes at now.
    pub(crate) fn pacing_bps(&self) -> f64 {
        pacing_for(self.available_bps() as f64)
    }

    /// The rate the pacer goes at, at `now`: slower for a while after a fall.
    pub(crate) fn pacing_bps_at(&self, now: Instant) -> f64 {
        let available = self.available_bps() as f64;
        let fell = self.lock().last_fall();
        match fell {
            Some((at, from))
                if now.saturating_duration_since(at) < AFTER_FALL
                    && available >= from * AFTER_FALL_KEPT =>
            {
                available * AFTER_FALL_FACTOR
            }
            _ => pacing_for(available),
        }
    }

    /// Probe packets can go on `ssrc` (the pacer sends them).
    pub(crate) fn allow_probes(&self, ssrc: u32) {
        self.probe_ssrc.store(ssrc, Ordering::Release);
    }

    /// The SSRC probe packets go on, once they can.
    pub(crate) fn probe_ssrc(&self) -> Option<u32> {
        Some(self.probe_ssrc.load(Ordering::Acquire)).filter(|&ssrc| ssrc != 0)
    }

    /// While a probe is under way, the rate (bit/s) to fill what is sent up to at `now`;
    /// starts one when it is time (see [`probe`]). Only video held back by the bandwidth,
    /// by no receiver's ceiling, is probed for.
    pub(crate) fn probe_bps_at(&self, now: Instant) -> Option<f64> {
        self.probe_ssrc()?;
        // It runs for every packet the pacer sees: the estimate is locked once.
        let (capped, max, rtt) = {
            let estimate = self.lock();
            (
                estimate.ceiling(now).is_some(),
                estimate.max(),
                estimate.rtt(),
            )
        };
        let wanted =
            !capped && self.sends_video() && self.sent().limitation == QualityLimitation::Bandwidth;
        let available = self.available_bps() as f64;
        let probe = lock(&self.prober).poll(now, (available, max), wanted, rtt);
        if self.undo_probe() {
            self.publish(now);
        }
        probe
    }

    /// Whether probes are climbing: the estimate is about to grow (see `Prober::climbing`).
    pub(crate) fn probes_climbing(&self) -> bool {
        let available = self.available_bps() as f64;
        let max = self.lock().max();
        lock(&self.prober).climbing(available, max)
    }

    /// Starts a probe at `bps` now (for tests of the pacer).
    #[cfg(test)]
    pub(crate) fn start_probe(&self, now: Instant, bps: f64) {
        lock(&self.prober).start(now, bps);
    }

    /// The number of the next probe packet.
    pub(crate) fn take_probe_seq(&self) -> u32 {
        lock(&self.prober).take_seq()
    }

    /// The receiver's report of the probe stream (its highest number, extended, and
    /// cumulative loss); the new pacing rate if a probe that held moved the estimate.
    pub(crate) fn on_probe_report(&self, now: Instant, highest: u32, lost: u32) -> Option<f64> {
        let rtt = self.rtt();
        let verdict = lock(&self.prober).on_report(now, highest, lost, rtt);
        if let Some(Verdict::Held(bps)) = verdict {
            let before = self.available_bps() as f64;
            self.lock().on_probe_held(bps, PROBE_KEPT);
            lock(&self.prober).jumped(before);
        }
        self.undo_probe();
        self.publish(now)
    }

    /// A climb of probes failed: the estimate goes back to where it was before the last
    /// probe that held moved it.
    fn undo_probe(&self) -> bool {
        let undo = lock(&self.prober).take_undo();
        if let Some(bps) = undo {
            tracing::debug!("probe climb undone: back to {} kbit/s", bps as u64 / 1000);
            self.lock().undo_probe(bps);
        }
        undo.is_some()
    }

    /// What the path is estimated to carry for all our media (W3C
    /// `availableOutgoingBitrate`).
    pub(crate) fn available_bps(&self) -> u64 {
        self.available_bps.load(Ordering::Acquire)
    }

    /// What the video encoder is asked for (W3C `targetBitrate`).
    pub(crate) fn video_target_bps(&self) -> u64 {
        self.video_target_bps.load(Ordering::Acquire)
    }

    /// What a receiver allows video at most, when it sets a ceiling (an SFU's room
    /// bitrate): a path it caps is not one to probe.
    pub(crate) fn video_ceiling_bps(&self, now: Instant) -> Option<f64> {
        let ceiling = self.lock().ceiling(now)?;
        Some(((ceiling - self.audio_bps) * VIDEO_SHARE).max(MIN_VIDEO_BPS))
    }

    /// Changes whenever the video target does.
    pub(crate) fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    /// The encoder says what it sends.
    pub(crate) fn set_sent(&self, sent: SentVideo) {
        *self.sent.lock().unwrap_or_else(|e| e.into_inner()) = sent;
    }

    /// What video is sent as now.
    pub(crate) fn sent(&self) -> SentVideo {
        *self.sent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn pacing_for(available_bps: f64) -> f64 {
    (available_bps * PACING_FACTOR).max(MIN_PACING_BPS)
}

impl Adaptation {
    /// A stream's adaptation for a publisher's settings: video starts at what looks good at
    /// its size and rate (with simulcast, at each layer's size together), and asks at most
    /// `max_video_bitrate_kbps` (or, when that is 0, ten times the full size's start).
    pub(crate) fn for_settings(settings: &PublisherSettings, audio: bool) -> Self {
        let (w, h, fps) = (
            settings.resolution.width,
            settings.resolution.height,
            settings.frame_rate,
        );
        let max_kbps = match settings.max_video_bitrate_kbps {
            0 => default_max_video_kbps(w, h, fps),
            kbps => kbps,
        };
        let layers = (settings.simulcast as usize).max(1);
        let initial_bps = simulcast::total_start_bps((w, h), fps, layers);
        Adaptation::with_fallback(
            initial_bps.min(f64::from(max_kbps) * 1000.0),
            f64::from(max_kbps) * 1000.0,
            audio,
            settings.audio_fallback,
        )
    }
}

/// The most video may ask for when the host sets no limit: ten times what looks good at
/// this size and rate, from 1.5 to 6 Mbit/s. Detailed content needs that much: noise in
/// blocks of 4 pixels at 640x480@30 takes VP8 4.2 Mbit/s at its coarsest quantizer, and
/// at four times (2.6 Mbit/s) it never reached its full size on a clear link.
pub(crate) fn default_max_video_kbps(width: u32, height: u32, fps: u32) -> u32 {
    (default_video_bitrate_kbps(width, height, fps) * 10).clamp(1500, 6000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_gets_its_share_of_what_audio_leaves() {
        let a = Adaptation::new(900_000.0, 2_000_000.0, true);
        assert_eq!(a.video_target_bps(), 900_000);
        assert_eq!(a.available_bps(), 1_060_000);
        let g = a.generation();
        let t0 = Instant::now();
        let pacing = a.on_loss_report(t0, 0.5, None).expect("the estimate fell");
        assert!(a.generation() > g);
        let available = a.available_bps() as f64;
        assert!((pacing - available * 2.5).abs() < 1.0);
        let video = ((available - AUDIO_WIRE_BPS) * 0.9) as u64;
        assert!(a.video_target_bps().abs_diff(video) <= 1);
        // Within a second of a fall it does not fall again: nothing to tell the pacer.
        assert_eq!(
            a.on_loss_report(t0 + Duration::from_millis(50), 0.2, None),
            None
        );
    }

    #[test]
    fn retransmissions_take_their_part_before_video() {
        let a = Adaptation::with_fallback(900_000.0, 2_000_000.0, true, true);
        let t0 = Instant::now();
        let g = a.generation();
        a.on_sent_rate(t0, 1_000_000.0, 200_000.0);
        // The mean of the last two measurements: 0 and 200k.
        assert_eq!(a.video_target_bps(), 900_000 - 90_000);
        assert!(a.generation() > g, "the encoder re-reads its target");
        a.on_sent_rate(t0, 1_000_000.0, 200_000.0);
        assert_eq!(a.video_target_bps(), 900_000 - 180_000);
        assert_eq!(a.available_bps(), 1_060_000, "the estimate is the path's");
        a.on_sent_rate(t0, 1_000_000.0, 0.0);
        a.on_sent_rate(t0, 1_000_000.0, 0.0);
        assert_eq!(a.video_target_bps(), 900_000);
    }

    #[test]
    fn the_video_target_never_falls_below_its_floor() {
        let a = Adaptation::new(500_000.0, 2_000_000.0, true);
        let t0 = Instant::now();
        for _ in 0..3 {
            a.on_sent_rate(t0, 1_500.0, 0.0);
        }
        a.on_remote_estimate(t0, 600_000.0);
        a.on_remote_estimate(t0, 1_000.0);
        assert_eq!(a.video_target_bps(), MIN_VIDEO_BPS as u64);
        assert_eq!(default_max_video_kbps(640, 480, 30), 6000);
        assert_eq!(default_max_video_kbps(160, 120, 15), 1500);
        assert_eq!(default_max_video_kbps(1920, 1080, 30), 6000);
    }
}
