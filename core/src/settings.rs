//! Publisher settings: typed in Rust, settable by name from every binding.
//!
//! The bindings pass options through [`PublisherSettings::set`] with the key as the host
//! language spells it (`video_source` in Python and C, `videoSource` in Node), so parsing,
//! defaults and error messages exist once, here.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::adapt::DegradationPreference;
use crate::error::{Error, Result};

/// Where a publisher's audio or video comes from (the same strings in every language).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The system's default device of the kind.
    Default,
    /// A device by its `device_id` from [`crate::devices::get_devices`] (`audio:…`/`video:…`).
    Device(String),
    /// A moving test pattern or a tone, like a browser's fake devices.
    Synthetic,
    /// A Y4M video or WAV audio file, looped.
    File(PathBuf),
    /// Frames pushed by the host.
    Custom,
    /// A screen (X11): `None` is the primary one (`"screen"`), `Some(n)` the n-th as
    /// [`crate::devices::get_devices`] lists them (`"screen:n"`). Video only.
    Screen(Option<u32>),
}

impl SourceSpec {
    /// Whether opening this source needs the host's consent: capture devices do, and so does
    /// the synthetic source, which stands in for them exactly as a browser's fake device does.
    /// Files and host-pushed frames are the host's own media.
    /// A screen needs it too, as a browser asks before `getDisplayMedia`.
    pub fn needs_consent(&self) -> bool {
        matches!(
            self,
            SourceSpec::Default
                | SourceSpec::Device(_)
                | SourceSpec::Synthetic
                | SourceSpec::Screen(_)
        )
    }
}

impl FromStr for SourceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" => return Err("expected null, \"default\", \"synthetic\", \"custom\", \"screen\", \"file:PATH\" or a device id".into()),
            "default" => SourceSpec::Default,
            "synthetic" => SourceSpec::Synthetic,
            "custom" => SourceSpec::Custom,
            "screen" => SourceSpec::Screen(None),
            _ if s.starts_with("screen:") => match s["screen:".len()..].parse::<u32>() {
                Ok(index) => SourceSpec::Screen(Some(index)),
                Err(_) => {
                    return Err(format!(
                        "unknown source {s:?}: a screen is \"screen\" or \"screen:N\" (N from 0, as get_devices() lists them)"
                    ))
                }
            },
            _ if s.starts_with("audio:") || s.starts_with("video:") => {
                SourceSpec::Device(s.to_owned())
            }
            _ => match s.strip_prefix("file:") {
                Some("") => return Err("\"file:\" needs a path".into()),
                Some(path) => SourceSpec::File(PathBuf::from(path)),
                None => return Err(format!(
                    "unknown source {s:?}: expected null, \"default\", \"synthetic\", \"custom\", \"screen\", \"file:PATH\" or a device id from get_devices()"
                )),
            },
        })
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Default => f.write_str("default"),
            SourceSpec::Device(id) => f.write_str(id),
            SourceSpec::Synthetic => f.write_str("synthetic"),
            SourceSpec::File(path) => write!(f, "file:{}", path.display()),
            SourceSpec::Custom => f.write_str("custom"),
            SourceSpec::Screen(None) => f.write_str("screen"),
            SourceSpec::Screen(Some(index)) => write!(f, "screen:{index}"),
        }
    }
}

/// A video size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Resolution {
    /// Smallest accepted side.
    pub const MIN: u32 = 16;
    /// Largest accepted side (4K UHD's width).
    pub const MAX: u32 = 3840;
}

impl FromStr for Resolution {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let expected = || format!("expected WIDTHxHEIGHT such as \"1280x720\", got {s:?}");
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(expected)?;
        let width: u32 = w.trim().parse().map_err(|_| expected())?;
        let height: u32 = h.trim().parse().map_err(|_| expected())?;
        for side in [width, height] {
            if !(Resolution::MIN..=Resolution::MAX).contains(&side) {
                return Err(format!(
                    "{s:?}: each side must be between {} and {}",
                    Resolution::MIN,
                    Resolution::MAX
                ));
            }
            if side % 2 != 0 {
                return Err(format!("{s:?}: sides must be even (I420 video)"));
            }
        }
        Ok(Resolution { width, height })
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// The video codec to prefer when publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoCodec {
    /// VP8, the default, as in OpenTok.
    #[default]
    Vp8,
    /// H.264 constrained baseline.
    H264,
}

