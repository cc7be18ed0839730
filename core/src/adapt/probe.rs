//! Probing: finding out whether a path that narrowed came back.
//!
//! The estimate grows only a little above what is sent, and after a fall it grows slowly near
//! the rate the fall found (see `estimate`): a policer drops what exceeds it, and every packet
//! lost for good freezes a receiver. But video that stepped down sends little, and clean
//! reports of little say nothing of the path above it: a link that narrowed to 400 kbit/s for
//! ten seconds and came back took 14 s to carry 640x480 again, growing 25 kbit/s a second.
//!
//! So, as libwebrtc does after a large drop, the path is probed: for half a second, packets of
//! no use to the receiver (on a stream of their own, which it counts in its reports and then
//! drops) fill what is sent up to three times the estimate. When the receiver's report says
//! they arrived, the path carries that rate: the estimate goes most of the way there at once,
//! and the next probe goes three times higher (a climb, up to the most the estimate may be,
//! while video wants more). When they were lost, a probe is tried again later, each time twice
//! as late (up to `MAX_WAIT`), and a climb takes back the jump before it. A probe stops as soon
//! as NACKs tell of loss, and the loss it caused is its own, not congestion's.
//!
//! Only a path whose estimate once held about three times what it is now is probed
//! (`PROBE_BELOW`), only while video is held back by the bandwidth, and only once reports have
//! been clean for a while: a narrow link that never carried more is never probed.
//!
//! Sans-IO: every input brings its own time.

use std::time::{Duration, Instant};

/// A probe is tried when the estimate is under this share of the highest it held: a path
/// that fell far. On a policed link the estimate swings too (a policer's bucket of a second
/// lets it hold 1.3 Mbit/s for seconds over 800 kbit/s, and the fall that follows takes it to
/// 500 kbit/s); probes there were lost, and cost freezes.
const PROBE_BELOW: f64 = 0.35;
/// An estimate held when it was reached this long after the last fall (and the start): a
/// start's first guess, or a climb a fall soon cut short, says nothing of the path.
const HIGH_HELD: Duration = Duration::from_secs(4);
/// The highest estimate held is remembered this long after it was last reached.
const HIGH_MEMORY: Duration = Duration::from_secs(60);
/// No fall and no lossy report for this long before a probe.
const QUIET: Duration = Duration::from_secs(2);
/// A report losing more than this is not quiet: a lossy path is not probed (a probe there
/// tells nothing a fall did not, and its packets load a receiver that is repairing).
const QUIET_LOSS: f64 = 0.01;
/// A probe fills what is sent up to this many times the estimate (at most the highest).
const PROBE_FACTOR: f64 = 3.0;
/// How long a probe lasts.
const PROBE_LENGTH: Duration = Duration::from_millis(500);
/// A probe whose packets were lost beyond this share failed.
const PROBE_LOSS_OK: f64 = 0.05;
/// Loss told by NACKs beyond this share stops a probe at once.
const ABORT_LOSS: f64 = 0.02;
/// A report of the probe's packets is waited for this long (plus a round trip) after it ends.
const JUDGE_WITHIN: Duration = Duration::from_secs(2);
/// A report made this long (plus a round trip) after a probe ended tells of all its packets
/// that arrived: those it does not count were lost. Waiting for a report of the last one
/// (which never comes when the policer took the tail) held each failed probe for the 2 s
/// above, and the probe after it for as long: a link that came back was found 4 s late.
const TAIL_IN_FLIGHT: Duration = Duration::from_millis(200);
/// Loss up to this long (plus a round trip) after a probe that failed is the probe's.
const SHADOW: Duration = Duration::from_millis(1500);
/// The wait before a probe after a probe that failed, doubling to `MAX_WAIT`.
const FIRST_WAIT: Duration = Duration::from_secs(2);
const MAX_WAIT: Duration = Duration::from_secs(4);
/// The wait after a probe that held, before the next may go higher.
const AFTER_SUCCESS: Duration = Duration::from_millis(500);
/// Of the rate a probe held, the estimate takes this share.
pub(crate) const PROBE_KEPT: f64 = 0.85;
/// A probe is worth sending when what it may find is this much above the estimate.
const PROBE_WORTH: f64 = 1.1;
/// A receiver that never reports the probe stream this many times in a row ignores it: no
/// more probes.
const UNHEARD_LIMIT: u32 = 2;

