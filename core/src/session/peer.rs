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
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::{RTCConfigurationBuilder, RTCIceTransportPolicy};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{RTCIceCandidateType, RTCIceServer};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::statistics::report::RTCStatsReportEntry;
use rtc::statistics::StatsSelector;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};

use super::early_checks::{EarlyCheckRuntime, Gate};
use super::ice::{IceServer, IceTransport, IceTransportPolicy};
use super::path::{no_path_message, Gathered, PathProbe, PathReport, Stage};
use super::restart;
use super::rtt::{RtcpFeedback, RttMeter};
use super::turn_bridge::TurnBridge;
use crate::error::{Error, ErrorCode, Result};
use crate::media::encoder::EncodedSample;
use crate::settings::VideoCodec;

/// Where a peer binds and whom it asks for candidates.
#[derive(Clone, Debug)]
pub(crate) struct PeerConfig {
    /// UDP address to bind, e.g. `127.0.0.1:0`.
    pub bind: String,
    /// STUN/TURN servers (checked).
    pub ice_servers: Vec<IceServer>,
    /// Which candidates ICE may use.
    pub ice_transport_policy: IceTransportPolicy,
    /// How long gathering may take before the offer goes out with what it has.
    pub gather_timeout: Duration,
    /// How long ICE keeps checking a connection that went quiet before the stack calls it
    /// failed; the stream gives up earlier on its own (the session's reconnect timeout).
    pub ice_failed_timeout: Duration,
}

/// Silence on the selected pair after which ICE reports `disconnected`: the start of a
/// reconnection. Keepalives go out every second, so a healthy path is never this quiet.
const ICE_DISCONNECTED_AFTER: Duration = Duration::from_secs(3);
const ICE_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

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
const H264_PT: u8 = 102;
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

/// H.264 constrained baseline, level 3.1, in non-interleaved mode (FU-A and STAP-A): the one
/// H.264 flavour every WebRTC endpoint decodes.
fn h264() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_H264.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
                .into(),
            rtcp_feedback: vec![],
        },
        payload_type: H264_PT,
    }
}

