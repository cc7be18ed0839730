//! Audio-only fallback (OpenTok's `audioFallback` for publishers): when the path stays too
//! narrow for video, video stops and audio goes on alone; when it widens, video comes back.
//!
//! Sans-IO: the video target the estimate leaves and the time come in, events and whether
//! video may be sent go out.
//!
//! ```text
//! Normal ──below warn 2 s──▶ Warning ──below disable ¾ of 4 s──▶ Disabled ◀──┐
//!   ▲  ◀──above lift 2 s───────┘                              │ wait  │ target fell
//!   └──────────────────────── a try held 4 s ◀── Trying ◀─────┘───────┘
//! ```
//!
//! A disabled path tells nothing about whether it widened (audio alone never fills it), so
//! video is tried again after a wait (5 s, 5 s again after the first try that fails, then
//! doubling after each one, at most 20 s),
//! starting at what video needs. A try that holds is `videoEnabled`; one that fails is not
//! seen by the host: video stays disabled for it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Below this video target (bit/s) for a while, the host is warned.
const WARN_BPS: f64 = 175_000.0;
/// Below this for a while after the warning, video stops: with audio and headers, a path of
/// about 200 kbit/s. The loss-based estimate sits at or a little above what a path carries
/// (it grows until loss tells it to fall), so this is where a 150 kbit/s path ends up; there
/// video is a slide show of 80x60 frames whose losses cost audio its packets.
const DISABLE_BPS: f64 = 125_000.0;
/// The warning is lifted above this.
const LIFT_BPS: f64 = 200_000.0;
/// How long a condition must hold before the state changes.
const HOLD: Duration = Duration::from_secs(2);
/// Video stops when the target spent `DISABLE_SHARE` of the last `DISABLE_HOLD` under the
/// disable threshold, in a warning that lasted that long: an estimate that fell on a burst of
/// loss climbs back within a few seconds on a path that carries video. Not all of it: on a
/// path too narrow for video, the estimate of a tiny picture that cannot fill the path grows
/// for a while before loss brings it down again, and a rule that wanted it under all the
/// time would wait for a lull in that saw-tooth.
const DISABLE_HOLD: Duration = Duration::from_secs(4);
const DISABLE_SHARE: f64 = 0.75;
/// How long a try must hold for video to be enabled again.
const TRY_FOR: Duration = Duration::from_secs(4);
/// The wait before the first try, and after the first that fails: a try costs audio nothing
/// (no audio was lost in any try at 150 kbit/s), and one that failed just before the path
/// came back made video wait 10 s more.
const FIRST_WAIT: Duration = Duration::from_secs(5);
const MAX_WAIT: Duration = Duration::from_secs(20);

/// What the host is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FallbackEvent {
    /// Video may be disabled soon (`videoDisableWarning`).
    Warning,
    /// The path recovered before that (`videoDisableWarningLifted`).
    WarningLifted,
    /// Video stopped; audio goes on (`videoDisabled`, reason `quality`).
    Disabled,
    /// Video is back (`videoEnabled`, reason `quality`).
    Enabled,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Normal,
    Warning {
        since: Instant,
    },
    /// `failed_before`: a try failed since video stopped (the first failure waits as long
    /// as the first wait; later ones double it).
    Disabled {
        retry_at: Instant,
        wait: Duration,
        failed_before: bool,
    },
    Trying {
        since: Instant,
        wait: Duration,
        failed_before: bool,
    },
}

/// One stream's fallback.
#[derive(Debug)]
pub(crate) struct Fallback {
    state: State,
    warn_bps: f64,
    disable_bps: f64,
    lift_bps: f64,
    /// Since when the target has been on the side of a threshold the state watches.
    low_since: Option<Instant>,
    high_since: Option<Instant>,
    /// In a warning: the stretches of time spent under the disable threshold, (end, length),
    /// over the last `DISABLE_HOLD`.
    under: VecDeque<(Instant, Duration)>,
    last_poll: Option<Instant>,
    target_bps: f64,
    events: VecDeque<FallbackEvent>,
}

