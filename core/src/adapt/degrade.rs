//! What the video gives up when the bits run short: size, frame rate or some of both, as the
//! host's `degradation_preference` says. The signal is the encoder's own: a rate controller
//! that drops frames is being asked for fewer bits than this content needs at this size and
//! rate, whatever the content is (a test pattern fits in 350 kbit/s at 720p, camera noise may
//! not fit in 3 Mbit/s). Stepping back up waits for a clean run and for the estimate to clear
//! what the level needs (what its failure told: the target it had over the share of frames
//! the encoder could send), with a wait that doubles after each step up that did not hold.
//! Sans-IO: every input brings its own time.

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode, Result};

/// What to keep when the bits run short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DegradationPreference {
    /// Some of both: the size down to half, then the frame rate to two thirds, then the size
    /// down to an eighth, then the rate.
    #[default]
    Balanced,
    /// Keep the frame rate; lower the size.
    MaintainFramerate,
    /// Keep the size; lower the frame rate.
    MaintainResolution,
}

impl DegradationPreference {
    /// Every preference, in the order the contract lists them.
    pub const ALL: [DegradationPreference; 3] = [
        DegradationPreference::Balanced,
        DegradationPreference::MaintainFramerate,
        DegradationPreference::MaintainResolution,
    ];

    /// Its name in settings: `"balanced"`, `"maintain-framerate"`, `"maintain-resolution"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DegradationPreference::Balanced => "balanced",
            DegradationPreference::MaintainFramerate => "maintain-framerate",
            DegradationPreference::MaintainResolution => "maintain-resolution",
        }
    }

    /// Parses a setting's value.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "degradation_preference: {name:?} is not one of \"balanced\", \
                         \"maintain-framerate\", \"maintain-resolution\""
                    ),
                )
            })
    }

    /// How large a share of frames the rate controller may drop before a step down: keeping
    /// the frame rate means stepping early.
    fn drop_limit(self) -> f64 {
        match self {
            DegradationPreference::MaintainFramerate => 0.10,
            _ => 0.25,
        }
    }
}

/// One step of a ladder: the share of each side kept, and the frame rate sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Level {
    /// Each side is scaled by this (1 = the source's size).
    pub scale: f64,
    /// Frames per second sent.
    pub fps: u32,
}

impl Level {
    /// The size sent for a source of `width`×`height`: even sides, at least 16 pixels.
    pub(crate) fn size(&self, width: u32, height: u32) -> (u32, u32) {
        let side = |s: u32| {
            if self.scale >= 1.0 {
                return s;
            }
            let scaled = (f64::from(s) * self.scale).round() as u32;
            (scaled & !1).clamp(16.min(s & !1), s)
        };
        (side(width), side(height))
    }
}

/// The steps a preference goes down, from the source's size at `fps`.
fn ladder(preference: DegradationPreference, fps: u32) -> Vec<Level> {
    let fps = fps.max(1);
    let rate = |num: u32, den: u32| (fps * num / den).max(1);
    let steps: &[(f64, u32, u32)] = match preference {
        DegradationPreference::MaintainFramerate => &[
            (1.0, 1, 1),
            (0.75, 1, 1),
            (0.5, 1, 1),
            (0.375, 1, 1),
            (0.25, 1, 1),
            (0.1875, 1, 1),
            (0.125, 1, 1),
        ],
        DegradationPreference::MaintainResolution => &[
            (1.0, 1, 1),
            (1.0, 2, 3),
            (1.0, 1, 2),
            (1.0, 1, 3),
            (1.0, 1, 5),
        ],
        DegradationPreference::Balanced => &[
            (1.0, 1, 1),
            (0.75, 1, 1),
            (0.5, 1, 1),
            (0.5, 2, 3),
            (0.375, 2, 3),
            (0.25, 2, 3),
            (0.1875, 2, 3),
            (0.125, 2, 3),
            (0.125, 1, 2),
            (0.125, 1, 3),
        ],
    };
    let mut levels: Vec<Level> = Vec::new();
    for &(scale, num, den) in steps {
        let level = Level {
            scale,
            fps: rate(num, den),
        };
        if levels.last() != Some(&level) {
            levels.push(level);
        }
    }
    levels
}

