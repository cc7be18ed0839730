//! Sessions: connect to a media server (chosen by the URL), publish publishers on it.
//!
//! State machine: `Disconnected` → `Connecting` → `Connected` → `Disconnecting` →
//! `Disconnected`; any state → `Closed` on `close`. Each published publisher has one
//! [`stream::Stream`] (a sending peer connection and its encoders).

mod bandwidth;
mod delivered;
mod early_checks;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod ice;
mod janus;
mod keyframe;
mod loopback;
mod lost_copies;
mod offer;
mod pacer;
mod path;
mod peer;
mod receiver;
mod recovery;
mod restart;
mod resume;
mod retransmit;
mod rtt;
mod sdp;
mod sending;
mod stream;
mod tap;
mod turn_bridge;
mod whip;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use ice::{IceServer, IceTransportPolicy};
pub use loopback::ReceiverStats;
pub use sending::TransportStats;

use crate::error::{Error, ErrorCode, Reason, Result};
use crate::host::calls::{CallId, Calls};
use crate::host::delivery::Dispatcher;
use crate::publisher::Publisher;
use crate::runtime::runtime;
use crate::settings::OptionValue;
use recovery::PatchReply;
pub(crate) use stream::{Stream, StreamStats};

/// Something that happened to a session, delivered to its event handler.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// `connect` succeeded.
    SessionConnected,
    /// The session ended.
    SessionDisconnected {
        /// Why.
        reason: Reason,
    },
    /// Connectivity was lost; the session is trying to recover.
    SessionReconnecting,
    /// Connectivity was recovered.
    SessionReconnected,
}

impl SessionEvent {
    /// The event's name as OpenTok and the Node binding spell it: `"sessionConnected"`.
    pub fn name(&self) -> &'static str {
        match self {
            SessionEvent::SessionConnected => "sessionConnected",
            SessionEvent::SessionDisconnected { .. } => "sessionDisconnected",
            SessionEvent::SessionReconnecting => "sessionReconnecting",
            SessionEvent::SessionReconnected => "sessionReconnected",
        }
    }
}

/// Every session event name, camelCase; the one list of them (Python's snake_case names are
/// derived from it).
pub const SESSION_EVENT_NAMES: &[&str] = &[
    "sessionConnected",
    "sessionDisconnected",
    "sessionReconnecting",
    "sessionReconnected",
];

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Not connected (initially, after `disconnect`, after a failed `connect`).
    Disconnected,
    /// `connect` is under way.
    Connecting,
    /// Connected: `publish` works.
    Connected,
    /// `disconnect` is under way.
    Disconnecting,
    /// Closed by the host; nothing more happens.
    Closed,
}

impl SessionState {
    /// Every state, in the order of their codes.
    pub const ALL: [SessionState; 5] = [
        SessionState::Disconnected,
        SessionState::Connecting,
        SessionState::Connected,
        SessionState::Disconnecting,
        SessionState::Closed,
    ];

    /// The stable number of the state (the C API's `LP_SESSION_*`).
    pub fn code(self) -> i32 {
        match self {
            SessionState::Disconnected => 0,
            SessionState::Connecting => 1,
            SessionState::Connected => 2,
            SessionState::Disconnecting => 3,
            SessionState::Closed => 4,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Disconnected => "disconnected",
            SessionState::Connecting => "connecting",
            SessionState::Connected => "connected",
            SessionState::Disconnecting => "disconnecting",
            SessionState::Closed => "closed",
        }
    }
}

/// Timeouts and ICE configuration of a session, settable by name like publisher settings.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// How long `connect` may take.
    pub connect_timeout: Duration,
    /// How long the server may take to accept a stream.
    pub publish_timeout: Duration,
    /// How long ICE and DTLS may take to find a path: gathering candidates, then, once the
    /// server answered, the connectivity checks and the DTLS handshake.
    pub ice_timeout: Duration,
    /// STUN/TURN servers, used before the ones a WHIP server advertises in its `Link`
    /// headers.
    pub ice_servers: Vec<IceServer>,
    /// Which candidates ICE may use (`relay`: only TURN-relayed ones).
    pub ice_transport_policy: IceTransportPolicy,
    /// How long a published stream whose connection was lost keeps trying to recover (ICE
    /// going on, ICE restarts) before it ends with `networkDisconnected`.
    pub reconnect_timeout: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            connect_timeout: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(15),
            ice_timeout: Duration::from_secs(10),
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            reconnect_timeout: Duration::from_secs(15),
        }
    }
}

