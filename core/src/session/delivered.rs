//! What the receiver got of what we sent, as a rate, from its reports.
//!
//! A receiver report says, per stream, the highest sequence number received and how many were
//! lost in all. Between two reports the receiver got (numbers it expected − the loss that
//! came with them) packets; they were sent over the time between the two highest numbers
//! leaving here. With the sizes of those packets, that is the rate the path delivered — the
//! acknowledged rate a sender without transport-wide feedback can know. When the path drops
//! what exceeds it (a policer, a full queue), it is the path's rate; what we sent times
//! (1 − loss) is not, once retransmissions and keyframes add to what was sent and the path
//! drops them first.
//!
//! Sans-IO: every input brings its own time.

use std::time::{Duration, Instant};

/// How many recent packets a stream remembers (seconds of them at the rates where a fall
/// matters).
const HISTORY: usize = 4096;
/// Two reports whose highest numbers left less than this apart say too little about a rate;
/// the next report is measured from the earlier one.
const MIN_SPAN: Duration = Duration::from_millis(200);
/// A packet sent this long before a report had time to arrive (several round trips).
const DUE_AFTER: Duration = Duration::from_millis(300);
/// A rate older than this no longer describes the path.
const FRESH_FOR: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
struct SentPacket {
    seq: u16,
    bytes: u32,
    at: Instant,
}

/// Where the previous report left a stream.
#[derive(Debug, Clone, Copy)]
struct Reported {
    highest: u32,
    lost: i64,
    sent_at: Instant,
}

/// One stream (one SSRC) of ours.
#[derive(Debug)]
struct StreamDelivery {
    ssrc: u32,
    history: Vec<Option<SentPacket>>,
    reported: Option<Reported>,
    /// The rate measured at the last report, and when that report came.
    rate: Option<(f64, Instant)>,
    /// Whether this stream's rate must be known for a total (media; a retransmission stream
    /// is reported only once something went on it).
    needed: bool,
    last_sent: Option<Instant>,
}

impl StreamDelivery {
    fn sent(&mut self, now: Instant, seq: u16, bytes: usize) {
        self.history[usize::from(seq) % HISTORY] = Some(SentPacket {
            seq,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            at: now,
        });
        self.last_sent = Some(now);
    }

    fn packet(&self, seq: u16) -> Option<SentPacket> {
        self.history[usize::from(seq) % HISTORY].filter(|p| p.seq == seq)
    }

    /// A report block; whether anything arrived since the previous one (None: cannot tell).
    fn report(&mut self, now: Instant, highest: u32, total_lost: u32) -> Option<bool> {
        let lost = cumulative_lost(total_lost);
        let Some(newest) = self.packet(highest as u16) else {
            self.reported = None;
            return None;
        };
        // The next packet after the highest received, sent long enough ago to have arrived.
        let next_due = self
            .packet((highest as u16).wrapping_add(1))
            .is_some_and(|p| now.saturating_duration_since(p.at) >= DUE_AFTER);
        let here = Reported {
            highest,
            lost,
            sent_at: newest.at,
        };
        let Some(prev) = self.reported else {
            self.reported = Some(here);
            return None;
        };
        let expected = highest.wrapping_sub(prev.highest);
        if expected == 0 {
            // Nothing new: keep measuring from where we were.
            return next_due.then_some(false);
        }
        if expected > i32::MAX as u32 {
            // An older report.
            return None;
        }
        let span = newest.at.saturating_duration_since(prev.sent_at);
        if (expected as usize) < HISTORY && span < MIN_SPAN {
            return Some(true);
        }
        self.reported = Some(here);
        if expected > u32::from(u16::MAX) {
            return Some(true);
        }
        // The sizes of what was sent between the two (a skip's numbers were never sent, and
        // a few skips span more numbers than the history holds: it is read whole).
        let (mut bytes, mut count) = (0u64, 0u64);
        let from = prev.highest as u16;
        for p in self.history.iter().flatten() {
            let into = u32::from(p.seq.wrapping_sub(from));
            if (1..=expected).contains(&into) && p.at >= prev.sent_at {
                bytes += u64::from(p.bytes);
                count += 1;
            }
        }
        if count > 0 {
            let received = (i64::from(expected) - (lost - prev.lost)).max(0) as f64;
            let mean = bytes as f64 / count as f64;
            self.rate = Some((received * mean * 8.0 / span.as_secs_f64(), now));
            tracing::trace!(
                "stream {} delivered {} of {} numbers ({} sent, {} bytes each) over {:?}",
                self.ssrc,
                received,
                expected,
                count,
                mean as u64,
                span
            );
        }
        Some(true)
    }

    fn fresh_rate(&self, now: Instant) -> Option<f64> {
        self.rate
            .filter(|(_, at)| now.saturating_duration_since(*at) < FRESH_FOR)
            .map(|(bps, _)| bps)
    }

    fn sending(&self, now: Instant) -> bool {
        self.last_sent
            .is_some_and(|at| now.saturating_duration_since(at) < FRESH_FOR)
    }
}

