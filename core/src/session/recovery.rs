//! Recovery of a published stream whose connection went quiet, as a state machine without I/O
//! or clock: the stream's driver (`stream.rs`) hands it what happened and when
//! ([`Recovery::handle`]), carries out what it asks for ([`Recovery::poll`]) and wakes it at
//! [`Recovery::next_timeout`].
//!
//! The ICE agent calls the selected pair lost after 3 s of silence. From then on the stream
//! recovers for the session's reconnect timeout: ICE goes on checking (a path that comes back
//! is found again), and after [`RESTART_AFTER`] an ICE restart is asked of the server (WHIP
//! `PATCH`), again [`RESTART_EVERY`] after one went through or [`RESTART_RETRY`] after one
//! failed. A server that does not restart ICE (405, 501) is not asked again and the old path
//! is waited for; one that forgot the stream (404) ends it at once. Once back, the receiver
//! gets a keyframe at once. A stream that gives up ends with `networkDisconnected`, then the
//! server is probed: gone, the session is disconnected; there, it is reconnected.
//!
//! Every [`Action::Reconnecting`] is closed by exactly one [`Action::Reconnected`] or
//! [`Action::ServerGone`], also when the stream ends for another reason meanwhile.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode};

/// A lost path is left this long to come back by itself before the first ICE restart.
pub(crate) const RESTART_AFTER: Duration = Duration::from_secs(1);
/// How long a restarted ICE may search for a path before the next restart.
pub(crate) const RESTART_EVERY: Duration = Duration::from_secs(4);
/// The pause before asking again when a restart failed (server unreachable, refused).
pub(crate) const RESTART_RETRY: Duration = Duration::from_secs(1);

/// The ICE agent's verdict on the stream's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Connected: traffic flows on the selected pair.
    Up,
    /// Connectivity checks under way, no verdict yet.
    Checking,
    /// Silent for 3 s (disconnected), or failed.
    Lost,
    /// Closed: it cannot come back.
    Closed,
}

/// How the server took an ICE restart request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PatchReply {
    /// The server's SDP fragment: its new credentials and candidates.
    Answer(String),
    /// The server does not restart ICE (405, 501): the path may still come back by itself.
    Unsupported,
    /// The server no longer knows the stream (404): it cannot come back.
    Gone,
    /// The request failed (unreachable, another status), or no restart offer could be made:
    /// worth trying again.
    Failed(Error),
}

impl PatchReply {
    /// The reply a WHIP server's answer to the `PATCH` of `resource` means (RFC 9725 §4.4.2).
    pub(crate) fn from_response(status: u16, body: String, resource: &str) -> PatchReply {
        match status {
            200 if body.contains("a=ice-ufrag:") => PatchReply::Answer(body),
            405 | 501 => PatchReply::Unsupported,
            404 => PatchReply::Gone,
            _ => {
                let excerpt: String = body.chars().take(200).collect();
                PatchReply::Failed(Error::new(
                    ErrorCode::UnexpectedServerResponse,
                    format!("{resource}: ICE restart refused (HTTP {status}: {excerpt})"),
                ))
            }
        }
    }
}

