//! The pacer: media leaves at a rate the stream's [`Adaptation`] sets, audio first, then
//! retransmissions, then video; video that waited too long is dropped rather than sent late.
//!
//! The stack's pacer is one queue with no time limit. After the path narrows, it holds what
//! the encoder made at the old rate: audio waits behind it, the keyframe at the new size
//! waits behind it, and the receiver waits for all of it. Here audio has a queue of its own
//! that goes first (it is a small, steady share), and once the oldest video has waited
//! [`STALE`], all queued video goes and the stream skips ahead to a keyframe (see
//! `session::resume`): the receiver gets a picture at the new rate instead of a late one.
//!
//! Retransmissions go ahead of queued video, as in libwebrtc's pacer. A receiver asks again
//! when a packet after a gap arrives: behind a policer, that is the first packet of a frame's
//! burst, let through by what the policer's bucket refilled since the last burst. A copy
//! queued behind the rest of that burst reached the policer once the bucket was spent again
//! (four copies of one packet were lost in a row at 7 % loss, and the receiver waited until
//! it gave up). Ahead of the burst it meets the bucket where the burst's first packet did;
//! while the estimate is well over the policer's rate, copies are still lost.
//!
//! While the adaptation probes the path (see `adapt::probe`), the pacer fills what leaves up to
//! the probe's rate with packets on a stream of their own: the retransmission payload type on
//! an SSRC the receiver never heard of, which it counts in its reports and then drops (aiortc
//! routes it to the video by its payload type, feeds its bandwidth estimator and statistics,
//! and finds no stream it repairs). Their payload is zeros.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::shared::marshal::MarshalSize;

use crate::adapt::Adaptation;

/// Video queued longer than this is dropped, when more waits than leaves in this time at the
/// pacing rate: a keyframe drains in well under it, so only a backlog from a rate the path no
/// longer carries waits this long. (A small queue that waited as long was held up by a late
/// timer, on a machine too busy to wake us: dropping it would only cost keyframes.)
pub(super) const STALE: Duration = Duration::from_millis(500);
/// After a drop, the keyframe that follows gets this long to leave before video is judged
/// stale again; a link too narrow to carry one in `STALE` does not drop every keyframe.
pub(super) const DROP_SPACING: Duration = Duration::from_secs(2);
/// Packets held before new ones are refused (the stack's limit).
const QUEUE_LIMIT: usize = 4096;
/// The payload of a probe packet, bytes: a full packet, so few are needed.
const PROBE_PAYLOAD: usize = 1100;
/// Probe packets leave at most this far ahead of their rate (no burst), and media sent beyond
/// the rate is made up for over at most this long.
const PROBE_AHEAD: Duration = Duration::from_millis(20);
const PROBE_BEHIND: Duration = Duration::from_millis(100);
/// Flips an SSRC of ours into the probe stream's.
const PROBE_SSRC_FLIP: u32 = 0x8000_0000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Audio,
    Video,
}

pub(crate) struct Pacer {
    adaptation: Arc<Adaptation>,
    bucket: rtc::interceptor::Pacer,
    /// What each local SSRC (RTX too) carries; unknown ones are paced as video but never
    /// dropped.
    kinds: HashMap<u32, Kind>,
    audio: VecDeque<TaggedPacket>,
    /// Retransmissions (of video; audio has no NACK).
    copies: VecDeque<TaggedPacket>,
    /// Video and when it was queued.
    video: VecDeque<(Instant, TaggedPacket)>,
    /// The size of what `video` holds, bits.
    video_bits: f64,
    released: VecDeque<TaggedPacket>,
    unpaced: VecDeque<TaggedPacket>,
    inbound: VecDeque<TaggedPacket>,
    last_drop: Option<Instant>,
    /// The latest instant handed in.
    last_now: Option<Instant>,
    /// Packets dropped: video that waited too long, and any refused on a full queue.
    pub(super) dropped: u64,
    /// The probe stream, once video with retransmissions is bound.
    probe: Option<ProbeStream>,
}