impl Fallback {
    /// A fallback for video that starts at `initial_video_bps` and asks at most
    /// `max_video_bps`: the thresholds scale down for a stream that needs less (a small
    /// picture starts below them, and is not narrow for it) or is capped below them.
    pub(crate) fn new(initial_video_bps: f64, max_video_bps: f64) -> Self {
        let scale = (initial_video_bps / LIFT_BPS)
            .min(max_video_bps / (LIFT_BPS * 2.0))
            .min(1.0);
        Fallback {
            state: State::Normal,
            warn_bps: WARN_BPS * scale,
            disable_bps: DISABLE_BPS * scale,
            lift_bps: LIFT_BPS * scale,
            low_since: None,
            high_since: None,
            under: VecDeque::new(),
            last_poll: None,
            target_bps: f64::INFINITY,
            events: VecDeque::new(),
        }
    }

    /// The video target the estimate leaves now.
    pub(crate) fn on_target(&mut self, now: Instant, video_bps: f64) {
        // The time since the last poll was spent at the target before this one.
        self.account(now);
        self.target_bps = video_bps;
        self.advance(now, false);
    }

    /// Counts the time since the last poll, spent at the current target, for the warning's
    /// window.
    fn account(&mut self, now: Instant) {
        let since_poll = self
            .last_poll
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        self.last_poll = Some(now);
        if matches!(self.state, State::Warning { .. })
            && self.target_bps < self.disable_bps
            && !since_poll.is_zero()
        {
            self.under.push_back((now, since_poll));
        }
        while self
            .under
            .front()
            .is_some_and(|(end, _)| now.saturating_duration_since(*end) > DISABLE_HOLD)
        {
            self.under.pop_front();
        }
    }

    /// What a try starts at: the video target needed to leave the warning behind.
    pub(crate) fn try_bps(&self) -> f64 {
        self.lift_bps
    }

    /// Moves on with time; whether video is to be sent now. Only this starts a try: its
    /// caller starts the estimate at what video needs at once. A try started where a new
    /// target came in (`on_target`, on the thread that hears the receiver) went on at the
    /// old one, and failed on it a few milliseconds later: 2 tries in 26 at 150 kbit/s, each
    /// a further 10 s without video after the link was back.
    pub(crate) fn poll(&mut self, now: Instant) -> bool {
        self.advance(now, true)
    }

    /// Moves on with time (`try_now`: a try may start); whether video is to be sent now.
    fn advance(&mut self, now: Instant, try_now: bool) -> bool {
        self.account(now);
        let target = self.target_bps;
        match self.state {
            State::Normal => {
                if self
                    .held(now, target < self.warn_bps, None)
                    .is_some_and(|low_for| low_for >= HOLD)
                {
                    self.enter(State::Warning { since: now }, Some(FallbackEvent::Warning));
                }
            }
            State::Warning { since } => {
                self.held(now, false, Some(target >= self.lift_bps));
                let window_start = now.checked_sub(DISABLE_HOLD);
                let under: Duration = self
                    .under
                    .iter()
                    .map(|&(end, length)| match window_start {
                        // Only the part of a stretch inside the window counts.
                        Some(start) => length.min(end.saturating_duration_since(start)),
                        None => length,
                    })
                    .sum();
                if now.saturating_duration_since(since) >= DISABLE_HOLD
                    && under.as_secs_f64() >= DISABLE_HOLD.as_secs_f64() * DISABLE_SHARE
                {
                    self.enter(
                        State::Disabled {
                            retry_at: now + FIRST_WAIT,
                            wait: FIRST_WAIT,
                            failed_before: false,
                        },
                        Some(FallbackEvent::Disabled),
                    );
                } else if self.high_since.is_some_and(|at| now - at >= HOLD) {
                    self.enter(State::Normal, Some(FallbackEvent::WarningLifted));
                }
            }
            State::Disabled {
                retry_at,
                wait,
                failed_before,
            } => {
                if try_now && now >= retry_at {
                    tracing::debug!("trying video again");
                    self.enter(
                        State::Trying {
                            since: now,
                            wait,
                            failed_before,
                        },
                        None,
                    );
                }
            }
            State::Trying {
                since,
                wait,
                failed_before,
            } => {
                if target < self.disable_bps {
                    let wait = if failed_before {
                        (wait * 2).min(MAX_WAIT)
                    } else {
                        wait
                    };
                    tracing::debug!("video does not fit yet; next try in {} s", wait.as_secs());
                    self.enter(
                        State::Disabled {
                            retry_at: now + wait,
                            wait,
                            failed_before: true,
                        },
                        None,
                    );
                } else if now.saturating_duration_since(since) >= TRY_FOR {
                    self.enter(State::Normal, Some(FallbackEvent::Enabled));
                }
            }
        }
        self.sends_video()
    }

