//! One published stream: the sending peer connection and its encoders, and one task per
//! stream, its driver, that owns the connection: it keeps the stats fresh, ends the stream
//! when an encoder fails, and carries out the [`Recovery`] of a lost connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use webrtc::peer_connection::RTCPeerConnectionState;

use super::offer::make_offer;
use super::recovery::{Action, Input, PatchReply, Path, Recovery};
use super::retransmit::nack_history_packets;
use super::sending::{Sending, TransportStats};
use super::{Inner, Session};
use crate::adapt::{Adaptation, FallbackEvent, SentVideo};
use crate::error::{Error, ErrorCode, Reason, Result};
use crate::media::encoder::{
    self, EncoderCounters, EncoderStatus, EncoderThread, VideoAdaptation, VideoChange,
};
use crate::publisher::{Publisher, PublisherEvent};

/// The error of a publish the session's `disconnect` or `close` cut short.
pub(crate) fn cut_short() -> Error {
    Error::illegal_state("the session or publisher closed while publishing")
}

/// What cuts a publish short: its session disconnecting or closing, or its publisher
/// closing (freed while the publish is in flight, which then completes at once rather than
/// at the publish timeout, waiting for media from sources that stopped).
struct Ending {
    session: watch::Receiver<u64>,
    publisher: watch::Receiver<bool>,
}

impl Ending {
    fn of(session: &Session, publisher: &Publisher) -> Self {
        Ending {
            session: session.ended(),
            publisher: publisher.closed(),
        }
    }

    /// Resolves when the publish is to end.
    async fn changed(&mut self) {
        tokio::select! {
            _ = self.session.changed() => {}
            _ = self.publisher.wait_for(|closed| *closed) => {}
        }
    }
}

/// Runs `step` of a publish unless the session is disconnected or closed or the publisher
/// closed meanwhile, which fails it at once rather than when the step gives up by itself.
async fn unless_ended<T>(ended: &mut Ending, step: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        outcome = step => outcome,
        _ = ended.changed() => Err(cut_short()),
    }
}

/// Counters of a stream as the publisher's stats show them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct StreamStats {
    pub video_frames_sent: u64,
    pub video_keyframes_sent: u64,
    pub audio_packets_sent: u64,
    pub bitrate_bps: u64,
    pub transport: TransportStats,
    pub target_bitrate_bps: u64,
    pub available_outgoing_bitrate_bps: u64,
    pub sent_video: SentVideo,
}

/// How often the driver reads the transport counters.
const STATS_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Stream {
    id: String,
    session: Weak<Inner>,
    publisher: Publisher,
    /// Here rather than in the driver, so that a closing session or publisher can stop them
    /// at once, without awaiting.
    encoders: Mutex<Vec<EncoderThread>>,
    video_counters: Option<Arc<EncoderCounters>>,
    /// What the stream learns of its path, and what its video is sent as.
    adaptation: Arc<Adaptation>,
    audio_counters: Option<Arc<EncoderCounters>>,
    /// The transport figures and the bitrate, as the driver last read them.
    transport: Mutex<(TransportStats, u64)>,
    phase: Mutex<Phase>,
    /// Whether `streamCreated` was posted to the host (see `post_created`).
    created_posted: std::sync::atomic::AtomicBool,
    driver: mpsc::UnboundedSender<Command>,
}

/// A stream is announced (`streamCreated`) at most once, and never once it began ending, so
/// that a host sees `streamDestroyed` only for a stream it saw created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Opening,
    Announced,
    Ending { announced: bool },
}

/// What the rest of the library asks of a stream's driver.
enum Command {
    /// The stream was announced: follow its connection, its encoders and its stats.
    Watch,
    /// Close the connection and stop the encoders.
    Close(oneshot::Sender<Closing>),
}

/// What closing a stream found.
#[derive(Debug, Clone, Copy, Default)]
struct Closing {
    /// The connection was still open: the server's side is still to be released.
    was_open: bool,
    /// The stream was recovering: it no longer keeps the session reconnecting once the
    /// closer announced its end.
    was_reconnecting: bool,
}

