//! Publisher settings and handles in C.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use libpublisher::settings::AccessRequestHandler;
use libpublisher::{
    AccessRequest, AudioFrameRef, AudioSamples, Error, OptionValue, Publisher, PublisherEvent,
    PublisherSettings, PublisherStats, VideoFormat, VideoFrameRef,
};

use crate::lp_error;
use crate::registry::Registry;
use crate::util::{
    arg_mut, arg_ref, cstring, free_boxed, guard, set_option, set_str_option, with_error, Options,
    UserData,
};

/// A publisher handle: an id looked up in the library's registry, passed by value. A freed,
/// stale or forged handle gives `LP_ILLEGAL_STATE`; the zero handle gives
/// `LP_INVALID_PARAMETER`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct lp_publisher {
    /// Unique in the process, never reused; 0 is never a valid publisher.
    pub id: u64,
}

/// Publisher settings under construction (opaque): `lp_publisher_settings_new`, the
/// `lp_publisher_settings_set_*` functions, `lp_publisher_settings_free`.
pub struct lp_publisher_settings {
    inner: PublisherSettings,
}

/// What the publisher is about to open, shown to the access-request callback. A member is
/// NULL when that kind of media is not requested.
#[repr(C)]
pub struct lp_access_request {
    /// The camera (or synthetic video) to open, or NULL.
    pub video: *const c_char,
    /// The microphone (or synthetic audio) to open, or NULL.
    pub audio: *const c_char,
}

/// The host's consent: return true to allow, false to deny (→ `LP_USER_MEDIA_ACCESS_DENIED`).
/// Called on the publisher's callback thread.
pub type lp_access_request_cb =
    Option<unsafe extern "C" fn(request: *const lp_access_request, user_data: *mut c_void) -> bool>;

/// Completion of `lp_init_publisher`: `error` is NULL on success.
pub type lp_publisher_done_cb = Option<
    unsafe extern "C" fn(publisher: lp_publisher, error: *const lp_error, user_data: *mut c_void),
>;

/// Completion of `lp_publisher_cycle_video`: `error` is NULL on success, and then `device_id`
/// is the camera's id (NULL on failure); both live until it returns.
pub type lp_publisher_cycle_cb = Option<
    unsafe extern "C" fn(
        publisher: lp_publisher,
        error: *const lp_error,
        device_id: *const c_char,
        user_data: *mut c_void,
    ),
>;

