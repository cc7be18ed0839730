//! The sending side's bandwidth estimate. What the receiver says about its path (REMB, or the
//! transport-wide delay-based estimate) is an upper bound; under it, a loss-based controller in
//! the manner of libwebrtc's send-side estimator follows the loss fraction the receiver reports
//! (receiver reports, and NACKs, which come sooner): with little loss it grows, from 2 to 10 %
//! more it holds, above that it falls to what the path delivered. Where it departs from that
//! one:
//! - the bands sit above the path's own loss floor (the least smoothed loss of recent reports,
//!   at most 10 %): loss that is there whatever the rate (a lossy radio link) is not
//!   congestion, and must not hold the rate down;
//! - growth speeds up with each clean report (8 % a second, then 4 points more per report, up
//!   to 50 %), so a path that came back is found in seconds, not a minute;
//! - a fall is checked: when the loss stays as it was though much less is sent, it was the
//!   path's own (a radio link's, at any rate), not congestion. That loss becomes the floor
//!   and the estimate goes back to where it was. The least of recent reports cannot tell it
//!   alone: a start, before anything was lost, pins it at zero for twenty seconds;
//! - a fall remembers what the path delivered: near that rate growth is additive (5 % of it a
//!   second, 25 kbit/s at least) until well past it, and loss there is a fall, not a hold. A policed link
//!   drops what exceeds it, and every packet lost for good freezes a receiver that asks for
//!   it only once.
//!
//! Sans-IO: every input brings its own time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Loss below this lets the estimate grow.
const LOSS_LOW: f64 = 0.02;
/// Loss above this makes it fall.
const LOSS_HIGH: f64 = 0.10;
/// Growth per second while loss is low, at first; each clean report adds `GROWTH_SPEEDUP`,
/// up to `GROWTH_MAX`.
const GROWTH_PER_SECOND: f64 = 1.08;
const GROWTH_SPEEDUP: f64 = 0.04;
const GROWTH_MAX: f64 = 1.5;
/// Below this share of the rate the last fall found, growth is multiplicative; above it,
/// additive: `NEAR_LINK_GROWTH` of that rate a second.
const NEAR_LINK: f64 = 0.85;
const NEAR_LINK_GROWTH: f64 = 0.05;
/// Additive growth is at least this many bits per second a second: a fall on a burst can
/// underestimate the path badly.
const NEAR_LINK_MIN_GROWTH: f64 = 25_000.0;
/// A remembered rate is forgotten once the estimate, and what was sent, grew this far above
/// it without loss.
const LINK_FORGOTTEN: f64 = 1.25;
/// After a fall, the reports that follow still describe what was sent before it: one round
/// trip plus this passes before the next fall.
const FALL_SPACING: Duration = Duration::from_secs(1);
/// A receiver's own estimate older than this no longer bounds ours (it stopped sending one).
const REMOTE_ESTIMATE_LIFETIME: Duration = Duration::from_secs(5);
/// A receiver's estimate bounds ours only from this share of what we send up ...
const REMOTE_BOUND_FROM: f64 = 0.5;
/// ... to this one, while the path loses little. Just under what we send, it is what arrived
/// (less the path's own loss) grown a little: aiortc's REMB for a sender of 1.25 Mbit/s over
/// a path losing 3 % sat at 1.19 to 1.29 Mbit/s, and held the estimate there for 12 s. A
/// receiver that sees queueing says 0.85 of what arrives. On a path that drops much (a
/// policer queues nothing, so the receiver sees no delay), what arrived is the nearest thing
/// to the path's rate there is, and it bounds up to what we send: without it the audio-only
/// fallback at 150 kbit/s did not engage.
const REMOTE_BOUND_UNDER: f64 = 0.9;
/// A receiver's estimate this far under its previous one fell: the receiver saw the path
/// queue (GCC's detector says 0.85 of what arrives).
const REMOTE_FELL: f64 = 0.97;
/// A REMB repeated (within `CEILING_SAME`), each time at least `CEILING_SPACING` after the one
/// before, is a ceiling the receiver sets rather than an estimate: an SFU's bitrate cap (Janus
/// sends its room's `bitrate` as REMB every 5 s, after a first second of a quarter, a third
/// and half of it). A receiver that estimates speaks every second or so (aiortc), and may
/// hold a value a while: that is not a cap.
const CEILING_REPEATS: u32 = 2;
const CEILING_SAME: f64 = 0.01;
const CEILING_SPACING: Duration = Duration::from_secs(2);
/// A repeated REMB is a ceiling when what was sent, or what the loss-based estimate allows,
/// exceeded it by this much.
const CEILING_SENT_ABOVE: f64 = 1.1;
/// A ceiling holds this long after the receiver last said it.
const CEILING_LIFETIME: Duration = Duration::from_secs(12);
/// How long after a restart the receiver's estimates are not heard.
const REMOTE_IGNORED_AFTER_RESTART: Duration = Duration::from_secs(10);
/// How many recent reports the loss floor is the least of (about 20 s of them).
const FLOOR_REPORTS: usize = 20;
/// Loss above this is never the path's floor: it is congestion, or a link not worth using.
const FLOOR_MAX: f64 = 0.10;
/// Weight of a new report in the smoothed loss (about three reports' memory).
const SMOOTHING: f64 = 0.3;
/// Growth stops on a single report this far above the floor, whatever the smoothed loss says.
const SPIKE: f64 = 0.05;
/// Growth stops this far above what was actually sent: a sender that sends less than it may
/// (easy content, a degraded level) learns nothing about the path above that, and an estimate
/// that grew anyway would overshoot the path the moment the content needs it.
const SENT_HEADROOM: f64 = 1.5;
/// Near the rate a fall found, growth stops this far above what was sent: clean reports of
/// an encoder that needed less (a small size, easy content) say nothing of that rate, and
/// an estimate that crept past it unused was spent at once when a step up came (an 800
/// kbit/s link, 1.2 Mbit/s allowed, a quarter of the packets lost).
const NEAR_LINK_HEADROOM: f64 = 1.15;
/// A fall from the loss alone (no measurement of what got through) keeps at least this share.
const MAX_FALL_FROM_LOSS: f64 = 0.5;
/// A fall sets the estimate this much under the link it found: room to drain the queue a
/// burst left behind.
const UNDER_LINK: f64 = 0.95;
/// A fall on copies lost (see [`Estimate::on_copies_lost`]) goes this share under what was
/// sent: enough under a policer's rate that its bucket refills. It is passed to `fall` as a
/// loss, and a loss of `LOSS_HIGH` or more has no floor (see `small_loss_floor`).
const DRY_CUT: f64 = 0.25;
const _: () = assert!(DRY_CUT >= LOSS_HIGH);
/// An early loss window closing this long (and a round trip) after a fall is of packets sent
/// after it (a window lasts a quarter second, and NACKs of the one before count too) ...
const AFTER_FALL_WINDOW: Duration = Duration::from_millis(300);
/// ... and if it lost more than this share, the fall was not enough (see
/// [`Estimate::fell_short`]). A policer that the fall took the estimate under still drops a
/// fifth or so of what leaves while its bucket refills.
const FELL_SHORT: f64 = 0.5;
/// Falls on such windows stop at this share of the estimate before the first fall: after a
/// deep fall the pacer sends what waited in it fast (see `adapt::AFTER_FALL_KEPT`), at the
/// old rate, and the windows that follow lose it too (three such falls took a 400 kbit/s
/// link's estimate from 1375 to 171 kbit/s). A receiver report tells the rest.
const FURTHER_LEAST: f64 = 0.25;
/// A delivered rate measured longer ago than this does not bound a fall.
const DELIVERED_FRESH_FOR: Duration = Duration::from_secs(2);
/// The sent rate is the mean of this many measurements (half a second each).
const SENT_INTERVALS: usize = 3;
/// After a fall, this many receiver reports from past its shadow tell whether it helped.
const CHECK_REPORTS: usize = 3;
/// Loss that stays at this share of what it was before a fall, though what is sent fell by
/// `CHECK_SENT_CUT` or more, is the path's own.
const CHECK_LOSS_STAYED: f64 = 0.7;
const CHECK_SENT_CUT: f64 = 0.85;
/// ... and no report of the check lost less than this share of it.
const CHECK_EACH_STAYED: f64 = 0.4;
/// Loss under this is not worth learning as the path's floor.
const LEARNED_FLOOR_MIN: f64 = 0.015;
/// A short window's chance loss is allowed for as if the path lost at least this much of
/// itself: before reports have told the floor (it is 0 at the start), one window of 20
/// packets that lost 3 of them on a path losing 3 % made the estimate fall, and the falls
/// that followed near that rate took it down to 240x180 (one start in six). A policer's
/// drops are far above it.
const EARLY_NOISE_FLOOR: f64 = 0.02;
/// A path whose reports have lost at least this share (smoothed) for `STEADY_FOR`, with no
/// fall, loses steadily (see [`Estimate::loses_steadily`]). A policed link's loss makes the
/// estimate fall within a second of its first report.
const STEADY_LOSS: f64 = 0.01;
const STEADY_FOR: Duration = Duration::from_secs(5);
/// The smoothed loss spreads less than one report's: about 0.42 of it at `SMOOTHING` 0.3
/// (sqrt(0.3 / 1.7)); growth allows half of one report's chance spread.
const SMOOTHED_NOISE: f64 = 0.5;

