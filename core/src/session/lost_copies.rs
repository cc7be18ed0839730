//! Copies the path lost where the receiver will not ask again.
//!
//! aiortc's receiver asks for missing packets only when a new gap appears. A copy lost after
//! the last new gap leaves its jitter buffer holding every later frame until 512 packets have
//! passed: at the rates a narrow link leaves, 10 s and more. Copies go on the retransmission
//! stream (RTX), whose sequence numbers are its own, and the receiver reports that stream like
//! any other: its cumulative loss says how many copies were lost, its highest number which
//! copies sent a while ago never came. A lost copy the receiver asked for again is on its way
//! (the resend policy answers); one it did not ask for within a while after the report that
//! showed it will not be asked for: video skips ahead (`session::resume`).
//!
//! The receiver asking for other packets meanwhile says nothing of that one: aiortc forgets a
//! missing packet once it is 128 behind the newest it got, and its jitter buffer still waits
//! for it. On a path losing 3 %, new gaps were asked for every few hundred milliseconds, and a
//! copy lost once held video for 1 to 3 s until 512 packets had passed.
//!
//! Sans-IO: every input brings its own time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::delivered::cumulative_lost;

/// Copies remembered per stream, newest last.
const REMEMBERED: usize = 512;
/// A copy sent this long (plus a round trip) before a report that does not reach it was lost.
const TAIL_GRACE: Duration = Duration::from_millis(200);
/// How long a copy a report showed lost may go without the receiver asking for it again (at
/// the least; two round trips when longer) before video skips ahead: whatever else it asks
/// for meanwhile.
const UNASKED_FOR: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct RtxStream {
    ssrc: u32,
    /// Copies sent since counting started (a skip restarts it): (sequence number, when).
    sent: VecDeque<(u16, Instant)>,
    /// The previous report's highest number and cumulative loss.
    reported: Option<(u16, i64)>,
    /// Copies sent since counting started that reports showed lost.
    lost: u64,
}

/// Watches the retransmission streams' reports for copies lost and not asked for again.
#[derive(Debug, Default)]
pub(super) struct LostCopies {
    streams: Vec<RtxStream>,
    /// Copies asked for again since counting started (see [`LostCopies::asked_again`]).
    asked_again: u64,
    /// When a report showed a copy lost that was not asked for again.
    suspect_since: Option<Instant>,
    /// Copies lost since counting started, as the latest report showed them.
    lost: u64,
}

impl LostCopies {
    /// A retransmission stream of ours.
    pub(super) fn add_stream(&mut self, ssrc: u32) {
        if self.streams.iter().all(|s| s.ssrc != ssrc) {
            self.streams.push(RtxStream {
                ssrc,
                sent: VecDeque::new(),
                reported: None,
                lost: 0,
            });
        }
    }