impl FromStr for VideoCodec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "vp8" => Ok(VideoCodec::Vp8),
            "h264" | "h.264" => Ok(VideoCodec::H264),
            _ => Err(format!("expected \"VP8\" or \"H264\", got {s:?}")),
        }
    }
}

/// What the publisher is about to open, shown to the host's access-request callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// The audio source asking for consent, if any.
    pub audio: Option<String>,
    /// The video source asking for consent, if any.
    pub video: Option<String>,
}

/// The host's consent callback: return true to allow, false to deny.
pub type AccessRequestHandler = Arc<dyn Fn(&AccessRequest) -> bool + Send + Sync>;

/// A value given to [`PublisherSettings::set`] by a binding.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// `null` / `None` / a NULL pointer.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number (JavaScript numbers arrive as these).
    Float(f64),
    /// A string.
    Str(String),
    /// A list (a Python list or tuple, a JavaScript array), for options such as
    /// `ice_servers`.
    List(Vec<OptionValue>),
    /// A mapping with string keys, in the host's order (a Python dict, a JavaScript object).
    Map(Vec<(String, OptionValue)>),
}

impl OptionValue {
    /// How deep lists and mappings may nest in a value a binding converts (a cyclic host
    /// object would otherwise never end).
    pub const MAX_DEPTH: usize = 8;

    /// 1011 naming `key` when a value at `depth` (0 for an option itself) nests deeper than
    /// [`OptionValue::MAX_DEPTH`].
    pub fn check_depth(key: &str, depth: usize) -> Result<()> {
        if depth >= Self::MAX_DEPTH {
            return Err(Error::invalid_parameter(key, "nested too deeply"));
        }
        Ok(())
    }

    /// What kind of value this is, for error messages: `"a string"`, `"a list"` ...
    pub fn kind(&self) -> &'static str {
        match self {
            OptionValue::Null => "null",
            OptionValue::Bool(_) => "a boolean",
            OptionValue::Int(_) | OptionValue::Float(_) => "a number",
            OptionValue::Str(_) => "a string",
            OptionValue::List(_) => "a list",
            OptionValue::Map(_) => "a mapping",
        }
    }
}

/// Everything `init_publisher` needs to know.
#[derive(Clone)]
pub struct PublisherSettings {
    /// Camera: `None` publishes no video.
    pub video_source: Option<SourceSpec>,
    /// Microphone: `None` publishes no audio.
    pub audio_source: Option<SourceSpec>,
    /// Capture and publish size.
    pub resolution: Resolution,
    /// Frames per second, 1..=60.
    pub frame_rate: u32,
    /// Whether audio is on at first (`publish_audio` turns it on and off later); off, the
    /// track is still negotiated and sends silence.
    pub publish_audio: bool,
    /// Whether video is on at first (`publish_video` turns it on and off later); off, the
    /// track is still negotiated, and the source opens when video is turned on.
    pub publish_video: bool,
    /// The stream's name, shown to others.
    pub name: String,
    /// Preferred video codec.
    pub video_codec: VideoCodec,
    /// How long to wait for each source's first frame.
    pub init_timeout: Duration,
    /// What video keeps when the path carries too little.
    pub degradation_preference: DegradationPreference,
    /// The most video may send, in kbit/s; 0 lets the library choose by size and rate.
    pub max_video_bitrate_kbps: u32,
    /// Whether video stops (audio goes on) while the path stays too narrow for video, and
    /// comes back with the path (see `adapt::fallback`). Needs audio.
    pub audio_fallback: bool,
    /// Simulcast layers: 0 (off), 2 (full and 1/2 size) or 3 (full, 1/2 and 1/4), each
    /// its own encoder, sent with rids where the server takes them (see `adapt::simulcast`).
    pub simulcast: u32,
    /// The host's consent callback; without one, access is allowed.
    pub access_request: Option<AccessRequestHandler>,
}

