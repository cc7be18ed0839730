//! The native half of the Node binding. It converts values and marshals the library's callbacks
//! onto the JS main thread; `index.js` turns this low-level surface into the public API
//! (EventEmitter, Promises, `Error` objects). Errors cross as plain `{code, name, message}`
//! objects so that the JS side builds every `Error` with one class.
//!
//! Every message of every handle reaches JS through one threadsafe function per JS environment
//! (the [`Router`]): one FIFO queue, so the main thread sees messages in the order the library's
//! callback threads produced them, also across handles. The core orders a session's publish
//! completion before the publisher's `streamCreated`, and a publisher's `streamDestroyed` before
//! the session's unpublish completion, by waiting for the first handle's callback to return;
//! separate queues per handle would lose that order on the way to the main thread.
//!
//! What reaches JS, which calls are pending for it, what `close` completes, when a handle
//! keeps the event loop alive and the consent round trip are the core's
//! (`libpublisher::host::link`); this crate only turns them into napi values and calls.

pub mod session;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use libpublisher::host::{
    args, Admission, Backlog, ConsentRequest, HostCall, HostLink, LoopChange, LoopHold,
};
use libpublisher::media::frame;
use libpublisher::{
    AccessRequest, AudioFrameRef, AudioSamples, Device, ErrorCode, LogLevel, LogRecord,
    OptionValue, Publisher, PublisherEvent, PublisherSettings, Reason, SessionEvent, VideoFormat,
    VideoFrameRef,
};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{Env, JsValue};
use napi_derive::napi;

/// A library error as JS receives it; `index.js` wraps it in its `Error` class.
#[napi(object)]
pub struct ErrorInfo {
    pub code: i32,
    pub name: String,
    pub message: String,
}

impl From<libpublisher::Error> for ErrorInfo {
    fn from(e: libpublisher::Error) -> Self {
        ErrorInfo {
            code: e.code(),
            name: e.name().to_owned(),
            message: e.message,
        }
    }
}

/// One row of the error or reason table.
#[napi(object)]
pub struct CodeName {
    pub code: i32,
    pub name: String,
}

#[napi(object)]
pub struct DeviceInfo {
    pub kind: String,
    pub device_id: String,
    pub label: String,
}

/// A stats field as JS sees it: counters as JS numbers (exact up to 2^53), the core's named
/// values as their names.
pub(crate) trait JsStat<T> {
    fn js(self) -> T;
}

macro_rules! numbers_are_js_numbers {
    ($($t:ty),*) => {$(
        impl JsStat<f64> for $t {
            #[allow(clippy::unnecessary_cast)]
            fn js(self) -> f64 {
                self as f64
            }
        }
    )*};
}
numbers_are_js_numbers!(u64, i64, u32, f64);

impl JsStat<String> for libpublisher::QualityLimitation {
    fn js(self) -> String {
        self.as_str().to_owned()
    }
}

impl JsStat<bool> for bool {
    fn js(self) -> bool {
        self
    }
}

/// A JS object with the fields of one of the core's stats structs, each converted by
/// [`JsStat`].
macro_rules! js_stats {
    ($(#[$doc:meta])* $name:ident from $core:path { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[napi(object)]
        pub struct $name {
            $(pub $field: $ty,)*
        }

        impl From<$core> for $name {
            fn from(s: $core) -> Self {
                use $crate::JsStat as _;
                $name {
                    $($field: s.$field.js(),)*
                }
            }
        }
    };
}
pub(crate) use js_stats;

js_stats!(
    /// The core's `PublisherStats`.
    PublisherStats from libpublisher::PublisherStats {
        video_frames_captured: f64,
        audio_frames_captured: f64,
        video_frames_sent: f64,
        video_keyframes_sent: f64,
        audio_packets_sent: f64,
        packets_sent: f64,
        bytes_sent: f64,
        bitrate_bps: f64,
        rtt_ms: f64,
        packets_lost: f64,
        retransmitted_packets_sent: f64,
        retransmitted_bytes_sent: f64,
        target_bitrate_bps: f64,
        available_outgoing_bitrate_bps: f64,
        frame_width: f64,
        frame_height: f64,
        frames_per_second: f64,
        quality_limitation_reason: String,
    }
);

/// What the access-request callback is asked about; `null` for a kind that needs no consent.
#[napi(object, use_nullable = true)]
pub struct AccessRequestInfo {
    pub audio: Option<String>,
    pub video: Option<String>,
}

#[napi(object)]
pub struct StreamCreatedEvent {
    pub stream_id: String,
}

#[napi(object)]
pub struct StreamDestroyedEvent {
    pub reason: String,
}

#[napi(object)]
pub struct SessionDisconnectedEvent {
    pub reason: String,
}

#[napi(object)]
pub struct MediaStoppedEvent {
    pub kind: String,
}

#[napi(object)]
pub struct AudioLevelUpdatedEvent {
    pub audio_level: f64,
}

/// `videoDisabled` / `videoEnabled` (`reason` `"quality"`: the audio-only fallback;
/// `"publishVideo"`: the host) and `audioDisabled` / `audioEnabled` (`"publishAudio"`).
#[napi(object)]
pub struct MediaEnabledEvent {
    pub reason: String,
}

#[napi(object)]
pub struct VideoDimensionsChangedEvent {
    pub old_width: u32,
    pub old_height: u32,
    pub new_width: u32,
    pub new_height: u32,
}

/// Runs `f`, turning a panic into 2000 INTERNAL_ERROR so that none unwinds into Node.
fn contain<T>(f: impl FnOnce() -> T) -> std::result::Result<T, ErrorInfo> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|panic| libpublisher::Error::from_panic("the native binding", &*panic).into())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A JS value created in the current callback scope, handed straight back to napi.
fn js<T: ToNapiValue>(env: &Env, value: T) -> Result<Unknown<'static>> {
    // SAFETY: `env` is the live environment of the calling JS callback, and the value is only
    // used as an argument of the function call napi makes right after this callback returns.
    unsafe {
        let raw = T::to_napi_value(env.raw(), value)?;
        Ok(Unknown::from_raw_unchecked(env.raw(), raw))
    }
}