fn video_codec(codec: VideoCodec) -> RTCRtpCodecParameters {
    match codec {
        VideoCodec::Vp8 => vp8(),
        VideoCodec::H264 => h264(),
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

/// The encoding name of a codec as SDP's `a=rtpmap` spells it: `VP8`, `H264`, `opus`.
fn codec_name(codec: &RTCRtpCodecParameters) -> &str {
    let mime = &codec.rtp_codec.mime_type;
    mime.split_once('/').map_or(mime.as_str(), |(_, name)| name)
}

/// Whether an SDP answer accepts a `kind` section that lists a payload type mapped to the
/// encoding `name`. Port 0 rejects a section (RFC 3264 §6), unless it is marked `bundle-only`
/// (how RFC 8843 answers the bundled sections after the first one).
fn answer_accepts(sdp: &str, kind: &str, name: &str) -> bool {
    let mut sections = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            let fields: Vec<&str> = m.split_whitespace().collect();
            sections.push((fields, Vec::new()));
        } else if let Some((_, attributes)) = sections.last_mut() {
            attributes.push(line);
        }
    }
    sections.iter().any(|(fields, attributes)| {
        let [media, port, _proto, formats @ ..] = fields.as_slice() else {
            return false;
        };
        *media == kind
            && (*port != "0" || attributes.contains(&"a=bundle-only"))
            && formats.iter().any(|pt| {
                attributes.iter().any(|a| {
                    a.strip_prefix("a=rtpmap:")
                        .and_then(|rest| rest.split_once(' '))
                        .is_some_and(|(mapped, encoding)| {
                            mapped == *pt
                                && encoding
                                    .split('/')
                                    .next()
                                    .is_some_and(|e| e.eq_ignore_ascii_case(name))
                        })
                })
            })
    })
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

/// A peer connection with what goes with it.
struct Built {
    pc: Arc<dyn PeerConnection>,
    /// Holds early connectivity checks: whoever applies the remote description opens it.
    gate: Arc<Gate>,
    feedback: Arc<RtcpFeedback>,
    /// Watches the STUN traffic while the path is searched.
    probe: Arc<PathProbe>,
    /// TURN over TCP/TLS: live as long as the connection.
    bridges: Bridges,
}

/// The TCP/TLS bridges of a connection, with the transport each stands for.
#[derive(Default)]
struct Bridges(Vec<(TurnBridge, IceTransport)>);

impl Bridges {
    /// Which transport a relay candidate gathered through `url` (as the stack names the TURN
    /// server it used) came over: a bridge's address, or else UDP.
    fn transport_of(&self, url: &str) -> IceTransport {
        self.0
            .iter()
            .find(|(b, _)| url.contains(&b.local_addr().to_string()))
            .map_or(IceTransport::TurnUdp, |(_, t)| *t)
    }
}

/// Whether any of the servers is a TURN server.
fn uses_turn(servers: &[IceServer]) -> bool {
    servers
        .iter()
        .flat_map(|s| s.parsed_urls())
        .any(|(_, u)| u.transport != IceTransport::Stun)
}

/// The stack's view of the ICE servers: `stun:` and UDP `turn:` URLs as they are, TCP/TLS
/// TURN URLs replaced by a bridge of ours; each URL is registered with the probe. Under the
/// relay policy STUN URLs are left out (the stack would not use them).
async fn stack_ice_servers(
    config: &PeerConfig,
    probe: &Arc<PathProbe>,
) -> Result<(Vec<RTCIceServer>, Bridges)> {
    let relay_only = config.ice_transport_policy == IceTransportPolicy::Relay;
    if relay_only && !uses_turn(&config.ice_servers) {
        let report = PathReport {
            policy: config.ice_transport_policy,
            gathered: Gathered::default(),
            probe: Default::default(),
            stage: Stage::NoCandidates,
        };
        return Err(Error::new(
            ErrorCode::CreatePeerConnectionFailed,
            no_path_message(&report),
        ));
    }
    let mut servers = Vec::new();
    let mut bridges = Bridges::default();
    for server in &config.ice_servers {
        let mut urls = Vec::new();
        for (url, parsed) in server.parsed_urls() {
            match parsed.transport {
                IceTransport::Stun if relay_only => continue,
                IceTransport::Stun | IceTransport::TurnUdp => {
                    probe.register(url, parsed.transport, parsed.host_port());
                    urls.push(url.to_owned());
                }
                IceTransport::TurnTcp | IceTransport::TurnTls => {
                    let bridge = TurnBridge::start(&parsed, probe.clone())
                        .await
                        .map_err(|e| {
                            webrtc_error(
                                ErrorCode::CreatePeerConnectionFailed,
                                "cannot open a socket for TURN over TCP/TLS",
                                e,
                            )
                        })?;
                    let local = bridge.local_addr().to_string();
                    probe.register(url, parsed.transport, local.clone());
                    urls.push(format!("turn:{local}?transport=udp"));
                    bridges.0.push((bridge, parsed.transport));
                }
            }
        }
        if !urls.is_empty() {
            servers.push(RTCIceServer {
                urls,
                username: server.username.clone().unwrap_or_default(),
                credential: server.credential.clone().unwrap_or_default(),
            });
        }
    }
    Ok((servers, bridges))
}

/// Builds a peer connection with its gate, probe and TURN bridges.
async fn build(
    config: &PeerConfig,
    mut media: MediaEngine,
    handler: Arc<StateWatch>,
) -> Result<Built> {
    let feedback = Arc::new(RtcpFeedback::default());
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| webrtc_error(ErrorCode::InternalError, "interceptors", e))?
        // Last in the chain, so the stack's own interceptors have seen all RTCP first.
        .with(Slot::from(14_000), KeyframeRequests::default())
        // Just above the pacer: sees our sender reports leave and the receiver's reports arrive.
        .with(Slot::from(3_500), RttMeter::new(feedback.clone()));
    let settings = SettingEngineBuilder::new()
        // Loopback candidates are what a same-machine peer (and the tests' peers) reach us on.
        .with_include_loopback_candidate(true)
        // Check pairs every 20 ms rather than 200 (RFC 8445's pacing floor is 5 ms): the
        // controlling agent nominates on the tick after a success, and connecting is what a
        // user waits for. A pair is given up after 100 unanswered checks (2 s), longer than
        // the default 1.4 s, for slow relayed paths.
        .with_ice_connection_attempts(Some(Duration::from_millis(20)), Some(100))
        // A relayed pair may be nominated as soon as it works when nothing else is allowed;
        // otherwise after 500 ms (the stack's default is 2 s), which leaves direct pairs time
        // to win without making a user behind a firewall wait long.
        .with_relay_acceptance_min_wait(Some(match config.ice_transport_policy {
            IceTransportPolicy::Relay => Duration::ZERO,
            IceTransportPolicy::All => Duration::from_millis(500),
        }))
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED_AFTER),
            Some(config.ice_failed_timeout),
            Some(ICE_KEEPALIVE_INTERVAL),
        )
        .build();
    let probe = Arc::new(PathProbe::default());
    let (ice_servers, bridges) = stack_ice_servers(config, &probe).await?;
    let policy = match config.ice_transport_policy {
        IceTransportPolicy::All => RTCIceTransportPolicy::All,
        IceTransportPolicy::Relay => RTCIceTransportPolicy::Relay,
    };
    let configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(policy)
        .build();
    let stack_runtime = webrtc::runtime::default_runtime()
        .ok_or_else(|| Error::internal("the WebRTC stack has no runtime"))?;
    let gate = Arc::new(Gate::default());
    let runtime = Arc::new(EarlyCheckRuntime::new(
        stack_runtime,
        gate.clone(),
        probe.clone(),
        uses_turn(&config.ice_servers),
    ));
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
    Ok(Built {
        pc: Arc::new(pc),
        gate,
        feedback,
        probe,
        bridges,
    })
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
/// and the loopback receiver take one offer with every candidate in it. Gathering also counts
/// as finished shortly after every STUN/TURN server has given its final word (a refused
/// allocation, an unreachable server), rather than when the stack's own timers give up.
async fn gathered_sdp(
    pc: &Arc<dyn PeerConnection>,
    gathered: &mut watch::Receiver<bool>,
    timeout: Duration,
    probe: &PathProbe,
) -> Result<String> {
    const GRACE: Duration = Duration::from_millis(150);
    let deadline = Instant::now() + timeout;
    let mut settled_at = None;
    let has_servers = !probe.report().servers.is_empty();
    while !*gathered.borrow_and_update() {
        let now = Instant::now();
        if now >= deadline {
            tracing::debug!("gathering still under way after {} ms", timeout.as_millis());
            break;
        }
        if has_servers && probe.settled() && now >= *settled_at.get_or_insert(now) + GRACE {
            break;
        }
        let _ = tokio::time::timeout(
            (deadline - now).min(Duration::from_millis(20)),
            gathered.changed(),
        )
        .await;
    }
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| Error::internal("no local description after negotiation"))
}

