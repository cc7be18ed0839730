//! The Janus VideoRoom backend for `janus+ws://host:port/path?room=N[&pin=P]` (and
//! `janus+wss://` for TLS), over the Janus WebSocket API (subprotocol `janus-protocol`).
//!
//! - `connect` opens the socket, creates a Janus session (with the token from `connect`, as
//!   Janus's `token`, when one is given) and asks the plugin whether the room exists.
//! - `publish` attaches a VideoRoom handle, joins the room as a publisher (display name: the
//!   publisher's `name`; the room's pin from the URL's `pin`), then publishes the offer. The
//!   offer is sent whole, with every candidate gathered: no trickle. The stream id is the
//!   publisher id Janus gave.
//! - `unpublish` leaves the room and detaches the handle; disconnecting destroys the session.
//! - A keepalive every 25 s keeps the session (Janus drops it after 60 s of silence).
//!
//! Janus's refusals map to the contract: no such room → 1005, a wrong pin or token → 1004, a
//! full room → 1027, an offer the room refuses (a codec it does not take) → 1610. The token
//! and the pin never appear in logs or messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use super::ice::IceTransportPolicy;
use super::peer::PeerConfig;
use super::recovery::PatchReply;
use crate::error::{Error, ErrorCode, Result};

/// How long one request may wait for its answer (the session's own timeouts bound the
/// calls as a whole).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Janus drops a session after 60 s without a request.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(25);
/// How long leaving and detaching may take before a stream ends regardless.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);
const PLUGIN: &str = "janus.plugin.videoroom";

/// Where a Janus session goes, from its URL.
#[derive(Clone, PartialEq, Debug)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// The WebSocket URL (`ws://` or `wss://`), without the query.
    ws_url: String,
    room: u64,
    pin: Option<String>,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let invalid = |why: &str| {
            Error::new(
                ErrorCode::InvalidSessionId,
                format!("session URL {}: {why}", redacted(url)),
            )
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        let tls = match parsed.scheme() {
            "janus+ws" => false,
            "janus+wss" => true,
            _ => return Err(invalid("expected janus+ws:// or janus+wss://")),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?
            .to_owned();
        let port = parsed.port().unwrap_or(if tls { 443 } else { 80 });
        let (mut room, mut pin) = (None, None);
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "room" => {
                    room = Some(
                        value
                            .parse::<u64>()
                            .map_err(|_| invalid(&format!("room {value:?} is not a number")))?,
                    )
                }
                "pin" => pin = Some(value.into_owned()),
                _ => {}
            }
        }
        let room = room.ok_or_else(|| invalid("no room (add ?room=N)"))?;
        let ws_url = format!(
            "{}://{}:{port}{}",
            if tls { "wss" } else { "ws" },
            if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            },
            parsed.path()
        );
        Ok(Target {
            tls,
            host,
            port,
            ws_url,
            room,
            pin,
        })
    }
}

/// The URL as it may be shown: the pin's value left out, however its key is spelt (the URL
/// parser reads `pi%6E` and `pi<tab>n` as `pin` too).
pub(super) fn redacted(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if query_key(key) == b"pin" => "pin=…".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// A query key as the URL parser reads it: tabs and newlines dropped, then `+` as a space
/// and `%XX` decoded (`application/x-www-form-urlencoded`).
fn query_key(raw: &str) -> Vec<u8> {
    let bytes: Vec<u8> = raw
        .bytes()
        .filter(|b| !matches!(b, b'\t' | b'\n' | b'\r'))
        .collect();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut key = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'+', _, _) => key.push(b' '),
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                key.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 2;
            }
            (b, _, _) => key.push(b),
        }
        i += 1;
    }
    key
}