/// Publisher events. Any member may be NULL. All run on the publisher's callback thread, one
/// at a time, with `user_data` from this struct; the library may be called from inside them.
/// Members added later come after `user_data`, so the earlier ones keep their places.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lp_publisher_callbacks {
    /// Consent was given and every source delivered its first frame.
    pub on_access_allowed:
        Option<unsafe extern "C" fn(publisher: lp_publisher, user_data: *mut c_void)>,
    /// Access was denied; the completion follows with the same error.
    pub on_access_denied: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            error: *const lp_error,
            user_data: *mut c_void,
        ),
    >,
    /// The stream is live; `stream_id` is its id on the session.
    pub on_stream_created: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            stream_id: *const c_char,
            user_data: *mut c_void,
        ),
    >,
    /// The stream ended; `reason` is an `LP_REASON_*` value, `reason_name` its name.
    pub on_stream_destroyed: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            reason: i32,
            reason_name: *const c_char,
            user_data: *mut c_void,
        ),
    >,
    /// A source stopped delivering; `kind` is `"audio"` or `"video"`.
    pub on_media_stopped: Option<
        unsafe extern "C" fn(publisher: lp_publisher, kind: *const c_char, user_data: *mut c_void),
    >,
    /// The published audio's level, 0..1, about ten times a second.
    pub on_audio_level_updated:
        Option<unsafe extern "C" fn(publisher: lp_publisher, level: f32, user_data: *mut c_void)>,
    /// Handed back to every callback of this struct.
    pub user_data: *mut c_void,
    /// The size video is sent at changed (stepped down or up to follow the network, or the
    /// source changed size): from `old_width`x`old_height` to `new_width`x`new_height`. Not
    /// called for the first frame's size.
    pub on_video_dimensions_changed: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            old_width: u32,
            old_height: u32,
            new_width: u32,
            new_height: u32,
            user_data: *mut c_void,
        ),
    >,
    /// The path has been too narrow for video for a while: with `audio_fallback`, video stops
    /// if it stays so.
    pub on_video_disable_warning:
        Option<unsafe extern "C" fn(publisher: lp_publisher, user_data: *mut c_void)>,
    /// The path widened again before video stopped.
    pub on_video_disable_warning_lifted:
        Option<unsafe extern "C" fn(publisher: lp_publisher, user_data: *mut c_void)>,
    /// Video stopped and audio goes on; `reason` is an `LP_REASON_*` value
    /// (`LP_REASON_QUALITY`: the audio-only fallback; `LP_REASON_PUBLISH_VIDEO`:
    /// `lp_publisher_publish_video(p, false)`), `reason_name` its name.
    pub on_video_disabled: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            reason: i32,
            reason_name: *const c_char,
            user_data: *mut c_void,
        ),
    >,
    /// Video goes out again; `reason` as for `on_video_disabled`.
    pub on_video_enabled: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            reason: i32,
            reason_name: *const c_char,
            user_data: *mut c_void,
        ),
    >,
    /// Audio is silent: `lp_publisher_publish_audio(p, false)`; `reason` is
    /// `LP_REASON_PUBLISH_AUDIO`, `reason_name` its name.
    pub on_audio_disabled: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            reason: i32,
            reason_name: *const c_char,
            user_data: *mut c_void,
        ),
    >,
    /// Audio goes out again; `reason` as for `on_audio_disabled`.
    pub on_audio_enabled: Option<
        unsafe extern "C" fn(
            publisher: lp_publisher,
            reason: i32,
            reason_name: *const c_char,
            user_data: *mut c_void,
        ),
    >,
}

/// Counters of a publisher: the core's `PublisherStats`, laid out for C (the header names
/// it `lp_publisher_stats`; cbindgen reads its fields and docs from the core).
pub use libpublisher::PublisherStats as lp_publisher_stats;

/// Receives a snapshot: `len` bytes of PNG at `png`, valid until it returns.
pub type lp_snapshot_cb =
    Option<unsafe extern "C" fn(png: *const u8, len: usize, user_data: *mut c_void)>;

/// Receives the stats; `stats` lives until it returns.
pub type lp_publisher_stats_cb =
    Option<unsafe extern "C" fn(stats: *const PublisherStats, user_data: *mut c_void)>;

/// Where a publisher is in its life (`lp_publisher_get_state`); the numbers are the core's
/// `PublisherState::code`.
pub const LP_PUBLISHER_INITIALIZING: i32 = 0;
/// Sources open and delivering.
pub const LP_PUBLISHER_READY: i32 = 1;
/// `lp_init_publisher` failed.
pub const LP_PUBLISHER_FAILED: i32 = 2;
/// Published on a session (or `lp_session_publish` is under way).
pub const LP_PUBLISHER_PUBLISHING: i32 = 3;
/// Closed by `lp_publisher_close`; only `lp_publisher_free` remains to do.
pub const LP_PUBLISHER_CLOSED: i32 = 4;

pub(crate) static PUBLISHERS: Registry<Publisher> = Registry::new("publisher");

pub(crate) fn lookup(handle: lp_publisher) -> libpublisher::Result<Publisher> {
    PUBLISHERS.get(handle.id)
}

impl Options for lp_publisher_settings {
    fn set(&mut self, key: &str, value: OptionValue) -> libpublisher::Result<()> {
        self.inner.set(key, value)
    }
}

/// New settings with the defaults: default camera and microphone, 640x480 at 30 fps, VP8.
/// Free with `lp_publisher_settings_free`.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_new() -> *mut lp_publisher_settings {
    Box::into_raw(Box::new(lp_publisher_settings {
        inner: PublisherSettings::default(),
    }))
}

/// Frees settings; NULL is ignored. Publishers made from them keep their own copy.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_free(settings: *mut lp_publisher_settings) {
    free_boxed(settings)
}

