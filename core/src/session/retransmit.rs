//! Retransmissions: how many sent packets the stack's NACK responder keeps to answer NACKs
//! with, and what it resent, counted for the stats (W3C `retransmittedPacketsSent` /
//! `retransmittedBytesSent`).
//!
//! The responder keeps a fixed number of packets per stream, chosen when the connection is
//! built. [`nack_history_packets`] sizes it from the highest rate the stream's video may reach:
//! a NACK can only be answered while its packets are still held, and a receiver asks for the
//! packets of a whole outage (up to a second and more) once the path is back.
//!
//! The responder tags each packet it resends ([`Attribute::Retransmission`]), whether the copy
//! goes out as it was or wrapped in RTX (RFC 4588). The meter sits wire-side of the responder,
//! so on the write leg it sees every retransmission on its way out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtc::shared::marshal::MarshalSize;

use super::lost_copies::LostCopies;
use super::resume::skipped_to;
use super::tap::{report_blocks, Watch};
use crate::adapt::{Adaptation, OUTAGE_REPAIR};

/// The bits per pixel that hard content (noise, confetti, a camera panning over foliage)
/// costs VP8 and H.264 baseline at their coarsest quantizers: ~0.55 was measured for noise at
/// 640x480@30 (5.1 Mbit/s from a 645 kbit/s target). Rounded up, as the worst case the
/// history has to hold.
const PEAK_BITS_PER_PIXEL: f64 = 1.0;
/// RTP payload bytes of a full packet: the stack packetizes at a 1200-byte MTU.
const FULL_PAYLOAD_BYTES: f64 = 1100.0;
/// How much sending time the history covers at the peak rate.
const HISTORY_SECONDS: f64 = 1.0;
/// The stack's default, and our floor: 1024 packets (~4 s at 2 Mbit/s).
pub(crate) const MIN_HISTORY_PACKETS: u16 = 1024;
/// The ceiling: 8192 full packets are ~9 MB, enough for a second at 70 Mbit/s.
const MAX_HISTORY_PACKETS: u16 = 8192;

/// Packets the NACK responder keeps per stream for video of `width`x`height` at `fps`: one
/// second at the peak rate such video can reach ([`PEAK_BITS_PER_PIXEL`], full packets),
/// rounded up to a power of two (the stack's ring needs one), 1024 to 8192.
pub(crate) fn nack_history_packets(width: u32, height: u32, fps: u32) -> u16 {
    let bits_per_second =
        f64::from(width) * f64::from(height) * f64::from(fps.max(1)) * PEAK_BITS_PER_PIXEL;
    let packets = (bits_per_second * HISTORY_SECONDS / 8.0 / FULL_PAYLOAD_BYTES).ceil();
    let packets = packets.clamp(1.0, f64::from(MAX_HISTORY_PACKETS)) as u16;
    packets
        .next_power_of_two()
        .clamp(MIN_HISTORY_PACKETS, MAX_HISTORY_PACKETS)
}

/// Retransmitted packets and their payload bytes, all streams of a connection.
#[derive(Debug, Default)]
pub(crate) struct Retransmitted {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Of which sent in RTX, which the stack's counters of the media streams leave out.
    rtx_packets: AtomicU64,
    rtx_bytes: AtomicU64,
}

impl Retransmitted {
    /// Packets resent on request.
    pub(crate) fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Their payload bytes (for RTX, the payload of the original packet).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Of [`packets`](Self::packets), those sent in RTX (on their own SSRC): the stack counts
    /// only the media SSRCs as sent, so these are what W3C's `packetsSent` (which includes
    /// retransmissions) lacks.
    pub(crate) fn rtx_packets(&self) -> u64 {
        self.rtx_packets.load(Ordering::Relaxed)
    }

    /// Their payload bytes (each without the 2 bytes of original sequence number).
    pub(crate) fn rtx_bytes(&self) -> u64 {
        self.rtx_bytes.load(Ordering::Relaxed)
    }

    fn count(&self, payload_bytes: usize, rtx: bool) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(payload_bytes as u64, Ordering::Relaxed);
        if rtx {
            self.rtx_packets.fetch_add(1, Ordering::Relaxed);
            self.rtx_bytes
                .fetch_add(payload_bytes as u64, Ordering::Relaxed);
        }
    }
}

/// The interceptor that feeds a [`Retransmitted`]; it passes every packet on unchanged.
pub(crate) struct RetransmissionMeter {
    counts: Arc<Retransmitted>,
    /// The RTX payload types of our streams: their payloads start with the original
    /// sequence number (2 bytes), which is not payload of the original packet.
    rtx_payload_types: Vec<u8>,
}

impl RetransmissionMeter {
    pub(crate) fn new(counts: Arc<Retransmitted>) -> Self {
        Self {
            counts,
            rtx_payload_types: Vec::new(),
        }
    }
}

impl Watch for RetransmissionMeter {
    fn outbound(&mut self, msg: &mut TaggedPacket) {
        if let Packet::Rtp(packet) = &msg.message.packet {
            if msg.message.has(&Attribute::Retransmission) {
                let rtx = self.rtx_payload_types.contains(&packet.header.payload_type);
                let osn = if rtx { 2 } else { 0 };
                self.counts
                    .count(packet.payload.len().saturating_sub(osn), rtx);
            }
        }
    }

    fn local_stream(&mut self, info: &StreamInfo) {
        let nack = info
            .rtcp_feedback
            .iter()
            .any(|f| f.typ == "nack" && f.parameter.is_empty());
        tracing::debug!(
            ssrc = info.ssrc,
            mime = %info.mime_type,
            nack,
            rtx_ssrc = ?info.ssrc_rtx,
            rtx_pt = ?info.payload_type_rtx,
            "sending stream bound"
        );
        if let (Some(_), Some(pt)) = (info.ssrc_rtx, info.payload_type_rtx) {
            if !self.rtx_payload_types.contains(&pt) {
                self.rtx_payload_types.push(pt);
            }
        }
    }
}

/// Share of the estimate retransmissions may take over time. A receiver behind a narrow link
/// asks for every packet the link dropped, again each time a new gap appears (aiortc asks for
/// its latest 128 missing packets at once): answered in full, the copies take the link and
/// make more loss, and audio drowns with the video.
const RESEND_SHARE: f64 = 0.25;
/// What may be saved up for a burst: this long at the whole estimate. A path that drops
/// packets is full, and a burst of copies into it is lost with them (on a policed link more
/// than half were): a short one.
const RESEND_SAVED: Duration = Duration::from_millis(250);
/// After an outage the path was idle: the repair of up to a second of it goes at once, for a
/// while.
const RESEND_SAVED_AFTER_OUTAGE: Duration = Duration::from_secs(1);
/// A packet is not resent again sooner than this (or 1.5 round trips, when longer): the
/// receiver asks again for what is still on its way.
const RESEND_SPACING: Duration = Duration::from_millis(100);
/// Packets remembered (the NACK responder's history is at most this long).
const REMEMBERED: usize = MAX_HISTORY_PACKETS as usize;

