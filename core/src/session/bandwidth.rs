//! The interceptor through which a stream hears how much its path carries, and tells the pacer.
//!
//! It sits between the congestion controller (wire-most) and the pacer. Inbound it reads what
//! the receiver reports — REMB, the loss fraction of report blocks about our streams — and the
//! delay-based estimate the congestion controller attached to transport-wide feedback, feeds
//! them to the stream's [`Adaptation`] (which our pacer reads its rate from), and leaves the
//! pacing rate that follows on the packet in place of the controller's (a pacer that reads the
//! attribute, as the stack's does, follows ours). Outbound it stamps the absolute send time on video
//! packets as they leave the pacer, where a receiver's REMB estimator expects it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::interceptor::{Attribute, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::shared::marshal::MarshalSize;

use super::delivered::{cumulative_lost, Delivered};
use super::tap::{report_blocks, Watch};
use crate::adapt::estimate::early_loss_evidence;
use crate::adapt::{Adaptation, OUTAGE_REPAIR};

/// The header extension REMB estimators read (6.18 fixed-point seconds).
pub(super) const ABS_SEND_TIME_URI: &str =
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";

/// Feeds a stream's [`Adaptation`] and paces by it.
pub(crate) struct BandwidthWatch {
    adaptation: Arc<Adaptation>,
    /// Our video SSRCs (media only: a retransmission stream's own loss figures say little,
    /// so few packets go on it): their loss is what the estimate follows.
    video: HashSet<u32>,
    /// Our audio SSRCs: followed only when there is no video.
    audio: HashSet<u32>,
    /// Where the absolute send time goes, per SSRC that negotiated it.
    abs_send_time: Vec<(u32, u8)>,
    epoch: Option<Instant>,
    /// Bytes sent since `since`, for the sent rate, and those of them retransmissions.
    sent_bytes: u64,
    resent_bytes: u64,
    since: Option<Instant>,
    /// Loss as NACKs tell it, ahead of the receiver's reports.
    early: EarlyLoss,
    /// When the receiver's RTCP last arrived, and its usual interval (smoothed).
    last_heard: Option<Instant>,
    usual_interval: Option<Duration>,
    /// Intervals between the receiver's RTCP packets heard so far.
    intervals_heard: u32,
    /// A silence of the receiver's not yet read (see [`Silence`]).
    silence: Option<Silence>,
    /// Loss reported until then is what an outage took, not congestion.
    outage_reported_until: Option<Instant>,
    /// The receiver reported that nothing arrived though packets were due: an outage, until
    /// it reports something again (or asks for what it missed).
    in_outage: bool,
    /// Each video SSRC's sequence numbers: see [`Unsent`].
    unsent: Vec<(u32, Unsent)>,
    /// What the receiver got, from its reports.
    delivered: Delivered,
}

/// Gaps kept per stream: more than come between two receiver reports (a second or so).
const GAPS_KEPT: usize = 64;

/// Sequence numbers a video stream never sent, so that the loss a receiver reports can leave
/// them out: the receiver counts them as lost. Watched wire-side, every forward jump is such
/// a gap: a skip (`session::resume`), and packets the pacer dropped (`session::pacer`), with
/// or without a skip after them. Counted as lost, 54 dropped packets made a try of video after
/// the audio-only fallback read 48 % loss on a link that was back, and fail; a drop followed
/// by packets still queued leaves a gap of its own before the skip lands.
#[derive(Debug, Default)]
struct Unsent {
    /// The highest number sent.
    last: Option<u16>,
    /// Where each gap ended (the first number after it), and how many numbers it held: the
    /// latest `GAPS_KEPT`.
    landed: VecDeque<(u16, u16)>,
    /// The highest number the previous report acknowledged, and its cumulative loss.
    reported: Option<(u16, i64)>,
}

impl Unsent {
    fn sent(&mut self, seq: u16) {
        let ahead = self.last.map_or(1, |last| seq.wrapping_sub(last));
        if ahead >= 0x8000 || ahead == 0 {
            // Not past the highest sent: no gap. (The pacer keeps each stream's order; this
            // guards against a number seen twice or late.)
            return;
        }
        if ahead > 1 {
            if self.landed.len() == GAPS_KEPT {
                self.landed.pop_front();
            }
            self.landed.push_back((seq, ahead - 1));
        }
        self.last = Some(seq);
    }

    /// Takes a report up to `highest`, with `total_lost` in all, in: the next report's loss
    /// is counted from it.
    fn take(&mut self, highest: u16, total_lost: u32) {
        self.reported = Some((highest, cumulative_lost(total_lost)));
    }

    /// The loss fraction of a report up to `highest`, with `total_lost` in all, without the
    /// numbers never sent, and how many packets it is of (not known for a first report); None
    /// when the report covers nothing else. [`Unsent::take`] takes the report in.
    fn loss_of_sent(
        &self,
        fraction: f64,
        highest: u16,
        total_lost: u32,
    ) -> Option<(f64, Option<u32>)> {
        let lost = cumulative_lost(total_lost);
        let Some((from, lost_before)) = self.reported else {
            return Some((fraction, None));
        };
        let expected = f64::from(highest.wrapping_sub(from));
        let skipped: f64 = self
            .landed
            .iter()
            .filter(|(at, _)| {
                let into = at.wrapping_sub(from);
                into > 0 && into <= highest.wrapping_sub(from)
            })
            .map(|&(_, gap)| f64::from(gap))
            .sum();
        if skipped == 0.0 || expected == 0.0 {
            return Some((fraction, Some(expected as u32)));
        }
        // From the cumulative loss, not the fraction: its 8 bits are 6 packets in 1500, and a
        // few skips between two reports (a step down sends several keyframes) left the loss
        // of the packets that went within that error (one report read 98.5 %).
        let left = expected - skipped;
        (left > 0.0).then(|| {
            let fraction = ((lost - lost_before) as f64 - skipped) / left;
            (fraction.clamp(0.0, 1.0), Some(left as u32))
        })
    }
}

