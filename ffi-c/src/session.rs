//! Sessions in C: connect, publish, unpublish, disconnect.

use std::ffi::{c_char, c_void};

use libpublisher::{Error, OptionValue, Session, SessionEvent, SessionSettings};

use crate::publisher::{lookup as lookup_publisher, lp_publisher};
use crate::registry::Registry;
use crate::util::{
    arg_mut, free_boxed, guard, optional_str, set_option, set_str_option, with_error, Options,
    UserData,
};
use crate::{arg_str, lp_error};

/// A session handle: an id looked up in the library's registry, passed by value, like
/// `lp_publisher`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct lp_session {
    /// Unique in the process, never reused; 0 is never a valid session.
    pub id: u64,
}

/// Session events. Any member may be NULL. All run on the session's callback thread, one at
/// a time, with `user_data` from this struct; the library may be called from inside them.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lp_session_callbacks {
    /// `lp_session_connect` succeeded (its completion follows).
    pub on_session_connected:
        Option<unsafe extern "C" fn(session: lp_session, user_data: *mut c_void)>,
    /// The session ended; `reason` is an `LP_REASON_*` value, `reason_name` its name.
    pub on_session_disconnected: Option<
        unsafe extern "C" fn(
            session: lp_session,
            reason: i32,
            reason_name: *const c_char,
            user_data: *mut c_void,
        ),
    >,
    /// Connectivity was lost and the session is trying to recover.
    pub on_session_reconnecting:
        Option<unsafe extern "C" fn(session: lp_session, user_data: *mut c_void)>,
    /// Connectivity was recovered.
    pub on_session_reconnected:
        Option<unsafe extern "C" fn(session: lp_session, user_data: *mut c_void)>,
    /// Handed back to every member above.
    pub user_data: *mut c_void,
}

/// Completion of a session call: `error` is NULL on success.
pub type lp_session_done_cb = Option<
    unsafe extern "C" fn(session: lp_session, error: *const lp_error, user_data: *mut c_void),
>;

/// What the embedded `loopback://` receiver got from one publisher: the core's `ReceiverStats`
/// for C.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct lp_receiver_stats {
    /// Complete video frames received.
    pub video_frames: u64,
    /// Video frames that were keyframes.
    pub video_keyframes: u64,
    /// Whether the first video frame received was a keyframe.
    pub first_frame_was_keyframe: bool,
    /// Video payload bytes.
    pub video_bytes: u64,
    /// Audio packets received.
    pub audio_packets: u64,
    /// Audio payload bytes.
    pub audio_bytes: u64,
}

/// Receives receiver stats; `stats` lives until it returns.
pub type lp_receiver_stats_cb =
    Option<unsafe extern "C" fn(stats: *const lp_receiver_stats, user_data: *mut c_void)>;

/// Session states (`lp_session_get_state`); the numbers are the core's `SessionState::code`.
pub const LP_SESSION_DISCONNECTED: i32 = 0;
/// `lp_session_connect` is under way.
pub const LP_SESSION_CONNECTING: i32 = 1;
/// Connected: `lp_session_publish` works.
pub const LP_SESSION_CONNECTED: i32 = 2;
/// `lp_session_disconnect` is under way.
pub const LP_SESSION_DISCONNECTING: i32 = 3;
/// Closed by `lp_session_close`; only `lp_session_free` remains to do.
pub const LP_SESSION_CLOSED: i32 = 4;

static SESSIONS: Registry<Session> = Registry::new("session");

/// Opaque session settings: `lp_session_settings_new`, `lp_session_settings_set_*`,
/// `lp_session_settings_free`.
pub struct lp_session_settings {
    inner: SessionSettings,
}

/// New session settings with the defaults (connect 10 s, publish 15 s, ICE 10 s).
#[no_mangle]
pub extern "C" fn lp_session_settings_new() -> *mut lp_session_settings {
    Box::into_raw(Box::new(lp_session_settings {
        inner: SessionSettings::default(),
    }))
}