/// A JS value's kind in the core's words (`OptionValue::kind`): `"a string"`, `"null"`, ...
fn kind_of(value: &Unknown) -> Result<&'static str> {
    Ok(match value.get_type()? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Function => "a function",
        ValueType::BigInt => "a bigint",
        ValueType::Object if value.is_array()? => "an array",
        _ => "an object",
    })
}

/// 1011 for `value`, which is not `expected`.
fn wrong_type(field: &str, expected: &str, value: &Unknown) -> Result<ErrorInfo> {
    Ok(libpublisher::Error::wrong_type(field, expected, kind_of(value)?).into())
}

/// The core's 1011 for a JS argument of the wrong type (checked by `index.js`).
#[napi(ts_args_type = "field: string, expected: string, value: unknown")]
pub fn wrong_type_error(field: String, expected: String, value: Unknown) -> Result<ErrorInfo> {
    wrong_type(&field, &expected, &value)
}

#[napi]
pub fn version() -> &'static str {
    libpublisher::VERSION
}

/// The core's error table, ascending by code.
#[napi]
pub fn error_codes() -> Vec<CodeName> {
    ErrorCode::ALL
        .iter()
        .map(|c| CodeName {
            code: c.code(),
            name: c.name().to_owned(),
        })
        .collect()
}

#[napi]
pub fn reasons() -> Vec<CodeName> {
    Reason::ALL
        .iter()
        .map(|r| CodeName {
            code: r.code(),
            name: r.name().to_owned(),
        })
        .collect()
}

#[napi]
pub fn publisher_event_names() -> Vec<&'static str> {
    libpublisher::PUBLISHER_EVENT_NAMES.to_vec()
}

#[napi]
pub fn session_event_names() -> Vec<&'static str> {
    libpublisher::SESSION_EVENT_NAMES.to_vec()
}

// ---------------------------------------------------------------------------------------------
// Devices

/// Enumeration probes ALSA and V4L2, which can take a while: it runs on the libuv pool.
pub struct DevicesTask;

impl Task for DevicesTask {
    type Output = std::result::Result<Vec<Device>, ErrorInfo>;
    type JsValue = Either<Vec<DeviceInfo>, ErrorInfo>;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(contain(libpublisher::get_devices))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(match output {
            Ok(devices) => Either::A(
                devices
                    .into_iter()
                    .map(|d| DeviceInfo {
                        kind: d.kind.as_str().to_owned(),
                        device_id: d.device_id,
                        label: d.label,
                    })
                    .collect(),
            ),
            Err(e) => Either::B(e),
        })
    }
}

#[napi(ts_return_type = "Promise<DeviceInfo[] | ErrorInfo>")]
pub fn get_devices() -> AsyncTask<DevicesTask> {
    AsyncTask::new(DevicesTask)
}

// ---------------------------------------------------------------------------------------------
// Delivery to the main thread

/// What the library's callback threads hand to the JS main thread for one handle.
enum Message {
    Publisher(PublisherEvent),
    Session(SessionEvent),
    /// The core completed host call `call`: its outcome waits in the handle's link.
    Done(u64),
    Consent(ConsentRequest),
}

struct Routed {
    bridge: Arc<Bridge>,
    message: Message,
    /// Holds a place in the bridge's backlog of periodic events until delivered.
    _admission: Admission,
}