/// How long drops are counted before a decision.
const WINDOW: Duration = Duration::from_secs(1);
/// After a change the encoder starts over with a keyframe: its first window says little.
const SETTLE: Duration = Duration::from_millis(1500);
/// Drops at most this share make a window clean.
const CLEAN: f64 = 0.02;
/// A keyframe the receiver asked for costs many frames' worth of bits, which rate control
/// pays back by dropping frames over the next half second or so: a window it came in, or
/// came this long before, with drops up to the preference's limit, judges nothing. Under 3 %
/// loss, where one comes every few seconds, its drops (a tenth of a window at twice what the
/// level needed) restarted the clean run a step up waits for, and video stayed at 20 fps for
/// 3 s longer. More drops than the limit are a level that does not fit, keyframe or not.
const KEYFRAME_PAYBACK: Duration = Duration::from_millis(500);
/// The first wait for a step up, and the longest.
const UP_WAIT: Duration = Duration::from_secs(3);
const UP_WAIT_MAX: Duration = Duration::from_secs(24);
/// A step up that is undone within this did not hold: the next one waits twice as long.
const HELD: Duration = Duration::from_secs(6);
/// ... until the target grows this far above what it was when that step failed: the failure
/// told the level's need, which a step up waits for anyway, and a link that came back after
/// a collapse (the failure at 377 kbit/s, the estimate then at 2.7 Mbit/s) was left at 120x90
/// for the 12 s a second doubling asked.
const WAIT_FORGOTTEN: f64 = 1.5;
/// From this quantizer up (0..=63) rate control is short of bits, not paying for a change.
const COARSE_QUANTIZER: u32 = 48;
/// A level is tried again once the estimate is this much above what it needs.
const UP_MARGIN: f64 = 1.1;
/// What a level that failed needs: the target it had, over the share of frames the encoder
/// sent on it (it paid for that share). At most this many times the target: a failure that
/// sent next to nothing must not put the level out of reach.
const MAX_NEED: f64 = 4.0;
/// A level stepped over on the way down needs its share of that by pixel rate, to this
/// power: a smaller size costs more bits per pixel.
const NEED_EXPONENT: f64 = 0.75;
/// A level that failed bounds what a larger one needs: its need times their ratio of pixel
/// rates to this power (a larger size costs fewer bits per pixel; for this clip 0.5 stays
/// under what each level needed). A start fails at 640x480 with next to nothing sent (its
/// need capped), so 480x360's need, derived from that, was 1.8 Mbit/s where it needs over 5:
/// a climb from 160x120 went straight to it at 1.9 Mbit/s and ran at 8 to 20 fps for 9 s,
/// when 320x240 at 20 fps had failed at 0.9 Mbit/s with 40 % dropped.
const ABOVE_EXPONENT: f64 = 0.5;
/// A level's need is the most its failures within this long told (content changes; a need
/// older than this gives way to a new one).
const NEED_MEMORY: Duration = Duration::from_secs(20);
/// A target that falls under this share of what the encoder spent over its last window, at a
/// coarse quantizer, steps down at once: the encoder has nothing left to give at this size, and
/// waiting for its drops (its buffer drains first, then a window, then a decision) froze video
/// for seconds when a link narrowed under it.
const FELL_UNDER_SPENT: f64 = 0.6;

/// Decides the level video is sent at.
#[derive(Debug)]
pub(crate) struct Degrader {
    preference: DegradationPreference,
    ladder: Vec<Level>,
    at: usize,
    /// What each level left for one below needs, as its failures told, when it last failed
    /// (None: never left), and whether that need is its own (it failed, rather than being
    /// stepped over or bounded by a smaller level's failure).
    needs: Vec<Option<(f64, Instant, bool)>>,
    target: f64,
    window: Option<Instant>,
    offered: u32,
    dropped: u32,
    changed_at: Option<Instant>,
    clean_since: Option<Instant>,
    stepped_up_at: Option<Instant>,
    up_wait: Duration,
    /// The target when a step up last failed (and `up_wait` doubled).
    failed_up_at_target: Option<f64>,
    /// Bytes the encoder put out in the current window.
    window_bytes: usize,
    /// The targets of the current window's frames, summed: a level that fails needs what it
    /// was asked for over the window, not at its end (a target that rose within the window
    /// took drops that came of the lower one for a need of the higher).
    window_targets: f64,
    /// The last whole window at this level: what the encoder spent (bit/s), at what
    /// quantizer, and the share of frames it dropped.
    last_window: Option<SpentWindow>,
    /// The target fell far under what was spent (see [`FELL_UNDER_SPENT`]): the next frame
    /// steps down.
    fell: bool,
    /// What this level is taken to need until its first window is measured: by a failure's
    /// share of pixels when stepped down to, what it failed with when stepped up to.
    settling_need: Option<f64>,
    /// No step up for now but to the source's own level: the estimate is about to grow
    /// (probes are climbing), and a step now would make the one after wait. A step to the
    /// top has no step after it: held, video stayed at 80x60 for the 3 s the climb went on
    /// above what 640x480 needed.
    up_held: bool,
    /// When the encoder last made a keyframe it was asked for (see [`KEYFRAME_PAYBACK`]).
    keyframe_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct SpentWindow {
    bps: f64,
    quantizer: Option<u32>,
    drops: f64,
}

impl Degrader {
    /// Starts at the source's size and `fps`.
    pub(crate) fn new(preference: DegradationPreference, fps: u32) -> Self {
        let ladder = ladder(preference, fps);
        Degrader {
            preference,
            needs: vec![None; ladder.len()],
            ladder,
            at: 0,
            target: 0.0,
            window: None,
            offered: 0,
            dropped: 0,
            changed_at: None,
            clean_since: None,
            stepped_up_at: None,
            up_wait: UP_WAIT,
            failed_up_at_target: None,
            window_bytes: 0,
            window_targets: 0.0,
            last_window: None,
            fell: false,
            settling_need: None,
            up_held: false,
            keyframe_at: None,
        }
    }