impl Stream {
    /// Offer → server → answer → ICE/DTLS connected → encoders started → first media sent.
    pub(crate) async fn open(session: &Session, publisher: &Publisher) -> Result<Arc<Stream>> {
        let settings = session.settings().clone();
        let backend = session.backend();
        let mut ended = Ending::of(session, publisher);
        // What the publisher publishes, whether or not its source is open now (video turned
        // off releases it): the track is offered either way.
        let (video, audio) = publisher.kinds();
        let (video_on, audio_on) = publisher.media_on();
        let codec = publisher.settings().video_codec;
        let nack_history = {
            let s = publisher.settings();
            nack_history_packets(s.resolution.width, s.resolution.height, s.frame_rate)
        };
        let adaptation = Arc::new(Adaptation::for_settings(publisher.settings(), audio));
        // The offer carries only the publisher's codec, so the server cannot pick another.
        let mut offer = unless_ended(
            &mut ended,
            make_offer(
                &backend.peer_config(&settings),
                video.then_some(codec),
                audio,
                nack_history,
                &adaptation,
                publisher.settings().simulcast as usize,
            ),
        )
        .await?;
        // Nothing to offer (say, the relay policy and no TURN server would allocate): fail
        // now, without bothering the server.
        if let Some(e) = offer.no_candidates().await {
            offer.close().await;
            return Err(e);
        }

        let accepted = tokio::time::timeout(
            settings.publish_timeout,
            unless_ended(
                &mut ended,
                backend.publish(offer.sdp.clone(), &publisher.settings().name),
            ),
        )
        .await;
        let (answer, stream_id) = match accepted {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(e)) => {
                offer.close().await;
                return Err(e);
            }
            Err(_) => {
                offer.close().await;
                return Err(Error::new(
                    ErrorCode::PublishTimeout,
                    format!(
                        "the server accepted nothing within {} ms",
                        settings.publish_timeout.as_millis()
                    ),
                ));
            }
        };
        // The ICE timeout covers gathering and the checks (the server's own time to answer
        // is the publish timeout's).
        let checks = settings.ice_timeout.saturating_sub(offer.gathering);
        let negotiated = async {
            offer.apply_answer(answer).await?;
            offer.connected(checks).await
        };
        if let Err(e) = unless_ended(&mut ended, negotiated).await {
            offer.close().await;
            backend.unpublish(&stream_id).await;
            return Err(e);
        }