/// The estimate, in bits per second, of what the path carries for all our media.
#[derive(Debug, Clone)]
pub(crate) struct Estimate {
    loss_based: f64,
    min: f64,
    max: f64,
    remote: Option<(f64, Instant)>,
    /// The receiver's latest estimate, bounding or not.
    last_remote: Option<f64>,
    last_report: Option<Instant>,
    last_fall: Option<Instant>,
    /// The estimate before the last fall.
    fell_from: f64,
    rtt: Duration,
    smoothed_loss: Option<f64>,
    /// What was sent over the last measured intervals (about what a receiver report covers),
    /// bit/s: one short interval after a keyframe, or with frames dropped, is not the rate.
    sent: Option<f64>,
    sent_recent: VecDeque<f64>,
    /// What the receiver's reports say the path delivered, and when it was measured.
    delivered: Option<(f64, Instant)>,
    /// Recent smoothed losses, oldest first.
    recent_loss: VecDeque<f64>,
    /// Since when the smoothed loss has been a little (see `STEADY_LOSS`) with no fall.
    lossy_since: Option<Instant>,
    /// Clean reports in a row.
    streak: u32,
    /// The latest report's loss fraction, as reported.
    last_loss: f64,
    /// What the path delivered when the estimate last fell.
    link: Option<f64>,
    /// The receiver's estimates are not heard until then (see [`Estimate::restart_at`]).
    remote_ignored_until: Option<Instant>,
    /// The last fall, while reports tell whether it helped.
    check: Option<FallCheck>,
    /// Loss a fall did not take away: the path's own.
    learned_floor: Option<f64>,
    /// The receiver's last REMB, how many times in a row it came the same (spaced as a
    /// ceiling is), and when it came.
    repeated: Option<(f64, u32, Instant)>,
    /// A ceiling the receiver sets (see `CEILING_REPEATS`), and when it last said it.
    ceiling: Option<(f64, Instant)>,
}

/// What a fall is judged against (see `CHECK_REPORTS`).
#[derive(Debug, Clone)]
struct FallCheck {
    /// The estimate before it fell.
    before_bps: f64,
    /// The smoothed loss before it fell.
    loss_before: f64,
    /// What was being sent when it fell.
    sent_before: f64,
    /// The losses of the reports since.
    losses: Vec<f64>,
}

impl Estimate {
    /// Starts at `initial`, kept within `min..=max` (bits per second).
    pub(crate) fn new(initial: f64, min: f64, max: f64) -> Self {
        let max = max.max(min);
        Estimate {
            loss_based: initial.clamp(min, max),
            min,
            max,
            remote: None,
            last_remote: None,
            last_report: None,
            last_fall: None,
            fell_from: 0.0,
            rtt: Duration::from_millis(100),
            smoothed_loss: None,
            sent: None,
            sent_recent: VecDeque::new(),
            delivered: None,
            recent_loss: VecDeque::new(),
            lossy_since: None,
            streak: 0,
            last_loss: 0.0,
            link: None,
            remote_ignored_until: None,
            check: None,
            learned_floor: None,
            repeated: None,
            ceiling: None,
        }
    }

    /// The current estimate: the loss-based one, bounded by the receiver's when it has one,
    /// and by a ceiling the receiver sets.
    pub(crate) fn target(&self, now: Instant) -> f64 {
        let live = |bound: Option<(f64, Instant)>, lifetime: Duration| {
            bound
                .filter(|(_, at)| now.saturating_duration_since(*at) < lifetime)
                .map_or(f64::INFINITY, |(bps, _)| bps)
        };
        self.loss_based
            .min(live(self.remote, REMOTE_ESTIMATE_LIFETIME))
            .min(live(self.ceiling, CEILING_LIFETIME))
            .clamp(self.min, self.max)
    }

    /// A ceiling the receiver sets (see `CEILING_REPEATS`), while it holds.
    pub(crate) fn ceiling(&self, now: Instant) -> Option<f64> {
        self.ceiling
            .filter(|(_, at)| now.saturating_duration_since(*at) < CEILING_LIFETIME)
            .map(|(bps, _)| bps)
    }

    /// When the estimate last fell on loss, and what it was before.
    pub(crate) fn last_fall(&self) -> Option<(Instant, f64)> {
        self.last_fall.map(|at| (at, self.fell_from))
    }

    /// Whether the path's reports lose a little (smoothed, `STEADY_LOSS` to `LOSS_HIGH`) and no
    /// fall came since: a policed link reports nothing lost until it runs dry, and then falls.
    pub(crate) fn loses_a_little(&self) -> bool {
        self.lossy_since.is_some()
    }

    /// Whether the path loses a little of what it carries, steadily, whatever the rate: its
    /// reports have lost at least `STEADY_LOSS` (smoothed) for `STEADY_FOR`, and no fall
    /// came meanwhile (a policed link loses in bursts, and falls).
    pub(crate) fn loses_steadily(&self, now: Instant) -> bool {
        self.lossy_since
            .is_some_and(|at| now.saturating_duration_since(at) >= STEADY_FOR)
    }

    /// The most the estimate may be.
    pub(crate) fn max(&self) -> f64 {
        self.max
    }

    /// The latest round-trip time measured (100 ms until then).
    pub(crate) fn rtt(&self) -> Duration {
        self.rtt
    }