/// What happened to the stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// The ICE agent's verdict changed.
    Path(Path),
    /// The server answered the restart request ([`Action::SendRestartOffer`]).
    Patch(PatchReply),
    /// The server's answer ([`Action::ApplyRestartAnswer`]) was applied, or could not be.
    AnswerApplied(bool),
    /// The stream ended with `networkDisconnected` ([`Action::GiveUp`]).
    StreamEnded,
    /// Whether the server answered the probe ([`Action::ProbeServer`]).
    ServerReachable(bool),
    /// The stream ends for another reason: the host unpublished, a source or encoder stopped,
    /// the session ends.
    Unpublished,
    /// The time [`Recovery::next_timeout`] asked for came.
    Timeout,
}

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// The stream is recovering: the session is reconnecting.
    Reconnecting,
    /// Make an ICE restart offer and send it to the server; answer with [`Input::Patch`].
    SendRestartOffer,
    /// Apply the server's restart answer; answer with [`Input::AnswerApplied`].
    ApplyRestartAnswer(String),
    /// The receiver lost frames: make the next video frame a keyframe.
    RequestKeyframe,
    /// The stream no longer keeps the session reconnecting.
    Reconnected,
    /// End the stream with `networkDisconnected`; answer with [`Input::StreamEnded`].
    GiveUp,
    /// Find out whether the server still answers; answer with [`Input::ServerReachable`].
    ProbeServer,
    /// The server is gone too: the session is disconnected (`networkDisconnected`).
    ServerGone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The path is up, or checking without a verdict.
    Connected,
    /// The path was lost; recovering until `deadline`.
    Recovering { deadline: Instant, restart: Restart },
    /// Ending the stream.
    GivingUp,
    /// The stream ended; waiting to hear whether the server answers.
    Probing,
    /// Nothing more to do.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// The next restart goes out then.
    Due(Instant),
    /// A restart request or its answer is under way. The path's verdict waits for it: a
    /// server that answered has new credentials, so its answer is applied even when the old
    /// path came back meanwhile.
    InFlight,
    /// The server does not restart ICE: only wait for the old path.
    Refused,
}

/// The recovery of one stream.
#[derive(Debug)]
pub(crate) struct Recovery {
    reconnect_timeout: Duration,
    state: State,
    path: Path,
    /// A `Reconnecting` went out that no `Reconnected` or `ServerGone` closed yet.
    reconnecting: bool,
    actions: VecDeque<Action>,
}

impl Recovery {
    /// A stream whose path is up; a lost one recovers for `reconnect_timeout`.
    pub(crate) fn new(reconnect_timeout: Duration) -> Recovery {
        Recovery {
            reconnect_timeout,
            state: State::Connected,
            path: Path::Up,
            reconnecting: false,
            actions: VecDeque::new(),
        }
    }