/// Where probe packets go, and what may leave of them.
struct ProbeStream {
    ssrc: u32,
    payload_type: u8,
    /// The media's transport (probe packets go the same way).
    transport: Option<rtc::shared::TransportContext>,
    /// The probe's rate, while one is under way.
    bps: Option<f64>,
    /// Bits the probe may still send (media sent counts against it).
    budget: f64,
    /// The time base of their RTP timestamps.
    epoch: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new(adaptation: Arc<Adaptation>) -> Self {
        let bucket = rtc::interceptor::Pacer::new(adaptation.pacing_bps());
        Pacer {
            adaptation,
            bucket,
            kinds: HashMap::new(),
            audio: VecDeque::new(),
            copies: VecDeque::new(),
            video: VecDeque::new(),
            video_bits: 0.0,
            released: VecDeque::new(),
            unpaced: VecDeque::new(),
            inbound: VecDeque::new(),
            last_drop: None,
            last_now: None,
            dropped: 0,
            probe: None,
        }
    }

    fn bits(packet: &TaggedPacket) -> f64 {
        match &packet.message.packet {
            Packet::Rtp(rtp) => (rtp.marshal_size() * 8) as f64,
            _ => 0.0,
        }
    }

    /// What an outbound packet carries; `None` for RTCP.
    fn kind(&self, packet: &TaggedPacket) -> Option<Option<Kind>> {
        match &packet.message.packet {
            Packet::Rtp(rtp) => Some(self.kinds.get(&rtp.header.ssrc).copied()),
            _ => None,
        }
    }

    /// The budget brought to `now`, at the rate the adaptation sets now.
    fn refill(&mut self, now: Instant) {
        let since = self
            .last_now
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        if let Some(probe) = &mut self.probe {
            probe.bps = self.adaptation.probe_bps_at(now);
            probe.budget = match probe.bps {
                // At least a packet ahead, or a probe under 450 kbit/s never sends one.
                Some(bps) => (probe.budget + bps * since.as_secs_f64())
                    .min((bps * PROBE_AHEAD.as_secs_f64()).max(Self::probe_bits())),
                None => 0.0,
            };
        }
        self.last_now = Some(now);
        self.bucket.refill(now);
        self.bucket
            .set_target_bitrate(self.adaptation.pacing_bps_at(now));
    }

    fn head_bits(&self) -> Option<f64> {
        self.audio
            .front()
            .or_else(|| self.copies.front())
            .or_else(|| self.video.front().map(|(_, p)| p))
            .map(Self::bits)
    }

    /// When the oldest video turns stale, if a drop may happen then.
    fn stale_at(&self) -> Option<Instant> {
        let (queued, packet) = self.video.front()?;
        if !self.droppable(packet)
            || self.video_bits <= self.bucket.target_bitrate() * STALE.as_secs_f64()
        {
            return None;
        }
        let at = *queued + STALE;
        Some(match self.last_drop {
            Some(last) => at.max(last + DROP_SPACING),
            None => at,
        })
    }

    fn droppable(&self, packet: &TaggedPacket) -> bool {
        self.kind(packet) == Some(Some(Kind::Video))
    }

    fn drop_stale(&mut self, now: Instant) {
        if self.stale_at().is_none_or(|at| now < at) {
            return;
        }
        let before = self.video.len();
        let video = std::mem::take(&mut self.video);
        self.video = video
            .into_iter()
            .filter(|(_, p)| !self.droppable(p))
            .collect();
        self.video_bits = self.video.iter().map(|(_, p)| Self::bits(p)).sum();
        let dropped = before - self.video.len();
        self.dropped += dropped as u64;
        self.last_drop = Some(now);
        tracing::debug!(
            "{dropped} video packets waited over {} ms to leave: dropped, video skips ahead",
            STALE.as_millis()
        );
        self.adaptation.skip_ahead();
    }

