//! One published stream: the sending peer connection, its encoders, and a monitor that keeps
//! the stats fresh and notices a lost connection.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::peer::{make_offer, Sending, TransportStats};
use super::{Inner, Restart, Session};
use crate::error::{Error, ErrorCode, Reason, Result};
use crate::media::encoder::{self, EncoderThread};
use crate::publisher::{Publisher, PublisherEvent};

/// The error of a publish the session's `disconnect` or `close` cut short.
pub(crate) fn cut_short() -> Error {
    Error::illegal_state("the session or publisher closed while publishing")
}

/// Runs `step` of a publish unless the session is disconnected or closed meanwhile, which
/// fails it at once rather than when the step gives up by itself.
async fn unless_ended<T>(
    ended: &mut tokio::sync::watch::Receiver<u64>,
    step: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
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
}

pub(crate) struct Stream {
    id: String,
    session: Weak<Inner>,
    publisher: Publisher,
    sending: tokio::sync::Mutex<Option<Sending>>,
    encoders: Mutex<Vec<EncoderThread>>,
    video_encoder: Mutex<Option<Arc<encoder::EncoderCounters>>>,
    audio_encoder: Mutex<Option<Arc<encoder::EncoderCounters>>>,
    stats: Mutex<StreamStats>,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Makes the video encoder's next frame a keyframe.
    request_keyframe: Arc<dyn Fn() + Send + Sync>,
    phase: Mutex<Phase>,
    announced_before_end: std::sync::atomic::AtomicBool,
}

/// A stream is announced (`streamCreated`) at most once, and never once it began ending, so
/// that a host sees `streamDestroyed` only for a stream it saw created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Opening,
    Announced,
    Ending,
}