/// The session options, as declared in every language (see [`crate::settings::OptionDoc`]).
pub const SESSION_OPTION_DOCS: &[crate::settings::OptionDoc] = {
    use crate::settings::{OptionDoc, MAX_TIMEOUT_MS};
    const fn timeout(key: &'static str, default: &'static str) -> OptionDoc {
        OptionDoc {
            key,
            default: Some(default),
            range: Some((1, MAX_TIMEOUT_MS)),
        }
    }
    &[
        timeout("connect_timeout_ms", "10000"),
        timeout("publish_timeout_ms", "15000"),
        timeout("ice_timeout_ms", "10000"),
        OptionDoc {
            key: "ice_servers",
            default: None,
            range: None,
        },
        OptionDoc {
            key: "ice_transport_policy",
            default: Some("all"),
            range: None,
        },
        timeout("reconnect_timeout_ms", "15000"),
    ]
};

/// Option names of [`SessionSettings::set`], in snake_case.
pub const SESSION_OPTION_KEYS: &[&str] = &[
    "connect_timeout_ms",
    "publish_timeout_ms",
    "ice_timeout_ms",
    "ice_servers",
    "ice_transport_policy",
    "reconnect_timeout_ms",
];

impl SessionSettings {
    /// Sets one option by name (snake_case or camelCase); 1011 naming the key otherwise.
    /// `ice_servers` takes a list of mappings (`urls`: a URL or a list of URLs, `username`,
    /// `credential`) and replaces the servers set so far; `ice_transport_policy` takes
    /// `"all"` or `"relay"`.
    pub fn set(&mut self, key: &str, value: OptionValue) -> Result<()> {
        let field = crate::settings::canonical_key(key);
        let target = match field.as_str() {
            "connect_timeout_ms" => &mut self.connect_timeout,
            "publish_timeout_ms" => &mut self.publish_timeout,
            "ice_timeout_ms" => &mut self.ice_timeout,
            "reconnect_timeout_ms" => &mut self.reconnect_timeout,
            "ice_servers" => {
                self.ice_servers = ice::ice_servers_option(&field, &value)?;
                return Ok(());
            }
            "ice_transport_policy" => {
                self.ice_transport_policy = match &value {
                    OptionValue::Str(s) => {
                        s.parse().map_err(|e| Error::invalid_parameter(&field, e))?
                    }
                    other => {
                        return Err(Error::invalid_parameter(
                            &field,
                            format!("expected \"all\" or \"relay\", got {}", other.kind()),
                        ))
                    }
                };
                return Ok(());
            }
            _ => {
                return Err(Error::invalid_parameter(
                    key,
                    format!(
                        "unknown option; known options are {}",
                        SESSION_OPTION_KEYS.join(", ")
                    ),
                ))
            }
        };
        *target = crate::settings::timeout_value(&field, &value)?;
        Ok(())
    }

    /// Adds a STUN or TURN server (after those added before): its URLs (`stun:host[:port]`,
    /// `turn:host[:port][?transport=udp|tcp]`, `turns:host[:port]`) and, for TURN, the
    /// username and credential. 1011 naming `ice_servers` for a URL of another scheme, no
    /// URL, or a TURN URL without credentials; the settings are unchanged then.
    pub fn add_ice_server<I, S>(
        &mut self,
        urls: I,
        username: Option<&str>,
        credential: Option<&str>,
    ) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ice_servers
            .push(IceServer::new(urls, username, credential)?);
        Ok(())
    }
}

/// The backend a URL selects.
pub(crate) enum Backend {
    Loopback(loopback::Loopback),
    Whip(whip::Whip),
    Janus(janus::Janus),
}