    /// Takes in what happened at `now`.
    pub(crate) fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Path(path) => {
                self.path = path;
                self.on_path(now);
            }
            Input::Patch(reply) => self.on_patch(now, reply),
            Input::AnswerApplied(true) => self.restart_done(now, RESTART_EVERY),
            Input::AnswerApplied(false) => self.restart_done(now, RESTART_RETRY),
            Input::StreamEnded => {
                if self.state == State::GivingUp {
                    self.state = State::Probing;
                    self.actions.push_back(Action::ProbeServer);
                }
            }
            Input::ServerReachable(reachable) => {
                if self.state == State::Probing {
                    self.state = State::Done;
                    if !reachable {
                        self.reconnecting = false;
                        self.actions.push_back(Action::ServerGone);
                    } else {
                        self.close_reconnecting();
                    }
                }
            }
            Input::Unpublished => match self.state {
                State::Connected | State::Recovering { .. } | State::GivingUp => {
                    self.state = State::Done;
                    self.close_reconnecting();
                }
                // The stream already ended on its own: the probe's answer closes.
                State::Probing | State::Done => {}
            },
            Input::Timeout => self.on_timeout(now),
        }
    }

    /// The next thing to do, if any.
    pub(crate) fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to hand in [`Input::Timeout`].
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Recovering {
                deadline,
                restart: Restart::Due(at),
            } => Some(at.min(deadline)),
            State::Recovering { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// Whether the recovery has nothing more to do (the stream ended).
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done && self.actions.is_empty()
    }

    fn on_path(&mut self, now: Instant) {
        match self.state {
            State::Connected => match self.path {
                Path::Lost => {
                    self.state = State::Recovering {
                        deadline: now + self.reconnect_timeout,
                        restart: Restart::Due(now + RESTART_AFTER),
                    };
                    self.reconnecting = true;
                    self.actions.push_back(Action::Reconnecting);
                }
                Path::Closed => self.give_up(),
                Path::Up | Path::Checking => {}
            },
            State::Recovering {
                restart: Restart::InFlight,
                ..
            } => {} // judged once the restart is through
            State::Recovering { .. } => self.judge_path(),
            State::GivingUp | State::Probing | State::Done => {}
        }
    }

    /// While recovering: back when the path is up, over when it closed.
    fn judge_path(&mut self) {
        match self.path {
            Path::Up => {
                self.state = State::Connected;
                // The receiver lost frames meanwhile: a fresh reference at once rather than
                // when it asks.
                self.actions.push_back(Action::RequestKeyframe);
                self.close_reconnecting();
            }
            Path::Closed => self.give_up(),
            Path::Lost | Path::Checking => {}
        }
    }

    fn on_patch(&mut self, now: Instant, reply: PatchReply) {
        let State::Recovering {
            deadline,
            restart: Restart::InFlight,
        } = self.state
        else {
            return; // a late answer to a recovery that is over
        };
        match reply {
            PatchReply::Answer(fragment) => {
                self.actions.push_back(Action::ApplyRestartAnswer(fragment));
            }
            PatchReply::Unsupported => {
                self.state = State::Recovering {
                    deadline,
                    restart: Restart::Refused,
                };
                self.judge_path();
            }
            PatchReply::Gone => self.give_up(),
            PatchReply::Failed(_) => self.restart_done(now, RESTART_RETRY),
        }
    }

    /// A restart went through or failed: the next one after `wait`, if the path is not back.
    fn restart_done(&mut self, now: Instant, wait: Duration) {
        if let State::Recovering {
            deadline,
            restart: Restart::InFlight,
        } = self.state
        {
            self.state = State::Recovering {
                deadline,
                restart: Restart::Due(now + wait),
            };
            self.judge_path();
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let State::Recovering { deadline, restart } = self.state else {
            return;
        };
        if now >= deadline {
            self.give_up();
        } else if matches!(restart, Restart::Due(at) if now >= at) {
            self.state = State::Recovering {
                deadline,
                restart: Restart::InFlight,
            };
            self.actions.push_back(Action::SendRestartOffer);
        }
    }

    fn give_up(&mut self) {
        self.state = State::GivingUp;
        self.actions.push_back(Action::GiveUp);
    }

    fn close_reconnecting(&mut self) {
        if std::mem::take(&mut self.reconnecting) {
            self.actions.push_back(Action::Reconnected);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(15);

    /// A recovery and a simulated clock.
    struct Sim {
        base: Instant,
        recovery: Recovery,
    }

    impl Sim {
        fn new() -> Sim {
            Sim {
                base: Instant::now(),
                recovery: Recovery::new(TIMEOUT),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.base + Duration::from_millis(ms)
        }

        /// Hands in `input` at `ms` and returns what the recovery asks for.
        fn input(&mut self, ms: u64, input: Input) -> Vec<Action> {
            self.recovery.handle(self.at(ms), input);
            self.drain()
        }

        /// Fires the timer at `ms`, which must be when the recovery asked for.
        fn timer(&mut self, ms: u64) -> Vec<Action> {
            assert_eq!(self.recovery.next_timeout(), Some(self.at(ms)));
            self.input(ms, Input::Timeout)
        }

        fn drain(&mut self) -> Vec<Action> {
            std::iter::from_fn(|| self.recovery.poll()).collect()
        }

        fn next_timeout_ms(&self) -> Option<u64> {
            self.recovery
                .next_timeout()
                .map(|t| t.duration_since(self.base).as_millis() as u64)
        }

        /// Lost at `ms`.
        fn lose(&mut self, ms: u64) {
            assert_eq!(
                self.input(ms, Input::Path(Path::Lost)),
                [Action::Reconnecting]
            );
        }
    }

    fn failed() -> PatchReply {
        PatchReply::Failed(Error::internal("connection refused"))
    }

    #[test]
    fn a_path_up_needs_nothing() {
        let mut sim = Sim::new();
        assert!(sim.input(0, Input::Path(Path::Up)).is_empty());
        assert!(sim.input(10, Input::Path(Path::Checking)).is_empty());
        assert_eq!(sim.next_timeout_ms(), None);
    }

    #[test]
    fn a_path_back_by_itself_before_the_restart_reconnects_with_a_keyframe() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.next_timeout_ms(), Some(1000));
        assert!(sim.input(300, Input::Path(Path::Checking)).is_empty());
        assert_eq!(
            sim.input(600, Input::Path(Path::Up)),
            [Action::RequestKeyframe, Action::Reconnected]
        );
        assert_eq!(sim.next_timeout_ms(), None);
        // Lost again later: a new recovery, timed from then.
        sim.lose(60_000);
        assert_eq!(sim.next_timeout_ms(), Some(61_000));
    }

    #[test]
    fn a_restart_answered_200_is_applied_and_the_path_comes_back() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        // Nothing is due while the request is under way, but the reconnect timeout.
        assert_eq!(sim.next_timeout_ms(), Some(15_000));
        let answer = "a=ice-ufrag:x\r\na=ice-pwd:y\r\n".to_owned();
        assert_eq!(
            sim.input(1100, Input::Patch(PatchReply::Answer(answer.clone()))),
            [Action::ApplyRestartAnswer(answer)]
        );
        assert!(sim.input(1150, Input::AnswerApplied(true)).is_empty());
        assert_eq!(sim.next_timeout_ms(), Some(5150));
        assert!(sim.input(1200, Input::Path(Path::Checking)).is_empty());
        assert_eq!(
            sim.input(1500, Input::Path(Path::Up)),
            [Action::RequestKeyframe, Action::Reconnected]
        );
        assert_eq!(sim.next_timeout_ms(), None);
    }

    #[test]
    fn a_path_back_during_a_restart_is_judged_once_the_answer_is_applied() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        assert!(sim.input(1050, Input::Path(Path::Up)).is_empty());
        let answer = "a=ice-ufrag:x\r\na=ice-pwd:y\r\n".to_owned();
        assert_eq!(
            sim.input(1100, Input::Patch(PatchReply::Answer(answer.clone()))),
            [Action::ApplyRestartAnswer(answer)]
        );
        assert_eq!(
            sim.input(1120, Input::AnswerApplied(true)),
            [Action::RequestKeyframe, Action::Reconnected]
        );
    }

    #[test]
    fn a_server_that_forgot_the_stream_gives_up_at_once() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        assert_eq!(
            PatchReply::from_response(404, String::new(), "r"),
            PatchReply::Gone
        );
        assert_eq!(
            sim.input(1050, Input::Patch(PatchReply::Gone)),
            [Action::GiveUp]
        );
        assert_eq!(sim.next_timeout_ms(), None);
        assert_eq!(sim.input(1060, Input::StreamEnded), [Action::ProbeServer]);
        assert_eq!(
            sim.input(1070, Input::ServerReachable(true)),
            [Action::Reconnected]
        );
        assert!(sim.recovery.is_done());
    }

    #[test]
    fn a_server_without_restarts_leaves_the_old_path_free_to_come_back() {
        for status in [405, 501] {
            assert_eq!(
                PatchReply::from_response(status, String::new(), "r"),
                PatchReply::Unsupported
            );
            let mut sim = Sim::new();
            sim.lose(0);
            assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
            // No answer to apply, and no other restart asked for: only the deadline.
            assert!(sim
                .input(1050, Input::Patch(PatchReply::Unsupported))
                .is_empty());
            assert_eq!(sim.next_timeout_ms(), Some(15_000));
            assert_eq!(
                sim.input(9000, Input::Path(Path::Up)),
                [Action::RequestKeyframe, Action::Reconnected]
            );
        }
    }

    #[test]
    fn a_server_without_restarts_gives_up_at_the_reconnect_timeout() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        assert!(sim
            .input(1050, Input::Patch(PatchReply::Unsupported))
            .is_empty());
        assert!(sim.input(14_999, Input::Timeout).is_empty()); // early wake: nothing
        assert_eq!(sim.timer(15_000), [Action::GiveUp]);
        assert_eq!(sim.input(15_010, Input::StreamEnded), [Action::ProbeServer]);
        assert_eq!(
            sim.input(15_020, Input::ServerReachable(true)),
            [Action::Reconnected]
        );
    }

    #[test]
    fn a_failed_restart_is_retried_after_a_second_then_every_four() {
        assert!(matches!(
            PatchReply::from_response(503, "busy".into(), "r"),
            PatchReply::Failed(_)
        ));
        assert!(matches!(
            PatchReply::from_response(200, "no credentials".into(), "r"),
            PatchReply::Failed(_)
        ));
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        assert!(sim.input(1200, Input::Patch(failed())).is_empty()); // a network error
        assert_eq!(sim.timer(2200), [Action::SendRestartOffer]);
        assert!(sim.input(2300, Input::Patch(failed())).is_empty()); // a 500
        assert_eq!(sim.timer(3300), [Action::SendRestartOffer]);
        let answer = "a=ice-ufrag:x\r\na=ice-pwd:y\r\n".to_owned();
        assert_eq!(
            sim.input(3400, Input::Patch(PatchReply::Answer(answer.clone()))),
            [Action::ApplyRestartAnswer(answer.clone())]
        );
        assert!(sim.input(3400, Input::AnswerApplied(true)).is_empty());
        assert_eq!(sim.timer(7400), [Action::SendRestartOffer]);
        // An answer that cannot be applied is a failed restart too.
        assert_eq!(
            sim.input(7500, Input::Patch(PatchReply::Answer(answer.clone()))),
            [Action::ApplyRestartAnswer(answer)]
        );
        assert!(sim.input(7500, Input::AnswerApplied(false)).is_empty());
        assert_eq!(sim.timer(8500), [Action::SendRestartOffer]);
    }

    #[test]
    fn the_reconnect_timeout_gives_up_and_an_unreachable_server_disconnects() {
        let mut sim = Sim::new();
        sim.lose(0);
        let mut now = 1000;
        // Restarts that go through but never bring the path back.
        loop {
            assert_eq!(sim.timer(now), [Action::SendRestartOffer]);
            sim.input(
                now + 100,
                Input::Patch(PatchReply::Answer("a=ice-ufrag:x".into())),
            );
            assert!(sim.input(now + 100, Input::AnswerApplied(true)).is_empty());
            now += 4100;
            if now >= 15_000 {
                break;
            }
        }
        assert_eq!(sim.timer(15_000), [Action::GiveUp]);
        assert_eq!(sim.input(15_000, Input::StreamEnded), [Action::ProbeServer]);
        assert_eq!(
            sim.input(17_000, Input::ServerReachable(false)),
            [Action::ServerGone]
        );
        assert!(sim.recovery.is_done());
        // Nothing more, whatever comes.
        assert!(sim.input(17_100, Input::Path(Path::Up)).is_empty());
        assert!(sim.input(17_200, Input::Unpublished).is_empty());
    }

    #[test]
    fn the_reconnect_timeout_cuts_a_restart_short() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        assert_eq!(sim.timer(15_000), [Action::GiveUp]);
        // The request's late answer changes nothing.
        assert!(sim.input(16_000, Input::Patch(failed())).is_empty());
        assert_eq!(sim.input(16_000, Input::StreamEnded), [Action::ProbeServer]);
    }

    #[test]
    fn unpublishing_while_reconnecting_closes_it_once() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        assert_eq!(sim.input(1500, Input::Unpublished), [Action::Reconnected]);
        assert!(sim.recovery.is_done());
        assert_eq!(sim.next_timeout_ms(), None);
        for input in [
            Input::Patch(PatchReply::Gone),
            Input::Path(Path::Up),
            Input::Path(Path::Lost),
            Input::Timeout,
            Input::Unpublished,
            Input::StreamEnded,
            Input::ServerReachable(false),
        ] {
            assert!(sim.input(2000, input).is_empty());
        }
    }

    #[test]
    fn unpublishing_while_giving_up_closes_it_once() {
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
        assert_eq!(sim.timer(15_000), [Action::GiveUp]);
        // The host was first: the stream ends its way, and the reconnection with it.
        assert_eq!(sim.input(15_000, Input::Unpublished), [Action::Reconnected]);
        assert!(sim.input(15_100, Input::StreamEnded).is_empty());
        assert!(sim.input(15_200, Input::ServerReachable(true)).is_empty());
    }

    #[test]
    fn unpublishing_a_connected_stream_closes_nothing() {
        let mut sim = Sim::new();
        assert!(sim.input(500, Input::Unpublished).is_empty());
        assert!(sim.input(600, Input::Path(Path::Lost)).is_empty());
        assert!(sim.recovery.is_done());
    }

    #[test]
    fn after_giving_up_a_reachable_server_reconnects_an_unreachable_one_disconnects() {
        for reachable in [true, false] {
            let mut sim = Sim::new();
            sim.lose(0);
            assert_eq!(sim.timer(1000), [Action::SendRestartOffer]);
            assert_eq!(
                sim.input(1050, Input::Patch(PatchReply::Gone)),
                [Action::GiveUp]
            );
            assert_eq!(sim.input(1100, Input::StreamEnded), [Action::ProbeServer]);
            let closing = if reachable {
                Action::Reconnected
            } else {
                Action::ServerGone
            };
            assert_eq!(
                sim.input(3000, Input::ServerReachable(reachable)),
                [closing]
            );
        }
    }

    #[test]
    fn a_closed_connection_gives_up_without_reconnecting() {
        let mut sim = Sim::new();
        assert_eq!(sim.input(100, Input::Path(Path::Closed)), [Action::GiveUp]);
        assert_eq!(sim.input(200, Input::StreamEnded), [Action::ProbeServer]);
        // Nothing was reconnecting: nothing to close when the server answers...
        assert!(sim.input(300, Input::ServerReachable(true)).is_empty());
        // ...but a server that is gone still takes the session with it.
        let mut sim = Sim::new();
        sim.input(100, Input::Path(Path::Closed));
        sim.input(200, Input::StreamEnded);
        assert_eq!(
            sim.input(300, Input::ServerReachable(false)),
            [Action::ServerGone]
        );
        // Closed while recovering: at once, not at the timeout.
        let mut sim = Sim::new();
        sim.lose(0);
        assert_eq!(sim.input(500, Input::Path(Path::Closed)), [Action::GiveUp]);
    }

    #[test]
    fn the_keyframe_goes_out_when_back_and_only_then() {
        let mut sim = Sim::new();
        sim.lose(0);
        let mut all = sim.timer(1000);
        all.extend(sim.input(1100, Input::Patch(PatchReply::Unsupported)));
        assert!(!all.contains(&Action::RequestKeyframe));
        let back = sim.input(2000, Input::Path(Path::Up));
        assert_eq!(back.first(), Some(&Action::RequestKeyframe));
    }

    /// Whatever happens in whatever order, every `Reconnecting` is closed by exactly one
    /// `Reconnected` or `ServerGone` once the stream ended.
    #[test]
    fn every_reconnecting_is_closed_exactly_once() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let mut sim = Sim::new();
            let (mut open, mut now) = (0i32, 0u64);
            for step in 0..40 {
                now += next(3000);
                let input = if step == 39 {
                    Input::Unpublished
                } else {
                    match next(10) {
                        0 => Input::Path(Path::Up),
                        1 => Input::Path(Path::Lost),
                        2 => Input::Path(Path::Checking),
                        3 => Input::Patch(match next(4) {
                            0 => PatchReply::Answer("a=ice-ufrag:x".into()),
                            1 => PatchReply::Unsupported,
                            2 => PatchReply::Gone,
                            _ => failed(),
                        }),
                        4 => Input::AnswerApplied(next(2) == 0),
                        5 => Input::StreamEnded,
                        6 => Input::ServerReachable(next(2) == 0),
                        7 if next(8) == 0 => Input::Path(Path::Closed),
                        _ => Input::Timeout,
                    }
                };
                for action in sim.input(now, input) {
                    match action {
                        Action::Reconnecting => {
                            assert_eq!(open, 0);
                            open += 1;
                        }
                        Action::Reconnected => {
                            assert_eq!(open, 1);
                            open -= 1;
                        }
                        Action::ServerGone => open = 0,
                        _ => {}
                    }
                }
            }
            // The give-up path closes only once the probe answered.
            if !sim.recovery.is_done() {
                sim.input(now, Input::StreamEnded);
                for action in sim.input(now, Input::ServerReachable(true)) {
                    assert_eq!(action, Action::Reconnected);
                    open -= 1;
                }
            }
            assert_eq!(open, 0);
            assert!(sim.recovery.is_done());
        }
    }
}
