//! The sending peer connection of a published stream, from its offer to connected and sending.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateType;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpRtxParameters,
    RtpCodecKind,
};
use rtc::shared::marshal::{Marshal, MarshalSize};
use rtc::statistics::report::RTCStatsReportEntry;
use rtc::statistics::StatsSelector;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::early_checks::Gate;
use super::ice::{IceTransport, IceTransportPolicy};
use super::keyframe::KeyframeSpacing;
use super::path::{no_path_message, Gathered, PathProbe, PathReport, Stage};
use super::peer::{
    build, gathered_sdp, rand_u64, watchers, webrtc_error, Bridges, Built, PeerConfig,
};
use super::retransmit::Retransmitted;
use super::rtt::RtcpFeedback;
use super::sdp::{
    answer_accepts, candidate_count, codec_name, opus, rtx, section_attribute, video_codec,
};
use super::sending::Sending;
use crate::adapt::simulcast::RIDS;
use crate::adapt::Adaptation;
use crate::error::{Error, ErrorCode, Result};
use crate::media::encoder::EncodedSample;
use crate::settings::VideoCodec;

/// A track we send on, with what `write_sample` needs.
struct Outgoing {
    track: Arc<TrackLocalStaticSample>,
    /// One per simulcast layer (full size first), or just one.
    ssrcs: Vec<u32>,
    /// The codec the track sends, as offered.
    codec: RTCRtpCodecParameters,
}

/// The SDES header extensions (`sdes:mid`, `sdes:rtp-stream-id`): a few bytes of text that
/// tell a server which section and which simulcast layer a packet belongs to, before any
/// SSRC is known to it (we write no SSRC lines for simulcast, as browsers do not).
struct SdesItem(Bytes);

impl MarshalSize for SdesItem {
    fn marshal_size(&self) -> usize {
        self.0.len()
    }
}

impl Marshal for SdesItem {
    fn marshal_to(&self, buf: &mut [u8]) -> rtc::shared::error::Result<usize> {
        let n = self.0.len();
        if buf.len() < n {
            return Err(rtc::shared::error::Error::BufferTooShort);
        }
        buf[..n].copy_from_slice(&self.0);
        Ok(n)
    }
}