/// The video source: NULL (no video), `"default"`, a device id, `"synthetic"`,
/// `"file:PATH"`, `"custom"`, `"screen"` or `"screen:N"`. Default `"default"`.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_video_source(
    settings: *mut lp_publisher_settings,
    source: *const c_char,
) -> i32 {
    set_str_option(settings, "video_source", source, true)
}

/// The audio source: NULL (no audio), `"default"`, a device id, `"synthetic"`,
/// `"file:PATH"` or `"custom"`. Default `"default"`.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_audio_source(
    settings: *mut lp_publisher_settings,
    source: *const c_char,
) -> i32 {
    set_str_option(settings, "audio_source", source, true)
}

/// The video size, `"WIDTHxHEIGHT"` such as `"1280x720"`, even sides 16..3840. Default
/// `"640x480"`.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_resolution(
    settings: *mut lp_publisher_settings,
    resolution: *const c_char,
) -> i32 {
    set_str_option(settings, "resolution", resolution, false)
}

/// Frames per second, 1..60. Default 30.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_frame_rate(
    settings: *mut lp_publisher_settings,
    frame_rate: i32,
) -> i32 {
    set_option(settings, "frame_rate", OptionValue::Int(frame_rate.into()))
}

/// Whether audio is on at first (default true). Off, the track is still negotiated and sends
/// silence until `lp_publisher_publish_audio(p, true)`.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_publish_audio(
    settings: *mut lp_publisher_settings,
    publish: bool,
) -> i32 {
    set_option(settings, "publish_audio", OptionValue::Bool(publish))
}

/// Whether video is on at first (default true). Off, the track is still negotiated, and the
/// video source opens at `lp_publisher_publish_video(p, true)`.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_publish_video(
    settings: *mut lp_publisher_settings,
    publish: bool,
) -> i32 {
    set_option(settings, "publish_video", OptionValue::Bool(publish))
}

/// The stream's name (NULL clears it).
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_name(
    settings: *mut lp_publisher_settings,
    name: *const c_char,
) -> i32 {
    set_str_option(settings, "name", name, true)
}

/// The preferred video codec, `"VP8"` (default) or `"H264"`.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_video_codec(
    settings: *mut lp_publisher_settings,
    codec: *const c_char,
) -> i32 {
    set_str_option(settings, "video_codec", codec, false)
}

/// How long `lp_init_publisher` waits for each source's first frame, 1..600000 ms. Default
/// 10000.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_init_timeout_ms(
    settings: *mut lp_publisher_settings,
    timeout_ms: i32,
) -> i32 {
    set_option(
        settings,
        "init_timeout_ms",
        OptionValue::Int(timeout_ms.into()),
    )
}

/// What video gives up first when the network carries too little: `"balanced"` (default;
/// size and frame rate in turn), `"maintain-framerate"` (size only) or `"maintain-resolution"`
/// (frame rate only).
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_degradation_preference(
    settings: *mut lp_publisher_settings,
    preference: *const c_char,
) -> i32 {
    set_str_option(settings, "degradation_preference", preference, false)
}

/// The most video may send, in kbit/s, 0..100000; 0 (default) lets the library choose by
/// size and frame rate.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_max_video_bitrate_kbps(
    settings: *mut lp_publisher_settings,
    kbps: i32,
) -> i32 {
    set_option(
        settings,
        "max_video_bitrate_kbps",
        OptionValue::Int(kbps.into()),
    )
}

/// Simulcast: 0 (off, default), 2 layers (full and 1/2 size) or 3 (full, 1/2 and 1/4), each
/// its own encoder and bitrate, sent with rids to a server that takes them (Janus); a server
/// that does not gets the full size alone. When the network narrows, the top layer stops first.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_simulcast(
    settings: *mut lp_publisher_settings,
    layers: i32,
) -> i32 {
    set_option(settings, "simulcast", OptionValue::Int(layers.into()))
}

