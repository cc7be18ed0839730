//! Simulcast: which layers go out, and at what bitrate, for the video target of the moment.
//! Layers are served from the lowest up, so when the path narrows the top layer is the first
//! to stop (as libwebrtc's allocator does), and the lowest never stops (below it, the
//! audio-only fallback decides).
//!
//! A stopped layer also comes back on trial. The estimate grows only a little above what is
//! sent, and with a layer stopped little is sent: on a path that cleared, the target would
//! never reach what the layer needs. So after a while the layer is sent again for a few
//! seconds at its least; what it sends lets the estimate grow, and if the estimate falls
//! instead, the layer stops again and waits twice as long. (libwebrtc probes the path with
//! padding for the same reason.) A receiver that caps the bitrate is not probed past.

use std::time::{Duration, Instant};

use crate::media::encoder::default_video_bitrate_kbps;

/// The rids of the layers, the full size first: one letter each, as browsers use them.
pub(crate) const RIDS: [&str; 3] = ["f", "h", "q"];

/// Smallest side a layer is sent at.
const MIN_SIDE: u32 = 16;

/// A layer that stopped starts again only with this much more than its minimum to spare:
/// the hysteresis that keeps it from flapping at the edge.
const RESTART_MARGIN: f64 = 1.3;

/// The size of layer `index` (0 is full size; each next one halves both sides), even, and
/// never under 16 pixels a side.
pub(crate) fn layer_size((width, height): (u32, u32), index: usize) -> (u32, u32) {
    let side = |full: u32| ((full >> index) & !1).max(MIN_SIDE);
    (side(width), side(height))
}

/// What a layer needs at its size and frame rate: what looks good, and half that as the
/// least it is worth sending at.
fn start_bps((width, height): (u32, u32), fps: u32) -> f64 {
    f64::from(default_video_bitrate_kbps(width, height, fps)) * 1000.0
}

/// What all `layers` of a stream at `size` and `fps` start with together.
pub(crate) fn total_start_bps(size: (u32, u32), fps: u32, layers: usize) -> f64 {
    (0..layers)
        .map(|i| start_bps(layer_size(size, i), fps))
        .sum()
}

/// How long a stopped layer waits before its first trial; each failed trial doubles it, up to
/// `MAX_TRIAL_WAIT`.
const FIRST_TRIAL_WAIT: Duration = Duration::from_secs(4);
const MAX_TRIAL_WAIT: Duration = Duration::from_secs(32);
/// How long a trial lasts: long enough for a few receiver reports to let the estimate grow.
const TRIAL: Duration = Duration::from_secs(6);
/// A trial fails when the target falls under this share of what it was when it began.
const TRIAL_FAILS_UNDER: f64 = 0.85;

/// A stopped layer sent again to see whether the path takes it.
#[derive(Debug, Clone, Copy)]
struct Trial {
    layer: usize,
    until: Instant,
    from_bps: f64,
}

/// Splits a video target over the layers of one stream, remembering which layers were on.
#[derive(Debug)]
pub(crate) struct Allocator {
    on: Vec<bool>,
    /// When each layer stopped, while it is stopped.
    stopped_at: Vec<Option<Instant>>,
    trial: Option<Trial>,
    trial_wait: Duration,
}

impl Allocator {
    /// An allocator for `layers` layers, all on at first.
    pub(crate) fn new(layers: usize) -> Self {
        let layers = layers.max(1);
        Allocator {
            on: vec![true; layers],
            stopped_at: vec![None; layers],
            trial: None,
            trial_wait: FIRST_TRIAL_WAIT,
        }
    }