    fn release(&mut self, now: Instant) {
        while let Some(bits) = self.head_bits() {
            // A bit of slack: the deadline is rounded down to a nanosecond, and a budget
            // refilled to it may fall short by a fraction of a bit.
            if !self.bucket.can_release(bits - 1.0) {
                break;
            }
            self.bucket.consume(bits);
            let mut packet = match self.audio.pop_front().or_else(|| self.copies.pop_front()) {
                Some(p) => p,
                None => {
                    self.video_bits = (self.video_bits - bits).max(0.0);
                    self.video.pop_front().expect("a head was seen").1
                }
            };
            // It leaves now: what records departures wire-side reads this instant.
            packet.now = now;
            self.released.push_back(packet);
            if let Some(probe) = &mut self.probe {
                if let Some(rate) = probe.bps {
                    probe.budget = (probe.budget - bits).max(-rate * PROBE_BEHIND.as_secs_f64());
                }
            }
        }
        self.send_probes(now);
    }

    /// Probe packets, as many as the probe's budget allows.
    fn send_probes(&mut self, now: Instant) {
        let Some(probe) = &mut self.probe else {
            return;
        };
        let Some(transport) = probe.transport else {
            return;
        };
        while probe.bps.is_some() && probe.budget >= Self::probe_bits() {
            let mut packet = rtc::rtp::Packet::default();
            packet.header.version = 2;
            packet.header.payload_type = probe.payload_type;
            packet.header.ssrc = probe.ssrc;
            packet.header.sequence_number = self.adaptation.take_probe_seq() as u16;
            let epoch = *probe.epoch.get_or_insert(now);
            // A 90 kHz clock, as the video's.
            packet.header.timestamp =
                (now.saturating_duration_since(epoch).as_secs_f64() * 90_000.0) as u64 as u32;
            packet.payload = vec![0; PROBE_PAYLOAD].into();
            probe.budget -= Self::probe_bits();
            self.released.push_back(TaggedPacket {
                now,
                transport,
                message: rtc::interceptor::AttributedPacket::new(Packet::Rtp(packet)),
            });
        }
    }

    /// A probe packet's size on the wire as its budget counts it (header and send time).
    fn probe_bits() -> f64 {
        ((12 + 8 + PROBE_PAYLOAD) * 8) as f64
    }