/// Requests waiting for their answer, by transaction; `true` when an `ack` answers it.
type Pending = Mutex<HashMap<String, (bool, oneshot::Sender<Value>)>>;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One open WebSocket to Janus, with its session.
struct Connection {
    outgoing: mpsc::UnboundedSender<String>,
    pending: Arc<Pending>,
    alive: Arc<AtomicBool>,
    next: AtomicU64,
    session_id: AtomicU64,
    token: Option<String>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a Janus request can end in, before the contract's codes are chosen.
enum Failure {
    /// The socket closed or the answer did not come in time.
    Gone(String),
    /// Janus (`error`) or the plugin (`error_code`) refused: its code and reason.
    Refused(i64, String),
    /// An answer that is not what the API says.
    Malformed(String),
}

impl Failure {
    /// What went wrong, in words.
    fn why(&self) -> &str {
        match self {
            Failure::Gone(why) | Failure::Refused(_, why) | Failure::Malformed(why) => why,
        }
    }
}

impl Connection {
    async fn open(target: &Target, token: Option<String>) -> Result<Arc<Connection>> {
        let unreachable = |what: String| {
            Error::new(
                ErrorCode::ConnectFailed,
                format!("{}: {what}", target.ws_url),
            )
        };
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| unreachable(format!("cannot connect ({e})")))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if target.tls {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| unreachable(format!("not a TLS server name ({e})")))?;
            let tls = tokio_rustls::TlsConnector::from(super::turn_bridge::tls_config())
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(format!("TLS failed ({e})")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let mut request = target
            .ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| unreachable(format!("not a WebSocket URL ({e})")))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-protocol"),
        );
        let (ws, _) = tokio_tungstenite::client_async(request, io)
            .await
            .map_err(|e| unreachable(format!("WebSocket handshake failed ({e})")))?;
        let (mut sink, mut stream) = ws.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<String>();
        let pending: Arc<Pending> = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        let writer = tokio::spawn(async move {
            while let Some(text) = to_send.recv().await {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader = {
            let pending = pending.clone();
            let alive = alive.clone();
            let url = target.ws_url.clone();
            tokio::spawn(async move {
                while let Some(message) = stream.next().await {
                    let text = match message {
                        Ok(Message::Text(text)) => text,
                        Ok(Message::Close(_)) | Err(_) => break,
                        Ok(_) => continue,
                    };
                    let Ok(value) = serde_json::from_str::<Value>(&text) else {
                        tracing::warn!(%url, "Janus sent something that is not JSON");
                        continue;
                    };
                    route(&pending, value);
                }
                alive.store(false, Ordering::Release);
                // Whoever waits learns that no answer will come.
                lock(&pending).clear();
                tracing::info!(%url, "the Janus WebSocket closed");
            })
        };
        let connection = Arc::new(Connection {
            outgoing,
            pending,
            alive,
            next: AtomicU64::new(1),
            session_id: AtomicU64::new(0),
            token,
            tasks: Mutex::new(vec![writer, reader]),
        });
        Ok(connection)
    }

    fn alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Sends `body` (with a transaction, the session and the token added) and waits for its
    /// answer: the first that is not an `ack`, or the `ack` itself when `ack_answers`.
    async fn request(
        &self,
        mut body: Value,
        ack_answers: bool,
    ) -> std::result::Result<Value, Failure> {
        let transaction = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        let session = self.session_id.load(Ordering::Acquire);
        if let Some(fields) = body.as_object_mut() {
            fields.insert("transaction".into(), json!(transaction));
            if session != 0 && !fields.contains_key("session_id") {
                fields.insert("session_id".into(), json!(session));
            }
            if let Some(token) = &self.token {
                fields.insert("token".into(), json!(token));
            }
        }
        let what = body["janus"].as_str().unwrap_or("request").to_owned();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(transaction.clone(), (ack_answers, tx));
        if !self.alive() || self.outgoing.send(body.to_string()).is_err() {
            lock(&self.pending).remove(&transaction);
            return Err(Failure::Gone("the WebSocket is closed".into()));
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer_outcome(answer),
            Ok(Err(_)) => Err(Failure::Gone("the WebSocket closed".into())),
            Err(_) => {
                lock(&self.pending).remove(&transaction);
                Err(Failure::Gone(format!(
                    "no answer to {what} within {} ms",
                    REQUEST_TIMEOUT.as_millis()
                )))
            }
        }
    }

    fn keep_alive(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEEPALIVE_EVERY).await;
                let Some(connection) = weak.upgrade() else {
                    return;
                };
                if let Err(failure) = connection
                    .request(json!({"janus": "keepalive"}), true)
                    .await
                {
                    tracing::warn!("Janus keepalive failed: {}", failure.why());
                }
            }
        });
        lock(&self.tasks).push(task);
    }

    /// Attaches a VideoRoom handle.
    async fn attach(&self) -> std::result::Result<u64, Failure> {
        let answer = self
            .request(json!({"janus": "attach", "plugin": PLUGIN}), false)
            .await?;
        answer["data"]["id"]
            .as_u64()
            .ok_or_else(|| Failure::Malformed("attach answered without a handle id".into()))
    }

    async fn detach(&self, handle: u64) {
        if let Err(failure) = self
            .request(json!({"janus": "detach", "handle_id": handle}), false)
            .await
        {
            tracing::debug!("Janus detach: {}", failure.why());
        }
    }

    /// A message to the plugin on `handle`, with a JSEP when given.
    async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> std::result::Result<Value, Failure> {
        let mut request = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        self.request(request, false).await
    }
}

