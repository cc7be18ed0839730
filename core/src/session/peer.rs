//! The WebRTC side of a published stream: one sending peer connection per stream, and the
//! embedded receiving peer of the `loopback://` backend. Both run on the library's runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceServer;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::statistics::StatsSelector;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};

use crate::error::{Error, ErrorCode, Result};
use crate::media::encoder::EncodedSample;

/// Where a peer binds and whom it asks for candidates.
#[derive(Clone, Debug)]
pub(crate) struct PeerConfig {
    /// UDP address to bind, e.g. `127.0.0.1:0`.
    pub bind: String,
    /// STUN/TURN servers.
    pub ice_servers: Vec<RTCIceServer>,
    /// How long gathering may take before the offer goes out with what it has.
    pub gather_timeout: Duration,
}

/// What the sending side learns from RTCP and its own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransportStats {
    /// RTP packets sent, all tracks.
    pub packets_sent: u64,
    /// RTP payload bytes sent, all tracks.
    pub bytes_sent: u64,
    /// Round-trip time from the receiver's reports, in milliseconds (0 until one arrives).
    pub rtt_ms: f64,
    /// Packets the receiver reported lost.
    pub packets_lost: i64,
}

const VP8_PT: u8 = 96;
const OPUS_PT: u8 = 111;

fn vp8() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type: VP8_PT,
    }
}

fn opus() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.into(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
            rtcp_feedback: vec![],
        },
        payload_type: OPUS_PT,
    }
}

fn webrtc_error(code: ErrorCode, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(code, format!("{what}: {e}"))
}

/// Follows a peer connection's gathering and connection states.
struct StateWatch {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    receiver: Option<Arc<ReceiverCounters>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for StateWatch {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!("peer connection {state}");
        self.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(counters) = self.receiver.clone() {
            crate::runtime::runtime().spawn(count_received(track, counters));
        }
    }
}

type Watchers = (
    Arc<StateWatch>,
    watch::Receiver<bool>,
    watch::Receiver<RTCPeerConnectionState>,
);

fn watchers(receiver: Option<Arc<ReceiverCounters>>) -> Watchers {
    let (gathered, gathered_rx) = watch::channel(false);
    let (state, state_rx) = watch::channel(RTCPeerConnectionState::New);
    (
        Arc::new(StateWatch {
            gathered,
            state,
            receiver,
        }),
        gathered_rx,
        state_rx,
    )
}

async fn build(
    config: &PeerConfig,
    mut media: MediaEngine,
    handler: Arc<StateWatch>,
) -> Result<Arc<dyn PeerConnection>> {
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| webrtc_error(ErrorCode::InternalError, "interceptors", e))?
        // Last in the chain, so the stack's own interceptors have seen all RTCP first.
        .with(Slot::from(14_000), KeyframeRequests::default());
    let settings = SettingEngineBuilder::new()
        // Loopback candidates are what a same-machine peer (and the tests' peers) reach us on.
        .with_include_loopback_candidate(true)
        // Check pairs every 50 ms rather than 200: connecting is what a user waits for.
        .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(25))
        .build();
    let configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(config.ice_servers.clone())
        .build();
    let runtime = webrtc::runtime::default_runtime()
        .ok_or_else(|| Error::internal("the WebRTC stack has no runtime"))?;
    let pc = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_runtime(runtime)
        .with_udp_addrs(vec![config.bind.clone()])
        .build()
        .await
        .map_err(|e| {
            webrtc_error(
                ErrorCode::CreatePeerConnectionFailed,
                "cannot open a socket",
                e,
            )
        })?;
    Ok(Arc::new(pc))
}

/// Lets a receiver's keyframe requests (PLI, FIR) through to the sending tracks; the rest of
/// the inbound RTCP (reports, NACKs, congestion feedback) is for the stack's interceptors and
/// stops at the end of the chain as usual.
#[derive(Default)]
struct KeyframeRequests {
    inbound: std::collections::VecDeque<TaggedPacket>,
    outbound: std::collections::VecDeque<TaggedPacket>,
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<_> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                })
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.inbound.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inbound.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.outbound.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.outbound.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// Waits (bounded) for gathering to finish, then returns the local description's SDP: WHIP
/// and the loopback receiver take one offer with every candidate in it.
async fn gathered_sdp(
    pc: &Arc<dyn PeerConnection>,
    gathered: &mut watch::Receiver<bool>,
    timeout: Duration,
) -> Result<String> {
    let _ = tokio::time::timeout(timeout, gathered.wait_for(|g| *g)).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| Error::internal("no local description after negotiation"))
}

/// A track we send on, with what `write_sample` needs.
struct Outgoing {
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
}