impl Default for PublisherSettings {
    fn default() -> Self {
        PublisherSettings {
            video_source: Some(SourceSpec::Default),
            audio_source: Some(SourceSpec::Default),
            resolution: Resolution {
                width: 640,
                height: 480,
            },
            frame_rate: 30,
            publish_audio: true,
            publish_video: true,
            name: String::new(),
            video_codec: VideoCodec::Vp8,
            init_timeout: Duration::from_secs(10),
            degradation_preference: DegradationPreference::Balanced,
            max_video_bitrate_kbps: 0,
            audio_fallback: true,
            simulcast: 0,
            access_request: None,
        }
    }
}

impl fmt::Debug for PublisherSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherSettings")
            .field("video_source", &self.video_source)
            .field("audio_source", &self.audio_source)
            .field("resolution", &self.resolution)
            .field("frame_rate", &self.frame_rate)
            .field("publish_audio", &self.publish_audio)
            .field("publish_video", &self.publish_video)
            .field("name", &self.name)
            .field("video_codec", &self.video_codec)
            .field("init_timeout", &self.init_timeout)
            .field("degradation_preference", &self.degradation_preference)
            .field("max_video_bitrate_kbps", &self.max_video_bitrate_kbps)
            .field("audio_fallback", &self.audio_fallback)
            .field("simulcast", &self.simulcast)
            .field("access_request", &self.access_request.is_some())
            .finish()
    }
}

/// Largest accepted frame rate.
pub const MAX_FRAME_RATE: u32 = 60;
/// Largest accepted `max_video_bitrate_kbps` (100 Mbit/s).
pub const MAX_VIDEO_BITRATE_KBPS: u32 = 100_000;
/// Largest accepted init timeout (10 minutes).
pub const MAX_TIMEOUT_MS: i64 = 600_000;