/// Whether video stops (audio goes on) when the network stays too narrow for video (under
/// ~125 kbit/s for it), and comes back with the network, with the callbacks
/// `on_video_disable_warning`, `on_video_disabled`, `on_video_enabled`. Needs audio. Default
/// true.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_audio_fallback(
    settings: *mut lp_publisher_settings,
    fallback: bool,
) -> i32 {
    set_option(settings, "audio_fallback", OptionValue::Bool(fallback))
}

/// The host's consent callback, asked before any capture source opens; NULL allows access.
#[no_mangle]
pub extern "C" fn lp_publisher_settings_set_access_request(
    settings: *mut lp_publisher_settings,
    cb: lp_access_request_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let settings = arg_mut("settings", settings)?;
        let user_data = UserData(user_data);
        settings.inner.access_request = cb.map(|cb| {
            Arc::new(move |request: &AccessRequest| {
                // As for the other callbacks: the host may look its handle up (`*out` of
                // `lp_init_publisher`, through `user_data`) and free it from in here.
                PUBLISHERS.wait_until_registered();
                let video = request.video.as_deref().map(cstring);
                let audio = request.audio.as_deref().map(cstring);
                let raw = lp_access_request {
                    video: video.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                    audio: audio.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                };
                unsafe { cb(&raw, user_data.get()) }
            }) as AccessRequestHandler
        });
        Ok(())
    })
}

/// Copies the host's event callbacks into a closure the core can call from its thread.
fn event_handler(
    callbacks: Option<&lp_publisher_callbacks>,
) -> libpublisher::publisher::EventHandler {
    PUBLISHERS.event_handler(callbacks, |c, publisher: &Publisher, event| {
        let (handle, ud) = (lp_publisher { id: publisher.id() }, c.user_data);
        // SAFETY: each is the host's callback with its own user data, as the header documents.
        unsafe {
            match event {
                PublisherEvent::AccessAllowed => c.on_access_allowed.map(|f| f(handle, ud)),
                PublisherEvent::AccessDenied { error } => c
                    .on_access_denied
                    .map(|f| with_error(&error, |e| f(handle, e, ud))),
                PublisherEvent::StreamCreated { stream_id } => c
                    .on_stream_created
                    .map(|f| f(handle, cstring(&stream_id).as_ptr(), ud)),
                PublisherEvent::StreamDestroyed { reason } => {
                    let name = crate::codes::reason_name(reason.code());
                    c.on_stream_destroyed
                        .map(|f| f(handle, reason.code(), name, ud))
                }
                PublisherEvent::MediaStopped { kind } => c
                    .on_media_stopped
                    .map(|f| f(handle, cstring(kind.as_str()).as_ptr(), ud)),
                PublisherEvent::AudioLevelUpdated { level } => {
                    c.on_audio_level_updated.map(|f| f(handle, level, ud))
                }
                PublisherEvent::VideoDimensionsChanged {
                    old_width,
                    old_height,
                    new_width,
                    new_height,
                } => c
                    .on_video_dimensions_changed
                    .map(|f| f(handle, old_width, old_height, new_width, new_height, ud)),
                PublisherEvent::VideoDisableWarning => {
                    c.on_video_disable_warning.map(|f| f(handle, ud))
                }
                PublisherEvent::VideoDisableWarningLifted => {
                    c.on_video_disable_warning_lifted.map(|f| f(handle, ud))
                }
                PublisherEvent::VideoDisabled { reason } => {
                    let name = crate::codes::reason_name(reason.code());
                    c.on_video_disabled
                        .map(|f| f(handle, reason.code(), name, ud))
                }
                PublisherEvent::VideoEnabled { reason } => {
                    let name = crate::codes::reason_name(reason.code());
                    c.on_video_enabled
                        .map(|f| f(handle, reason.code(), name, ud))
                }
                PublisherEvent::AudioDisabled { reason } => {
                    let name = crate::codes::reason_name(reason.code());
                    c.on_audio_disabled
                        .map(|f| f(handle, reason.code(), name, ud))
                }
                PublisherEvent::AudioEnabled { reason } => {
                    let name = crate::codes::reason_name(reason.code());
                    c.on_audio_enabled
                        .map(|f| f(handle, reason.code(), name, ud))
                }
            };
        }
    })
}