/// The sending peer connection of one published stream, between offer and answer.
pub(crate) struct Offer {
    pc: Arc<dyn PeerConnection>,
    /// The SDP offer to hand to the server.
    pub sdp: String,
    state: watch::Receiver<RTCPeerConnectionState>,
    video: Option<Outgoing>,
    audio: Option<Outgoing>,
}

/// Opens a sending peer connection with a VP8 track and/or an Opus track and makes its offer.
pub(crate) async fn make_offer(config: &PeerConfig, video: bool, audio: bool) -> Result<Offer> {
    let mut media = MediaEngine::default();
    if video {
        media
            .register_codec(vp8(), RtpCodecKind::Video)
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "VP8", e))?;
    }
    if audio {
        media
            .register_codec(opus(), RtpCodecKind::Audio)
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "Opus", e))?;
    }
    let (handler, mut gathered, state) = watchers(None);
    let pc = build(config, media, handler).await?;
    let stream_id = format!("lp-{:016x}", rand_u64());
    let add = async |kind: RtpCodecKind, codec: RTCRtpCodecParameters| -> Result<Outgoing> {
        let ssrc = rand_u64() as u32;
        let track = Arc::new(
            TrackLocalStaticSample::new(
                Instant::now(),
                MediaStreamTrack::new(
                    stream_id.clone(),
                    format!("{stream_id}-{kind}"),
                    kind.to_string(),
                    kind,
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                        codec: codec.rtp_codec,
                        ..Default::default()
                    }],
                ),
            )
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "track", e))?,
        );
        pc.add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "add track", e))?;
        Ok(Outgoing { track, ssrc })
    };
    let video = if video {
        Some(add(RtpCodecKind::Video, vp8()).await?)
    } else {
        None
    };
    let audio = if audio {
        Some(add(RtpCodecKind::Audio, opus()).await?)
    } else {
        None
    };
    let offer = pc
        .create_offer(None)
        .await
        .map_err(|e| webrtc_error(ErrorCode::InternalError, "create offer", e))?;
    pc.set_local_description(offer)
        .await
        .map_err(|e| webrtc_error(ErrorCode::InternalError, "set local description", e))?;
    let sdp = gathered_sdp(&pc, &mut gathered, config.gather_timeout).await?;
    Ok(Offer {
        pc,
        sdp,
        state,
        video,
        audio,
    })
}