/// Where a probe is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle,
    /// Filling up to `bps` until `until`.
    Probing {
        bps: f64,
        until: Instant,
        /// The first probe packet's number, and the probe stream's loss reported before it.
        first: Option<u32>,
        lost_before: u32,
    },
    /// Ended at `ended`; the receiver's report of packets `first..=last` is awaited.
    Judging {
        bps: f64,
        ended: Instant,
        first: u32,
        last: u32,
        lost_before: u32,
    },
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// The path carried this rate (bit/s, everything sent).
    Held(f64),
    /// It lost the probe's packets.
    Failed,
}

/// Decides when to probe, and judges what a probe found.
#[derive(Debug)]
pub(crate) struct Prober {
    state: State,
    /// The highest estimate held (see `HIGH_HELD`), and when.
    high: Option<(f64, Instant)>,
    /// When media was first measured leaving (see [`Prober::on_sending`]), and when the
    /// estimate last fell.
    started: Option<Instant>,
    fell_at: Option<Instant>,
    /// The last probe held: the next goes higher, while video wants more.
    climbing: bool,
    /// The estimate before the last probe that held moved it.
    jumped_from: Option<f64>,
    /// A climb failed: the estimate goes back to this.
    undo: Option<f64>,
    /// Since when there was no fall and no lossy report.
    quiet_since: Option<Instant>,
    /// No probe before this.
    next_at: Option<Instant>,
    wait: Duration,
    /// Loss until this instant is a failed probe's.
    shadow_until: Option<Instant>,
    /// The probe stream's latest report: highest number and cumulative loss.
    reported: Option<(u32, u32)>,
    /// Probes in a row no report told of.
    unheard: u32,
    /// The next probe packet's number.
    next_seq: u32,
}

impl Default for Prober {
    fn default() -> Self {
        Prober {
            state: State::Idle,
            high: None,
            started: None,
            fell_at: None,
            climbing: false,
            jumped_from: None,
            undo: None,
            quiet_since: None,
            next_at: None,
            wait: FIRST_WAIT,
            shadow_until: None,
            reported: None,
            unheard: 0,
            next_seq: 0,
        }
    }
}

impl Prober {
    /// What leaves was measured at `now`: the first time, media started. An estimate held
    /// before then is the initial guess, which no report ever tested (a publisher created
    /// long before it publishes held it for as long).
    pub(crate) fn on_sending(&mut self, now: Instant) {
        self.started.get_or_insert(now);
    }

    /// The estimate at `now`.
    pub(crate) fn on_estimate(&mut self, now: Instant, bps: f64) {
        self.quiet_since.get_or_insert(now);
        let Some(since) = self.fell_at.or(self.started) else {
            return;
        };
        if now.saturating_duration_since(since) < HIGH_HELD {
            return;
        }
        let forgotten = self
            .high
            .is_none_or(|(_, at)| now.saturating_duration_since(at) >= HIGH_MEMORY);
        if forgotten || self.high.is_some_and(|(high, _)| bps >= high) {
            self.high = Some((bps, now));
        }
    }

    /// The estimate fell, or a report told of loss (`fraction`): not quiet.
    pub(crate) fn on_loss(&mut self, now: Instant, fraction: f64) {
        if fraction > QUIET_LOSS {
            self.quiet_since = Some(now);
        }
    }

    /// The estimate fell.
    pub(crate) fn on_fall(&mut self, now: Instant) {
        self.quiet_since = Some(now);
        self.fell_at = Some(now);
    }