    /// The encoder made a keyframe at `now` that was asked for: by the receiver, after a
    /// frame that could not be sent, or for a new level (whose settling outlasts it).
    pub(crate) fn on_keyframe(&mut self, now: Instant) {
        self.keyframe_at = Some(now);
    }

    /// Holds steps up (or lets them go again).
    pub(crate) fn hold_up(&mut self, held: bool) {
        self.up_held = held;
    }

    /// The level to send at now.
    pub(crate) fn level(&self) -> Level {
        self.ladder[self.at]
    }

    /// Whether video is sent below the source's size or rate.
    pub(crate) fn degraded(&self) -> bool {
        self.at > 0
    }

    /// The video bitrate the encoder is asked for now.
    pub(crate) fn on_target(&mut self, bps: f64) {
        self.target = bps;
        if self.starved_need().is_some() {
            self.fell = true;
        }
    }

    /// What this level needs, when the target fell far under it (see [`FELL_UNDER_SPENT`]):
    /// what the encoder spent over its last window at a coarse quantizer or, while it settles
    /// after a change (no window yet), what the level's failure told. A link that narrowed
    /// just after a step (up, or down for the drops of the narrowing's first second) went
    /// unanswered for the settle time and a window, and video froze for seconds.
    fn starved_need(&self) -> Option<f64> {
        let need = match self.last_window {
            Some(w) => w
                .quantizer
                .is_some_and(|q| q >= COARSE_QUANTIZER)
                .then(|| need_of(w.bps, w.drops)),
            None => self.settling_need,
        }?;
        (self.target < need * FELL_UNDER_SPENT).then_some(need)
    }

    /// One frame went to the encoder at `now`; `encoded` is the size of what came out, None
    /// when its rate control dropped it; `quantizer` is the encoder's latest (0..=63), where
    /// it tells one. A drop counts only at a coarse quantizer: a drop at a fine one pays for a
    /// scene change, and a smaller size would not have avoided it. Returns the new level when
    /// this changes it.
    pub(crate) fn on_frame(
        &mut self,
        now: Instant,
        encoded: Option<usize>,
        quantizer: Option<u32>,
    ) -> Option<Level> {
        // The first keyframe of a fresh encoder costs many frames' worth of the budget, and
        // rate control drops a few frames to pay for it: a start settles like a change.
        self.changed_at.get_or_insert(now);
        let started = *self.window.get_or_insert(now);
        self.offered += 1;
        self.window_bytes += encoded.unwrap_or(0);
        self.window_targets += self.target;
        if encoded.is_none() && quantizer.is_none_or(|q| q >= COARSE_QUANTIZER) {
            self.dropped += 1;
        }
        if std::mem::take(&mut self.fell) && self.at + 1 < self.ladder.len() {
            if let Some(need) = self.starved_need() {
                // The target pays for that share of what this level needs, and a level's
                // need goes with its pixel rate to the `NEED_EXPONENT`.
                let share = (self.target / need).powf(1.0 / NEED_EXPONENT);
                tracing::debug!(
                    "video target {} kbit/s fell under the {} kbit/s this level needs",
                    self.target as u64 / 1000,
                    need as u64 / 1000,
                );
                // What a starved encoder spent over a window, at a coarse quantizer, is told
                // in full (the level needs that much at least); a need taken while settling
                // is not.
                let measured = self.last_window.is_some();
                return Some(self.fail(now, share, need, measured));
            }
        }
        if now.saturating_duration_since(started) < WINDOW {
            return None;
        }
        let drops = f64::from(self.dropped) / f64::from(self.offered.max(1));
        let asked = self.window_targets / f64::from(self.offered.max(1));
        let secs = now.saturating_duration_since(started).as_secs_f64();
        let spent = self.window_bytes as f64 * 8.0 / secs;
        self.window = Some(now);
        self.offered = 0;
        self.dropped = 0;
        self.window_bytes = 0;
        self.window_targets = 0.0;
        if self
            .changed_at
            .is_some_and(|at| now.saturating_duration_since(at) < SETTLE)
        {
            return None;
        }
        self.last_window = Some(SpentWindow {
            bps: spent,
            quantizer,
            drops,
        });
        let paying_keyframe = self
            .keyframe_at
            .is_some_and(|at| at + KEYFRAME_PAYBACK >= started);
        if paying_keyframe && drops > CLEAN && drops <= self.preference.drop_limit() {
            return None;
        }
        if drops > self.preference.drop_limit() && self.at + 1 < self.ladder.len() {
            // The encoder sent a share 1 - drops of the frames: go straight to the first level
            // that asks that much less of it (at least one step).
            let told = drops < 1.0 - 1.0 / MAX_NEED;
            return Some(self.fail(now, 1.0 - drops, need_of(asked, drops), told));
        }
        if drops > CLEAN {
            self.clean_since = None;
            return None;
        }
        let clean_since = *self.clean_since.get_or_insert(started);
        let held = self
            .stepped_up_at
            .is_some_and(|at| now.saturating_duration_since(at) >= HELD);
        let grown = self
            .failed_up_at_target
            .is_some_and(|then| self.target > then * WAIT_FORGOTTEN);
        if held || grown {
            self.up_wait = UP_WAIT;
            self.failed_up_at_target = None;
        }
        let ready = |level: usize| {
            self.needs[level].is_none_or(|(need, _, _)| self.target >= need * UP_MARGIN)
        };
        // The largest level the estimate pays for, in one step: a climb a level at a time
        // waits and settles at each (a start that fell to 240x180 took 19 s back to
        // 640x480). It may step over a level that needs more than a larger one: noise in
        // blocks of 4 pixels scaled by 3/4 took VP8 5.5 Mbit/s at 480x360 and 4.2 at 640x480.
        //
        // A step that raises the frame rate goes to the smallest size at that rate the
        // estimate pays for, unless a larger one's own failure told its need: the larger
        // ones' needs are derived from a start that sent next to nothing (capped), and
        // 480x360 at 30 fps, taken for 1.8 Mbit/s, ran at 8 to 20 fps for seconds where
        // 320x240 held 30.
        let rate = self.ladder[self.at].fps;
        let own = |level: usize| self.needs[level].is_some_and(|(_, _, own)| own);
        let smaller_at_its_rate = |level: usize| {
            (level + 1..self.at).any(|m| self.ladder[m].fps == self.ladder[level].fps && ready(m))
        };
        let up = (0..self.at)
            .find(|&level| {
                ready(level)
                    && !(self.ladder[level].fps > rate && !own(level) && smaller_at_its_rate(level))
            })
            .filter(|&to| to == 0 || !self.up_held);
        if let Some(to) = up {
            if now.saturating_duration_since(clean_since) >= self.up_wait {
                self.stepped_up_at = Some(now);
                // What the level failed with before, if it did.
                let need = self.needs[to].map(|(need, _, _)| need);
                return Some(self.step(now, to, need));
            }
        }
        None
    }