impl PublisherSettings {
    /// Sets one option by name. Keys are accepted in snake_case (`video_source`) and
    /// camelCase (`videoSource`); an unknown key, a value of the wrong type or a bad value
    /// fails with 1011 INVALID_PARAMETER and a message that names the key.
    pub fn set(&mut self, key: &str, value: OptionValue) -> Result<()> {
        let canonical = canonical_key(key);
        let field = canonical.as_str();
        let bad_type = |wanted: &str| {
            Error::invalid_parameter(field, format!("expected {wanted}, got {}", value.kind()))
        };
        match field {
            "video_source" | "audio_source" => {
                let spec = match &value {
                    OptionValue::Null => None,
                    OptionValue::Str(s) => Some(
                        s.parse::<SourceSpec>()
                            .map_err(|e| Error::invalid_parameter(field, e))?,
                    ),
                    _ => return Err(bad_type("a source string or null")),
                };
                if field == "audio_source" && matches!(spec, Some(SourceSpec::Screen(_))) {
                    return Err(Error::invalid_parameter(
                        field,
                        "a screen is a video source (use it as video_source)",
                    ));
                }
                if field == "video_source" {
                    self.video_source = spec;
                } else {
                    self.audio_source = spec;
                }
            }
            "resolution" => match &value {
                OptionValue::Str(s) => {
                    self.resolution = s.parse().map_err(|e| Error::invalid_parameter(field, e))?
                }
                _ => return Err(bad_type("a string such as \"1280x720\"")),
            },
            "frame_rate" => {
                let rate = integer(&value).ok_or_else(|| bad_type("an integer"))?;
                if !(1..=i64::from(MAX_FRAME_RATE)).contains(&rate) {
                    return Err(Error::invalid_parameter(
                        field,
                        format!("must be between 1 and {MAX_FRAME_RATE}, got {rate}"),
                    ));
                }
                self.frame_rate = rate as u32;
            }
            "publish_audio" | "publish_video" | "audio_fallback" => {
                let OptionValue::Bool(on) = value else {
                    return Err(bad_type("a boolean"));
                };
                match field {
                    "publish_audio" => self.publish_audio = on,
                    "publish_video" => self.publish_video = on,
                    _ => self.audio_fallback = on,
                }
            }
            "degradation_preference" => match &value {
                OptionValue::Str(s) => {
                    self.degradation_preference = DegradationPreference::from_name(s)?
                }
                _ => {
                    return Err(bad_type(
                        "\"balanced\", \"maintain-framerate\" or \"maintain-resolution\"",
                    ))
                }
            },
            "max_video_bitrate_kbps" => {
                let kbps = integer(&value).ok_or_else(|| bad_type("an integer"))?;
                if !(0..=i64::from(MAX_VIDEO_BITRATE_KBPS)).contains(&kbps) {
                    return Err(Error::invalid_parameter(
                        field,
                        format!(
                            "must be between 0 (automatic) and {MAX_VIDEO_BITRATE_KBPS}, got {kbps}"
                        ),
                    ));
                }
                self.max_video_bitrate_kbps = kbps as u32;
            }
            "simulcast" => {
                let layers = integer(&value).ok_or_else(|| bad_type("an integer"))?;
                if !matches!(layers, 0 | 2 | 3) {
                    return Err(Error::invalid_parameter(
                        field,
                        format!("must be 0 (off), 2 or 3 layers, got {layers}"),
                    ));
                }
                self.simulcast = layers as u32;
            }
            "name" => match value {
                OptionValue::Str(s) => self.name = s,
                OptionValue::Null => self.name.clear(),
                _ => return Err(bad_type("a string")),
            },
            "video_codec" => match &value {
                OptionValue::Str(s) => {
                    self.video_codec = s.parse().map_err(|e| Error::invalid_parameter(field, e))?
                }
                _ => return Err(bad_type("\"VP8\" or \"H264\"")),
            },
            "init_timeout_ms" => self.init_timeout = timeout_value(field, &value)?,
            _ => {
                return Err(Error::invalid_parameter(
                    key,
                    format!(
                        "unknown option; known options are {}",
                        KNOWN_KEYS.join(", ")
                    ),
                ))
            }
        }
        Ok(())
    }

    /// The sources this publisher publishes, video then audio, whether on at first or not.
    pub(crate) fn wanted_sources(&self) -> Result<(Option<&SourceSpec>, Option<&SourceSpec>)> {
        let video = self.video_source.as_ref();
        let audio = self.audio_source.as_ref();
        if video.is_none() && audio.is_none() {
            return Err(Error::invalid_parameter(
                "video_source/audio_source",
                "a publisher needs an audio or a video source",
            ));
        }
        Ok((video, audio))
    }
}

/// Option names as `set` knows them, in snake_case.
pub const KNOWN_KEYS: &[&str] = &[
    "video_source",
    "audio_source",
    "resolution",
    "frame_rate",
    "publish_audio",
    "publish_video",
    "name",
    "video_codec",
    "init_timeout_ms",
    "degradation_preference",
    "max_video_bitrate_kbps",
    "audio_fallback",
    "simulcast",
];

/// An option as every language's declarations describe it: its default, as a host writes it,
/// and for numbers the range the core accepts. One table per kind of settings, checked against
/// the core's own defaults and limits (the tests of this module and of `session`) and against
/// the C header, the Python stubs and the Node declarations (`core/tests/contract.rs`).
#[derive(Debug, Clone, Copy)]
pub struct OptionDoc {
    /// The key, snake_case.
    pub key: &'static str,
    /// The default as a host writes it (`640x480`, `30`, `true`), when there is one to tell.
    pub default: Option<&'static str>,
    /// For numbers, the smallest and the largest value accepted (for `resolution`, a side).
    pub range: Option<(i64, i64)>,
}