/// A receiver quiet for at least this long may have had no path to us either way; what it
/// says when it is back tells (see [`Silence`]).
const OUTAGE_SILENCE: Duration = Duration::from_millis(700);
/// A silence of `OUTAGE_INTERVALS` times the usual interval between the receiver's RTCP
/// packets, and `OUTAGE_SILENCE` at least, is long: a report that tells of `OUTAGE_LOSS` lost
/// after it tells an outage too (a receiver that does not NACK). (aiortc's reports come every
/// 0.5 to 1.5 s per stream, with REMB about once a second between: three intervals missed a
/// one-second outage as often as not.)
const OUTAGE_INTERVALS: u32 = 2;
const OUTAGE_LOSS: f64 = 0.5;
/// A silence not told of by then (the receiver said nothing of our media) is no outage.
const SILENCE_READ_WITHIN: Duration = Duration::from_secs(1);
/// A NACK after a silence for every packet sent over this long, none left out, tells an
/// outage however long the silence: a congested path lets some through at its rate, while
/// the receiver's quiet before a cut (aiortc's reports come 0.5 to 1.5 s apart) can make the
/// silence more than twice the outage (a 1 s outage, a 2.2 s silence, a 1 s run asked for).
const OUTAGE_RUN: Duration = Duration::from_millis(500);

/// A silence of the receiver's, `OUTAGE_SILENCE` at least. Silence alone does not tell an
/// outage: aiortc, with nothing lost, sends only its reports and REMB, at random intervals,
/// and from a clean start silences of 0.84 to 1.61 s came in most runs (an outage read there
/// stopped the fall on loss for `OUTAGE_REPAIR` just as a narrow link first filled). What the
/// receiver says next tells: see [`BandwidthWatch::silence_was_an_outage`].
#[derive(Debug, Clone, Copy)]
struct Silence {
    began: Instant,
    ended: Instant,
    /// Over `OUTAGE_INTERVALS` of the usual interval.
    long: bool,
}

/// The usual interval is known after this many: a receiver's first reports come irregularly
/// (the first REMB waits for an estimate), and a long one among them is no outage.
const USUAL_AFTER: u32 = 5;

/// Media packets sent over a window, and those of them NACKed. Only NACKs of packets sent in
/// this window or the one before count: after an outage the receiver asks for everything it
/// missed, and that is not loss of what is sent now.
#[derive(Default)]
struct EarlyLoss {
    since: Option<Instant>,
    /// (SSRC, sequence number) sent in this window, each with its place in the window's order,
    /// and those sent in the one before.
    sent: HashMap<(u32, u16), u32>,
    sent_before: HashSet<(u32, u16)>,
    nacked: HashSet<(u32, u16)>,
}

impl EarlyLoss {
    fn sent(&mut self, now: Instant, ssrc: u32, seq: u16) {
        self.since.get_or_insert(now);
        let place = u32::try_from(self.sent.len()).unwrap_or(u32::MAX);
        self.sent.entry((ssrc, seq)).or_insert(place);
    }

    fn nacked(&mut self, ssrc: u32, seq: u16) {
        let packet = (ssrc, seq);
        if self.sent.contains_key(&packet) || self.sent_before.contains(&packet) {
            self.nacked.insert(packet);
        }
    }

    /// The loss fraction of the window when it closes at `now`, and how many packets it is of.
    ///
    /// Loss that began part way through the window is measured from where it began, when that
    /// says more: a policed link that ran dry drops a third of what goes from then on, and the
    /// window's clean first half made that 10 %, no fall, so the fall came a window later
    /// (video stood still for 0.6 to 0.9 s). The first packet lost is left out of that
    /// measure: it was picked for being lost.
    fn close(&mut self, now: Instant) -> Option<(f64, u32)> {
        let since = self.since?;
        let packets = self.sent.len();
        let full = now.saturating_duration_since(since) >= EARLY_LOSS_WINDOW
            && packets >= EARLY_LOSS_PACKETS;
        // Nothing lost: only a full window closes (without scanning it at every report).
        if !full && self.nacked.is_empty() {
            return None;
        }
        let whole = (self.nacked.len() as f64 / packets.max(1) as f64).min(1.0);
        let mut measure = (whole, u32::try_from(packets).unwrap_or(u32::MAX));
        let lost_places: Vec<u32> = self
            .nacked
            .iter()
            .filter_map(|p| self.sent.get(p).copied())
            .collect();
        let mut since_onset = None;
        if let Some(&onset) = lost_places.iter().min() {
            let after = self.sent.values().filter(|&&at| at > onset).count();
            let lost = lost_places.iter().filter(|&&at| at > onset).count();
            if after >= ONSET_PACKETS {
                since_onset = Some((lost as f64 / after as f64, after as u32));
            }
        }
        // A link that ran dry part way through: said at once (see `DRY_EVIDENCE`).
        let dry = since_onset.is_some_and(|(fraction, after)| {
            after as usize >= DRY_PACKETS && early_loss_evidence(fraction, after) > DRY_EVIDENCE
        });
        if !full && !dry {
            return None;
        }
        if let Some(since_onset) = since_onset {
            if early_loss_evidence(since_onset.0, since_onset.1)
                > early_loss_evidence(measure.0, measure.1)
            {
                measure = since_onset;
            }
        }
        self.sent_before = self.sent.drain().map(|(packet, _)| packet).collect();
        self.nacked.clear();
        self.since = Some(now);
        Some(measure)
    }
}

/// A window closes before its time once loss since it began stands this far above chance,
/// over at least [`DRY_PACKETS`]: a policed link that runs dry drops a third of what goes, and
/// the quarter second the window waited, copies lost into it and all, made video stand still
/// for 0.7 s and more. Under 3 % random loss a window of 15 packets says as much by chance
/// once in ten thousand.
const DRY_EVIDENCE: f64 = 0.2;
const DRY_PACKETS: usize = 15;

/// Loss since it began in a window is measured over this many packets at least.
const ONSET_PACKETS: usize = 10;

/// A window of early loss closes after this long, once this many packets were sent in it:
/// a fall a quarter of a second after a link narrowed loses far less than one a second after.
const EARLY_LOSS_WINDOW: Duration = Duration::from_millis(250);
const EARLY_LOSS_PACKETS: usize = 20;

/// How often the sent rate is measured.
const SENT_RATE_EVERY: Duration = Duration::from_millis(500);

impl BandwidthWatch {
    pub(crate) fn new(adaptation: Arc<Adaptation>) -> Self {
        BandwidthWatch {
            adaptation,
            video: HashSet::new(),
            audio: HashSet::new(),
            abs_send_time: Vec::new(),
            epoch: None,
            sent_bytes: 0,
            resent_bytes: 0,
            since: None,
            early: EarlyLoss::default(),
            last_heard: None,
            usual_interval: None,
            intervals_heard: 0,
            silence: None,
            outage_reported_until: None,
            in_outage: false,
            unsent: Vec::new(),
            delivered: Delivered::default(),
        }
    }