    /// The level failed, needing `need` bit/s; the first level below with at most `share` of
    /// its pixel rate (and a margin) fits (at least one step down). `told`: the need is what
    /// the level's own window told in full (drops not capped, or what a starved encoder
    /// spent), and bounds what every larger level whose own failure told nothing lately
    /// needs (see [`ABOVE_EXPONENT`]). A need is the level's own only when a window of it
    /// was measured: one taken while it settled is derived from another level's, and kept as
    /// its own it held 320x240 at 732 kbit/s (derived from a start at 640x480) against
    /// 240x180's measured 1.1 Mbit/s, and a climb stepped over 240x180 to 320x240 three
    /// times a minute on an 800 kbit/s link, each step up a fall of the estimate.
    fn fail(&mut self, now: Instant, share: f64, need: f64, told: bool) -> Level {
        let measured = self.last_window.is_some();
        let fits = self.pixel_rate(self.at) * share * 1.1;
        let to = (self.at + 1..self.ladder.len())
            .find(|&l| self.pixel_rate(l) <= fits)
            .unwrap_or(self.ladder.len() - 1);
        for level in self.at..to {
            let share = self.pixel_rate(level) / self.pixel_rate(self.at);
            let mut need = need * share.powf(NEED_EXPONENT);
            // A failure when the estimate had just collapsed (a link that narrowed under
            // it) tells little of what the level needs: a recent one that told more
            // still holds.
            if let Some((before, at, _)) = self.needs[level] {
                if now.saturating_duration_since(at) < NEED_MEMORY {
                    need = need.max(before);
                }
            }
            self.needs[level] = Some((need, now, level == self.at && measured));
        }
        if told {
            for level in 0..self.at {
                let ratio = self.pixel_rate(level) / self.pixel_rate(self.at);
                let bound = need * ratio.powf(ABOVE_EXPONENT);
                let recent = self.needs[level]
                    .filter(|(_, at, _)| now.saturating_duration_since(*at) < NEED_MEMORY);
                if recent.is_some_and(|(_, _, own)| own) {
                    // Its own failure told more: noise in blocks of 4 pixels scaled by 3/4
                    // needs more at 480x360 than at 640x480.
                    continue;
                }
                if bound > recent.map_or(0.0, |(need, _, _)| need) {
                    self.needs[level] = Some((bound, now, false));
                }
            }
        }
        if self
            .stepped_up_at
            .is_some_and(|at| now.saturating_duration_since(at) < HELD)
        {
            self.up_wait = (self.up_wait * 2).min(UP_WAIT_MAX);
            self.failed_up_at_target = Some(self.target);
        }
        self.stepped_up_at = None;
        let share = self.pixel_rate(to) / self.pixel_rate(self.at);
        self.step(now, to, Some(need * share.powf(NEED_EXPONENT)))
    }

    /// Pixels a second at a level, relative to the source's size.
    fn pixel_rate(&self, level: usize) -> f64 {
        let Level { scale, fps } = self.ladder[level];
        scale * scale * f64::from(fps)
    }