    /// A copy left on a retransmission stream.
    pub(super) fn sent(&mut self, now: Instant, ssrc: u32, seq: u16) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) {
            if s.sent.len() == REMEMBERED {
                s.sent.pop_front();
            }
            s.sent.push_back((seq, now));
        }
    }

    /// The receiver asked again for packets after `count` copies of them had time to arrive
    /// (both of a pair, when a pair went): those copies were lost, and the receiver knows.
    /// A request again that accounts for every copy the reports showed lost clears the
    /// suspicion.
    pub(super) fn asked_again(&mut self, count: usize) {
        self.asked_again += count as u64;
        if count > 0 && self.asked_again >= self.lost {
            self.suspect_since = None;
        }
    }

    /// A report block about a retransmission stream: the extended highest number received
    /// and the cumulative loss.
    pub(super) fn report(
        &mut self,
        now: Instant,
        ssrc: u32,
        highest: u32,
        total_lost: u32,
        rtt: Duration,
    ) {
        let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) else {
            return;
        };
        let lost = cumulative_lost(total_lost);
        let highest = highest as u16;
        // The loss since the previous report is of copies numbered up to this one's highest
        // and above the previous one's; of them, only those sent since counting started
        // count. (Counting from the first report after a skip left out what a burst of loss
        // took right after it, and video stood still for 13 s.)
        let (from, lost_before) = s
            .reported
            .map_or((None, 0), |(high, lost)| (Some(high), lost));
        let since_start = s
            .sent
            .iter()
            .filter(|(seq, _)| {
                let below = highest.wrapping_sub(*seq) < 0x8000;
                below && from.is_none_or(|from| (1..0x8000).contains(&seq.wrapping_sub(from)))
            })
            .count() as u64;
        s.lost += ((lost - lost_before).max(0) as u64).min(since_start);
        s.reported = Some((highest, lost));
        // Copies above the highest number received, sent long enough ago to have arrived.
        let due = now.checked_sub(rtt + TAIL_GRACE);
        let tail = s
            .sent
            .iter()
            .filter(|(seq, at)| {
                let ahead = seq.wrapping_sub(highest);
                (1..0x8000).contains(&ahead) && due.is_some_and(|due| *at <= due)
            })
            .count() as u64;
        let lost_copies = s.lost + tail;
        self.lost = lost_copies;
        tracing::trace!(
            "copies: {} lost ({} in the tail), {} asked again; reported up to {} with {} lost, \
             {} copies sent since counting started",
            lost_copies,
            tail,
            self.asked_again,
            highest,
            lost,
            s.sent.len()
        );
        if lost_copies > self.asked_again {
            if self.suspect_since.is_none() {
                tracing::debug!(
                    "{} copies lost, {} asked for again",
                    lost_copies,
                    self.asked_again
                );
            }
            self.suspect_since.get_or_insert(now);
        }
        // Asked for again more often than lost (a copy still on its way): that explains no
        // later loss.
        self.asked_again = self.asked_again.min(lost_copies);
    }

    /// Whether no report covered a retransmission stream yet. A receiver counts a stream from
    /// the first packet it gets of it (RFC 3550's base): copies lost before that one are in
    /// no report's loss, and while no report covers the stream, none shows its tail either.
    pub(super) fn unheard(&self) -> bool {
        self.streams.iter().any(|s| s.reported.is_none())
    }

    /// Whether a report showed a copy lost that the receiver did not ask for again.
    pub(super) fn suspect(&self) -> bool {
        self.suspect_since.is_some()
    }

    /// Whether, at `now`, long enough passed after a copy the receiver lost without asking
    /// for it again that it must be waiting: video is to skip ahead. The count starts over
    /// either way once this says yes.
    pub(super) fn waiting(&mut self, now: Instant, rtt: Duration) -> bool {
        let unasked_for = UNASKED_FOR.max(rtt * 2);
        if self
            .suspect_since
            .is_some_and(|at| now.saturating_duration_since(at) >= unasked_for)
        {
            self.start_over();
            return true;
        }
        false
    }

    /// Video skipped ahead: what was lost before does not hold the receiver any more.
    pub(super) fn start_over(&mut self) {
        self.suspect_since = None;
        self.asked_again = 0;
        self.lost = 0;
        for s in &mut self.streams {
            s.sent.clear();
            s.lost = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(20);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn copies(t0: Instant) -> LostCopies {
        let mut l = LostCopies::default();
        l.add_stream(7);
        for seq in 0..10u16 {
            l.sent(t0 + ms(u64::from(seq)), 7, seq);
        }
        l.report(t0 + ms(100), 7, 9, 0, RTT);
        l
    }

    #[test]
    fn a_lost_copy_not_asked_for_again_makes_video_skip_after_a_while() {
        let t0 = Instant::now();
        let mut l = copies(t0);
        assert!(!l.waiting(t0 + ms(2000), RTT), "all arrived");
        for seq in 10..20u16 {
            l.sent(t0 + ms(2000), 7, seq);
        }
        // Copy 15 was lost: highest 19, one lost in all.
        l.report(t0 + ms(2100), 7, 19, 1, RTT);
        assert!(!l.waiting(t0 + ms(2400), RTT));
        assert!(l.waiting(t0 + ms(2600), RTT));
        // Once.
        assert!(!l.waiting(t0 + ms(3000), RTT));
    }

    #[test]
    fn a_lost_copy_asked_for_again_is_left_to_the_resends() {
        let t0 = Instant::now();
        let mut l = copies(t0);
        for seq in 10..20u16 {
            l.sent(t0 + ms(1000), 7, seq);
        }
        l.asked_again(1);
        l.report(t0 + ms(2100), 7, 19, 1, RTT);
        assert!(
            !l.waiting(t0 + ms(3000), RTT),
            "the loss was asked for again"
        );
        // Another lost, asked for again after the report that showed it.
        for seq in 20..30u16 {
            l.sent(t0 + ms(3000), 7, seq);
        }
        l.report(t0 + ms(3100), 7, 29, 2, RTT);
        assert!(l.suspect());
        l.asked_again(1);
        assert!(!l.waiting(t0 + ms(4000), RTT));
        // Asking again more often than copies were lost explains nothing later.
        let mut l = copies(t0);
        for _ in 0..5 {
            l.asked_again(1);
        }
        l.report(t0 + ms(200), 7, 9, 0, RTT);
        for seq in 10..20u16 {
            l.sent(t0 + ms(1000), 7, seq);
        }
        l.report(t0 + ms(1200), 7, 19, 1, RTT);
        assert!(l.waiting(t0 + ms(2000), RTT));
    }

    #[test]
    fn a_receiver_asking_for_other_packets_still_waits_for_a_lost_copy() {
        let t0 = Instant::now();
        let mut l = copies(t0);
        for seq in 10..20u16 {
            l.sent(t0 + ms(1000), 7, seq);
        }
        l.report(t0 + ms(1100), 7, 19, 1, RTT);
        // New gaps are asked for (no copy of them went yet): nothing lost was asked again.
        l.asked_again(0);
        assert!(!l.waiting(t0 + ms(1400), RTT));
        l.asked_again(0);
        assert!(l.waiting(t0 + ms(1600), RTT));
    }

    #[test]
    fn copies_lost_right_after_a_skip_count_and_those_before_it_do_not() {
        let t0 = Instant::now();
        let mut l = copies(t0);
        // Copies 10..20 go; video skips ahead after 14 (the receiver's report comes later),
        // and copies 15..20 are for after the skip.
        for seq in 10..15u16 {
            l.sent(t0 + ms(1000), 7, seq);
        }
        l.start_over();
        for seq in 15..20u16 {
            l.sent(t0 + ms(1100), 7, seq);
        }
        // Two lost among copies from before and after it: taken as after it (a skip too many
        // costs a keyframe; one missed, seconds of video).
        l.report(t0 + ms(1300), 7, 19, 2, RTT);
        assert!(l.waiting(t0 + ms(1900), RTT));
        // Copies lost only before the skip: nothing waits.
        let mut l = copies(t0);
        for seq in 10..15u16 {
            l.sent(t0 + ms(1000), 7, seq);
        }
        l.report(t0 + ms(1050), 7, 12, 1, RTT);
        l.start_over();
        for seq in 15..20u16 {
            l.sent(t0 + ms(1100), 7, seq);
        }
        l.report(t0 + ms(1300), 7, 19, 1, RTT);
        assert!(!l.waiting(t0 + ms(2000), RTT));
    }

    #[test]
    fn copies_sent_a_while_ago_above_the_highest_received_were_lost() {
        let t0 = Instant::now();
        let mut l = copies(t0);
        // Two more go out; the next report still says 9.
        l.sent(t0 + ms(1000), 7, 10);
        l.sent(t0 + ms(1150), 7, 11);
        l.report(t0 + ms(1100), 7, 9, 0, RTT);
        assert!(!l.waiting(t0 + ms(2000), RTT), "too soon to tell");
        l.report(t0 + ms(1300), 7, 9, 0, RTT);
        assert!(!l.waiting(t0 + ms(1700), RTT));
        assert!(l.waiting(t0 + ms(1800), RTT));
        // Numbers wrap.
        let mut l = LostCopies::default();
        l.add_stream(7);
        l.sent(t0, 7, 65_535);
        l.sent(t0, 7, 0);
        l.report(t0 + ms(500), 7, 65_535, 0, RTT);
        assert!(l.waiting(t0 + ms(1000), RTT));
        // Another stream's reports say nothing of ours.
        let mut l = copies(t0);
        l.report(t0 + ms(500), 8, 0, 100, RTT);
        assert!(!l.waiting(t0 + ms(5000), RTT));
    }
}