    /// Counts a packet on its way out; every half second, tells the estimate the rate, and
    /// how much of it was retransmissions.
    fn count_sent(&mut self, now: Instant, bytes: usize, retransmission: bool) {
        let since = *self.since.get_or_insert(now);
        self.sent_bytes += bytes as u64;
        if retransmission {
            self.resent_bytes += bytes as u64;
        }
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= SENT_RATE_EVERY {
            let secs = elapsed.as_secs_f64();
            let sent_bps = self.sent_bytes as f64 * 8.0 / secs;
            let resent_bps = self.resent_bytes as f64 * 8.0 / secs;
            tracing::trace!(
                "sent {:.0} kbit/s ({:.0} resent)",
                sent_bps / 1000.0,
                resent_bps / 1000.0
            );
            self.adaptation.on_sent_rate(now, sent_bps, resent_bps);
            self.sent_bytes = 0;
            self.resent_bytes = 0;
            self.since = Some(now);
        }
    }

    /// Whether `ssrc` is one of our media streams (not a retransmission stream).
    fn sends(&self, ssrc: u32) -> bool {
        self.video.contains(&ssrc) || self.audio.contains(&ssrc)
    }

    /// Takes these blocks in as where the next report's loss is counted from. Every report
    /// is, also one not read for loss (an outage's and its repair's): after a skip, loss is
    /// counted from the cumulative count, and counted from before an outage it held what
    /// the outage took (a report 3 s after one read 21 % lost on a clear path, and the
    /// estimate fell from 2 to 1.1 Mbit/s).
    fn take_in(&mut self, blocks: &[ReceptionReport]) {
        for block in blocks {
            if let Some((_, unsent)) = self.unsent.iter_mut().find(|(s, _)| *s == block.ssrc) {
                let highest = block.last_sequence_number as u16;
                unsent.take(highest, block.total_lost);
            }
        }
    }

    /// The loss fraction the estimate follows from these report blocks: the video's when
    /// video is sent (numbers never sent left out), else the audio's (no video, or the audio-only
    /// fallback stopped it), and how many packets it is of when known. Reads them without
    /// taking them in (see [`BandwidthWatch::take_in`]).
    fn loss_told(&self, blocks: &[ReceptionReport]) -> Option<(f64, Option<u32>)> {
        let sends_video = self.adaptation.sends_video();
        let mut video = None::<(f64, Option<u32>)>;
        let mut audio = None::<(f64, Option<u32>)>;
        for block in blocks {
            let fraction = f64::from(block.fraction_lost) / 256.0;
            if let Some((_, unsent)) = self.unsent.iter().find(|(s, _)| *s == block.ssrc) {
                let highest = block.last_sequence_number as u16;
                if let Some(loss) = unsent.loss_of_sent(fraction, highest, block.total_lost) {
                    video = Some(video.map_or(loss, |v| if loss.0 > v.0 { loss } else { v }));
                }
            } else if self.audio.contains(&block.ssrc) {
                let loss = (fraction, None);
                audio = Some(audio.map_or(loss, |a| if loss.0 > a.0 { loss } else { a }));
            }
        }
        if !self.video.is_empty() && sends_video {
            video
        } else {
            audio
        }
    }

    /// Reads a receiver report, and takes it in; the new pacing rate, if any.
    fn loss_report(&mut self, now: Instant, blocks: &[ReceptionReport]) -> Option<f64> {
        let pacing = self.read_loss_report(now, blocks);
        self.take_in(blocks);
        pacing
    }

    fn read_loss_report(&mut self, now: Instant, blocks: &[ReceptionReport]) -> Option<f64> {
        let (mut arrived, mut nothing) = (false, false);
        for block in blocks {
            let (highest, lost) = (block.last_sequence_number, block.total_lost);
            match self.delivered.report(now, block.ssrc, highest, lost) {
                Some(true) => arrived = true,
                Some(false) => nothing = true,
                None => {}
            }
        }
        if nothing && !arrived {
            // The receiver still reports, and got nothing: the path to it is cut (a
            // receiver that is itself cut off falls silent instead, see `hear`).
            if !self.in_outage {
                tracing::debug!("nothing arrived since the receiver's last report: an outage");
            }
            self.in_outage = true;
            return None;
        }
        if self.in_outage {
            self.outage_over(now);
            return None;
        }
        if self.outage_reported_until.is_some_and(|until| now < until) {
            return None;
        }
        if let Some(bps) = self.delivered.rate(now) {
            tracing::trace!("delivered {} kbit/s", bps as u64 / 1000);
            self.adaptation.on_delivered_rate(now, bps);
        }
        let probe = self.adaptation.probe_ssrc();
        let probed = blocks.iter().find(|b| Some(b.ssrc) == probe).and_then(|b| {
            self.adaptation
                .on_probe_report(now, b.last_sequence_number, b.total_lost)
        });
        let Some((fraction, packets)) = self.loss_told(blocks) else {
            return probed;
        };
        tracing::trace!("receiver report: {:.1} % lost", fraction * 100.0);
        self.adaptation
            .on_loss_report(now, fraction, packets)
            .or(probed)
    }

    /// An outage ended at `now`: for a while the receiver's reports and NACKs are of what it
    /// took, and the rates measured across it say nothing of the path.
    fn outage_over(&mut self, now: Instant) {
        self.in_outage = false;
        self.outage_reported_until = Some(now + OUTAGE_REPAIR);
        self.delivered.forget_rates();
        self.early = EarlyLoss::default();
        self.adaptation.on_outage_over();
    }

    /// What this inbound packet tells of a `silence` of the receiver's: Some(true) that it
    /// got nothing then (it asks for what was sent over most of the silence: a congested path
    /// lets something through, and the receiver asks as it goes; or, after a long silence,
    /// its report tells of most of what was sent lost), Some(false) that it did not (it asks
    /// for less, or reports less loss), None when the packet says nothing of our media.
    fn silence_was_an_outage(
        &self,
        silence: Silence,
        packets: &[Box<dyn rtc::rtcp::Packet>],
    ) -> Option<bool> {
        let quiet = silence.ended.saturating_duration_since(silence.began);
        let mut told = None;
        for packet in packets {
            if let Some(nack) = packet.as_any().downcast_ref::<TransportLayerNack>() {
                if !self.sends(nack.media_ssrc) {
                    continue;
                }
                let seqs: Vec<u16> = nack
                    .nacks
                    .iter()
                    .flat_map(|pair| pair.packet_list())
                    .collect();
                let unbroken = seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
                let span = self
                    .delivered
                    .sending_span(nack.media_ssrc, seqs.iter().copied());
                if span.is_some_and(|span| span * 2 >= quiet || unbroken && span >= OUTAGE_RUN) {
                    return Some(true);
                }
                told = Some(false);
            } else if let Some(blocks) = report_blocks(packet.as_ref()) {
                // A block whose newest packet went out before the silence's second half, with
                // the next one sent by then, was made before anything new arrived: it tells of
                // what came before a cut, not of the silence. (One made as the link came back
                // read 0 % lost, and the outage's repair then read as congestion: the estimate
                // fell from 776 to 130 kbit/s and video ran at 10 fps.)
                let midway = silence.began + quiet / 2;
                let blocks: Vec<ReceptionReport> = blocks
                    .iter()
                    .filter(|b| {
                        !self
                            .delivered
                            .next_sent_by(b.ssrc, b.last_sequence_number as u16, midway)
                    })
                    .cloned()
                    .collect();
                if let Some((fraction, _)) = self.loss_told(&blocks) {
                    if silence.long && fraction >= OUTAGE_LOSS {
                        return Some(true);
                    }
                    told = Some(false);
                }
            }
        }
        told
    }