    /// When the next probe packet may leave, while a probe is under way.
    fn probe_at(&self) -> Option<Instant> {
        let probe = self.probe.as_ref()?;
        let bps = probe.bps?;
        let last = self.last_now?;
        let wait = ((Self::probe_bits() - probe.budget) / bps).max(0.001);
        Some(last + Duration::from_secs_f64(wait))
    }
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for Pacer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.inbound.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inbound.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        let Some(kind) = self.kind(&msg) else {
            // Feedback is only of use while fresh.
            self.unpaced.push_back(msg);
            return Ok(());
        };
        let now = msg.now;
        if let Some(probe) = &mut self.probe {
            probe.transport = Some(msg.transport);
        }
        self.refill(now);
        if self.audio.len() + self.copies.len() + self.video.len() >= QUEUE_LIMIT {
            self.dropped += 1;
            return Ok(());
        }
        match kind {
            Some(Kind::Audio) => self.audio.push_back(msg),
            _ if msg.message.has(&Attribute::Retransmission) => self.copies.push_back(msg),
            _ => {
                self.video_bits += Self::bits(&msg);
                self.video.push_back((now, msg));
            }
        }
        self.release(now);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.unpaced
            .pop_front()
            .or_else(|| self.released.pop_front())
    }

    fn handle_timeout(&mut self, now: Instant) -> std::result::Result<(), Self::Error> {
        self.refill(now);
        self.drop_stale(now);
        self.release(now);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        // Never at or before the last instant handed in: that would wake the chain in a loop.
        let release = self
            .head_bits()
            .and_then(|bits| self.bucket.releasable_at(bits))
            .map(|at| match self.last_now {
                Some(last) => at.max(last + Duration::from_micros(1)),
                None => at,
            });
        [release, self.stale_at(), self.probe_at()]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Interceptor for Pacer {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let kind = if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            Kind::Audio
        } else {
            Kind::Video
        };
        self.kinds.insert(info.ssrc, kind);
        if let Some(rtx) = info.ssrc_rtx {
            self.kinds.insert(rtx, kind);
        }
        if let (Kind::Video, Some(rtx), Some(payload_type), None) =
            (kind, info.ssrc_rtx, info.payload_type_rtx, &self.probe)
        {
            let ssrc = rtx ^ PROBE_SSRC_FLIP;
            if !self.kinds.contains_key(&ssrc) {
                self.probe = Some(ProbeStream {
                    ssrc,
                    payload_type,
                    transport: None,
                    bps: None,
                    budget: 0.0,
                    epoch: None,
                });
                self.adaptation.allow_probes(ssrc);
            }
        }
    }
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::sansio::Protocol;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    fn rtp(now: Instant, ssrc: u32, seq: u16, bytes: usize) -> TaggedPacket {
        let mut packet = rtc::rtp::Packet::default();
        packet.header.ssrc = ssrc;
        packet.header.sequence_number = seq;
        packet.payload = vec![0; bytes].into();
        TaggedPacket {
            now,
            transport: Default::default(),
            message: rtc::interceptor::AttributedPacket::new(Packet::Rtp(packet)),
        }
    }

    fn stream(ssrc: u32, mime: &str) -> StreamInfo {
        StreamInfo {
            ssrc,
            mime_type: mime.into(),
            ..Default::default()
        }
    }

    /// A pacer for audio on SSRC 1 and video on 2, at the adaptation's start (1.06 Mbit/s,
    /// paced at 2.65).
    fn pacer() -> (Arc<Adaptation>, Pacer) {
        let adaptation = Arc::new(Adaptation::new(900_000.0, 2_000_000.0, true));
        let mut pacer = Pacer::new(adaptation.clone());
        pacer.bind_local_stream(&stream(1, "audio/opus"));
        pacer.bind_local_stream(&stream(2, "video/VP8"));
        (adaptation, pacer)
    }

    /// Runs the pacer's timers to `until`; what left, as (ms after t0, ssrc, seq).
    fn run(p: &mut Pacer, t0: Instant, until: Instant) -> Vec<(u64, u32, u16)> {
        let mut left = Vec::new();
        loop {
            while let Some(out) = p.poll_write() {
                let Packet::Rtp(rtp) = &out.message.packet else {
                    continue;
                };
                let at = out.now.duration_since(t0).as_millis() as u64;
                left.push((at, rtp.header.ssrc, rtp.header.sequence_number));
            }
            match p.poll_timeout() {
                Some(at) if at <= until => p.handle_timeout(at).unwrap(),
                _ => return left,
            }
        }
    }

    #[test]
    fn a_probe_fills_what_leaves_up_to_its_rate_on_a_stream_of_its_own() {
        // Audio and a video frame of 5 packets every 100 ms (450 kbit/s), probed at 1.2M.
        let (probes, total) = probe_half_a_second(1_200_000.0, true);
        // Numbered in order from 0.
        let expected: Vec<u16> = (0..probes.len() as u16).collect();
        assert_eq!(probes, expected);
        assert!(
            (500_000.0..=680_000.0).contains(&total),
            "{} probe packets, {total} bits in 0.5 s",
            probes.len()
        );
    }

    #[test]
    fn a_probe_slower_than_a_packet_in_its_burst_still_sends() {
        // Audio alone (45 kbit/s) probed at 300k: 20 ms at that rate is less than a probe
        // packet, and a budget capped there never sent one (at an estimate under 150 kbit/s
        // a probe sent nothing, ended unjudged and started again every half second).
        let (probes, total) = probe_half_a_second(300_000.0, false);
        assert!(
            (120_000.0..=180_000.0).contains(&total),
            "{} probe packets, {total} bits in 0.5 s",
            probes.len()
        );
    }

    /// Runs half a second of audio every 20 ms (and, `with_video`, a frame of 5 packets every
    /// 100 ms) through a pacer probing at `bps`, then 1.5 s more; the probe packets' numbers
    /// and the bits sent (media and probes) over the half second. Checks that probes go on a
    /// stream of their own and stop with the probe.
    fn probe_half_a_second(bps: f64, with_video: bool) -> (Vec<u16>, f64) {
        let (adaptation, mut p) = pacer();
        assert_eq!(
            adaptation.probe_ssrc(),
            None,
            "no retransmissions: no probes"
        );
        p.bind_local_stream(&StreamInfo {
            ssrc: 3,
            ssrc_rtx: Some(4),
            payload_type_rtx: Some(97),
            mime_type: "video/VP8".into(),
            ..Default::default()
        });
        let probe = adaptation.probe_ssrc().expect("video with retransmissions");
        assert!(![1, 2, 3, 4].contains(&probe));
        let t0 = Instant::now();
        adaptation.start_probe(t0, bps);
        let mut probes = Vec::new();
        let mut media_bits = 0.0;
        let take = |out: TaggedPacket, probes: &mut Vec<u16>| {
            if let Packet::Rtp(rtp) = &out.message.packet {
                if rtp.header.ssrc == probe {
                    assert_eq!(rtp.header.payload_type, 97);
                    assert_eq!(rtp.payload.len(), PROBE_PAYLOAD);
                    probes.push(rtp.header.sequence_number);
                }
            }
        };
        for tick in 0..25u64 {
            let at = ms(t0, tick * 20);
            p.handle_write(rtp(at, 1, tick as u16, 100)).unwrap();
            media_bits += 112.0 * 8.0;
            if with_video && tick % 5 == 0 {
                for n in 0..5 {
                    p.handle_write(rtp(at, 3, (tick * 5 + n) as u16, 1000))
                        .unwrap();
                    media_bits += 1012.0 * 8.0;
                }
            }
            while let Some(out) = p.poll_write() {
                take(out, &mut probes);
            }
            while let Some(at) = p.poll_timeout().filter(|&at| at < ms(t0, tick * 20 + 20)) {
                p.handle_timeout(at).unwrap();
                while let Some(out) = p.poll_write() {
                    take(out, &mut probes);
                }
            }
        }
        // Over: nothing more.
        let after = run(&mut p, t0, ms(t0, 2_000));
        assert!(after.iter().all(|&(_, ssrc, _)| ssrc != probe), "{after:?}");
        let total = media_bits + probes.len() as f64 * Pacer::probe_bits();
        (probes, total)
    }

    #[test]
    fn audio_leaves_before_video_queued_ahead_of_it() {
        let (_, mut p) = pacer();
        let t0 = Instant::now();
        // A keyframe of 100 packets (about 0.3 s at 2.65 Mbit/s), then an audio packet.
        for seq in 0..100 {
            p.handle_write(rtp(t0, 2, seq, 1000)).unwrap();
        }
        p.handle_write(rtp(ms(t0, 1), 1, 7, 100)).unwrap();
        let left = run(&mut p, t0, ms(t0, 1000));
        assert_eq!(left.len(), 101, "everything leaves: {left:?}");
        let audio = left.iter().position(|&(_, ssrc, _)| ssrc == 1).unwrap();
        assert!(audio < 40, "audio waited behind {audio} video packets");
        let (last_at, _, _) = *left.last().unwrap();
        assert!(
            (150..=300).contains(&last_at),
            "paced at about 2.65 Mbit/s: the last left at {last_at} ms"
        );
        assert_eq!(p.dropped, 0);
    }

    #[test]
    fn a_retransmission_leaves_before_video_queued_ahead_of_it() {
        let (_, mut p) = pacer();
        let t0 = Instant::now();
        // A keyframe of 100 packets (about 0.3 s at 2.65 Mbit/s), then a copy of one of them.
        for seq in 0..100 {
            p.handle_write(rtp(t0, 2, seq, 1000)).unwrap();
        }
        let mut copy = rtp(ms(t0, 1), 2, 3, 1000);
        copy.message = copy.message.with(Attribute::Retransmission);
        p.handle_write(copy).unwrap();
        let left = run(&mut p, t0, ms(t0, 1000));
        assert_eq!(left.len(), 101, "everything leaves: {left:?}");
        let threes: Vec<usize> = (0..left.len()).filter(|&i| left[i].2 == 3).collect();
        assert_eq!(threes.len(), 2, "{left:?}");
        assert!(
            threes[1] < 40,
            "the copy waited behind {} video packets",
            threes[1]
        );
        assert_eq!(p.dropped, 0);
    }

    #[test]
    fn video_that_waited_too_long_is_dropped_and_skips_ahead_once_per_spacing() {
        let (a, mut p) = pacer();
        let t0 = Instant::now();
        // A policer dropped at 600 kbit/s: the pacer goes at 1.2 times the estimate for a
        // while.
        a.on_sent_rate(t0, 1_000_000.0, 0.0);
        a.on_delivered_rate(t0, 600_000.0);
        assert!(
            a.on_loss_report(t0, 0.3, None).is_some(),
            "the estimate fell"
        );
        let pacing = a.pacing_bps_at(t0);
        assert!(
            (pacing - 1.2 * a.available_bps() as f64).abs() < 1.0,
            "{pacing}"
        );
        // 150 kB of video made at the old rate: nearly 2 s of the new one.
        for seq in 0..150 {
            p.handle_write(rtp(ms(t0, u64::from(seq)), 2, seq, 1000))
                .unwrap();
        }
        assert!(!a.take_skip());
        let left = run(&mut p, t0, ms(t0, 1500));
        assert!(
            (30..80).contains(&left.len()),
            "what the rate allowed in 0.5 s left: {}",
            left.len()
        );
        // Queued at `seq` ms, none left after waiting the stale time.
        assert!(
            left.iter()
                .all(|&(at, _, seq)| at - u64::from(seq) <= STALE.as_millis() as u64),
            "{left:?}"
        );
        assert_eq!(p.dropped, 150 - left.len() as u64);
        assert!(a.take_skip() && a.take_keyframe(), "video skips ahead");
        // The keyframe after the skip is not dropped at once, though it waits as long.
        for seq in 2000..2200 {
            p.handle_write(rtp(ms(t0, 1500), 2, seq, 1000)).unwrap();
        }
        let later = run(&mut p, t0, ms(t0, 2400));
        assert!(!later.is_empty());
        assert!(!a.take_skip(), "no second skip within the spacing");
        let dropped = p.dropped;
        run(&mut p, t0, ms(t0, 3000));
        assert!(
            p.dropped > dropped,
            "after the spacing stale video goes again"
        );
        assert!(a.take_skip());
    }

    #[test]
    fn a_small_queue_held_up_by_a_late_timer_is_not_dropped() {
        let (a, mut p) = pacer();
        let t0 = Instant::now();
        // A keyframe of 100 packets: a third of a second at the pacing rate.
        for seq in 0..100 {
            p.handle_write(rtp(t0, 2, seq, 1000)).unwrap();
        }
        // The machine was too busy to wake the pacer for a second.
        p.handle_timeout(ms(t0, 1000)).unwrap();
        let left = run(&mut p, t0, ms(t0, 2000));
        assert_eq!(left.len(), 100, "all of it left");
        assert_eq!(p.dropped, 0);
        assert!(!a.take_skip());
    }

    #[test]
    fn audio_is_never_dropped_and_rtcp_is_not_paced() {
        let (a, mut p) = pacer();
        let t0 = Instant::now();
        // A path that narrowed to a tenth: the pacer does not trickle what waits.
        a.on_sent_rate(t0, 1_000_000.0, 0.0);
        a.on_delivered_rate(t0, 100_000.0);
        a.on_loss_report(t0, 0.5, None);
        assert!(a.available_bps() < 200_000);
        assert_eq!(a.pacing_bps_at(t0), a.pacing_bps());
        for seq in 0..100 {
            p.handle_write(rtp(ms(t0, u64::from(seq) * 20), 1, seq, 1000))
                .unwrap();
        }
        let rtcp = TaggedPacket {
            now: t0,
            transport: Default::default(),
            message: rtc::interceptor::AttributedPacket::new(Packet::Rtcp(vec![])),
        };
        p.handle_write(rtcp).unwrap();
        assert!(matches!(
            p.poll_write().map(|m| m.message.packet),
            Some(Packet::Rtcp(_))
        ));
        let left = run(&mut p, t0, ms(t0, 20_000));
        assert_eq!(left.len(), 100, "all audio left, however late");
        assert_eq!(p.dropped, 0);
        assert!(!a.take_skip());
    }
}