/// Frees session settings; NULL is ignored.
#[no_mangle]
pub extern "C" fn lp_session_settings_free(settings: *mut lp_session_settings) {
    free_boxed(settings)
}

impl Options for lp_session_settings {
    fn set(&mut self, key: &str, value: OptionValue) -> libpublisher::Result<()> {
        self.inner.set(key, value)
    }
}

fn set_timeout(settings: *mut lp_session_settings, key: &str, ms: i32) -> i32 {
    set_option(settings, key, OptionValue::Int(ms.into()))
}

/// How long `lp_session_connect` may take, 1..600000 ms (→ `LP_CONNECT_TIMEOUT`). Default
/// 10000.
#[no_mangle]
pub extern "C" fn lp_session_settings_set_connect_timeout_ms(
    settings: *mut lp_session_settings,
    timeout_ms: i32,
) -> i32 {
    set_timeout(settings, "connect_timeout_ms", timeout_ms)
}

/// How long the server may take to accept a stream, 1..600000 ms (→ `LP_PUBLISH_TIMEOUT`).
/// Default 15000.
#[no_mangle]
pub extern "C" fn lp_session_settings_set_publish_timeout_ms(
    settings: *mut lp_session_settings,
    timeout_ms: i32,
) -> i32 {
    set_timeout(settings, "publish_timeout_ms", timeout_ms)
}

/// How long ICE and DTLS may take to find a path: gathering candidates, then the checks once
/// the server answered, 1..600000 ms (→ `LP_CREATE_PEER_CONNECTION_FAILED`). Default 10000.
#[no_mangle]
pub extern "C" fn lp_session_settings_set_ice_timeout_ms(
    settings: *mut lp_session_settings,
    timeout_ms: i32,
) -> i32 {
    set_timeout(settings, "ice_timeout_ms", timeout_ms)
}

/// How long a published stream whose connection was lost keeps trying to recover (ICE
/// going on, ICE restarts) before it ends with `LP_REASON_NETWORK_DISCONNECTED`; the session
/// reports `on_session_reconnecting` meanwhile. 1..600000 ms; default 15000.
#[no_mangle]
pub extern "C" fn lp_session_settings_set_reconnect_timeout_ms(
    settings: *mut lp_session_settings,
    timeout_ms: i32,
) -> i32 {
    set_timeout(settings, "reconnect_timeout_ms", timeout_ms)
}

/// Adds a STUN or TURN server, after those added before: `url` is `stun:HOST[:PORT]`,
/// `turn:HOST[:PORT]` (UDP), `turn:HOST[:PORT]?transport=tcp` or `turns:HOST[:PORT]` (TLS);
/// `username` and `credential` may be NULL for STUN and are required for TURN. For a server
/// reachable several ways (UDP and TCP, say), add each URL. Servers a WHIP endpoint advertises
/// are used after these.
/// `LP_INVALID_PARAMETER` for another scheme, a malformed URL or missing TURN credentials
/// (the settings are unchanged then).
#[no_mangle]
pub extern "C" fn lp_session_settings_add_ice_server(
    settings: *mut lp_session_settings,
    url: *const c_char,
    username: *const c_char,
    credential: *const c_char,
) -> i32 {
    guard(|| {
        let settings = arg_mut("settings", settings)?;
        let url = arg_str("url", url)?;
        let username = optional_str("username", username)?;
        let credential = optional_str("credential", credential)?;
        settings.inner.add_ice_server([url], username, credential)
    })
}

/// Which candidates ICE may use: `"all"` (the default) or `"relay"` (only TURN-relayed
/// ones). `LP_INVALID_PARAMETER` for anything else.
#[no_mangle]
pub extern "C" fn lp_session_settings_set_ice_transport_policy(
    settings: *mut lp_session_settings,
    policy: *const c_char,
) -> i32 {
    set_str_option(settings, "ice_transport_policy", policy, false)
}