/// How long a packet asked for and not yet resent (the budget was spent) stays owed: longer,
/// and a receiver that waits for it has stood still for too long (it is given up, and video
/// skips ahead with a keyframe).
const OWED_FOR: Duration = Duration::from_millis(1500);
/// At most this many packets owed (a receiver asks for its latest 128 missing at once).
const MAX_OWED: usize = 1024;
/// Copies of one packet sent at most, each a spacing twice the one before after the first.
/// Asked for again after that, it is given up.
const MAX_COPIES: u8 = 4;
/// The unasked copy goes this long after the one before at the least.
const INSURANCE_AFTER: Duration = Duration::from_millis(400);
/// Unasked copies only of packets fewer than this many numbers behind the newest sent: a
/// copy that arrives after the packet did is a duplicate, and aiortc takes one 100 behind
/// where its jitter buffer is for a new start.
const UNASKED_WITHIN: u16 = 90;
/// A copy asked for again this long (plus a round trip) after it went had time to arrive.
const ASKED_AGAIN_GRACE: Duration = Duration::from_millis(50);
/// On a path whose reports lose a little (no fall since), before it counts as losing steadily
/// (5 s of reports), a first copy goes twice while the first copies of the last
/// [`PAIR_WINDOW`] (this one too) are within this share of the estimate. Under 3 % loss a
/// single first copy was lost in three of eight runs in those seconds, and aiortc, which asks
/// again only when a new gap appears, held video still for 0.7–1.1 s each time. A policed
/// link reports nothing lost until it runs dry: pairs there (a first form paired on any path
/// while few) went into the empty bucket, and video stood still for 1.3 s (median of eight).
const PAIRED_WHILE_UNDER: f64 = 0.05;
const PAIR_WINDOW: Duration = Duration::from_secs(1);
/// A packet this many numbers older than the newest sent is given up: aiortc's jitter buffer
/// holds 512 packets and has moved on by then, and a packet far behind where it is makes it
/// start over from that packet (and wait again).
const MAX_AGE: u16 = 400;

#[derive(Debug, Clone, Copy)]
struct SentPacket {
    bytes: usize,
    resent_at: Option<Instant>,
    copies: u8,
    /// The copy whose loss a request again already told of.
    asked_after: u8,
    /// Asked for again after its last copy had time to arrive, and not resent since: that
    /// copy was lost, and the receiver may not ask a third time.
    reasked: bool,
    /// The copy after which a copy unasked was planned.
    insured: u8,
    /// In `owed` (a receiver asks for its latest 128 missing at once, again and again:
    /// looking for it there each time was quadratic).
    owed: bool,
}

/// A copy to send unasked, unless the receiver asks first.
#[derive(Debug, Clone, Copy)]
struct UnaskedCopy {
    key: (u32, u16),
    due: Instant,
    /// Copies gone when it was planned: one that went since makes it moot.
    copies_then: u8,
    /// Planned while no report covered the retransmission stream: nothing says any copy
    /// arrived, and it goes even past [`MAX_COPIES`].
    blind: bool,
}

/// Which copies get another one unasked, after [`INSURANCE_AFTER`] unless the receiver asks
/// first. aiortc asks again only when a new gap appears: a copy lost where no report will
/// show it soon leaves its jitter buffer waiting.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insure {
    /// Only a copy asked for again before it could arrive.
    #[default]
    Asked,
    /// Every copy: a probe is under way or lately failed, so the policer it met is empty, and
    /// a copy sent now goes into it. A report shows a lost copy a second or so later (aiortc
    /// reports every 0.5 to 1.5 s), and video stood still 1.5 to 2.2 s after each probe that
    /// failed on a narrow link.
    Every,
    /// Every copy, even past [`MAX_COPIES`]: while no report covers the retransmission
    /// stream, a copy lost shows nowhere. The receiver counts that stream from the first copy
    /// it gets (RFC 3550's base), so copies lost before that one are in no report's loss: at
    /// 800 kbit/s the first eleven copies went into a policer that had run dry, the twelfth
    /// came first, the report said "none lost", and aiortc waited 7.6 s for the packet of
    /// copy ten.
    EveryBlind,
}

impl Insure {
    /// Whether the copies go on past [`MAX_COPIES`] (no report can tell of their loss).
    fn blind(self) -> bool {
        self == Insure::EveryBlind
    }
}

/// When a first copy goes twice (see [`ResendPolicy::pair_first_copies`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pairing {
    #[default]
    Never,
    /// While the first copies of the last second are few (see [`PAIRED_WHILE_UNDER`]): the
    /// path's reports lose a little, and no fall came since.
    WhileFew,
    /// Every one the budget holds: the path loses steadily.
    Always,
}

/// What [`ResendPolicy::take`] decided.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Resend {
    /// Packets to resend now, (SSRC, sequence number); one listed twice goes twice.
    pub packets: Vec<(u32, u16)>,
    /// Whether a packet the receiver asked for will not be resent any more: a receiver that
    /// waits for every packet (aiortc's jitter buffer) would wait in vain.
    pub gave_up: bool,
}

/// Which NACKed packets are resent, and when: sans-IO, time and the estimate passed in.
///
/// Oldest first (a receiver's jitter buffer waits for the oldest), none it does not remember,
/// none resent less than a spacing ago, as many as the budget holds. What the budget cannot
/// pay for now stays owed and goes when it can: a receiver may not ask twice (aiortc asks
/// again only when a new gap appears), and one packet never resent holds its video still.
/// For the same reason a packet asked for again after a copy went (the path lost the copy)
/// gets another copy unasked, unless the receiver asks first (while the packet is recent:
/// see [`UNASKED_WITHIN`]). One asked for after [`MAX_COPIES`], owed too long, or too old,
/// is given up.
#[derive(Debug, Default)]
pub(crate) struct ResendPolicy {
    sent: HashMap<(u32, u16), SentPacket>,
    order: VecDeque<(u32, u16)>,
    /// Asked for and not resent yet, oldest first, with when they were asked for.
    owed: VecDeque<((u32, u16), Instant)>,
    /// Copies to send unasked.
    insurance: VecDeque<UnaskedCopy>,
    /// The newest number sent on each SSRC.
    newest: HashMap<u32, u16>,
    /// The round trip [`ResendPolicy::take`] was last given.
    rtt: Duration,
    /// Bytes that may be resent now.
    tokens: Option<f64>,
    /// Until then, an outage's repair may burst (see [`ResendPolicy::outage_over`]).
    idle_path_until: Option<Instant>,
    refilled_at: Option<Instant>,
    /// When first copies go in pairs (see [`ResendPolicy::pair_first_copies`]).
    pairing: Pairing,
    /// First copies sent over the last [`PAIR_WINDOW`], with when, and their bytes in all.
    first_copies: VecDeque<(Instant, usize)>,
    first_copy_bytes: usize,
    /// Which copies get one unasked (see [`ResendPolicy::insure`]).
    insure: Insure,
}