type RouteArgs = FnArgs<(u32, &'static str, Unknown<'static>, Unknown<'static>)>;
/// Hands a call's outcome (with its value, if it gives one) to the link.
type Completion = Box<dyn FnOnce(libpublisher::Result<Option<String>>) + Send>;
// Weak: the router starts unreferenced; it is referenced while some handle is engaged.
type RouteFn = ThreadsafeFunction<Routed, UnknownReturnValue, RouteArgs, Status, false, true, 0>;

struct RouterInner {
    tsfn: Mutex<RouteFn>,
    /// When the queue keeps the event loop alive (the core's count of engaged handles).
    hold: LoopHold,
}

impl RouterInner {
    /// False once the environment is gone (the message is then dropped).
    fn send(&self, routed: Routed) -> bool {
        let tsfn = lock(&self.tsfn);
        tsfn.call(routed, ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok
    }

    /// On the main thread, after anything that may change `link`'s interest: (un)refs the
    /// queue as the core says.
    // Deprecated in napi-rs, yet still its only way to (un)ref a live threadsafe function.
    #[allow(deprecated)]
    fn sync(&self, env: &Env, link: &HostLink) -> Result<()> {
        self.hold.sync(link, |change| {
            let mut tsfn = lock(&self.tsfn);
            match change {
                LoopChange::Hold => tsfn.refer(env),
                LoopChange::Release => tsfn.unref(env),
            }
        })
    }
}

/// The one queue of a JS environment. `dispatch(route, kind, a, b)` receives, on the main
/// thread: `("event", name, payload)`, `("consent", request, reply)`, `("done", error|null,
/// call)`, and `("ignore")` (route 0) for a message that a `close` made obsolete.
#[napi]
pub struct Router {
    inner: Arc<RouterInner>,
}

#[napi]
impl Router {
    #[napi(
        constructor,
        ts_args_type = "dispatch: (route: number, kind: string, a: any, b: any) => void"
    )]
    pub fn new(dispatch: Function<'_, Unknown<'static>, UnknownReturnValue>) -> Result<Self> {
        let tsfn: RouteFn = dispatch
            .build_threadsafe_function::<Routed>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx: ThreadsafeCallContext<Routed>| {
                let env = ctx.env;
                match catch_unwind(AssertUnwindSafe(|| deliver(&env, ctx.value))) {
                    Ok(Ok(args)) => Ok(args),
                    // Neither a napi failure nor a panic may reach the user as a fatal exception.
                    _ => Ok((0, "ignore", js(&env, ())?, js(&env, ())?).into()),
                }
            })?;
        Ok(Router {
            inner: Arc::new(RouterInner {
                tsfn: Mutex::new(tsfn),
                hold: LoopHold::default(),
            }),
        })
    }
}

/// The link between one handle's library callbacks and the router: the core's [`HostLink`]
/// decides what reaches JS and what the handle holds; `route` names the handle to JS.
struct Bridge {
    router: Arc<RouterInner>,
    route: u32,
    link: HostLink,
    /// Periodic events queued for the main thread and not delivered yet.
    periodic: Arc<Backlog>,
}

impl Bridge {
    fn new(router: &Router, link: HostLink) -> Arc<Bridge> {
        static NEXT_ROUTE: AtomicU32 = AtomicU32::new(1); // 0 means "ignore"
        Arc::new(Bridge {
            router: router.inner.clone(),
            route: NEXT_ROUTE.fetch_add(1, Ordering::Relaxed),
            link,
            periodic: Arc::default(),
        })
    }

    /// Queues `message` for the main thread; periodic events go under the core's overflow
    /// policy (see `libpublisher::host::delivery`).
    fn send(self: &Arc<Self>, message: Message) -> bool {
        let admission = match &message {
            Message::Publisher(event) => self.periodic.admit_event(event),
            _ => Admission::Always,
        };
        if admission.is_dropped() {
            return true;
        }
        self.router.send(Routed {
            bridge: self.clone(),
            message,
            _admission: admission,
        })
    }

    /// The completion of host call `call`, from the core, with the value the call gives if it
    /// gives one.
    fn complete(self: &Arc<Self>, call: u64, outcome: libpublisher::Result<Option<String>>) {
        if self.link.complete(call, outcome) {
            self.send(Message::Done(call));
        }
    }

    /// The access-request callback, on the library's callback thread: the core's link asks JS
    /// and waits for its answer.
    fn ask_consent(self: &Arc<Self>, request: &AccessRequest) -> bool {
        self.link
            .ask_consent(request, |asked| self.send(Message::Consent(asked)))
    }

