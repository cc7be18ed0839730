//! The sending side's bandwidth estimate. What the receiver says about its path (REMB, or the
//! transport-wide delay-based estimate) is an upper bound; under it, a loss-based controller in
//! the manner of libwebrtc's send-side estimator follows the loss fraction the receiver reports:
//! below 2 % it grows 8 % a second, from 2 to 10 % it holds, above 10 % it falls to what the
//! path delivered. Unlike that one, the bands sit above the path's own loss floor (the least
//! smoothed loss of recent reports, at most 10 %): loss that is there whatever the rate (a
//! lossy radio link) is not congestion, and must not hold the rate down. Falls follow each
//! report; growth follows the smoothed loss, so that one lucky report does not count. Sans-IO:
//! every input brings its own time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Loss below this lets the estimate grow.
const LOSS_LOW: f64 = 0.02;
/// Loss above this makes it fall.
const LOSS_HIGH: f64 = 0.10;
/// Growth per second while loss is low.
const GROWTH_PER_SECOND: f64 = 1.08;
/// After a fall, the reports that follow still describe what was sent before it: one round
/// trip plus this passes before the next fall.
const FALL_SPACING: Duration = Duration::from_millis(300);
/// A receiver's own estimate older than this no longer bounds ours (it stopped sending one).
const REMOTE_ESTIMATE_LIFETIME: Duration = Duration::from_secs(5);
/// How many recent reports the loss floor is the least of (about 20 s of them).
const FLOOR_REPORTS: usize = 20;
/// The floor counts once this many reports came.
const FLOOR_AFTER: usize = 5;
/// Loss above this is never the path's floor: it is congestion, or a link not worth using.
const FLOOR_MAX: f64 = 0.10;
/// Weight of a new report in the smoothed loss (about three reports' memory).
const SMOOTHING: f64 = 0.3;
/// Growth stops on a single report this far above the floor, whatever the smoothed loss says.
const SPIKE: f64 = 0.05;