    /// The latest round-trip time measured.
    pub(crate) fn on_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// A REMB: the receiver's estimate, or a ceiling it sets (see `CEILING_REPEATS`). A value
    /// repeated is taken for a ceiling only while it holds something back: more than it is
    /// sent, or allowed by the loss-based estimate. A receiver that gets little (video stopped)
    /// repeats its last estimate for want of news, which caps nothing. Janus's cap said again
    /// while simulcast's top layer was stopped under it (less sent) was taken for news, and the
    /// estimate grew past it: the top layer came back for the next 5 s.
    /// A ceiling once taken holds while the receiver repeats it, even when the layers that
    /// stopped under it send less.
    pub(crate) fn on_remb(&mut self, now: Instant, bps: f64) {
        if !bps.is_finite() || bps <= 0.0 {
            return;
        }
        let same = |a: f64, b: f64| (a - b).abs() <= b * CEILING_SAME;
        // A new value is said once, however soon after another (Janus's start says a quarter,
        // a third, half and all of its cap within 30 ms); the same again too soon is a
        // receiver that speaks often, which estimates.
        let repeats = match self.repeated {
            Some((last, n, at)) if same(bps, last) => {
                if now.saturating_duration_since(at) < CEILING_SPACING {
                    0
                } else {
                    n + 1
                }
            }
            _ => 1,
        };
        self.repeated = Some((bps, repeats, now));
        let held = self.ceiling.is_some_and(|(ceiling, _)| same(bps, ceiling));
        let capped = self
            .sent
            .is_some_and(|sent| sent.max(self.loss_based) >= bps * CEILING_SENT_ABOVE);
        self.ceiling = (held || (repeats >= CEILING_REPEATS && capped)).then_some((bps, now));
        self.on_remote_estimate(now, bps);
    }

    /// Forgets a receiver's ceiling: video stopped, and what the receiver repeats now is
    /// stale.
    pub(crate) fn forget_ceiling(&mut self) {
        self.repeated = None;
        self.ceiling = None;
    }

    /// What the receiver estimates its path carries (REMB, or the delay-based estimate of
    /// transport-wide feedback). Such estimates grow from what arrives, 8 % a second at
    /// most: above what we send they say only "more would do", and bounding by them would
    /// make every climb as slow as theirs. Somewhat below it, they say the path is queueing:
    /// a bound, when it fell: one still climbing only lags behind a sender that climbs
    /// faster (aiortc's REMB, 1.8 Mbit/s and rising under 2.3 Mbit/s sent on a clear link,
    /// cut the estimate in half every few seconds). Far below what we send they speak of a
    /// sender that sent little (a first REMB is what arrived, and a slide show sends next to
    /// nothing): the loss it would bring is what tells of a path that narrowed that much.
    /// (See `REMOTE_BOUND_FROM`.)
    pub(crate) fn on_remote_estimate(&mut self, now: Instant, bps: f64) {
        if !bps.is_finite() || bps <= 0.0 {
            return;
        }
        if self.remote_ignored_until.is_some_and(|until| now < until) {
            return;
        }
        let previous = self.last_remote.replace(bps);
        let dropping = self.last_loss > LOSS_HIGH;
        let under = if dropping { 1.0 } else { REMOTE_BOUND_UNDER };
        let fell = previous.is_some_and(|previous| bps < previous * REMOTE_FELL);
        // Before what leaves was measured for a while, it speaks of what arrived of a start:
        // the transport-wide estimate of a Janus receiver halved three times in the first
        // second (379, 183, 126 kbit/s under a 645 kbit/s start) and took 640x480 down to
        // 480x360 on a clear link.
        let measured = (self.sent_recent.len() == SENT_INTERVALS).then_some(self.sent);
        if measured
            .flatten()
            .is_none_or(|sent| bps >= sent * under || bps < sent * REMOTE_BOUND_FROM)
            || !(fell || dropping || self.remote.is_some_and(|(bound, _)| bps <= bound))
        {
            self.remote = None;
            return;
        }
        self.remote = Some((bps, now));
        // Growth starts from what is allowed, not from a number far above it.
        self.loss_based = self.loss_based.min(bps.max(self.min));
    }

    /// What was sent (all media, on the wire) over the last interval, bit/s.
    pub(crate) fn on_sent_rate(&mut self, bps: f64) {
        if bps.is_finite() && bps >= 0.0 {
            if self.sent_recent.len() == SENT_INTERVALS {
                self.sent_recent.pop_front();
            }
            self.sent_recent.push_back(bps);
            self.sent = Some(self.sent_recent.iter().sum::<f64>() / self.sent_recent.len() as f64);
        }
    }

    /// What the path delivered of all our media, bit/s, as the receiver's reports tell it
    /// (see `session::delivered`).
    pub(crate) fn on_delivered_rate(&mut self, now: Instant, bps: f64) {
        if bps.is_finite() && bps >= 0.0 {
            self.delivered = Some((bps, now));
        }
    }

    /// A receiver report's loss fraction (0..=1) for what we sent since its last one, and
    /// how many packets that fraction is of, when known.
    pub(crate) fn on_loss_report(
        &mut self,
        now: Instant,
        fraction_lost: f64,
        packets: Option<u32>,
    ) {
        let since = self
            .last_report
            .map_or(Duration::from_secs(1), |at| {
                now.saturating_duration_since(at)
            })
            .min(Duration::from_secs(1));
        self.last_report = Some(now);
        if fraction_lost.is_nan() {
            return;
        }
        let fraction_lost = fraction_lost.clamp(0.0, 1.0);
        self.last_loss = fraction_lost;
        // What congestion added to the loss the path had before this report.
        let floor = self.loss_floor();
        let added = fraction_lost - floor;
        let noise = noise(floor, packets);
        if self.in_fall_shadow(now) {
            // Of what was sent before the last fall took hold: it may show the path
            // delivered less than that fall took (see `fall`), and says nothing else.
            if self.falls(added - noise) {
                self.fall(now, added);
            }
            self.streak = 0;
            return;
        }
        let smoothed = self
            .smoothed_loss
            .map_or(fraction_lost, |s| s + SMOOTHING * (fraction_lost - s));
        self.smoothed_loss = Some(smoothed);
        if (STEADY_LOSS..=LOSS_HIGH).contains(&smoothed) {
            self.lossy_since.get_or_insert(now);
        } else {
            self.lossy_since = None;
        }
        if self.recent_loss.len() == FLOOR_REPORTS {
            self.recent_loss.pop_front();
        }
        self.recent_loss.push_back(smoothed);
        if self
            .learned_floor
            .is_some_and(|learned| smoothed < learned / 2.0)
        {
            // The path lost less of itself lately: the least of recent reports is the floor.
            self.learned_floor = None;
        }
        if self.judge_fall(now, fraction_lost) {
            self.streak = 0;
            return;
        }
        let grows = smoothed - floor < LOSS_LOW + noise * SMOOTHED_NOISE && added < SPIKE + noise;
        if self.falls(added - noise) {
            self.fall(now, added);
        } else if grows {
            self.grow(since);
        } else {
            self.streak = 0;
        }
        self.loss_based = self.loss_based.clamp(self.min, self.max);
    }

    /// Most retransmissions sent lately were lost: a policer's bucket ran dry, while the
    /// media's loss (2–4 % a window, as on a lossy path) neither falls nor stops growth. The
    /// estimate falls `DRY_CUT` under what was sent, or to what the receiver measured, if
    /// less. A path known to lose steadily loses copies too, and a fall already under way
    /// answers the same loss. A fall that did not help is undone (see `judge_fall`).
    pub(crate) fn on_copies_lost(&mut self, now: Instant) {
        if self.in_fall_shadow(now) || self.loses_steadily(now) || self.learned_floor.is_some() {
            return;
        }
        tracing::debug!("copies lost: the path is full");
        self.fall(now, DRY_CUT);
        self.loss_based = self.loss_based.clamp(self.min, self.max);
    }