/// What an answer to a request means: Janus (`error`) or the plugin (`error_code`) refused,
/// or the answer itself.
fn answer_outcome(answer: Value) -> std::result::Result<Value, Failure> {
    match answer["janus"].as_str() {
        Some("error") => Err(Failure::Refused(
            answer["error"]["code"].as_i64().unwrap_or(0),
            answer["error"]["reason"].as_str().unwrap_or("").to_owned(),
        )),
        _ => {
            let data = &answer["plugindata"]["data"];
            if let Some(code) = data["error_code"].as_i64() {
                return Err(Failure::Refused(
                    code,
                    data["error"].as_str().unwrap_or("").to_owned(),
                ));
            }
            Ok(answer)
        }
    }
}

/// The publisher id of a `joined` answer (a number, or a string with string ids).
fn publisher_id(joined: &Value) -> Option<String> {
    let data = &joined["plugindata"]["data"];
    match (data["videoroom"].as_str(), &data["id"]) {
        (Some("joined"), Value::Number(n)) => Some(n.to_string()),
        (Some("joined"), Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The SDP answer of a `publish` answer's JSEP.
fn sdp_answer(published: &Value) -> Option<String> {
    published["jsep"]["sdp"]
        .as_str()
        .filter(|sdp| sdp.trim_start().starts_with("v="))
        .map(str::to_owned)
}

/// Hands an incoming message to the request waiting for it. Events without a transaction
/// (`webrtcup`, `media`, `hangup`, `slowlink`) are only logged.
fn route(pending: &Pending, value: Value) {
    let kind = value["janus"].as_str().unwrap_or("");
    let Some(transaction) = value["transaction"].as_str() else {
        tracing::debug!("Janus: {kind}");
        return;
    };
    let mut pending = lock(pending);
    let ends = match pending.get(transaction) {
        Some((ack_answers, _)) => kind != "ack" || *ack_answers,
        None => false,
    };
    if ends {
        if let Some((_, tx)) = pending.remove(transaction) {
            let _ = tx.send(value);
        }
    }
}

pub(crate) struct Janus {
    target: Target,
    /// The URL as it may be shown (no pin).
    shown: String,
    connection: Mutex<Option<Arc<Connection>>>,
    /// The VideoRoom handle of each published stream, by stream id (the publisher id).
    handles: Mutex<HashMap<String, u64>>,
}

impl Janus {
    /// Checks the URL (1005 when malformed or without a room); nothing is sent yet.
    pub(crate) fn new(url: &str) -> Result<Janus> {
        Ok(Janus {
            target: Target::parse(url)?,
            shown: redacted(url),
            connection: Mutex::new(None),
            handles: Mutex::new(HashMap::new()),
        })
    }

    fn connection(&self) -> Option<Arc<Connection>> {
        lock(&self.connection).clone()
    }

    /// The contract's error for a failed request at `stage`.
    fn error(&self, stage: Stage, failure: Failure) -> Error {
        let room = self.target.room;
        let (code, message) = match failure {
            Failure::Gone(why) => (ErrorCode::ConnectFailed, format!("Janus is gone: {why}")),
            Failure::Malformed(why) => (
                ErrorCode::UnexpectedServerResponse,
                format!("unexpected answer from Janus: {why}"),
            ),
            Failure::Refused(code, reason) => {
                let code_for = match (code, stage) {
                    // Janus core: unauthorized (token or API secret), plugin not allowed.
                    (403 | 405, _) => ErrorCode::AuthenticationError,
                    // VideoRoom: no such room; unauthorized (the pin); the room is full.
                    (426, _) => ErrorCode::InvalidSessionId,
                    (433, _) => ErrorCode::AuthenticationError,
                    // A room with a pin joined without one: "Missing mandatory element (pin)".
                    (429, _) if reason.contains("(pin)") => ErrorCode::AuthenticationError,
                    (432, _) => ErrorCode::ConnectionLimitExceeded,
                    // Anything else about the offer: the room refuses it.
                    (_, Stage::Publish) => ErrorCode::SetRemoteDescriptionFailed,
                    (_, Stage::Join) => ErrorCode::StreamCreateFailed,
                    (_, Stage::Connect) => ErrorCode::UnexpectedServerResponse,
                };
                (
                    code_for,
                    format!("Janus refused ({code}: {reason}) in room {room}"),
                )
            }
        };
        Error::new(code, format!("{}: {message}", self.shown))
    }

    /// Opens the socket, creates the Janus session and checks the room exists.
    pub(crate) async fn connect(&self, token: Option<&str>) -> Result<()> {
        // A session connected again starts on a new socket.
        drop(lock(&self.connection).take());
        let token = token.filter(|t| !t.is_empty()).map(str::to_owned);
        let connection = Connection::open(&self.target, token).await?;
        let created = connection
            .request(json!({"janus": "create"}), false)
            .await
            .map_err(|f| self.error(Stage::Connect, f))?;
        let session = created["data"]["id"].as_u64().ok_or_else(|| {
            self.error(
                Stage::Connect,
                Failure::Malformed("create answered without a session id".into()),
            )
        })?;
        connection.session_id.store(session, Ordering::Release);
        connection.keep_alive();
        let handle = connection
            .attach()
            .await
            .map_err(|f| self.error(Stage::Connect, f))?;
        let exists = connection
            .message(
                handle,
                json!({"request": "exists", "room": self.target.room}),
                None,
            )
            .await;
        connection.detach(handle).await;
        let exists = exists.map_err(|f| self.error(Stage::Connect, f))?;
        if exists["plugindata"]["data"]["exists"].as_bool() != Some(true) {
            return Err(self.error(Stage::Connect, Failure::Refused(426, "No such room".into())));
        }
        tracing::debug!(url = %self.shown, "Janus session created; the room exists");
        *lock(&self.connection) = Some(connection);
        Ok(())
    }

    /// Every interface, also for a Janus on this machine: Janus never offers a loopback
    /// candidate (it skips loopback interfaces), and answers no check from one.
    pub(crate) fn peer_config(&self) -> PeerConfig {
        PeerConfig {
            bind: "0.0.0.0:0".into(),
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            gather_timeout: Duration::from_secs(3),
            ice_failed_timeout: Duration::from_secs(25),
        }
    }

    /// Joins the room as a publisher named `display` and publishes the offer: the answer
    /// and the publisher id.
    pub(crate) async fn publish(&self, offer: String, display: &str) -> Result<(String, String)> {
        let connection = self
            .connection()
            .ok_or_else(|| Error::new(ErrorCode::NotConnected, "the Janus session is not open"))?;
        let handle = connection
            .attach()
            .await
            .map_err(|f| self.error(Stage::Join, f))?;
        let outcome = self
            .join_and_publish(&connection, handle, offer, display)
            .await;
        match outcome {
            Ok((answer, id)) => {
                lock(&self.handles).insert(id.clone(), handle);
                Ok((answer, id))
            }
            Err(e) => {
                connection.detach(handle).await;
                Err(e)
            }
        }
    }

    async fn join_and_publish(
        &self,
        connection: &Connection,
        handle: u64,
        offer: String,
        display: &str,
    ) -> Result<(String, String)> {
        let mut join = json!({"request": "join", "ptype": "publisher", "room": self.target.room});
        if !display.is_empty() {
            join["display"] = json!(display);
        }
        if let Some(pin) = &self.target.pin {
            join["pin"] = json!(pin);
        }
        let joined = connection
            .message(handle, join, None)
            .await
            .map_err(|f| self.error(Stage::Join, f))?;
        let id = publisher_id(&joined).ok_or_else(|| {
            self.error(
                Stage::Join,
                Failure::Malformed("join answered without a publisher id".into()),
            )
        })?;
        let published = connection
            .message(
                handle,
                json!({"request": "publish"}),
                Some(json!({"type": "offer", "sdp": offer})),
            )
            .await
            .map_err(|f| self.error(Stage::Publish, f))?;
        let answer = sdp_answer(&published).ok_or_else(|| {
            self.error(
                Stage::Publish,
                Failure::Malformed("publish answered without an SDP answer".into()),
            )
        })?;
        tracing::debug!(url = %self.shown, publisher = %id, "published into the Janus room");
        Ok((answer, id))
    }

    /// Leaves the room and detaches the stream's handle; failures are logged, the stream
    /// ends regardless.
    pub(crate) async fn unpublish(&self, stream_id: &str) {
        let handle = lock(&self.handles).remove(stream_id);
        let (Some(handle), Some(connection)) = (handle, self.connection()) else {
            return;
        };
        let leave = async {
            if let Err(failure) = connection
                .message(handle, json!({"request": "leave"}), None)
                .await
            {
                tracing::debug!("Janus leave: {}", failure.why());
            }
            connection.detach(handle).await;
        };
        if tokio::time::timeout(LEAVE_TIMEOUT, leave).await.is_err() {
            tracing::warn!(url = %self.shown, "leaving the Janus room timed out");
        }
    }

    /// Destroys the Janus session and closes the socket.
    pub(crate) async fn disconnect(&self) {
        let Some(connection) = lock(&self.connection).take() else {
            return;
        };
        let destroy = connection.request(json!({"janus": "destroy"}), false);
        let _ = tokio::time::timeout(LEAVE_TIMEOUT, destroy).await;
    }

    /// Janus does not take an ICE restart through this backend: while the socket is open,
    /// the path may still come back by itself; once it closed, the server is gone.
    pub(crate) async fn restart_ice(&self) -> PatchReply {
        match self.connection() {
            Some(c) if c.alive() => PatchReply::Unsupported,
            _ => PatchReply::Failed(Error::new(
                ErrorCode::ConnectFailed,
                format!("{}: the Janus WebSocket is closed", self.shown),
            )),
        }
    }

    /// Whether Janus still answers a keepalive within `timeout`.
    pub(crate) async fn reachable(&self, timeout: Duration) -> bool {
        let Some(connection) = self.connection() else {
            return false;
        };
        matches!(
            tokio::time::timeout(
                timeout,
                connection.request(json!({"janus": "keepalive"}), true)
            )
            .await,
            Ok(Ok(_))
        )
    }
}

#[derive(Clone, Copy)]
enum Stage {
    Connect,
    Join,
    Publish,
}

/// What the fuzz targets reach of this backend (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::*;

    /// Where a `janus+ws(s)://` URL goes, as [`Janus::new`] reads it.
    #[derive(Debug, Clone, PartialEq)]
    pub struct JanusTarget {
        /// `janus+wss`.
        pub tls: bool,
        /// The host, without brackets.
        pub host: String,
        /// The port.
        pub port: u16,
        /// The WebSocket URL.
        pub ws_url: String,
        /// The room.
        pub room: u64,
        /// The room's pin.
        pub pin: Option<String>,
    }

    /// The URL's target, or the error (1005) a session gets.
    pub fn janus_target(url: &str) -> Result<JanusTarget> {
        let t = Target::parse(url)?;
        Ok(JanusTarget {
            tls: t.tls,
            host: t.host,
            port: t.port,
            ws_url: t.ws_url,
            room: t.room,
            pin: t.pin,
        })
    }

    /// The URL as logs and messages show it.
    pub fn janus_redacted(url: &str) -> String {
        redacted(url)
    }

    /// What the backend makes of one message from Janus.
    #[derive(Debug)]
    pub struct JanusReading {
        /// Which of the waiting requests the message answered: `t1` (waits past an `ack`)
        /// and `t2` (takes an `ack`).
        pub answered: [bool; 2],
        /// As an answer: `Err((code, reason))` for a refusal.
        pub outcome: std::result::Result<(), (i64, String)>,
        /// As a `joined` answer: the publisher id.
        pub publisher_id: Option<String>,
        /// As a `publish` answer: the SDP answer.
        pub sdp_answer: Option<String>,
    }

    /// Reads one text message as the socket reader and the requests do; `None` when it is
    /// not JSON (the reader skips it).
    pub fn janus_message(text: &str) -> Option<JanusReading> {
        let value = serde_json::from_str::<Value>(text).ok()?;
        let pending: Pending = Mutex::default();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        lock(&pending).insert("t1".into(), (false, tx1));
        lock(&pending).insert("t2".into(), (true, tx2));
        route(&pending, value.clone());
        let answered = [rx1.try_recv().is_ok(), rx2.try_recv().is_ok()];
        let outcome = match answer_outcome(value.clone()) {
            Ok(_) => Ok(()),
            Err(Failure::Refused(code, reason)) => Err((code, reason)),
            Err(Failure::Gone(why) | Failure::Malformed(why)) => Err((0, why)),
        };
        Some(JanusReading {
            answered,
            outcome,
            publisher_id: publisher_id(&value),
            sdp_answer: sdp_answer(&value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_room_and_may_carry_a_pin() {
        let t = Target::parse("janus+ws://127.0.0.1:8188/?room=1234").unwrap();
        assert_eq!(
            (t.tls, t.ws_url.as_str(), t.room, t.pin),
            (false, "ws://127.0.0.1:8188/", 1234, None)
        );
        let t = Target::parse("janus+wss://janus.example.net/janus?room=7&pin=s3cret").unwrap();
        assert_eq!(
            (t.tls, t.port, t.ws_url.as_str(), t.pin.as_deref()),
            (
                true,
                443,
                "wss://janus.example.net:443/janus",
                Some("s3cret")
            )
        );
        for url in [
            "janus+ws://127.0.0.1:8188/",
            "janus+ws://127.0.0.1:8188/?room=lobby&pin=s3cret",
            "janus+ws:///?room=1",
        ] {
            let e = Target::parse(url).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidSessionId, "{url}");
            assert!(!e.message.contains("s3cret"), "{}", e.message);
        }
    }

    #[test]
    fn the_pin_is_left_out_of_what_is_shown() {
        assert_eq!(
            redacted("janus+ws://h:1/?room=1&pin=s3cret&x=y"),
            "janus+ws://h:1/?room=1&pin=…&x=y"
        );
        assert_eq!(redacted("janus+ws://h:1/"), "janus+ws://h:1/");
    }

    #[test]
    fn the_pin_is_left_out_however_its_key_is_spelt() {
        // The URL parser drops tabs and newlines and decodes %XX: each of these is the pin
        // (found by the janus fuzz target, which showed `pi<tab>n=…` in full).
        for key in ["pi\tn", "p\nin", "pin\r", "%70in", "pi%6E", "%70%69%6e"] {
            let url = format!("janus+ws://h:1/?room=1&{key}=s3cret&x=y");
            assert_eq!(
                Target::parse(&url).unwrap().pin.as_deref(),
                Some("s3cret"),
                "{url:?}"
            );
            assert_eq!(
                redacted(&url),
                "janus+ws://h:1/?room=1&pin=…&x=y",
                "{url:?}"
            );
        }
        // Not the pin: shown as it is.
        assert_eq!(
            redacted("janus+ws://h:1/?room=1&pins=2&%70=3&pi%6=4"),
            "janus+ws://h:1/?room=1&pins=2&%70=3&pi%6=4"
        );
    }
}