/// Creates a publisher and starts acquiring its sources (consent → open → first frame),
/// writing its handle to `*out` at once.
///
/// Returns `LP_OK` when the acquisition started: `on_done` then runs exactly once with NULL on
/// success or the error (`LP_USER_MEDIA_ACCESS_DENIED` after `on_access_denied`,
/// `LP_NO_DEVICES_FOUND`, `LP_DEVICE_NOT_FOUND`, ...; `LP_ILLEGAL_STATE` from inside
/// `lp_publisher_close`/`_free` when the publisher is closed first). Any other
/// return value means no publisher was made and no callback will run: `LP_INVALID_PARAMETER`
/// for NULL pointers or settings that cannot work together (see `lp_last_error_message`).
/// `callbacks` is copied and may be NULL.
#[no_mangle]
pub extern "C" fn lp_init_publisher(
    settings: *const lp_publisher_settings,
    callbacks: *const lp_publisher_callbacks,
    on_done: lp_publisher_done_cb,
    user_data: *mut c_void,
    out: *mut lp_publisher,
) -> i32 {
    guard(|| {
        let settings = arg_ref("settings", settings)?;
        let out = arg_mut("out", out)?;
        let on_event = event_handler(unsafe { callbacks.as_ref() });
        let done = publisher_done(on_done, user_data);
        let on_done = Box::new(
            move |publisher: &Publisher, outcome: libpublisher::Result<()>| {
                // The handle is the host's once `out` holds it.
                PUBLISHERS.wait_until_registered();
                done(publisher, outcome)
            },
        );
        let mut registry = PUBLISHERS.lock();
        let publisher = libpublisher::init_publisher(settings.inner.clone(), on_event, on_done)?;
        *out = lp_publisher { id: publisher.id() };
        registry.insert(publisher.id(), publisher);
        Ok(())
    })
}

/// Closes a publisher in any state: its sources stop, a pending `lp_init_publisher`
/// completes with `LP_ILLEGAL_STATE` on this thread, and when this returns none of its
/// callbacks is running or will run (called from inside one of its own callbacks, that one is
/// the last). The handle stays valid (state `LP_PUBLISHER_CLOSED`) until
/// `lp_publisher_free`. Closing twice is harmless.
#[no_mangle]
pub extern "C" fn lp_publisher_close(publisher: lp_publisher) -> i32 {
    guard(|| {
        lookup(publisher)?.close();
        Ok(())
    })
}

/// Closes (as `lp_publisher_close`) and frees a publisher in any state; the handle is invalid
/// afterwards. Freeing twice gives `LP_ILLEGAL_STATE`.
#[no_mangle]
pub extern "C" fn lp_publisher_free(publisher: lp_publisher) -> i32 {
    guard(|| {
        PUBLISHERS.remove(publisher.id)?.close();
        Ok(())
    })
}

/// Calls `cb` once, before returning, with the publisher's counters.
#[no_mangle]
pub extern "C" fn lp_publisher_get_stats(
    publisher: lp_publisher,
    cb: lp_publisher_stats_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let cb = cb.ok_or_else(|| Error::invalid_parameter("cb", "must not be NULL"))?;
        let raw = lookup(publisher)?.stats();
        unsafe { cb(&raw, user_data) };
        Ok(())
    })
}

/// Turns video off (`false`) or on again, before or while publishing. Off, no video goes out
/// but the track stays (no renegotiation); on again, video resumes with a keyframe.
/// `on_video_disabled` / `on_video_enabled` run with `LP_REASON_PUBLISH_VIDEO` when it
/// changes. `LP_ILLEGAL_STATE` for a publisher that failed, was closed or freed, or was
/// created without video.
#[no_mangle]
pub extern "C" fn lp_publisher_publish_video(publisher: lp_publisher, on: bool) -> i32 {
    guard(|| lookup(publisher)?.publish_video(on))
}