    /// Everything this inbound packet says about the path; the new pacing rate, if any.
    fn hear(&mut self, msg: &TaggedPacket) -> Option<f64> {
        let now = msg.now;
        let mut pacing = None;
        // The congestion controller's delay-based estimate (transport-wide feedback).
        if let Some(Attribute::TargetBitrateChanged { bits_per_second }) =
            msg.message.get(&Attribute::TargetBitrateChanged {
                bits_per_second: 0.0,
            })
        {
            pacing = self.adaptation.on_remote_estimate(now, *bits_per_second);
        }
        let Packet::Rtcp(packets) = &msg.message.packet else {
            return pacing;
        };
        if let Some(at) = self.last_heard.replace(now) {
            let quiet = now.saturating_duration_since(at);
            let usual = *self.usual_interval.get_or_insert(quiet);
            self.intervals_heard = self.intervals_heard.saturating_add(1);
            let known = self.intervals_heard > USUAL_AFTER;
            let long = known && quiet >= OUTAGE_SILENCE.max(usual * OUTAGE_INTERVALS);
            if !long {
                self.usual_interval = Some((usual * 7 + quiet) / 8);
            }
            if quiet >= OUTAGE_SILENCE && self.outage_reported_until.is_none_or(|u| now >= u) {
                self.silence = Some(Silence {
                    began: at,
                    ended: now,
                    long,
                });
            }
        }
        if let Some(silence) = self.silence {
            match self.silence_was_an_outage(silence, packets) {
                Some(true) => {
                    tracing::debug!(
                        "the receiver, silent for {:?}, got nothing then: an outage",
                        silence.ended.saturating_duration_since(silence.began)
                    );
                    self.silence = None;
                    self.outage_over(now);
                }
                Some(false) => self.silence = None,
                None if now.saturating_duration_since(silence.ended) >= SILENCE_READ_WITHIN => {
                    self.silence = None
                }
                None => {}
            }
        }
        if self.outage_reported_until.is_some_and(|until| now < until) {
            // Neither its reports nor its NACKs speak of congestion: it asks for what the
            // outage took. The NACK window starts over after it.
            self.early = EarlyLoss::default();
            for packet in packets {
                if let Some(blocks) = report_blocks(packet.as_ref()) {
                    self.take_in(blocks);
                }
            }
            return pacing;
        }
        for packet in packets {
            let any = packet.as_any();
            let heard = if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                tracing::trace!("REMB {} kbit/s", remb.bitrate as u64 / 1000);
                self.adaptation.on_remb(now, f64::from(remb.bitrate))
            } else if let Some(blocks) = report_blocks(packet.as_ref()) {
                self.loss_report(now, blocks)
            } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                let media = nack.media_ssrc;
                if self.in_outage {
                    // It asks for what it missed: packets arrive again.
                    self.outage_over(now);
                } else if self.sends(media) {
                    for seq in nack.nacks.iter().flat_map(|pair| pair.packet_list()) {
                        self.early.nacked(media, seq);
                    }
                }
                None
            } else {
                None
            };
            pacing = heard.or(pacing);
        }
        if let Some((fraction, packets)) = self.early.close(now) {
            tracing::trace!("NACKed: {:.1} %", fraction * 100.0);
            pacing = self
                .adaptation
                .on_early_loss(now, fraction, Some(packets))
                .or(pacing);
        }
        pacing
    }

    /// The absolute send time of `now`: seconds in 6.18 fixed point, 24 bits, from any epoch
    /// (receivers use differences only).
    fn abs_send_time(&mut self, now: Instant) -> Bytes {
        let since = now.saturating_duration_since(*self.epoch.get_or_insert(now));
        let fixed = ((since.as_secs_f64() * f64::from(1 << 18)) as u64) & 0xff_ffff;
        Bytes::copy_from_slice(&(fixed as u32).to_be_bytes()[1..])
    }
}

impl Watch for BandwidthWatch {
    fn inbound(&mut self, mut msg: TaggedPacket) -> Option<TaggedPacket> {
        let controller_spoke = msg.message.has(&Attribute::TargetBitrateChanged {
            bits_per_second: 0.0,
        });
        let ours = self.hear(&msg);
        // The pacer reads the first such attribute: ours replaces the controller's, also
        // when ours did not move (else the controller's alone would pace: on a clear path to
        // Janus it said 50 kbit/s while ours held 776).
        if let Some(pacing) =
            ours.or_else(|| controller_spoke.then(|| self.adaptation.pacing_bps()))
        {
            msg.message
                .attributes
                .retain(|a| !matches!(a, Attribute::TargetBitrateChanged { .. }));
            msg.message.add(Attribute::TargetBitrateChanged {
                bits_per_second: pacing,
            });
        }
        Some(msg)
    }

    fn outbound(&mut self, msg: &mut TaggedPacket) {
        let now = msg.now;
        let retransmission = msg.message.has(&Attribute::Retransmission);
        let Packet::Rtp(packet) = &mut msg.message.packet else {
            return;
        };
        // Headers included: the estimate is of what the path carries.
        let bytes = packet.header.marshal_size() + packet.payload.len();
        self.count_sent(now, bytes, retransmission);
        let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
        let media = self.sends(ssrc);
        if !(retransmission && media) {
            // A retransmission on its own stream has its own numbers.
            self.delivered.sent(now, ssrc, seq, bytes);
        }
        if !retransmission {
            self.early.sent(now, ssrc, seq);
            if let Some((_, unsent)) = self.unsent.iter_mut().find(|(s, _)| *s == ssrc) {
                unsent.sent(seq);
            }
        }
        // Probe packets carry the video's send time: the receiver's estimator sees them.
        let probe = self.adaptation.probe_ssrc() == Some(ssrc);
        let Some(&(_, id)) = self
            .abs_send_time
            .iter()
            .find(|(s, _)| *s == ssrc || (probe && self.video.contains(s)))
        else {
            return;
        };
        let stamp = self.abs_send_time(now);
        if let Err(e) = packet.header.set_extension(id, stamp) {
            tracing::debug!("abs-send-time: {e}");
        }
    }

