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

pub mod session;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use libpublisher::host::{args, Backlog, BacklogTicket};
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

/// The core's `PublisherStats`; counters become JS numbers (exact up to 2^53).
#[napi(object)]
pub struct PublisherStats {
    pub video_frames_captured: f64,
    pub audio_frames_captured: f64,
    pub video_frames_sent: f64,
    pub video_keyframes_sent: f64,
    pub audio_packets_sent: f64,
    pub packets_sent: f64,
    pub bytes_sent: f64,
    pub bitrate_bps: f64,
    pub rtt_ms: f64,
    pub packets_lost: f64,
    pub retransmitted_packets_sent: f64,
    pub retransmitted_bytes_sent: f64,
}

impl From<libpublisher::PublisherStats> for PublisherStats {
    fn from(s: libpublisher::PublisherStats) -> Self {
        PublisherStats {
            video_frames_captured: s.video_frames_captured as f64,
            audio_frames_captured: s.audio_frames_captured as f64,
            video_frames_sent: s.video_frames_sent as f64,
            video_keyframes_sent: s.video_keyframes_sent as f64,
            audio_packets_sent: s.audio_packets_sent as f64,
            packets_sent: s.packets_sent as f64,
            bytes_sent: s.bytes_sent as f64,
            bitrate_bps: s.bitrate_bps as f64,
            rtt_ms: s.rtt_ms,
            packets_lost: s.packets_lost as f64,
            retransmitted_packets_sent: s.retransmitted_packets_sent as f64,
            retransmitted_bytes_sent: s.retransmitted_bytes_sent as f64,
        }
    }
}

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

/// Runs `f`, turning a panic into 2000 INTERNAL_ERROR so that none unwinds into Node.
fn contain<T>(f: impl FnOnce() -> T) -> std::result::Result<T, ErrorInfo> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        libpublisher::Error::internal(format!("the native binding panicked: {detail}")).into()
    })
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
        _ => "an object",
    })
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

/// The error a call still pending completes with when its handle is closed (the core's).
#[napi]
pub fn closed_while_pending(call: String, what: String) -> ErrorInfo {
    libpublisher::host::calls::closed_while_pending(&call, &what).into()
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
    /// A completion: `init_publisher`'s (call 0) or a session call's (the call number JS chose).
    Done {
        call: u32,
        outcome: libpublisher::Result<()>,
    },
    Consent {
        request: AccessRequest,
        slot: Arc<ConsentSlot>,
    },
}

struct Routed {
    bridge: Arc<Bridge>,
    message: Message,
    /// Holds a place in the bridge's backlog of periodic events until delivered.
    _ticket: Option<BacklogTicket>,
}

type RouteArgs = FnArgs<(u32, &'static str, Unknown<'static>, Unknown<'static>)>;
// Weak: the router starts unreferenced; `keep_alive` references it while some handle has work
// pending (see index.js).
type RouteFn = ThreadsafeFunction<Routed, UnknownReturnValue, RouteArgs, Status, false, true, 0>;

struct RouterInner {
    tsfn: Mutex<RouteFn>,
}

impl RouterInner {
    /// False once the environment is gone (the message is then dropped).
    fn send(&self, routed: Routed) -> bool {
        let tsfn = lock(&self.tsfn);
        tsfn.call(routed, ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok
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
            }),
        })
    }

    /// Whether the queue keeps the event loop alive.
    // Deprecated in napi-rs, yet still its only way to (un)ref a live threadsafe function.
    #[allow(deprecated)]
    #[napi]
    pub fn keep_alive(&self, env: Env, on: bool) -> Result<()> {
        let mut tsfn = lock(&self.inner.tsfn);
        if on {
            tsfn.refer(&env)
        } else {
            tsfn.unref(&env)
        }
    }
}

/// The one answer a blocked consent request waits for. The first answer wins; later ones
/// (a late JS reply after `close`) are ignored.
struct ConsentSlot(Mutex<Option<mpsc::SyncSender<bool>>>);

impl ConsentSlot {
    fn answer(&self, allow: bool) {
        if let Some(tx) = lock(&self.0).take() {
            let _ = tx.try_send(allow);
        }
    }
}

/// The link between one handle's library callbacks and the router. `route` names the handle
/// to the JS side; ids come from the binding so that a message can name its handle before the
/// core has returned it.
struct Bridge {
    router: Arc<RouterInner>,
    route: u32,
    /// Set by `close` on the main thread; messages still queued for JS are then dropped.
    closed: AtomicBool,
    /// The consent request the library thread is blocked on, so that `close` can release it.
    consent: Mutex<Option<Arc<ConsentSlot>>>,
    /// Periodic events queued for the main thread and not delivered yet.
    periodic: Arc<Backlog>,
}

impl Bridge {
    fn new(router: &Router) -> Arc<Bridge> {
        static NEXT_ROUTE: AtomicU32 = AtomicU32::new(1); // 0 means "ignore"
        Arc::new(Bridge {
            router: router.inner.clone(),
            route: NEXT_ROUTE.fetch_add(1, Ordering::Relaxed),
            closed: AtomicBool::new(false),
            consent: Mutex::new(None),
            periodic: Arc::default(),
        })
    }