/// Turns audio off (`false`: the track sends silence) or on again, as
/// `lp_publisher_publish_video` does for video; `on_audio_disabled` / `on_audio_enabled`
/// run with `LP_REASON_PUBLISH_AUDIO`.
#[no_mangle]
pub extern "C" fn lp_publisher_publish_audio(publisher: lp_publisher, on: bool) -> i32 {
    guard(|| lookup(publisher)?.publish_audio(on))
}

/// A completion for a call on a publisher: `cb(publisher, NULL or the error, user_data)`.
fn publisher_done(
    cb: lp_publisher_done_cb,
    user_data: *mut c_void,
) -> libpublisher::publisher::InitDone {
    let done_data = UserData(user_data);
    Box::new(
        move |publisher: &Publisher, outcome: libpublisher::Result<()>| {
            let handle = lp_publisher { id: publisher.id() };
            if let Some(f) = cb {
                match outcome {
                    Ok(()) => unsafe { f(handle, std::ptr::null(), done_data.get()) },
                    Err(e) => with_error(&e, |raw| unsafe { f(handle, raw, done_data.get()) }),
                }
            }
        },
    )
}

/// Switches the video to `source` (a device id, `"synthetic"`, `"file:PATH"`, `"custom"`,
/// `"screen"`) while ready or publishing: consent is asked where `lp_init_publisher` would ask, the new
/// source opens and delivers its first frame, then replaces the old one on the same track (no
/// renegotiation; the receiver gets a keyframe) and the old one stops. `cb` (may be NULL) runs
/// once, on the publisher's callback thread, with NULL or the error; on failure
/// (`LP_USER_MEDIA_ACCESS_DENIED` after `on_access_denied`, `LP_HARDWARE_UNAVAILABLE`,
/// `LP_DEVICE_NOT_FOUND`, `LP_MEDIA_SOURCE_INVALID`, ...) the old source stays. Returns
/// `LP_INVALID_PARAMETER` for a NULL or unknown source string and `LP_ILLEGAL_STATE` when the
/// publisher is not ready or publishing, has no video or is switching already; then `cb`
/// never runs.
#[no_mangle]
pub extern "C" fn lp_publisher_set_video_source(
    publisher: lp_publisher,
    source: *const c_char,
    cb: lp_publisher_done_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let source = crate::arg_str("source", source)?;
        lookup(publisher)?.set_video_source(source, publisher_done(cb, user_data))
    })
}

/// Switches the audio to `source`, as `lp_publisher_set_video_source` does for video (the
/// audio level follows the new source).
#[no_mangle]
pub extern "C" fn lp_publisher_set_audio_source(
    publisher: lp_publisher,
    source: *const c_char,
    cb: lp_publisher_done_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let source = crate::arg_str("source", source)?;
        lookup(publisher)?.set_audio_source(source, publisher_done(cb, user_data))
    })
}

/// Switches the video to the next camera `lp_get_devices` lists (after the current camera,
/// wrapping round; the first when the video is not a camera), as `lp_publisher_set_video_source`
/// switches. `cb` (may be NULL) runs once, on the publisher's callback thread, with NULL and the
/// camera's device id, or with the error (the old source stays). Returns `LP_NO_DEVICES_FOUND`
/// when no camera is present and `LP_ILLEGAL_STATE` as `lp_publisher_set_video_source` does;
/// then `cb` never runs.
#[no_mangle]
pub extern "C" fn lp_publisher_cycle_video(
    publisher: lp_publisher,
    cb: lp_publisher_cycle_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let done_data = UserData(user_data);
        lookup(publisher)?.cycle_video(Box::new(move |publisher: &Publisher, outcome| {
            let handle = lp_publisher { id: publisher.id() };
            let Some(f) = cb else { return };
            match outcome {
                Ok(device_id) => {
                    let id = crate::util::cstring(&device_id);
                    unsafe { f(handle, std::ptr::null(), id.as_ptr(), done_data.get()) }
                }
                Err(e) => with_error(&e, |raw| unsafe {
                    f(handle, raw, std::ptr::null(), done_data.get())
                }),
            }
        }))
    })
}