fn sdes(uri: &'static str, value: &str) -> HeaderExtension {
    HeaderExtension::Custom {
        uri: uri.into(),
        extension: Box::new(SdesItem(Bytes::copy_from_slice(value.as_bytes()))),
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The layers (indexes into `ssrcs`, one per simulcast layer) that keyframe requests name.
fn requested_layers(requests: &[Box<dyn rtc::rtcp::Packet>], ssrcs: &[u32]) -> Vec<usize> {
    let mut layers: Vec<usize> = requests
        .iter()
        .flat_map(|p| p.destination_ssrc())
        .filter_map(|ssrc| ssrcs.iter().position(|s| *s == ssrc))
        .collect();
    layers.sort_unstable();
    layers.dedup();
    layers
}

const SDES_MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
const SDES_RTP_STREAM_ID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// The sending peer connection of one published stream, between offer and answer.
pub(crate) struct Offer {
    pc: Arc<dyn PeerConnection>,
    gate: Arc<Gate>,
    feedback: Arc<RtcpFeedback>,
    retransmitted: Arc<Retransmitted>,
    probe: Arc<PathProbe>,
    bridges: Bridges,
    policy: IceTransportPolicy,
    /// How long gathering took.
    pub gathering: Duration,
    /// Candidates in the server's answer, once applied.
    remote_candidates: AtomicU64,
    /// The SDP offer to hand to the server.
    pub sdp: String,
    state: watch::Receiver<RTCPeerConnectionState>,
    video: Option<Outgoing>,
    audio: Option<Outgoing>,
    /// The answer takes the simulcast layers we offered (`a=simulcast:recv`).
    simulcast_taken: AtomicBool,
}

/// Opens a sending peer connection with a video track (VP8 or H.264) and/or an Opus track and
/// makes its offer. Only the chosen video codec is registered (with its RTX payload type), so
/// the offer carries no other and the server cannot pick another. `nack_history` packets per
/// track are kept to answer NACKs with; what the receiver says of the path goes to
/// `adaptation`. With `layers` of 2 or 3, video is offered as that many simulcast layers with
/// rids (full size first, which is also the order Janus reads them in), and retransmits on
/// each layer's own SSRC.
pub(crate) async fn make_offer(
    config: &PeerConfig,
    video: Option<VideoCodec>,
    audio: bool,
    nack_history: u16,
    adaptation: &Arc<Adaptation>,
    layers: usize,
) -> Result<Offer> {
    let mut media = MediaEngine::default();
    if let Some(codec) = video {
        media
            .register_codec(video_codec(codec), RtpCodecKind::Video)
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "video codec", e))?;
        media
            .register_codec(rtx(codec), RtpCodecKind::Video)
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "RTX codec", e))?;
    }
    if audio {
        media
            .register_codec(opus(), RtpCodecKind::Audio)
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "Opus", e))?;
    }
    let (handler, mut gathered, state) = watchers(None);
    let Built {
        pc,
        gate,
        feedback,
        retransmitted,
        probe,
        bridges,
    } = build(config, media, handler, nack_history, Some(adaptation)).await?;
    // A failure from here on closes the connection (and so its sockets and TURN allocations).
    let negotiated = async {
        let stream_id = format!("lp-{:016x}", rand_u64());
        let add = async |kind: RtpCodecKind,
                         codec: RTCRtpCodecParameters,
                         layers: usize|
               -> Result<Outgoing> {
            let simulcast = layers > 1;
            let ssrcs: Vec<u32> = (0..layers.max(1)).map(|_| rand_u64() as u32).collect();
            let encodings = ssrcs
                .iter()
                .zip(RIDS)
                .map(|(&ssrc, rid)| RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        rid: if simulcast { rid.into() } else { String::new() },
                        ssrc: Some(ssrc),
                        // Video retransmits on an SSRC of its own where the answer takes
                        // RTX; the stack drops this where it does not. Not with simulcast:
                        // a server would need the repaired-stream id to place it.
                        rtx: (kind == RtpCodecKind::Video && !simulcast).then(|| {
                            RTCRtpRtxParameters {
                                ssrc: rand_u64() as u32,
                            }
                        }),
                        ..Default::default()
                    },
                    codec: codec.rtp_codec.clone(),
                    ..Default::default()
                })
                .collect();
            let track = Arc::new(
                TrackLocalStaticSample::new(
                    Instant::now(),
                    MediaStreamTrack::new(
                        stream_id.clone(),
                        format!("{stream_id}-{kind}"),
                        kind.to_string(),
                        kind,
                        encodings,
                    ),
                )
                .map_err(|e| webrtc_error(ErrorCode::InternalError, "track", e))?,
            );
            pc.add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| webrtc_error(ErrorCode::InternalError, "add track", e))?;
            Ok(Outgoing {
                track,
                ssrcs,
                codec,
            })
        };
        let video = match video {
            Some(codec) => Some(add(RtpCodecKind::Video, video_codec(codec), layers).await?),
            None => None,
        };
        let audio = if audio {
            Some(add(RtpCodecKind::Audio, opus(), 1).await?)
        } else {
            None
        };
        let offer = pc
            .create_offer(None)
            .await
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "create offer", e))?;
        let gathering_started = Instant::now();
        pc.set_local_description(offer)
            .await
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "set local description", e))?;
        let sdp = gathered_sdp(&pc, &mut gathered, config.gather_timeout, &probe).await?;
        Ok((video, audio, gathering_started.elapsed(), sdp))
    };
    let (video, audio, gathering, sdp) = match negotiated.await {
        Ok(negotiated) => negotiated,
        Err(e) => {
            let _ = pc.close().await;
            return Err(e);
        }
    };
    Ok(Offer {
        pc,
        gate,
        feedback,
        retransmitted,
        probe,
        bridges,
        policy: config.ice_transport_policy,
        gathering,
        remote_candidates: AtomicU64::new(u64::MAX),
        sdp,
        state,
        video,
        audio,
        simulcast_taken: AtomicBool::new(false),
    })
}

