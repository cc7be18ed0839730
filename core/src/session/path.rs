//! What a path search tried, for the 1553 message when it found nothing.
//!
//! A [`PathProbe`] looks at the STUN traffic of one peer connection's sockets while ICE runs
//! (the library's runtime hands it every datagram; see `early_checks`): which STUN/TURN server
//! answered, which TURN allocation was refused and why, and whether any connectivity check
//! got an answer, also when checks travel inside TURN Send/Data indications or ChannelData.
//! It stops looking once the connection is up, so media never pays for it.
//! [`no_path_message`] words what was tried, e.g. "no network path to the media server: tried
//! host (2), relay udp (1); no connectivity check was answered within 3000 ms; …".

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::ice::{IceTransport, IceTransportPolicy};

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ALLOCATE_SUCCESS: u16 = 0x0103;
const ALLOCATE_ERROR: u16 = 0x0113;
const SEND_INDICATION: u16 = 0x0016;
const DATA_INDICATION: u16 = 0x0017;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_DATA: u16 = 0x0013;

/// What became of one STUN/TURN server while gathering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerOutcome {
    /// Nothing heard yet.
    Pending,
    /// A STUN server answered a Binding request.
    Answered,
    /// A TURN server granted an allocation.
    Allocated,
    /// A TURN server refused the allocation: its error code and reason phrase; `final_` once
    /// the refusal is more than the usual first 401 challenge.
    Refused {
        code: u16,
        reason: String,
        final_: bool,
    },
    /// The server could not be reached at all (TCP refused, TLS failed, …).
    Unreachable(String),
}

/// One STUN/TURN URL the connection uses.
#[derive(Debug, Clone)]
pub(crate) struct ServerRecord {
    /// The URL as configured (never with credentials: they are separate fields).
    pub url: String,
    pub transport: IceTransport,
    /// `host:port` as the stack resolves it (for TCP/TLS: the local bridge's address).
    key: String,
    addrs: Vec<SocketAddr>,
    pub outcome: ServerOutcome,
    unauthorized: u32,
}

#[derive(Debug, Default)]
struct ProbeState {
    servers: Vec<ServerRecord>,
    checks_sent: u64,
    checks_received: u64,
    answers_received: u64,
}

/// Watches one connection's STUN traffic until it is connected.
#[derive(Debug)]
pub(crate) struct PathProbe {
    active: AtomicBool,
    state: Mutex<ProbeState>,
}

impl Default for PathProbe {
    fn default() -> Self {
        PathProbe {
            active: AtomicBool::new(true),
            state: Mutex::default(),
        }
    }
}

/// What the probe saw, for the failure message.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProbeReport {
    pub servers: Vec<ServerRecord>,
    pub checks_sent: u64,
    pub checks_received: u64,
    pub answers_received: u64,
}

impl PathProbe {
    fn lock(&self) -> MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A server the connection will contact at `key` (`host:port`).
    pub(crate) fn register(&self, url: &str, transport: IceTransport, key: String) {
        self.lock().servers.push(ServerRecord {
            url: url.to_owned(),
            transport,
            key,
            addrs: Vec::new(),
            outcome: ServerOutcome::Pending,
            unauthorized: 0,
        });
    }

    /// The stack resolved `key` to `addrs`.
    pub(crate) fn resolved(&self, key: &str, addrs: &[SocketAddr]) {
        for server in self.lock().servers.iter_mut().filter(|s| s.key == key) {
            server.addrs = addrs.to_vec();
        }
    }

    /// The server behind `key` cannot be reached (a TCP/TLS bridge says so).
    pub(crate) fn unreachable(&self, key: &str, why: String) {
        for server in self.lock().servers.iter_mut().filter(|s| s.key == key) {
            if server.outcome == ServerOutcome::Pending {
                server.outcome = ServerOutcome::Unreachable(why.clone());
            }
        }
    }

    /// Stops looking (the connection is up, or given up).
    pub(crate) fn stop(&self) {
        self.active.store(false, Ordering::Relaxed);
    }