impl Offer {
    /// Applies the server's answer: 1610 if it cannot be applied.
    pub(crate) async fn apply_answer(&self, sdp: String) -> Result<()> {
        let answer = RTCSessionDescription::answer(sdp).map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the answer is not valid SDP",
                e,
            )
        })?;
        self.pc.set_remote_description(answer).await.map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the answer cannot be applied",
                e,
            )
        })
    }

    /// Waits until ICE and DTLS are connected: 1553 when no path is found within `timeout`.
    pub(crate) async fn connected(&mut self, timeout: Duration) -> Result<()> {
        let outcome = tokio::time::timeout(
            timeout,
            self.state.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            }),
        )
        .await;
        let no_path = |why: String| {
            Error::new(
                ErrorCode::CreatePeerConnectionFailed,
                format!("no network path to the media server ({why}); a firewall may block WebRTC"),
            )
        };
        match outcome {
            Ok(Ok(state)) if *state == RTCPeerConnectionState::Connected => Ok(()),
            Ok(Ok(state)) => Err(no_path(format!("the connection {}", *state))),
            Ok(Err(_)) => Err(no_path("the connection went away".into())),
            Err(_) => Err(no_path(format!(
                "nothing connected within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    /// Starts sending: a task per track writes what the encoders produce.
    pub(crate) async fn start_sending(
        self,
        video: Option<mpsc::Receiver<EncodedSample>>,
        audio: Option<mpsc::Receiver<EncodedSample>>,
        on_keyframe_request: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Sending> {
        let mut writers = Vec::new();
        if let Some(out) = &self.video {
            // A receiver that lost a reference frame asks for a keyframe (PLI/FIR).
            let track = out.track.clone();
            writers.push(crate::runtime::runtime().spawn(async move {
                while let Some(event) = track.poll().await {
                    if let TrackLocalEvent::OnRtcpPacket(_) = event {
                        tracing::debug!("keyframe requested by the receiver");
                        on_keyframe_request();
                    }
                }
            }));
        }
        for (out, input, pt) in [(self.video, video, VP8_PT), (self.audio, audio, OPUS_PT)] {
            if let (Some(out), Some(mut input)) = (out, input) {
                writers.push(crate::runtime::runtime().spawn(async move {
                    while let Some(sample) = input.recv().await {
                        let sample = Sample {
                            data: sample.data,
                            duration: sample.duration,
                            ..Sample::new(Instant::now())
                        };
                        if let Err(e) = out
                            .track
                            .sample_writer(out.ssrc, pt)
                            .write_sample(&sample)
                            .await
                        {
                            tracing::debug!("write_sample: {e}");
                        }
                    }
                }));
            }
        }
        Ok(Sending {
            pc: self.pc,
            state: self.state,
            writers,
        })
    }

    /// Closes the connection (after a failure before sending started).
    pub(crate) async fn close(self) {
        let _ = self.pc.close().await;
    }
}

/// A connected sending peer.
pub(crate) struct Sending {
    pc: Arc<dyn PeerConnection>,
    state: watch::Receiver<RTCPeerConnectionState>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Sending {
    /// Follows the connection state (for losing connectivity after publishing).
    pub(crate) fn watch_state(&self) -> watch::Receiver<RTCPeerConnectionState> {
        self.state.clone()
    }

    /// Counters from the stack's stats.
    pub(crate) async fn stats(&self) -> TransportStats {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let mut stats = TransportStats::default();
        for out in report.outbound_rtp_streams() {
            stats.packets_sent += out.sent_rtp_stream_stats.packets_sent;
            stats.bytes_sent += out.sent_rtp_stream_stats.bytes_sent;
        }
        for entry in report.iter() {
            if let rtc::statistics::report::RTCStatsReportEntry::RemoteInboundRtp(r) = entry {
                stats.packets_lost += r.received_rtp_stream_stats.packets_lost;
                if r.round_trip_time > 0.0 {
                    stats.rtt_ms = stats.rtt_ms.max(r.round_trip_time * 1000.0);
                }
            }
        }
        stats
    }

    /// Stops the writers and closes the connection.
    pub(crate) async fn close(self) {
        for writer in &self.writers {
            writer.abort();
        }
        let _ = self.pc.close().await;
    }
}

/// What the loopback receiver counts for one stream.
#[derive(Debug, Default)]
pub struct ReceiverCounters {
    /// Complete video frames (RTP marker bit).
    pub video_frames: AtomicU64,
    /// Video frames that began with a VP8 keyframe header.
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

async fn count_received(track: Arc<dyn TrackRemote>, counters: Arc<ReceiverCounters>) {
    let kind = track.kind().await;
    let mut frame_start = true;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let payload = &packet.payload;
        if kind == RtpCodecKind::Video {
            counters
                .video_bytes
                .fetch_add(payload.len() as u64, Ordering::Relaxed);
            if frame_start {
                let key = vp8_starts_keyframe(payload);
                if key {
                    counters.video_keyframes.fetch_add(1, Ordering::Relaxed);
                }
                let _ = counters.first_frame_keyframe.compare_exchange(
                    0,
                    if key { 1 } else { 2 },
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            frame_start = packet.header.marker;
            if packet.header.marker {
                counters.video_frames.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            counters.audio_packets.fetch_add(1, Ordering::Relaxed);
            counters
                .audio_bytes
                .fetch_add(payload.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Whether an RTP payload that starts a VP8 frame carries a keyframe (RFC 7741 §4.1–4.3: the
/// payload descriptor, then the frame tag whose lowest bit is 0 for keyframes).
fn vp8_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let mut at = 1;
    if first & 0x80 != 0 {
        let Some(&ext) = payload.get(1) else {
            return false;
        };
        at = 2;
        if ext & 0x80 != 0 {
            // PictureID: one or two bytes.
            at += if payload.get(at).is_some_and(|b| b & 0x80 != 0) {
                2
            } else {
                1
            };
        }
        if ext & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // TID/KEYIDX
        }
    }
    let starts_partition = first & 0x10 != 0 && first & 0x07 == 0;
    starts_partition && payload.get(at).is_some_and(|tag| tag & 0x01 == 0)
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
    let pc = build(config, media, handler).await?;
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
    let answer = pc.create_answer(None).await.map_err(bad_offer)?;
    pc.set_local_description(answer).await.map_err(bad_offer)?;
    let sdp = gathered_sdp(&pc, &mut gathered, config.gather_timeout).await?;
    Ok((Receiving { pc, counters }, sdp))
}

/// A random 64-bit number for ids and SSRCs (not for secrets).
pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::vp8_starts_keyframe;

    #[test]
    fn vp8_keyframe_detection_reads_the_frame_tag() {
        // S=1, PID 0, no extensions, then a frame tag with the key bit clear / set.
        assert!(vp8_starts_keyframe(&[0x10, 0x00]));
        assert!(!vp8_starts_keyframe(&[0x10, 0x01]));
        // X=1, I=1 with a 15-bit PictureID, then the tag.
        assert!(vp8_starts_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x9c]));
        // Not the start of a partition.
        assert!(!vp8_starts_keyframe(&[0x00, 0x00]));
    }
}
