//! The receiving peer of the `loopback://` backend: answers an offer and counts what
//! arrives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_H264};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;

use super::keyframe::{h264_carries_idr, vp8_starts_keyframe};
use super::peer::{build, gathered_sdp, watchers, webrtc_error, Built, PeerConfig};
use super::retransmit::MIN_HISTORY_PACKETS;
use crate::error::{ErrorCode, Result};

/// What the loopback receiver counts for one stream.
#[derive(Debug, Default)]
pub struct ReceiverCounters {
    /// Complete video frames (RTP marker bit).
    pub video_frames: AtomicU64,
    /// Video frames that were keyframes: a VP8 keyframe header, or an H.264 IDR slice.
    pub video_keyframes: AtomicU64,
    /// Whether the very first video frame was a keyframe (1), was not (2), or none yet (0).
    pub first_frame_keyframe: AtomicU64,
    /// Video payload bytes.
    pub video_bytes: AtomicU64,
    /// Audio RTP packets.
    pub audio_packets: AtomicU64,
    /// Audio payload bytes.
    pub audio_bytes: AtomicU64,
}

pub(super) async fn count_received(track: Arc<dyn TrackRemote>, counters: Arc<ReceiverCounters>) {
    let kind = track.kind().await;
    let mut frame_start = true;
    let mut frame_key = false;
    // Which video codec the track carries, once the stack knows it.
    let mut h264: Option<bool> = None;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let payload = &packet.payload;
        if kind == RtpCodecKind::Video {
            counters
                .video_bytes
                .fetch_add(payload.len() as u64, Ordering::Relaxed);
            if h264.is_none() {
                h264 = track
                    .codec(packet.header.ssrc)
                    .await
                    .map(|c| c.mime_type.eq_ignore_ascii_case(MIME_TYPE_H264));
            }
            if h264 == Some(true) {
                // SPS and PPS come first (in a STAP-A), the IDR slice after: any packet of the
                // frame may show it.
                frame_key |= h264_carries_idr(payload);
            } else if frame_start {
                frame_key = vp8_starts_keyframe(payload);
            }
            frame_start = packet.header.marker;
            if packet.header.marker {
                counters.video_frames.fetch_add(1, Ordering::Relaxed);
                if frame_key {
                    counters.video_keyframes.fetch_add(1, Ordering::Relaxed);
                }
                let _ = counters.first_frame_keyframe.compare_exchange(
                    0,
                    if frame_key { 1 } else { 2 },
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                frame_key = false;
            }
        } else {
            counters.audio_packets.fetch_add(1, Ordering::Relaxed);
            counters
                .audio_bytes
                .fetch_add(payload.len() as u64, Ordering::Relaxed);
        }
    }
}

/// The embedded receiver's side of one stream.
pub(crate) struct Receiving {
    pc: Arc<dyn PeerConnection>,
    /// What arrived.
    pub counters: Arc<ReceiverCounters>,
}

impl Receiving {
    pub(crate) async fn close(&self) {
        let _ = self.pc.close().await;
    }
}

/// Answers `offer` with a receive-only peer that counts what arrives.
pub(crate) async fn answer_offer(
    config: &PeerConfig,
    offer: String,
) -> Result<(Receiving, String)> {
    let mut media = MediaEngine::default();
    media
        .register_default_codecs()
        .map_err(|e| webrtc_error(ErrorCode::InternalError, "codecs", e))?;
    let counters = Arc::new(ReceiverCounters::default());
    let (handler, mut gathered, _state) = watchers(Some(counters.clone()));
    let Built {
        pc, gate, probe, ..
    } = build(config, media, handler, MIN_HISTORY_PACKETS, None).await?;
    let bad_offer = |e| {
        webrtc_error(
            ErrorCode::StreamCreateFailed,
            "the offer cannot be applied",
            e,
        )
    };
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        pc.add_transceiver_from_kind(
            kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await
        .map_err(bad_offer)?;
    }
    let offer = RTCSessionDescription::offer(offer).map_err(bad_offer)?;
    pc.set_remote_description(offer).await.map_err(bad_offer)?;
    gate.open();
    let answer = pc.create_answer(None).await.map_err(bad_offer)?;
    pc.set_local_description(answer).await.map_err(bad_offer)?;
    let sdp = gathered_sdp(&pc, &mut gathered, config.gather_timeout, &probe).await?;
    probe.stop();
    Ok((Receiving { pc, counters }, sdp))
}