    /// Whether every server has given its final word: gathering has nothing left to wait
    /// for from them.
    pub(crate) fn settled(&self) -> bool {
        self.lock().servers.iter().all(|s| match &s.outcome {
            ServerOutcome::Pending => false,
            ServerOutcome::Refused { final_, .. } => *final_,
            _ => true,
        })
    }

    pub(crate) fn report(&self) -> ProbeReport {
        let state = self.lock();
        ProbeReport {
            servers: state.servers.clone(),
            checks_sent: state.checks_sent,
            checks_received: state.checks_received,
            answers_received: state.answers_received,
        }
    }

    /// A datagram arrived from `from`.
    pub(crate) fn inbound(&self, datagram: &[u8], from: SocketAddr) {
        if !self.active.load(Ordering::Relaxed) || !maybe_stun_or_channel_data(datagram) {
            return;
        }
        let mut state = self.lock();
        let from_server = state.servers.iter().any(|s| s.addrs.contains(&from));
        if !from_server {
            peer_inbound(&mut state, datagram);
            return;
        }
        if let Some(inner) = channel_data(datagram) {
            peer_inbound(&mut state, inner);
            return;
        }
        let Some(kind) = stun_type(datagram) else {
            return;
        };
        match kind {
            DATA_INDICATION => {
                if let Some(inner) = attribute(datagram, ATTR_DATA) {
                    peer_inbound(&mut state, inner);
                }
            }
            ALLOCATE_SUCCESS | ALLOCATE_ERROR | BINDING_SUCCESS => {
                let error = (kind == ALLOCATE_ERROR).then(|| error_code(datagram));
                for server in state.servers.iter_mut().filter(|s| s.addrs.contains(&from)) {
                    let turn = server.transport != IceTransport::Stun;
                    match (&error, turn) {
                        (None, true) if kind == ALLOCATE_SUCCESS => {
                            server.outcome = ServerOutcome::Allocated
                        }
                        (None, false) if kind == BINDING_SUCCESS => {
                            server.outcome = ServerOutcome::Answered
                        }
                        (Some((code, reason)), true)
                            if server.outcome != ServerOutcome::Allocated =>
                        {
                            // The first 401 is the usual challenge for the realm and nonce; a
                            // second one means the credentials were wrong. A stale nonce
                            // (438) is retried by the client.
                            if *code == 401 {
                                server.unauthorized += 1;
                            }
                            let final_ = match code {
                                401 => server.unauthorized >= 2,
                                438 => false,
                                _ => true,
                            };
                            server.outcome = ServerOutcome::Refused {
                                code: *code,
                                reason: reason.clone(),
                                final_,
                            };
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// A datagram leaves for `to`.
    pub(crate) fn outbound(&self, datagram: &[u8], to: SocketAddr) {
        if !self.active.load(Ordering::Relaxed) || !maybe_stun_or_channel_data(datagram) {
            return;
        }
        let mut state = self.lock();
        let to_server = state.servers.iter().any(|s| s.addrs.contains(&to));
        let inner = if !to_server {
            Some(datagram)
        } else if let Some(inner) = channel_data(datagram) {
            Some(inner)
        } else if stun_type(datagram) == Some(SEND_INDICATION) {
            attribute(datagram, ATTR_DATA)
        } else {
            None
        };
        if inner.and_then(stun_type) == Some(BINDING_REQUEST) {
            state.checks_sent += 1;
        }
    }
}

fn peer_inbound(state: &mut ProbeState, datagram: &[u8]) {
    match stun_type(datagram) {
        Some(BINDING_REQUEST) => state.checks_received += 1,
        Some(BINDING_SUCCESS) => state.answers_received += 1,
        _ => {}
    }
}

/// A cheap first look: STUN starts with two zero bits, ChannelData with 0b01 (RFC 7983);
/// DTLS (20–63) and RTP/RTCP (128–191) are neither.
pub(crate) fn maybe_stun_or_channel_data(datagram: &[u8]) -> bool {
    datagram
        .first()
        .is_some_and(|b| *b < 2 || (0x40..=0x4f).contains(b))
}

/// The message type of a STUN message (RFC 8489 §5), if this is one.
fn stun_type(m: &[u8]) -> Option<u16> {
    if m.len() < 20 || m[0] & 0xc0 != 0 || m[4..8] != MAGIC_COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([m[2], m[3]]));
    (20 + length <= m.len()).then(|| u16::from_be_bytes([m[0], m[1]]))
}

/// The payload of a TURN ChannelData message (RFC 8656 §12.4), if this is one.
fn channel_data(m: &[u8]) -> Option<&[u8]> {
    if m.len() < 4 || !(0x40..=0x4f).contains(&m[0]) {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([m[2], m[3]]));
    m.get(4..4 + length)
}

/// The value of the first attribute of type `wanted` in a STUN message.
fn attribute(m: &[u8], wanted: u16) -> Option<&[u8]> {
    let length = usize::from(u16::from_be_bytes([m[2], m[3]]));
    let body = m.get(20..20 + length)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == wanted {
            return Some(value);
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// ERROR-CODE (RFC 8489 §14.8): the code and the reason phrase.
fn error_code(m: &[u8]) -> (u16, String) {
    match attribute(m, ATTR_ERROR_CODE) {
        Some(v) if v.len() >= 4 => (
            u16::from(v[2] & 0x07) * 100 + u16::from(v[3]),
            String::from_utf8_lossy(&v[4..]).trim().to_owned(),
        ),
        _ => (0, String::new()),
    }
}

/// Local candidates gathered, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Gathered {
    pub host: usize,
    pub srflx: usize,
    pub relay_udp: usize,
    pub relay_tcp: usize,
    pub relay_tls: usize,
}

impl Gathered {
    pub(crate) fn total(&self) -> usize {
        self.host + self.srflx + self.relay_udp + self.relay_tcp + self.relay_tls
    }

    pub(crate) fn relayed(&self, transport: IceTransport) -> usize {
        match transport {
            IceTransport::Stun => self.srflx,
            IceTransport::TurnUdp => self.relay_udp,
            IceTransport::TurnTcp => self.relay_tcp,
            IceTransport::TurnTls => self.relay_tls,
        }
    }
}

/// How far the search got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Gathering produced no candidate at all: nothing was sent to the server.
    NoCandidates,
    /// Checks ran (or could have) for `waited_ms`; `state` is how the connection ended
    /// (`None`: still trying when the time was up).
    Checking {
        waited_ms: u128,
        state: Option<String>,
        remote_candidates: Option<usize>,
    },
}

/// Everything the 1553 message is made of.
#[derive(Debug, Clone)]
pub(crate) struct PathReport {
    pub policy: IceTransportPolicy,
    pub gathered: Gathered,
    pub probe: ProbeReport,
    pub stage: Stage,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Words a failed path search: what was tried, what each server said, whether any check was
/// answered, and what to do about it.
pub(crate) fn no_path_message(r: &PathReport) -> String {
    let mut parts = Vec::new();
    let g = &r.gathered;
    let servers = &r.probe.servers;
    let uses = |t: IceTransport| servers.iter().any(|s| s.transport == t);
    let any_turn = servers.iter().any(|s| s.transport != IceTransport::Stun);

    let mut tried = Vec::new();
    if r.policy == IceTransportPolicy::All {
        tried.push(format!("host ({})", g.host));
        if uses(IceTransport::Stun) || g.srflx > 0 {
            tried.push(format!("srflx ({})", g.srflx));
        }
    }
    for t in [
        IceTransport::TurnUdp,
        IceTransport::TurnTcp,
        IceTransport::TurnTls,
    ] {
        if uses(t) || g.relayed(t) > 0 {
            tried.push(format!("{} ({})", t.candidate_label(), g.relayed(t)));
        }
    }
    if tried.is_empty() {
        parts.push(
            "ice_transport_policy is relay, but no TURN server is configured (neither in the \
             session settings nor by the server)"
                .to_owned(),
        );
    } else {
        parts.push(format!("tried {}", tried.join(", ")));
    }

    for s in servers {
        let name = match s.transport {
            IceTransport::Stun => format!("STUN server {}", s.url),
            _ => format!("TURN server {}", s.url),
        };
        match &s.outcome {
            ServerOutcome::Pending => parts.push(format!("no answer from the {name}")),
            ServerOutcome::Refused { code, reason, .. } => {
                let hint = match code {
                    401 | 441 => " — check the TURN username and credential",
                    403 => " — the server forbids this client or peer",
                    486 => " — the server has too many allocations for this user",
                    508 => " — the server is out of relay ports",
                    _ => "",
                };
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(" {reason}")
                };
                parts.push(format!(
                    "the {name} refused the allocation ({code}{reason}){hint}"
                ));
            }
            ServerOutcome::Unreachable(why) => parts.push(format!("the {name}: {why}")),
            ServerOutcome::Answered | ServerOutcome::Allocated => {}
        }
    }

    let p = &r.probe;
    match &r.stage {
        Stage::NoCandidates => {
            parts.push("no candidate to check, so nothing was sent to the media server".into())
        }
        Stage::Checking {
            waited_ms,
            state,
            remote_candidates,
        } => {
            if *remote_candidates == Some(0) {
                parts.push("the server's answer lists no candidate".into());
            }
            if p.answers_received == 0 {
                let mut line = format!("no connectivity check was answered within {waited_ms} ms");
                if p.checks_sent > 0 || p.checks_received > 0 {
                    line.push_str(&format!(
                        " ({} sent, {} received from the server)",
                        plural(p.checks_sent, "check", "checks"),
                        p.checks_received
                    ));
                }
                parts.push(line);
            } else {
                parts.push(format!(
                    "connectivity checks were answered, but the connection {} within {waited_ms} ms",
                    state.as_deref().unwrap_or("did not come up")
                ));
            }
        }
    }

    let relays = g.relay_udp + g.relay_tcp + g.relay_tls;
    let advice = if tried.is_empty() {
        "give a TURN server (ice_servers) or use ice_transport_policy \"all\""
    } else if !any_turn {
        "a firewall may block WebRTC (UDP) — configure a TURN server over TCP/TLS"
    } else if relays == 0 {
        "check the TURN server's address, port and credentials"
    } else if !uses(IceTransport::TurnTcp) && !uses(IceTransport::TurnTls) {
        "UDP may be blocked — add a TURN URL over TCP/TLS (turn:HOST?transport=tcp or turns:HOST)"
    } else {
        "the TURN server may not reach the media server"
    };
    parts.push(advice.to_owned());
    format!("no network path to the media server: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(kind: u16, attributes: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attributes {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        let mut m = kind.to_be_bytes().to_vec();
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[9; 12]);
        m.extend_from_slice(&body);
        m
    }

    fn error(code: u16, reason: &str) -> Vec<u8> {
        let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
        v.extend_from_slice(reason.as_bytes());
        stun(ALLOCATE_ERROR, &[(ATTR_ERROR_CODE, &v)])
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn follows_allocations_and_checks_through_the_relay() {
        let probe = PathProbe::default();
        probe.register("turn:t:3478", IceTransport::TurnUdp, "t:3478".into());
        probe.resolved("t:3478", &[addr("10.0.0.9:3478")]);
        let turn = addr("10.0.0.9:3478");
        let peer = addr("10.0.0.7:5000");
        // The challenge, then success.
        probe.inbound(&error(401, "Unauthorized"), turn);
        assert!(!probe.settled());
        probe.inbound(&stun(ALLOCATE_SUCCESS, &[]), turn);
        assert!(probe.settled());
        assert_eq!(probe.report().servers[0].outcome, ServerOutcome::Allocated);
        // A check sent through the relay (Send indication), answered inside a Data indication,
        // and one answered inside ChannelData; a direct request from the peer.
        let check = stun(BINDING_REQUEST, &[]);
        probe.outbound(&stun(SEND_INDICATION, &[(ATTR_DATA, &check)]), turn);
        let answer = stun(BINDING_SUCCESS, &[]);
        probe.inbound(&stun(DATA_INDICATION, &[(ATTR_DATA, &answer)]), turn);
        let mut channel = vec![0x40, 0x00, 0, answer.len() as u8];
        channel.extend_from_slice(&answer);
        probe.inbound(&channel, turn);
        probe.inbound(&check, peer);
        // DTLS and RTP are not looked at.
        probe.inbound(&[22, 254, 253, 0], peer);
        let r = probe.report();
        assert_eq!(
            (r.checks_sent, r.answers_received, r.checks_received),
            (1, 2, 1)
        );
        probe.stop();
        probe.inbound(&answer, peer);
        assert_eq!(probe.report().answers_received, 2);
    }

    #[test]
    fn two_401s_are_wrong_credentials() {
        let probe = PathProbe::default();
        probe.register("turn:t", IceTransport::TurnUdp, "t:3478".into());
        probe.resolved("t:3478", &[addr("10.0.0.9:3478")]);
        probe.inbound(&error(401, "Unauthorized"), addr("10.0.0.9:3478"));
        probe.inbound(&error(401, "Unauthorized"), addr("10.0.0.9:3478"));
        assert!(probe.settled());
        assert_eq!(
            probe.report().servers[0].outcome,
            ServerOutcome::Refused {
                code: 401,
                reason: "Unauthorized".into(),
                final_: true
            }
        );
    }

    #[test]
    fn an_unreachable_bridge_settles_its_server() {
        let probe = PathProbe::default();
        probe.register(
            "turn:t?transport=tcp",
            IceTransport::TurnTcp,
            "127.0.0.1:4000".into(),
        );
        assert!(!probe.settled());
        probe.unreachable("127.0.0.1:4000", "cannot connect over tcp: refused".into());
        assert!(probe.settled());
    }

    #[test]
    fn the_message_names_what_was_tried() {
        let report = |policy, gathered, servers: Vec<ServerRecord>, stage| PathReport {
            policy,
            gathered,
            probe: ProbeReport {
                servers,
                ..Default::default()
            },
            stage,
        };
        let record = |url: &str, transport, outcome| ServerRecord {
            url: url.into(),
            transport,
            key: String::new(),
            addrs: vec![],
            outcome,
            unauthorized: 0,
        };
        let checking = Stage::Checking {
            waited_ms: 3000,
            state: None,
            remote_candidates: Some(2),
        };
        let m = no_path_message(&report(
            IceTransportPolicy::All,
            Gathered {
                host: 2,
                relay_udp: 1,
                ..Default::default()
            },
            vec![record(
                "turn:t:3478",
                IceTransport::TurnUdp,
                ServerOutcome::Allocated,
            )],
            checking.clone(),
        ));
        assert_eq!(
            m,
            "no network path to the media server: tried host (2), relay udp (1); no \
             connectivity check was answered within 3000 ms; UDP may be blocked — add a TURN \
             URL over TCP/TLS (turn:HOST?transport=tcp or turns:HOST)"
        );
        let m = no_path_message(&report(
            IceTransportPolicy::All,
            Gathered {
                host: 1,
                ..Default::default()
            },
            vec![],
            checking,
        ));
        assert!(
            m.ends_with("within 3000 ms; a firewall may block WebRTC (UDP) — configure a TURN server over TCP/TLS"),
            "{m}"
        );
        let m = no_path_message(&report(
            IceTransportPolicy::Relay,
            Gathered::default(),
            vec![record(
                "turn:t:3478",
                IceTransport::TurnUdp,
                ServerOutcome::Refused {
                    code: 401,
                    reason: "Unauthorized".into(),
                    final_: true,
                },
            )],
            Stage::NoCandidates,
        ));
        assert_eq!(
            m,
            "no network path to the media server: tried relay udp (0); the TURN server \
             turn:t:3478 refused the allocation (401 Unauthorized) — check the TURN username \
             and credential; no candidate to check, so nothing was sent to the media server; \
             check the TURN server's address, port and credentials"
        );
        let m = no_path_message(&report(
            IceTransportPolicy::Relay,
            Gathered::default(),
            vec![],
            Stage::NoCandidates,
        ));
        assert!(m.contains("no TURN server is configured"), "{m}");
    }
}