/// The cumulative loss of a report block: 24 bits, signed (duplicates make it negative).
pub(super) fn cumulative_lost(total_lost: u32) -> i64 {
    let v = i64::from(total_lost & 0xff_ffff);
    if v & 0x80_0000 != 0 {
        v - 0x100_0000
    } else {
        v
    }
}

/// The delivered rate of all our streams.
#[derive(Debug, Default)]
pub(super) struct Delivered {
    streams: Vec<StreamDelivery>,
}

impl Delivered {
    /// A stream of ours; `needed` for media (see [`StreamDelivery::needed`]).
    pub(super) fn add_stream(&mut self, ssrc: u32, needed: bool) {
        if self.streams.iter().all(|s| s.ssrc != ssrc) {
            self.streams.push(StreamDelivery {
                ssrc,
                history: vec![None; HISTORY],
                reported: None,
                rate: None,
                needed,
                last_sent: None,
            });
        }
    }

    /// A packet leaving (headers included in `bytes`). Not for a retransmission that reuses
    /// its original's number.
    pub(super) fn sent(&mut self, now: Instant, ssrc: u32, seq: u16, bytes: usize) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) {
            s.sent(now, seq, bytes);
        }
    }

    /// A report block: the extended highest number received and the cumulative loss.
    /// Whether anything of a media stream arrived since its previous report: `Some(false)`
    /// when nothing did though packets were due (an outage, not congestion, which lets
    /// something through); None when it cannot tell, or the stream is not ours.
    pub(super) fn report(
        &mut self,
        now: Instant,
        ssrc: u32,
        highest: u32,
        total_lost: u32,
    ) -> Option<bool> {
        let s = self.streams.iter_mut().find(|s| s.ssrc == ssrc)?;
        let arrived = s.report(now, highest, total_lost);
        arrived.filter(|_| s.needed)
    }

    /// Whether the packet after `highest` on `ssrc` went out by `by`: a receiver whose newest
    /// is `highest` had something newer due.
    pub(super) fn next_sent_by(&self, ssrc: u32, highest: u16, by: Instant) -> bool {
        self.streams
            .iter()
            .find(|s| s.ssrc == ssrc)
            .and_then(|s| s.packet(highest.wrapping_add(1)))
            .is_some_and(|p| p.at <= by)
    }

    /// How long the sending of these packets of `ssrc` took, from the first sent to the last
    /// (None when none of them is remembered).
    pub(super) fn sending_span(
        &self,
        ssrc: u32,
        seqs: impl IntoIterator<Item = u16>,
    ) -> Option<Duration> {
        let s = self.streams.iter().find(|s| s.ssrc == ssrc)?;
        let times = seqs
            .into_iter()
            .filter_map(|seq| s.packet(seq))
            .map(|p| p.at);
        let (first, last) = times.fold(None, |span: Option<(Instant, Instant)>, at| {
            Some(span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))))
        })?;
        Some(last.saturating_duration_since(first))
    }

    /// Forgets the rates measured (they spanned an outage), not where reports left off.
    pub(super) fn forget_rates(&mut self) {
        for s in &mut self.streams {
            s.rate = None;
        }
    }

    /// What the path delivered of everything we send, bit/s: None until every media stream
    /// that is sending has a recent measurement.
    pub(super) fn rate(&self, now: Instant) -> Option<f64> {
        let mut total = 0.0;
        let mut any = false;
        for s in &self.streams {
            match s.fresh_rate(now) {
                Some(bps) => {
                    total += bps;
                    any = true;
                }
                None if s.needed && s.sending(now) => return None,
                None => {}
            }
        }
        any.then_some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends `count` packets of `bytes` from `first`, one every `every`, from `start`; the
    /// time after the last.
    fn send(
        d: &mut Delivered,
        ssrc: u32,
        start: Instant,
        first: u16,
        count: u16,
        bytes: usize,
        every: Duration,
    ) -> Instant {
        for n in 0..count {
            d.sent(
                start + every * u32::from(n),
                ssrc,
                first.wrapping_add(n),
                bytes,
            );
        }
        start + every * u32::from(count)
    }

    #[test]
    fn a_policed_path_delivers_its_rate_whatever_was_sent() {
        let mut d = Delivered::default();
        d.add_stream(1, true);
        let t0 = Instant::now();
        // 1000-byte packets, 150 a second (1.2 Mbit/s) from 65_500 (the numbers wrap).
        let t1 = send(&mut d, 1, t0, 65_500, 150, 1000, ms(1000) / 150);
        d.report(t1, 1, 65_500 + 149, 0);
        assert_eq!(d.rate(t1), None, "one report is no rate");
        let t2 = send(
            &mut d,
            1,
            t1,
            65_500u16.wrapping_add(150),
            150,
            1000,
            ms(1000) / 150,
        );
        // A third of them were lost: 800 kbit/s got through.
        d.report(t2, 1, 65_500 + 299, 50);
        let rate = d.rate(t2).unwrap();
        assert!((rate - 800_000.0).abs() < 10_000.0, "{rate}");
        // It goes stale.
        assert_eq!(d.rate(t2 + FRESH_FOR), None);
    }

    #[test]
    fn every_sending_media_stream_must_be_measured() {
        let mut d = Delivered::default();
        d.add_stream(1, true);
        d.add_stream(2, true);
        d.add_stream(3, false);
        let t0 = Instant::now();
        let t1 = send(&mut d, 1, t0, 0, 100, 1000, ms(10));
        send(&mut d, 2, t0, 0, 50, 100, ms(20));
        d.report(t1, 1, 99, 0);
        let t2 = send(&mut d, 1, t1, 100, 100, 1000, ms(10));
        send(&mut d, 2, t1, 50, 50, 100, ms(20));
        d.report(t2, 1, 199, 0);
        assert_eq!(d.rate(t2), None, "audio is sent and not yet reported");
        d.report(t2, 2, 49, 0);
        d.report(t2, 2, 99, 0);
        let rate = d.rate(t2).unwrap();
        // 800 kbit/s of video, 40 kbit/s of audio.
        assert!((rate - 840_000.0).abs() < 2_000.0, "{rate}");
        // A retransmission stream adds what it delivered once it is reported.
        let t3 = send(&mut d, 3, t2, 7, 30, 1000, ms(10));
        d.report(t3, 3, 7, 0);
        d.report(t3, 3, 36, 0);
        assert!(d.rate(t3).unwrap() > rate + 700_000.0);
    }

    #[test]
    fn a_skip_and_duplicates_do_not_bend_it() {
        let mut d = Delivered::default();
        d.add_stream(1, true);
        let t0 = Instant::now();
        let t1 = send(&mut d, 1, t0, 0, 100, 1000, ms(10));
        d.report(t1, 1, 99, 0);
        // 50 sent, a skip of 1500, 50 more: the receiver counts the 1500 as lost.
        let t2 = send(&mut d, 1, t1, 100, 50, 1000, ms(10));
        let t3 = send(&mut d, 1, t2, 1650, 50, 1000, ms(10));
        d.report(t3, 1, 1699, 1500);
        let rate = d.rate(t3).unwrap();
        assert!((rate - 800_000.0).abs() < 10_000.0, "{rate}");
        // Duplicates make the cumulative loss negative (24-bit two's complement).
        assert_eq!(cumulative_lost(0xff_ffff), -1);
        assert_eq!(cumulative_lost(5), 5);
        // A report too soon after the last is measured with the next.
        let t4 = send(&mut d, 1, t3, 1700, 10, 1000, ms(10));
        d.report(t4, 1, 1709, 1500);
        assert_eq!(d.rate(t4).unwrap(), rate);
        let t5 = send(&mut d, 1, t4, 1710, 90, 1000, ms(10));
        d.report(t5, 1, 1799, 1500 + 50);
        let rate = d.rate(t5).unwrap();
        assert!((rate - 400_000.0).abs() < 10_000.0, "{rate}");
        // Three skips between two reports span more numbers than the history holds: what
        // went between them is still measured.
        let t6 = send(&mut d, 1, t5, 3300, 30, 1000, ms(10));
        let t7 = send(&mut d, 1, t6, 4830, 30, 1000, ms(10));
        let t8 = send(&mut d, 1, t7, 6360, 30, 1000, ms(10));
        d.report(t8, 1, 6389, 1550 + 4500);
        let rate = d.rate(t8).unwrap();
        assert!((rate - 800_000.0).abs() < 10_000.0, "{rate}");
    }

    #[test]
    fn a_report_with_nothing_new_while_packets_were_due_is_an_outage() {
        let mut d = Delivered::default();
        d.add_stream(1, true);
        d.add_stream(2, false);
        let t0 = Instant::now();
        let t1 = send(&mut d, 1, t0, 0, 100, 1000, ms(10));
        assert_eq!(
            d.report(t1, 1, 99, 0),
            None,
            "the first report only marks a start"
        );
        // Sent on; the next report still says 99.
        let t2 = send(&mut d, 1, t1, 100, 100, 1000, ms(10));
        assert_eq!(d.report(t1 + ms(100), 1, 99, 0), None, "100 is not due yet");
        assert_eq!(d.report(t2, 1, 99, 0), Some(false));
        assert_eq!(d.report(t2, 1, 199, 50), Some(true));
        // A retransmission stream says nothing either way; nor does a stranger.
        assert_eq!(d.report(t2, 2, 5, 0), None);
        assert_eq!(d.report(t2, 9, 5, 0), None);
        // Packets 100..=149 went out over 490 ms; unknown numbers are left out.
        assert_eq!(d.sending_span(1, 100..150), Some(ms(490)));
        assert_eq!(d.sending_span(1, [120, 9000]), Some(ms(0)));
        assert_eq!(d.sending_span(1, [9000]), None);
        assert_eq!(d.sending_span(9, [120]), None);
        // Rates spanning an outage are forgotten.
        assert!(d.rate(t2).is_some());
        d.forget_rates();
        assert_eq!(d.rate(t2), None);
    }
}
