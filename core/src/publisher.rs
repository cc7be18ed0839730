//! The publisher: acquires its sources in `init_publisher` (consent → open → first frame),
//! before any network, as the OpenTok troubleshooting guide recommends.
//!
//! State machine: `Initializing` → `Ready` | `Failed`; any state → `Closed` on `close`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::devices::{self, DeviceKind};
use crate::error::{Error, ErrorCode, Reason, Result};
use crate::host::calls::{CallId, Calls};
use crate::host::delivery::Dispatcher;
use crate::media::custom::{self, AudioFrameRef, VideoFrameRef};
use crate::media::feed::Feed;
use crate::media::level::LevelMeter;
use crate::media::preference::VideoPreference;
use crate::media::{self, AudioFrame, FrameQueue, MediaKind, Source, SourceStatus, VideoFrame};
use crate::runtime::runtime;
use crate::session::{Stream, StreamStats};
use crate::settings::{AccessRequest, PublisherSettings, SourceSpec};
pub use crate::stats::PublisherStats;

/// Something that happened to a publisher, delivered to its event handler.
#[derive(Debug, Clone, PartialEq)]
pub enum PublisherEvent {
    /// Consent was given and every source delivered its first frame.
    AccessAllowed,
    /// The host (or the OS) denied access; `init_publisher` then fails with this error (1500).
    AccessDenied {
        /// The 1500 error, its message beginning `Publisher Access Denied:`.
        error: Error,
    },
    /// The stream is live on the session.
    StreamCreated {
        /// The stream's id on the session.
        stream_id: String,
    },
    /// The stream ended.
    StreamDestroyed {
        /// Why.
        reason: Reason,
    },
    /// A source stopped delivering while the publisher was alive.
    MediaStopped {
        /// Which source stopped.
        kind: MediaKind,
    },
    /// The level of the published audio, about ten times a second.
    AudioLevelUpdated {
        /// 0..1.
        level: f32,
    },
    /// The size video is sent at changed (the encoder stepped it down or up to follow the
    /// path, or the source changed size); not emitted for the first frame's size.
    VideoDimensionsChanged {
        /// The width video was sent at.
        old_width: u32,
        /// The height video was sent at.
        old_height: u32,
        /// The width video is sent at now.
        new_width: u32,
        /// The height video is sent at now.
        new_height: u32,
    },
    /// The path has been too narrow for video for a while: with `audio_fallback`, video
    /// stops if it stays so (OpenTok's `videoDisableWarning`).
    VideoDisableWarning,
    /// The path widened again before video stopped.
    VideoDisableWarningLifted,
    /// Video stopped; audio goes on.
    VideoDisabled {
        /// [`Reason::Quality`]: the audio-only fallback.
        reason: Reason,
    },
    /// Video goes out again.
    VideoEnabled {
        /// [`Reason::Quality`]: the path is wide enough again; [`Reason::PublishVideo`]: the
        /// host turned it on.
        reason: Reason,
    },
    /// Audio is silent: [`Reason::PublishAudio`], the host turned it off.
    AudioDisabled {
        /// [`Reason::PublishAudio`].
        reason: Reason,
    },
    /// Audio goes out again: [`Reason::PublishAudio`], the host turned it on.
    AudioEnabled {
        /// [`Reason::PublishAudio`].
        reason: Reason,
    },
}

impl PublisherEvent {
    /// The event's name as OpenTok and the Node binding spell it: `"accessAllowed"`.
    pub fn name(&self) -> &'static str {
        match self {
            PublisherEvent::AccessAllowed => "accessAllowed",
            PublisherEvent::AccessDenied { .. } => "accessDenied",
            PublisherEvent::StreamCreated { .. } => "streamCreated",
            PublisherEvent::StreamDestroyed { .. } => "streamDestroyed",
            PublisherEvent::MediaStopped { .. } => "mediaStopped",
            PublisherEvent::AudioLevelUpdated { .. } => "audioLevelUpdated",
            PublisherEvent::VideoDimensionsChanged { .. } => "videoDimensionsChanged",
            PublisherEvent::VideoDisableWarning => "videoDisableWarning",
            PublisherEvent::VideoDisableWarningLifted => "videoDisableWarningLifted",
            PublisherEvent::VideoDisabled { .. } => "videoDisabled",
            PublisherEvent::VideoEnabled { .. } => "videoEnabled",
            PublisherEvent::AudioDisabled { .. } => "audioDisabled",
            PublisherEvent::AudioEnabled { .. } => "audioEnabled",
        }
    }

    /// Whether it is periodic (audio levels): dropped, counted and logged when the host falls
    /// behind (see [`crate::host::delivery`]); every other event is delivered.
    pub fn is_periodic(&self) -> bool {
        matches!(self, PublisherEvent::AudioLevelUpdated { .. })
    }
}

/// Every publisher event name, camelCase, for bindings that validate `.on(name)`; the one
/// list of them (Python's snake_case names are derived from it).
pub const PUBLISHER_EVENT_NAMES: &[&str] = &[
    "accessAllowed",
    "accessDenied",
    "streamCreated",
    "streamDestroyed",
    "mediaStopped",
    "audioLevelUpdated",
    "videoDimensionsChanged",
    "videoDisableWarning",
    "videoDisableWarningLifted",
    "videoDisabled",
    "videoEnabled",
    "audioDisabled",
    "audioEnabled",
];

/// Where a publisher is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublisherState {
    /// `init_publisher` is acquiring the sources.
    Initializing,
    /// Sources are open and delivering; the publisher can be published.
    Ready,
    /// Published on a session (or `publish` is under way).
    Publishing,
    /// `init_publisher` failed; the publisher can only be closed.
    Failed,
    /// Closed by the host; nothing more happens.
    Closed,
}

impl PublisherState {
    /// Every state, in the order of their codes.
    pub const ALL: [PublisherState; 5] = [
        PublisherState::Initializing,
        PublisherState::Ready,
        PublisherState::Failed,
        PublisherState::Publishing,
        PublisherState::Closed,
    ];

    /// The stable number of the state (the C API's `LP_PUBLISHER_*`).
    pub fn code(self) -> i32 {
        match self {
            PublisherState::Initializing => 0,
            PublisherState::Ready => 1,
            PublisherState::Failed => 2,
            PublisherState::Publishing => 3,
            PublisherState::Closed => 4,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PublisherState::Initializing => "initializing",
            PublisherState::Ready => "ready",
            PublisherState::Publishing => "publishing",
            PublisherState::Failed => "failed",
            PublisherState::Closed => "closed",
        }
    }
}