impl Offer {
    /// Applies the server's answer: 1610 if it cannot be applied, or if it takes none of the
    /// codecs we send (a server without our video codec rejects the section or answers with
    /// another one).
    pub(crate) async fn apply_answer(&self, sdp: String) -> Result<()> {
        for (out, kind) in [(&self.video, "video"), (&self.audio, "audio")] {
            let Some(out) = out else { continue };
            let name = codec_name(&out.codec);
            if !answer_accepts(&sdp, kind, name) {
                return Err(Error::new(
                    ErrorCode::SetRemoteDescriptionFailed,
                    format!("the answer takes no {kind} codec we offered (we offer {name} only)"),
                ));
            }
        }
        let simulcast = section_attribute(&sdp, "video", "simulcast");
        let answer = RTCSessionDescription::answer(sdp).map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the answer is not valid SDP",
                e,
            )
        })?;
        let remote_candidates = candidate_count(&answer.sdp) as u64;
        self.pc.set_remote_description(answer).await.map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the answer cannot be applied",
                e,
            )
        })?;
        self.remote_candidates
            .store(remote_candidates, Ordering::Relaxed);
        self.simulcast_taken.store(
            simulcast.is_some_and(|a| a.starts_with("recv")),
            Ordering::Relaxed,
        );
        self.gate.open();
        Ok(())
    }

    /// How many simulcast layers to encode: as many as offered when the answer takes them,
    /// else one (the full size, on the first layer's SSRC).
    pub(crate) fn video_layers(&self) -> usize {
        match &self.video {
            Some(out) if self.simulcast_taken.load(Ordering::Relaxed) => out.ssrcs.len(),
            _ => 1,
        }
    }

    /// The local candidates gathered so far, by kind, from the stack's stats.
    async fn gathered(&self) -> Gathered {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let mut gathered = Gathered::default();
        for entry in report.iter() {
            let RTCStatsReportEntry::LocalCandidate(c) = entry else {
                continue;
            };
            match c.candidate_type {
                RTCIceCandidateType::Host => gathered.host += 1,
                RTCIceCandidateType::Srflx => gathered.srflx += 1,
                RTCIceCandidateType::Relay => match self.bridges.transport_of(&c.url) {
                    IceTransport::TurnTcp => gathered.relay_tcp += 1,
                    IceTransport::TurnTls => gathered.relay_tls += 1,
                    _ => gathered.relay_udp += 1,
                },
                _ => {}
            }
        }
        gathered
    }

    async fn no_path(&self, stage: Stage) -> Error {
        self.probe.stop();
        let report = PathReport {
            policy: self.policy,
            gathered: self.gathered().await,
            probe: self.probe.report(),
            stage,
        };
        Error::new(
            ErrorCode::CreatePeerConnectionFailed,
            no_path_message(&report),
        )
    }

    /// 1553 when gathering found no candidate at all (with the relay policy: no TURN server
    /// gave a relay), before anything is sent to the server.
    pub(crate) async fn no_candidates(&self) -> Option<Error> {
        if self.gathered().await.total() > 0 {
            return None;
        }
        Some(self.no_path(Stage::NoCandidates).await)
    }

    /// Waits until ICE and DTLS are connected: 1553 when no path is found within `timeout`,
    /// with a message that says what was tried.
    pub(crate) async fn connected(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        // The state is read inside a block: its guard must not live across an await.
        let ended = {
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
            // None: connected. Otherwise how the connection ended (None: still trying when
            // the time ran out).
            match &outcome {
                Ok(Ok(state)) => match **state {
                    RTCPeerConnectionState::Connected => None,
                    RTCPeerConnectionState::Failed => Some(Some("failed")),
                    _ => Some(Some("was closed")),
                },
                Ok(Err(_)) => Some(Some("went away")),
                Err(_) => Some(None),
            }
        };
        let Some(ended) = ended else {
            self.probe.stop();
            return Ok(());
        };
        let remote = self.remote_candidates.load(Ordering::Relaxed);
        Err(self
            .no_path(Stage::Checking {
                waited_ms: started.elapsed().as_millis(),
                state: ended.map(str::to_owned),
                remote_candidates: (remote != u64::MAX).then_some(remote as usize),
            })
            .await)
    }

    /// Starts sending: a task per track writes what the encoders produce.
    pub(crate) async fn start_sending(
        self,
        video: Option<mpsc::Receiver<EncodedSample>>,
        audio: Option<mpsc::Receiver<EncodedSample>>,
        on_keyframe_request: Arc<dyn Fn(usize) + Send + Sync>,
    ) -> Result<Sending> {
        let mut writers = Vec::new();
        if let Some(out) = &self.video {
            // A receiver that lost a reference frame asks for a keyframe (PLI/FIR) of the
            // layer whose SSRC it names.
            let track = out.track.clone();
            let ssrcs = out.ssrcs.clone();
            // Spaced: see `KeyframeSpacing`.
            writers.push(crate::runtime::runtime().spawn(async move {
                let mut spacing = KeyframeSpacing::new(ssrcs.len());
                loop {
                    let due = spacing.next_due();
                    let event = tokio::select! {
                        event = track.poll() => event,
                        () = sleep_until(due) => {
                            for layer in spacing.due(Instant::now()) {
                                on_keyframe_request(layer);
                            }
                            continue;
                        }
                    };
                    let Some(event) = event else { break };
                    let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                        continue;
                    };
                    let now = Instant::now();
                    for layer in requested_layers(&packets, &ssrcs) {
                        if spacing.request(now, layer) {
                            tracing::debug!("keyframe requested by the receiver (layer {layer})");
                            on_keyframe_request(layer);
                        }
                    }
                }
            }));
        }
        // Simulcast packets say which section and layer they belong to.
        let mid = section_attribute(&self.sdp, "video", "mid").unwrap_or_default();
        let tagged = self.video_layers() > 1;
        for (out, input) in [(self.video, video), (self.audio, audio)] {
            if let (Some(out), Some(mut input)) = (out, input) {
                let pt = out.codec.payload_type;
                let mid = mid.clone();
                writers.push(crate::runtime::runtime().spawn(async move {
                    while let Some(sample) = input.recv().await {
                        let Some(&ssrc) = out.ssrcs.get(sample.layer) else {
                            continue;
                        };
                        let extensions = if tagged {
                            vec![
                                sdes(SDES_MID_URI, &mid),
                                sdes(SDES_RTP_STREAM_ID_URI, RIDS[sample.layer]),
                            ]
                        } else {
                            Vec::new()
                        };
                        let sample = Sample {
                            data: sample.data,
                            duration: sample.duration,
                            ..Sample::new(Instant::now())
                        };
                        if let Err(e) = out.track.write_sample(ssrc, pt, &sample, &extensions).await
                        {
                            tracing::debug!("write_sample: {e}");
                        }
                    }
                }));
            }
        }
        Ok(Sending {
            pc: self.pc,
            feedback: self.feedback,
            retransmitted: self.retransmitted,
            state: self.state,
            pending_restart: None,
            writers,
            _bridges: self.bridges,
        })
    }

    /// Closes the connection (after a failure before sending started).
    pub(crate) async fn close(self) {
        let _ = self.pc.close().await;
    }
}

#[cfg(test)]
mod tests {
    use rtc::rtcp::payload_feedbacks::full_intra_request::{FirEntry, FullIntraRequest};
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

    use super::*;

    #[test]
    fn a_keyframe_request_is_for_the_layer_whose_ssrc_it_names() {
        let pli = |media_ssrc| -> Box<dyn rtc::rtcp::Packet> {
            Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc,
            })
        };
        let ssrcs = [10, 20, 30];
        assert_eq!(requested_layers(&[pli(30)], &ssrcs), [2]);
        assert_eq!(
            requested_layers(&[pli(20), pli(10), pli(20)], &ssrcs),
            [0, 1]
        );
        // Another SSRC (audio's, say) names no layer.
        assert!(requested_layers(&[pli(99)], &ssrcs).is_empty());
        let fir: Box<dyn rtc::rtcp::Packet> = Box::new(FullIntraRequest {
            sender_ssrc: 1,
            media_ssrc: 0,
            fir: vec![FirEntry {
                ssrc: 20,
                sequence_number: 1,
            }],
        });
        assert_eq!(requested_layers(&[fir], &ssrcs), [1]);
    }
}