impl ResendPolicy {
    /// A media packet went out (the first time), `bytes` on the wire.
    pub(crate) fn sent(&mut self, ssrc: u32, seq: u16, bytes: usize) {
        let key = (ssrc, seq);
        if self.order.len() == REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.sent.remove(&old);
            }
        }
        self.newest.insert(ssrc, seq);
        let packet = SentPacket {
            bytes,
            resent_at: None,
            copies: 0,
            asked_after: 0,
            reasked: false,
            insured: 0,
            owed: false,
        };
        if self.sent.insert(key, packet).is_none() {
            self.order.push_back(key);
        }
    }

    /// Forgets what was sent on `ssrc` (its numbers skipped ahead: nothing sent before is to
    /// be resent, see `session::resume`).
    pub(crate) fn forget(&mut self, ssrc: u32) {
        self.sent.retain(|(s, _), _| *s != ssrc);
        self.order.retain(|(s, _)| *s != ssrc);
        self.owed.retain(|((s, _), _)| *s != ssrc);
        self.insurance.retain(|u| u.key.0 != ssrc);
    }

    /// Whether this packet was sent and is still held.
    fn holds(&self, ssrc: u32, seq: u16) -> bool {
        self.sent.contains_key(&(ssrc, seq))
    }

    /// How many numbers a packet is behind the newest sent on its SSRC.
    fn behind_newest(&self, (ssrc, seq): (u32, u16)) -> u16 {
        self.newest
            .get(&ssrc)
            .map_or(0, |newest| newest.wrapping_sub(seq))
    }

    /// The receiver asks for these packets of `ssrc`, at `now`; how many copies of them it
    /// lost (those that had time to arrive, of packets asked for again).
    pub(crate) fn ask(
        &mut self,
        now: Instant,
        ssrc: u32,
        seqs: impl IntoIterator<Item = u16>,
    ) -> usize {
        let arrives_within = self.rtt + ASKED_AGAIN_GRACE;
        let mut lost = 0;
        for seq in seqs {
            let key = (ssrc, seq);
            let Some(p) = self.sent.get_mut(&key) else {
                continue;
            };
            let had_time = p
                .resent_at
                .is_some_and(|at| now.saturating_duration_since(at) >= arrives_within);
            if had_time && p.asked_after < p.copies {
                // Every copy since the last time it was asked for again was lost (a pair's
                // two go together).
                lost += usize::from(p.copies - p.asked_after);
                p.asked_after = p.copies;
                p.reasked = true;
            }
            if self.owed.len() < MAX_OWED && !p.owed {
                p.owed = true;
                self.owed.push_back((key, now));
            }
        }
        lost
    }

    /// Whether packets of `ssrc` are owed (asked for, not resent yet).
    fn owes(&self, ssrc: u32) -> bool {
        self.owed.iter().any(|((s, _), _)| *s == ssrc)
    }

    /// An outage ended at `now`: the path was idle, and the repair may go at once.
    pub(crate) fn outage_over(&mut self, now: Instant) {
        self.idle_path_until = Some(now + OUTAGE_REPAIR);
        self.tokens = None;
    }

    /// When a packet's first copy goes twice from now on: on a path that loses a little of
    /// everything, a first copy is lost as often as anything, and the receiver may not ask
    /// again (aiortc asks only when a new gap appears, and forgets a packet 128 behind the
    /// newest it got: 0.2 s at 5 Mbit/s; its jitter buffer then waited 0.7–1.1 s for it under
    /// 3 % loss). Both copies lost is one time in a thousand there; the pair costs the loss
    /// rate again.
    pub(crate) fn pair_first_copies(&mut self, pairing: Pairing) {
        self.pairing = pairing;
    }

    /// Which copies sent from now on get another one unasked (after [`INSURANCE_AFTER`],
    /// unless the receiver asks first); see [`Insure`].
    pub(crate) fn insure(&mut self, insure: Insure) {
        self.insure = insure;
    }

    /// What to resend at `now`, with `available_bps` estimated for the path and `rtt` the last
    /// round trip.
    pub(crate) fn take(&mut self, now: Instant, available_bps: f64, rtt: Duration) -> Resend {
        let per_second = available_bps.max(0.0) / 8.0;
        let idle_path = self.idle_path_until.is_some_and(|until| now < until);
        let saved = if idle_path {
            RESEND_SAVED_AFTER_OUTAGE
        } else {
            RESEND_SAVED
        };
        let cap = per_second * saved.as_secs_f64();
        let mut tokens = self.tokens.unwrap_or(cap);
        if let Some(at) = self.refilled_at {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            tokens += secs * per_second * RESEND_SHARE;
        }
        tokens = tokens.min(cap);
        self.refilled_at = Some(now);
        self.rtt = rtt;
        let spacing = RESEND_SPACING.max(rtt.mul_f64(1.5));
        let arrives_within = rtt + ASKED_AGAIN_GRACE;
        while let Some(&(at, bytes)) = self.first_copies.front() {
            if now.saturating_duration_since(at) < PAIR_WINDOW {
                break;
            }
            self.first_copy_bytes -= bytes;
            self.first_copies.pop_front();
        }
        let mut resend = Resend::default();
        while let Some(&(key, asked_at)) = self.owed.front() {
            let too_old = self.behind_newest(key) > MAX_AGE;
            let Some(packet) = self.sent.get_mut(&key) else {
                self.owed.pop_front();
                continue;
            };
            let stale = now.saturating_duration_since(asked_at) > OWED_FOR;
            // Each copy after the first waits twice as long for the receiver to ask again,
            // unless it asked after the copy had time to arrive: then it was lost. (aiortc
            // asks again only while a packet is within 128 of the newest it got: 0.2 s at
            // 5 Mbit/s, sooner than the spacing; never resent then, it held video still
            // until 512 packets had passed.)
            let wait = spacing * (1 << packet.copies.saturating_sub(1).min(4));
            let on_its_way = !packet.reasked
                && packet
                    .resent_at
                    .is_some_and(|at| now.saturating_duration_since(at) < wait);
            if on_its_way {
                // Asked again before the copy could arrive: when it is lost, the receiver may
                // not ask again (aiortc forgets a packet 128 behind the newest it got, 0.2 s
                // at 5 Mbit/s, and its jitter buffer waits for it until 512 have passed).
                // Another copy goes unasked once this one had time to arrive, unless one
                // went first.
                if packet.insured < packet.copies {
                    packet.insured = packet.copies;
                    self.insurance.push_back(UnaskedCopy {
                        key,
                        due: packet.resent_at.unwrap_or(now) + arrives_within,
                        copies_then: packet.copies,
                        blind: self.insure.blind(),
                    });
                }
                packet.owed = false;
                self.owed.pop_front();
                continue;
            }
            if stale || too_old || packet.copies >= MAX_COPIES {
                tracing::debug!("gave up resending {}/{}", key.0, key.1);
                resend.gave_up = true;
                packet.owed = false;
                self.owed.pop_front();
                continue;
            }
            if packet.bytes as f64 > tokens {
                break;
            }
            tokens -= packet.bytes as f64;
            if packet.copies > 0 {
                // Asked for again after a copy went: the path lost that copy too, and may
                // lose this one, which may never be asked for again: aiortc asks only when
                // a new gap appears, and never for a packet 128 behind the newest it got,
                // while its jitter buffer waits for it until 512 have passed. So two copies
                // go at once (both lost: one in a thousand on a path losing 3 %), and a
                // third follows unasked unless the receiver asks first.
                if packet.copies + 1 < MAX_COPIES && packet.bytes as f64 <= tokens {
                    tokens -= packet.bytes as f64;
                    packet.copies += 1;
                    resend.packets.push(key);
                }
                packet.insured = packet.copies + 1;
                self.insurance.push_back(UnaskedCopy {
                    key,
                    due: now + (wait * 2).max(INSURANCE_AFTER),
                    copies_then: packet.copies + 1,
                    blind: self.insure.blind(),
                });
            } else {
                self.first_copy_bytes += packet.bytes;
                self.first_copies.push_back((now, packet.bytes));
                let paired = match self.pairing {
                    Pairing::Never => false,
                    Pairing::WhileFew => {
                        self.first_copy_bytes as f64 <= per_second * PAIRED_WHILE_UNDER
                    }
                    Pairing::Always => true,
                };
                // An outage's repair goes single: it is a whole window, not a share.
                if paired && !idle_path && packet.bytes as f64 <= tokens {
                    tokens -= packet.bytes as f64;
                    packet.copies += 1;
                    resend.packets.push(key);
                }
            }
            packet.copies += 1;
            packet.resent_at = Some(now);
            packet.reasked = false;
            packet.owed = false;
            // An outage's repair goes into an idle path: it arrives.
            if self.insure != Insure::Asked && !idle_path && packet.insured < packet.copies {
                packet.insured = packet.copies;
                self.insurance.push_back(UnaskedCopy {
                    key,
                    due: now + INSURANCE_AFTER,
                    copies_then: packet.copies,
                    blind: self.insure.blind(),
                });
            }
            resend.packets.push(key);
            self.owed.pop_front();
        }
        let mut later = VecDeque::new();
        while let Some(unasked) = self.insurance.pop_front() {
            let key = unasked.key;
            if unasked.due > now {
                later.push_back(unasked);
                continue;
            }
            if self.behind_newest(key) >= UNASKED_WITHIN {
                // It may have arrived: a copy far behind would make aiortc start over there.
                continue;
            }
            let Some(packet) = self.sent.get_mut(&key) else {
                continue;
            };
            if packet.copies != unasked.copies_then
                || (packet.copies >= MAX_COPIES && !unasked.blind)
            {
                // Another copy went since (asked for), or enough did.
                continue;
            }
            if packet.bytes as f64 > tokens {
                later.push_back(unasked);
                continue;
            }
            tokens -= packet.bytes as f64;
            packet.copies += 1;
            packet.resent_at = Some(now);
            resend.packets.push(key);
        }
        self.insurance = later;
        self.tokens = Some(tokens);
        resend
    }

    /// Packets owed.
    #[cfg(test)]
    fn owed(&self) -> usize {
        self.owed.len()
    }
}