/// How many frames a stream's encoder may be behind its source before the oldest is dropped.
const VIDEO_FEED_FRAMES: usize = 2;
const AUDIO_FEED_FRAMES: usize = 10;

/// The host's event handler.
pub type EventHandler = Arc<dyn Fn(&Publisher, PublisherEvent) + Send + Sync>;
/// The host's completion callback for `init_publisher`.
pub type InitDone = Box<dyn FnOnce(&Publisher, Result<()>) + Send>;

/// Completion of [`Publisher::cycle_video`]: the camera switched to (its device id), or why
/// the switch failed.
pub type CycleDone = Box<dyn FnOnce(&Publisher, Result<String>) + Send>;

struct Lifecycle {
    state: PublisherState,
    stream: Option<Arc<Stream>>,
    /// The final counters of the stream that ended last (until the next publish), so that
    /// the stats read after `streamDestroyed` say what that stream sent.
    ended_stream: Option<StreamStats>,
    video: Option<Arc<Source<VideoFrame>>>,
    audio: Option<Arc<Source<AudioFrame>>>,
    init_task: Option<tokio::task::AbortHandle>,
    /// Reports `audioLevelUpdated` while there is audio.
    level_meter: Option<LevelMeter>,
    /// Notices a source that stops (`mediaStopped`).
    source_watch: Option<tokio::task::AbortHandle>,
    /// Frames captured by video sources released before the current one.
    video_frames_before: u64,
    /// The sources published now (the settings' until a switch).
    video_spec: Option<SourceSpec>,
    audio_spec: Option<SourceSpec>,
    /// A `set_video_source` / `set_audio_source` under way.
    switching: bool,
    /// The latest video frame, for `snapshot`, and the feed's queue that brings it (from the
    /// first snapshot on: a custom source hands a new subscriber its latest frame).
    snapshots: Option<Arc<FrameQueue<VideoFrame>>>,
    last_frame: Option<VideoFrame>,
}

struct Inner {
    id: u64,
    settings: PublisherSettings,
    lifecycle: Mutex<Lifecycle>,
    dispatcher: Dispatcher,
    on_event: EventHandler,
    calls: Calls<Publisher>,
    /// Whether the host wants video / audio sent (`publish_video`, `publish_audio`); the
    /// encoders read them frame by frame.
    video_on: Arc<AtomicBool>,
    audio_on: Arc<AtomicBool>,
    /// The host's preferred size and rate for video, read by the encoder.
    video_preference: Arc<VideoPreference>,
    /// What the encoders read, from whichever source is open now.
    video_feed: Feed<VideoFrame>,
    audio_feed: Feed<AudioFrame>,
    /// True once closed: a publish in flight ends at once.
    closed: tokio::sync::watch::Sender<bool>,
}

/// A publisher: a cheap, clonable handle; every clone is the same publisher.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("id", &self.inner.id)
            .field("state", &self.state())
            .finish()
    }
}

/// Starts acquiring the sources `settings` name and returns the publisher at once.
///
/// Invalid settings fail here, synchronously, with 1011 and no callback. Otherwise `on_done`
/// runs exactly once with the outcome: 1500 after an `accessDenied` event, 1580/1581/1582 for
/// device trouble, success after `accessAllowed`, or 1015 when the publisher is closed first.
pub fn init_publisher(
    settings: PublisherSettings,
    on_event: EventHandler,
    on_done: InitDone,
) -> Result<Publisher> {
    settings.wanted_sources()?;
    let (video_on, audio_on) = (settings.publish_video, settings.publish_audio);
    let (video_spec, audio_spec) = (settings.video_source.clone(), settings.audio_source.clone());
    let id = crate::runtime::next_id();
    let publisher = Publisher {
        inner: Arc::new(Inner {
            id,
            settings,
            lifecycle: Mutex::new(Lifecycle {
                state: PublisherState::Initializing,
                stream: None,
                ended_stream: None,
                video: None,
                audio: None,
                init_task: None,
                level_meter: None,
                source_watch: None,
                video_frames_before: 0,
                video_spec,
                audio_spec,
                switching: false,
                snapshots: None,
                last_frame: None,
            }),
            dispatcher: Dispatcher::new(&format!("lp-pub-{id}")),
            on_event,
            calls: Calls::new("publisher"),
            video_on: Arc::new(AtomicBool::new(video_on)),
            audio_on: Arc::new(AtomicBool::new(audio_on)),
            video_preference: Arc::default(),
            video_feed: Feed::default(),
            audio_feed: Feed::default(),
            closed: tokio::sync::watch::channel(false).0,
        }),
    };
    let call = publisher.inner.calls.start("init_publisher", on_done)?;
    let task = {
        let publisher = publisher.clone();
        runtime().spawn(async move {
            let outcome = publisher.acquire().await;
            publisher.finish_init(outcome, call);
        })
    };
    let mut lifecycle = publisher.lifecycle();
    if lifecycle.state == PublisherState::Initializing {
        lifecycle.init_task = Some(task.abort_handle());
    }
    drop(lifecycle);
    Ok(publisher)
}

impl Publisher {
    /// The publisher's id, unique in the process and never reused.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The settings it was created with.
    pub fn settings(&self) -> &PublisherSettings {
        &self.inner.settings
    }

    /// Where it is in its life.
    pub fn state(&self) -> PublisherState {
        self.lifecycle().state
    }

    /// Current counters.
    pub fn stats(&self) -> PublisherStats {
        let lifecycle = self.lifecycle();
        let mut stats = PublisherStats {
            video_frames_captured: lifecycle.video_frames_before
                + lifecycle.video.as_ref().map_or(0, |s| s.frames()),
            audio_frames_captured: lifecycle.audio.as_ref().map_or(0, |s| s.frames()),
            ..Default::default()
        };
        let sent = match &lifecycle.stream {
            Some(stream) => Some(stream.stats()),
            None => lifecycle.ended_stream,
        };
        if let Some(s) = sent {
            stats.video_frames_sent = s.video_frames_sent;
            stats.video_keyframes_sent = s.video_keyframes_sent;
            stats.audio_packets_sent = s.audio_packets_sent;
            stats.packets_sent = s.transport.packets_sent;
            stats.bytes_sent = s.transport.bytes_sent;
            stats.bitrate_bps = s.bitrate_bps;
            stats.rtt_ms = s.transport.rtt_ms;
            stats.packets_lost = s.transport.packets_lost;
            stats.retransmitted_packets_sent = s.transport.retransmitted_packets_sent;
            stats.retransmitted_bytes_sent = s.transport.retransmitted_bytes_sent;
            stats.target_bitrate_bps = s.target_bitrate_bps;
            stats.available_outgoing_bitrate_bps = s.available_outgoing_bitrate_bps;
            stats.frame_width = s.sent_video.width;
            stats.frame_height = s.sent_video.height;
            stats.frames_per_second = s.sent_video.frames_per_second;
            stats.quality_limitation_reason = s.sent_video.limitation;
        }
        stats
    }