/// A track we send on, with what `write_sample` needs.
struct Outgoing {
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    /// The codec the track sends, as offered.
    codec: RTCRtpCodecParameters,
}

/// The sending peer connection of one published stream, between offer and answer.
pub(crate) struct Offer {
    pc: Arc<dyn PeerConnection>,
    gate: Arc<Gate>,
    feedback: Arc<RtcpFeedback>,
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
}

/// Opens a sending peer connection with a video track (VP8 or H.264) and/or an Opus track and
/// makes its offer. Only the chosen video codec is registered, so the offer carries no other
/// and the server cannot pick another.
pub(crate) async fn make_offer(
    config: &PeerConfig,
    video: Option<VideoCodec>,
    audio: bool,
) -> Result<Offer> {
    let mut media = MediaEngine::default();
    if let Some(codec) = video {
        media
            .register_codec(video_codec(codec), RtpCodecKind::Video)
            .map_err(|e| webrtc_error(ErrorCode::InternalError, "video codec", e))?;
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
        probe,
        bridges,
    } = build(config, media, handler).await?;
    // A failure from here on closes the connection (and so its sockets and TURN allocations).
    let negotiated = async {
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
                            codec: codec.rtp_codec.clone(),
                            ..Default::default()
                        }],
                    ),
                )
                .map_err(|e| webrtc_error(ErrorCode::InternalError, "track", e))?,
            );
            pc.add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| webrtc_error(ErrorCode::InternalError, "add track", e))?;
            Ok(Outgoing { track, ssrc, codec })
        };
        let video = match video {
            Some(codec) => Some(add(RtpCodecKind::Video, video_codec(codec)).await?),
            None => None,
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
        probe,
        bridges,
        policy: config.ice_transport_policy,
        gathering,
        remote_candidates: AtomicU64::new(u64::MAX),
        sdp,
        state,
        video,
        audio,
    })
}