    /// NACKs told of `fraction` lost lately: a probe under way stops, and failed (the report
    /// of its packets, a second or so later, would only tell so: waiting for it put off the
    /// next probe, and a link that came back meanwhile was found that much later).
    pub(crate) fn on_early_loss(&mut self, now: Instant, fraction: f64, rtt: Duration) {
        if fraction > ABORT_LOSS {
            if let State::Probing { .. } = self.state {
                tracing::debug!("probe stopped: {:.0} % lost", fraction * 100.0);
                self.end(now, rtt);
                self.fail(now, rtt);
            }
        }
    }

    /// Whether loss heard now is a probe's (under way, or failed lately), not congestion's.
    pub(crate) fn explains_loss(&self, now: Instant) -> bool {
        matches!(self.state, State::Probing { .. })
            || self.shadow_until.is_some_and(|until| now < until)
    }

    /// The rate to fill what is sent up to now (bit/s), while a probe is under way. Starts one
    /// when it is time: `estimate` is the estimate now and `max` the most it may be, `wanted`
    /// whether video is held back by the bandwidth and may be probed for.
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        (estimate, max): (f64, f64),
        wanted: bool,
        rtt: Duration,
    ) -> Option<f64> {
        match self.state {
            State::Probing { bps, until, .. } if now < until => return Some(bps),
            State::Probing { .. } => {
                self.end(now, rtt);
                return None;
            }
            State::Judging { ended, last, .. } if now >= ended + rtt + JUDGE_WITHIN => {
                match self.reported {
                    // Its last packets (or all of them) never came: a receiver that reports
                    // the stream hears it.
                    Some((highest, lost)) => {
                        self.judge(now, lost.saturating_add(last.saturating_sub(highest)), rtt);
                    }
                    None => {
                        // No report told of it: the receiver may not count a stream it does
                        // not know.
                        self.unheard += 1;
                        tracing::debug!("probe unheard by the receiver");
                        self.fail(now, rtt);
                    }
                }
                return None;
            }
            State::Judging { .. } => return None,
            State::Idle => {}
        }
        let (high, _) = self.high?;
        // A climb goes on from a probe that held; a first probe is for a path that fell far.
        let far_below = self.climbing || estimate < high * PROBE_BELOW;
        let ready = wanted
            && far_below
            && max * PROBE_KEPT > estimate * PROBE_WORTH
            && self.unheard < UNHEARD_LIMIT
            && self.next_at.is_none_or(|at| now >= at)
            && self
                .quiet_since
                .is_some_and(|since| now.saturating_duration_since(since) >= QUIET);
        if !ready {
            self.climbing &= wanted;
            return None;
        }
        let bps = (estimate * PROBE_FACTOR).min(max);
        tracing::debug!(
            "probing at {} kbit/s (estimate {} kbit/s, {} kbit/s held)",
            bps as u64 / 1000,
            estimate as u64 / 1000,
            high as u64 / 1000
        );
        self.start(now, bps);
        Some(bps)
    }

    /// Starts a probe at `bps` now (tests of what carries it out call it whatever the path
    /// did).
    pub(crate) fn start(&mut self, now: Instant, bps: f64) {
        self.state = State::Probing {
            bps,
            until: now + PROBE_LENGTH,
            first: None,
            lost_before: 0,
        };
    }

    /// A probe packet goes out: its number (counting from 0, all probes long).
    pub(crate) fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let State::Probing {
            first, lost_before, ..
        } = &mut self.state
        {
            if first.is_none() {
                *first = Some(seq);
                // The receiver counts the packets of earlier probes it never got only once a
                // later one arrives: those are not this probe's.
                *lost_before = self.reported.map_or(0, |(highest, lost)| {
                    lost.saturating_add(seq.saturating_sub(1).saturating_sub(highest))
                });
            }
        }
        seq
    }

    /// The receiver's report of the probe stream: its highest number (extended) and
    /// cumulative loss. A verdict when it tells of the probe under judgement.
    pub(crate) fn on_report(
        &mut self,
        now: Instant,
        highest: u32,
        lost: u32,
        rtt: Duration,
    ) -> Option<Verdict> {
        self.reported = Some((highest, lost));
        let State::Judging { ended, last, .. } = self.state else {
            return None;
        };
        if highest >= last {
            return self.judge(now, lost, rtt);
        }
        if now < ended + rtt + TAIL_IN_FLIGHT {
            // Of its first part; the rest may still be on its way.
            return None;
        }
        // Made after the rest would have arrived: it was lost (the receiver counts a gap
        // only once a later packet arrives, and none will until the next probe).
        self.judge(now, lost.saturating_add(last - highest), rtt)
    }

    /// Judges the probe awaiting its verdict, of which the receiver counts `lost` lost so far.
    fn judge(&mut self, now: Instant, lost: u32, rtt: Duration) -> Option<Verdict> {
        let State::Judging {
            bps,
            first,
            last,
            lost_before,
            ..
        } = self.state
        else {
            return None;
        };
        self.unheard = 0;
        let sent = f64::from(last - first + 1);
        let lost = f64::from(lost.saturating_sub(lost_before));
        let fraction = (lost / sent).min(1.0);
        if fraction > PROBE_LOSS_OK {
            tracing::debug!(
                "probe at {} kbit/s lost {:.0} %",
                bps as u64 / 1000,
                fraction * 100.0
            );
            self.fail(now, rtt);
            return Some(Verdict::Failed);
        }
        tracing::debug!("probe at {} kbit/s held", bps as u64 / 1000);
        self.state = State::Idle;
        self.climbing = true;
        self.wait = FIRST_WAIT;
        self.next_at = Some(now + AFTER_SUCCESS);
        self.quiet_since = Some(now.checked_sub(QUIET).unwrap_or(now));
        Some(Verdict::Held(bps))
    }

    /// Whether probes are climbing (one under way or judged, or the next due): the estimate
    /// `estimate` (of at most `max`) is about to grow, and video waits for where it ends
    /// rather than stepping up on each probe (each step waits a while before the next).
    pub(crate) fn climbing(&self, estimate: f64, max: f64) -> bool {
        self.state != State::Idle || (self.climbing && max * PROBE_KEPT > estimate * PROBE_WORTH)
    }

    /// The estimate before the probe that held moved it to `bps`.
    pub(crate) fn jumped(&mut self, from_bps: f64) {
        self.jumped_from = Some(from_bps);
    }

    /// What the estimate goes back to, once, after a climb failed.
    pub(crate) fn take_undo(&mut self) -> Option<f64> {
        self.undo.take()
    }

    /// A probe after one that held lost: that one may have held only because the path let a
    /// burst through (a policer's bucket fills while little is sent). Its jump is undone.
    fn undo_climb(&mut self) {
        if std::mem::take(&mut self.climbing) {
            self.undo = self.jumped_from.take();
        }
    }

    /// A probe under way ends; its report is awaited.
    fn end(&mut self, now: Instant, rtt: Duration) {
        let State::Probing {
            bps,
            first,
            lost_before,
            ..
        } = self.state
        else {
            return;
        };
        self.state = match first {
            Some(first) => State::Judging {
                bps,
                ended: now,
                first,
                last: self.next_seq.wrapping_sub(1),
                lost_before,
            },
            None => State::Idle,
        };
        // What it lost is reported over the next round trip and report.
        self.shadow_until = Some(now + rtt + SHADOW);
    }

    fn fail(&mut self, now: Instant, rtt: Duration) {
        self.undo_climb();
        self.state = State::Idle;
        self.shadow_until = Some(self.shadow_until.map_or(now, |u| u.max(now)).max(now + rtt));
        self.next_at = Some(now + self.wait);
        self.wait = (self.wait * 2).min(MAX_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(20);
    const MAX: f64 = 6_000_000.0;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    /// A prober whose estimate held 2.5 Mbit/s (from t0 - 5 s) and fell at t0 + 100 ms.
    fn fallen(t0: Instant) -> Prober {
        let mut p = Prober::default();
        let before = t0 - Duration::from_secs(5);
        p.on_sending(before);
        p.on_estimate(before, 1_000_000.0);
        p.on_estimate(t0, 2_500_000.0);
        p.on_fall(ms(t0, 100));
        p
    }

    /// A fallen prober whose receiver reported the probe stream, with a first probe's 50
    /// packets sent from t0 + 2.1 s; their numbers.
    fn first_probe_sent(t0: Instant) -> (Prober, Vec<u32>) {
        let mut p = fallen(t0);
        p.on_report(ms(t0, 500), 0, 0, RTT);
        assert!(poll(&mut p, ms(t0, 2_100), 400_000.0).is_some());
        let seqs = send(&mut p, 50);
        (p, seqs)
    }

    fn poll(p: &mut Prober, at: Instant, estimate: f64) -> Option<f64> {
        p.poll(at, (estimate, MAX), true, RTT)
    }

    /// Sends `n` probe packets; their numbers.
    fn send(p: &mut Prober, n: u32) -> Vec<u32> {
        (0..n).map(|_| p.take_seq()).collect()
    }

    /// Runs a probe from `at` that the receiver reports `lost` packets of 50; the verdict.
    fn probe(p: &mut Prober, t0: Instant, at: u64, estimate: f64, lost: u32) -> Option<Verdict> {
        assert!(poll(p, ms(t0, at), estimate).is_some(), "probes at {at}");
        let seqs = send(p, 50);
        assert_eq!(
            poll(p, ms(t0, at + 500), estimate),
            None,
            "over in half a second"
        );
        let lost_before = p.reported.map_or(0, |(_, l)| l);
        p.on_report(ms(t0, at + 600), seqs[49], lost_before + lost, RTT)
    }

    #[test]
    fn a_path_that_fell_far_is_probed_once_quiet_at_three_times_the_estimate() {
        let t0 = Instant::now();
        let mut p = fallen(t0);
        assert_eq!(
            poll(&mut p, ms(t0, 1_000), 400_000.0),
            None,
            "not quiet yet"
        );
        let unwanted = p.poll(ms(t0, 2_100), (400_000.0, MAX), false, RTT);
        assert_eq!(unwanted, None, "video wants no more");
        assert_eq!(poll(&mut p, ms(t0, 2_100), 400_000.0), Some(1_200_000.0));
        assert_eq!(poll(&mut p, ms(t0, 2_500), 400_000.0), Some(1_200_000.0));
        assert!(p.explains_loss(ms(t0, 2_500)));
        assert_eq!(poll(&mut p, ms(t0, 2_600), 400_000.0), None);
    }

    #[test]
    fn a_path_that_never_held_twice_the_estimate_is_not_probed() {
        let t0 = Instant::now();
        let mut p = Prober::default();
        p.on_sending(t0);
        p.on_estimate(t0, 800_000.0);
        // A start that climbed fast and fell within a few seconds held nothing.
        p.on_estimate(ms(t0, 3_000), 2_000_000.0);
        p.on_fall(ms(t0, 3_100));
        p.on_estimate(ms(t0, 6_000), 1_800_000.0);
        p.on_fall(ms(t0, 6_100));
        p.on_estimate(ms(t0, 10_200), 900_000.0);
        p.on_fall(ms(t0, 10_300));
        for n in 11..30 {
            assert_eq!(poll(&mut p, ms(t0, n * 1000), 450_000.0), None);
        }
    }

    #[test]
    fn an_estimate_held_before_media_left_is_no_rate_the_path_carried() {
        let t0 = Instant::now();
        // Made at t0, publishing from 10 s: the initial guess was never tested, and a fall
        // to a fifth of it a second after media started is no path that narrowed.
        let run = |sending_from: u64| {
            let mut p = Prober::default();
            for n in 0..=10 {
                if n * 1000 >= sending_from {
                    p.on_sending(ms(t0, n * 1000));
                }
                p.on_estimate(ms(t0, n * 1000), 2_500_000.0);
            }
            p.on_sending(ms(t0, 10_500));
            p.on_fall(ms(t0, 11_000));
            (12..20).find_map(|n| poll(&mut p, ms(t0, n * 1000), 500_000.0))
        };
        assert_eq!(run(10_000), None);
        // Sending all along, it held: the same fall is probed.
        assert_eq!(run(0), Some(1_500_000.0));
    }

    #[test]
    fn probes_that_hold_climb_until_video_wants_no_more() {
        let t0 = Instant::now();
        let (mut p, seqs) = first_probe_sent(t0);
        assert_eq!(poll(&mut p, ms(t0, 2_700), 400_000.0), None);
        // A report of its first part says nothing yet.
        assert_eq!(p.on_report(ms(t0, 2_710), seqs[20], 0, RTT), None);
        // One packet of 50 lost: it held.
        let verdict = p.on_report(ms(t0, 3_000), seqs[49], 1, RTT);
        assert_eq!(verdict, Some(Verdict::Held(1_200_000.0)));
        assert!(!p.explains_loss(ms(t0, 4_500)));
        // The next goes three times the new estimate, past what the path delivered before,
        // up to the most the estimate may be.
        assert_eq!(
            poll(&mut p, ms(t0, 3_200), 1_020_000.0),
            None,
            "a short wait"
        );
        assert_eq!(poll(&mut p, ms(t0, 3_600), 1_020_000.0), Some(3_060_000.0));
        send(&mut p, 50);
        assert_eq!(poll(&mut p, ms(t0, 4_100), 1_020_000.0), None);
        let verdict = p.on_report(ms(t0, 4_300), 99, 1, RTT);
        assert_eq!(verdict, Some(Verdict::Held(3_060_000.0)));
        assert_eq!(poll(&mut p, ms(t0, 4_900), 2_600_000.0), Some(MAX));
        send(&mut p, 50);
        assert_eq!(poll(&mut p, ms(t0, 5_400), 2_600_000.0), None);
        assert!(p.on_report(ms(t0, 5_500), 149, 1, RTT).is_some());
        // Video at its full size wants no more: the climb is over.
        assert_eq!(p.poll(ms(t0, 6_100), (5_100_000.0, MAX), false, RTT), None);
        assert_eq!(poll(&mut p, ms(t0, 7_000), 3_000_000.0), None);
    }

    #[test]
    fn a_probe_that_lost_makes_the_next_wait_twice_as_long_up_to_four_seconds() {
        let t0 = Instant::now();
        let mut p = fallen(t0);
        let mut at = 2_100;
        for wait in [2_000, 4_000, 4_000] {
            // A third of them lost.
            assert_eq!(probe(&mut p, t0, at, 400_000.0, 17), Some(Verdict::Failed));
            assert!(p.explains_loss(ms(t0, at + 1_000)), "its loss is its own");
            assert_eq!(poll(&mut p, ms(t0, at + 600 + wait - 10), 400_000.0), None);
            at += 600 + wait;
        }
        // One that held starts the waits over.
        assert!(matches!(
            probe(&mut p, t0, at, 400_000.0, 0),
            Some(Verdict::Held(_))
        ));
        assert_eq!(p.wait, FIRST_WAIT);
    }

    #[test]
    fn loss_told_by_nacks_stops_a_probe_at_once() {
        let t0 = Instant::now();
        let mut p = fallen(t0);
        assert!(poll(&mut p, ms(t0, 2_100), 400_000.0).is_some());
        send(&mut p, 10);
        p.on_early_loss(ms(t0, 2_150), 0.01, RTT);
        assert!(
            poll(&mut p, ms(t0, 2_200), 400_000.0).is_some(),
            "1 % is chance"
        );
        p.on_early_loss(ms(t0, 2_250), 0.3, RTT);
        assert_eq!(poll(&mut p, ms(t0, 2_260), 400_000.0), None);
        assert!(p.explains_loss(ms(t0, 3_000)));
        // It failed then: the next comes the first wait later, and the one after twice that.
        assert_eq!(poll(&mut p, ms(t0, 4_240), 400_000.0), None);
        assert!(poll(&mut p, ms(t0, 4_250), 400_000.0).is_some());
        assert_eq!(p.wait, 2 * FIRST_WAIT);
    }

    #[test]
    fn a_receiver_that_never_reports_the_probe_stream_is_not_probed_again() {
        let t0 = Instant::now();
        let mut p = fallen(t0);
        let mut at = 2_100;
        for _ in 0..UNHEARD_LIMIT {
            assert!(poll(&mut p, ms(t0, at), 400_000.0).is_some());
            send(&mut p, 40);
            assert_eq!(poll(&mut p, ms(t0, at + 500), 400_000.0), None);
            // Its judgement waits, then gives up.
            assert_eq!(poll(&mut p, ms(t0, at + 2_600), 400_000.0), None);
            at += 2_600 + 4_000;
        }
        for n in 0..30 {
            assert_eq!(poll(&mut p, ms(t0, at + n * 1000), 400_000.0), None);
        }
    }

    #[test]
    fn a_climb_that_fails_takes_back_the_jump_before_it() {
        let t0 = Instant::now();
        let mut p = fallen(t0);
        assert!(matches!(
            probe(&mut p, t0, 2_100, 400_000.0, 0),
            Some(Verdict::Held(_))
        ));
        p.jumped(400_000.0);
        assert_eq!(p.take_undo(), None);
        // The next, higher, loses a third: the first held only on a burst the path let by.
        assert_eq!(
            probe(&mut p, t0, 3_200, 1_020_000.0, 17),
            Some(Verdict::Failed)
        );
        assert_eq!(p.take_undo(), Some(400_000.0));
        assert_eq!(p.take_undo(), None, "once");
        // A first probe that fails has nothing to undo.
        assert_eq!(
            probe(&mut p, t0, 6_000, 400_000.0, 17),
            Some(Verdict::Failed)
        );
        assert_eq!(p.take_undo(), None);
    }

    #[test]
    fn a_report_made_after_a_probe_ended_judges_it_without_its_lost_tail() {
        let t0 = Instant::now();
        let (mut p, seqs) = first_probe_sent(t0);
        assert_eq!(poll(&mut p, ms(t0, 2_600), 400_000.0), None);
        // Made while its tail may still be on its way: nothing yet.
        assert_eq!(p.on_report(ms(t0, 2_700), seqs[29], 0, RTT), None);
        // Made well after: the 20 it does not count were lost.
        let verdict = p.on_report(ms(t0, 3_400), seqs[29], 0, RTT);
        assert_eq!(verdict, Some(Verdict::Failed));
        // A probe none of whose packets came, from a receiver that reports the stream, lost
        // them all: judged at its first report, and not taken for a receiver that ignores it.
        let mut at = 3_400 + 2_000;
        for n in 0..UNHEARD_LIMIT + 1 {
            assert!(poll(&mut p, ms(t0, at), 400_000.0).is_some(), "probe {n}");
            send(&mut p, 50);
            assert_eq!(poll(&mut p, ms(t0, at + 500), 400_000.0), None);
            let verdict = p.on_report(ms(t0, at + 900), seqs[29], 0, RTT);
            assert_eq!(verdict, Some(Verdict::Failed));
            at += 900 + 4_000;
        }
    }

    #[test]
    fn packets_an_earlier_probe_lost_at_its_end_are_not_the_next_ones() {
        let t0 = Instant::now();
        let mut p = fallen(t0);
        assert!(poll(&mut p, ms(t0, 2_100), 400_000.0).is_some());
        send(&mut p, 50);
        p.on_early_loss(ms(t0, 2_200), 0.3, RTT);
        // Its last 30 never came; the receiver does not count them lost yet.
        p.on_report(ms(t0, 2_300), 19, 0, RTT);
        // The next: the receiver counts the 30 once its first packet arrives.
        assert!(poll(&mut p, ms(t0, 4_300), 400_000.0).is_some());
        send(&mut p, 50);
        assert_eq!(poll(&mut p, ms(t0, 4_800), 400_000.0), None);
        let verdict = p.on_report(ms(t0, 4_900), 99, 30, RTT);
        assert!(matches!(verdict, Some(Verdict::Held(_))));
    }
}