    /// Goes to level `to`, taken to need `settling_need` until its first window is measured.
    fn step(&mut self, now: Instant, to: usize, settling_need: Option<f64>) -> Level {
        self.at = to;
        self.changed_at = Some(now);
        self.clean_since = None;
        self.last_window = None;
        self.fell = false;
        self.settling_need = settling_need;
        self.ladder[to]
    }
}

/// What a level needs that got `bps` and sent a share `1 - drops` of its frames on it: `bps`
/// over that share, at most [`MAX_NEED`] times `bps`.
fn need_of(bps: f64, drops: f64) -> f64 {
    bps * (1.0 / (1.0 - drops)).min(MAX_NEED)
}

/// Lets frames through at a lower rate than the source's, evenly.
#[derive(Debug, Default)]
pub(crate) struct FrameRateLimiter {
    next_us: Option<u64>,
}

impl FrameRateLimiter {
    /// Whether the frame taken at `timestamp_us` is sent when `fps` frames a second are.
    pub(crate) fn keep(&mut self, timestamp_us: u64, fps: u32) -> bool {
        let interval = 1_000_000 / u64::from(fps.max(1));
        let due = *self.next_us.get_or_insert(timestamp_us);
        // A quarter interval early still counts: source clocks jitter.
        if timestamp_us + interval / 4 < due {
            return false;
        }
        self.next_us = Some(if timestamp_us < due + interval {
            due + interval
        } else {
            timestamp_us + interval
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: u32 = 30;

    /// Feeds `seconds` of frames at 30 fps, a share `drops` of them dropped, from `from`;
    /// the encoder spends its target, at quantizer 63.
    fn run(d: &mut Degrader, from: Instant, seconds: f64, drops: f64) -> (Instant, Vec<Level>) {
        let frames = (seconds * f64::from(FPS)) as u32;
        let mut changes = Vec::new();
        let mut now = from;
        let mut owed = 0.0;
        for _ in 0..frames {
            now += Duration::from_micros(33_333);
            owed += drops;
            let encoded = owed < 1.0;
            if !encoded {
                owed -= 1.0;
            }
            let bytes = d.target / 8.0 / f64::from(FPS) / (1.0 - drops).max(0.01);
            changes.extend(d.on_frame(now, encoded.then_some(bytes as usize), Some(63)));
        }
        (now, changes)
    }

    /// The sizes (of a 640x480 source) and rates of `levels`.
    fn sizes(levels: &[Level]) -> Vec<((u32, u32), u32)> {
        levels.iter().map(|l| (l.size(640, 480), l.fps)).collect()
    }

    #[test]
    fn each_preference_has_its_ladder() {
        let sizes = |p| sizes(&ladder(p, 30));
        assert_eq!(
            sizes(DegradationPreference::MaintainFramerate),
            [
                ((640, 480), 30),
                ((480, 360), 30),
                ((320, 240), 30),
                ((240, 180), 30),
                ((160, 120), 30),
                ((120, 90), 30),
                ((80, 60), 30)
            ]
        );
        assert_eq!(
            sizes(DegradationPreference::MaintainResolution),
            [
                ((640, 480), 30),
                ((640, 480), 20),
                ((640, 480), 15),
                ((640, 480), 10),
                ((640, 480), 6)
            ]
        );
        let balanced = sizes(DegradationPreference::Balanced);
        assert_eq!(balanced[2], ((320, 240), 30));
        assert_eq!(balanced[3], ((320, 240), 20));
        assert_eq!(balanced.last(), Some(&((80, 60), 10)));
        // Tiny sources keep even sides of at least 16 pixels.
        let tiny = Level {
            scale: 0.25,
            fps: 30,
        };
        assert_eq!(tiny.size(34, 18), (16, 16));
        assert_eq!(tiny.size(10, 8), (10, 8));
    }

    #[test]
    fn names_parse_and_others_are_refused() {
        for p in DegradationPreference::ALL {
            assert_eq!(DegradationPreference::from_name(p.as_str()).unwrap(), p);
        }
        let e = DegradationPreference::from_name("fast").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameter);
        assert!(e.message.starts_with("degradation_preference: "));
    }

    #[test]
    fn steady_drops_step_down_one_level_a_settled_window() {
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        d.on_target(700_000.0);
        let t0 = Instant::now();
        let (t, changes) = run(&mut d, t0, 2.2, 0.1);
        assert!(changes.is_empty(), "10 % drops are within balanced's limit");
        let (_, changes) = run(&mut d, t, 4.0, 0.3);
        // Down at the first window, then once per settle time (1.5 s, decided on windows).
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].size(640, 480), (480, 360));
        assert_eq!(changes[1].size(640, 480), (320, 240));
        assert!(d.degraded());
    }