    /// On the main thread, after anything that may change whether the handle is engaged.
    fn sync(&self, env: &Env) -> Result<()> {
        self.router.sync(env, &self.link)
    }

    /// Closes the handle through its link (`close_handle` is the core's close) and returns
    /// the calls the core completed for JS.
    fn close(&self, env: &Env, close_handle: impl FnOnce()) -> Closed {
        let outcome = contain(|| self.link.close(close_handle));
        let _ = self.sync(env);
        match outcome {
            Ok(completed) => Closed {
                error: None,
                completed: completed
                    .into_iter()
                    .map(|(call, error)| CallDone {
                        call: call as f64,
                        error: error.into(),
                    })
                    .collect(),
            },
            Err(e) => Closed {
                error: Some(e),
                completed: Vec::new(),
            },
        }
    }
}

/// A call the core completed on `close`.
#[napi(object)]
pub struct CallDone {
    pub call: f64,
    pub error: ErrorInfo,
}

/// What `close` did: the calls it completed (each with the core's 1015), and an internal
/// error, if any.
#[napi(object)]
pub struct Closed {
    pub error: Option<ErrorInfo>,
    pub completed: Vec<CallDone>,
}

/// Handed to JS with a consent request; `answer` unblocks the library. A reply object that is
/// collected unanswered denies (the core's `ConsentRequest`).
#[napi]
pub struct ConsentReply {
    request: ConsentRequest,
}

#[napi]
impl ConsentReply {
    /// The host's reply, read by the core (only `true` allows).
    #[napi(ts_args_type = "reply: unknown")]
    pub fn answer(&self, reply: Unknown) {
        let value = option_value("accessRequest", &reply)
            .ok()
            .and_then(|v| v.ok());
        self.request.answer(value.as_ref());
    }

    /// The access-request callback failed: denied.
    #[napi]
    pub fn deny(&self) {
        self.request.deny();
    }
}

/// Runs on the JS main thread for each message: the core's link drops what `close` made
/// obsolete; the rest becomes the arguments of the JS router: `(route, kind, a, b)`.
fn deliver(env: &Env, routed: Routed) -> Result<RouteArgs> {
    let Routed {
        bridge, message, ..
    } = routed;
    let route = bridge.route;
    let ignore = || -> Result<RouteArgs> { Ok((0, "ignore", js(env, ())?, js(env, ())?).into()) };
    let args: RouteArgs = match message {
        Message::Publisher(_) | Message::Consent(_) if bridge.link.is_closed() => return ignore(),
        Message::Session(ref event) if !bridge.link.session_event(event) => return ignore(),
        Message::Publisher(event) => {
            let name = event.name();
            let payload = match event {
                PublisherEvent::AccessAllowed => js(env, ())?,
                PublisherEvent::AccessDenied { error } => js(env, ErrorInfo::from(error))?,
                PublisherEvent::StreamCreated { stream_id } => {
                    js(env, StreamCreatedEvent { stream_id })?
                }
                PublisherEvent::StreamDestroyed { reason } => js(
                    env,
                    StreamDestroyedEvent {
                        reason: reason.name().to_owned(),
                    },
                )?,
                PublisherEvent::MediaStopped { kind } => js(
                    env,
                    MediaStoppedEvent {
                        kind: kind.as_str().to_owned(),
                    },
                )?,
                PublisherEvent::AudioLevelUpdated { level } => js(
                    env,
                    AudioLevelUpdatedEvent {
                        audio_level: f64::from(level),
                    },
                )?,
                PublisherEvent::VideoDimensionsChanged {
                    old_width,
                    old_height,
                    new_width,
                    new_height,
                } => js(
                    env,
                    VideoDimensionsChangedEvent {
                        old_width,
                        old_height,
                        new_width,
                        new_height,
                    },
                )?,
                PublisherEvent::VideoDisableWarning | PublisherEvent::VideoDisableWarningLifted => {
                    js(env, ())?
                }
                PublisherEvent::VideoDisabled { reason }
                | PublisherEvent::VideoEnabled { reason }
                | PublisherEvent::AudioDisabled { reason }
                | PublisherEvent::AudioEnabled { reason } => js(
                    env,
                    MediaEnabledEvent {
                        reason: reason.name().to_owned(),
                    },
                )?,
            };
            (route, "event", js(env, name)?, payload).into()
        }
        Message::Session(event) => {
            let name = event.name();
            let payload = match event {
                SessionEvent::SessionDisconnected { reason } => js(
                    env,
                    SessionDisconnectedEvent {
                        reason: reason.name().to_owned(),
                    },
                )?,
                SessionEvent::SessionConnected
                | SessionEvent::SessionReconnecting
                | SessionEvent::SessionReconnected => js(env, ())?,
            };
            (route, "event", js(env, name)?, payload).into()
        }
        Message::Done(call) => {
            let Some(outcome) = bridge.link.take(call) else {
                return ignore();
            };
            // null, the error, or the value the call gives (a string).
            let result = match outcome {
                Ok(None) => js(env, Null)?,
                Ok(Some(value)) => js(env, value)?,
                Err(e) => js(env, ErrorInfo::from(e))?,
            };
            (route, "done", result, js(env, call as f64)?).into()
        }
        Message::Consent(request) => {
            let info = AccessRequestInfo {
                audio: request.request().audio.clone(),
                video: request.request().video.clone(),
            };
            let reply = ConsentReply { request };
            (route, "consent", js(env, info)?, js(env, reply)?).into()
        }
    };
    bridge.sync(env)?;
    Ok(args)
}

