//! One published stream: the sending peer connection, its encoders, and a monitor that keeps
//! the stats fresh and notices a lost connection.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::peer::{make_offer, Sending, TransportStats};
use super::{Inner, Session};
use crate::error::{Error, ErrorCode, Reason, Result};
use crate::media::encoder::{self, EncoderThread};
use crate::publisher::{Publisher, PublisherEvent};

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
        let (video, audio) = publisher.sources();
        let codec = publisher.settings().video_codec;
        // The offer carries only the publisher's codec, so the server cannot pick another.
        let mut offer = make_offer(
            &backend.peer_config(&settings),
            video.as_ref().map(|_| codec),
            audio.is_some(),
        )
        .await?;
        // Nothing to offer (say, the relay policy and no TURN server would allocate): fail
        // now, without bothering the server.
        if let Some(e) = offer.no_candidates().await {
            offer.close().await;
            return Err(e);
        }

        let accepted =
            tokio::time::timeout(settings.publish_timeout, backend.publish(offer.sdp.clone()))
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
        if let Err(e) = negotiated.await {
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
            .start_sending(video_rx, audio_rx, on_keyframe_request)
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
            sending.close().await;
            if let Some(inner) = self.session.upgrade() {
                Session { inner }.backend().unpublish(&self.id).await;
            }
        }
    }
}

/// Refreshes the transport stats every second and notices a connection that failed.
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
        let failed = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => false,
            changed = state.changed() => {
                changed.is_err() || matches!(*state.borrow(), RTCPeerConnectionState::Failed)
            }
        };
        let Some(s) = stream.upgrade() else { return };
        if failed {
            lost(&s).await;
            return;
        }
        let transport = match s.sending.lock().await.as_ref() {
            Some(sending) => sending.stats().await,
            None => return,
        };
        let now = Instant::now();
        let mut stats = s.stats.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, bytes)) = last {
            let secs = now.duration_since(at).as_secs_f64().max(1e-3);
            stats.bitrate_bps =
                (transport.bytes_sent.saturating_sub(bytes) as f64 * 8.0 / secs) as u64;
        }
        stats.transport = transport;
        last = Some((now, transport.bytes_sent));
    }
}

/// The connection failed after publishing: the stream ends with `networkDisconnected`.
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
    stream.end(Reason::NetworkDisconnected).await;
}

impl Stream {
    /// Ends the stream on its own account (not an unpublish): the session forgets it, the
    /// server's side is released, and the publisher emits `streamDestroyed` with `reason`.
    pub(crate) async fn end(self: &Arc<Self>, reason: Reason) {
        let Some(inner) = self.session.upgrade() else {
            return;
        };
        if (Session { inner }).stream_lost(&self.publisher).is_some() {
            self.teardown().await;
            self.publisher.end_publish(Some(reason));
        }
    }
}