    /// Loss measured sooner than receiver reports come (from NACKs, over a quarter second or
    /// so), and how many packets it is of: it can make the estimate fall, and nothing else.
    pub(crate) fn on_early_loss(&mut self, now: Instant, fraction_lost: f64, packets: Option<u32>) {
        if fraction_lost.is_nan() {
            return;
        }
        let floor = self.loss_floor();
        let added = fraction_lost.clamp(0.0, 1.0) - floor;
        let evidence = added - noise(floor.max(EARLY_NOISE_FLOOR), packets);
        if self.fell_short(now, evidence) {
            self.fall_further(now, added);
        } else if self.falls(evidence) {
            self.fall(now, added);
        }
        self.loss_based = self.loss_based.clamp(self.min, self.max);
    }

    /// Whether the last fall was not enough: a window of packets sent after it took hold
    /// lost more than `FELL_SHORT` of them. A fall on loss alone keeps half, and a link that
    /// narrowed to a sixth (2.6 Mbit/s sent, then 400 kbit/s) lost all of what followed at
    /// the half for 1.3 s, until a receiver report told what got through.
    fn fell_short(&self, now: Instant, evidence: f64) -> bool {
        evidence > FELL_SHORT
            && self.loss_based > self.fell_from * FURTHER_LEAST
            && self.in_fall_shadow(now)
            && self
                .last_fall
                .is_some_and(|at| now.saturating_duration_since(at) >= AFTER_FALL_WINDOW + self.rtt)
    }

    /// Falls again by the loss of packets sent since the last fall, by half at most; the
    /// reports of what was sent before stay in its shadow.
    fn fall_further(&mut self, now: Instant, added: f64) {
        let before = self.loss_based;
        self.loss_based = before * (1.0 - added).max(MAX_FALL_FROM_LOSS);
        self.link = Some(self.loss_based / UNDER_LINK);
        self.last_fall = Some(now);
        tracing::debug!(
            "estimate falls further, the last fall was not enough: {} kbit/s",
            self.loss_based as u64 / 1000
        );
    }

    /// Counts a report after a fall, past its shadow; when enough came, judges the fall.
    /// True when it was undone: the loss stayed though far less was sent, so it is the
    /// path's own. It becomes the floor, the estimate returns to where it was, and the path
    /// counts as losing steadily from now on (see `STEADY_FOR`).
    fn judge_fall(&mut self, now: Instant, fraction_lost: f64) -> bool {
        let Some(check) = self.check.as_mut() else {
            return false;
        };
        check.losses.push(fraction_lost);
        if check.losses.len() < CHECK_REPORTS {
            return false;
        }
        let check = self.check.take().expect("a check is under way");
        let loss = check.losses.iter().sum::<f64>() / check.losses.len() as f64;
        let sent_cut = self
            .sent
            .is_some_and(|sent| sent <= check.sent_before * CHECK_SENT_CUT);
        // Loss as it was, in every report: congestion that a fall answered leaves clean
        // reports behind it, and loss unknown before the fall proves nothing.
        let stayed = (LEARNED_FLOOR_MIN..=FLOOR_MAX).contains(&check.loss_before)
            && (LEARNED_FLOOR_MIN..=FLOOR_MAX).contains(&loss)
            && loss >= check.loss_before * CHECK_LOSS_STAYED
            && check
                .losses
                .iter()
                .all(|&l| l >= check.loss_before * CHECK_EACH_STAYED);
        if !(sent_cut && stayed) {
            return false;
        }
        tracing::debug!(
            "loss of {:.1} % stayed after a fall: the path's own; back to {} kbit/s",
            loss * 100.0,
            check.before_bps as u64 / 1000
        );
        self.learned_floor = Some(loss);
        self.smoothed_loss = Some(loss);
        self.lossy_since.get_or_insert(now);
        self.link = None;
        self.loss_based = self.loss_based.max(check.before_bps);
        true
    }

    /// Whether loss this far above the floor, beyond what chance explains, is congestion.
    fn falls(&self, added: f64) -> bool {
        let near_link = self
            .link
            .is_some_and(|link| self.loss_based >= link * NEAR_LINK);
        added > LOSS_HIGH || (near_link && added >= LOSS_LOW)
    }

    /// Whether a fall was so recent that reports still describe what was sent before it.
    fn in_fall_shadow(&self, now: Instant) -> bool {
        self.last_fall
            .is_some_and(|at| now.saturating_duration_since(at) < FALL_SPACING + self.rtt)
    }

    /// Falls on a loss of `added` above the floor (a loss fraction, or a share to go under
    /// what was sent: the two are the same cut).
    fn fall(&mut self, now: Instant, added: f64) {
        self.streak = 0;
        self.lossy_since = None;
        if self.in_fall_shadow(now) {
            // Only what the receiver measured since the last fall takes it lower.
            let since_fall = self
                .delivered
                .filter(|(_, at)| self.last_fall.is_some_and(|fell| *at > fell));
            if let Some((bps, _)) = since_fall {
                let link = bps.max(self.small_loss_floor(added) / UNDER_LINK);
                if link * UNDER_LINK < self.loss_based {
                    self.link = Some(link);
                    self.loss_based = link * UNDER_LINK;
                }
            }
            return;
        }
        // What got through, a little under: the path's rate, with room to drain the queue a
        // burst left behind. What the receiver says it got, when it said so lately, is
        // nearest: retransmissions and keyframes swell what was sent, and a full path drops
        // them first. Otherwise it is what was sent over the report's interval (measured
        // leaving: a degraded encoder sends less than it may) less the loss, but no less
        // than half: a short window's loss (NACKs over a quarter second) can be near total
        // while the path still carries a good part. A measurement from before a path
        // narrowed is more than that guess: the guess goes. The estimate never rises by
        // falling.
        let before_bps = self.loss_based;
        let loss_before = self.smoothed_loss.unwrap_or(0.0);
        let sending = self.sent.unwrap_or(self.loss_based);
        let guess = sending * (1.0 - added.max(0.0));
        let measured = self
            .delivered
            .filter(|(_, at)| now.saturating_duration_since(*at) <= DELIVERED_FRESH_FOR)
            .map(|(bps, _)| bps);
        let delivered = match measured {
            Some(bps) if bps <= guess => bps,
            _ => guess.max(self.loss_based * MAX_FALL_FROM_LOSS),
        };
        let link = delivered.max(self.small_loss_floor(added) / UNDER_LINK);
        self.link = Some(link);
        self.loss_based = (link * UNDER_LINK).min(self.loss_based);
        // The loss that made it fall is answered: what comes after is judged afresh, and
        // tells whether the fall helped. A fall while one is judged joins it: what follows
        // is judged against the first one's start.
        self.smoothed_loss = Some(self.loss_floor());
        self.last_fall = Some(now);
        self.fell_from = before_bps;
        self.check.get_or_insert(FallCheck {
            before_bps,
            loss_before,
            sent_before: sending,
            losses: Vec::new(),
        });
    }

    /// How low a fall on a loss of `added` may go: a loss under `LOSS_HIGH` takes the
    /// estimate down by its own share at most. The receiver got nearly all that was sent,
    /// so what it got tells what was sent, not what the path carries: after a step down, an
    /// encoder sending 186 kbit/s of an estimate of 391 lost one packet of 23, and the
    /// estimate fell to 177 kbit/s on a 400 kbit/s link. A heavy loss says the path carried
    /// what got through, and no floor holds it.
    fn small_loss_floor(&self, added: f64) -> f64 {
        if added < LOSS_HIGH {
            self.loss_based * (1.0 - added.max(0.0))
        } else {
            0.0
        }
    }