    /// Whether the host wants video and audio sent now, shared with the encoders.
    pub(crate) fn media_on(&self) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
        (self.inner.video_on.clone(), self.inner.audio_on.clone())
    }

    /// The host's preferred size and rate, for the stream's encoder.
    pub(crate) fn video_preference(&self) -> Arc<VideoPreference> {
        self.inner.video_preference.clone()
    }

    /// Sends video at most at `resolution` (`"WxH"`), before or while publishing: a ceiling
    /// under the source's size (it never scales up), under which the network adaptation
    /// still steps down. The sent size changes at the next frame, with a keyframe and
    /// `videoDimensionsChanged`. 1011 for a resolution that is not one (as the setting's),
    /// 1015 when the publisher failed or is closed.
    pub fn set_preferred_resolution(&self, resolution: &str) -> Result<()> {
        let size: crate::settings::Resolution = resolution
            .parse()
            .map_err(|e| Error::invalid_parameter("resolution", e))?;
        refuse_when_ended(self.state(), "set_preferred_resolution")?;
        self.inner.video_preference.set_size(size);
        Ok(())
    }

    /// Sends video at most `frame_rate` frames a second (1..=60), as
    /// [`Publisher::set_preferred_resolution`] does for the size.
    pub fn set_preferred_frame_rate(&self, frame_rate: i64) -> Result<()> {
        let max = i64::from(crate::settings::MAX_FRAME_RATE);
        if !(1..=max).contains(&frame_rate) {
            return Err(Error::invalid_parameter(
                "frame_rate",
                format!("must be between 1 and {max}, got {frame_rate}"),
            ));
        }
        refuse_when_ended(self.state(), "set_preferred_frame_rate")?;
        self.inner.video_preference.set_fps(frame_rate as u32);
        Ok(())
    }

    /// The latest captured video frame as PNG bytes, at the size it was captured (OpenTok's
    /// `getImgData`), for previews and thumbnails. Waits up to a second for a first frame.
    /// 1015 ILLEGAL_STATE when the publisher is not ready or publishing, has no video, or has
    /// captured no frame (video off from the start, a custom source not fed yet).
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        let queue = {
            let mut lifecycle = self.lifecycle();
            refuse_unless_live(lifecycle.state, "snapshot")?;
            if !self.kinds().0 {
                return Err(no_source("snapshot", MediaKind::Video));
            }
            let video = lifecycle.video.clone();
            lifecycle
                .snapshots
                .get_or_insert_with(|| self.inner.video_feed.subscribe(video.as_deref(), 1))
                .clone()
        };
        let mut newest = None;
        while let Ok(frame) = queue.pop(std::time::Duration::ZERO) {
            newest = Some(frame);
        }
        let frame = {
            let mut lifecycle = self.lifecycle();
            if let Some(frame) = newest {
                lifecycle.last_frame = Some(frame);
            }
            lifecycle.last_frame.clone()
        };
        let frame = match frame {
            Some(frame) => frame,
            None => {
                let first = queue
                    .pop(std::time::Duration::from_secs(1))
                    .map_err(|_| Error::illegal_state("snapshot: no video frame captured yet"))?;
                self.lifecycle().last_frame = Some(first.clone());
                first
            }
        };
        media::snapshot::png_of(&frame)
    }

    /// Switches the video to `source` (any source string: a device id, `"synthetic"`,
    /// `"file:PATH"`, `"custom"`, `"screen"`) while ready or publishing, as OpenTok's `setVideoSource`:
    /// consent is asked where `init_publisher` would ask, the new source opens and delivers
    /// its first frame, then takes the old one's place on the same track (no renegotiation;
    /// the receiver gets a keyframe, and `videoDimensionsChanged` when the size changes), and
    /// the old one stops. `done` runs once with the outcome; on failure (1500 after
    /// `accessDenied`, 1580, 1582, 1584, ...) the old source stays. With video off, the new
    /// source is checked the same way, then released until video is turned on.
    ///
    /// Fails at once with 1011 for a source string that is not one, 1015 when the publisher
    /// is not ready or publishing, has no video, or is switching already.
    pub fn set_video_source(&self, source: &str, done: InitDone) -> Result<()> {
        self.switch_source(MediaKind::Video, source, done)
    }

    /// Switches the audio to `source`, as [`Publisher::set_video_source`] does for video;
    /// the audio level follows the new source.
    pub fn set_audio_source(&self, source: &str, done: InitDone) -> Result<()> {
        self.switch_source(MediaKind::Audio, source, done)
    }

    /// Switches the video to the next camera `get_devices()` lists, as OpenTok's `cycleVideo`:
    /// the one after the current camera (wrapping round), or the first when the video is not
    /// a camera (synthetic, a file, a screen, host-pushed). The switch is
    /// [`Publisher::set_video_source`]'s, and `done` gets the camera's device id. Fails at once
    /// with 1581 when no camera is present, and as `set_video_source` does otherwise.
    pub fn cycle_video(&self, done: CycleDone) -> Result<()> {
        let current = {
            let lifecycle = self.lifecycle();
            refuse_unless_live(lifecycle.state, "cycle_video")?;
            lifecycle
                .video_spec
                .clone()
                .ok_or_else(|| no_source("cycle_video", MediaKind::Video))?
        };
        let cameras = devices::devices_of(DeviceKind::VideoInput);
        let at = match &current {
            SourceSpec::Default => Some(0),
            SourceSpec::Device(id) => cameras.iter().position(|c| &c.device_id == id),
            _ => None,
        };
        let next = match at {
            Some(i) => cameras.get((i + 1) % cameras.len().max(1)),
            None => cameras.first(),
        };
        let Some(next) = next else {
            return Err(Error::new(
                ErrorCode::NoDevicesFound,
                "cycle_video: no camera is present",
            ));
        };
        let id = next.device_id.clone();
        self.set_video_source(
            &next.device_id,
            Box::new(move |publisher, outcome| done(publisher, outcome.map(|()| id))),
        )
    }

    fn switch_source(&self, kind: MediaKind, source: &str, done: InitDone) -> Result<()> {
        let call = match kind {
            MediaKind::Video => "set_video_source",
            MediaKind::Audio => "set_audio_source",
        };
        let spec: SourceSpec = source
            .parse()
            .map_err(|e| Error::invalid_parameter("source", e))?;
        if kind == MediaKind::Audio && matches!(spec, SourceSpec::Screen(_)) {
            return Err(Error::invalid_parameter(
                "source",
                "a screen is a video source (use set_video_source)",
            ));
        }
        {
            let mut lifecycle = self.lifecycle();
            refuse_unless_live(lifecycle.state, call)?;
            let current = match kind {
                MediaKind::Video => &lifecycle.video_spec,
                MediaKind::Audio => &lifecycle.audio_spec,
            };
            if current.is_none() {
                return Err(no_source(call, kind));
            }
            if lifecycle.switching {
                return Err(Error::illegal_state(format!(
                    "{call}: a switch of source is under way"
                )));
            }
            lifecycle.switching = true;
        }
        let id = match self.inner.calls.start(call, done) {
            Ok(id) => id,
            Err(e) => {
                self.lifecycle().switching = false;
                return Err(e);
            }
        };
        let publisher = self.clone();
        runtime().spawn(async move {
            let outcome = publisher.switch_to(kind, spec).await;
            publisher.lifecycle().switching = false;
            if let Err(e) = &outcome {
                tracing::info!(
                    publisher = publisher.inner.id,
                    code = e.code(),
                    "{call} failed: {}",
                    e.message
                );
            }
            publisher.complete_call(id, outcome);
        });
        Ok(())
    }

    /// Consent → open → first frame → swap, for `set_video_source` / `set_audio_source`.
    async fn switch_to(&self, kind: MediaKind, spec: SourceSpec) -> Result<()> {
        let settings = &self.inner.settings;
        let device_kind = match kind {
            MediaKind::Video => DeviceKind::VideoInput,
            MediaKind::Audio => DeviceKind::AudioInput,
        };
        let device = devices::resolve(device_kind, &spec).map_err(|e| self.os_denial(e))?;
        if spec.needs_consent() {
            let label = device
                .as_ref()
                .map_or_else(|| spec.to_string(), |d| d.label.clone());
            let request = match kind {
                MediaKind::Video => AccessRequest {
                    video: Some(label),
                    audio: None,
                },
                MediaKind::Audio => AccessRequest {
                    video: None,
                    audio: Some(label),
                },
            };
            if !self.ask_consent(request).await? {
                let error = Error::new(
                    ErrorCode::UserMediaAccessDenied,
                    format!(
                        "Publisher Access Denied: the host denied access to the {}",
                        match kind {
                            MediaKind::Video => "camera",
                            MediaKind::Audio => "microphone",
                        }
                    ),
                );
                self.emit(PublisherEvent::AccessDenied {
                    error: error.clone(),
                });
                return Err(error);
            }
        }
        // A host-pushed source has no frame until the host pushes one.
        let wait = (spec != SourceSpec::Custom).then_some(settings.init_timeout);
        match kind {
            MediaKind::Video => {
                let source = media::open_video(
                    &spec,
                    device.as_ref(),
                    settings.resolution,
                    settings.frame_rate,
                )
                .map_err(|e| self.os_denial(e))?;
                self.swap_video(spec, delivering(source, wait).await?)
            }
            MediaKind::Audio => {
                let source =
                    media::open_audio(&spec, device.as_ref()).map_err(|e| self.os_denial(e))?;
                self.swap_audio(spec, delivering(source, wait).await?)
            }
        }
    }

    /// Puts `source` in the old video source's place (or, with video off, only records it).
    fn swap_video(&self, spec: SourceSpec, source: Arc<Source<VideoFrame>>) -> Result<()> {
        let (old, stream) = {
            let mut lifecycle = self.lifecycle();
            if !is_live(lifecycle.state) {
                drop(lifecycle);
                source.stop();
                return Err(Error::illegal_state(
                    "set_video_source: the publisher was closed",
                ));
            }
            let off = !self.inner.video_on.load(Ordering::Acquire) && spec != SourceSpec::Custom;
            lifecycle.video_spec = Some(spec);
            let old = lifecycle.video.take();
            if let Some(old) = &old {
                lifecycle.video_frames_before += old.frames();
            }
            if off {
                // Checked, and released until video is turned on.
                self.inner.video_feed.switch(old.as_deref(), None);
                drop(lifecycle);
                source.stop();
                old.iter().for_each(|s| s.stop());
                return Ok(());
            }
            self.inner.video_feed.switch(old.as_deref(), Some(&source));
            lifecycle.video = Some(source);
            self.rewatch(&mut lifecycle);
            (old, lifecycle.stream.clone())
        };
        if let Some(stream) = stream {
            stream.request_video_keyframe();
        }
        if let Some(old) = old {
            old.stop();
        }
        tracing::debug!(publisher = self.inner.id, "video source switched");
        Ok(())
    }

    /// Puts `source` in the old audio source's place; the audio level follows it.
    fn swap_audio(&self, spec: SourceSpec, source: Arc<Source<AudioFrame>>) -> Result<()> {
        let (old, meter) = {
            let mut lifecycle = self.lifecycle();
            if !is_live(lifecycle.state) {
                drop(lifecycle);
                source.stop();
                return Err(Error::illegal_state(
                    "set_audio_source: the publisher was closed",
                ));
            }
            lifecycle.audio_spec = Some(spec);
            let old = lifecycle.audio.take();
            self.inner.audio_feed.switch(old.as_deref(), Some(&source));
            let meter = lifecycle.level_meter.take();
            lifecycle.level_meter = self.start_level_meter(Some(&source));
            lifecycle.audio = Some(source);
            self.rewatch(&mut lifecycle);
            (old, meter)
        };
        drop(meter);
        if let Some(old) = old {
            old.stop();
        }
        tracing::debug!(publisher = self.inner.id, "audio source switched");
        Ok(())
    }

    /// Whether it publishes video and audio: what its stream offers, whether or not a source
    /// is open now.
    pub(crate) fn kinds(&self) -> (bool, bool) {
        let s = &self.inner.settings;
        (s.video_source.is_some(), s.audio_source.is_some())
    }

    /// A queue of the video frames of whichever source is open, now and after a switch, for
    /// the stream's encoder (which closes it when it stops).
    pub(crate) fn video_feed(&self) -> Arc<FrameQueue<VideoFrame>> {
        let lifecycle = self.lifecycle();
        self.inner
            .video_feed
            .subscribe(lifecycle.video.as_deref(), VIDEO_FEED_FRAMES)
    }

    /// As [`Publisher::video_feed`], for audio.
    pub(crate) fn audio_feed(&self) -> Arc<FrameQueue<AudioFrame>> {
        let lifecycle = self.lifecycle();
        self.inner
            .audio_feed
            .subscribe(lifecycle.audio.as_deref(), AUDIO_FEED_FRAMES)
    }

    /// Turns video off or on (OpenTok's `publishVideo`), before or while publishing. Off,
    /// no video goes out and the source is released (a camera's light goes off; a `custom`
    /// source stays, its frames dropped); the track stays, so receivers keep it and no
    /// renegotiation is needed. On again, the source opens again (no consent is asked: it
    /// was given) and video resumes with a keyframe; a source that cannot open gives its
    /// error (1580, 1582, ...) and video stays off. Emits `videoDisabled` / `videoEnabled`
    /// with reason `publishVideo` when it changes. 1015 ILLEGAL_STATE when the publisher
    /// failed or is closed, or has no video (created with `publish_video` false). While
    /// `init_publisher` is under way, the source is opened anyway and only what is sent
    /// follows.
    pub fn publish_video(&self, on: bool) -> Result<()> {
        if on {
            self.reopen_video()?;
        }
        self.turn(MediaKind::Video, on)?;
        if !on {
            self.release_video();
        }
        Ok(())
    }

    /// Video was turned off: its source, unless the host feeds it, stops.
    fn release_video(&self) {
        let released = {
            let mut lifecycle = self.lifecycle();
            let releasable = is_live(lifecycle.state)
                && lifecycle.video_spec != Some(SourceSpec::Custom)
                && !self.inner.video_on.load(Ordering::Acquire);
            if !releasable {
                return;
            }
            let Some(source) = lifecycle.video.take() else {
                return;
            };
            self.inner.video_feed.switch(Some(&source), None);
            lifecycle.video_frames_before += source.frames();
            self.rewatch(&mut lifecycle);
            source
        };
        released.stop();
        tracing::debug!(publisher = self.inner.id, "video source released");
    }

    /// Video is to be turned on: its source opens again if it was released.
    fn reopen_video(&self) -> Result<()> {
        let settings = &self.inner.settings;
        let spec = {
            let lifecycle = self.lifecycle();
            let Some(spec) = lifecycle.video_spec.clone() else {
                return Ok(()); // `turn` says why not
            };
            let released = is_live(lifecycle.state) && lifecycle.video.is_none();
            if !released {
                return Ok(());
            }
            spec
        };
        let device = devices::resolve(DeviceKind::VideoInput, &spec)?;
        let source = Arc::new(media::open_video(
            &spec,
            device.as_ref(),
            settings.resolution,
            settings.frame_rate,
        )?);
        let mut lifecycle = self.lifecycle();
        let still_released = is_live(lifecycle.state) && lifecycle.video.is_none();
        if !still_released {
            drop(lifecycle);
            source.stop();
            return Ok(());
        }
        self.inner.video_feed.switch(None, Some(&source));
        lifecycle.video = Some(source);
        self.rewatch(&mut lifecycle);
        tracing::debug!(publisher = self.inner.id, "video source open again");
        Ok(())
    }

    /// Watches the sources open now for one that stops (after a source was released or
    /// opened again).
    fn rewatch(&self, lifecycle: &mut Lifecycle) {
        if let Some(watch) = lifecycle.source_watch.take() {
            watch.abort();
            lifecycle.source_watch = Some(self.watch_sources(lifecycle));
        }
    }

    /// Turns audio off or on (OpenTok's `publishAudio`), before or while publishing. Off, the
    /// track sends silence, so receivers keep their timing; emits `audioDisabled` /
    /// `audioEnabled` with reason `publishAudio` when it changes. Fails as
    /// [`Publisher::publish_video`] does.
    pub fn publish_audio(&self, on: bool) -> Result<()> {
        self.turn(MediaKind::Audio, on)
    }

    fn turn(&self, kind: MediaKind, on: bool) -> Result<()> {
        let call = match kind {
            MediaKind::Video => "publish_video",
            MediaKind::Audio => "publish_audio",
        };
        let lifecycle = self.lifecycle();
        refuse_when_ended(lifecycle.state, call)?;
        let (video, audio) = self.kinds();
        let (flag, has_source) = match kind {
            MediaKind::Video => (&self.inner.video_on, video),
            MediaKind::Audio => (&self.inner.audio_on, audio),
        };
        if !has_source {
            return Err(no_source(call, kind));
        }
        if flag.swap(on, Ordering::AcqRel) != on {
            tracing::debug!(publisher = self.inner.id, "{call}({on})");
            self.emit(match (kind, on) {
                (MediaKind::Video, true) => PublisherEvent::VideoEnabled {
                    reason: Reason::PublishVideo,
                },
                (MediaKind::Video, false) => PublisherEvent::VideoDisabled {
                    reason: Reason::PublishVideo,
                },
                (MediaKind::Audio, true) => PublisherEvent::AudioEnabled {
                    reason: Reason::PublishAudio,
                },
                (MediaKind::Audio, false) => PublisherEvent::AudioDisabled {
                    reason: Reason::PublishAudio,
                },
            });
        }
        drop(lifecycle);
        Ok(())
    }

    /// Reserves the publisher for a `publish`: only a ready publisher can be published.
    pub(crate) fn begin_publish(&self) -> Result<()> {
        let mut lifecycle = self.lifecycle();
        match lifecycle.state {
            PublisherState::Ready => {
                if let Some(kind) = stopped_source(&lifecycle) {
                    return Err(Error::illegal_state(format!(
                        "publish: the {} source stopped (mediaStopped); init a new publisher",
                        kind.as_str()
                    )));
                }
                lifecycle.state = PublisherState::Publishing;
                lifecycle.ended_stream = None;
                Ok(())
            }
            PublisherState::Publishing => Err(Error::illegal_state(
                "publish: the publisher is already published",
            )),
            PublisherState::Initializing => Err(Error::illegal_state(
                "publish: init_publisher has not completed yet",
            )),
            PublisherState::Failed => Err(Error::illegal_state("publish: init_publisher failed")),
            PublisherState::Closed => Err(Error::illegal_state("publish: the publisher is closed")),
        }
    }

    /// Binds the stream that publishes this publisher; false if it closed meanwhile.
    pub(crate) fn attach_stream(&self, stream: &Arc<Stream>) -> bool {
        let mut lifecycle = self.lifecycle();
        if lifecycle.state != PublisherState::Publishing {
            return false;
        }
        lifecycle.stream = Some(stream.clone());
        true
    }

    /// Becomes true when the publisher closes.
    pub(crate) fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closed.subscribe()
    }

    /// Whether `stream` is this publisher's current stream.
    pub(crate) fn has_stream(&self, stream: &Arc<Stream>) -> bool {
        self.lifecycle()
            .stream
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, stream))
    }

    /// Emits `streamCreated` for `stream` while it is this publisher's stream. Under the
    /// lock `end_publish` takes: a stream that ends first had its `streamCreated` posted
    /// there, before its `streamDestroyed`.
    pub(crate) fn announce_stream(&self, stream: &Arc<Stream>) {
        let lifecycle = self.lifecycle();
        if lifecycle
            .stream
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, stream))
        {
            stream.post_created();
        }
    }

    /// The stream ended (or never started): back to ready, with `streamDestroyed` when a
    /// stream had been announced (after its `streamCreated`, posted here if the stream ended
    /// between its publish completion and the announcement, such as when the host closes the
    /// session from inside the completion).
    pub(crate) fn end_publish(&self, reason: Option<Reason>) {
        let announced = {
            let mut lifecycle = self.lifecycle();
            if lifecycle.state == PublisherState::Publishing {
                lifecycle.state = PublisherState::Ready;
            }
            let stream = lifecycle.stream.take();
            if let Some(stream) = &stream {
                lifecycle.ended_stream = Some(stream.stats());
            }
            let announced = stream.as_ref().is_some_and(|s| s.was_announced());
            if let (true, Some(stream), Some(_)) = (announced, &stream, reason) {
                stream.post_created();
            }
            announced
        };
        if let (true, Some(reason)) = (announced, reason) {
            self.emit(PublisherEvent::StreamDestroyed { reason });
        }
    }

    /// Pushes one video frame to a publisher whose `video_source` is `"custom"`: I420 or RGBA
    /// of any size, converted to I420 at the publisher's resolution and frame rate (see
    /// [`crate::media::custom`]). The frame is only borrowed for the call.
    ///
    /// Before the publisher is published, frames are checked, counted and dropped, but the
    /// latest is kept: publishing starts from it. A wrong frame is 1011 INVALID_PARAMETER
    /// naming the argument (checked first); a good frame to a publisher whose video source is
    /// not custom, that failed or that is closed gives 1015 ILLEGAL_STATE.
    pub fn push_video_frame(&self, frame: &VideoFrameRef<'_>) -> Result<()> {
        frame.check()?;
        let input = self.custom_input("push_video_frame", MediaKind::Video, |l| {
            l.video.as_deref().and_then(custom::video_input)
        })?;
        input.map_or(Ok(()), |input| input.push(frame))
    }

    /// Pushes interleaved PCM to a publisher whose `audio_source` is `"custom"`: mono or
    /// stereo, any rate from 8 to 192 kHz, any length, resampled to 48 kHz and cut into 10 ms
    /// frames (see [`crate::media::custom`]). Push in real time.
    ///
    /// Audio pushed before the publisher is published is checked, counted and dropped. Wrong
    /// audio is 1011 INVALID_PARAMETER naming the argument (checked first); good audio to a
    /// publisher whose audio source is not custom, that failed or that is closed gives 1015
    /// ILLEGAL_STATE.
    pub fn push_audio_frame(&self, frame: &AudioFrameRef<'_>) -> Result<()> {
        frame.check()?;
        let input = self.custom_input("push_audio_frame", MediaKind::Audio, |l| {
            l.audio.as_deref().and_then(custom::audio_input)
        })?;
        input.map_or(Ok(()), |input| input.push(frame))
    }

    /// The entry point of the custom source of `kind`: `None` while it is not open (during
    /// `init_publisher`, or when that kind is not published); 1015 when the source is not
    /// custom or the publisher failed or closed.
    fn custom_input<T>(
        &self,
        call: &str,
        kind: MediaKind,
        input: impl FnOnce(&Lifecycle) -> Option<Arc<T>>,
    ) -> Result<Option<Arc<T>>> {
        let lifecycle = self.lifecycle();
        refuse_when_ended(lifecycle.state, call)?;
        let spec = match kind {
            MediaKind::Video => lifecycle.video_spec.as_ref(),
            MediaKind::Audio => lifecycle.audio_spec.as_ref(),
        };
        if spec != Some(&SourceSpec::Custom) {
            let source = spec.map_or("null".to_owned(), |s| format!("{:?}", s.to_string()));
            return Err(Error::illegal_state(format!(
                "{call}: the {}_source is {source}, not \"custom\"",
                kind.as_str()
            )));
        }
        Ok(input(&lifecycle))
    }

    /// Stops everything: sources close; a pending `init_publisher` completes with 1015
    /// ILLEGAL_STATE on this thread. When this returns, none of this publisher's callbacks is
    /// running or will run (called from inside one of them, that one is the last). Closing
    /// twice is harmless.
    pub fn close(&self) {
        let (video, audio, task, stream, meter) = {
            let mut lifecycle = self.lifecycle();
            lifecycle.state = PublisherState::Closed;
            if let Some(watch) = lifecycle.source_watch.take() {
                watch.abort();
            }
            if let Some(queue) = lifecycle.snapshots.take() {
                queue.close();
            }
            lifecycle.last_frame = None;
            (
                lifecycle.video.take(),
                lifecycle.audio.take(),
                lifecycle.init_task.take(),
                lifecycle.stream.take(),
                lifecycle.level_meter.take(),
            )
        };
        drop(meter); // joins its thread; it never waits for a callback
        self.inner.closed.send_replace(true);
        self.inner.dispatcher.close();
        self.inner.calls.close(self);
        if let Some(stream) = stream {
            // The session forgets the stream and the server's side is released in the background.
            stream.stop_encoders();
            stream.detach_from_session();
            runtime().spawn(async move { stream.teardown().await });
        }
        if let Some(task) = task {
            task.abort();
        }
        for source in video.iter() {
            source.stop();
        }
        for source in audio.iter() {
            source.stop();
        }
        tracing::debug!(publisher = self.inner.id, "closed");
    }

    fn lifecycle(&self) -> MutexGuard<'_, Lifecycle> {
        self.inner
            .lifecycle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the events emitted so far were delivered (bounded: a host callback that
    /// never returns must not stall the session).
    pub(crate) async fn flush_events(&self) {
        let flushed = self.inner.dispatcher.flush();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), flushed).await;
    }

    pub(crate) fn emit(&self, event: PublisherEvent) {
        let publisher = self.clone();
        let periodic = event.is_periodic().then(|| event.name());
        let job = move || (publisher.inner.on_event)(&publisher, event);
        if let Some(name) = periodic {
            self.inner.dispatcher.post_droppable(name, job);
        } else {
            self.inner.dispatcher.post(job);
        }
    }

    /// Resolve devices → consent → open → first frame.
    async fn acquire(&self) -> Result<()> {
        let settings = &self.inner.settings;
        let (video_spec, audio_spec) = settings.wanted_sources()?;
        // Video off at first opens when it is turned on (consent is asked now, as a browser
        // asks for the camera of a publisher that starts without video). Audio off at first
        // opens now and sends silence.
        let video_now = video_spec.filter(|_| settings.publish_video);
        let video_device = match video_now {
            Some(spec) => {
                devices::resolve(DeviceKind::VideoInput, spec).map_err(|e| self.os_denial(e))?
            }
            None => None,
        };
        let audio_device = match audio_spec {
            Some(spec) => {
                devices::resolve(DeviceKind::AudioInput, spec).map_err(|e| self.os_denial(e))?
            }
            None => None,
        };

        let label = |spec: Option<&SourceSpec>, device: &Option<devices::Device>| {
            spec.filter(|s| s.needs_consent()).map(|s| match device {
                Some(d) => d.label.clone(),
                None => s.to_string(),
            })
        };
        let request = AccessRequest {
            video: label(video_spec, &video_device),
            audio: label(audio_spec, &audio_device),
        };
        let wants_consent = request.video.is_some() || request.audio.is_some();
        if wants_consent && !self.ask_consent(request).await? {
            let error = Error::new(
                ErrorCode::UserMediaAccessDenied,
                "Publisher Access Denied: the host denied access to the camera and microphone",
            );
            self.emit(PublisherEvent::AccessDenied {
                error: error.clone(),
            });
            return Err(error);
        }

        let video = match video_now {
            Some(spec) => Some(Arc::new(
                media::open_video(
                    spec,
                    video_device.as_ref(),
                    settings.resolution,
                    settings.frame_rate,
                )
                .map_err(|e| self.os_denial(e))?,
            )),
            None => None,
        };
        let audio = match audio_spec {
            Some(spec) => match media::open_audio(spec, audio_device.as_ref()) {
                Ok(source) => Some(Arc::new(source)),
                Err(e) => {
                    video.iter().for_each(|s| s.stop());
                    return Err(self.os_denial(e));
                }
            },
            None => None,
        };
        {
            let mut lifecycle = self.lifecycle();
            if lifecycle.state == PublisherState::Closed {
                drop(lifecycle);
                video.iter().for_each(|s| s.stop());
                audio.iter().for_each(|s| s.stop());
                return Err(Error::illegal_state("the publisher was closed"));
            }
            lifecycle.video = video.clone();
            lifecycle.audio = audio.clone();
        }
        // A custom source is ready when open: the host pushes only once it has the publisher.
        let pushed = |spec: Option<&SourceSpec>| spec == Some(&SourceSpec::Custom);
        if let Some(source) = video.as_ref().filter(|_| !pushed(video_now)) {
            source.first_frame(settings.init_timeout).await?;
        }
        if let Some(source) = audio.as_ref().filter(|_| !pushed(audio_spec)) {
            source.first_frame(settings.init_timeout).await?;
        }
        Ok(())
    }

    /// The OS refused a device (1500): the host hears `accessDenied`, as for its own refusal.
    fn os_denial(&self, error: Error) -> Error {
        if error.code == ErrorCode::UserMediaAccessDenied {
            self.emit(PublisherEvent::AccessDenied {
                error: error.clone(),
            });
        }
        error
    }

    fn start_level_meter(&self, audio: Option<&Arc<Source<AudioFrame>>>) -> Option<LevelMeter> {
        let weak = Arc::downgrade(&self.inner);
        let meter = LevelMeter::start(audio?, move |level| {
            if let Some(inner) = weak.upgrade() {
                Publisher { inner }.emit(PublisherEvent::AudioLevelUpdated { level });
            }
        });
        meter
            .map_err(|e| tracing::warn!("no audio levels: {}", e.message))
            .ok()
    }

    /// Waits for a source to stop on its own (a device unplugged or failing): `mediaStopped`,
    /// and a published stream ends with reason `mediaStopped`; the session stays connected.
    fn watch_sources(&self, lifecycle: &Lifecycle) -> tokio::task::AbortHandle {
        let weak = Arc::downgrade(&self.inner);
        let mut video = lifecycle.video.as_ref().map(|s| s.watch_status());
        let mut audio = lifecycle.audio.as_ref().map(|s| s.watch_status());
        let failed = |s: &SourceStatus| matches!(s, SourceStatus::Stopped(Some(_)));
        runtime()
            .spawn(async move {
                let wait =
                    async |watch: &mut Option<tokio::sync::watch::Receiver<SourceStatus>>| {
                        match watch {
                            Some(w) => w.wait_for(failed).await.is_ok(),
                            None => std::future::pending().await,
                        }
                    };
                let kind = tokio::select! {
                    true = wait(&mut video) => MediaKind::Video,
                    true = wait(&mut audio) => MediaKind::Audio,
                    else => return,
                };
                let Some(inner) = weak.upgrade() else { return };
                Publisher { inner }.media_stopped(kind).await;
            })
            .abort_handle()
    }

    async fn media_stopped(&self, kind: MediaKind) {
        if self.state() == PublisherState::Closed {
            return;
        }
        tracing::warn!(
            publisher = self.inner.id,
            "the {} source stopped",
            kind.as_str()
        );
        self.emit(PublisherEvent::MediaStopped { kind });
        let stream = self.lifecycle().stream.clone();
        if let Some(stream) = stream {
            stream.end(Reason::MediaStopped).await;
        }
    }

    /// Asks the host's access-request callback on the callback thread, so that it is
    /// serialized with the events. Without a callback, access is allowed.
    async fn ask_consent(&self, request: AccessRequest) -> Result<bool> {
        let Some(handler) = self.inner.settings.access_request.clone() else {
            return Ok(true);
        };
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
        self.inner.dispatcher.post(move || {
            let _ = answer_tx.send(handler(&request));
        });
        // No answer means the callback panicked or the publisher was closed.
        answer_rx.await.map_err(|_| {
            Error::new(
                ErrorCode::UserMediaAccessDenied,
                "Publisher Access Denied: the access request got no answer",
            )
        })
    }

    fn finish_init(&self, outcome: Result<()>, call: CallId) {
        let outcome = {
            let mut lifecycle = self.lifecycle();
            lifecycle.init_task = None;
            if lifecycle.state == PublisherState::Closed {
                return;
            }
            match outcome {
                Ok(()) => {
                    lifecycle.state = PublisherState::Ready;
                    lifecycle.level_meter = self.start_level_meter(lifecycle.audio.as_ref());
                    lifecycle.source_watch = Some(self.watch_sources(&lifecycle));
                    Ok(())
                }
                Err(e) => {
                    lifecycle.state = PublisherState::Failed;
                    let sources = (lifecycle.video.take(), lifecycle.audio.take());
                    drop(lifecycle);
                    sources.0.iter().for_each(|s| s.stop());
                    sources.1.iter().for_each(|s| s.stop());
                    Err(e)
                }
            }
        };
        match &outcome {
            Ok(()) => {
                tracing::info!(publisher = self.inner.id, "sources acquired");
                self.emit(PublisherEvent::AccessAllowed);
            }
            Err(e) => tracing::info!(
                publisher = self.inner.id,
                code = e.code(),
                "init_publisher failed: {}",
                e.message
            ),
        }
        self.complete_call(call, outcome);
    }

    /// Hands call `id`'s outcome to its completion on the callback thread, unless `close`
    /// completed it already.
    fn complete_call(&self, id: CallId, outcome: Result<()>) {
        let publisher = self.clone();
        self.inner.dispatcher.post(move || {
            if let Some(done) = publisher.inner.calls.take(id) {
                done(&publisher, outcome);
            }
        });
    }
}