    fn local_stream(&mut self, info: &StreamInfo) {
        let video = info.mime_type.to_ascii_lowercase().starts_with("video/");
        let ours = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        ours.insert(info.ssrc);
        self.delivered.add_stream(info.ssrc, true);
        if let Some(rtx) = info.ssrc_rtx {
            self.delivered.add_stream(rtx, false);
        }
        if video {
            self.unsent.push((info.ssrc, Unsent::default()));
        }
        let id = info
            .rtp_header_extensions
            .iter()
            .find(|e| e.uri == ABS_SEND_TIME_URI)
            .and_then(|e| u8::try_from(e.id).ok());
        if let Some(id) = id {
            self.abs_send_time.push((info.ssrc, id));
            self.abs_send_time
                .extend(info.ssrc_rtx.map(|rtx| (rtx, id)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::resume::SKIP;
    use rtc::interceptor::TaggedPacket;
    use rtc::rtcp::receiver_report::ReceiverReport;

    fn rtcp(now: Instant, packet: Box<dyn rtc::rtcp::Packet>) -> TaggedPacket {
        TaggedPacket {
            now,
            transport: Default::default(),
            message: rtc::interceptor::AttributedPacket::new(Packet::Rtcp(vec![packet])),
        }
    }

    /// Video packets 0..=299 of 1000 bytes, one every 10 ms from `t0`.
    fn send_video(w: &mut BandwidthWatch, t0: Instant) {
        send_video_numbered(w, t0, 0..300);
    }

    /// Video packets of 1000 bytes on SSRC 1 numbered `seqs`, one every 10 ms from `t0`.
    fn send_video_numbered(w: &mut BandwidthWatch, t0: Instant, seqs: impl Iterator<Item = u16>) {
        for (i, seq) in seqs.enumerate() {
            let mut packet = rtc::rtp::Packet::default();
            packet.header.ssrc = 1;
            packet.header.sequence_number = seq;
            packet.payload = vec![0; 1000].into();
            let mut msg = TaggedPacket {
                now: t0 + Duration::from_millis(i as u64 * 10),
                transport: Default::default(),
                message: rtc::interceptor::AttributedPacket::new(Packet::Rtp(packet)),
            };
            w.outbound(&mut msg);
        }
    }

    /// A receiver report about the video stream (SSRC 1).
    fn report(at: Instant, highest: u32, fraction_lost: u8, total_lost: u32) -> TaggedPacket {
        rtcp(
            at,
            Box::new(ReceiverReport {
                ssrc: 9,
                reports: vec![ReceptionReport {
                    ssrc: 1,
                    fraction_lost,
                    total_lost,
                    last_sequence_number: highest,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        )
    }

    /// A NACK from the receiver (SSRC 9) for `seqs` of the video stream (SSRC 1).
    fn nack(at: Instant, seqs: &[u16]) -> TaggedPacket {
        use rtc::rtcp::transport_feedbacks::transport_layer_nack::nack_pairs_from_sequence_numbers;
        rtcp(
            at,
            Box::new(TransportLayerNack {
                sender_ssrc: 9,
                media_ssrc: 1,
                nacks: nack_pairs_from_sequence_numbers(seqs),
            }),
        )
    }

    fn watch() -> (Arc<Adaptation>, BandwidthWatch) {
        let adaptation = Arc::new(Adaptation::new(900_000.0, 2_000_000.0, true));
        let mut w = BandwidthWatch::new(adaptation.clone());
        w.local_stream(&StreamInfo {
            ssrc: 1,
            ssrc_rtx: Some(2),
            mime_type: "video/VP8".into(),
            ..Default::default()
        });
        w.local_stream(&StreamInfo {
            ssrc: 3,
            mime_type: "audio/opus".into(),
            ..Default::default()
        });
        (adaptation, w)
    }

    fn pacing_of(msg: &TaggedPacket) -> Option<f64> {
        msg.message
            .attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::TargetBitrateChanged { bits_per_second } => Some(*bits_per_second),
                _ => None,
            })
            .reduce(|_, b| b)
    }

    #[test]
    fn loss_that_began_part_way_through_a_window_is_measured_from_where_it_began() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // A window of 61 video packets, one every 4 ms, of which `lost` were NACKed; closed
        // at 300 ms.
        let window = |lost: &[u16]| {
            let mut early = EarlyLoss::default();
            for seq in 0..61u16 {
                early.sent(ms(u64::from(seq) * 4), 1, seq);
            }
            for &seq in lost {
                early.nacked(1, seq);
            }
            early.close(ms(300))
        };
        // A policed link ran dry: the first 40 arrived, then every third was lost (7 of 61
        // in all).
        let dry: Vec<u16> = (40..61).step_by(3).collect();
        let (fraction, packets) = window(&dry).expect("the window closes");
        // After the first packet lost: 6 of 20.
        assert_eq!(packets, 20);
        assert!((fraction - 0.3).abs() < 1e-9, "{fraction}");
        // The estimate falls on that, where the whole window's 11 % would not make it.
        let mut e = crate::adapt::estimate::Estimate::new(1_200_000.0, 50_000.0, 5_000_000.0);
        e.on_early_loss(ms(300), 7.0 / 61.0, Some(61));
        assert_eq!(e.target(ms(300)), 1_200_000.0);
        e.on_early_loss(ms(300), fraction, Some(packets));
        assert!(e.target(ms(300)) < 1_000_000.0);

        // A link that ran dry a tenth of a second into a window: said before its time, once
        // 15 packets went after the first lost, 6 of them lost.
        let mut early = EarlyLoss::default();
        for seq in 0..40u16 {
            early.sent(ms(u64::from(seq) * 4), 1, seq);
        }
        for seq in [25, 27, 30, 33, 36, 38, 39] {
            early.nacked(1, seq);
        }
        assert_eq!(early.close(ms(160)), None, "14 after the first");
        early.sent(ms(160), 1, 40);
        let (fraction, packets) = early.close(ms(164)).expect("closes early");
        assert_eq!(packets, 15);
        assert!((fraction - 0.4).abs() < 1e-9, "{fraction}");
        // Chance loss does not: 2 of 15 after the first.
        let mut early = EarlyLoss::default();
        for seq in 0..41u16 {
            early.sent(ms(u64::from(seq) * 4), 1, seq);
        }
        for seq in [25, 31, 37] {
            early.nacked(1, seq);
        }
        assert_eq!(early.close(ms(164)), None);
        // Loss scattered as chance scatters it is measured over the whole window.
        assert_eq!(window(&[12, 33, 57]), Some((3.0 / 61.0, 61)));
        // The same late in a window: too few packets after it to say anything.
        assert_eq!(window(&[52, 55, 58]), Some((3.0 / 61.0, 61)));
    }

    #[test]
    fn video_loss_lowers_the_estimate_and_tells_the_pacer() {
        let (adaptation, mut w) = watch();
        let before = adaptation.video_target_bps();
        let t0 = Instant::now();
        let report = ReceiverReport {
            ssrc: 9,
            reports: vec![
                ReceptionReport {
                    ssrc: 3,
                    fraction_lost: 0,
                    ..Default::default()
                },
                ReceptionReport {
                    ssrc: 1,
                    fraction_lost: 128,
                    ..Default::default()
                },
                // The retransmission stream's figures do not count.
                ReceptionReport {
                    ssrc: 2,
                    fraction_lost: 255,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let out = w.inbound(rtcp(t0, Box::new(report))).unwrap();
        assert!(adaptation.video_target_bps() < before / 2 + 1);
        let pacing = pacing_of(&out).expect("the pacer hears the new rate");
        assert!((pacing - adaptation.pacing_bps()).abs() < 1.0);
        assert_eq!(
            out.message
                .attributes
                .iter()
                .filter(|a| matches!(a, Attribute::TargetBitrateChanged { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn numbers_never_sent_are_not_loss() {
        let told = |unsent: &mut Unsent, fraction, highest, total_lost| {
            let loss = unsent.loss_of_sent(fraction, highest, total_lost);
            unsent.take(highest, total_lost);
            loss
        };
        let mut unsent = Unsent::default();
        for seq in 65_000..65_100u16 {
            unsent.sent(seq);
        }
        // The first report only marks where the next starts.
        assert_eq!(told(&mut unsent, 0.25, 65_099, 25), Some((0.25, None)));
        // 100 sent, then a skip of 1500 (wrapping), then 100 more: the receiver expected
        // 1700 and lost the 1500 skipped and 17 more.
        let landed = 65_200u16.wrapping_add(SKIP);
        for seq in 65_100..65_200u16 {
            unsent.sent(seq);
        }
        for n in 0..100u16 {
            unsent.sent(landed.wrapping_add(n));
        }
        let highest = landed.wrapping_add(99);
        let reported = (1517.0 / 1700.0 * 256.0_f64).floor() / 256.0;
        let (loss, packets) = told(&mut unsent, reported, highest, 25 + 1517).unwrap();
        assert!((loss - 17.0 / 200.0).abs() < 1e-9, "{loss}");
        assert_eq!(packets, Some(200));
        // The next report, with no skip in it, is as reported.
        for n in 100..300u16 {
            unsent.sent(landed.wrapping_add(n));
        }
        assert_eq!(
            told(&mut unsent, 0.1, landed.wrapping_add(299), 25 + 1517 + 20),
            Some((0.1, Some(200)))
        );
        // Three unsent between two reports, 30 packets sent: 4500 of 4530 numbers lost and
        // none of the packets (the 8-bit fraction could not tell 0 % from 30 %).
        let mut three = Unsent::default();
        three.sent(0);
        told(&mut three, 0.0, 0, 0);
        let mut next = 1u16;
        for _ in 0..3 {
            next += SKIP;
            for _ in 0..10 {
                three.sent(next);
                next += 1;
            }
        }
        let three_skips = told(&mut three, 0.99, next - 1, 4500);
        assert_eq!(three_skips, Some((0.0, Some(30))));
        // A report of nothing but the skip and the packet it landed on: that packet's.
        let mut only = Unsent::default();
        only.sent(10);
        assert_eq!(told(&mut only, 0.0, 10, 0), Some((0.0, None)));
        only.sent(11 + SKIP);
        assert_eq!(told(&mut only, 0.99, 11 + SKIP, 1500), Some((0.0, Some(1))));
        // Packets the pacer dropped before a skip were never sent: not lost either. 100 sent,
        // 54 dropped, the skip, 58 sent; the receiver counts 1554 lost.
        let mut dropped = Unsent::default();
        dropped.sent(0);
        told(&mut dropped, 0.0, 0, 0);
        for seq in 1..=100u16 {
            dropped.sent(seq);
        }
        let landed = 101 + 54 + SKIP;
        for seq in landed..landed + 58 {
            dropped.sent(seq);
        }
        let reported = (1554.0 / 1712.0 * 256.0_f64).floor() / 256.0;
        assert_eq!(
            told(&mut dropped, reported, landed + 57, 1554),
            Some((0.0, Some(158)))
        );
        // A drop with no skip after it (packets queued behind the dropped ones still went),
        // and a packet the path lost: 40 sent, 20 dropped, 40 sent; the receiver counts 21
        // lost of 100, one of the 80 sent.
        let mut gap = Unsent::default();
        gap.sent(0);
        told(&mut gap, 0.0, 0, 0);
        for seq in (1..=40u16).chain(61..=100) {
            gap.sent(seq);
        }
        // A packet behind the highest sent is no gap, and moves nothing.
        gap.sent(50);
        let (loss, packets) = told(&mut gap, 21.0 / 100.0, 100, 21).unwrap();
        assert!((loss - 1.0 / 80.0).abs() < 1e-9, "{loss}");
        assert_eq!(packets, Some(80));
    }

    #[test]
    fn remb_and_the_controllers_estimate_bound_it() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        let remb = |bitrate| ReceiverEstimatedMaximumBitrate {
            sender_ssrc: 9,
            bitrate,
            ssrcs: vec![1],
        };
        // Before what leaves was measured, a receiver's estimate bounds nothing; a pacing
        // rate is still ours, not the controller's.
        let mut early = rtcp(t0, Box::new(remb(100_000.0)));
        early.message.add(Attribute::TargetBitrateChanged {
            bits_per_second: 50_000.0,
        });
        let out = w.inbound(early).unwrap();
        assert_eq!(adaptation.available_bps(), 1_060_000);
        assert_eq!(pacing_of(&out), Some(1_060_000.0 * 2.5));
        for _ in 0..3 {
            adaptation.on_sent_rate(t0, 600_000.0, 0.0);
        }
        // One that fell bounds. REMB speaks of the video (the streams stamped with the send
        // time); audio rides beside it.
        w.inbound(rtcp(t0, Box::new(remb(600_000.0))));
        w.inbound(rtcp(t0, Box::new(remb(400_000.0))));
        assert_eq!(adaptation.available_bps(), 460_000);
        let mut twcc = rtcp(
            t0 + Duration::from_millis(10),
            Box::new(ReceiverReport::default()),
        );
        twcc.message.add(Attribute::TargetBitrateChanged {
            bits_per_second: 320_000.0,
        });
        let out = w.inbound(twcc).unwrap();
        assert_eq!(adaptation.available_bps(), 320_000);
        // The controller's number is replaced by the pacing rate.
        assert_eq!(pacing_of(&out), Some(320_000.0 * 2.5));
    }

    #[test]
    fn nacks_make_the_estimate_fall_before_the_report_comes() {
        use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;
        let (adaptation, mut w) = watch();
        let before = adaptation.available_bps();
        let t0 = Instant::now();
        for i in 0..100u64 {
            let mut packet = rtc::rtp::Packet::default();
            packet.header.ssrc = 1;
            packet.header.sequence_number = i as u16;
            let mut msg = TaggedPacket {
                now: t0 + Duration::from_millis(i),
                transport: Default::default(),
                message: rtc::interceptor::AttributedPacket::new(Packet::Rtp(packet)),
            };
            w.outbound(&mut msg);
        }
        // 40 of the 100 packets asked for (twice for some, and some of a stream not ours, or
        // never sent: an outage's).
        let nack = |ssrc, from: u16| TransportLayerNack {
            sender_ssrc: 9,
            media_ssrc: ssrc,
            nacks: (0..20u16)
                .map(|i| NackPair {
                    packet_id: from + i * 2,
                    lost_packets: 0,
                })
                .collect(),
        };
        w.inbound(rtcp(t0 + Duration::from_millis(150), Box::new(nack(1, 0))));
        w.inbound(rtcp(t0 + Duration::from_millis(160), Box::new(nack(1, 0))));
        w.inbound(rtcp(t0 + Duration::from_millis(170), Box::new(nack(7, 1))));
        w.inbound(rtcp(
            t0 + Duration::from_millis(180),
            Box::new(nack(1, 1000)),
        ));
        assert_eq!(adaptation.available_bps(), before, "20 of 100 lost so far");
        // 40 of 100 lost, most after the first: the link ran dry, and the window closes
        // before its quarter second.
        let out = w
            .inbound(rtcp(t0 + Duration::from_millis(190), Box::new(nack(1, 1))))
            .unwrap();
        // What got through, a little under.
        let fell = (before as f64 * (1.0 - 40.0 / 100.0) * 0.95) as u64;
        assert!(
            adaptation.available_bps().abs_diff(fell) <= 1,
            "{}",
            adaptation.available_bps()
        );
        assert!(pacing_of(&out).is_some());
    }

    #[test]
    fn loss_reported_right_after_an_outage_is_not_congestion() {
        let (adaptation, mut w) = watch();
        let before = adaptation.available_bps();
        let t0 = Instant::now();
        let lossy = |at| report(at, 0, 200, 0);
        // Every 300 ms, as a receiver sending REMB and reports does.
        for i in 0..10 {
            w.inbound(rtcp(
                t0 + Duration::from_millis(i * 300),
                Box::new(ReceiverReport::default()),
            ));
        }
        // 1.3 s of silence, then for 2.5 s the receiver reports what it missed.
        for i in 0..9 {
            w.inbound(lossy(t0 + Duration::from_millis(4000 + i * 300)));
        }
        assert_eq!(adaptation.available_bps(), before);
        // Loss after that is congestion again.
        w.inbound(lossy(t0 + Duration::from_millis(6700)));
        assert!(adaptation.available_bps() < before / 2);
    }

    #[test]
    fn a_receiver_back_from_silence_with_nothing_lost_was_only_quiet() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        send_video(&mut w, t0);
        // Reports every 300 ms (the usual interval is known), then 1.3 s without a word.
        for i in 0..10u32 {
            w.inbound(report(ms(u64::from(i) * 300), 10 * i, 0, 0));
        }
        let before = adaptation.available_bps();
        // Back, it reports all that was sent, nothing lost: it was quiet, not cut off. Loss
        // right after is congestion (a narrow link filling), and the estimate falls.
        w.inbound(report(ms(4000), 299, 0, 0));
        assert_eq!(adaptation.available_bps(), before);
        send_video_numbered(&mut w, ms(4000), 300..330);
        w.inbound(report(ms(4300), 329, 100, 10));
        assert!(adaptation.available_bps() < before);
    }

    #[test]
    fn an_outage_is_told_by_what_the_receiver_says_after_its_first_word() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        send_video(&mut w, t0);
        for i in 0..5u32 {
            w.inbound(report(ms(u64::from(i) * 300), 30 * i, 0, 0));
        }
        let before = adaptation.available_bps();
        // 1.3 s of silence; back, a REMB first (nothing about our packets), then it asks
        // for what went out over the silence.
        w.inbound(rtcp(
            ms(2500),
            Box::new(ReceiverEstimatedMaximumBitrate {
                sender_ssrc: 9,
                bitrate: 2_000_000.0,
                ssrcs: vec![1],
            }),
        ));
        w.inbound(nack(ms(2510), &(125..240).collect::<Vec<u16>>()));
        // Its reports of what the outage took are not congestion.
        w.inbound(report(ms(2600), 249, 200, 115));
        assert_eq!(adaptation.available_bps(), before);
    }

    #[test]
    fn the_send_time_is_stamped_where_it_was_negotiated() {
        let (_, mut w) = watch();
        w.local_stream(&StreamInfo {
            ssrc: 5,
            mime_type: "video/VP8".into(),
            rtp_header_extensions: vec![rtc::interceptor::RTPHeaderExtension {
                uri: ABS_SEND_TIME_URI.into(),
                id: 3,
            }],
            ..Default::default()
        });
        let t0 = Instant::now();
        let mut stamped = Vec::new();
        for (ssrc, at) in [(5, 0u64), (5, 250), (1, 250)] {
            let mut packet = rtc::rtp::Packet::default();
            packet.header.ssrc = ssrc;
            let mut msg = TaggedPacket {
                now: t0 + Duration::from_millis(at),
                transport: Default::default(),
                message: rtc::interceptor::AttributedPacket::new(Packet::Rtp(packet)),
            };
            w.outbound(&mut msg);
            let Packet::Rtp(p) = &msg.message.packet else {
                unreachable!()
            };
            stamped.push(p.header.get_extension(3));
        }
        assert_eq!(stamped[0].as_deref(), Some(&[0u8, 0, 0][..]));
        // 250 ms = 0.25 * 2^18 = 0x010000.
        assert_eq!(stamped[1].as_deref(), Some(&[1u8, 0, 0][..]));
        assert_eq!(stamped[2], None, "a stream that did not negotiate it");
    }

    #[test]
    fn a_receiver_that_got_nothing_is_cut_off_not_congested() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        send_video(&mut w, t0);
        // Reports every 500 ms: all arrived up to 99, then nothing more though 100..=149 were
        // sent long enough ago (the link is cut; the receiver still reports).
        w.inbound(report(ms(1000), 99, 0, 0));
        let before = adaptation.available_bps();
        w.inbound(report(ms(1500), 99, 0, 0));
        w.inbound(report(ms(2000), 99, 0, 0));
        assert_eq!(
            adaptation.available_bps(),
            before,
            "an outage is not congestion"
        );
        // Back: the first report spans the outage, with its loss; then its repair.
        w.inbound(report(ms(2600), 259, 200, 150));
        w.inbound(report(ms(2900), 289, 100, 150));
        assert_eq!(adaptation.available_bps(), before);
        // Loss after that is congestion again (the receiver went on reporting).
        for at in [3200, 3500, 3800, 4100, 4400, 4700, 5000] {
            w.inbound(report(ms(at), 289, 0, 150));
        }
        w.inbound(report(ms(5300), 299, 200, 152));
        assert!(adaptation.available_bps() < before);
    }

    #[test]
    fn after_an_outage_and_a_skip_loss_is_counted_from_the_repair_not_from_before() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let landed = 200 + SKIP;
        // 0..200 every 10 ms, then video skips ahead and goes on from `landed` for 3 s.
        send_video_numbered(&mut w, t0, (0..200u16).chain(landed..landed + 300));
        w.inbound(report(ms(1000), 99, 0, 0));
        let before = adaptation.available_bps();
        // Cut at 1 s: the receiver gets nothing more of 100..200, and says nothing. Back at
        // 2 s, after the skip, it asks for what it missed (an outage), then reports through
        // the repair.
        w.inbound(nack(ms(2100), &(100..200).collect::<Vec<u16>>()));
        let lost = 100 + u32::from(SKIP);
        for at in (2200..4600).step_by(300) {
            let highest = u32::from(landed) + (at as u32 - 2000) / 10 - 1;
            w.inbound(report(ms(at), highest, 0, lost));
        }
        // After the repair: nothing lost since. (Counted from before the outage, the 100 it
        // took would read as 35 % lost of what went since.)
        w.inbound(report(ms(4800), u32::from(landed) + 279, 0, lost));
        assert!(adaptation.available_bps() >= before);
    }

    #[test]
    fn a_long_quiet_among_the_first_reports_is_no_outage() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        w.inbound(rtcp(t0, Box::new(ReceiverReport::default())));
        w.inbound(rtcp(
            t0 + Duration::from_millis(100),
            Box::new(ReceiverReport::default()),
        ));
        let before = adaptation.available_bps();
        // A second later: its loss is congestion.
        w.inbound(report(t0 + Duration::from_millis(1100), 0, 200, 0));
        assert!(adaptation.available_bps() < before);
    }

    #[test]
    fn a_receiver_back_from_silence_asking_for_all_it_missed_was_cut_off() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        send_video(&mut w, t0);
        // Two reports (its usual interval is not known yet), then 1.2 s of silence.
        w.inbound(report(ms(1000), 99, 0, 0));
        w.inbound(report(ms(1500), 149, 0, 0));
        let before = adaptation.available_bps();
        // Back, it asks for what went out over 1.1 s of it: an outage, not congestion.
        w.inbound(nack(ms(2700), &(150..260).collect::<Vec<u16>>()));
        w.inbound(report(ms(2800), 299, 200, 110));
        assert_eq!(adaptation.available_bps(), before);
        // Asking for a few packets after a quiet while is no outage.
        let (adaptation, mut w) = watch();
        send_video(&mut w, t0);
        w.inbound(report(ms(1000), 99, 0, 0));
        w.inbound(report(ms(1500), 149, 0, 0));
        let before = adaptation.available_bps();
        w.inbound(nack(ms(2700), &[250, 251]));
        w.inbound(report(ms(2800), 299, 200, 110));
        assert!(adaptation.available_bps() < before);
    }

    #[test]
    fn a_report_made_as_the_link_came_back_does_not_hide_the_outage() {
        let (adaptation, mut w) = watch();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        send_video(&mut w, t0);
        w.inbound(report(ms(1000), 99, 0, 0));
        w.inbound(report(ms(1500), 149, 0, 0));
        let before = adaptation.available_bps();
        // Cut from 1.6 s. Back at 2.7 s, its first word a report made before anything new
        // arrived: everything up to the cut, nothing lost. Then it asks for what the cut took.
        w.inbound(report(ms(2700), 159, 0, 0));
        w.inbound(nack(ms(2710), &(160..270).collect::<Vec<u16>>()));
        w.inbound(report(ms(2800), 299, 100, 110));
        // Its clean report may add to the estimate; the loss after is the outage's.
        assert!(adaptation.available_bps() >= before, "an outage");
    }

    #[test]
    fn a_receiver_quiet_before_a_cut_asking_for_all_it_missed_was_cut_off() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Its last word 0.7 s before a 1 s cut, its first 0.5 s after: a 2.2 s silence.
        // Back, it asks for every packet of 1 s (more than half the silence is not needed).
        let (adaptation, mut w) = watch();
        send_video(&mut w, t0);
        w.inbound(report(ms(500), 49, 0, 0));
        let before = adaptation.available_bps();
        w.inbound(nack(ms(2700), &(120..220).collect::<Vec<u16>>()));
        w.inbound(report(ms(2800), 279, 180, 100));
        assert_eq!(adaptation.available_bps(), before, "an outage");
        // The same span asked for with packets between that arrived: congestion.
        let (adaptation, mut w) = watch();
        send_video(&mut w, t0);
        w.inbound(report(ms(500), 49, 0, 0));
        let before = adaptation.available_bps();
        let some: Vec<u16> = (120..220).filter(|seq| seq % 3 != 0).collect();
        w.inbound(nack(ms(2700), &some));
        w.inbound(report(ms(2800), 279, 180, 100));
        assert!(adaptation.available_bps() < before, "congestion");
    }
}