impl Backend {
    fn for_url(url: &str) -> Result<Backend> {
        let invalid = |why: &str| {
            Error::new(
                ErrorCode::InvalidSessionId,
                format!("session URL {url:?}: {why}"),
            )
        };
        let (scheme, _rest) = url.split_once("://").ok_or_else(|| {
            invalid("expected loopback://, http(s)://… (WHIP) or janus+ws(s)://…")
        })?;
        match scheme.to_ascii_lowercase().as_str() {
            "loopback" => Ok(Backend::Loopback(loopback::Loopback::default())),
            "http" | "https" => Ok(Backend::Whip(whip::Whip::new(url)?)),
            "janus+ws" | "janus+wss" => Ok(Backend::Janus(janus::Janus::new(url)?)),
            other => Err(invalid(&format!("unknown scheme {other:?}"))),
        }
    }

    async fn connect(&self, token: Option<&str>) -> Result<()> {
        match self {
            Backend::Loopback(_) => Ok(()),
            Backend::Whip(w) => w.connect(token).await,
            Backend::Janus(j) => j.connect(token).await,
        }
    }

    /// How the sending peer binds and finds its path: the session's ICE servers first, then
    /// those the server advertised; the session's policy. Gathering may take at most half
    /// the ICE timeout, so that the checks always keep the other half.
    fn peer_config(&self, settings: &SessionSettings) -> peer::PeerConfig {
        let mut config = match self {
            Backend::Loopback(_) => loopback::Loopback::peer_config(),
            Backend::Whip(w) => w.peer_config(),
            Backend::Janus(j) => j.peer_config(),
        };
        let advertised = std::mem::take(&mut config.ice_servers);
        config.ice_servers = settings.ice_servers.clone();
        config.ice_servers.extend(advertised);
        config.ice_transport_policy = settings.ice_transport_policy;
        config.gather_timeout = config.gather_timeout.min(settings.ice_timeout / 2);
        // The stream gives up on a lost connection by itself; the stack keeps checking
        // until then, so that a path that comes back is found again.
        config.ice_failed_timeout = settings.reconnect_timeout + Duration::from_secs(5);
        config
    }

    /// Hands the offer of the publisher called `name` to the server: the answer and the
    /// stream's id.
    async fn publish(&self, offer: String, name: &str) -> Result<(String, String)> {
        match self {
            Backend::Loopback(l) => l.publish(offer).await,
            Backend::Whip(w) => w.publish(offer).await,
            Backend::Janus(j) => j.publish(offer, name).await,
        }
    }

    async fn unpublish(&self, stream_id: &str) {
        match self {
            Backend::Loopback(l) => l.unpublish(stream_id).await,
            Backend::Whip(w) => w.unpublish(stream_id).await,
            Backend::Janus(j) => j.unpublish(stream_id).await,
        }
    }

    /// Ends the server's session, once the streams are over.
    async fn disconnect(&self) {
        if let Backend::Janus(j) = self {
            j.disconnect().await;
        }
    }

    /// Hands an ICE restart offer (an SDP fragment) to the server.
    async fn restart_ice(&self, stream_id: &str, fragment: String) -> PatchReply {
        match self {
            // The embedded receiver shares this process: its path cannot be lost.
            Backend::Loopback(_) => PatchReply::Unsupported,
            Backend::Whip(w) => w.restart_ice(stream_id, fragment).await,
            Backend::Janus(j) => j.restart_ice().await,
        }
    }

    /// Whether the server still answers (after a stream lost its connection).
    async fn reachable(&self, timeout: Duration) -> bool {
        match self {
            Backend::Loopback(_) => true,
            Backend::Whip(w) => w.reachable(timeout).await,
            Backend::Janus(j) => j.reachable(timeout).await,
        }
    }
}

/// The host's session event handler.
pub type SessionEventHandler = Arc<dyn Fn(&Session, SessionEvent) + Send + Sync>;
/// The completion callback of a session call.
pub type SessionDone = Box<dyn FnOnce(&Session, Result<()>) + Send>;