/// A source that delivered its first frame within `wait` (none: at once); stopped if it did
/// not.
async fn delivering<F: Clone + Send + 'static>(
    source: Source<F>,
    wait: Option<std::time::Duration>,
) -> Result<Arc<Source<F>>> {
    let source = Arc::new(source);
    if let Some(wait) = wait {
        if let Err(e) = source.first_frame(wait).await {
            source.stop();
            return Err(e);
        }
    }
    Ok(source)
}

/// Whether a publisher in `state` has its sources and takes live control.
fn is_live(state: PublisherState) -> bool {
    matches!(state, PublisherState::Ready | PublisherState::Publishing)
}

/// 1015 for `call` on a publisher that is not ready or publishing.
fn refuse_unless_live(state: PublisherState, call: &str) -> Result<()> {
    if is_live(state) {
        return Ok(());
    }
    Err(Error::illegal_state(format!(
        "{call}: the publisher is {}, not ready or publishing",
        state.as_str()
    )))
}

/// 1015 for `call` on a publisher that failed or is closed.
fn refuse_when_ended(state: PublisherState, call: &str) -> Result<()> {
    match state {
        PublisherState::Closed => Err(Error::illegal_state(format!(
            "{call}: the publisher is closed"
        ))),
        PublisherState::Failed => Err(Error::illegal_state(format!(
            "{call}: init_publisher failed"
        ))),
        _ => Ok(()),
    }
}

