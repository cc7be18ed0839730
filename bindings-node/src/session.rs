//! Sessions: `init_session` and the session calls, whose completions and events reach JS
//! through the router like the publishers' (see the crate documentation on ordering).

use std::sync::Arc;

use libpublisher::host::{HostCall, HostLink};
use libpublisher::session::SessionDone;
use libpublisher::{Session, SessionEvent, SessionSettings};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{
    contain, each_option, js_stats, option_value, wrong_type, Bridge, Closed, ErrorInfo, Message,
    NativePublisher, Router,
};

js_stats!(
    /// What the embedded `loopback://` receiver got from one publisher.
    ReceiverStats from libpublisher::ReceiverStats {
        video_frames: f64,
        video_keyframes: f64,
        first_frame_was_keyframe: bool,
        video_bytes: f64,
        audio_packets: f64,
        audio_bytes: f64,
    }
);

/// A call's immediate outcome: its number when accepted (its completion follows as `("done",
/// error|null, call)`), else the error, and then no completion follows.
fn started(
    outcome: std::result::Result<libpublisher::Result<u64>, ErrorInfo>,
) -> Either<f64, ErrorInfo> {
    match outcome {
        Ok(Ok(call)) => Either::A(call as f64),
        Ok(Err(e)) => Either::B(e.into()),
        Err(e) => Either::B(e),
    }
}

/// A session handle. Dropping it (when JS collects it, or at environment teardown) closes the
/// session.
#[napi]
pub struct NativeSession {
    session: Session,
    bridge: Arc<Bridge>,
}

impl NativeSession {
    /// Starts `call` through the core's link; `start` gets the completion to hand the core.
    fn call(
        &self,
        env: &Env,
        call: HostCall,
        start: impl FnOnce(SessionDone) -> libpublisher::Result<()>,
    ) -> Result<Either<f64, ErrorInfo>> {
        let bridge = &self.bridge;
        let outcome = contain(|| {
            bridge.link.call(call, |number| {
                let bridge = bridge.clone();
                start(Box::new(move |_: &Session, outcome| {
                    bridge.complete(number, outcome.map(|()| None))
                }))
            })
        });
        bridge.sync(env)?;
        Ok(started(outcome))
    }
}

#[napi]
impl NativeSession {
    /// Each call returns its number when accepted, its completion then arriving as `("done",
    /// error|null, call)`; or the error at once (1010, 1011, 1015) and no completion.
    #[napi(ts_args_type = "token: unknown")]
    pub fn connect(&self, env: Env, token: Unknown) -> Result<Either<f64, ErrorInfo>> {
        let token = match token.get_type()? {
            ValueType::Undefined | ValueType::Null => None,
            // SAFETY: checked to be a string.
            ValueType::String => Some(unsafe { token.cast::<String>()? }),
            _ => return Ok(Either::B(wrong_type("token", "a string or null", &token)?)),
        };
        self.call(&env, HostCall::Connect, |done| {
            self.session.connect(token, done)
        })
    }

    #[napi]
    pub fn publish(&self, env: Env, publisher: &NativePublisher) -> Result<Either<f64, ErrorInfo>> {
        self.call(&env, HostCall::Publish, |done| {
            self.session.publish(&publisher.publisher, done)
        })
    }

    #[napi]
    pub fn unpublish(
        &self,
        env: Env,
        publisher: &NativePublisher,
    ) -> Result<Either<f64, ErrorInfo>> {
        self.call(&env, HostCall::Unpublish, |done| {
            self.session.unpublish(&publisher.publisher, done)
        })
    }

    #[napi]
    pub fn disconnect(&self, env: Env) -> Result<Either<f64, ErrorInfo>> {
        self.call(&env, HostCall::Disconnect, |done| {
            self.session.disconnect(done)
        })
    }

    /// Stops the session; when this returns no message for it reaches JS any more. Returns
    /// the calls the core completed (1015).
    #[napi]
    pub fn close(&self, env: Env) -> Closed {
        self.bridge.close(&env, || self.session.close())
    }

    /// Whether messages may come for it (the core's `Interest`): JS keeps it routed while so.
    #[napi(getter)]
    pub fn routed(&self) -> bool {
        self.bridge.link.interest().routed()
    }

    /// `null` when `publisher` is not published here or the backend has no receiver of its own.
    #[napi]
    pub fn receiver_stats(
        &self,
        publisher: &NativePublisher,
    ) -> Option<Either<ReceiverStats, ErrorInfo>> {
        match contain(|| self.session.receiver_stats(&publisher.publisher)) {
            Ok(stats) => stats.map(|s| Either::A(s.into())),
            Err(e) => Some(Either::B(e)),
        }
    }

    #[napi(getter)]
    pub fn state(&self) -> &'static str {
        self.session.state().as_str()
    }

    #[napi(getter)]
    pub fn id(&self) -> f64 {
        self.session.id() as f64
    }

    #[napi(getter)]
    pub fn url(&self) -> String {
        self.session.url().to_owned()
    }

    /// The key under which the router delivers this session's messages.
    #[napi(getter)]
    pub fn route(&self) -> u32 {
        self.bridge.route
    }
}

impl Drop for NativeSession {
    fn drop(&mut self) {
        let _ = contain(|| self.bridge.link.close(|| self.session.close()));
    }
}

fn session_settings(options: &Unknown) -> Result<std::result::Result<SessionSettings, ErrorInfo>> {
    let mut settings = SessionSettings::default();
    let visited = each_option(options, |key, value| {
        Ok(match option_value(key, &value)? {
            Ok(value) => settings.set(key, value).map_err(ErrorInfo::from),
            Err(e) => Err(e),
        })
    })?;
    Ok(visited.map(|()| settings))
}

/// Makes a session for `url`; its messages arrive through `router` under the session's
/// `route`. A bad URL (1005) or bad options (1011) give an `ErrorInfo`.
#[napi(ts_args_type = "router: Router, url: unknown, options: unknown")]
pub fn init_session(
    router: &Router,
    url: Unknown,
    options: Unknown,
) -> Result<Either<NativeSession, ErrorInfo>> {
    if url.get_type()? != ValueType::String {
        return Ok(Either::B(wrong_type("url", "a string", &url)?));
    }
    // SAFETY: checked to be a string.
    let url = unsafe { url.cast::<String>()? };
    let settings = match contain(|| session_settings(&options)) {
        Ok(parsed) => match parsed? {
            Ok(settings) => settings,
            Err(e) => return Ok(Either::B(e)),
        },
        Err(e) => return Ok(Either::B(e)),
    };
    let bridge = Bridge::new(router, HostLink::for_session());
    let on_event = {
        let bridge = bridge.clone();
        Arc::new(move |_: &Session, event: SessionEvent| {
            bridge.send(Message::Session(event));
        })
    };
    Ok(
        match contain(|| libpublisher::init_session(&url, settings, on_event)) {
            Ok(Ok(session)) => Either::A(NativeSession { session, bridge }),
            Ok(Err(e)) => Either::B(e.into()),
            Err(e) => Either::B(e),
        },
    )
}