struct Lifecycle {
    state: SessionState,
    /// Published streams by publisher id.
    streams: HashMap<u64, Arc<Stream>>,
    /// Publishers whose stream is recovering a lost connection: while any is, the session
    /// is reconnecting.
    recovering: HashSet<u64>,
}

pub(crate) struct Inner {
    id: u64,
    url: String,
    settings: SessionSettings,
    backend: Backend,
    lifecycle: Mutex<Lifecycle>,
    dispatcher: Dispatcher,
    on_event: SessionEventHandler,
    calls: Calls<Session>,
    /// Counts `disconnect` and `close` calls: a publish under way gives up when it changes.
    ended: tokio::sync::watch::Sender<u64>,
}

/// A session: a cheap, clonable handle; every clone is the same session.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .field("url", &janus::redacted(&self.inner.url))
            .field("state", &self.state())
            .finish()
    }
}

/// Makes a session for `url` (`loopback://`, …). A malformed URL or unknown scheme fails at
/// once with 1005 INVALID_SESSION_ID. Nothing touches the network until `connect`.
pub fn init_session(
    url: &str,
    settings: SessionSettings,
    on_event: SessionEventHandler,
) -> Result<Session> {
    let backend = Backend::for_url(url)?;
    let id = crate::runtime::next_id();
    Ok(Session {
        inner: Arc::new(Inner {
            id,
            url: url.to_owned(),
            settings,
            backend,
            lifecycle: Mutex::new(Lifecycle {
                state: SessionState::Disconnected,
                streams: HashMap::new(),
                recovering: HashSet::new(),
            }),
            dispatcher: Dispatcher::new(&format!("lp-ses-{id}")),
            on_event,
            calls: Calls::new("session"),
            ended: tokio::sync::watch::channel(0).0,
        }),
    })
}

impl Session {
    /// The session's id, unique in the process and never reused.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The URL it was made for.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Where it is in its life.
    pub fn state(&self) -> SessionState {
        self.lifecycle().state
    }