        // Encoders start only now, so the first frame the receiver sees is a keyframe.
        let mut encoders = Vec::new();
        let (mut video_rx, mut audio_rx) = (None, None);
        // A server that does not take simulcast gets the full size alone.
        let layers = offer.video_layers();
        let started = (|| -> Result<()> {
            if video {
                let s = publisher.settings();
                let (tx, rx) = mpsc::channel(8 * layers);
                let adapt = VideoAdaptation {
                    adaptation: adaptation.clone(),
                    preference: s.degradation_preference,
                    on_change: {
                        let publisher = publisher.clone();
                        Box::new(move |change| publisher.emit(video_change_event(change)))
                    },
                };
                encoders.push(if layers > 1 {
                    encoder::start_simulcast(
                        publisher.video_feed(),
                        codec,
                        s.frame_rate,
                        layers,
                        adapt,
                        video_on.clone(),
                        publisher.video_preference(),
                        tx,
                    )?
                } else {
                    encoder::start_video(
                        publisher.video_feed(),
                        codec,
                        s.frame_rate,
                        adapt,
                        video_on.clone(),
                        publisher.video_preference(),
                        tx,
                    )?
                });
                video_rx = Some(rx);
            }
            if audio {
                let (tx, rx) = mpsc::channel(16);
                encoders.push(encoder::start_audio(
                    publisher.audio_feed(),
                    audio_on.clone(),
                    tx,
                )?);
                audio_rx = Some(rx);
            }
            Ok(())
        })();
        if let Err(e) = started {
            offer.close().await;
            backend.unpublish(&stream_id).await;
            return Err(e);
        }
        // Video first when there is video (see above).
        let video_encoder = encoders.first().filter(|_| video);
        let audio_encoder = encoders.last().filter(|_| audio);
        let watches = EncoderWatches {
            video: video_encoder.map(EncoderThread::status),
            audio: audio_encoder.map(EncoderThread::status),
        };
        let keyframes = video_encoder.map(EncoderThread::keyframe_trigger);
        let request_keyframe: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            if let Some(trigger) = &keyframes {
                trigger.store(true, Ordering::Release);
            }
        });
        // A receiver's request names a layer: with simulcast, only that one sends a keyframe.
        let layer_keyframes = video_encoder
            .filter(|_| layers > 1)
            .map(EncoderThread::layer_keyframe_trigger);
        let request_layer_keyframe: Arc<dyn Fn(usize) + Send + Sync> = {
            let request_keyframe = request_keyframe.clone();
            Arc::new(move |layer| match &layer_keyframes {
                Some(mask) => {
                    mask.fetch_or(1 << layer, Ordering::AcqRel);
                }
                None => request_keyframe(),
            })
        };
        let sending = offer
            .start_sending(video_rx, audio_rx, request_layer_keyframe)
            .await?;
        let (driver, commands) = mpsc::unbounded_channel();
        let stream = Arc::new(Stream {
            id: stream_id,
            session: Arc::downgrade(&session.inner),
            publisher: publisher.clone(),
            video_counters: video_encoder.map(|e| e.counters().clone()),
            adaptation: adaptation.clone(),
            audio_counters: audio_encoder.map(|e| e.counters().clone()),
            encoders: Mutex::new(encoders),
            transport: Mutex::default(),
            phase: Mutex::new(Phase::Opening),
            created_posted: std::sync::atomic::AtomicBool::new(false),
            driver,
        });
        let mut first_output = watches.clone();
        let driver = Driver {
            stream: Arc::downgrade(&stream),
            id: stream.id.clone(),
            publisher: publisher.clone(),
            session: session.clone(),
            sending: Some(sending),
            commands: Some(commands),
            recovery: None,
            path: None,
            encoders: watches,
            request_keyframe,
            answer: None,
            last_stats: None,
            stats_at: None,
        };
        crate::runtime::runtime().spawn(driver.run());

        // Complete only when media flows: the first encoded frame or packet went out.
        let deadline = tokio::time::Instant::now() + settings.publish_timeout;
        // (Video alone, off from the start, sends nothing until it is turned on: connected
        // is as far as it gets.)
        let silent = !audio && !video_on.load(Ordering::Acquire);
        let flowing = tokio::select! {
            _ = std::future::ready(()), if silent => Ok(()),
            first = first_output.first_output() => first.map_err(|(kind, e)| Error::new(
                ErrorCode::PublishTimeout,
                format!("connected, but the {kind} encoder failed: {}", e.message),
            )),
            _ = ended.changed() => Err(cut_short()),
            _ = tokio::time::sleep_until(deadline) => Err(Error::new(
                ErrorCode::PublishTimeout,
                "connected, but no media could be encoded in time",
            )),
        };
        if let Err(e) = flowing {
            stream.teardown().await;
            return Err(e);
        }
        Ok(stream)
    }

    /// The stream's id on the session.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the stream as announced and starts watching it; false when it is ending.
    pub(crate) fn mark_announced(self: &Arc<Self>) -> bool {
        let mut phase = self.phase();
        if *phase != Phase::Opening || !self.publisher.has_stream(self) {
            return false; // unpublished or closed meanwhile
        }
        *phase = Phase::Announced;
        tracing::info!(stream = %self.id, "published");
        // Sent under the phase lock, so a close that follows always comes after it.
        let _ = self.driver.send(Command::Watch);
        true
    }

    /// Emits `streamCreated` (after `mark_announced` said yes), unless the stream ended first
    /// (the host closed the session from inside the publish completion): `end_publish` posted
    /// it then, before `streamDestroyed`.
    pub(crate) fn announce(self: &Arc<Self>) {
        self.publisher.announce_stream(self);
    }

    /// Posts `streamCreated` to the publisher's host, the first time only. Called under the
    /// publisher's lifecycle lock, so that it and `streamDestroyed` are posted in that order.
    pub(crate) fn post_created(&self) {
        if !self.created_posted.swap(true, Ordering::AcqRel) {
            self.publisher.emit(PublisherEvent::StreamCreated {
                stream_id: self.id.clone(),
            });
        }
    }

    /// Whether `streamCreated` went out for this stream.
    pub(crate) fn was_announced(&self) -> bool {
        matches!(
            *self.phase(),
            Phase::Announced | Phase::Ending { announced: true }
        )
    }

    /// Marks the stream as ending: it will not be announced any more.
    fn begin_ending(&self) {
        let mut phase = self.phase();
        if !matches!(*phase, Phase::Ending { .. }) {
            *phase = Phase::Ending {
                announced: *phase == Phase::Announced,
            };
        }
    }

    /// Current counters (transport figures are at most a second old).
    pub(crate) fn stats(&self) -> StreamStats {
        let (transport, bitrate_bps) = *self.transport.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = StreamStats {
            transport,
            bitrate_bps,
            ..StreamStats::default()
        };
        stats.available_outgoing_bitrate_bps = self.adaptation.available_bps();
        if let Some(c) = &self.video_counters {
            stats.target_bitrate_bps = self.adaptation.video_target_bps();
            stats.sent_video = self.adaptation.sent();
            stats.video_frames_sent = c.encoded.load(Ordering::Relaxed);
            stats.video_keyframes_sent = c.keyframes.load(Ordering::Relaxed);
        }
        if let Some(c) = &self.audio_counters {
            stats.audio_packets_sent = c.encoded.load(Ordering::Relaxed);
        }
        stats
    }

    /// Removes this stream from its session's list (the publisher was closed).
    pub(crate) fn detach_from_session(&self) {
        if let Some(inner) = self.session.upgrade() {
            Session { inner }.stream_lost(&self.publisher);
        }
    }

    /// Stops the encoders at once (used where no await is possible).
    /// Asks the video encoder for a keyframe (a source switched under it).
    pub(crate) fn request_video_keyframe(&self) {
        if self.video_counters.is_some() {
            let encoders = self.encoders.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(video) = encoders.first() {
                video.request_keyframe();
            }
        }
    }

    pub(crate) fn stop_encoders(&self) {
        self.begin_ending();
        drop(self.take_encoders()); // each joins its thread
    }

    fn take_encoders(&self) -> Vec<EncoderThread> {
        std::mem::take(&mut *self.encoders.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stops everything: encoders, the connection, and the server's side. True when the
    /// stream was recovering: the caller closes the reconnection once it announced the end.
    pub(crate) async fn teardown(&self) -> bool {
        let closing = self.close().await;
        if closing.was_open {
            if let Some(session) = self.session() {
                session.backend().unpublish(&self.id).await;
            }
        }
        closing.was_reconnecting
    }

    /// Has the driver stop the encoders and close the connection.
    async fn close(&self) -> Closing {
        self.begin_ending();
        let (reply, closing) = oneshot::channel();
        if self.driver.send(Command::Close(reply)).is_err() {
            return Closing::default(); // the driver closed it already
        }
        closing.await.unwrap_or_default()
    }

    fn session(&self) -> Option<Session> {
        self.session.upgrade().map(|inner| Session { inner })
    }

    /// Ends the stream on its own account (not an unpublish): the session forgets it, the
    /// publisher emits `streamDestroyed` with `reason`, and the server's side is released
    /// in the background (a server that went away must not hold the host's news back).
    pub(crate) async fn end(self: &Arc<Self>, reason: Reason) {
        let Some(session) = self.session() else {
            return;
        };
        if session.take_stream(&self.publisher).is_some() {
            let closing = self.close().await;
            self.ended(&session, reason, closing).await;
        }
    }

    /// Ends a stream the session already forgot (the server is gone): `streamDestroyed`
    /// with `reason`.
    pub(crate) async fn end_forgotten(&self, session: &Session, reason: Reason) {
        let closing = self.close().await;
        self.ended(session, reason, closing).await;
    }

    /// The stream closed: `streamDestroyed` with `reason`, then the reconnection it kept
    /// open (if any) ends, and the server's side is released in the background.
    async fn ended(&self, session: &Session, reason: Reason, closing: Closing) {
        self.publisher.end_publish(Some(reason));
        if closing.was_reconnecting {
            self.publisher.flush_events().await;
            session.leave_recovery(&self.publisher);
        }
        if closing.was_open {
            let (session, id) = (session.clone(), self.id.clone());
            crate::runtime::runtime().spawn(async move {
                session.backend().unpublish(&id).await;
            });
        }
    }
}

/// The status of a stream's encoders.
#[derive(Clone, Default)]
struct EncoderWatches {
    video: Option<watch::Receiver<EncoderStatus>>,
    audio: Option<watch::Receiver<EncoderStatus>>,
}

impl EncoderWatches {
    /// Waits for the first output of any encoder, or the failure of one.
    async fn first_output(&mut self) -> std::result::Result<(), (&'static str, Error)> {
        let news = |s: &EncoderStatus| *s != EncoderStatus::Starting;
        tokio::select! {
            Some(status) = watch_for(self.video.as_mut(), news) => failed_as("video", status),
            Some(status) = watch_for(self.audio.as_mut(), news) => failed_as("audio", status),
            else => std::future::pending().await,
        }
    }

    /// Waits until an encoder fails (an encoder that ends otherwise is not waited for).
    async fn failure(&mut self) -> (&'static str, Error) {
        let failed = |s: &EncoderStatus| matches!(s, EncoderStatus::Failed(_));
        let failure = tokio::select! {
            Some(status) = watch_for(self.video.as_mut(), failed) => failed_as("video", status),
            Some(status) = watch_for(self.audio.as_mut(), failed) => failed_as("audio", status),
            else => std::future::pending().await,
        };
        failure.expect_err("waited for a failure")
    }
}

/// The first status of an encoder that `wanted` takes; None without that encoder, or when
/// it ended without such a status.
async fn watch_for(
    status: Option<&mut watch::Receiver<EncoderStatus>>,
    wanted: impl FnMut(&EncoderStatus) -> bool,
) -> Option<EncoderStatus> {
    Some(status?.wait_for(wanted).await.ok()?.clone())
}

/// The publisher event for a change in how video is sent.
fn video_change_event(change: VideoChange) -> PublisherEvent {
    match change {
        VideoChange::Size(old, new) => {
            tracing::info!(
                "video sent at {}x{} (was {}x{})",
                new.0,
                new.1,
                old.0,
                old.1
            );
            PublisherEvent::VideoDimensionsChanged {
                old_width: old.0,
                old_height: old.1,
                new_width: new.0,
                new_height: new.1,
            }
        }
        VideoChange::Fallback(event) => {
            tracing::info!("audio-only fallback: {event:?}");
            match event {
                FallbackEvent::Warning => PublisherEvent::VideoDisableWarning,
                FallbackEvent::WarningLifted => PublisherEvent::VideoDisableWarningLifted,
                FallbackEvent::Disabled => PublisherEvent::VideoDisabled {
                    reason: Reason::Quality,
                },
                FallbackEvent::Enabled => PublisherEvent::VideoEnabled {
                    reason: Reason::Quality,
                },
            }
        }
    }
}

fn failed_as(
    kind: &'static str,
    status: EncoderStatus,
) -> std::result::Result<(), (&'static str, Error)> {
    match status {
        EncoderStatus::Failed(e) => Err((kind, e)),
        _ => Ok(()),
    }
}

/// A request under way whose answer is an input of the recovery (an ICE restart or the
/// probe of the server).
type Answer = Pin<Box<dyn Future<Output = Input> + Send>>;

/// The task that owns a stream's connection: it takes the commands of the rest of the
/// library, follows the connection, the encoders and the clock, feeds the recovery and
/// carries out what it asks for.
struct Driver {
    /// Needed while the connection is open; the recovery may outlive it (the probe of the
    /// server after giving up).
    stream: Weak<Stream>,
    id: String,
    publisher: Publisher,
    session: Session,
    /// The connection; gone once closed.
    sending: Option<Sending>,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// From the announcement on.
    recovery: Option<Recovery>,
    /// The connection's state, from the announcement on, until the stack drops it.
    path: Option<watch::Receiver<RTCPeerConnectionState>>,
    /// Followed from the announcement on (before, the publish waits for them).
    encoders: EncoderWatches,
    request_keyframe: Arc<dyn Fn() + Send + Sync>,
    answer: Option<Answer>,
    /// When the transport counters were last read, and the bytes sent then.
    last_stats: Option<(Instant, u64)>,
    stats_at: Option<Instant>,
}

/// What woke the driver.
enum Wake {
    Command(Option<Command>),
    Path(bool),
    Answer(Input),
    Timer,
    EncoderFailed(&'static str, Error),
}

impl Driver {
    async fn run(mut self) {
        loop {
            let watching = self.recovery.is_some();
            let timer = [
                self.stats_at,
                self.recovery.as_ref().and_then(Recovery::next_timeout),
            ]
            .into_iter()
            .flatten()
            .min();
            let wake = tokio::select! {
                command = async { self.commands.as_mut()?.recv().await },
                    if self.commands.is_some() => Wake::Command(command),
                changed = async { self.path.as_mut()?.changed().await.ok() },
                    if self.path.is_some() => Wake::Path(changed.is_some()),
                input = async { self.answer.as_mut().expect("guarded").await },
                    if self.answer.is_some() => Wake::Answer(input),
                () = tokio::time::sleep_until(timer.unwrap_or_else(Instant::now).into()),
                    if timer.is_some() => Wake::Timer,
                (kind, e) = self.encoders.failure(), if watching => Wake::EncoderFailed(kind, e),
            };
            let stream = self.stream.upgrade();
            if stream.is_none() && self.sending.is_some() {
                self.close(None).await; // nobody holds the stream any more
                return;
            }
            let stream = stream.as_deref();
            match wake {
                Wake::Command(Some(Command::Watch)) => self.watch(),
                Wake::Command(Some(Command::Close(reply))) => {
                    let _ = reply.send(self.close(stream).await);
                }
                Wake::Command(None) => {
                    self.commands = None;
                    self.close(stream).await;
                }
                Wake::Path(open) => {
                    let path = match (open, self.path.as_mut()) {
                        (true, Some(state)) => path_of(*state.borrow_and_update()),
                        _ => {
                            self.path = None;
                            Path::Closed
                        }
                    };
                    self.feed(Input::Path(path));
                }
                Wake::Answer(input) => {
                    self.answer = None;
                    self.feed(input);
                }
                Wake::Timer => {
                    if self.stats_at.is_some_and(|at| Instant::now() >= at) {
                        self.refresh_stats(stream).await;
                    }
                    self.feed(Input::Timeout);
                }
                Wake::EncoderFailed(kind, e) => {
                    tracing::warn!(
                        stream = %self.id,
                        "the {kind} encoder failed ({}); the stream ends (mediaStopped)",
                        e.message
                    );
                    self.end_like_a_dying_source(stream).await;
                }
            }
            self.carry_out_actions(stream).await;
            let recovering = self.recovery.as_ref().is_some_and(|r| !r.is_done());
            if self.sending.is_none() && !recovering {
                return;
            }
        }
    }

    /// From the announcement on: recovery, stats, encoders.
    fn watch(&mut self) {
        let Some(sending) = &self.sending else { return };
        let mut state = sending.watch_state();
        let now = Instant::now();
        let mut recovery = Recovery::new(self.session.settings().reconnect_timeout);
        recovery.handle(now, Input::Path(path_of(*state.borrow_and_update())));
        self.recovery = Some(recovery);
        self.path = Some(state);
        self.last_stats = Some((now, 0));
        self.stats_at = Some(now + STATS_EVERY);
    }

    fn feed(&mut self, input: Input) {
        if let Some(recovery) = &mut self.recovery {
            recovery.handle(Instant::now(), input);
        }
    }

    async fn carry_out_actions(&mut self, stream: Option<&Stream>) {
        while let Some(action) = self.recovery.as_mut().and_then(Recovery::poll) {
            if let Some(input) = self.carry_out(stream, action).await {
                self.feed(input);
            }
        }
    }

    /// Does what the recovery asked for; some actions answer at once.
    async fn carry_out(&mut self, stream: Option<&Stream>, action: Action) -> Option<Input> {
        let publisher = &self.publisher;
        match action {
            Action::Reconnecting => {
                tracing::warn!(
                    stream = %self.id,
                    "the connection went quiet; recovering for up to {} ms",
                    self.session.settings().reconnect_timeout.as_millis()
                );
                self.session.stream_reconnecting(publisher);
            }
            Action::SendRestartOffer => {
                let Some(sending) = self.sending.as_mut() else {
                    return Some(Input::Patch(PatchReply::Failed(Error::internal("closed"))));
                };
                match sending.restart_offer().await {
                    Ok(fragment) => self.answer = Some(self.send_restart(fragment)),
                    Err(e) => {
                        tracing::warn!(stream = %self.id, "cannot restart ICE: {}", e.message);
                        return Some(Input::Patch(PatchReply::Failed(e)));
                    }
                }
            }
            Action::ApplyRestartAnswer(fragment) => {
                let Some(sending) = self.sending.as_mut() else {
                    return Some(Input::AnswerApplied(false));
                };
                let applied = sending.apply_restart_answer(&fragment).await;
                match &applied {
                    Ok(()) => tracing::info!(stream = %self.id, "ICE restarted"),
                    Err(e) => {
                        tracing::warn!(stream = %self.id, "ICE restart failed: {}", e.message)
                    }
                }
                return Some(Input::AnswerApplied(applied.is_ok()));
            }
            Action::RequestKeyframe => {
                tracing::info!(stream = %self.id, "the connection is back");
                (self.request_keyframe)();
            }
            Action::Reconnected => self.session.leave_recovery(publisher),
            Action::GiveUp => {
                tracing::warn!(stream = %self.id, "the connection to the media server was lost");
                self.answer = None; // a restart under way is moot
                                    // Taken aside from the recovery: whether the session recovered is known
                                    // after asking the server. When another end of the stream came first, its
                                    // closing decides.
                if self.session.take_stream(publisher).is_some() {
                    self.close_connection(stream).await;
                    self.publisher
                        .end_publish(Some(Reason::NetworkDisconnected));
                    self.release_server_side();
                    return Some(Input::StreamEnded);
                }
            }
            Action::ProbeServer => {
                // streamDestroyed reaches the host before the session's verdict.
                publisher.flush_events().await;
                let session = self.session.clone();
                self.answer = Some(Box::pin(async move {
                    let timeout = session.settings().connect_timeout;
                    Input::ServerReachable(session.backend().reachable(timeout).await)
                }));
            }
            Action::ServerGone => self.session.connection_lost().await,
        }
        None
    }

    /// The restart offer's `fragment` to the server; its reply is the answer.
    fn send_restart(&self, fragment: String) -> Answer {
        let (session, id) = (self.session.clone(), self.id.clone());
        Box::pin(async move {
            let reply = session.restart_ice(&id, fragment).await;
            match &reply {
                PatchReply::Answer(_) => {}
                PatchReply::Unsupported => tracing::info!(
                    stream = %id,
                    "the server does not restart ICE; waiting for the path to come back"
                ),
                PatchReply::Gone => {
                    tracing::warn!(stream = %id, "the server no longer knows the stream")
                }
                PatchReply::Failed(e) => {
                    tracing::debug!(stream = %id, "ICE restart request failed: {}", e.message)
                }
            }
            Input::Patch(reply)
        })
    }

    /// Ends the stream as a dying source does: `streamDestroyed` (`mediaStopped`), the
    /// session stays connected.
    async fn end_like_a_dying_source(&mut self, stream: Option<&Stream>) {
        self.encoders = EncoderWatches::default();
        let Some(stream) = stream else { return };
        // A streamCreated still being posted by the publish's completion goes out first.
        self.session.flush_events().await;
        if self.session.take_stream(&self.publisher).is_none() {
            return; // another end came first: its closing follows
        }
        let closing = self.close(Some(stream)).await;
        stream
            .ended(&self.session, Reason::MediaStopped, closing)
            .await;
    }

    /// The stream ends for another reason than a lost connection: the recovery with it.
    async fn close(&mut self, stream: Option<&Stream>) -> Closing {
        let was_reconnecting = match &mut self.recovery {
            Some(recovery) => {
                recovery.handle(Instant::now(), Input::Unpublished);
                std::iter::from_fn(|| recovery.poll()).any(|a| a == Action::Reconnected)
            }
            None => false,
        };
        Closing {
            was_open: self.close_connection(stream).await,
            was_reconnecting,
        }
    }

    /// Stops the encoders and closes the connection, keeping its final figures for the
    /// host's stats after `streamDestroyed`; false when it was closed already.
    async fn close_connection(&mut self, stream: Option<&Stream>) -> bool {
        self.stats_at = None;
        if let Some(stream) = stream {
            stream.begin_ending();
            let encoders = stream.take_encoders();
            // Joining encoder threads blocks briefly; keep it off the runtime's workers.
            let _ = tokio::task::spawn_blocking(move || drop(encoders)).await;
        }
        let Some(sending) = self.sending.take() else {
            return false;
        };
        if let Some(stream) = stream {
            let transport = sending.stats().await;
            *stream.transport.lock().unwrap_or_else(|e| e.into_inner()) = (transport, 0);
        }
        sending.close().await;
        true
    }

    fn release_server_side(&self) {
        let (session, id) = (self.session.clone(), self.id.clone());
        crate::runtime::runtime().spawn(async move {
            session.backend().unpublish(&id).await;
        });
    }

    /// Reads the transport counters and the bitrate since the last reading.
    async fn refresh_stats(&mut self, stream: Option<&Stream>) {
        self.stats_at = None;
        let (Some(sending), Some(stream)) = (&self.sending, stream) else {
            return;
        };
        let transport = sending.stats().await;
        let now = Instant::now();
        let bitrate = match self.last_stats {
            Some((at, bytes)) => {
                let secs = now.duration_since(at).as_secs_f64().max(1e-3);
                (transport.bytes_sent.saturating_sub(bytes) as f64 * 8.0 / secs) as u64
            }
            None => 0,
        };
        *stream.transport.lock().unwrap_or_else(|e| e.into_inner()) = (transport, bitrate);
        if transport.rtt_ms > 0.0 {
            stream
                .adaptation
                .on_rtt(Duration::from_secs_f64(transport.rtt_ms / 1000.0));
        }
        self.last_stats = Some((now, transport.bytes_sent));
        self.stats_at = Some(now + STATS_EVERY);
    }
}

/// The ICE agent's verdict in the recovery's terms.
fn path_of(state: RTCPeerConnectionState) -> Path {
    match state {
        RTCPeerConnectionState::Connected => Path::Up,
        RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed => Path::Lost,
        RTCPeerConnectionState::Closed => Path::Closed,
        _ => Path::Checking,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publisher::PublisherState;
    use crate::session::SessionState;
    use crate::test_common::{loopback, start_logged, synthetic, wait, wait_for_events, Log};

    #[test]
    fn a_failing_encoder_ends_the_stream_as_a_dying_source_does() {
        let log = Log::default();
        let errors = Log::default();
        let sink = errors.clone();
        crate::logging::set_log_sink(
            crate::logging::LogLevel::Error,
            Some(Arc::new(move |r| {
                sink.lock().unwrap().push(r.message.clone())
            })),
        )
        .unwrap();
        let (publisher, done) = start_logged(synthetic("320x240"), &log, "publisher.");
        done.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        let session = loopback(Some(&log));
        wait(|d| session.connect(None, d)).unwrap();
        wait(|d| session.publish(&publisher, d)).unwrap();
        assert!(wait_for_events(&log, &["publisher.streamCreated"]));
        std::thread::sleep(Duration::from_millis(500));
        let sent_before = publisher.stats();

        let stream = session.lifecycle().streams[&publisher.id()].clone();
        stream.encoders.lock().unwrap()[0].feed_a_broken_frame();
        assert!(
            wait_for_events(&log, &["publisher.streamDestroyed:mediaStopped"]),
            "{:?}",
            log.lock().unwrap()
        );

        std::thread::sleep(Duration::from_millis(200));
        let publisher_events: Vec<String> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with("publisher."))
            .cloned()
            .collect();
        assert_eq!(
            publisher_events,
            [
                "publisher.accessAllowed",
                "publisher.streamCreated",
                "publisher.streamDestroyed:mediaStopped"
            ]
        );
        assert!(!log
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("Disconnected")));
        crate::logging::set_log_sink(crate::logging::LogLevel::Off, None).unwrap();
        let errors = errors.lock().unwrap().clone();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("video encoder failed: VP8 input of")),
            "{errors:?}"
        );
        assert_eq!(session.state(), SessionState::Connected);
        assert_eq!(publisher.state(), PublisherState::Ready);
        // The final stats: what the stream sent, not zeros.
        let last = publisher.stats();
        assert!(
            last.video_frames_sent >= sent_before.video_frames_sent
                && sent_before.video_frames_sent > 0,
            "{last:?}"
        );
        assert!(last.packets_sent > 0 && last.bitrate_bps == 0, "{last:?}");
        // The source is fine: the publisher can be published again, with a new encoder.
        wait(|d| session.publish(&publisher, d)).unwrap();
        assert_eq!(publisher.state(), PublisherState::Publishing);
        session.close();
        publisher.close();
    }
}