    fn grow(&mut self, since: Duration) {
        let secs = since.as_secs_f64();
        let near_link = self
            .link
            .filter(|&link| self.loss_based >= link * NEAR_LINK);
        let (grown, headroom) = match near_link {
            Some(link) => {
                let step = (link * NEAR_LINK_GROWTH).max(NEAR_LINK_MIN_GROWTH);
                (self.loss_based + step * secs, NEAR_LINK_HEADROOM)
            }
            None => {
                let factor =
                    (GROWTH_PER_SECOND + GROWTH_SPEEDUP * f64::from(self.streak)).min(GROWTH_MAX);
                (
                    self.loss_based * factor.powf(secs) + 1000.0 * secs,
                    SENT_HEADROOM,
                )
            }
        };
        self.streak = self.streak.saturating_add(1);
        let ceiling = self
            .sent
            .map_or(f64::INFINITY, |sent| sent * headroom + 50_000.0);
        self.loss_based = grown.min(ceiling).max(self.loss_based);
        let sent = self.sent.unwrap_or(self.loss_based);
        if self
            .link
            .is_some_and(|link| self.loss_based.min(sent) > link * LINK_FORGOTTEN)
        {
            // The path carries more now than when it last dropped: what went out, not only
            // what was allowed, went well past it without loss. Multiplicative growth
            // starts over from its first pace: the clean reports near that rate said
            // nothing about the path far above it.
            self.link = None;
            self.streak = 0;
        }
    }

    /// The least smoothed loss of recent reports (none yet: none).
    fn loss_floor(&self) -> f64 {
        let least = if self.recent_loss.is_empty() {
            0.0
        } else {
            self.recent_loss.iter().copied().fold(FLOOR_MAX, f64::min)
        };
        least.max(self.learned_floor.unwrap_or(0.0)).min(FLOOR_MAX)
    }

    /// Starts again from `bps` at `now`, forgetting the rate a fall found (video is tried
    /// again after the audio-only fallback: audio alone said nothing about the path above
    /// it). The receiver's estimate starts over too, from the little that arrives, and grows
    /// 8 % a second: for a while it says nothing about the path, and loss is what tells.
    pub(crate) fn restart_at(&mut self, now: Instant, bps: f64) {
        self.loss_based = bps.clamp(self.min, self.max);
        self.link = None;
        self.streak = 0;
        self.remote = None;
        self.last_remote = None;
        self.forget_ceiling();
        self.remote_ignored_until = Some(now + REMOTE_IGNORED_AFTER_RESTART);
    }

    /// A probe found the path carries `bps` (see `adapt::probe`): the estimate goes to
    /// `share` of it, if that is more. The rate the last fall found is forgotten, and so is a
    /// receiver's estimate that bounded ours: both are of the path before it came back.
    pub(crate) fn on_probe_held(&mut self, bps: f64, share: f64) {
        let held = (bps * share).clamp(self.min, self.max);
        if held > self.loss_based {
            self.loss_based = held;
            self.link = None;
            self.streak = 0;
            self.remote = None;
            self.check = None;
        }
    }

    /// A probe's finding is taken back: the estimate goes no higher than `bps`.
    pub(crate) fn undo_probe(&mut self, bps: f64) {
        self.loss_based = self.loss_based.min(bps).clamp(self.min, self.max);
    }

    /// A new upper bound (the host changed `max_video_bitrate_kbps`).
    #[cfg(test)]
    pub(crate) fn set_max(&mut self, max: f64) {
        self.max = max.max(self.min);
        self.loss_based = self.loss_based.min(self.max);
    }
}

/// How far an early loss fraction of `packets` stands above the chance spread a path with no
/// loss of its own shows (what [`Estimate::on_early_loss`] allows for before anything is
/// known of the path): of two measures of a window, the one that says more.
pub(crate) fn early_loss_evidence(fraction: f64, packets: u32) -> f64 {
    fraction - noise(EARLY_NOISE_FLOOR, Some(packets))
}