    /// Whether video is sent in the current state.
    pub(crate) fn sends_video(&self) -> bool {
        !matches!(self.state, State::Disabled { .. })
    }

    /// Whether video is being tried (the estimate starts the try at [`Fallback::try_bps`]).
    pub(crate) fn trying(&self) -> bool {
        matches!(self.state, State::Trying { .. })
    }

    /// The next event for the host.
    pub(crate) fn next_event(&mut self) -> Option<FallbackEvent> {
        self.events.pop_front()
    }

    /// How long `low` has held (None: it does not hold now); `high` (when given) is timed
    /// alongside.
    fn held(&mut self, now: Instant, low: bool, high: Option<bool>) -> Option<Duration> {
        self.low_since = if low {
            Some(self.low_since.unwrap_or(now))
        } else {
            None
        };
        self.high_since = match high {
            Some(true) => Some(self.high_since.unwrap_or(now)),
            _ => None,
        };
        self.low_since.map(|at| now - at)
    }

    fn enter(&mut self, state: State, event: Option<FallbackEvent>) {
        self.state = state;
        self.low_since = None;
        self.high_since = None;
        self.under.clear();
        self.events.extend(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bps` every 250 ms for `seconds`; the events that came and whether video was
    /// sent at the end.
    fn run(f: &mut Fallback, t: &mut Instant, seconds: f64, bps: f64) -> Vec<FallbackEvent> {
        let steps = (seconds * 4.0) as u32;
        for _ in 0..steps {
            *t += Duration::from_millis(250);
            f.on_target(*t, bps);
            f.poll(*t);
        }
        std::iter::from_fn(|| f.next_event()).collect()
    }

    use FallbackEvent::*;

    #[test]
    fn a_narrow_path_warns_then_disables_and_a_try_that_holds_enables() {
        let mut f = Fallback::new(645_000.0, 2_500_000.0);
        let mut t = Instant::now();
        assert!(run(&mut f, &mut t, 10.0, 800_000.0).is_empty());
        // A dip shorter than the hold is nothing.
        assert!(run(&mut f, &mut t, 1.5, 50_000.0).is_empty());
        assert!(run(&mut f, &mut t, 1.0, 800_000.0).is_empty());
        assert_eq!(run(&mut f, &mut t, 2.5, 50_000.0), [Warning]);
        assert!(f.sends_video());
        assert_eq!(run(&mut f, &mut t, 4.0, 50_000.0), [Disabled]);
        assert!(!f.sends_video());
        // Tries after 5 s, at what lifts the warning.
        assert!(run(&mut f, &mut t, 4.5, 50_000.0).is_empty());
        assert!(!f.sends_video());
        // The encoder's poll starts the try while the target is still low; the estimate
        // then restarts at what a try needs, and the try goes on.
        t += Duration::from_millis(750);
        // A new target, heard on another thread, starts none: the try would go on at it.
        f.on_target(t, 50_000.0);
        assert!(!f.trying() && !f.sends_video());
        assert!(f.poll(t) && f.trying());
        let try_bps = f.try_bps();
        f.on_target(t, try_bps);
        assert!(f.trying() && f.sends_video());
        assert_eq!(run(&mut f, &mut t, 4.0, try_bps), [Enabled]);
        assert!(f.sends_video() && !f.trying());
    }

    #[test]
    fn a_second_try_that_fails_waits_twice_as_long_unseen_by_the_host() {
        let mut f = Fallback::new(645_000.0, 2_500_000.0);
        let mut t = Instant::now();
        assert_eq!(run(&mut f, &mut t, 6.5, 50_000.0), [Warning, Disabled]);
        let mut tries = Vec::new();
        let mut last = t;
        for _ in 0..200 {
            t += Duration::from_millis(250);
            f.poll(t);
            if f.trying() {
                tries.push((t - last).as_secs_f64());
                last = t;
            }
            // The path is narrow: a try's target falls at once.
            f.on_target(t, 60_000.0);
        }
        assert!(std::iter::from_fn(|| f.next_event()).next().is_none());
        assert!(tries.len() >= 4, "{tries:?}");
        // 5 s, 5 again, then 10, then 20 at most.
        assert!((tries[1] - 5.25).abs() < 0.6, "{tries:?}");
        assert!((tries[2] - 10.25).abs() < 0.6, "{tries:?}");
        assert!(
            tries[3..].iter().all(|w| (w - 20.25).abs() < 0.6),
            "{tries:?}"
        );
    }

    #[test]
    fn a_saw_tooth_mostly_under_the_threshold_disables_and_one_mostly_over_does_not() {
        // A tiny picture's estimate on a path too narrow for video: 3 s under, 1 s over.
        let mut f = Fallback::new(645_000.0, 2_500_000.0);
        let mut t = Instant::now();
        assert_eq!(run(&mut f, &mut t, 2.5, 50_000.0), [Warning]);
        let mut events = Vec::new();
        for _ in 0..3 {
            events.extend(run(&mut f, &mut t, 1.0, 170_000.0));
            events.extend(run(&mut f, &mut t, 3.0, 60_000.0));
        }
        assert_eq!(events.first(), Some(&Disabled), "{events:?}");
        // Half under, half over (below the lift): a warning that stays.
        let mut f = Fallback::new(645_000.0, 2_500_000.0);
        let mut t = Instant::now();
        assert_eq!(run(&mut f, &mut t, 2.5, 50_000.0), [Warning]);
        for _ in 0..5 {
            assert!(run(&mut f, &mut t, 2.0, 170_000.0).is_empty());
            assert!(run(&mut f, &mut t, 2.0, 60_000.0).is_empty());
        }
        assert!(f.sends_video());
    }

    #[test]
    fn a_warning_is_lifted_when_the_path_widens() {
        let mut f = Fallback::new(645_000.0, 2_500_000.0);
        let mut t = Instant::now();
        assert_eq!(run(&mut f, &mut t, 2.5, 150_000.0), [Warning]);
        // Between disable and lift: nothing.
        assert!(run(&mut f, &mut t, 5.0, 160_000.0).is_empty());
        assert_eq!(run(&mut f, &mut t, 2.5, 400_000.0), [WarningLifted]);
        assert!(run(&mut f, &mut t, 5.0, 400_000.0).is_empty());
    }

    #[test]
    fn a_stream_that_needs_little_or_is_capped_low_is_not_called_narrow() {
        // 320x240 starts at 161 kbit/s: that is not narrow for it.
        let mut f = Fallback::new(161_000.0, 1_500_000.0);
        let mut t = Instant::now();
        assert!(run(&mut f, &mut t, 10.0, 161_000.0).is_empty());
        assert_eq!(run(&mut f, &mut t, 2.5, 130_000.0), [Warning]);
        let mut f = Fallback::new(645_000.0, 60_000.0);
        let mut t = Instant::now();
        assert!(run(&mut f, &mut t, 10.0, 60_000.0).is_empty());
        assert!(f.sends_video());
        assert_eq!(run(&mut f, &mut t, 6.5, 5_000.0), [Warning, Disabled]);
    }
}