    /// Stops delivery and unblocks a pending consent request (denied), so that the core's
    /// `close`, which waits for the running callback, cannot wait on the JS thread.
    fn shut(&self) {
        let slot = {
            let mut pending = lock(&self.consent);
            self.closed.store(true, Ordering::SeqCst);
            pending.take()
        };
        if let Some(slot) = slot {
            slot.answer(false);
        }
    }
}

/// Queues `message` for the main thread. Periodic events (audio levels) go under the core's
/// overflow policy: dropped while the main thread is a backlog behind.
fn send(bridge: &Arc<Bridge>, message: Message) -> bool {
    let ticket = match &message {
        Message::Publisher(PublisherEvent::AudioLevelUpdated { .. }) => {
            match bridge.periodic.admit("audioLevelUpdated") {
                Some(ticket) => Some(ticket),
                None => return true,
            }
        }
        _ => None,
    };
    bridge.router.send(Routed {
        bridge: bridge.clone(),
        message,
        _ticket: ticket,
    })
}

/// The access-request callback, on the library's callback thread: blocks until the JS
/// function (or `close`) answers.
fn ask_consent(bridge: &Arc<Bridge>, request: &AccessRequest) -> bool {
    let (tx, rx) = mpsc::sync_channel(1);
    let slot = Arc::new(ConsentSlot(Mutex::new(Some(tx))));
    {
        let mut pending = lock(&bridge.consent);
        if bridge.closed.load(Ordering::SeqCst) {
            return false;
        }
        *pending = Some(slot.clone());
    }
    let message = Message::Consent {
        request: request.clone(),
        slot: slot.clone(),
    };
    if !send(bridge, message) {
        slot.answer(false);
    }
    let allowed = rx.recv().unwrap_or(false);
    let mut pending = lock(&bridge.consent);
    if pending.as_ref().is_some_and(|s| Arc::ptr_eq(s, &slot)) {
        *pending = None;
    }
    allowed
}

/// Handed to JS with a consent request; `answer` unblocks the library. A reply object that is
/// collected unanswered denies.
#[napi]
pub struct ConsentReply {
    slot: Arc<ConsentSlot>,
}

#[napi]
impl ConsentReply {
    /// The host's reply, read by the core (only `true` allows).
    #[napi(ts_args_type = "reply: unknown")]
    pub fn answer(&self, reply: Unknown) {
        let value = option_value("accessRequest", &reply)
            .ok()
            .and_then(|v| v.ok());
        self.slot
            .answer(libpublisher::host::consent::allows(value.as_ref()));
    }
}

impl Drop for ConsentReply {
    fn drop(&mut self) {
        self.slot.answer(false);
    }
}

/// Runs on the JS main thread for each message: drops what `close` made obsolete and shapes
/// the arguments of the JS router: `(route, kind, a, b)`.
fn deliver(env: &Env, routed: Routed) -> Result<RouteArgs> {
    let Routed {
        bridge, message, ..
    } = routed;
    if bridge.closed.load(Ordering::SeqCst) {
        if let Message::Consent { slot, .. } = message {
            slot.answer(false);
        }
        return Ok((0, "ignore", js(env, ())?, js(env, ())?).into());
    }
    let route = bridge.route;
    Ok(match message {
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
        Message::Done { call, outcome } => {
            let error = match outcome {
                Ok(()) => js(env, Null)?,
                Err(e) => js(env, ErrorInfo::from(e))?,
            };
            (route, "done", error, js(env, call)?).into()
        }
        Message::Consent { request, slot } => {
            let request = AccessRequestInfo {
                audio: request.audio,
                video: request.video,
            };
            (
                route,
                "consent",
                js(env, request)?,
                js(env, ConsentReply { slot })?,
            )
                .into()
        }
    })
}

/// A JS value as the core's settings take it: arrays become lists and plain objects mappings
/// (for `iceServers`), element by element. Values with no `OptionValue` form (functions,
/// symbols) are refused here, naming the key as the host spelled it.
fn option_value(key: &str, value: &Unknown) -> Result<std::result::Result<OptionValue, ErrorInfo>> {
    option_value_at(key, value, 0)
}

/// How deep lists and mappings may nest in an option (a cycle would otherwise never end).
const MAX_OPTION_DEPTH: usize = 8;

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
        ValueType::Object if depth >= MAX_OPTION_DEPTH => {
            return refuse("nested too deeply".into())
        }
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
            return refuse(format!(
                "expected a string, a number, a boolean, null, an array or an object, got {}",
                kind_of(value)?
            ))
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
        _ => {
            let detail = format!("expected an object, got {}", kind_of(options)?);
            return Ok(Err(libpublisher::Error::invalid_parameter(
                "options", detail,
            )
            .into()));
        }
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
                _ => {
                    let detail = format!("expected a function, got {}", kind_of(&value)?);
                    return Ok(Err(
                        libpublisher::Error::invalid_parameter(key, detail).into()
                    ));
                }
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
    fn shutdown(&self) {
        self.bridge.shut();
        self.publisher.close();
    }
}