    /// The bitrate of each layer (index 0 is full size) for `target_bps` at `size` and `fps`,
    /// in bit/s, at `now`; `None` for a layer that stops. `ceiling_bps` is what a receiver
    /// allows video at most, when it says.
    pub(crate) fn allocate(
        &mut self,
        target_bps: f64,
        ceiling_bps: Option<f64>,
        size: (u32, u32),
        fps: u32,
        now: Instant,
    ) -> Vec<Option<f64>> {
        let n = self.on.len();
        let starts: Vec<f64> = (0..n)
            .map(|i| start_bps(layer_size(size, i), fps))
            .collect();
        let mins: Vec<f64> = starts.iter().map(|s| s / 2.0).collect();
        self.judge_trial(target_bps, now);
        // First each layer's minimum, lowest first; a layer above one that is off is off.
        let mut left = target_bps.max(0.0);
        let mut rates = vec![None; n];
        let lowest = n - 1;
        for i in (0..n).rev() {
            let needs = if self.on[i] {
                mins[i]
            } else {
                mins[i] * RESTART_MARGIN
            };
            let below_on = i == lowest || rates[i + 1].is_some();
            let mut on = i == lowest || (below_on && left >= needs);
            if !on && below_on && self.trial.is_none_or(|t| t.layer == i) {
                let sum_of_mins = mins[i..].iter().sum::<f64>();
                on = self.try_layer(i, target_bps, ceiling_bps, sum_of_mins, now);
            }
            if self.on[i] && !on {
                self.stopped_at[i] = Some(now);
            } else if on {
                self.stopped_at[i] = None;
            }
            self.on[i] = on;
            if on {
                // On trial, a layer gets its least even when the target does not cover it.
                let on_trial = self.trial.is_some_and(|t| t.layer == i);
                let given = if on_trial { mins[i] } else { mins[i].min(left) };
                rates[i] = Some(given);
                left = (left - given).max(0.0);
            }
        }
        // Then what is left: each lower layer up to its start rate, lowest first, and all the
        // rest to the top layer that is on.
        let top = rates.iter().position(Option::is_some).unwrap_or(lowest);
        for i in (top + 1..n).rev() {
            if let Some(rate) = rates[i].as_mut() {
                let more = left.min((starts[i] - *rate).max(0.0));
                *rate += more;
                left -= more;
            }
        }
        if let Some(rate) = rates[top].as_mut() {
            *rate += left;
        }
        rates
    }

    /// Whether stopped layer `i` is sent on trial now (already, or from now on).
    fn try_layer(
        &mut self,
        i: usize,
        target_bps: f64,
        ceiling_bps: Option<f64>,
        sum_of_mins: f64,
        now: Instant,
    ) -> bool {
        if self.trial.is_some_and(|t| t.layer == i) {
            return true;
        }
        // (A layer stopping now has not waited at all.)
        let waited = self.stopped_at[i]
            .is_some_and(|at| now.saturating_duration_since(at) >= self.trial_wait);
        if !waited || ceiling_bps.is_some_and(|c| c < sum_of_mins * RESTART_MARGIN) {
            return false;
        }
        tracing::debug!("simulcast layer {i} on trial");
        self.trial = Some(Trial {
            layer: i,
            until: now + TRIAL,
            from_bps: target_bps,
        });
        true
    }

    /// Ends a trial that is over: it failed when the target fell (the layer stops again and
    /// the next trial waits twice as long); it passed when it lasted (the layer stays while
    /// the target covers it).
    fn judge_trial(&mut self, target_bps: f64, now: Instant) {
        let Some(trial) = self.trial else { return };
        if target_bps < trial.from_bps * TRIAL_FAILS_UNDER {
            tracing::debug!("simulcast layer {} failed its trial", trial.layer);
            self.trial = None;
            self.on[trial.layer] = false;
            self.stopped_at[trial.layer] = Some(now);
            self.trial_wait = (self.trial_wait * 2).min(MAX_TRIAL_WAIT);
        } else if now >= trial.until {
            self.trial = None;
            self.trial_wait = FIRST_TRIAL_WAIT;
        }
    }