/// Sends video at most at `resolution` (`"WxH"`), before or while publishing: a ceiling under
/// the source's size (never larger), under which the network adaptation still steps down;
/// `on_video_dimensions_changed` follows when the sent size changes. `LP_INVALID_PARAMETER`
/// for NULL or a wrong resolution, `LP_ILLEGAL_STATE` for a publisher that failed or was
/// closed or freed.
#[no_mangle]
pub extern "C" fn lp_publisher_set_preferred_resolution(
    publisher: lp_publisher,
    resolution: *const c_char,
) -> i32 {
    guard(|| {
        let resolution = crate::arg_str("resolution", resolution)?;
        lookup(publisher)?.set_preferred_resolution(resolution)
    })
}

/// Sends video at most `frame_rate` frames a second (1..60), as
/// `lp_publisher_set_preferred_resolution` does for the size.
#[no_mangle]
pub extern "C" fn lp_publisher_set_preferred_frame_rate(
    publisher: lp_publisher,
    frame_rate: i32,
) -> i32 {
    guard(|| lookup(publisher)?.set_preferred_frame_rate(frame_rate.into()))
}

/// Calls `cb` once, before returning, with the latest captured video frame as PNG bytes (RGB,
/// at the captured size), for previews and thumbnails; waits up to a second for a first frame.
/// `LP_INVALID_PARAMETER` for a NULL `cb`; `LP_ILLEGAL_STATE` (and no call) when the publisher
/// is not ready or publishing, has no video, or captured no frame yet.
#[no_mangle]
pub extern "C" fn lp_publisher_snapshot(
    publisher: lp_publisher,
    cb: lp_snapshot_cb,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        let cb = cb.ok_or_else(|| Error::invalid_parameter("cb", "must not be NULL"))?;
        let png = lookup(publisher)?.snapshot()?;
        unsafe { cb(png.as_ptr(), png.len(), user_data) };
        Ok(())
    })
}

/// Writes the publisher's state (`LP_PUBLISHER_*`) to `*out`.
#[no_mangle]
pub extern "C" fn lp_publisher_get_state(publisher: lp_publisher, out: *mut i32) -> i32 {
    guard(|| {
        let out = arg_mut("out", out)?;
        *out = lookup(publisher)?.state().code();
        Ok(())
    })
}

/// `lp_video_frame.format`: planar I420, Y then U then V (`data[0..3]`); even sides.
pub const LP_VIDEO_FORMAT_I420: i32 = 0;
/// `lp_video_frame.format`: 8-bit R, G, B, A per pixel in `data[0]`; alpha is ignored.
pub const LP_VIDEO_FORMAT_RGBA: i32 = 1;

/// A video frame the host pushes with `lp_publisher_push_video_frame`; the library reads it
/// during the call only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lp_video_frame {
    /// `LP_VIDEO_FORMAT_I420` or `LP_VIDEO_FORMAT_RGBA`.
    pub format: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// I420: the Y, U and V planes; RGBA: the pixels in `data[0]` (the others are unused and
    /// may be NULL). Plane `i` holds `stride[i]` bytes per row for each of its rows (the
    /// height for Y and RGBA, half of it for U and V).
    pub data: [*const u8; 3],
    /// Bytes per row of each plane, at least a row's width in bytes.
    pub stride: [u32; 3],
    /// Capture time in microseconds on the host's clock. Times that do not advance (such as
    /// always 0) are replaced by the time of the call.
    pub timestamp_us: u64,
}