    #[test]
    fn heavy_drops_go_straight_to_a_level_that_fits() {
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        // 60 % dropped: 40 % of the pixel rate fits, 1/2 size at 30 fps is a quarter of it.
        let (_, changes) = run(&mut d, Instant::now(), 2.2, 0.6);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].size(640, 480), (320, 240));
        assert_eq!(changes[0].fps, 30);
    }

    #[test]
    fn drops_at_a_fine_quantizer_pay_for_a_change_and_do_not_count() {
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        let mut now = Instant::now();
        for i in 0..300 {
            now += Duration::from_micros(33_333);
            // Every other frame dropped, as after each cut of a slide show, at quantizer 4.
            assert_eq!(d.on_frame(now, (i % 2 == 0).then_some(2000), Some(4)), None);
        }
        // Without a quantizer to go by (H.264), drops count.
        assert!((0..300).any(|i| {
            now += Duration::from_micros(33_333);
            d.on_frame(now, (i % 2 == 0).then_some(2000), None)
                .is_some()
        }));
    }

    #[test]
    fn maintain_framerate_steps_on_fewer_drops() {
        let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
        let (_, changes) = run(&mut d, Instant::now(), 2.2, 0.15);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].fps, 30);
    }

    #[test]
    fn steps_up_after_a_clean_run_above_what_the_level_needs() {
        let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
        d.on_target(500_000.0);
        let (t, changes) = run(&mut d, Instant::now(), 2.2, 0.3);
        assert_eq!(changes.len(), 1);
        // 70 % of the frames went on 500k: the full size needs 714k. Clean, but the estimate
        // has not cleared 1.1 times that: stays down.
        let (t, changes) = run(&mut d, t, 10.0, 0.0);
        assert!(changes.is_empty(), "{changes:?}");
        d.on_target(760_000.0);
        let (t, changes) = run(&mut d, t, 10.0, 0.0);
        assert!(changes.is_empty(), "{changes:?}");
        d.on_target(800_000.0);
        let (_, changes) = run(&mut d, t, 4.0, 0.0);
        assert_eq!(changes.len(), 1);
        assert_eq!(d.level().scale, 1.0);
    }

    #[test]
    fn the_drops_that_pay_for_a_keyframe_asked_for_do_not_restart_the_clean_run() {
        // Down on 500k (the full size needs 714k), then the estimate clears that; 2 s into
        // the clean run the receiver asks for a keyframe, and 15 % of the frames of the half
        // second after it are dropped.
        let climb = |keyframe: bool| {
            let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
            d.on_target(500_000.0);
            let (t, _) = run(&mut d, Instant::now(), 2.2, 0.3);
            d.on_target(800_000.0);
            let (t, changes) = run(&mut d, t, 3.5, 0.0);
            assert!(changes.is_empty(), "{changes:?}");
            if keyframe {
                d.on_keyframe(t);
            }
            let (t, mut changes) = run(&mut d, t, 0.5, 0.15);
            changes.extend(run(&mut d, t, 1.5, 0.0).1);
            changes
        };
        let changes = climb(true);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].scale, 1.0);
        // The same drops with no keyframe to pay for: the run starts over.
        assert!(climb(false).is_empty());
        // Drops beyond the limit after a keyframe: the level does not fit.
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        d.on_target(3_000_000.0);
        let (t, _) = run(&mut d, Instant::now(), 2.2, 0.0);
        d.on_keyframe(t);
        let (_, changes) = run(&mut d, t, 1.2, 0.7);
        assert_eq!(changes.len(), 1, "{changes:?}");
    }

    #[test]
    fn a_deep_fall_climbs_back_past_levels_to_what_the_estimate_pays_for() {
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        d.on_target(700_000.0);
        // 88 % dropped (noise at 640x480 on 700k): down to 240x180 at 20 fps.
        let (t, changes) = run(&mut d, Instant::now(), 2.2, 0.88);
        assert_eq!(
            changes.last().map(|l| (l.size(640, 480), l.fps)),
            Some(((240, 180), 20))
        );
        // The full size needs at most 4 times 700k (2.8M), 3/4 its share by pixel rate to
        // the 0.75 (1.82M), 1/2 (0.75M).
        d.on_target(2_200_000.0);
        let (t, changes) = run(&mut d, t, 4.5, 0.0);
        // Up to 30 fps at the smallest size first: 480x360's need is only derived.
        assert_eq!(
            sizes(&changes),
            [((320, 240), 30)],
            "past 320x240 at 20 fps"
        );
        d.on_target(3_200_000.0);
        let (_, changes) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(sizes(&changes), [((640, 480), 30)], "past 480x360");
    }

    #[test]
    fn a_climb_holds_steps_up_but_the_one_to_the_source_level() {
        let fallen = || {
            let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
            d.on_target(700_000.0);
            // Down to 240x180 at 20 fps; the full size needs 2.8M, 320x240 at 30 fps 0.99M.
            let (t, _) = run(&mut d, Instant::now(), 2.2, 0.88);
            d.hold_up(true);
            (d, t)
        };
        // Probes climb: the estimate pays for 320x240 but not yet for the full size.
        let (mut d, t) = fallen();
        d.on_target(2_200_000.0);
        let (_, changes) = run(&mut d, t, 6.0, 0.0);
        assert!(changes.is_empty(), "held: {changes:?}");
        // It already pays for the full size: nothing after that step to wait for.
        let (mut d, t) = fallen();
        d.on_target(3_200_000.0);
        let (_, changes) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(sizes(&changes), [((640, 480), 30)]);
    }

    #[test]
    fn a_smaller_level_that_fails_bounds_what_the_larger_ones_need() {
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        // A start on 685k sends a fifth of its frames: 640x480 needs 4 times that at most
        // (2.74M, capped), 480x360 1.78M by its share, and it goes to 320x240 at 20 fps.
        d.on_target(685_000.0);
        let (t, changes) = run(&mut d, Instant::now(), 2.2, 0.8);
        assert_eq!(sizes(&changes), [((320, 240), 20)]);
        // That fails too, on 900k with 40 % dropped: it needs 1.5M, so 320x240 at 30 fps
        // needs 1.5M × 1.5^0.5 = 1.84M at least, 480x360 2.76M, 640x480 3.67M.
        d.on_target(900_000.0);
        let (t, changes) = run(&mut d, t, 2.6, 0.4);
        assert_eq!(sizes(&changes), [((240, 180), 20)]);
        // At 2.2M: 320x240 at 30 fps, not 480x360.
        d.on_target(2_200_000.0);
        let (t, changes) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(sizes(&changes), [((320, 240), 30)]);
        // At 4.5M: straight to 640x480.
        d.on_target(4_500_000.0);
        let (_, changes) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(sizes(&changes), [((640, 480), 30)]);
    }

    #[test]
    fn a_target_far_under_what_a_starved_encoder_spent_steps_down_at_once() {
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        d.on_target(3_000_000.0);
        let (t, changes) = run(&mut d, Instant::now(), 3.0, 0.0);
        assert!(changes.is_empty());
        // A fall to 63 % of what it spent: not yet.
        d.on_target(1_900_000.0);
        d.on_target(3_000_000.0);
        let (t, changes) = run(&mut d, t, 0.1, 0.0);
        assert!(changes.is_empty(), "{changes:?}");
        // The link narrows to a tenth: the next frame goes to a level with about a tenth
        // of the bits, (0.1)^(1/0.75) = 4.6 % of the pixel rate: 160x120 at 20 fps.
        d.on_target(300_000.0);
        let (t, changes) = run(&mut d, t, 0.04, 0.0);
        assert_eq!(sizes(&changes), [((160, 120), 20)]);
        // Then it settles: no second step for a target that stays.
        let (_, changes) = run(&mut d, t, 1.0, 0.0);
        assert!(changes.is_empty(), "{changes:?}");
        // At a fine quantizer the encoder has bits to give: no step.
        let mut fine = Degrader::new(DegradationPreference::Balanced, FPS);
        fine.on_target(3_000_000.0);
        let mut now = Instant::now();
        for _ in 0..90 {
            now += Duration::from_micros(33_333);
            assert_eq!(fine.on_frame(now, Some(12_500), Some(20)), None);
        }
        fine.on_target(300_000.0);
        now += Duration::from_micros(33_333);
        assert_eq!(fine.on_frame(now, Some(1250), Some(20)), None);
    }

    #[test]
    fn a_target_that_collapses_while_a_step_settles_steps_down_at_once() {
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        d.on_target(1_000_000.0);
        let (t, _) = run(&mut d, Instant::now(), 2.0, 0.0);
        // The narrowing's first second: a third of the frames dropped, one step.
        let (t, changes) = run(&mut d, t, 1.3, 0.34);
        assert_eq!(changes.last().map(|l| l.scale), Some(0.75), "{changes:?}");
        // The estimate then collapses to a fifth, while the step settles: the next frame
        // steps down, without waiting for the settle time and a window of drops.
        d.on_target(200_000.0);
        let (_, changes) = run(&mut d, t, 0.04, 0.0);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].scale <= 0.375, "{changes:?}");
        // A target that merely dips under what the level was taken to need does not.
        let mut d = Degrader::new(DegradationPreference::Balanced, FPS);
        d.on_target(1_000_000.0);
        let (t, _) = run(&mut d, Instant::now(), 2.0, 0.0);
        let (t, _) = run(&mut d, t, 1.3, 0.34);
        d.on_target(800_000.0);
        let (_, changes) = run(&mut d, t, 0.5, 0.0);
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_level_that_failed_higher_than_the_one_above_it_is_stepped_over() {
        let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
        d.on_target(600_000.0);
        // The full size fails at 600k: 3/4.
        let (t, changes) = run(&mut d, Instant::now(), 2.2, 0.3);
        assert_eq!(changes.last().map(|l| l.scale), Some(0.75));
        // Up to 4.5 Mbit/s: 3/4 fails there too (content it does not fit), down to 1/2.
        d.on_target(4_500_000.0);
        let (t, changes) = run(&mut d, t, 2.2, 0.3);
        assert_eq!(changes.last().map(|l| l.scale), Some(0.5));
        // Clean at 1/2: 3/4 waits for 1.1 times 4.5 / 0.7 Mbit/s, the full size does not.
        let (_, changes) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(changes.iter().map(|l| l.scale).collect::<Vec<_>>(), [1.0]);
    }

    #[test]
    fn a_step_up_that_does_not_hold_doubles_the_next_wait() {
        let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
        let t0 = Instant::now();
        let (t, _) = run(&mut d, t0, 2.2, 0.5);
        // Unknown failure rate (0) cleared at once: back up after 3 s clean (the window
        // that settles the change does not count).
        let (t, up) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(up.len(), 1);
        let (t, down) = run(&mut d, t, 2.1, 0.5);
        assert_eq!(down.len(), 1, "the level fails again");
        // Now the wait is 6 s: nothing after 5 s clean, a step after 7.
        let (t, none) = run(&mut d, t, 5.0, 0.0);
        assert!(none.is_empty(), "{none:?}");
        let (_, up) = run(&mut d, t, 2.0, 0.0);
        assert_eq!(up.len(), 1);
    }

    #[test]
    fn a_target_grown_well_past_a_failed_step_up_forgets_the_longer_wait() {
        let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
        d.on_target(400_000.0);
        let (t, _) = run(&mut d, Instant::now(), 2.2, 0.5);
        // The full size needs 800k (half its frames on 400k): up at 900k after 3 s clean.
        d.on_target(900_000.0);
        let (t, up) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(up.len(), 1);
        let (t, down) = run(&mut d, t, 2.1, 0.5);
        assert_eq!(down.len(), 1, "the level fails again");
        // The link came back: the target grew past what the full size failed with now (about
        // 1.8M) and past 1.5 times the target of that failure. The wait is 3 s again, not 6.
        d.on_target(2_500_000.0);
        let (_, up) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(up.len(), 1, "{up:?}");
        assert_eq!(d.level().scale, 1.0);
    }

    #[test]
    fn a_failure_needs_what_the_window_asked_for_not_its_last_target() {
        // 40 % of the frames dropped over a window whose first 0.6 s asked for 300k and last
        // 0.4 s for 600k: the full size needs about 430k / 0.6 = 720k, not 600k / 0.6 = 1M. (A
        // start's collapse then recovery recorded such a need, and video stayed a size down
        // for 17 s while the estimate climbed past what that size needed.)
        let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
        d.on_target(300_000.0);
        let (t, changes) = run(&mut d, Instant::now(), 1.6, 0.4);
        assert!(changes.is_empty(), "{changes:?}");
        d.on_target(600_000.0);
        let (t, changes) = run(&mut d, t, 0.5, 0.4);
        assert_eq!(changes.len(), 1, "the level fails");
        // 900k clears 1.1 times 720k (not 1.1M): back up after 3 s clean.
        d.on_target(900_000.0);
        let (_, up) = run(&mut d, t, 5.0, 0.0);
        assert_eq!(up.len(), 1, "{up:?}");
        assert_eq!(d.level().scale, 1.0);
    }

    #[test]
    fn a_need_taken_while_settling_gives_way_to_a_smaller_levels_measured_one() {
        let mut d = Degrader::new(DegradationPreference::MaintainFramerate, FPS);
        // A start on 1M sends 40 % of its frames: 640x480 needs 2.5M, and video goes to
        // 320x240, taken to need 2.5M × 0.25^0.75 = 884k while it settles.
        d.on_target(1_000_000.0);
        let (t, changes) = run(&mut d, Instant::now(), 2.2, 0.6);
        assert_eq!(sizes(&changes), [((320, 240), 30)]);
        // The target collapses before a window of it is measured: down to 160x120.
        d.on_target(400_000.0);
        let (t, changes) = run(&mut d, t, 0.1, 0.0);
        assert_eq!(sizes(&changes), [((160, 120), 30)]);
        // 160x120 spends 600k at the coarsest quantizer over a window, then the target halves:
        // 160x120 needs 600k, so 240x180 needs 600k × 2.25^0.5 = 900k and 320x240 1.2M.
        d.on_target(600_000.0);
        let (t, changes) = run(&mut d, t, 2.6, 0.0);
        assert!(changes.is_empty(), "{changes:?}");
        d.on_target(300_000.0);
        let (t, changes) = run(&mut d, t, 0.1, 0.0);
        assert_eq!(changes.len(), 1, "{changes:?}");
        // At 1M: 240x180 (1.1 × 900k), not 320x240 (its 884k was derived, not measured).
        d.on_target(1_000_000.0);
        let (_, changes) = run(&mut d, t, 4.5, 0.0);
        assert_eq!(sizes(&changes), [((240, 180), 30)]);
    }

    #[test]
    fn the_limiter_keeps_an_even_share_of_frames() {
        let mut limiter = FrameRateLimiter::default();
        let kept = (0..300u64).filter(|i| limiter.keep(i * 33_333, 20)).count();
        assert!((195..=205).contains(&kept), "{kept} of 300 at 20 of 30 fps");
        let mut all = FrameRateLimiter::default();
        assert_eq!(
            (0..300u64).filter(|i| all.keep(i * 33_333, 30)).count(),
            300
        );
        // A source slower than the rate: every frame.
        let mut slow = FrameRateLimiter::default();
        assert_eq!(
            (0..100u64).filter(|i| slow.keep(i * 100_000, 30)).count(),
            100
        );
    }
}