impl Stream {
    /// Offer → server → answer → ICE/DTLS connected → encoders started → first media sent.
    pub(crate) async fn open(session: &Session, publisher: &Publisher) -> Result<Arc<Stream>> {
        let settings = session.settings().clone();
        let backend = session.backend();
        let mut ended = session.ended();
        let (video, audio) = publisher.sources();
        let codec = publisher.settings().video_codec;
        // The offer carries only the publisher's codec, so the server cannot pick another.
        let mut offer = unless_ended(
            &mut ended,
            make_offer(
                &backend.peer_config(&settings),
                video.as_ref().map(|_| codec),
                audio.is_some(),
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
            unless_ended(&mut ended, backend.publish(offer.sdp.clone())),
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
        let (mut video_counters, mut audio_counters) = (None, None);
        let started = (|| -> Result<()> {
            if let Some(source) = &video {
                let s = publisher.settings();
                let (tx, rx) = mpsc::channel(8);
                let kbps = encoder::default_video_bitrate_kbps(
                    s.resolution.width,
                    s.resolution.height,
                    s.frame_rate,
                );
                let thread = encoder::start_video(source, codec, s.frame_rate, kbps, tx)?;
                video_counters = Some(thread.counters().clone());
                encoders.push(thread);
                video_rx = Some(rx);
            }
            if let Some(source) = &audio {
                let (tx, rx) = mpsc::channel(16);
                let thread = encoder::start_audio(source, tx)?;
                audio_counters = Some(thread.counters().clone());
                encoders.push(thread);
                audio_rx = Some(rx);
            }
            Ok(())
        })();
        if let Err(e) = started {
            offer.close().await;
            backend.unpublish(&stream_id).await;
            return Err(e);
        }
        let keyframes = encoders
            .first()
            .filter(|_| video.is_some())
            .map(|e| e.keyframe_trigger());
        let on_keyframe_request: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            if let Some(trigger) = &keyframes {
                trigger.store(true, Ordering::Release);
            }
        });
        let sending = offer
            .start_sending(video_rx, audio_rx, on_keyframe_request.clone())
            .await?;
        let stream = Arc::new(Stream {
            id: stream_id,
            session: Arc::downgrade(&session.inner),
            publisher: publisher.clone(),
            sending: tokio::sync::Mutex::new(Some(sending)),
            encoders: Mutex::new(encoders),
            video_encoder: Mutex::new(video_counters),
            audio_encoder: Mutex::new(audio_counters),
            stats: Mutex::new(StreamStats::default()),
            monitor: Mutex::new(None),
            request_keyframe: on_keyframe_request,
            phase: Mutex::new(Phase::Opening),
            announced_before_end: Default::default(),
        });

        // Complete only when media flows: the first encoded frame or packet went out.
        let deadline = Instant::now() + settings.publish_timeout;
        loop {
            let stats = stream.encoder_stats();
            if stats.video_frames_sent > 0 || stats.audio_packets_sent > 0 {
                break;
            }
            if ended.has_changed().unwrap_or(true) {
                stream.teardown().await;
                return Err(cut_short());
            }
            if Instant::now() > deadline {
                stream.teardown().await;
                return Err(Error::new(
                    ErrorCode::PublishTimeout,
                    "connected, but no media could be encoded in time",
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
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

    /// Counts the stream as announced and starts its monitor; false when it is ending.
    pub(crate) fn mark_announced(self: &Arc<Self>) -> bool {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *phase != Phase::Opening || !self.publisher.has_stream(self) {
            return false; // unpublished or closed meanwhile
        }
        *phase = Phase::Announced;
        tracing::info!(stream = %self.id, "published");
        // Started under the phase lock, so a teardown that follows always finds it.
        let weak = Arc::downgrade(self);
        let task = crate::runtime::runtime().spawn(async move { monitor(weak).await });
        *self.monitor.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        true
    }

    /// Emits `streamCreated` (after `mark_announced` said yes).
    pub(crate) fn announce(&self) {
        self.publisher.emit(PublisherEvent::StreamCreated {
            stream_id: self.id.clone(),
        });
    }

    /// Whether `streamCreated` went out for this stream.
    pub(crate) fn was_announced(&self) -> bool {
        let phase = *self.phase.lock().unwrap_or_else(|e| e.into_inner());
        phase == Phase::Announced
            || self
                .announced_before_end
                .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks the stream as ending: it will not be announced any more.
    fn begin_ending(&self) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *phase == Phase::Announced {
            self.announced_before_end
                .store(true, std::sync::atomic::Ordering::Release);
        }
        *phase = Phase::Ending;
    }

    fn encoder_stats(&self) -> StreamStats {
        let mut stats = *self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = &*self.video_encoder.lock().unwrap_or_else(|e| e.into_inner()) {
            stats.video_frames_sent = c.encoded.load(Ordering::Relaxed);
            stats.video_keyframes_sent = c.keyframes.load(Ordering::Relaxed);
        }
        if let Some(c) = &*self.audio_encoder.lock().unwrap_or_else(|e| e.into_inner()) {
            stats.audio_packets_sent = c.encoded.load(Ordering::Relaxed);
        }
        stats
    }

    /// Current counters (transport figures are at most a second old).
    pub(crate) fn stats(&self) -> StreamStats {
        self.encoder_stats()
    }

    /// Removes this stream from its session's list (the publisher was closed).
    pub(crate) fn detach_from_session(&self) {
        if let Some(inner) = self.session.upgrade() {
            Session { inner }.stream_lost(&self.publisher);
        }
    }

    /// Stops the encoders at once (used where no await is possible).
    pub(crate) fn stop_encoders(&self) {
        self.begin_ending();
        let encoders =
            std::mem::take(&mut *self.encoders.lock().unwrap_or_else(|e| e.into_inner()));
        drop(encoders); // each joins its thread
    }

    /// Stops everything: encoders, the monitor, the connection, and the server's side.
    pub(crate) async fn teardown(&self) {
        if self.close_locally().await {
            if let Some(session) = self.session() {
                session.backend().unpublish(&self.id).await;
            }
        }
    }

    /// Stops the encoders, the monitor and the connection; true when the server's side
    /// is still to be released (the first time only).
    async fn close_locally(&self) -> bool {
        self.begin_ending();
        if let Some(task) = self
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
        let encoders =
            std::mem::take(&mut *self.encoders.lock().unwrap_or_else(|e| e.into_inner()));
        // Joining encoder threads blocks briefly; keep it off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || drop(encoders)).await;
        if let Some(sending) = self.sending.lock().await.take() {
            // The final figures, for the host's stats after `streamDestroyed`.
            let transport = sending.stats().await;
            {
                let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
                stats.transport = transport;
                stats.bitrate_bps = 0;
            }
            sending.close().await;
            return true;
        }
        false
    }
}

/// A lost connection is left this long to come back by itself before an ICE restart.
const RESTART_AFTER: Duration = Duration::from_secs(1);
/// How long a restarted ICE may search for a path before the next restart.
const RESTART_EVERY: Duration = Duration::from_secs(4);
/// The pause before asking again when a restart request failed (server unreachable).
const RESTART_RETRY: Duration = Duration::from_secs(1);

/// Refreshes the transport stats every second and follows the connection: one that goes
/// quiet is recovered (see [`recover`]) or, failing that, ends the stream.
async fn monitor(stream: Weak<Stream>) {
    let mut last: Option<(Instant, u64)> = Some((Instant::now(), 0));
    let mut state = {
        let Some(s) = stream.upgrade() else { return };
        let guard = s.sending.lock().await;
        match guard.as_ref() {
            Some(sending) => sending.watch_state(),
            None => return,
        }
    };
    loop {
        let changed = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => Ok(()),
            changed = state.changed() => changed,
        };
        let Some(s) = stream.upgrade() else { return };
        let current = *state.borrow_and_update();
        let recovered = match (changed, current) {
            (Err(_), _) | (_, RTCPeerConnectionState::Closed) => false,
            (Ok(_), RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed) => {
                recover(&s, &mut state).await
            }
            _ => true,
        };
        if !recovered {
            lost(&s).await;
            return;
        }
        if !s.refresh_transport_stats(&mut last).await {
            return;
        }
    }
}

/// What to do after an ICE restart attempt.
enum AfterRestart {
    /// Restart again after this long if the path is still not back.
    RestartIn(Duration),
    /// Only wait: the server does not restart ICE.
    Wait,
    /// Give up: the server no longer knows the stream.
    GiveUp,
}

/// Recovers a connection that went quiet, within the session's reconnect timeout: ICE goes on
/// checking (a path that comes back is found again), and after [`RESTART_AFTER`] ICE is
/// restarted through the server. The session reconnects meanwhile. True when the connection
/// is back.
async fn recover(
    stream: &Arc<Stream>,
    state: &mut tokio::sync::watch::Receiver<RTCPeerConnectionState>,
) -> bool {
    let Some(session) = stream.session() else {
        return false;
    };
    let timeout = session.settings().reconnect_timeout;
    tracing::warn!(
        stream = %stream.id,
        "the connection went quiet; recovering for up to {} ms",
        timeout.as_millis()
    );
    session.stream_reconnecting(&stream.publisher);
    let deadline = Instant::now() + timeout;
    let mut next_restart = Some(Instant::now() + RESTART_AFTER);
    loop {
        match *state.borrow_and_update() {
            RTCPeerConnectionState::Connected => {
                tracing::info!(stream = %stream.id, "the connection is back");
                // The receiver lost frames meanwhile: give it a fresh reference at once
                // rather than wait for it to ask.
                (stream.request_keyframe)();
                session.leave_recovery(&stream.publisher);
                return true;
            }
            RTCPeerConnectionState::Closed => return false,
            _ => {}
        }
        let now = Instant::now();
        if now >= deadline {
            tracing::warn!(stream = %stream.id, "the connection did not come back in time");
            return false;
        }
        let wake = next_restart.map_or(deadline, |at| at.min(deadline));
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            changed = state.changed() => if changed.is_err() { return false },
        }
        if next_restart.is_some_and(|at| Instant::now() >= at) {
            let left = deadline.saturating_duration_since(Instant::now());
            let after = tokio::time::timeout(left, stream.restart_ice(&session)).await;
            next_restart = match after {
                Ok(AfterRestart::RestartIn(wait)) => Some(Instant::now() + wait),
                Ok(AfterRestart::Wait) => None,
                Ok(AfterRestart::GiveUp) => return false,
                Err(_) => None, // the time is up; the loop ends
            };
        }
    }
}

/// The connection failed after publishing: the stream ends with `networkDisconnected`, and
/// the session finds out whether the server is still there.
async fn lost(stream: &Arc<Stream>) {
    tracing::warn!(stream = %stream.id, "the connection to the media server was lost");
    // This runs on the monitor task: forget its handle so that teardown does not abort it.
    drop(
        stream
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(),
    );
    let Some(session) = stream.session() else {
        return;
    };
    // Taken aside from the recovery: whether the session recovered is known after asking
    // the server.
    if session.take_stream(&stream.publisher).is_some() {
        stream
            .finish(session.clone(), Reason::NetworkDisconnected)
            .await;
        session.stream_gave_up(&stream.publisher).await;
    }
}

impl Stream {
    fn session(&self) -> Option<Session> {
        self.session.upgrade().map(|inner| Session { inner })
    }

    /// One ICE restart: a restart offer to the server, its answer applied.
    async fn restart_ice(&self, session: &Session) -> AfterRestart {
        let mut guard = self.sending.lock().await;
        let Some(sending) = guard.as_mut() else {
            return AfterRestart::GiveUp;
        };
        let fragment = match sending.restart_offer().await {
            Ok(fragment) => fragment,
            Err(e) => {
                tracing::warn!(stream = %self.id, "cannot restart ICE: {}", e.message);
                return AfterRestart::RestartIn(RESTART_RETRY);
            }
        };
        match session.restart_ice(&self.id, fragment).await {
            Restart::Answer(answer) => match sending.apply_restart_answer(&answer).await {
                Ok(()) => {
                    tracing::info!(stream = %self.id, "ICE restarted");
                    AfterRestart::RestartIn(RESTART_EVERY)
                }
                Err(e) => {
                    tracing::warn!(stream = %self.id, "ICE restart failed: {}", e.message);
                    AfterRestart::RestartIn(RESTART_RETRY)
                }
            },
            Restart::Unsupported => {
                tracing::info!(
                    stream = %self.id,
                    "the server does not restart ICE; waiting for the path to come back"
                );
                AfterRestart::Wait
            }
            Restart::Gone => {
                tracing::warn!(stream = %self.id, "the server no longer knows the stream");
                AfterRestart::GiveUp
            }
            Restart::Failed(e) => {
                tracing::debug!(stream = %self.id, "ICE restart request failed: {}", e.message);
                AfterRestart::RestartIn(RESTART_RETRY)
            }
        }
    }

    /// Reads the transport counters (and the bitrate since `last`); false once the
    /// connection is gone.
    async fn refresh_transport_stats(&self, last: &mut Option<(Instant, u64)>) -> bool {
        let transport = match self.sending.lock().await.as_ref() {
            Some(sending) => sending.stats().await,
            None => return false,
        };
        let now = Instant::now();
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, bytes)) = *last {
            let secs = now.duration_since(at).as_secs_f64().max(1e-3);
            stats.bitrate_bps =
                (transport.bytes_sent.saturating_sub(bytes) as f64 * 8.0 / secs) as u64;
        }
        stats.transport = transport;
        *last = Some((now, transport.bytes_sent));
        true
    }
}

impl Stream {
    /// Ends the stream on its own account (not an unpublish): the session forgets it, the
    /// server's side is released, and the publisher emits `streamDestroyed` with `reason`.
    ///
    /// The server's side is released after `streamDestroyed`, in the background: a server
    /// that went away must not hold the host's news back.
    pub(crate) async fn end(self: &Arc<Self>, reason: Reason) {
        let Some(session) = self.session() else {
            return;
        };
        if session.stream_lost(&self.publisher).is_some() {
            self.finish(session, reason).await;
        }
    }

    /// Ends a stream the session already forgot: `streamDestroyed` with `reason`, then the
    /// server's side is released in the background.
    pub(crate) async fn finish(&self, session: Session, reason: Reason) {
        let release = self.close_locally().await;
        self.publisher.end_publish(Some(reason));
        if release {
            let id = self.id.clone();
            crate::runtime::runtime().spawn(async move {
                session.backend().unpublish(&id).await;
            });
        }
    }
}