/// Hands the stack's NACK responder what [`ResendPolicy`] allows: it sits wire-side of it
/// (it sees the originals leave, and the NACKs before the responder), takes the receiver's
/// NACKs out of what passes, and puts in their place one NACK per stream for what is to be
/// resent now, owed packets included, whenever the receiver's RTCP passes.
pub(crate) struct NackFilter {
    adaptation: Arc<Adaptation>,
    policy: ResendPolicy,
    ours: Vec<u32>,
    /// The receiver's own SSRC, as its NACKs give it.
    receiver_ssrc: u32,
    /// When video last skipped ahead for a packet given up.
    last_skip: Option<Instant>,
    /// Copies lost where the receiver will not ask again.
    copies: LostCopies,
    /// A packet was given up and video has not skipped ahead since.
    skip_owed: bool,
    /// Until then, the receiver's NACKs may be for what an outage took.
    outage_repair_until: Option<Instant>,
    /// First copies sent in pairs (see [`FIRST_COPIES_PAIRED`]).
    paired: usize,
    /// Copies sent and found lost lately (see [`CopyLoss`]).
    copy_loss: CopyLoss,
}

/// Copies found lost within this long of each other tell of a full path...
const COPY_LOSS_WINDOW: Duration = Duration::from_secs(1);
/// ...when there are at least this many, and at least half of the copies sent in the window.
const COPIES_LOST_FULL: usize = 2;

/// Copies sent and copies found lost (asked for again after they had time to arrive) over the
/// last [`COPY_LOSS_WINDOW`]. A path that loses a little of everything loses a copy as often
/// as anything (two of two lost: one time in a thousand at 3 %); a policer whose bucket ran
/// dry drops most of them: a copy goes when the receiver saw a gap, in the middle of the burst
/// that emptied the bucket again. At 800 kbit/s, 15 of 15 copies were lost in the second
/// before the estimate fell, while the reports of the media lost 2–4 %, as a lossy path's do.
#[derive(Debug, Default)]
struct CopyLoss {
    /// (when, copies sent, copies found lost)
    events: VecDeque<(Instant, usize, usize)>,
}

impl CopyLoss {
    /// Counts `lost` copies found lost at `now`, and `sent` sent then; true when most copies
    /// of the window were lost (the window starts over).
    fn note(&mut self, now: Instant, sent: usize, lost: usize) -> bool {
        while self
            .events
            .front()
            .is_some_and(|(at, ..)| now.saturating_duration_since(*at) > COPY_LOSS_WINDOW)
        {
            self.events.pop_front();
        }
        let before: usize = self.events.iter().map(|(_, sent, _)| sent).sum();
        let lost_all = lost + self.events.iter().map(|(.., lost)| lost).sum::<usize>();
        if lost_all >= COPIES_LOST_FULL && lost_all * 2 >= before {
            self.events.clear();
            return true;
        }
        if sent > 0 || lost > 0 {
            self.events.push_back((now, sent, lost));
        }
        false
    }
}

/// A NACK for this many packets sent after an outage is a receiver's whole window (aiortc keeps
/// its latest 128 missing), and the outage may have taken more.
const WHOLE_WINDOW: usize = 128;

/// Video skips ahead for packets given up at most this often: a skip costs a keyframe.
const SKIP_SPACING: Duration = Duration::from_secs(2);

/// The session's first copy goes twice. A receiver counts the retransmission stream from the
/// first copy it gets (RFC 3550's base), so a copy lost before that one is in no report's
/// loss, and until one arrives no report covers the stream's tail either: the first copy of
/// a session, lost on a path losing 3 %, left aiortc waiting 5 s for its packet. With a twin,
/// only a copy whose twin was lost too goes uncounted (one time in a thousand there). Only the
/// first: the first copies come when a narrow path first fills, and sixteen pairs then made
/// more loss. (A path that loses a little gets its first copies paired while they are few, one
/// that loses steadily every one: see [`Pairing`].)
const FIRST_COPIES_PAIRED: usize = 1;

impl NackFilter {
    pub(crate) fn new(adaptation: Arc<Adaptation>) -> Self {
        NackFilter {
            adaptation,
            policy: ResendPolicy::default(),
            ours: Vec::new(),
            receiver_ssrc: 0,
            last_skip: None,
            copies: LostCopies::default(),
            skip_owed: false,
            outage_repair_until: None,
            paired: 0,
            copy_loss: CopyLoss::default(),
        }
    }
}