/// The number of `a=candidate` lines of an SDP.
fn candidate_count(sdp: &str) -> usize {
    sdp.lines()
        .filter(|l| l.trim_start().starts_with("a=candidate:"))
        .count()
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
        self.gate.open();
        Ok(())
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
        for (out, input) in [(self.video, video), (self.audio, audio)] {
            if let (Some(out), Some(mut input)) = (out, input) {
                let pt = out.codec.payload_type;
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
            feedback: self.feedback,
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

/// A connected sending peer.
pub(crate) struct Sending {
    pc: Arc<dyn PeerConnection>,
    feedback: Arc<RtcpFeedback>,
    state: watch::Receiver<RTCPeerConnectionState>,
    /// An ICE restart offer waiting for the server's answer.
    pending_restart: Option<RTCSessionDescription>,
    writers: Vec<tokio::task::JoinHandle<()>>,
    /// TURN over TCP/TLS, if the path uses it; closed after the connection.
    _bridges: Bridges,
}

impl Sending {
    /// Follows the connection state (for losing connectivity after publishing).
    pub(crate) fn watch_state(&self) -> watch::Receiver<RTCPeerConnectionState> {
        self.state.clone()
    }

    /// Prepares an ICE restart: an offer with fresh credentials, returned as the SDP
    /// fragment a WHIP `PATCH` carries (RFC 9725 §4.4.2). The connection in use is untouched
    /// until [`Sending::apply_restart_answer`]: a server that refuses the restart leaves the
    /// old path free to come back by itself.
    pub(crate) async fn restart_offer(&mut self) -> Result<String> {
        let failed = |what: &str, e: webrtc::error::Error| {
            webrtc_error(ErrorCode::CreatePeerConnectionFailed, what, e)
        };
        self.pc
            .restart_ice()
            .await
            .map_err(|e| failed("ICE restart", e))?;
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| failed("ICE restart offer", e))?;
        // The sockets stay, so do their candidates: the current ones go with the new
        // credentials when the offer has none yet (gathering anew starts once it is applied).
        let current = self.pc.local_description().await.map(|d| d.sdp);
        let fragment = restart::offer_fragment(&offer.sdp, current.as_deref())
            .ok_or_else(|| Error::internal("the ICE restart offer has no ICE credentials"))?;
        self.pending_restart = Some(offer);
        Ok(fragment)
    }

    /// Completes an ICE restart with the server's SDP fragment: the restart offer is applied,
    /// then the answer in effect with the server's new credentials and candidates.
    pub(crate) async fn apply_restart_answer(&mut self, fragment: &str) -> Result<()> {
        let offer = self
            .pending_restart
            .take()
            .ok_or_else(|| Error::internal("no ICE restart under way"))?;
        let current = self
            .pc
            .remote_description()
            .await
            .ok_or_else(|| Error::internal("no remote description to restart from"))?;
        let sdp = restart::answer_with_fragment(&current.sdp, fragment).ok_or_else(|| {
            Error::new(
                ErrorCode::UnexpectedServerResponse,
                "the ICE restart answer carries no ICE credentials",
            )
        })?;
        let answer = RTCSessionDescription::answer(sdp).map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the ICE restart answer",
                e,
            )
        })?;
        self.pc.set_local_description(offer).await.map_err(|e| {
            webrtc_error(
                ErrorCode::CreatePeerConnectionFailed,
                "the ICE restart offer cannot be applied",
                e,
            )
        })?;
        self.pc.set_remote_description(answer).await.map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the ICE restart answer cannot be applied",
                e,
            )
        })
    }

    /// Counters from the stack's stats; round trip and loss from the receiver's reports.
    pub(crate) async fn stats(&self) -> TransportStats {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let mut stats = TransportStats::default();
        for out in report.outbound_rtp_streams() {
            stats.packets_sent += out.sent_rtp_stream_stats.packets_sent;
            stats.bytes_sent += out.sent_rtp_stream_stats.bytes_sent;
        }
        stats.rtt_ms = self
            .feedback
            .rtt()
            .map_or(0.0, |rtt| rtt.as_secs_f64() * 1000.0);
        stats.packets_lost = self.feedback.packets_lost() as i64;
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

async fn count_received(track: Arc<dyn TrackRemote>, counters: Arc<ReceiverCounters>) {
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

/// Whether an H.264 RTP payload (RFC 6184) carries an IDR slice (NAL type 5): as a single NAL
/// unit, inside a STAP-A aggregate, or as the first fragment of an FU-A.
fn h264_carries_idr(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    let Some(&header) = payload.first() else {
        return false;
    };
    match header & 0x1f {
        IDR => true,
        STAP_A => {
            // Each aggregated unit: a 16-bit size, then the unit with its own NAL header.
            let mut at = 1;
            while let (Some(&hi), Some(&lo)) = (payload.get(at), payload.get(at + 1)) {
                let size = usize::from(u16::from_be_bytes([hi, lo]));
                if size == 0 {
                    return false;
                }
                if payload.get(at + 2).is_some_and(|h| h & 0x1f == IDR) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == IDR),
        _ => false,
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
    } = build(config, media, handler).await?;
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
    use super::{answer_accepts, h264_carries_idr, vp8_starts_keyframe};

    #[test]
    fn h264_idr_detection_reads_single_stap_a_and_fu_a() {
        // Single NAL units: IDR slice (0x65), non-IDR slice (0x41), SPS (0x67).
        assert!(h264_carries_idr(&[0x65, 0x88, 0x84]));
        assert!(!h264_carries_idr(&[0x41, 0x9a]));
        assert!(!h264_carries_idr(&[0x67, 0x42]));
        // STAP-A of SPS + PPS only, and of SPS + PPS + IDR.
        let sps_pps = [0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce];
        assert!(!h264_carries_idr(&sps_pps));
        let with_idr = [&sps_pps[..], &[0, 2, 0x65, 0x88]].concat();
        assert!(h264_carries_idr(&with_idr));
        // FU-A: start of an IDR, a later IDR fragment, start of a non-IDR slice.
        assert!(h264_carries_idr(&[0x7c, 0x85, 0xb8]));
        assert!(!h264_carries_idr(&[0x7c, 0x05, 0xb8]));
        assert!(!h264_carries_idr(&[0x5c, 0x81, 0x9a]));
        // Truncated or empty payloads are not keyframes (and do not panic).
        assert!(!h264_carries_idr(&[]));
        assert!(!h264_carries_idr(&[0x78, 0, 9, 0x67]));
        assert!(!h264_carries_idr(&[0x7c]));
    }

    #[test]
    fn an_answer_must_accept_the_offered_codec() {
        let answer = |video: &str| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{video}\
                 m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
            )
        };
        let h264 = answer(
            "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\na=rtpmap:102 H264/90000\r\n\
             a=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n",
        );
        assert!(answer_accepts(&h264, "video", "H264"));
        assert!(!answer_accepts(&h264, "video", "VP8"));
        assert!(answer_accepts(&h264, "audio", "opus"));
        // The server rejected the section (port 0), or left the codec out of its formats.
        let rejected = answer("m=video 0 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n");
        assert!(!answer_accepts(&rejected, "video", "H264"));
        let other = answer("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:102 H264/90000\r\n");
        assert!(!answer_accepts(&other, "video", "H264"));
        // A bundled section answered RFC 8843's way: port 0, but bundle-only.
        let bundled = answer(
            "m=video 0 UDP/TLS/RTP/SAVPF 102\r\na=bundle-only\r\na=rtpmap:102 H264/90000\r\n",
        );
        assert!(answer_accepts(&bundled, "video", "H264"));
        // No video section at all.
        assert!(!answer_accepts(&answer(""), "video", "H264"));
    }

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
