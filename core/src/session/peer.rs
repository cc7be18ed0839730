//! The peer connection a published stream sends on and the embedded receiver answers with:
//! how it binds, gathers and finds its path (ICE servers, TURN bridges, early checks), the
//! same for both. Its SDP, offer, sending side and receiver each have their own file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{
    CongestionControlBuilder, Gcc, NackGeneratorBuilder, NackResponderBuilder, Registry, Slot,
    TwccSenderBuilder,
};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::{RTCConfigurationBuilder, RTCIceTransportPolicy};
use rtc::peer_connection::transport::RTCIceServer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use tokio::sync::watch;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};

use super::bandwidth::{BandwidthWatch, ABS_SEND_TIME_URI};
use super::early_checks::{EarlyCheckRuntime, Gate};
use super::ice::{IceServer, IceTransport, IceTransportPolicy};
use super::keyframe::KeyframeRequests;
use super::pacer::Pacer;
use super::path::{no_path_message, Gathered, PathProbe, PathReport, Stage};
use super::receiver::{count_received, ReceiverCounters};
use super::resume::ResumeSkip;
use super::retransmit::{NackFilter, RetransmissionMeter, Retransmitted};
use super::rtt::{RtcpFeedback, RttMeter};
use super::tap::Tap;
use super::turn_bridge::TurnBridge;
use crate::adapt::Adaptation;
use crate::error::{Error, ErrorCode, Result};

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

pub(super) fn webrtc_error(code: ErrorCode, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(code, format!("{what}: {e}"))
}

/// Follows a peer connection's gathering and connection states.
pub(super) struct StateWatch {
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

pub(super) type Watchers = (
    Arc<StateWatch>,
    watch::Receiver<bool>,
    watch::Receiver<RTCPeerConnectionState>,
);

pub(super) fn watchers(receiver: Option<Arc<ReceiverCounters>>) -> Watchers {
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
pub(super) struct Built {
    pub(super) pc: Arc<dyn PeerConnection>,
    /// Holds early connectivity checks: whoever applies the remote description opens it.
    pub(super) gate: Arc<Gate>,
    pub(super) feedback: Arc<RtcpFeedback>,
    /// What the NACK responder resent.
    pub(super) retransmitted: Arc<Retransmitted>,
    /// Watches the STUN traffic while the path is searched.
    pub(super) probe: Arc<PathProbe>,
    /// TURN over TCP/TLS: live as long as the connection.
    pub(super) bridges: Bridges,
}

/// The TCP/TLS bridges of a connection, with the transport each stands for.
#[derive(Default)]
pub(super) struct Bridges(Vec<(TurnBridge, IceTransport)>);

impl Bridges {
    /// Which transport a relay candidate gathered through `url` (as the stack names the TURN
    /// server it used) came over: a bridge's address, or else UDP.
    pub(super) fn transport_of(&self, url: &str) -> IceTransport {
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

/// The stack's default interceptors (its `register_default_interceptors`: NACK, RTCP reports,
/// TWCC feedback for what we receive, the simulcast header extensions), with a NACK history
/// of `nack_history` packets per sending stream. Video codecs registered on `media` before
/// this call offer `a=rtcp-fb:PT nack` and `nack pli`.
fn stack_interceptors(media: &mut MediaEngine, nack_history: u16) -> Result<Registry> {
    for parameter in ["", "pli"] {
        media.register_feedback(
            RTCPFeedback {
                typ: "nack".into(),
                parameter: parameter.into(),
            },
            RtpCodecKind::Video,
        );
    }
    let registry = Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new().with_size(nack_history).build(),
        )
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build());
    let failed = |e| webrtc_error(ErrorCode::InternalError, "interceptors", e);
    configure_simulcast_extension_headers(media).map_err(failed)?;
    let registry = configure_twcc_receiver_only(registry, media).map_err(failed)?;
    Ok(configure_rtcp_reports(registry))
}

/// What a sending peer adds to follow its path: the receiver's estimates offered in every form
/// it may take (transport-wide feedback with a GCC estimator, REMB with the absolute send time
/// it needs; receiver reports always come), a pacer, and the interceptor that joins them to
/// the stream's [`Adaptation`].
fn adaptation_interceptors(
    registry: Registry,
    media: &mut MediaEngine,
    adaptation: &Arc<Adaptation>,
) -> Result<Registry> {
    let failed = |e| webrtc_error(ErrorCode::InternalError, "interceptors", e);
    media
        .register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: ABS_SEND_TIME_URI.to_owned(),
            },
            RtpCodecKind::Video,
            None,
        )
        .map_err(failed)?;
    media.register_feedback(
        RTCPFeedback {
            typ: "goog-remb".into(),
            parameter: String::new(),
        },
        RtpCodecKind::Video,
    );
    // The transport-wide header extension and feedback are offered already (the stack's
    // TWCC receiver registers both); a receiver that answers them gets our sequence numbers.
    let available = adaptation.available_bps() as f64;
    let gcc = Gcc::new(available, 50_000.0, 100_000_000.0);
    Ok(registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(gcc).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        // Between the controller and the pacer: reads the estimates inbound into the
        // adaptation, which the pacer follows; outbound, stamps the send time on packets the
        // pacer released.
        .with(
            Slot::from(2_500),
            Tap::new(BandwidthWatch::new(adaptation.clone())),
        )
        // App-side of the NACK responder: video resumed after the audio-only fallback skips
        // its sequence numbers ahead.
        .with(
            Slot::from(13_000),
            Tap::new(ResumeSkip::new(adaptation.clone())),
        )
        // Wire-side of the NACK responder (4_000): sees the originals leave and narrows the
        // NACKs before the responder answers them.
        .with(
            Slot::from(3_700),
            Tap::new(NackFilter::new(adaptation.clone())),
        )
        .with(Slot::Pacer, Pacer::new(adaptation.clone())))
}

/// Builds a peer connection with its gate, probe and TURN bridges; a sending stream keeps
/// `nack_history` packets to answer NACKs with (a power of two), and follows its path into
/// `adaptation`.
pub(super) async fn build(
    config: &PeerConfig,
    mut media: MediaEngine,
    handler: Arc<StateWatch>,
    nack_history: u16,
    adaptation: Option<&Arc<Adaptation>>,
) -> Result<Built> {
    let feedback = Arc::new(RtcpFeedback::default());
    let retransmitted = Arc::new(Retransmitted::default());
    let mut registry = stack_interceptors(&mut media, nack_history)?;
    if let Some(adaptation) = adaptation {
        registry = adaptation_interceptors(registry, &mut media, adaptation)?;
    }
    let registry = registry
        // Last in the chain, so the stack's own interceptors have seen all RTCP first.
        .with(Slot::from(14_000), Tap::new(KeyframeRequests))
        // Just above the pacer: sees our sender reports leave and the receiver's reports arrive.
        .with(Slot::from(3_500), Tap::new(RttMeter::new(feedback.clone())))
        // Wire-side of the NACK responder (4_000): sees its retransmissions leave.
        .with(
            Slot::from(3_600),
            Tap::new(RetransmissionMeter::new(retransmitted.clone())),
        );
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
        retransmitted,
        probe,
        bridges,
    })
}

/// Waits (bounded) for gathering to finish, then returns the local description's SDP: WHIP
/// and the loopback receiver take one offer with every candidate in it. Gathering also counts
/// as finished shortly after every STUN/TURN server has given its final word (a refused
/// allocation, an unreachable server), rather than when the stack's own timers give up.
pub(super) async fn gathered_sdp(
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