fn event_handler(
    callbacks: Option<&lp_session_callbacks>,
) -> libpublisher::session::SessionEventHandler {
    SESSIONS.event_handler(callbacks, |c, session: &Session, event| {
        let (handle, ud) = (lp_session { id: session.id() }, c.user_data);
        // SAFETY: each is the host's callback with its own user data, as the header documents.
        unsafe {
            match event {
                SessionEvent::SessionConnected => c.on_session_connected.map(|f| f(handle, ud)),
                SessionEvent::SessionDisconnected { reason } => {
                    let name = crate::codes::reason_name(reason.code());
                    c.on_session_disconnected
                        .map(|f| f(handle, reason.code(), name, ud))
                }
                SessionEvent::SessionReconnecting => {
                    c.on_session_reconnecting.map(|f| f(handle, ud))
                }
                SessionEvent::SessionReconnected => c.on_session_reconnected.map(|f| f(handle, ud)),
            };
        }
    })
}

fn done_callback(
    cb: lp_session_done_cb,
    user_data: *mut c_void,
) -> libpublisher::session::SessionDone {
    let user_data = UserData(user_data);
    Box::new(
        move |session: &Session, outcome: libpublisher::Result<()>| {
            let Some(f) = cb else { return };
            let handle = lp_session { id: session.id() };
            match outcome {
                Ok(()) => unsafe { f(handle, std::ptr::null(), user_data.get()) },
                Err(e) => with_error(&e, |raw| unsafe { f(handle, raw, user_data.get()) }),
            }
        },
    )
}

/// Makes a session for `url` (`"loopback://"`, …) with default settings; see
/// `lp_session_new_with_settings`.
#[no_mangle]
pub extern "C" fn lp_session_new(
    url: *const c_char,
    callbacks: *const lp_session_callbacks,
    out: *mut lp_session,
) -> i32 {
    lp_session_new_with_settings(url, std::ptr::null(), callbacks, out)
}

/// Makes a session for `url` and writes its handle to `*out`. A malformed URL or an unknown
/// scheme gives `LP_INVALID_SESSION_ID`; nothing touches the network until
/// `lp_session_connect`. `settings` may be NULL (defaults) and is copied; `callbacks` is
/// copied and may be NULL.
#[no_mangle]
pub extern "C" fn lp_session_new_with_settings(
    url: *const c_char,
    settings: *const lp_session_settings,
    callbacks: *const lp_session_callbacks,
    out: *mut lp_session,
) -> i32 {
    guard(|| {
        let url = arg_str("url", url)?;
        let out = arg_mut("out", out)?;
        let settings = unsafe { settings.as_ref() }
            .map(|s| s.inner.clone())
            .unwrap_or_default();
        let on_event = event_handler(unsafe { callbacks.as_ref() });
        let mut registry = SESSIONS.lock();
        let session = libpublisher::init_session(url, settings, on_event)?;
        *out = lp_session { id: session.id() };
        registry.insert(session.id(), session);
        Ok(())
    })
}

/// Connects with `token` (NULL for none; never logged). Returns `LP_ILLEGAL_STATE` at once if
/// the session is not disconnected; otherwise `cb` runs once: NULL on success (after
/// `on_session_connected`), or `LP_AUTHENTICATION_ERROR`, `LP_CONNECT_FAILED`,
/// `LP_CONNECT_TIMEOUT`, ...
#[no_mangle]
pub extern "C" fn lp_session_connect(
    session: lp_session,
    token: *const c_char,
    cb: lp_session_done_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let token = if token.is_null() {
            None
        } else {
            Some(arg_str("token", token)?.to_owned())
        };
        SESSIONS
            .get(session.id)?
            .connect(token, done_callback(cb, user_data))
    })
}