    /// The index of the largest layer that is on.
    pub(crate) fn top(&self) -> usize {
        self.on
            .iter()
            .position(|on| *on)
            .unwrap_or(self.on.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VGA: (u32, u32) = (640, 480);

    impl Allocator {
        /// Allocates with no ceiling at one instant (no trial is due).
        fn allocate_at(&mut self, target_bps: f64, size: (u32, u32), fps: u32) -> Vec<Option<f64>> {
            let now = *self
                .stopped_at
                .iter()
                .flatten()
                .max()
                .unwrap_or(&Instant::now());
            self.allocate(target_bps, None, size, fps, now)
        }
    }

    #[test]
    fn layers_halve_and_stay_even_and_not_too_small() {
        assert_eq!(layer_size(VGA, 0), (640, 480));
        assert_eq!(layer_size(VGA, 1), (320, 240));
        assert_eq!(layer_size(VGA, 2), (160, 120));
        assert_eq!(layer_size((1278, 718), 2), (318, 178));
        assert_eq!(layer_size((40, 30), 2), (16, 16));
    }

    #[test]
    fn a_wide_path_feeds_every_layer_and_gives_the_rest_to_the_top() {
        let mut a = Allocator::new(3);
        let rates = a.allocate_at(5_000_000.0, VGA, 30);
        let rates: Vec<f64> = rates.into_iter().map(Option::unwrap).collect();
        // The lower layers get their start rates (100 and 161 kbit/s) and no more.
        assert_eq!(rates[2], 100_000.0);
        assert_eq!(rates[1], 161_000.0);
        assert!((rates.iter().sum::<f64>() - 5_000_000.0).abs() < 1.0);
        assert_eq!(a.top(), 0);
    }

    #[test]
    fn a_narrowing_path_stops_the_top_layer_first_and_never_the_lowest() {
        let mut a = Allocator::new(3);
        // 640x480 needs 322 kbit/s at least, 320x240 80, 160x120 50.
        let rates = a.allocate_at(300_000.0, VGA, 30);
        assert!(rates[0].is_none(), "{rates:?}");
        assert!(rates[1].is_some() && rates[2].is_some());
        // The lowest gets its start rate; the rest goes to the one above.
        assert_eq!(rates[2], Some(100_000.0));
        assert_eq!(rates[1], Some(200_000.0));
        assert_eq!(a.top(), 1);
        let rates = a.allocate_at(100_000.0, VGA, 30);
        assert_eq!(rates[..2], [None, None]);
        assert_eq!(rates[2], Some(100_000.0));
        let rates = a.allocate_at(10_000.0, VGA, 30);
        assert_eq!(rates[2], Some(10_000.0), "the lowest layer never stops");
        assert_eq!(a.top(), 2);
    }

    #[test]
    fn a_stopped_layer_comes_back_only_with_room_to_spare() {
        let mut a = Allocator::new(2);
        // 640x480: at least 322 kbit/s; 320x240: 80.
        assert!(a.allocate_at(300_000.0, VGA, 30)[0].is_none());
        // Enough to keep it, not enough to start it again.
        assert!(a.allocate_at(410_000.0, VGA, 30)[0].is_none());
        assert!(a.allocate_at(520_000.0, VGA, 30)[0].is_some());
        // On again, it stays on down to its minimum.
        assert!(a.allocate_at(410_000.0, VGA, 30)[0].is_some());
    }

    #[test]
    fn a_stopped_layer_is_tried_again_later_and_longer_after_each_failure() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut a = Allocator::new(2);
        let top_on = |rates: Vec<Option<f64>>| rates[0].is_some();
        assert!(!top_on(a.allocate(300_000.0, None, VGA, 30, at(0.0))));
        assert!(!top_on(a.allocate(300_000.0, None, VGA, 30, at(3.9))));
        // After 4 s it goes out on trial, at its least, though the target does not cover it.
        let rates = a.allocate(300_000.0, None, VGA, 30, at(4.0));
        assert_eq!(rates[0], Some(322_500.0), "{rates:?}");
        // The estimate fell: the trial failed, and the next one waits 8 s.
        assert!(top_on(a.allocate(290_000.0, None, VGA, 30, at(5.0))));
        assert!(!top_on(a.allocate(250_000.0, None, VGA, 30, at(6.0))));
        assert!(!top_on(a.allocate(250_000.0, None, VGA, 30, at(13.9))));
        assert!(top_on(a.allocate(250_000.0, None, VGA, 30, at(14.0))));
        // This one holds for its 6 s while the estimate grows, and the layer stays.
        assert!(top_on(a.allocate(400_000.0, None, VGA, 30, at(17.0))));
        assert!(top_on(a.allocate(420_000.0, None, VGA, 30, at(20.0))));
        assert!(top_on(a.allocate(420_000.0, None, VGA, 30, at(30.0))));
        // A receiver's cap under what the layers need is never tried past.
        let mut a = Allocator::new(2);
        assert!(!top_on(a.allocate(
            300_000.0,
            Some(300_000.0),
            VGA,
            30,
            at(0.0)
        )));
        assert!(!top_on(a.allocate(
            300_000.0,
            Some(300_000.0),
            VGA,
            30,
            at(60.0)
        )));
    }

    #[test]
    fn the_start_rate_of_a_stream_is_its_layers_together() {
        assert_eq!(total_start_bps(VGA, 30, 1), 645_000.0);
        assert_eq!(
            total_start_bps(VGA, 30, 3),
            645_000.0 + 161_000.0 + 100_000.0
        );
    }
}