/// How far the loss of a window of `packets` may sit above the path's `floor` by chance alone:
/// three standard deviations of a binomial at the floor's probability. A path that loses
/// nothing of itself has no chance loss: what a policer drops is all congestion. A quarter second of NACKs, 20 packets, on a path that loses 3 %: 11.4 points; one
/// such window in fifty loses 15 % by chance, and NACK windows close four times a second.
/// None (a count not known): no allowance.
fn noise(floor: f64, packets: Option<u32>) -> f64 {
    match packets {
        Some(n) if n > 0 => {
            let p = floor.clamp(0.0, FLOOR_MAX);
            3.0 * (p * (1.0 - p) / f64::from(n)).sqrt()
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn an_estimate_the_receiver_repeats_is_a_ceiling_it_sets() {
        let t0 = Instant::now();
        let mut e = Estimate::new(900_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(900_000.0);
        }
        // Far under what is sent and not falling: not a bound...
        e.on_remb(t0, 300_000.0);
        assert_eq!(e.target(t0), 900_000.0);
        // ... until it comes the same again: an SFU's cap, which Janus repeats every 5 s.
        e.on_remb(t0 + secs(5.0), 301_000.0);
        assert_eq!(e.target(t0 + secs(5.0)), 301_000.0);
        assert_eq!(e.target(t0 + secs(16.0)), 301_000.0);
        // It holds while repeated, though less is sent under it now.
        for _ in 0..3 {
            e.on_sent_rate(250_000.0);
        }
        e.on_remb(t0 + secs(10.0), 301_000.0);
        assert_eq!(e.target(t0 + secs(21.0)), 301_000.0);
        // It goes when the receiver stops saying it, or says something else.
        assert_eq!(e.target(t0 + secs(22.5)), 900_000.0);
        e.on_remb(t0 + secs(25.0), 2_000_000.0);
        assert_eq!(e.target(t0 + secs(25.0)), 900_000.0);
        // A value repeated while less than it is sent and allowed (video stopped, the receiver
        // repeating its last word) caps nothing.
        e.on_remb(t0 + secs(30.0), 1_000_000.0);
        e.on_remb(t0 + secs(35.0), 1_000_000.0);
        assert!(e.ceiling(t0 + secs(35.0)).is_none());
        // One repeated while less is sent under it but more allowed (simulcast's top layer
        // stopped under Janus's cap) is the cap still.
        let mut e = Estimate::new(900_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(250_000.0);
        }
        // Janus's start: a quarter, a third, half and all of its cap at once.
        for remb in [75_000.0, 100_000.0, 150_000.0, 300_000.0] {
            e.on_remb(t0, remb);
        }
        e.on_remb(t0 + secs(5.0), 300_000.0);
        assert_eq!(e.ceiling(t0 + secs(5.0)), Some(300_000.0));
        assert_eq!(e.target(t0 + secs(5.0)), 300_000.0);
        // Said again sooner than its spacing, it holds.
        e.on_remb(t0 + secs(6.0), 300_000.0);
        assert_eq!(e.ceiling(t0 + secs(6.0)), Some(300_000.0));
        // Nor one said every second, held or not: that receiver estimates.
        let mut e = Estimate::new(900_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(3_000_000.0);
        }
        for i in 0..10 {
            e.on_remb(t0 + secs(f64::from(i)), 1_000_000.0);
        }
        assert!(e.ceiling(t0 + secs(10.0)).is_none());
        // A receiver's estimate that moves (it follows what arrives) never is one.
        let mut e = Estimate::new(900_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(3_000_000.0);
        }
        for i in 0..10 {
            e.on_remb(t0 + secs(f64::from(i)), 1_000_000.0 * 1.08f64.powi(i));
        }
        assert!(e.ceiling(t0 + secs(10.0)).is_none());
    }

    #[test]
    fn a_path_losing_a_little_of_everything_loses_steadily_until_a_fall() {
        let t0 = Instant::now();
        let mut e = Estimate::new(2_000_000.0, 50_000.0, 10_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(2_000_000.0);
        }
        e.on_loss_report(t0 + secs(1.0), 0.0, Some(500));
        for i in 2..=8 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.03, Some(500));
            // A policed link's first loss looks the same: not yet.
            assert_eq!(e.loses_steadily(t0 + secs(f64::from(i))), i == 8, "{i}");
        }
        assert!(e.last_fall().is_none());
        // A fall: the path filled, and what it loses now is not its own.
        e.on_early_loss(t0 + secs(8.5), 0.4, Some(200));
        assert!(!e.loses_steadily(t0 + secs(8.5)));
        // The sender follows the fall, and the loss stays: the path's own. Five seconds
        // after the last fall, with the loss as it was, the path loses steadily again.
        for _ in 0..3 {
            e.on_sent_rate(1_200_000.0);
        }
        for i in 9..=19 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.03, Some(500));
        }
        let (fell, _) = e.last_fall().expect("it fell");
        assert!(fell < t0 + secs(13.0));
        assert!(!e.loses_steadily(fell + secs(5.0)));
        assert!(e.loses_steadily(t0 + secs(19.0)));
        // Much loss is no longer a little.
        e.on_loss_report(t0 + secs(20.0), 0.3, Some(500));
        assert!(!e.loses_steadily(t0 + secs(20.0)));
    }

    #[test]
    fn clean_reports_grow_it_faster_each_time() {
        let t0 = Instant::now();
        let mut e = Estimate::new(500_000.0, 50_000.0, 10_000_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.0, None);
        // 8 % for the first second (and 1 kbit/s).
        assert!((e.target(t0) - 541_000.0).abs() < 1.0);
        for i in 2..=10 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.0, None);
        }
        // 1.08 * 1.12 * ... * 1.44: about 9.7 times in 10 s.
        let grown = e.target(t0);
        assert!((4_800_000.0..4_900_000.0).contains(&grown), "{grown}");
    }

    #[test]
    fn it_grows_no_further_than_half_again_what_was_sent() {
        let t0 = Instant::now();
        let mut e = Estimate::new(500_000.0, 50_000.0, 5_000_000.0);
        e.on_sent_rate(200_000.0);
        for i in 1..=10 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.0, None);
        }
        // Held at 1.5 * 200k + 50k, but never lowered by it.
        assert_eq!(e.target(t0), 500_000.0);
        // The sent rate is the mean of the last three measurements.
        for _ in 0..3 {
            e.on_sent_rate(450_000.0);
        }
        for i in 11..=20 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.0, None);
        }
        assert_eq!(e.target(t0), 725_000.0);
        e.on_sent_rate(0.0);
        e.on_loss_report(t0 + secs(21.0), 0.0, None);
        assert_eq!(e.target(t0), 725_000.0);
        // One short interval that sent nothing is not the rate a fall starts from: the mean
        // of 450k, 450k and 0, with half lost, a little under; with the loss alone to go
        // by, it keeps half of what it was.
        e.on_loss_report(t0 + secs(22.0), 0.5, None);
        assert_eq!(e.target(t0), 725_000.0 * 0.5 * 0.95);
        let mut e = Estimate::new(200_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(450_000.0);
        }
        e.on_sent_rate(0.0);
        e.on_loss_report(t0, 0.5, None);
        assert_eq!(e.target(t0), 300_000.0 * 0.5 * 0.95);
    }

    #[test]
    fn a_fall_goes_no_higher_than_what_the_receiver_says_it_got() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        // 1.5 Mbit/s went out (media, repairs, a keyframe) into an 800 kbit/s path, and the
        // report says only 20 % of the media was lost (repairs filled the rest).
        for _ in 0..3 {
            e.on_sent_rate(1_500_000.0);
        }
        e.on_delivered_rate(t0 + secs(1.0), 800_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.2, None);
        assert_eq!(e.target(t0), 800_000.0 * 0.95);
        // Reports that follow within the fall's shadow take it lower only by what the
        // receiver measured since.
        e.on_loss_report(t0 + secs(1.5), 0.5, None);
        assert_eq!(e.target(t0), 800_000.0 * 0.95);
        e.on_delivered_rate(t0 + secs(1.6), 700_000.0);
        e.on_loss_report(t0 + secs(1.6), 0.3, None);
        assert_eq!(e.target(t0), 700_000.0 * 0.95);
        // ... and do not hold its growth once the shadow passed.
        e.on_loss_report(t0 + secs(3.0), 0.0, None);
        assert!(e.target(t0) > 700_000.0 * 0.95);
        // A measurement from before the path narrowed is more than the sent rate lets
        // through: the loss alone says how far, and it keeps at least half.
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(1_000_000.0);
        }
        e.on_delivered_rate(t0, 1_000_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.4, None);
        assert!((e.target(t0) - 600_000.0 * 0.95).abs() < 1.0);
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(1_000_000.0);
        }
        e.on_delivered_rate(t0, 1_000_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.9, None);
        assert!((e.target(t0) - 500_000.0 * 0.95).abs() < 1.0);
        // One too old bounds nothing.
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..3 {
            e.on_sent_rate(1_000_000.0);
        }
        e.on_delivered_rate(t0, 100_000.0);
        e.on_loss_report(t0 + secs(3.0), 0.4, None);
        assert!((e.target(t0) - 600_000.0 * 0.95).abs() < 1.0);
    }

    #[test]
    fn a_small_loss_takes_it_down_by_its_share_not_to_what_little_was_sent() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        // Clean reports (the path loses nothing of its own), then a fall to what got
        // through of a full path: 412 kbit/s.
        for i in 1..=3 {
            e.on_loss_report(t0 + secs(0.2 * f64::from(i)), 0.0, Some(100));
        }
        for _ in 0..3 {
            e.on_sent_rate(2_100_000.0);
        }
        e.on_delivered_rate(t0 + secs(1.0), 412_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.8, None);
        assert_eq!(e.target(t0), 412_000.0 * 0.95);
        // The encoder stepped down and sends 186 kbit/s, all but one packet of 23 of it
        // delivered; in the fall's shadow and after it, that is a fall of 4.3 %.
        for (at, bps) in [(1.9, 186_000.0), (3.2, 190_000.0)] {
            let before = e.target(t0);
            e.on_delivered_rate(t0 + secs(at), bps);
            e.on_loss_report(t0 + secs(at), 1.0 / 23.0, Some(23));
            let after = e.target(t0);
            assert!(
                (after - before * (1.0 - 1.0 / 23.0)).abs() < 1.0,
                "{before} -> {after}"
            );
        }
        // A heavy loss still falls to what got through.
        e.on_delivered_rate(t0 + secs(4.5), 150_000.0);
        e.on_loss_report(t0 + secs(4.5), 0.3, None);
        assert_eq!(e.target(t0), 150_000.0 * 0.95);
    }

    #[test]
    fn moderate_loss_holds_and_heavy_loss_falls_to_what_got_through() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.0, None);
        assert!((e.target(t0) - 1_081_000.0).abs() < 1.0);
        e.on_loss_report(t0 + secs(2.0), 0.05, None);
        assert!((e.target(t0) - 1_081_000.0).abs() < 1.0, "held");
        e.on_loss_report(t0 + secs(3.0), 0.5, None);
        // Half got through: the path carries 540.5k; a little under that.
        assert!((e.target(t0) - 513_475.0).abs() < 1.0);
        // Reports right after a fall describe what was sent before it: no second fall.
        e.on_loss_report(t0 + secs(3.1), 0.5, None);
        assert!((e.target(t0) - 513_475.0).abs() < 1.0);
        e.on_loss_report(t0 + secs(4.2), 0.2, None);
        assert!((e.target(t0) - 390_241.0).abs() < 1.0);
    }

    #[test]
    fn early_loss_only_ever_makes_it_fall() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        e.on_early_loss(t0, 0.0, None);
        e.on_early_loss(t0, 0.05, None);
        assert_eq!(e.target(t0), 1_000_000.0);
        e.on_early_loss(t0 + secs(0.5), 0.4, None);
        assert!((e.target(t0) - 570_000.0).abs() < 1.0);
        // The receiver report that follows speaks of the same loss: no second fall.
        e.on_loss_report(t0 + secs(1.0), 0.4, None);
        assert!((e.target(t0) - 570_000.0).abs() < 1.0);
    }

    #[test]
    fn a_fall_that_was_not_enough_falls_further_on_what_was_sent_after_it() {
        let t0 = Instant::now();
        // 2.6 Mbit/s going out when the path narrows to a sixth: nearly all is lost.
        let mut e = Estimate::new(2_600_000.0, 50_000.0, 5_000_000.0);
        e.on_rtt(Duration::from_millis(20));
        e.on_sent_rate(2_600_000.0);
        e.on_early_loss(t0 + secs(3.0), 0.95, Some(60));
        let fallen = e.target(t0 + secs(3.0));
        assert!((fallen - 2_600_000.0 * MAX_FALL_FROM_LOSS * UNDER_LINK).abs() < 1.0);
        // A window closing at once is of packets sent before the fall: answered already.
        e.on_early_loss(t0 + secs(3.1), 1.0, Some(40));
        assert_eq!(e.target(t0 + secs(3.1)), fallen);
        // One of packets sent after it, lost as much: half again.
        e.on_early_loss(t0 + secs(3.35), 1.0, Some(40));
        let further = e.target(t0 + secs(3.35));
        assert!(
            (further - fallen * MAX_FALL_FROM_LOSS).abs() < 1.0,
            "{further}"
        );
        // Under a quarter of where it started, what the pacer still sends of the old rate is
        // lost too: a receiver report tells the rest.
        e.on_early_loss(t0 + secs(3.7), 1.0, Some(40));
        assert_eq!(e.target(t0 + secs(3.7)), further);

        // A policer the fall went under still drops some while its bucket refills.
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        e.on_rtt(Duration::from_millis(20));
        e.on_sent_rate(1_000_000.0);
        e.on_early_loss(t0 + secs(3.0), 0.3, Some(60));
        let fallen = e.target(t0 + secs(3.0));
        assert!(fallen < 1_000_000.0);
        e.on_early_loss(t0 + secs(3.35), 0.25, Some(40));
        assert_eq!(e.target(t0 + secs(3.35)), fallen);
    }

    #[test]
    fn near_the_rate_a_fall_found_growth_is_additive_and_loss_falls() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.0, None);
        e.on_loss_report(t0 + secs(2.0), 0.26, None);
        // The path delivered 1.081M * 0.74 = 799.9k; from 760k on, 3 % of that a second.
        let fell = e.target(t0);
        assert!((fell - 759_943.0).abs() < 1.0, "{fell}");
        // The loss that made it fall is answered: growth resumes with the next clean report,
        // 5 % of that rate a second (five seconds of it).
        // (The first report after the fall's shadow, 1.2 s on, grows by a second's worth.)
        for i in 3..=7 {
            e.on_loss_report(t0 + secs(f64::from(i) + 0.2), 0.0, None);
        }
        let step = 799_940.0 * 0.05;
        assert!(
            (e.target(t0) - (fell + 5.0 * step)).abs() < 10.0,
            "{}",
            e.target(t0)
        );
        // A little loss there is a fall, not a hold.
        e.on_loss_report(t0 + secs(7.7), 0.03, None);
        assert!(e.target(t0) < fell + 5.0 * step);
        // Far above that rate without loss, it is forgotten: growth is multiplicative again.
        let mut free = Estimate::new(1_000_000.0, 50_000.0, 50_000_000.0);
        free.on_loss_report(t0 + secs(1.0), 0.0, None);
        free.on_loss_report(t0 + secs(2.0), 0.26, None);
        for i in 3..=40 {
            free.on_loss_report(t0 + secs(f64::from(i)), 0.0, None);
        }
        assert!(free.link.is_none());
        assert!(free.target(t0) > 2_000_000.0);
    }

    #[test]
    fn loss_the_path_has_at_any_rate_does_not_hold_the_rate_down() {
        let t0 = Instant::now();
        let mut e = Estimate::new(500_000.0, 50_000.0, 5_000_000.0);
        // A radio link losing 3 to 5 % whatever is sent: after the first reports it grows.
        for i in 1..=20 {
            e.on_loss_report(
                t0 + secs(f64::from(i)),
                0.03 + 0.02 * f64::from(i % 2),
                None,
            );
        }
        let grown = e.target(t0 + secs(20.0));
        assert!(grown > 1_300_000.0, "{grown}");
        // Congestion on top of it (the floor stays 3 %): 40 % more loss, a fall.
        e.on_loss_report(t0 + secs(21.0), 0.43, None);
        assert!(e.target(t0 + secs(21.0)) < grown * 0.6);
    }

    #[test]
    fn copies_lost_make_a_clean_path_fall_under_what_was_sent_but_not_a_lossy_one() {
        let t0 = Instant::now();
        // Clean reports while 1 Mbit/s goes out: the policer's bucket is draining.
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        reports(&mut e, t0, 1.0, 3, 0.0, 1_000_000.0);
        let before = e.target(t0 + secs(3.0));
        e.on_copies_lost(t0 + secs(3.5));
        let fallen = e.target(t0 + secs(3.5));
        let expected = 1_000_000.0 * (1.0 - DRY_CUT) * UNDER_LINK;
        assert!((fallen - expected).abs() < 1.0, "{before} {fallen}");
        // The same loss again, within the fall's shadow: answered already.
        e.on_copies_lost(t0 + secs(3.7));
        assert_eq!(e.target(t0 + secs(3.7)), fallen);

        // A path that loses 3 % of everything, steadily, loses copies as often.
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        reports(&mut e, t0, 1.0, 8, 0.03, 1_000_000.0);
        assert!(e.loses_steadily(t0 + secs(8.0)));
        let before = e.target(t0 + secs(8.0));
        e.on_copies_lost(t0 + secs(8.5));
        assert_eq!(e.target(t0 + secs(8.5)), before);
    }

    /// Reports once a second from `from` s for `n` s at `loss`, `sent` going out.
    fn reports(e: &mut Estimate, t0: Instant, from: f64, n: u32, loss: f64, sent: f64) {
        for i in 0..n {
            e.on_sent_rate(sent);
            e.on_loss_report(t0 + secs(from + f64::from(i)), loss, Some(100));
        }
    }

    #[test]
    fn loss_a_fall_did_not_take_away_is_the_paths_own() {
        let t0 = Instant::now();
        let run = |after_fall: f64| {
            let mut e = Estimate::new(2_000_000.0, 50_000.0, 5_000_000.0);
            // A clean first report pins the least of recent losses at zero for a while,
            // whatever the path loses after it ...
            reports(&mut e, t0, 1.0, 1, 0.0, 2_000_000.0);
            reports(&mut e, t0, 2.0, 2, 0.04, 2_000_000.0);
            let before = e.target(t0);
            // ... so a quarter second of NACKs losing 16 % (more than chance at 2 %) is
            // taken for congestion.
            e.on_early_loss(t0 + secs(3.5), 0.16, Some(100));
            let fallen = e.target(t0);
            assert!(fallen < before * 0.9, "{before} {fallen}");
            // Less goes out; three reports past the shadows of its falls tell what it did
            // (loss that stays near the rate a fall found makes it fall again).
            reports(&mut e, t0, 5.0, 5, after_fall, fallen * 0.95);
            (before, e)
        };
        // The loss stayed: the path's own. The estimate is back, and 4 % grows it.
        let (before, mut e) = run(0.04);
        assert!(e.target(t0) >= before, "{}", e.target(t0));
        assert!((e.loss_floor() - 0.04).abs() < 1e-9);
        reports(&mut e, t0, 10.0, 5, 0.04, before);
        assert!(e.target(t0) > before * 1.2, "{}", e.target(t0));
        // The loss went away: it was congestion, and the estimate stays down.
        let (before, e) = run(0.005);
        assert!(e.target(t0) < before * 0.9, "{}", e.target(t0));
        assert!(e.loss_floor() < 0.01);
    }

    #[test]
    fn a_short_window_before_any_report_allows_for_chance() {
        let t0 = Instant::now();
        let mut e = Estimate::new(800_000.0, 50_000.0, 5_000_000.0);
        // No report yet: 3 of 20 packets lost (15 %) may be a path losing 3 %.
        e.on_early_loss(t0, 0.15, Some(20));
        assert_eq!(e.target(t0), 800_000.0);
        // Half of them lost is not chance.
        e.on_early_loss(t0 + secs(0.25), 0.5, Some(20));
        assert!(e.target(t0) < 800_000.0);
    }

    #[test]
    fn loss_that_chance_explains_neither_holds_nor_fells_it() {
        let t0 = Instant::now();
        // Near the rate a fall found, a path that loses 3 % at random.
        let near = |packets| {
            let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
            for i in 1..=5 {
                e.on_loss_report(t0 + secs(f64::from(i)), 0.03, Some(100));
            }
            e.on_loss_report(t0 + secs(6.0), 0.3, Some(100));
            for i in 8..=12 {
                e.on_loss_report(t0 + secs(f64::from(i)), 0.03, Some(100));
            }
            let before = e.target(t0);
            // A quarter second of NACKs: 3 of 20 packets, 15 %. At a 3 % floor, one window
            // in fifty loses that much by chance.
            e.on_early_loss(t0 + secs(12.3), 0.15, packets);
            (before, e.target(t0))
        };
        let (before, after) = near(Some(20));
        assert_eq!(after, before);
        // Of 200 packets, 15 % is no chance: a fall.
        let (before, after) = near(Some(200));
        assert!(after < before * 0.95, "{before} {after}");
        // Not knowing how many, nothing is allowed for.
        let (before, after) = near(None);
        assert!(after < before, "{before} {after}");
        // Reports of 50 packets that lose 0 to 4 of them (3.5 % in all) grow it as clean ones would,
        // and each speeds growth up.
        let mut e = Estimate::new(500_000.0, 50_000.0, 20_000_000.0);
        for i in 1..=10 {
            let lost = [0.0, 0.08, 0.02, 0.04][i % 4];
            e.on_loss_report(t0 + secs(i as f64), lost, Some(50));
        }
        let grown = e.target(t0);
        assert!(grown > 2_000_000.0, "{grown}");
        // Counted as exact, the same reports hold it far lower.
        let mut e = Estimate::new(500_000.0, 50_000.0, 20_000_000.0);
        for i in 1..=10 {
            let lost = [0.0, 0.08, 0.02, 0.04][i % 4];
            e.on_loss_report(t0 + secs(i as f64), lost, None);
        }
        assert!(e.target(t0) < grown * 0.7, "{} {grown}", e.target(t0));
    }

    #[test]
    fn the_receivers_estimate_bounds_it_while_it_is_fresh() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        // Before anything was measured leaving, nothing bounds.
        e.on_remote_estimate(t0, 500_000.0);
        e.on_remote_estimate(t0, 300_000.0);
        assert_eq!(e.target(t0), 1_000_000.0);
        for _ in 0..SENT_INTERVALS {
            e.on_sent_rate(400_000.0);
        }
        // A first estimate is what arrived, and one that climbs lags behind: no bound.
        e.last_remote = None;
        e.on_remote_estimate(t0, 250_000.0);
        e.on_remote_estimate(t0, 400_000.0);
        assert_eq!(e.target(t0), 1_000_000.0);
        // One that fell is.
        e.on_remote_estimate(t0, 300_000.0);
        assert_eq!(e.target(t0 + secs(1.0)), 300_000.0);
        // Growth under the bound starts from the bound.
        e.on_loss_report(t0 + secs(1.0), 0.0, None);
        assert!(e.target(t0 + secs(1.0)) <= 300_000.0);
        e.on_remote_estimate(t0 + secs(2.0), 2_000_000.0);
        let free = e.target(t0 + secs(2.0));
        assert!((320_000.0..330_000.0).contains(&free), "{free}");
        // At or above what we send, just under it (what arrived of it), or far below it, it
        // bounds nothing.
        for _ in 0..SENT_INTERVALS {
            e.on_sent_rate(320_000.0);
        }
        e.on_remote_estimate(t0 + secs(2.5), 330_000.0);
        e.on_remote_estimate(t0 + secs(2.5), 300_000.0);
        // (Just under what we send does bound on a path that drops much.)
        let mut dropping = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        for _ in 0..SENT_INTERVALS {
            dropping.on_sent_rate(320_000.0);
        }
        dropping.on_loss_report(t0 + secs(1.0), 0.3, None);
        dropping.on_remote_estimate(t0 + secs(1.1), 300_000.0);
        assert_eq!(dropping.target(t0 + secs(1.1)), 300_000.0);
        e.on_loss_report(t0 + secs(3.0), 0.0, None);
        assert!(e.target(t0 + secs(3.0)) > 330_000.0);
        let grown = e.target(t0 + secs(3.0));
        e.on_remote_estimate(t0 + secs(3.5), 20_000.0);
        assert_eq!(e.target(t0 + secs(3.5)), grown);
        // A receiver that stopped estimating no longer bounds the growth.
        e.on_remote_estimate(t0 + secs(3.0), 250_000.0);
        e.on_remote_estimate(t0 + secs(3.0), 200_000.0);
        e.on_loss_report(t0 + secs(4.0), 0.0, None);
        assert_eq!(e.target(t0 + secs(4.0)), 200_000.0);
        e.on_loss_report(t0 + secs(9.0), 0.0, None);
        assert!(e.target(t0 + secs(9.0)) > 200_000.0);
    }

    #[test]
    fn it_stays_within_its_bounds_whatever_comes() {
        let t0 = Instant::now();
        let mut e = Estimate::new(10.0, 50_000.0, 800_000.0);
        assert_eq!(e.target(t0), 50_000.0);
        for i in 0..100 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.0, None);
        }
        assert_eq!(e.target(t0), 800_000.0);
        for i in 100..200 {
            e.on_loss_report(t0 + secs(f64::from(i)), 1.0, None);
        }
        assert_eq!(e.target(t0), 50_000.0);
        e.on_remote_estimate(t0, f64::NAN);
        e.on_loss_report(t0, f64::NAN, None);
        assert_eq!(e.target(t0), 50_000.0);
        e.set_max(40_000.0);
        assert_eq!(e.target(t0), 50_000.0);
    }
}
