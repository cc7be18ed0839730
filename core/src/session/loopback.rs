//! The `loopback://` backend: a receiver inside this process, reached over real ICE, DTLS and
//! SRTP on 127.0.0.1, that counts what it receives. For a first run, and for tests that need no
//! server.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ice::IceTransportPolicy;
use super::peer::PeerConfig;
use super::receiver::{answer_offer, ReceiverCounters, Receiving};
use crate::error::Result;

/// What the embedded receiver got on one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Complete video frames received.
    pub video_frames: u64,
    /// Video frames that were keyframes.
    pub video_keyframes: u64,
    /// Whether the first video frame received was a keyframe (decodable on its own).
    pub first_frame_was_keyframe: bool,
    /// Video payload bytes.
    pub video_bytes: u64,
    /// Audio packets received.
    pub audio_packets: u64,
    /// Audio payload bytes.
    pub audio_bytes: u64,
}

impl ReceiverStats {
    fn of(c: &ReceiverCounters) -> Self {
        ReceiverStats {
            video_frames: c.video_frames.load(Ordering::Relaxed),
            video_keyframes: c.video_keyframes.load(Ordering::Relaxed),
            first_frame_was_keyframe: c.first_frame_keyframe.load(Ordering::Relaxed) == 1,
            video_bytes: c.video_bytes.load(Ordering::Relaxed),
            audio_packets: c.audio_packets.load(Ordering::Relaxed),
            audio_bytes: c.audio_bytes.load(Ordering::Relaxed),
        }
    }
}

/// The embedded receiver: one receiving peer per published stream.
#[derive(Default)]
pub(crate) struct Loopback {
    streams: Mutex<HashMap<String, Arc<Receiving>>>,
}

impl Loopback {
    pub(crate) fn peer_config() -> PeerConfig {
        PeerConfig {
            bind: "127.0.0.1:0".into(),
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            gather_timeout: Duration::from_secs(2),
            ice_failed_timeout: Duration::from_secs(25),
        }
    }

    /// Answers an offer; returns the answer and the stream's id.
    pub(crate) async fn publish(&self, offer: String) -> Result<(String, String)> {
        let (receiving, answer) = answer_offer(&Self::peer_config(), offer).await?;
        let id = format!(
            "loopback-{:012x}",
            super::peer::rand_u64() & 0xffff_ffff_ffff
        );
        self.lock().insert(id.clone(), Arc::new(receiving));
        Ok((answer, id))
    }

    pub(crate) async fn unpublish(&self, id: &str) {
        let receiving = self.lock().remove(id);
        if let Some(r) = receiving {
            r.close().await;
        }
    }

    pub(crate) fn stats(&self, id: &str) -> Option<ReceiverStats> {
        self.lock().get(id).map(|r| ReceiverStats::of(&r.counters))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Receiving>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}