/// 1015 for `call` on a publisher created without `kind`.
fn no_source(call: &str, kind: MediaKind) -> Error {
    Error::illegal_state(format!(
        "{call}: the publisher has no {kind} ({kind}_source is null)",
        kind = kind.as_str()
    ))
}

/// A source that ended on its own, if any.
fn stopped_source(lifecycle: &Lifecycle) -> Option<MediaKind> {
    let stopped = |status: SourceStatus| matches!(status, SourceStatus::Stopped(_));
    if lifecycle
        .video
        .as_ref()
        .is_some_and(|s| stopped(s.watch_status().borrow().clone()))
    {
        return Some(MediaKind::Video);
    }
    lifecycle
        .audio
        .as_ref()
        .filter(|s| stopped(s.watch_status().borrow().clone()))
        .map(|_| MediaKind::Audio)
}

impl Drop for Inner {
    fn drop(&mut self) {
        let lifecycle = self.lifecycle.get_mut().unwrap_or_else(|e| e.into_inner());
        for source in lifecycle.video.iter() {
            source.stop();
        }
        for source in lifecycle.audio.iter() {
            source.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_list_is_the_names_events_carry() {
        let events = [
            PublisherEvent::AccessAllowed,
            PublisherEvent::AccessDenied {
                error: Error::new(ErrorCode::UserMediaAccessDenied, "x"),
            },
            PublisherEvent::StreamCreated {
                stream_id: "s".into(),
            },
            PublisherEvent::StreamDestroyed {
                reason: Reason::ClientDisconnected,
            },
            PublisherEvent::MediaStopped {
                kind: MediaKind::Audio,
            },
            PublisherEvent::AudioLevelUpdated { level: 0.5 },
            PublisherEvent::VideoDimensionsChanged {
                old_width: 640,
                old_height: 480,
                new_width: 320,
                new_height: 240,
            },
            PublisherEvent::VideoDisableWarning,
            PublisherEvent::VideoDisableWarningLifted,
            PublisherEvent::VideoDisabled {
                reason: Reason::Quality,
            },
            PublisherEvent::VideoEnabled {
                reason: Reason::Quality,
            },
            PublisherEvent::AudioDisabled {
                reason: Reason::PublishAudio,
            },
            PublisherEvent::AudioEnabled {
                reason: Reason::PublishAudio,
            },
        ];
        let carried: Vec<&str> = events.iter().map(PublisherEvent::name).collect();
        assert_eq!(PUBLISHER_EVENT_NAMES, carried.as_slice());
    }
}