impl Watch for NackFilter {
    fn inbound(&mut self, mut msg: TaggedPacket) -> Option<TaggedPacket> {
        let now = msg.now;
        let Packet::Rtcp(packets) = &mut msg.message.packet else {
            return Some(msg);
        };
        let before = packets.len();
        let outlook = self.adaptation.loss_outlook(now);
        let rtt = outlook.rtt;
        if self.adaptation.take_outage_over() {
            self.policy.outage_over(now);
            self.outage_repair_until = Some(now + OUTAGE_REPAIR);
        }
        let after_outage = self.outage_repair_until.is_some_and(|until| now < until);
        for blocks in packets.iter().filter_map(|p| report_blocks(p.as_ref())) {
            for b in blocks {
                let (highest, lost) = (b.last_sequence_number, b.total_lost);
                self.copies.report(now, b.ssrc, highest, lost, rtt);
            }
        }
        let mut asked = 0;
        let mut copies_lost = 0;
        packets.retain(
            |packet| match packet.as_any().downcast_ref::<TransportLayerNack>() {
                Some(nack) if self.ours.contains(&nack.media_ssrc) => {
                    self.receiver_ssrc = nack.sender_ssrc;
                    let seqs = nack.nacks.iter().flat_map(|p| p.packet_list());
                    let seqs: Vec<u16> = seqs.collect();
                    asked += seqs.len();
                    tracing::trace!("asked {:?} (rtt {:?})", seqs, rtt);
                    // Numbers never sent (those a skip of ours jumped over) are not what the
                    // outage took.
                    let sent = |seq: &&u16| self.policy.holds(nack.media_ssrc, **seq);
                    if after_outage && seqs.iter().filter(sent).count() >= WHOLE_WINDOW {
                        // The outage took more than the receiver asks for: what it lost
                        // before these it will wait for and never ask for. Skip ahead rather
                        // than repair what cannot make it whole.
                        tracing::debug!(
                            "the receiver asks for {} packets after an outage",
                            seqs.len()
                        );
                        self.skip_owed = true;
                        self.outage_repair_until = None;
                        return false;
                    }
                    let lost = self.policy.ask(now, nack.media_ssrc, seqs);
                    self.copies.asked_again(lost);
                    copies_lost += lost;
                    false
                }
                _ => true,
            },
        );
        self.policy.pair_first_copies(if outlook.steady {
            Pairing::Always
        } else if outlook.a_little {
            Pairing::WhileFew
        } else {
            Pairing::Never
        });
        self.policy.insure(if self.copies.unheard() {
            Insure::EveryBlind
        } else if outlook.probe {
            Insure::Every
        } else {
            Insure::Asked
        });
        let resend = self
            .policy
            .take(now, self.adaptation.available_bps() as f64, rtt);
        // The session's first copy gets a twin (see `FIRST_COPIES_PAIRED`).
        let mut twins: Vec<(u32, u16)> = Vec::new();
        if self.copies.unheard() {
            for &key in &resend.packets {
                if self.paired == FIRST_COPIES_PAIRED {
                    break;
                }
                if resend.packets.iter().filter(|&&k| k == key).count() == 1 {
                    self.paired += 1;
                    twins.push(key);
                }
            }
        }
        if !resend.packets.is_empty() {
            tracing::trace!(
                "resending {:?}",
                resend
                    .packets
                    .iter()
                    .map(|(_, seq)| seq)
                    .collect::<Vec<_>>()
            );
        }
        // An outage's repair loses copies to a path that is only coming back.
        if self
            .copy_loss
            .note(now, resend.packets.len() + twins.len(), copies_lost)
            && !after_outage
        {
            tracing::debug!("most copies sent lately were lost: the path is full");
            self.adaptation.on_copies_lost(now);
        }
        if asked > 0 && resend.packets.len() < asked {
            tracing::trace!(
                "resending {} packets, {} asked",
                resend.packets.len(),
                asked
            );
        }
        let may_skip = self
            .last_skip
            .is_none_or(|at| now.saturating_duration_since(at) >= SKIP_SPACING);
        // A copy lost and not asked for again: the receiver waits in silence (asked only
        // when a skip may follow, so that one held back by the spacing comes after it).
        // A packet given up while a skip was held back is still waited for.
        self.skip_owed |= resend.gave_up;
        if may_skip && (self.skip_owed || self.copies.waiting(now, rtt)) {
            self.skip_owed = false;
            // The receiver may wait for what will not come: tell it to stop (see
            // `session::resume`).
            self.last_skip = Some(now);
            self.adaptation.skip_ahead();
        }
        for &ssrc in &self.ours {
            let mut seqs: Vec<u16> = Vec::new();
            let mut twice: Vec<u16> = Vec::new();
            for &(_, seq) in resend.packets.iter().filter(|(s, _)| *s == ssrc) {
                if seqs.contains(&seq) {
                    twice.push(seq);
                } else {
                    seqs.push(seq);
                }
            }
            // The responder sends a copy for each NACK that names a packet: a second NACK
            // sends the pairs' second copies. A first copy's twin goes ahead of the batch,
            // next to its other copy: after the batch, the twin of an outage's oldest packet
            // came over 100 numbers behind where aiortc's jitter buffer had got to, and it
            // started over from there.
            let twin: Vec<u16> = twins
                .iter()
                .filter(|(s, _)| *s == ssrc)
                .map(|(_, seq)| *seq)
                .collect();
            for seqs in [twin, seqs, twice] {
                if !seqs.is_empty() {
                    packets.push(Box::new(TransportLayerNack {
                        sender_ssrc: self.receiver_ssrc,
                        media_ssrc: ssrc,
                        nacks: nack_pairs_from_sequence_numbers(&seqs),
                    }));
                }
            }
        }
        // What the receiver waits for besides what goes now: a keyframe had better skip it.
        let copy_lost = self.copies.suspect();
        for &ssrc in &self.ours {
            let waits = copy_lost || self.policy.owes(ssrc);
            self.adaptation.set_receiver_waits(ssrc, waits);
        }
        if packets.is_empty() && before > 0 {
            return None;
        }
        Some(msg)
    }

    fn outbound(&mut self, msg: &mut TaggedPacket) {
        if msg.message.has(&Attribute::Retransmission) {
            if let Packet::Rtp(packet) = &msg.message.packet {
                let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
                // On a retransmission stream (RFC 4588) the payload starts with the original
                // sequence number.
                let rtx = !self.ours.contains(&ssrc);
                if let Some(original) = packet.payload.get(..2).filter(|_| rtx) {
                    tracing::trace!(
                        "{} left as copy {seq}",
                        u16::from_be_bytes([original[0], original[1]])
                    );
                }
                self.copies.sent(msg.now, ssrc, seq);
            }
            return;
        }
        if let Packet::Rtp(packet) = &msg.message.packet {
            let (ssrc, seq) = (packet.header.ssrc, packet.header.sequence_number);
            if self.ours.contains(&ssrc) {
                if self
                    .policy
                    .newest
                    .get(&ssrc)
                    .is_some_and(|newest| skipped_to(*newest, seq))
                {
                    // Skipped ahead: what went before is not to be resent.
                    self.policy.forget(ssrc);
                    self.copies.start_over();
                    self.skip_owed = false;
                }
                let bytes = packet.header.marshal_size() + packet.payload.len();
                self.policy.sent(ssrc, seq, bytes);
            }
        }
    }