/// A JS value as the core's settings take it: arrays become lists and plain objects mappings
/// (for `iceServers`), element by element. Values with no `OptionValue` form (functions,
/// symbols) are refused here, naming the key as the host spelled it.
fn option_value(key: &str, value: &Unknown) -> Result<std::result::Result<OptionValue, ErrorInfo>> {
    option_value_at(key, value, 0)
}

fn option_value_at(
    key: &str,
    value: &Unknown,
    depth: usize,
) -> Result<std::result::Result<OptionValue, ErrorInfo>> {
    let refuse = |detail: String| -> Result<std::result::Result<OptionValue, ErrorInfo>> {
        Ok(Err(
            libpublisher::Error::invalid_parameter(key, detail).into()
        ))
    };
    if value.get_type()? == ValueType::Object {
        if let Err(e) = OptionValue::check_depth(key, depth) {
            return Ok(Err(e.into()));
        }
    }
    // SAFETY (casts below): each cast matches the type `get_type` just reported.
    Ok(Ok(match value.get_type()? {
        ValueType::Undefined | ValueType::Null => OptionValue::Null,
        ValueType::Boolean => OptionValue::Bool(unsafe { value.cast::<bool>()? }),
        ValueType::Number => OptionValue::Float(unsafe { value.cast::<f64>()? }),
        ValueType::String => OptionValue::Str(unsafe { value.cast::<String>()? }),
        ValueType::BigInt => match unsafe { value.cast::<BigInt>()? }.get_i64() {
            (int, true) => OptionValue::Int(int),
            _ => return refuse("a bigint out of the 64-bit range".into()),
        },
        ValueType::Object if value.is_array()? => {
            // SAFETY: checked to be an array.
            let array = unsafe { value.cast::<Array>()? };
            let mut items = Vec::with_capacity(array.len() as usize);
            for i in 0..array.len() {
                let item: Unknown = array.get_element(i)?;
                match option_value_at(&format!("{key}[{i}]"), &item, depth + 1)? {
                    Ok(item) => items.push(item),
                    Err(e) => return Ok(Err(e)),
                }
            }
            OptionValue::List(items)
        }
        ValueType::Object => {
            let mut entries = Vec::new();
            let visited = each_option(value, |k, v| {
                Ok(
                    match option_value_at(&format!("{key}.{k}"), &v, depth + 1)? {
                        Ok(v) => {
                            entries.push((k.to_owned(), v));
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                )
            })?;
            if let Err(e) = visited {
                return Ok(Err(e));
            }
            OptionValue::Map(entries)
        }
        _ => {
            let expected = "a string, a number, a boolean, null, an array or an object";
            return Ok(Err(wrong_type(key, expected, value)?));
        }
    }))
}

/// Calls `visit(key, value)` for each own enumerable string key of a JS options object
/// (`undefined`/`null`: none), stopping at the first error.
fn each_option(
    options: &Unknown,
    mut visit: impl FnMut(&str, Unknown) -> Result<std::result::Result<(), ErrorInfo>>,
) -> Result<std::result::Result<(), ErrorInfo>> {
    match options.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(Ok(())),
        ValueType::Object => {}
        _ => return Ok(Err(wrong_type("options", "an object", options)?)),
    }
    // SAFETY: `get_type` reported an object.
    let object = unsafe { options.cast::<Object>()? };
    let keys = object.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    // SAFETY: `Object.keys`-style names come back as an array.
    let keys = unsafe { keys.to_unknown().cast::<Array>()? };
    for i in 0..keys.len() {
        let key: Unknown = keys.get_element(i)?;
        if key.get_type()? != ValueType::String {
            continue; // symbol keys are never options
        }
        // SAFETY: checked to be a string.
        let key = unsafe { key.cast::<String>()? };
        let value: Unknown = object.get_named_property(&key)?;
        if let Err(e) = visit(&key, value)? {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// Builds the settings from a JS options object. `accessRequest` is the one key handled
/// here (it is a function); every other key and value goes through the core's `set`.
fn settings_from(
    options: &Unknown,
) -> Result<std::result::Result<(PublisherSettings, bool), ErrorInfo>> {
    let mut settings = PublisherSettings::default();
    let mut wants_consent = false;
    let visited = each_option(options, |key, value| {
        if key == "accessRequest" {
            match value.get_type()? {
                ValueType::Function => wants_consent = true,
                ValueType::Undefined | ValueType::Null => wants_consent = false,
                _ => return Ok(Err(wrong_type(key, "a function", &value)?)),
            }
            return Ok(Ok(()));
        }
        Ok(match option_value(key, &value)? {
            Ok(value) => settings.set(key, value).map_err(ErrorInfo::from),
            Err(e) => Err(e),
        })
    })?;
    Ok(visited.map(|()| (settings, wants_consent)))
}

// ---------------------------------------------------------------------------------------------
// Publisher

/// A publisher handle. Dropping it (when JS collects it, or at environment teardown) closes
/// the publisher.
#[napi]
pub struct NativePublisher {
    publisher: Publisher,
    bridge: Arc<Bridge>,
}

impl NativePublisher {
    /// Starts a call on the publisher through its link (as the session's calls are).
    fn call(
        &self,
        env: &Env,
        call: HostCall,
        start: impl FnOnce(libpublisher::publisher::InitDone) -> libpublisher::Result<()>,
    ) -> Result<Either<f64, ErrorInfo>> {
        self.call_with_value(env, call, |complete| {
            start(Box::new(move |_: &Publisher, outcome| {
                complete(outcome.map(|()| None))
            }))
        })
    }

    /// As [`NativePublisher::call`], for a call whose completion gives a value.
    fn call_with_value(
        &self,
        env: &Env,
        call: HostCall,
        start: impl FnOnce(Completion) -> libpublisher::Result<()>,
    ) -> Result<Either<f64, ErrorInfo>> {
        let bridge = &self.bridge;
        let outcome = contain(|| {
            bridge.link.call(call, |number| {
                let bridge = bridge.clone();
                start(Box::new(move |outcome| bridge.complete(number, outcome)))
            })
        });
        bridge.sync(env)?;
        Ok(match outcome {
            Ok(Ok(call)) => Either::A(call as f64),
            Ok(Err(e)) => Either::B(e.into()),
            Err(e) => Either::B(e),
        })
    }
}

#[napi]
impl NativePublisher {
    /// Stops the publisher; when this returns no message for it reaches JS any more. Returns
    /// the pending `init_publisher` the core completed (1015), if any.
    #[napi]
    pub fn close(&self, env: Env) -> Closed {
        self.bridge.close(&env, || self.publisher.close())
    }

    /// Whether messages may come for it (the core's `Interest`): JS keeps it routed while so.
    #[napi(getter)]
    pub fn routed(&self) -> bool {
        self.bridge.link.interest().routed()
    }

    /// `snapshot`: PNG bytes, or the error.
    #[napi]
    pub fn snapshot(&self) -> Either<Buffer, ErrorInfo> {
        match contain(|| self.publisher.snapshot()) {
            Ok(Ok(png)) => Either::A(png.into()),
            Ok(Err(e)) => Either::B(e.into()),
            Err(e) => Either::B(e),
        }
    }

    #[napi]
    pub fn stats(&self) -> Either<PublisherStats, ErrorInfo> {
        match contain(|| self.publisher.stats()) {
            Ok(s) => Either::A(s.into()),
            Err(e) => Either::B(e),
        }
    }

    #[napi(getter)]
    pub fn state(&self) -> &'static str {
        self.publisher.state().as_str()
    }

    #[napi(getter)]
    pub fn id(&self) -> f64 {
        self.publisher.id() as f64
    }

    /// The key under which the router delivers this publisher's messages.
    #[napi(getter)]
    pub fn route(&self) -> u32 {
        self.bridge.route
    }

    /// Pushes a packed I420 or RGBA frame (custom video source); `data` is borrowed for the
    /// call; an absent `format` is the core's default. Returns the error, if any.
    #[napi]
    pub fn push_video_frame(
        &self,
        data: Uint8ArraySlice,
        width: f64,
        height: f64,
        format: Option<String>,
        timestamp_us: Option<f64>,
    ) -> Option<ErrorInfo> {
        let pushed = || -> libpublisher::Result<()> {
            let format = match format {
                Some(name) => VideoFormat::from_name(&name)?,
                None => frame::DEFAULT_VIDEO_FORMAT,
            };
            let frame = VideoFrameRef::packed(
                format,
                whole_u32("width", width)?,
                whole_u32("height", height)?,
                &data,
                timestamp(timestamp_us)?,
            )?;
            self.publisher.push_video_frame(&frame)
        };
        failure(contain(pushed))
    }

    /// Switches the video source (`setVideoSource`): the call's number when accepted, its
    /// completion then arriving as `("done", error|null, call)`; or the error at once.
    #[napi]
    pub fn set_video_source(&self, env: Env, source: String) -> Result<Either<f64, ErrorInfo>> {
        self.call(&env, HostCall::SetVideoSource, |done| {
            self.publisher.set_video_source(&source, done)
        })
    }

    /// Switches to the next camera (`cycleVideo`), as `set_video_source` does; its completion
    /// carries the camera's device id.
    #[napi]
    pub fn cycle_video(&self, env: Env) -> Result<Either<f64, ErrorInfo>> {
        self.call_with_value(&env, HostCall::CycleVideo, |complete| {
            self.publisher
                .cycle_video(Box::new(move |_, outcome| complete(outcome.map(Some))))
        })
    }

    /// Switches the audio source (`setAudioSource`), as `set_video_source` does.
    #[napi]
    pub fn set_audio_source(&self, env: Env, source: String) -> Result<Either<f64, ErrorInfo>> {
        self.call(&env, HostCall::SetAudioSource, |done| {
            self.publisher.set_audio_source(&source, done)
        })
    }

    /// `setPreferredResolution`.
    #[napi]
    pub fn set_preferred_resolution(&self, resolution: String) -> Option<ErrorInfo> {
        failure(contain(|| {
            self.publisher.set_preferred_resolution(&resolution)
        }))
    }

    /// `setPreferredFrameRate`: a whole number, checked by the core.
    #[napi]
    pub fn set_preferred_frame_rate(&self, frame_rate: f64) -> Option<ErrorInfo> {
        failure(contain(|| {
            let rate = whole_u32("frame_rate", frame_rate)?;
            self.publisher.set_preferred_frame_rate(i64::from(rate))
        }))
    }

    /// Turns video off or on (`publishVideo`).
    #[napi]
    pub fn publish_video(&self, on: bool) -> Option<ErrorInfo> {
        failure(contain(|| self.publisher.publish_video(on)))
    }

    /// Turns audio off or on (`publishAudio`).
    #[napi]
    pub fn publish_audio(&self, on: bool) -> Option<ErrorInfo> {
        failure(contain(|| self.publisher.publish_audio(on)))
    }

    /// Pushes interleaved PCM (custom audio source): `samples` are the bytes of int16
    /// (`kind` "i16") or float32 ("f32") samples in the machine's order, borrowed for the call;
    /// an absent rate or channel count is the core's default.
    #[napi]
    pub fn push_audio_frame(
        &self,
        samples: Uint8ArraySlice,
        kind: String,
        sample_rate: Option<f64>,
        channels: Option<f64>,
        timestamp_us: Option<f64>,
    ) -> Option<ErrorInfo> {
        let pushed = || -> libpublisher::Result<()> {
            let samples = match kind.as_str() {
                "f32" => AudioSamples::F32Bytes(&samples),
                _ => AudioSamples::I16Bytes(&samples),
            };
            self.publisher.push_audio_frame(&AudioFrameRef {
                samples,
                sample_rate: sample_rate.map_or(Ok(frame::DEFAULT_SAMPLE_RATE), |v| {
                    whole_u32("sample_rate", v)
                })?,
                channels: channels
                    .map_or(Ok(frame::DEFAULT_CHANNELS), |v| whole_u32("channels", v))?,
                timestamp_us: timestamp(timestamp_us)?,
            })
        };
        failure(contain(pushed))
    }
}

/// A JS number as the core's `u32`, checked by the core (fields named as the core names
/// them, so the message is the same in every language).
fn whole_u32(field: &str, value: f64) -> libpublisher::Result<u32> {
    args::u32_arg(field, &OptionValue::Float(value))
}

/// `timestampUs`: a whole number of microseconds, or absent.
fn timestamp(value: Option<f64>) -> libpublisher::Result<Option<u64>> {
    let value = value.map_or(OptionValue::Null, OptionValue::Float);
    args::timestamp_us_arg("timestamp_us", &value)
}

fn failure(outcome: std::result::Result<libpublisher::Result<()>, ErrorInfo>) -> Option<ErrorInfo> {
    match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.into()),
        Err(e) => Some(e),
    }
}

impl Drop for NativePublisher {
    fn drop(&mut self) {
        let _ = contain(|| self.bridge.link.close(|| self.publisher.close()));
    }
}

/// Starts `init_publisher`; its messages arrive through `router` under the publisher's
/// `route`. Invalid options give an `ErrorInfo`.
#[napi]
pub fn init_publisher(
    env: Env,
    router: &Router,
    options: Unknown,
) -> Result<Either<NativePublisher, ErrorInfo>> {
    let (mut settings, wants_consent) = match contain(|| settings_from(&options)) {
        Ok(parsed) => match parsed? {
            Ok(parsed) => parsed,
            Err(e) => return Ok(Either::B(e)),
        },
        Err(e) => return Ok(Either::B(e)),
    };
    let bridge = Bridge::new(router, HostLink::for_publisher());
    if wants_consent {
        let bridge = bridge.clone();
        settings.access_request = Some(Arc::new(move |request: &AccessRequest| {
            bridge.ask_consent(request)
        }));
    }
    let on_event = {
        let bridge = bridge.clone();
        Arc::new(move |_: &Publisher, event: PublisherEvent| {
            bridge.send(Message::Publisher(event));
        })
    };
    let mut started = None;
    let outcome = contain(|| {
        bridge.link.call(HostCall::InitPublisher, |call| {
            let bridge = bridge.clone();
            let on_done = Box::new(move |_: &Publisher, outcome: libpublisher::Result<()>| {
                bridge.complete(call, outcome.map(|()| None))
            });
            started = Some(libpublisher::init_publisher(settings, on_event, on_done)?);
            Ok(())
        })
    });
    bridge.sync(&env)?;
    Ok(match (outcome, started) {
        (Ok(Ok(_)), Some(publisher)) => Either::A(NativePublisher { publisher, bridge }),
        (Ok(Err(e)), _) => Either::B(e.into()),
        (Err(e), _) => Either::B(e),
        (Ok(Ok(_)), None) => Either::B(libpublisher::Error::internal("no publisher").into()),
    })
}

// ---------------------------------------------------------------------------------------------
// Logs

type LogArgs = FnArgs<(&'static str, String, String)>;
type LogFn = ThreadsafeFunction<LogRecord, UnknownReturnValue, LogArgs, Status, false, true, 0>;

/// The level named by a JS value; `undefined` is the core's default.
fn level_named(name: &Unknown) -> Result<std::result::Result<LogLevel, ErrorInfo>> {
    let level = match name.get_type()? {
        ValueType::Undefined => Ok(libpublisher::logging::DEFAULT_LOG_LEVEL),
        // SAFETY: checked to be a string.
        ValueType::String => LogLevel::from_name(&unsafe { name.cast::<String>()? }),
        _ => LogLevel::from_name(kind_of(name)?),
    };
    Ok(level.map_err(Into::into))
}

fn install_sink(
    level: LogLevel,
    sink: Option<libpublisher::logging::LogSink>,
) -> Option<ErrorInfo> {
    match contain(|| libpublisher::set_log_sink(level, sink)) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.into()),
        Err(e) => Some(e),
    }
}