#[napi]
impl NativePublisher {
    /// Stops the publisher; when this returns no message for it reaches JS any more.
    #[napi]
    pub fn close(&self) -> Option<ErrorInfo> {
        contain(|| self.shutdown()).err()
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
    /// call. Returns the error, if any.
    #[napi]
    pub fn push_video_frame(
        &self,
        data: Uint8ArraySlice,
        width: f64,
        height: f64,
        format: String,
        timestamp_us: Option<f64>,
    ) -> Option<ErrorInfo> {
        let pushed = || -> libpublisher::Result<()> {
            let frame = VideoFrameRef::packed(
                VideoFormat::from_name(&format)?,
                whole_u32("width", width)?,
                whole_u32("height", height)?,
                &data,
                timestamp(timestamp_us)?,
            )?;
            self.publisher.push_video_frame(&frame)
        };
        failure(contain(pushed))
    }

    /// Pushes interleaved PCM (custom audio source): `samples` are the bytes of int16
    /// (`kind` "i16") or float32 ("f32") samples in the machine's order, borrowed for the call.
    #[napi]
    pub fn push_audio_frame(
        &self,
        samples: Uint8ArraySlice,
        kind: String,
        sample_rate: f64,
        channels: f64,
        timestamp_us: Option<f64>,
    ) -> Option<ErrorInfo> {
        let pushed = || -> libpublisher::Result<()> {
            let samples = match kind.as_str() {
                "f32" => AudioSamples::F32Bytes(&samples),
                _ => AudioSamples::I16Bytes(&samples),
            };
            self.publisher.push_audio_frame(&AudioFrameRef {
                samples,
                sample_rate: whole_u32("sample_rate", sample_rate)?,
                channels: whole_u32("channels", channels)?,
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
        let _ = contain(|| self.shutdown());
    }
}

/// Starts `init_publisher`; its messages arrive through `router` under the publisher's
/// `route`. Invalid options give an `ErrorInfo`.
#[napi]
pub fn init_publisher(
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
    let bridge = Bridge::new(router);
    if wants_consent {
        let bridge = bridge.clone();
        settings.access_request = Some(Arc::new(move |request: &AccessRequest| {
            ask_consent(&bridge, request)
        }));
    }
    let on_event = {
        let bridge = bridge.clone();
        Arc::new(move |_: &Publisher, event: PublisherEvent| {
            send(&bridge, Message::Publisher(event));
        })
    };
    let on_done = {
        let bridge = bridge.clone();
        Box::new(move |_: &Publisher, outcome: libpublisher::Result<()>| {
            send(&bridge, Message::Done { call: 0, outcome });
        })
    };
    Ok(
        match contain(|| libpublisher::init_publisher(settings, on_event, on_done)) {
            Ok(Ok(publisher)) => Either::A(NativePublisher { publisher, bridge }),
            Ok(Err(e)) => Either::B(e.into()),
            Err(e) => Either::B(e),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Logs

type LogArgs = FnArgs<(&'static str, String, String)>;
type LogFn = ThreadsafeFunction<LogRecord, UnknownReturnValue, LogArgs, Status, false, true, 0>;

fn level_named(name: &Unknown) -> Result<std::result::Result<LogLevel, ErrorInfo>> {
    let levels = || (0..=5).filter_map(LogLevel::from_i32);
    if name.get_type()? == ValueType::Undefined {
        return Ok(Ok(libpublisher::logging::DEFAULT_LOG_LEVEL));
    }
    let found = match name.get_type()? {
        // SAFETY: checked to be a string.
        ValueType::String => {
            let name = unsafe { name.cast::<String>()? };
            levels().find(|l| l.as_str() == name.trim().to_ascii_lowercase())
        }
        _ => None,
    };
    Ok(found.ok_or_else(|| {
        let names: Vec<_> = levels().map(|l| format!("{:?}", l.as_str())).collect();
        let detail = format!("expected one of {}", names.join(", "));
        libpublisher::Error::invalid_parameter("level", detail).into()
    }))
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
        let detail = format!("expected a function or null, got {}", kind_of(&handler)?);
        return Ok(Some(
            libpublisher::Error::invalid_parameter("handler", detail).into(),
        ));
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

/// Prints the library's logs at `level` and more severe to stderr, from whichever thread logs,
/// so that they appear even while the JS thread is busy or blocked.
#[napi]
pub fn log_to_stderr(level: Unknown) -> Result<Option<ErrorInfo>> {
    let level = match level_named(&level)? {
        Ok(level) => level,
        Err(e) => return Ok(Some(e)),
    };
    let sink = Arc::new(|record: &LogRecord| {
        eprintln!(
            "libpublisher {:5} {}: {}",
            record.level.as_str().to_ascii_uppercase(),
            record.target,
            record.message
        );
    });
    Ok(install_sink(level, Some(sink)))
}