    fn local_stream(&mut self, info: &StreamInfo) {
        self.ours.push(info.ssrc);
        if let Some(rtx) = info.ssrc_rtx {
            self.copies.add_stream(rtx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tap::Tap;
    use super::*;
    use rtc::interceptor::{AttributedPacket, Interceptor};
    use rtc::sansio::Protocol;
    use rtc::shared::TransportContext;
    use std::ops::Range;
    use std::time::Instant;

    #[test]
    fn most_copies_of_the_last_second_lost_tell_of_a_full_path() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // A pair sent and both found lost: full.
        let mut loss = CopyLoss::default();
        assert!(!loss.note(ms(0), 2, 0));
        assert!(loss.note(ms(60), 1, 2));
        // The window started over: one more lost is not two.
        assert!(!loss.note(ms(100), 0, 1));
        // Two lost of six sent: a lossy path's share, not a full one.
        let mut loss = CopyLoss::default();
        assert!(!loss.note(ms(0), 6, 0));
        assert!(!loss.note(ms(100), 0, 1));
        assert!(!loss.note(ms(200), 0, 1));
        // One lost now and one over a second ago are not of one window.
        let mut loss = CopyLoss::default();
        assert!(!loss.note(ms(0), 1, 1));
        assert!(!loss.note(ms(1500), 1, 1));
        assert!(loss.note(ms(1600), 0, 1));
    }

    fn rtp(pt: u8, payload: usize, retransmission: bool) -> TaggedPacket {
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: pt,
                ..Default::default()
            },
            payload: vec![0; payload].into(),
        };
        let message = AttributedPacket::new(Packet::Rtp(packet));
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: if retransmission {
                message.with(Attribute::Retransmission)
            } else {
                message
            },
        }
    }

    #[test]
    fn the_history_holds_a_second_of_hard_content_within_bounds() {
        // Small pictures keep the stack's default: 4 s at the 2 Mbit/s they might reach.
        assert_eq!(nack_history_packets(320, 240, 30), 1024);
        // 640x480@30: up to ~9 Mbit/s, ~1050 full packets a second.
        assert_eq!(nack_history_packets(640, 480, 30), 2048);
        assert_eq!(nack_history_packets(1280, 720, 30), 4096);
        // Bounded above, whatever the size or rate.
        assert_eq!(nack_history_packets(1920, 1080, 60), 8192);
        assert_eq!(nack_history_packets(7680, 4320, 120), 8192);
        // Nonsense in, a valid size out.
        assert_eq!(nack_history_packets(0, 0, 0), 1024);
        for (w, h, fps) in [(160, 120, 5), (1024, 768, 25), (2560, 1440, 30)] {
            let n = nack_history_packets(w, h, fps);
            assert!(n.is_power_of_two() && (1024..=8192).contains(&n), "{n}");
            // Always at least a second at the peak rate, unless capped.
            let per_second = f64::from(w * h * fps) * PEAK_BITS_PER_PIXEL / 8.0 / 1100.0;
            assert!(f64::from(n) >= per_second.min(8192.0), "{w}x{h}@{fps}: {n}");
        }
    }

    #[test]
    fn counts_only_tagged_retransmissions_without_the_rtx_sequence_number() {
        let counts = Arc::new(Retransmitted::default());
        let mut meter = Tap::new(RetransmissionMeter::new(counts.clone()));
        meter.bind_local_stream(&StreamInfo {
            ssrc: 1,
            ssrc_rtx: Some(2),
            payload_type: 96,
            payload_type_rtx: Some(97),
            ..Default::default()
        });
        for packet in [
            rtp(96, 1000, false), // an original
            rtp(96, 800, true),   // resent as it was
            rtp(97, 502, true),   // resent in RTX: 2 bytes of original sequence number
        ] {
            meter.handle_write(packet).unwrap();
        }
        assert_eq!((counts.packets(), counts.bytes()), (2, 1300));
        assert_eq!((counts.rtx_packets(), counts.rtx_bytes()), (1, 500));
        // Everything passes on, in order.
        let sizes: Vec<_> = std::iter::from_fn(|| meter.poll_write())
            .map(|p| match p.message.packet {
                Packet::Rtp(p) => p.payload.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, [1000, 800, 502]);
    }

    fn allow(p: &mut ResendPolicy, now: Instant, ssrc: u32, seqs: &[u16], bps: f64) -> Vec<u16> {
        p.ask(now, ssrc, seqs.iter().copied());
        let rtt = Duration::from_millis(20);
        p.take(now, bps, rtt)
            .packets
            .into_iter()
            .map(|(_, seq)| seq)
            .collect()
    }

    #[test]
    fn a_packet_is_resent_once_a_spacing_and_only_if_remembered() {
        let mut policy = ResendPolicy::default();
        for seq in 0..10 {
            policy.sent(1, seq, 1000);
        }
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // 2 Mbit/s: 250 kB may go at once.
        assert_eq!(allow(&mut policy, t0, 1, &[3, 4, 99], 2e6), [3, 4]);
        // Asked again before the copy had time to arrive (a round trip and 50 ms): still
        // on its way.
        assert_eq!(allow(&mut policy, ms(40), 1, &[3, 4, 5], 2e6), [5]);
        // Another stream's sequence numbers are its own.
        assert!(allow(&mut policy, ms(60), 2, &[6], 2e6).is_empty());
        // 3 and 4 were asked for again while on their way: once their copies had time to
        // arrive, another goes unasked (the receiver may not ask a third time).
        let rtt = Duration::from_millis(20);
        assert_eq!(policy.take(ms(75), 2e6, rtt).packets, [(1, 3), (1, 4)]);
        assert!(policy.take(ms(90), 2e6, rtt).packets.is_empty());
        // A long round trip spaces the copies further: 1.5 of it.
        let long = Duration::from_millis(300);
        policy.ask(ms(100), 1, [6]);
        assert_eq!(policy.take(ms(100), 2e6, long).packets, [(1, 6)]);
        policy.ask(ms(420), 1, [6]);
        assert!(policy.take(ms(420), 2e6, long).packets.is_empty());
        policy.ask(ms(460), 1, [6]);
        // Asked for again after the copy had time to arrive: it was lost, and a pair goes
        // at once, spacing or not.
        assert_eq!(policy.take(ms(460), 2e6, long).packets, [(1, 6), (1, 6)]);
        assert_eq!(policy.owed(), 0);
    }

    #[test]
    fn a_packet_asked_again_after_its_copy_could_arrive_goes_again_within_the_spacing() {
        let mut policy = ResendPolicy::default();
        for seq in 0..10 {
            policy.sent(1, seq, 1000);
        }
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let rtt = Duration::from_millis(5);
        policy.ask(t0, 1, [3]);
        assert_eq!(policy.take(t0, 2e6, rtt).packets, [(1, 3)]);
        // The receiver asks again 70 ms later, within the 100 ms spacing but after the copy
        // had time to arrive (5 + 50 ms), and may never ask again (aiortc forgets a packet
        // 128 behind the newest it got): two copies go now.
        policy.ask(ms(70), 1, [3]);
        assert_eq!(policy.take(ms(70), 2e6, rtt).packets, [(1, 3), (1, 3)]);
        // Asked again at once (the same NACK repeated): on its way.
        policy.ask(ms(72), 1, [3]);
        assert!(policy.take(ms(72), 2e6, rtt).packets.is_empty());
    }

    #[test]
    fn copies_back_off_and_one_lost_gets_another_unasked_until_given_up() {
        let mut policy = ResendPolicy::default();
        policy.sent(1, 6, 1000);
        let t0 = Instant::now();
        let rtt = Duration::from_millis(20);
        let at = |ms: u64, ask: bool, policy: &mut ResendPolicy| {
            let now = t0 + Duration::from_millis(ms);
            if ask {
                policy.ask(now, 1, [6]);
            }
            policy.take(now, 2e6, rtt)
        };
        let sent = |r: Resend| r.packets == [(1, 6)];
        assert!(sent(at(0, true, &mut policy)));
        assert!(!sent(at(60, true, &mut policy)), "on its way");
        // Asked for again after the copy had time to arrive: it was lost; two go at once (the
        // receiver may not ask again), and another unasked 400 ms after them.
        let pair = at(120, true, &mut policy);
        assert_eq!(pair.packets, [(1, 6), (1, 6)]);
        assert!(!sent(at(500, false, &mut policy)));
        assert!(sent(at(520, false, &mut policy)));
        // Four copies went: no unasked one after that, and asked again it is given up.
        assert!(!sent(at(1730, false, &mut policy)));
        let last = at(2000, true, &mut policy);
        assert!(last.packets.is_empty() && last.gave_up, "{last:?}");
    }

    #[test]
    fn a_copy_lost_while_no_report_covers_its_stream_gets_one_unasked_past_the_most() {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(20);
        for blind in [false, true] {
            let mut policy = ResendPolicy::default();
            policy.insure(if blind {
                Insure::EveryBlind
            } else {
                Insure::Asked
            });
            policy.sent(1, 6, 1000);
            let mut at = |ms: u64, ask: bool| {
                let now = t0 + Duration::from_millis(ms);
                if ask {
                    policy.ask(now, 1, [6]);
                }
                policy.take(now, 2e6, rtt).packets
            };
            // One copy, lost; a pair, lost; the fourth.
            assert_eq!(at(0, true), [(1, 6)]);
            assert_eq!(at(120, true), [(1, 6), (1, 6)]);
            assert_eq!(at(200, true), [(1, 6)]);
            // A report would have shown those lost, unless none covered the stream: then
            // one more goes unasked.
            let unasked = at(1000, false);
            assert_eq!(unasked == [(1, 6)], blind, "blind: {blind}");
        }
    }

    #[test]
    fn after_a_probe_lost_packets_each_copy_gets_one_unasked_unless_asked_first() {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(20);
        for insure in [Insure::Asked, Insure::Every] {
            let mut policy = ResendPolicy::default();
            policy.insure(insure);
            for seq in [6, 7] {
                policy.sent(1, seq, 1000);
            }
            let mut at = |ms: u64, ask: &[u16]| {
                let now = t0 + Duration::from_millis(ms);
                if !ask.is_empty() {
                    policy.ask(now, 1, ask.iter().copied());
                }
                policy.take(now, 2e6, rtt).packets
            };
            assert_eq!(at(0, &[6, 7]), [(1, 6), (1, 7)]);
            // Asked for 7 again: its copy goes as asked (two, after a lost one), not
            // unasked on top.
            assert_eq!(at(300, &[7]), [(1, 7), (1, 7)]);
            // Nothing asked for 6 since: one more goes unasked, only after a probe.
            let unasked = at(400, &[]);
            let expected: &[(u32, u16)] = if insure == Insure::Every {
                &[(1, 6)]
            } else {
                &[]
            };
            assert_eq!(unasked, expected, "{insure:?}");
            // One unasked copy per copy sent: none after it.
            assert!(at(1500, &[]).iter().all(|&(_, seq)| seq != 6), "{insure:?}");
        }
    }

    #[test]
    fn on_a_path_that_loses_steadily_first_copies_go_in_pairs_while_the_budget_lasts() {
        let mut policy = ResendPolicy::default();
        for seq in 0..20 {
            policy.sent(1, seq, 1000);
        }
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(allow(&mut policy, t0, 1, &[1], 2e6), [1]);
        policy.pair_first_copies(Pairing::Always);
        assert_eq!(allow(&mut policy, ms(10), 1, &[2, 3], 2e6), [2, 2, 3, 3]);
        // 160 kbit/s: 5 kB saved, and a twin goes only where the budget holds it.
        let mut narrow = ResendPolicy::default();
        for seq in 0..20 {
            narrow.sent(1, seq, 1000);
        }
        narrow.pair_first_copies(Pairing::Always);
        assert_eq!(
            allow(&mut narrow, t0, 1, &[4, 5, 6], 160e3),
            [4, 4, 5, 5, 6]
        );
        // An outage's repair goes single.
        policy.outage_over(ms(20));
        assert_eq!(allow(&mut policy, ms(20), 1, &[7, 8], 2e6), [7, 8]);
    }

    #[test]
    fn while_first_copies_are_few_they_go_in_pairs_and_a_path_that_fills_gets_singles() {
        let mut policy = ResendPolicy::default();
        for seq in 0..200 {
            policy.sent(1, seq, 1000);
        }
        policy.pair_first_copies(Pairing::WhileFew);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // 2 Mbit/s: 5 % of a second is 12.5 kB. A packet lost now and then: each in a pair.
        assert_eq!(allow(&mut policy, t0, 1, &[1], 2e6), [1, 1]);
        assert_eq!(allow(&mut policy, ms(300), 1, &[40], 2e6), [40, 40]);
        // A path that fills asks for many at once: the first few of them go twice, to 12 kB
        // in the last second, the rest once.
        let burst: Vec<u16> = (100..130).collect();
        let sent = allow(&mut policy, ms(600), 1, &burst, 2e6);
        let twice = |sent: &[u16]| {
            sent.iter()
                .filter(|s| sent.iter().filter(|t| t == s).count() == 2)
                .count()
                / 2
        };
        assert_eq!(twice(&sent), 10, "{sent:?}");
        assert!(sent.len() >= 40, "{sent:?}");
        // A second on, the first copies of the last one are forgotten: pairs again.
        assert_eq!(allow(&mut policy, ms(1700), 1, &[150], 2e6), [150, 150]);
        // Never: single.
        policy.pair_first_copies(Pairing::Never);
        assert_eq!(allow(&mut policy, ms(1800), 1, &[160], 2e6), [160]);
    }

    #[test]
    fn asked_again_after_a_pair_had_time_both_copies_were_lost() {
        let mut policy = ResendPolicy::default();
        policy.sent(1, 6, 1000);
        policy.sent(1, 7, 1000);
        let t0 = Instant::now();
        let rtt = Duration::from_millis(20);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let lost = |policy: &mut ResendPolicy, ms: u64, seqs: &[u16]| {
            let lost = policy.ask(at(ms), 1, seqs.iter().copied());
            policy.take(at(ms), 2e6, rtt);
            lost
        };
        // Asked for the first time: nothing lost yet.
        assert_eq!(lost(&mut policy, 0, &[6, 99]), 0);
        // Again once the copy had time: it was lost, and a pair goes.
        assert_eq!(lost(&mut policy, 100, &[6]), 1);
        // Again before the pair had time: nothing known yet.
        assert_eq!(lost(&mut policy, 110, &[6]), 0);
        // Again after: both copies of the pair were lost.
        assert_eq!(lost(&mut policy, 300, &[6, 7]), 2);
    }

    #[test]
    fn a_packet_far_behind_the_newest_is_given_up_and_forget_drops_a_stream() {
        let mut policy = ResendPolicy::default();
        for seq in 0..500u16 {
            policy.sent(1, seq, 1000);
        }
        let t0 = Instant::now();
        policy.ask(t0, 1, [50, 450]);
        let r = policy.take(t0, 2e6, Duration::from_millis(20));
        assert_eq!(r.packets, [(1, 450)]);
        assert!(r.gave_up);
        policy.ask(t0, 1, [460]);
        policy.forget(1);
        assert_eq!(policy.owed(), 0);
        policy.ask(t0, 1, [470]);
        assert!(policy.take(t0, 2e6, Duration::ZERO).packets.is_empty());
    }

    #[test]
    fn resends_take_a_share_of_the_estimate_and_what_waits_stays_owed() {
        let mut policy = ResendPolicy::default();
        for seq in 0..100u16 {
            policy.sent(1, seq, 1000);
        }
        let t0 = Instant::now();
        let rtt = Duration::from_millis(10);
        // 160 kbit/s: a quarter second of it is 5 kB, five packets, oldest first.
        let all: Vec<u16> = (0..40).collect();
        let first = allow(&mut policy, t0, 1, &all, 160_000.0);
        assert_eq!(first, (0..5).collect::<Vec<u16>>());
        assert_eq!(policy.owed(), 35);
        // Then a quarter of the estimate, 5 kB a second: the rest goes without being asked
        // again, in order, while it is owed.
        let mut resent = Vec::new();
        for tick in 1..=6 {
            let now = t0 + Duration::from_millis(250 * tick);
            let resend = policy.take(now, 160_000.0, rtt);
            assert!(!resend.gave_up);
            resent.extend(resend.packets.into_iter().map(|(_, s)| s));
        }
        assert_eq!(resent, (5..12).collect::<Vec<u16>>());
        // Owed too long: given up (a receiver that waits for it would wait in vain).
        let late = policy.take(t0 + Duration::from_secs(2), 160_000.0, rtt);
        assert!(late.packets.is_empty() && late.gave_up, "{late:?}");
        assert_eq!(policy.owed(), 0);
        // Right after an outage the path was idle: a second of it, twenty packets, at once.
        let mut policy = ResendPolicy::default();
        for seq in 0..100u16 {
            policy.sent(1, seq, 1000);
        }
        policy.take(t0, 160_000.0, rtt);
        policy.outage_over(t0);
        let first = allow(&mut policy, t0, 1, &all, 160_000.0);
        assert_eq!(first, (0..20).collect::<Vec<u16>>());
        // Later, the short burst again.
        let later = t0 + OUTAGE_REPAIR + Duration::from_secs(5);
        let resend = allow(
            &mut policy,
            later,
            1,
            &[60, 61, 62, 63, 64, 65, 66, 67],
            160_000.0,
        );
        assert_eq!(resend, [60, 61, 62, 63, 64]);
    }

    #[test]
    fn the_filter_narrows_nacks_and_drops_one_left_empty() {
        let adaptation = Arc::new(Adaptation::new(100_000.0, 2_000_000.0, false));
        let mut filter = filter_that_sent(adaptation.clone(), None, 0..40);
        let now = Instant::now();
        let nack = |seqs: &[u16]| TaggedPacket {
            now,
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtcp(vec![Box::new(TransportLayerNack {
                sender_ssrc: 1,
                media_ssrc: 7,
                nacks: nack_pairs_from_sequence_numbers(seqs),
            })])),
        };
        let asked: Vec<u16> = (0..40).collect();
        filter.handle_read(nack(&asked)).unwrap();
        let passed = filter.poll_read().expect("a narrowed NACK");
        let Packet::Rtcp(packets) = &passed.message.packet else {
            panic!("not RTCP")
        };
        let narrowed = packets[0]
            .as_any()
            .downcast_ref::<TransportLayerNack>()
            .unwrap();
        assert_eq!(narrowed.sender_ssrc, 1);
        let seqs: Vec<u16> = narrowed
            .nacks
            .iter()
            .flat_map(|p| p.packet_list())
            .collect();
        // 100 kbit/s of video plus headroom: a second of it is about 13 packets.
        assert!(!seqs.is_empty() && seqs.len() < 20, "{seqs:?}");
        assert_eq!(seqs, (0..seqs.len() as u16).collect::<Vec<_>>());
        // What the budget could not pay for yet the receiver waits for: a keyframe now is to
        // skip ahead.
        assert!(adaptation.take_receiver_waits(7));
        // The same NACK again at once: all of it was just resent or is over budget.
        filter.handle_read(nack(&asked)).unwrap();
        assert!(filter.poll_read().is_none());
        // Owed too long, the rest is given up: video skips ahead anyway, and nothing is left
        // that a keyframe would skip.
        let later = TaggedPacket {
            now: now + Duration::from_secs(2),
            ..nack(&[])
        };
        filter.handle_read(later).unwrap();
        assert!(!adaptation.take_receiver_waits(7));
        assert!(adaptation.take_skip());
    }

    #[test]
    fn while_no_report_covers_the_retransmission_stream_every_copy_is_insured() {
        use rtc::rtcp::receiver_report::ReceiverReport;
        use rtc::rtcp::reception_report::ReceptionReport;
        let adaptation = Arc::new(Adaptation::new(2_000_000.0, 2_000_000.0, false));
        let mut filter = filter_that_sent(adaptation, Some(8), 0..40);
        let t0 = Instant::now();
        let ms = |ms: u64| t0 + Duration::from_millis(ms);
        // No report covers the retransmission stream yet: the first copy goes twice, its twin
        // next to it, and the next once; each gets one more unasked once it had time to
        // arrive.
        assert_eq!(hear(&mut filter, ms(0), nack_of(&[3, 5])), [3, 3, 5]);
        // Once one does, a copy lost shows in its loss: one copy each, and none unasked.
        let report = Box::new(ReceiverReport {
            ssrc: 1,
            reports: vec![ReceptionReport {
                ssrc: 8,
                last_sequence_number: 3,
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(hear(&mut filter, ms(300), report), Vec::<u16>::new());
        assert_eq!(hear(&mut filter, ms(400), nack_of(&[9])), [9, 3, 5]);
        assert_eq!(hear(&mut filter, ms(900), nack_of(&[11])), [11]);
    }

    /// A NACK filter for SSRC 7 (its retransmissions on `rtx`) that sent `seqs`, 1000 bytes
    /// each.
    fn filter_that_sent(
        adaptation: Arc<Adaptation>,
        rtx: Option<u32>,
        seqs: Range<u16>,
    ) -> Tap<NackFilter> {
        let mut filter = Tap::new(NackFilter::new(adaptation));
        filter.bind_local_stream(&StreamInfo {
            ssrc: 7,
            ssrc_rtx: rtx,
            ..Default::default()
        });
        for seq in seqs {
            let mut packet = rtp(96, 1000, false);
            if let Packet::Rtp(p) = &mut packet.message.packet {
                p.header.ssrc = 7;
                p.header.sequence_number = seq;
            }
            filter.handle_write(packet).unwrap();
        }
        while filter.poll_write().is_some() {}
        filter
    }

    /// A NACK for `seqs` of SSRC 7.
    fn nack_of(seqs: &[u16]) -> Box<dyn rtc::rtcp::Packet> {
        Box::new(TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: 7,
            nacks: nack_pairs_from_sequence_numbers(seqs),
        })
    }

    /// `packet` arrives at `now`: the copies the NACKs the filter passes on ask for (the
    /// responder sends one of each packet a NACK names), in order.
    fn hear(
        filter: &mut Tap<NackFilter>,
        now: Instant,
        packet: Box<dyn rtc::rtcp::Packet>,
    ) -> Vec<u16> {
        filter
            .handle_read(TaggedPacket {
                now,
                transport: TransportContext::default(),
                message: AttributedPacket::new(Packet::Rtcp(vec![packet])),
            })
            .unwrap();
        let mut copies = Vec::new();
        while let Some(passed) = filter.poll_read() {
            let Packet::Rtcp(packets) = &passed.message.packet else {
                panic!("not RTCP")
            };
            for p in packets {
                if let Some(n) = p.as_any().downcast_ref::<TransportLayerNack>() {
                    copies.extend(n.nacks.iter().flat_map(|p| p.packet_list()));
                }
            }
        }
        copies
    }

    #[test]
    fn a_packet_given_up_makes_video_skip_ahead_with_a_keyframe() {
        let adaptation = Arc::new(Adaptation::new(2_000_000.0, 4_000_000.0, false));
        let mut filter = filter_that_sent(adaptation.clone(), None, 1..2);
        let t0 = Instant::now();
        let ms = |ms: u64| t0 + Duration::from_millis(ms);
        // Asked for every 300 ms, each copy lost: one copy, then a pair, then the fourth;
        // the next ask gives it up.
        for at in [0, 300, 600] {
            hear(&mut filter, ms(at), nack_of(&[1]));
            assert!(!adaptation.take_skip(), "at {at} ms");
        }
        hear(&mut filter, ms(900), nack_of(&[1]));
        assert!(adaptation.take_skip() && adaptation.take_keyframe());
        // Once: a flag taken is gone.
        assert!(!adaptation.take_skip());
    }

    #[test]
    fn a_whole_window_asked_for_after_an_outage_makes_video_skip_ahead() {
        let adaptation = Arc::new(Adaptation::new(2_000_000.0, 4_000_000.0, false));
        let mut filter = filter_that_sent(adaptation.clone(), None, 0..300);
        let t0 = Instant::now();
        let ms = |ms: u64| t0 + Duration::from_millis(ms);
        let window: Vec<u16> = (172..300).collect();
        // Without an outage, 128 packets asked for are repaired.
        hear(&mut filter, ms(0), nack_of(&window));
        assert!(!adaptation.take_skip());
        // Right after one, the receiver's whole window says more was lost than it asks for.
        adaptation.on_outage_over();
        hear(&mut filter, ms(100), nack_of(&window[1..]));
        assert!(!adaptation.take_skip(), "127 is not the whole window");
        // Numbers never sent (a skip of ours jumped over them) are not what it took.
        let skipped: Vec<u16> = (1000..1128).collect();
        hear(&mut filter, ms(150), nack_of(&skipped));
        assert!(
            !adaptation.take_skip(),
            "a skip's numbers are not the window"
        );
        hear(&mut filter, ms(200), nack_of(&window));
        assert!(adaptation.take_skip() && adaptation.take_keyframe());
    }
}