/// The publisher options, as declared in every language.
pub const PUBLISHER_OPTION_DOCS: &[OptionDoc] = &[
    OptionDoc {
        key: "video_source",
        default: Some("default"),
        range: None,
    },
    OptionDoc {
        key: "audio_source",
        default: Some("default"),
        range: None,
    },
    OptionDoc {
        key: "resolution",
        default: Some("640x480"),
        range: Some((Resolution::MIN as i64, Resolution::MAX as i64)),
    },
    OptionDoc {
        key: "frame_rate",
        default: Some("30"),
        range: Some((1, MAX_FRAME_RATE as i64)),
    },
    OptionDoc {
        key: "publish_audio",
        default: Some("true"),
        range: None,
    },
    OptionDoc {
        key: "publish_video",
        default: Some("true"),
        range: None,
    },
    OptionDoc {
        key: "name",
        default: None,
        range: None,
    },
    OptionDoc {
        key: "video_codec",
        default: Some("VP8"),
        range: None,
    },
    OptionDoc {
        key: "init_timeout_ms",
        default: Some("10000"),
        range: Some((1, MAX_TIMEOUT_MS)),
    },
    OptionDoc {
        key: "degradation_preference",
        default: Some("balanced"),
        range: None,
    },
    OptionDoc {
        key: "max_video_bitrate_kbps",
        default: Some("0"),
        range: Some((0, MAX_VIDEO_BITRATE_KBPS as i64)),
    },
    OptionDoc {
        key: "audio_fallback",
        default: Some("true"),
        range: None,
    },
    OptionDoc {
        key: "simulcast",
        default: Some("0"),
        range: None,
    },
];

/// Proves an option table against the settings it documents: its keys are `keys`, setting an
/// option to its documented default changes nothing, and a range's ends are accepted while
/// the values just beyond are refused.
#[cfg(test)]
pub(crate) fn check_option_docs<S: Default + fmt::Debug>(
    docs: &[OptionDoc],
    keys: &[&str],
    set: impl Fn(&mut S, &str, OptionValue) -> Result<()>,
) {
    let documented: Vec<&str> = docs.iter().map(|d| d.key).collect();
    assert_eq!(documented, keys);
    let defaults = format!("{:?}", S::default());
    for doc in docs {
        let mut settings = S::default();
        if let Some(default) = doc.default {
            let value = match default {
                "true" => OptionValue::Bool(true),
                "false" => OptionValue::Bool(false),
                text => text
                    .parse()
                    .map(OptionValue::Int)
                    .unwrap_or_else(|_| OptionValue::Str(text.to_owned())),
            };
            set(&mut settings, doc.key, value).unwrap();
            assert_eq!(format!("{settings:?}"), defaults, "{}", doc.key);
        }
        let Some((min, max)) = doc.range else {
            continue;
        };
        // A resolution's range is a side's, in steps of two (even sides).
        let (value, step): (Box<dyn Fn(i64) -> OptionValue>, i64) = match doc.key {
            "resolution" => (Box::new(|n| OptionValue::Str(format!("{n}x{min}"))), 2),
            _ => (Box::new(OptionValue::Int), 1),
        };
        for (n, accepted) in [
            (min, true),
            (max, true),
            (min - step, false),
            (max + step, false),
        ] {
            let outcome = set(&mut settings, doc.key, value(n));
            assert_eq!(outcome.is_ok(), accepted, "{} {n}", doc.key);
        }
    }
}

/// A timeout option in milliseconds: an integer from 1 to [`MAX_TIMEOUT_MS`].
pub(crate) fn timeout_value(field: &str, value: &OptionValue) -> Result<Duration> {
    let ms = integer(value).ok_or_else(|| {
        Error::invalid_parameter(field, format!("expected an integer, got {}", value.kind()))
    })?;
    if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
        return Err(Error::invalid_parameter(
            field,
            format!("must be between 1 and {MAX_TIMEOUT_MS} ms, got {ms}"),
        ));
    }
    Ok(Duration::from_millis(ms as u64))
}

/// `videoSource` → `video_source`; snake_case keys pass unchanged.
pub fn canonical_key(key: &str) -> String {
    snake_case(key)
}