/// The estimate, in bits per second, of what the path carries for all our media.
#[derive(Debug, Clone)]
pub(crate) struct Estimate {
    loss_based: f64,
    min: f64,
    max: f64,
    remote: Option<(f64, Instant)>,
    last_report: Option<Instant>,
    last_fall: Option<Instant>,
    rtt: Duration,
    smoothed_loss: Option<f64>,
    /// Recent smoothed losses, oldest first.
    recent_loss: VecDeque<f64>,
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
            last_report: None,
            last_fall: None,
            rtt: Duration::from_millis(100),
            smoothed_loss: None,
            recent_loss: VecDeque::new(),
        }
    }

    /// The current estimate: the loss-based one, bounded by the receiver's when it has one.
    pub(crate) fn target(&self, now: Instant) -> f64 {
        let remote = self
            .remote
            .filter(|(_, at)| now.saturating_duration_since(*at) < REMOTE_ESTIMATE_LIFETIME)
            .map_or(f64::INFINITY, |(bps, _)| bps);
        self.loss_based.min(remote).clamp(self.min, self.max)
    }

    /// The latest round-trip time measured.
    pub(crate) fn on_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// What the receiver estimates its path carries (REMB, or the delay-based estimate of
    /// transport-wide feedback).
    pub(crate) fn on_remote_estimate(&mut self, now: Instant, bps: f64) {
        if bps.is_finite() && bps > 0.0 {
            self.remote = Some((bps, now));
            // Growth starts from what is allowed, not from a number far above it.
            self.loss_based = self.loss_based.min(bps.max(self.min));
        }
    }

    /// A receiver report's loss fraction (0..=1) for what we sent since its last one.
    pub(crate) fn on_loss_report(&mut self, now: Instant, fraction_lost: f64) {
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
        let smoothed = self
            .smoothed_loss
            .map_or(fraction_lost, |s| s + SMOOTHING * (fraction_lost - s));
        self.smoothed_loss = Some(smoothed);
        if self.recent_loss.len() == FLOOR_REPORTS {
            self.recent_loss.pop_front();
        }
        self.recent_loss.push_back(smoothed);
        // What congestion added to the loss the path has anyway.
        let floor = self.loss_floor();
        let added = fraction_lost - floor;
        if smoothed - floor < LOSS_LOW && added < SPIKE {
            self.loss_based *= GROWTH_PER_SECOND.powf(since.as_secs_f64());
            self.loss_based += 1000.0 * since.as_secs_f64();
        } else if added > LOSS_HIGH {
            let spaced = self
                .last_fall
                .is_none_or(|at| now.saturating_duration_since(at) >= FALL_SPACING + self.rtt);
            if spaced {
                // What got through, a little under: the path's rate, with room to drain the
                // queue a burst left behind.
                self.loss_based *= (1.0 - fraction_lost) * 0.95;
                self.last_fall = Some(now);
            }
        }
        self.loss_based = self.loss_based.clamp(self.min, self.max);
    }

    /// The least loss of recent reports, once there are enough of them.
    fn loss_floor(&self) -> f64 {
        if self.recent_loss.len() < FLOOR_AFTER {
            return 0.0;
        }
        self.recent_loss.iter().copied().fold(FLOOR_MAX, f64::min)
    }

    /// A new upper bound (the host changed `max_video_bitrate_kbps`).
    #[cfg(test)]
    pub(crate) fn set_max(&mut self, max: f64) {
        self.max = max.max(self.min);
        self.loss_based = self.loss_based.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn low_loss_grows_about_eight_percent_a_second() {
        let t0 = Instant::now();
        let mut e = Estimate::new(500_000.0, 50_000.0, 5_000_000.0);
        for i in 1..=10 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.0);
        }
        let grown = e.target(t0 + secs(10.0));
        // 500k * 1.08^10 = 1.079M, plus 1 kbit/s a second.
        assert!((1_070_000.0..1_100_000.0).contains(&grown), "{grown}");
    }

    #[test]
    fn moderate_loss_holds_and_heavy_loss_falls_to_what_got_through() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        e.on_loss_report(t0 + secs(1.0), 0.05);
        assert_eq!(e.target(t0 + secs(1.0)), 1_000_000.0);
        e.on_loss_report(t0 + secs(2.0), 0.5);
        assert!((e.target(t0) - 475_000.0).abs() < 1.0);
        // Reports right after a fall describe what was sent before it: no second fall.
        e.on_loss_report(t0 + secs(2.1), 0.5);
        assert!((e.target(t0) - 475_000.0).abs() < 1.0);
        e.on_loss_report(t0 + secs(3.0), 0.2);
        assert!((e.target(t0) - 361_000.0).abs() < 1.0);
    }

    #[test]
    fn loss_the_path_has_at_any_rate_does_not_hold_the_rate_down() {
        let t0 = Instant::now();
        let mut e = Estimate::new(500_000.0, 50_000.0, 5_000_000.0);
        // A radio link losing 3 to 5 % whatever is sent: after the first reports it grows.
        for i in 1..=20 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.03 + 0.02 * f64::from(i % 2));
        }
        let grown = e.target(t0 + secs(20.0));
        assert!(grown > 1_300_000.0, "{grown}");
        // Congestion on top of it (the floor stays 3 %): 40 % more loss, a fall.
        e.on_loss_report(t0 + secs(21.0), 0.43);
        assert!(e.target(t0 + secs(21.0)) < grown * 0.6);
    }

    #[test]
    fn the_receivers_estimate_bounds_it_while_it_is_fresh() {
        let t0 = Instant::now();
        let mut e = Estimate::new(1_000_000.0, 50_000.0, 5_000_000.0);
        e.on_remote_estimate(t0, 300_000.0);
        assert_eq!(e.target(t0 + secs(1.0)), 300_000.0);
        // Growth under the bound starts from the bound.
        e.on_loss_report(t0 + secs(1.0), 0.0);
        assert!(e.target(t0 + secs(1.0)) <= 300_000.0);
        e.on_remote_estimate(t0 + secs(2.0), 2_000_000.0);
        let free = e.target(t0 + secs(2.0));
        assert!((320_000.0..330_000.0).contains(&free), "{free}");
        // A receiver that stopped estimating no longer bounds the growth.
        e.on_remote_estimate(t0 + secs(3.0), 100_000.0);
        e.on_loss_report(t0 + secs(4.0), 0.0);
        assert_eq!(e.target(t0 + secs(4.0)), 100_000.0);
        e.on_loss_report(t0 + secs(9.0), 0.0);
        assert!(e.target(t0 + secs(9.0)) > 100_000.0);
    }

    #[test]
    fn it_stays_within_its_bounds_whatever_comes() {
        let t0 = Instant::now();
        let mut e = Estimate::new(10.0, 50_000.0, 800_000.0);
        assert_eq!(e.target(t0), 50_000.0);
        for i in 0..100 {
            e.on_loss_report(t0 + secs(f64::from(i)), 0.0);
        }
        assert_eq!(e.target(t0), 800_000.0);
        for i in 100..200 {
            e.on_loss_report(t0 + secs(f64::from(i)), 1.0);
        }
        assert_eq!(e.target(t0), 50_000.0);
        e.on_remote_estimate(t0, f64::NAN);
        e.on_loss_report(t0, f64::NAN);
        assert_eq!(e.target(t0), 50_000.0);
        e.set_max(40_000.0);
        assert_eq!(e.target(t0), 50_000.0);
    }
}