    fn lifecycle(&self) -> MutexGuard<'_, Lifecycle> {
        self.inner
            .lifecycle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: SessionEvent) {
        let session = self.clone();
        self.inner
            .dispatcher
            .post(move || (session.inner.on_event)(&session, event));
    }

    /// Waits (bounded) until the session callbacks queued so far have run.
    async fn flush_events(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.dispatcher.flush()).await;
    }

    /// Completes `call` on the callback thread, then runs `after` (if it completed).
    fn complete_then(
        &self,
        call: CallId,
        outcome: Result<()>,
        after: impl FnOnce() + Send + 'static,
    ) {
        let session = self.clone();
        self.inner.dispatcher.post(move || {
            if let Some(done) = session.inner.calls.take(call) {
                done(&session, outcome);
                after();
            }
        });
    }

    fn complete(&self, call: CallId, outcome: Result<()>) {
        self.complete_then(call, outcome, || {});
    }

    /// Connects with `token` (never logged). Fails at once with 1015 if the session is not
    /// disconnected; otherwise `done` runs once: success (after `sessionConnected`), or
    /// 1004/1005/1006/1021/1027.
    pub fn connect(&self, token: Option<String>, done: SessionDone) -> Result<()> {
        {
            let mut lifecycle = self.lifecycle();
            if lifecycle.state != SessionState::Disconnected {
                return Err(Error::illegal_state(format!(
                    "connect: the session is {}",
                    lifecycle.state.as_str()
                )));
            }
            lifecycle.state = SessionState::Connecting;
        }
        let call = match self.inner.calls.start("connect", done) {
            Ok(call) => call,
            Err(e) => {
                self.lifecycle().state = SessionState::Disconnected;
                return Err(e);
            }
        };
        let session = self.clone();
        runtime().spawn(async move {
            let timeout = session.inner.settings.connect_timeout;
            let outcome = match tokio::time::timeout(
                timeout,
                session.inner.backend.connect(token.as_deref()),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::new(
                    ErrorCode::ConnectTimeout,
                    format!(
                        "no answer from {} within {} ms",
                        janus::redacted(&session.inner.url),
                        timeout.as_millis()
                    ),
                )),
            };
            {
                let mut lifecycle = session.lifecycle();
                if lifecycle.state != SessionState::Connecting {
                    // Disconnected (or closed, which drops the callback) while connecting.
                    drop(lifecycle);
                    let e = Error::illegal_state("connect: the session was disconnected meanwhile");
                    session.complete(call, Err(e));
                    return;
                }
                lifecycle.state = if outcome.is_ok() {
                    SessionState::Connected
                } else {
                    SessionState::Disconnected
                };
            }
            match &outcome {
                Ok(()) => {
                    tracing::info!(session = session.inner.id, "connected");
                    session.emit(SessionEvent::SessionConnected);
                }
                Err(e) => tracing::info!(
                    session = session.inner.id,
                    code = e.code(),
                    "connect failed: {}",
                    e.message
                ),
            }
            session.complete(call, outcome);
        });
        Ok(())
    }

    /// Publishes `publisher`. Fails at once with 1010 NOT_CONNECTED when the session is not
    /// connected, and with 1015 when the publisher is not ready or already published.
    /// Otherwise `done` runs once: success when media flows (then the publisher emits
    /// `streamCreated`), or 1541/1553/1590/1610/2001 with everything torn down.
    pub fn publish(&self, publisher: &Publisher, done: SessionDone) -> Result<()> {
        {
            let lifecycle = self.lifecycle();
            if lifecycle.state != SessionState::Connected {
                return Err(Error::new(
                    ErrorCode::NotConnected,
                    format!(
                        "publish: the session is {}, not connected",
                        lifecycle.state.as_str()
                    ),
                ));
            }
        }
        publisher.begin_publish()?;
        let call = match self.inner.calls.start("publish", done) {
            Ok(call) => call,
            Err(e) => {
                publisher.end_publish(None);
                return Err(e);
            }
        };
        let session = self.clone();
        let publisher = publisher.clone();
        runtime().spawn(async move {
            let outcome = Stream::open(&session, &publisher).await;
            let stream = match outcome {
                Ok(stream) => {
                    let attached = {
                        let mut lifecycle = session.lifecycle();
                        let ok = lifecycle.state == SessionState::Connected
                            && publisher.attach_stream(&stream);
                        if ok {
                            lifecycle.streams.insert(publisher.id(), stream.clone());
                        }
                        ok
                    };
                    if attached {
                        Ok(stream)
                    } else {
                        stream.teardown().await;
                        publisher.end_publish(None);
                        Err(stream::cut_short())
                    }
                }
                Err(e) => {
                    publisher.end_publish(None);
                    Err(e)
                }
            };
            match stream {
                Ok(stream) => {
                    // The contract's order: the completion, then the publisher's
                    // streamCreated, posted by the same job so that nothing the host does
                    // after the completion can come between them.
                    let announced = stream.mark_announced();
                    session.complete_then(call, Ok(()), move || {
                        if announced {
                            stream.announce();
                        }
                    });
                }
                Err(e) => {
                    tracing::info!(
                        session = session.inner.id,
                        code = e.code(),
                        "publish failed: {}",
                        e.message
                    );
                    session.complete(call, Err(e));
                }
            }
        });
        Ok(())
    }

    /// Stops publishing `publisher`: it emits `streamDestroyed` (`clientDisconnected`), then
    /// `done` runs. 1010 when the session is not connected, 1015 when the publisher is not
    /// published on this session.
    pub fn unpublish(&self, publisher: &Publisher, done: SessionDone) -> Result<()> {
        let stream = {
            let mut lifecycle = self.lifecycle();
            if lifecycle.state != SessionState::Connected {
                return Err(Error::new(
                    ErrorCode::NotConnected,
                    format!(
                        "unpublish: the session is {}, not connected",
                        lifecycle.state.as_str()
                    ),
                ));
            }
            if !lifecycle.streams.contains_key(&publisher.id()) {
                return Err(Error::illegal_state(
                    "unpublish: the publisher is not published on this session",
                ));
            }
            let call = self.inner.calls.start("unpublish", done)?;
            let stream = lifecycle.streams.remove(&publisher.id());
            (call, stream.expect("checked above"))
        };
        let (call, stream) = stream;
        let session = self.clone();
        runtime().spawn(async move {
            // A streamCreated still being posted by a completion goes out first.
            session.flush_events().await;
            let was_reconnecting = stream.teardown().await;
            stream
                .publisher()
                .end_publish(Some(Reason::ClientDisconnected));
            // The publisher's streamDestroyed goes out before the completion.
            stream.publisher().flush_events().await;
            if was_reconnecting {
                // After streamDestroyed, so that the reconnection ends with the stream.
                session.leave_recovery(stream.publisher());
            }
            session.complete(call, Ok(()));
        });
        Ok(())
    }

    /// Disconnects: every stream ends (`streamDestroyed`, `clientDisconnected`), then
    /// `sessionDisconnected` (`clientDisconnected`), then `done`. Disconnecting a session
    /// that is not connected completes at once.
    pub fn disconnect(&self, done: SessionDone) -> Result<()> {
        let (call, streams) = {
            let mut lifecycle = self.lifecycle();
            if lifecycle.state == SessionState::Closed {
                return Err(Error::illegal_state("disconnect: the session is closed"));
            }
            let call = self.inner.calls.start("disconnect", done)?;
            match lifecycle.state {
                SessionState::Connected | SessionState::Connecting => {}
                _ => {
                    drop(lifecycle);
                    self.complete(call, Ok(()));
                    return Ok(());
                }
            }
            lifecycle.state = SessionState::Disconnecting;
            lifecycle.recovering.clear();
            (call, std::mem::take(&mut lifecycle.streams))
        };
        self.inner.ended.send_modify(|n| *n += 1);
        let session = self.clone();
        runtime().spawn(async move {
            session.flush_events().await;
            for stream in streams.into_values() {
                stream.teardown().await;
                stream
                    .publisher()
                    .end_publish(Some(Reason::ClientDisconnected));
                // OpenTok's order: the streams' streamDestroyed before sessionDisconnected.
                stream.publisher().flush_events().await;
            }
            session.inner.backend.disconnect().await;
            session.disconnected(Reason::ClientDisconnected);
            session.complete(call, Ok(()));
        });
        Ok(())
    }

    /// What the embedded receiver got from `publisher`, on a `loopback://` session.
    pub fn receiver_stats(&self, publisher: &Publisher) -> Option<ReceiverStats> {
        let stream = self.lifecycle().streams.get(&publisher.id()).cloned()?;
        match &self.inner.backend {
            Backend::Loopback(l) => l.stats(stream.id()),
            Backend::Whip(_) | Backend::Janus(_) => None,
        }
    }

    /// Stops everything at once: streams end (their publishers emit `streamDestroyed`). Calls
    /// still pending complete with 1015 ILLEGAL_STATE on this thread before it returns; no
    /// session callback runs after that. Closing twice is harmless.
    pub fn close(&self) {
        let streams = {
            let mut lifecycle = self.lifecycle();
            lifecycle.state = SessionState::Closed;
            std::mem::take(&mut lifecycle.streams)
        };
        // The pending calls complete as closed before a publish in flight learns of the end
        // (and would complete itself as cut short).
        self.inner.dispatcher.close();
        self.inner.calls.close(self);
        self.inner.ended.send_modify(|n| *n += 1);
        for stream in streams.into_values() {
            stream.stop_encoders();
            stream
                .publisher()
                .end_publish(Some(Reason::ClientDisconnected));
            runtime().spawn(async move { stream.teardown().await });
        }
        let session = self.clone();
        runtime().spawn(async move { session.inner.backend.disconnect().await });
        tracing::debug!(session = self.inner.id, "closed");
    }

    /// A stream lost its connection and tries to recover: the session is reconnecting (the
    /// first such stream emits `sessionReconnecting`).
    pub(crate) fn stream_reconnecting(&self, publisher: &Publisher) {
        let first = {
            let mut lifecycle = self.lifecycle();
            lifecycle.state == SessionState::Connected
                && lifecycle.recovering.insert(publisher.id())
                && lifecycle.recovering.len() == 1
        };
        if first {
            tracing::warn!(session = self.inner.id, "connection lost; reconnecting");
            self.emit(SessionEvent::SessionReconnecting);
        }
    }

    /// The server is gone too (a stream gave up and the server does not answer): every
    /// other stream ends the same way (`streamDestroyed`, `networkDisconnected`), then the
    /// session as `disconnect` would, with `networkDisconnected`.
    pub(crate) async fn connection_lost(&self) {
        let streams = {
            let mut lifecycle = self.lifecycle();
            if lifecycle.state != SessionState::Connected {
                return; // disconnected, closed, or already lost by another stream
            }
            lifecycle.state = SessionState::Disconnecting;
            lifecycle.recovering.clear();
            std::mem::take(&mut lifecycle.streams)
        };
        tracing::warn!(
            session = self.inner.id,
            "the media server is unreachable; disconnected"
        );
        self.flush_events().await;
        for stream in streams.into_values() {
            stream
                .end_forgotten(self, Reason::NetworkDisconnected)
                .await;
            stream.publisher().flush_events().await;
        }
        self.inner.backend.disconnect().await;
        self.disconnected(Reason::NetworkDisconnected);
    }

    /// The streams of a disconnecting session are over: it is disconnected (unless closed
    /// meanwhile) and says so with `reason`.
    fn disconnected(&self, reason: Reason) {
        {
            let mut lifecycle = self.lifecycle();
            if lifecycle.state == SessionState::Disconnecting {
                lifecycle.state = SessionState::Disconnected;
            }
        }
        self.emit(SessionEvent::SessionDisconnected { reason });
    }

    /// Forgets the stream of `publisher`, which closed: a stream that was recovering no
    /// longer keeps the session reconnecting (the publisher emits nothing any more).
    pub(crate) fn stream_lost(&self, publisher: &Publisher) -> Option<Arc<Stream>> {
        let stream = self.take_stream(publisher);
        self.leave_recovery(publisher);
        stream
    }

    /// Forgets the stream of `publisher`, the recovery aside.
    pub(crate) fn take_stream(&self, publisher: &Publisher) -> Option<Arc<Stream>> {
        self.lifecycle().streams.remove(&publisher.id())
    }

    /// `publisher`'s stream is no longer recovering: it is back, it ended, or it gave up
    /// while the server still answers. When it was the last one to recover, the session is
    /// no longer reconnecting (`sessionReconnected`), so that every `sessionReconnecting` is
    /// followed by a `sessionReconnected` or a `sessionDisconnected`.
    pub(crate) fn leave_recovery(&self, publisher: &Publisher) {
        let last = {
            let mut lifecycle = self.lifecycle();
            lifecycle.state == SessionState::Connected
                && lifecycle.recovering.remove(&publisher.id())
                && lifecycle.recovering.is_empty()
        };
        if last {
            tracing::info!(session = self.inner.id, "reconnected");
            self.emit(SessionEvent::SessionReconnected);
        }
    }

    /// Hands an ICE restart offer of `stream_id` to the server.
    pub(crate) async fn restart_ice(&self, stream_id: &str, fragment: String) -> PatchReply {
        self.inner.backend.restart_ice(stream_id, fragment).await
    }

    /// Changes when the session is disconnected or closed (from now on).
    pub(crate) fn ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.ended.subscribe()
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    pub(crate) fn settings(&self) -> &SessionSettings {
        &self.inner.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_docs_tell_the_defaults_and_limits_the_core_applies() {
        crate::settings::check_option_docs(
            SESSION_OPTION_DOCS,
            SESSION_OPTION_KEYS,
            SessionSettings::set,
        );
    }

    #[test]
    fn the_name_list_is_the_names_events_carry() {
        let events = [
            SessionEvent::SessionConnected,
            SessionEvent::SessionDisconnected {
                reason: Reason::ClientDisconnected,
            },
            SessionEvent::SessionReconnecting,
            SessionEvent::SessionReconnected,
        ];
        let carried: Vec<&str> = events.iter().map(SessionEvent::name).collect();
        assert_eq!(SESSION_EVENT_NAMES, carried.as_slice());
    }
}