/// camelCase → snake_case (`accessAllowed` → `access_allowed`): how option and event names
/// go from the Node spelling to the C and Python one.
pub fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// snake_case → camelCase (`access_allowed` → `accessAllowed`): the Node spelling of an
/// option or event name, the inverse of [`snake_case`].
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn integer(value: &OptionValue) -> Option<i64> {
    match *value {
        OptionValue::Int(i) => Some(i),
        OptionValue::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(f as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_docs_tell_the_defaults_and_limits_the_core_applies() {
        check_option_docs(PUBLISHER_OPTION_DOCS, KNOWN_KEYS, PublisherSettings::set);
    }

    #[test]
    fn parses_every_source_string() {
        assert_eq!("default".parse(), Ok(SourceSpec::Default));
        assert_eq!("synthetic".parse(), Ok(SourceSpec::Synthetic));
        assert_eq!("custom".parse(), Ok(SourceSpec::Custom));
        assert_eq!(
            "file:/tmp/a.y4m".parse(),
            Ok(SourceSpec::File("/tmp/a.y4m".into()))
        );
        assert_eq!(
            "audio:pulse".parse(),
            Ok(SourceSpec::Device("audio:pulse".into()))
        );
        assert_eq!("screen".parse(), Ok(SourceSpec::Screen(None)));
        assert_eq!("screen:1".parse(), Ok(SourceSpec::Screen(Some(1))));
        assert_eq!(SourceSpec::Screen(Some(1)).to_string(), "screen:1");
        assert!("screen:".parse::<SourceSpec>().is_err());
        assert!("screen:-1".parse::<SourceSpec>().is_err());
        assert!("".parse::<SourceSpec>().is_err());
        assert!("webcam".parse::<SourceSpec>().is_err());
        assert!("file:".parse::<SourceSpec>().is_err());
    }

    #[test]
    fn camel_and_snake_keys_set_the_same_field() {
        let mut s = PublisherSettings::default();
        s.set("videoSource", OptionValue::Str("synthetic".into()))
            .unwrap();
        s.set("frame_rate", OptionValue::Float(15.0)).unwrap();
        s.set("frameRate", OptionValue::Int(24)).unwrap();
        assert_eq!(s.video_source, Some(SourceSpec::Synthetic));
        assert_eq!(s.frame_rate, 24);
    }

    #[test]
    fn camel_case_undoes_snake_case() {
        assert_eq!(camel_case("max_video_bitrate_kbps"), "maxVideoBitrateKbps");
        for key in KNOWN_KEYS {
            assert_eq!(snake_case(&camel_case(key)), *key);
        }
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut s = PublisherSettings::default();
        for (key, value, field) in [
            ("resolution", OptionValue::Str("720p".into()), "resolution:"),
            (
                "resolution",
                OptionValue::Str("1281x720".into()),
                "resolution:",
            ),
            ("resolution", OptionValue::Int(720), "resolution:"),
            ("frameRate", OptionValue::Int(0), "frame_rate:"),
            ("audioSource", OptionValue::Str("".into()), "audio_source:"),
            ("videoCodec", OptionValue::Str("AV2".into()), "video_codec:"),
            ("colour", OptionValue::Bool(true), "colour:"),
        ] {
            let e = s.set(key, value).unwrap_err();
            assert_eq!(e.code(), 1011);
            assert!(e.message.starts_with(field), "{key}: {}", e.message);
        }
    }

    #[test]
    fn no_source_at_all_is_invalid() {
        let mut s = PublisherSettings::default();
        s.set("video_source", OptionValue::Null).unwrap();
        s.set("audio_source", OptionValue::Null).unwrap();
        assert_eq!(s.wanted_sources().unwrap_err().code(), 1011);
        // Off at first is no absence: the track is there to turn on.
        s.set("audio_source", OptionValue::Str("synthetic".into()))
            .unwrap();
        s.set("publish_audio", OptionValue::Bool(false)).unwrap();
        assert!(s.wanted_sources().is_ok());
    }
}