/// Pushes one video frame to a publisher whose video source is `"custom"`. The frame is
/// converted to I420 at the publisher's resolution (RGBA by BT.601; scaled bilinearly when the
/// size differs) and thinned to its frame rate; push at about the frame rate. Before the
/// publisher is published, frames are dropped except the latest, from which publishing starts.
///
/// `LP_INVALID_PARAMETER` for NULL, an unknown format, zero or odd (I420) sizes, or strides
/// shorter than a row; `LP_ILLEGAL_STATE` for a publisher whose video source is not custom,
/// that failed, or that was freed.
#[no_mangle]
pub extern "C" fn lp_publisher_push_video_frame(
    publisher: lp_publisher,
    frame: *const lp_video_frame,
) -> i32 {
    guard(|| {
        let frame = arg_ref("frame", frame)?;
        let format = VideoFormat::from_code(frame.format)?;
        let strides = frame.stride.map(|s| s as usize);
        // The core says how many bytes each plane has; only then are they read.
        let lengths = format.plane_lengths(frame.width, frame.height, strides)?;
        let mut planes: [&[u8]; 3] = [&[]; 3];
        for (i, plane) in planes.iter_mut().enumerate() {
            if lengths[i] == 0 {
                continue;
            }
            if frame.data[i].is_null() {
                return Err(Error::invalid_parameter(
                    &format!("data[{i}]"),
                    "must not be NULL",
                ));
            }
            // SAFETY: the C API documents that plane `i` holds `stride[i]` x rows bytes.
            *plane = unsafe { std::slice::from_raw_parts(frame.data[i], lengths[i]) };
        }
        lookup(publisher)?.push_video_frame(&VideoFrameRef {
            format,
            width: frame.width,
            height: frame.height,
            planes,
            strides,
            timestamp_us: Some(frame.timestamp_us),
        })
    })
}

/// Interleaved samples from C: checks the pointer and the count before making the slice.
fn pcm_slice<'a, T>(
    samples: *const T,
    samples_per_channel: usize,
    channels: u32,
) -> libpublisher::Result<&'a [T]> {
    if samples.is_null() {
        return Err(Error::invalid_parameter("samples", "must not be NULL"));
    }
    if samples.align_offset(std::mem::align_of::<T>()) != 0 {
        return Err(Error::invalid_parameter("samples", "is not aligned"));
    }
    let count = libpublisher::media::custom::audio_sample_count(samples_per_channel, channels)?;
    // SAFETY: the C API documents that `samples` holds samples_per_channel x channels samples.
    Ok(unsafe { std::slice::from_raw_parts(samples, count) })
}

/// Pushes interleaved 16-bit PCM to a publisher whose audio source is `"custom"`:
/// `samples_per_channel` x `channels` (1 or 2) samples at `sample_rate` (8000..192000 Hz), of
/// any length. It is resampled to 48 kHz and cut into 10 ms frames; push in real time.
/// `timestamp_us` is the first sample's capture time (0: the time of the call). Audio pushed
/// before the publisher is published is dropped.
///
/// `LP_INVALID_PARAMETER` for NULL, no samples, a bad rate or channel count;
/// `LP_ILLEGAL_STATE` for a publisher whose audio source is not custom, that failed, or that
/// was freed.
#[no_mangle]
pub extern "C" fn lp_publisher_push_audio_frame(
    publisher: lp_publisher,
    samples: *const i16,
    samples_per_channel: usize,
    sample_rate: u32,
    channels: u32,
    timestamp_us: u64,
) -> i32 {
    guard(|| {
        let samples = pcm_slice(samples, samples_per_channel, channels)?;
        lookup(publisher)?.push_audio_frame(&AudioFrameRef {
            samples: AudioSamples::I16(samples),
            sample_rate,
            channels,
            timestamp_us: Some(timestamp_us),
        })
    })
}

/// `lp_publisher_push_audio_frame` for float samples, full scale -1.0..1.0 (beyond is
/// clipped).
#[no_mangle]
pub extern "C" fn lp_publisher_push_audio_frame_float(
    publisher: lp_publisher,
    samples: *const f32,
    samples_per_channel: usize,
    sample_rate: u32,
    channels: u32,
    timestamp_us: u64,
) -> i32 {
    guard(|| {
        let samples = pcm_slice(samples, samples_per_channel, channels)?;
        lookup(publisher)?.push_audio_frame(&AudioFrameRef {
            samples: AudioSamples::F32(samples),
            sample_rate,
            channels,
            timestamp_us: Some(timestamp_us),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_format_constants_are_the_cores() {
        for (constant, format) in [
            (LP_VIDEO_FORMAT_I420, VideoFormat::I420),
            (LP_VIDEO_FORMAT_RGBA, VideoFormat::Rgba),
        ] {
            assert_eq!(format.code(), constant);
            assert_eq!(VideoFormat::from_code(constant).unwrap(), format);
        }
    }
}