/// Routes the library's logs at `level` (default `"info"`) and more severe to `handler(level,
/// target, message)` on the main thread; `null` stops logging. The handler never keeps the
/// process alive.
#[napi(
    ts_args_type = "handler: ((level: string, target: string, message: string) => void) | null, level?: string"
)]
pub fn set_log_handler(handler: Unknown, level: Unknown) -> Result<Option<ErrorInfo>> {
    if matches!(handler.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(install_sink(LogLevel::Off, None));
    }
    if handler.get_type()? != ValueType::Function {
        return Ok(Some(wrong_type("handler", "a function or null", &handler)?));
    }
    let level = match level_named(&level)? {
        Ok(level) => level,
        Err(e) => return Ok(Some(e)),
    };
    // SAFETY: checked to be a function.
    let handler = unsafe { handler.cast::<Function<'_, Unknown<'static>, UnknownReturnValue>>()? };
    let tsfn: LogFn = handler
        .build_threadsafe_function::<LogRecord>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx: ThreadsafeCallContext<LogRecord>| {
            let record = ctx.value;
            Ok((record.level.as_str(), record.target, record.message).into())
        })?;
    let sink = Arc::new(move |record: &LogRecord| {
        tsfn.call(record.clone(), ThreadsafeFunctionCallMode::NonBlocking);
    });
    Ok(install_sink(level, Some(sink)))
}

/// Prints the library's logs on stderr when the environment asks for it (the core reads
/// `LIBPUBLISHER_LOG` and `DEBUG`); returns why the variable was ignored, if it was.
#[napi]
pub fn log_from_env() -> Option<String> {
    let level = match contain(libpublisher::logging::env_log_level) {
        Ok(None) => return None,
        Ok(Some(Ok(level))) => level,
        Ok(Some(Err(ignored))) => return Some(ignored),
        Err(e) => return Some(e.message),
    };
    install_sink(level, Some(libpublisher::logging::stderr_sink())).map(|e| e.message)
}