/// Publishes `publisher` on the session. Returns `LP_NOT_CONNECTED` at once when the session
/// is not connected, `LP_ILLEGAL_STATE` when the publisher is not ready or already published;
/// otherwise `cb` runs once: NULL when media flows (then the publisher's `on_stream_created`),
/// or `LP_CREATE_PEER_CONNECTION_FAILED`, `LP_PUBLISH_TIMEOUT`, ... with everything torn down.
#[no_mangle]
pub extern "C" fn lp_session_publish(
    session: lp_session,
    publisher: lp_publisher,
    cb: lp_session_done_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let session = SESSIONS.get(session.id)?;
        let publisher = lookup_publisher(publisher)?;
        session.publish(&publisher, done_callback(cb, user_data))
    })
}

/// Stops publishing `publisher`: its `on_stream_destroyed` (`LP_REASON_CLIENT_DISCONNECTED`)
/// runs, then `cb`. `LP_NOT_CONNECTED` / `LP_ILLEGAL_STATE` at once when that is not possible.
#[no_mangle]
pub extern "C" fn lp_session_unpublish(
    session: lp_session,
    publisher: lp_publisher,
    cb: lp_session_done_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let session = SESSIONS.get(session.id)?;
        let publisher = lookup_publisher(publisher)?;
        session.unpublish(&publisher, done_callback(cb, user_data))
    })
}

/// Disconnects: every stream ends (`on_stream_destroyed`), then `on_session_disconnected`
/// (`LP_REASON_CLIENT_DISCONNECTED`), then `cb`.
#[no_mangle]
pub extern "C" fn lp_session_disconnect(
    session: lp_session,
    cb: lp_session_done_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        SESSIONS
            .get(session.id)?
            .disconnect(done_callback(cb, user_data))
    })
}

/// Writes the session's state (`LP_SESSION_*`) to `*out`.
#[no_mangle]
pub extern "C" fn lp_session_get_state(session: lp_session, out: *mut i32) -> i32 {
    guard(|| {
        let out = arg_mut("out", out)?;
        *out = SESSIONS.get(session.id)?.state().code();
        Ok(())
    })
}

/// Calls `cb` once, before returning, with what the embedded receiver of a `loopback://`
/// session got from `publisher`, or with NULL when there is nothing to tell (not published
/// there, or another backend).
#[no_mangle]
pub extern "C" fn lp_session_get_receiver_stats(
    session: lp_session,
    publisher: lp_publisher,
    cb: lp_receiver_stats_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let cb = cb.ok_or_else(|| Error::invalid_parameter("cb", "must not be NULL"))?;
        let session = SESSIONS.get(session.id)?;
        let publisher = lookup_publisher(publisher)?;
        let raw = session
            .receiver_stats(&publisher)
            // Destructured whole: a field the core adds does not compile until C has it.
            .map(|r| {
                let libpublisher::ReceiverStats {
                    video_frames,
                    video_keyframes,
                    first_frame_was_keyframe,
                    video_bytes,
                    audio_packets,
                    audio_bytes,
                } = r;
                lp_receiver_stats {
                    video_frames,
                    video_keyframes,
                    first_frame_was_keyframe,
                    video_bytes,
                    audio_packets,
                    audio_bytes,
                }
            });
        let stats = raw.as_ref().map_or(std::ptr::null(), |r| r as *const _);
        unsafe { cb(stats, user_data) };
        Ok(())
    })
}

/// Closes a session in any state: its streams end (their publishers get
/// `on_stream_destroyed`), calls still pending complete with `LP_ILLEGAL_STATE` on this
/// thread, and when this returns none of the session's callbacks is running or will run. The
/// handle stays valid (state `LP_SESSION_CLOSED`) until `lp_session_free`. Closing twice is
/// harmless.
#[no_mangle]
pub extern "C" fn lp_session_close(session: lp_session) -> i32 {
    guard(|| {
        SESSIONS.get(session.id)?.close();
        Ok(())
    })
}

/// Closes (as `lp_session_close`) and frees a session in any state; the handle is invalid
/// afterwards. Freeing twice gives `LP_ILLEGAL_STATE`.
#[no_mangle]
pub extern "C" fn lp_session_free(session: lp_session) -> i32 {
    guard(|| {
        SESSIONS.remove(session.id)?.close();
        Ok(())
    })
}
