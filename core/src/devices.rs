//! Capture devices present on this machine: microphones through cpal, cameras through nokhwa,
//! screens through X11 (`media::screen`).

use crate::error::{Error, ErrorCode, Result};
use crate::media::{self, MediaKind};
use crate::settings::SourceSpec;

/// A device's kind, named as in the browser's `MediaDeviceInfo.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A microphone.
    AudioInput,
    /// A camera.
    VideoInput,
    /// A screen (video), `screen:N`.
    Screen,
}

impl DeviceKind {
    /// `"audioInput"`, `"videoInput"` or `"screen"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::AudioInput => "audioInput",
            DeviceKind::VideoInput => "videoInput",
            DeviceKind::Screen => "screen",
        }
    }

    /// The media this kind of device captures.
    pub fn media(self) -> MediaKind {
        match self {
            DeviceKind::AudioInput => MediaKind::Audio,
            DeviceKind::VideoInput | DeviceKind::Screen => MediaKind::Video,
        }
    }
}

/// One capture device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Microphone, camera or screen.
    pub kind: DeviceKind,
    /// Stable id to pass as `audioSource`/`videoSource`; `audio:`, `video:` or `screen:`
    /// prefixed so that it never collides with the keywords `default`, `synthetic`, `custom`
    /// or `file:`.
    pub device_id: String,
    /// Name for people.
    pub label: String,
}

/// Every microphone, camera and screen present. A machine without any gives an empty list; a
/// backend that cannot enumerate is logged and skipped, so one broken backend hides only its
/// devices.
pub fn get_devices() -> Vec<Device> {
    let mut devices = microphones();
    devices.extend(cameras());
    devices.extend(screens());
    devices
}

/// Devices of one kind.
pub fn devices_of(kind: DeviceKind) -> Vec<Device> {
    match kind {
        DeviceKind::AudioInput => microphones(),
        DeviceKind::VideoInput => cameras(),
        DeviceKind::Screen => screens(),
    }
}

/// The device a source string names, for the sources that are devices: `default` is the
/// first device of the kind (1581 NO_DEVICES_FOUND when there is none), a device id must be
/// present and of the kind (1582 DEVICE_NOT_FOUND). Other sources need no device: `None`.
pub fn resolve(kind: DeviceKind, spec: &SourceSpec) -> Result<Option<Device>> {
    let what = match kind {
        DeviceKind::AudioInput => "microphone",
        DeviceKind::VideoInput | DeviceKind::Screen => "camera",
    };
    match spec {
        SourceSpec::Screen(index) => {
            if kind == DeviceKind::AudioInput {
                return Err(Error::invalid_parameter(
                    "audio_source",
                    "a screen is a video source",
                ));
            }
            media::screen::find(*index).map(Some)
        }
        SourceSpec::Default => match devices_of(kind).into_iter().next() {
            Some(device) => Ok(Some(device)),
            // A microphone the OS refuses to open is not listed at all: say so, rather
            // than claiming there is none.
            None => {
                let denied = match kind {
                    DeviceKind::AudioInput => capture_access_denied(),
                    DeviceKind::VideoInput | DeviceKind::Screen => None,
                };
                Err(match denied {
                    Some(detail) => access_denied(what, &detail),
                    None => Error::new(
                        ErrorCode::NoDevicesFound,
                        format!("no {what} is present (use \"synthetic\" for a test source)"),
                    ),
                })
            }
        },
        SourceSpec::Device(id) => {
            // Device ids are `audio:` or `video:`; screens are `SourceSpec::Screen`.
            let mut all = microphones();
            all.extend(cameras());
            match all.into_iter().find(|d| &d.device_id == id) {
                Some(device) if device.kind == kind => Ok(Some(device)),
                Some(_) => Err(Error::new(
                    ErrorCode::DeviceNotFound,
                    format!("device {id:?} is not a {what}"),
                )),
                None => Err(Error::new(
                    ErrorCode::DeviceNotFound,
                    format!("no {what} with id {id:?} is present; get_devices() lists them"),
                )),
            }
        }
        SourceSpec::Synthetic | SourceSpec::File(_) | SourceSpec::Custom => Ok(None),
    }
}

/// Sends ALSA's error printing to our debug log (once per process).
#[cfg(target_os = "linux")]
pub(crate) fn quiet_alsa() {
    alsa_quiet::install();
}

/// Whether a driver's or the OS's error text says access was refused (EACCES, EPERM),
/// however the layer in between spelled it.
pub(crate) fn says_access_denied(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    [
        "eacces",
        "eperm",
        "permission denied",
        "operation not permitted",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The 1500 error for a device the operating system refuses to open.
pub(crate) fn access_denied(what: &str, detail: &str) -> Error {
    Error::new(
        ErrorCode::UserMediaAccessDenied,
        format!(
            "Publisher Access Denied: the system refused access to the {what} ({detail}); \
             check that this user may use audio and video devices (e.g. the audio and video \
             groups)"
        ),
    )
}

/// Why the system refuses to capture audio, when it does: the default capture device fails
/// to open with EACCES/EPERM, or a sound card's capture node is not accessible to this user.
#[cfg(target_os = "linux")]
fn capture_access_denied() -> Option<String> {
    use std::ffi::{c_char, c_int};
    const EPERM: c_int = 1;
    const EACCES: c_int = 13;
    const R_OK_W_OK: c_int = 6;
    unsafe extern "C" {
        fn access(path: *const c_char, mode: c_int) -> c_int;
    }
    alsa_quiet::install();
    let mut pcm = std::ptr::null_mut();
    let rc = unsafe {
        alsa_sys::snd_pcm_open(
            &mut pcm,
            c"default".as_ptr(),
            alsa_sys::SND_PCM_STREAM_CAPTURE,
            alsa_sys::SND_PCM_NONBLOCK as c_int,
        )
    };
    if rc == 0 {
        unsafe { alsa_sys::snd_pcm_close(pcm) };
    } else if rc == -EACCES || rc == -EPERM {
        return Some(format!(
            "ALSA's default capture device: {}",
            std::io::Error::from_raw_os_error(-rc)
        ));
    }
    let nodes = std::fs::read_dir("/dev/snd").ok()?;
    for node in nodes.flatten() {
        let name = node.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("pcmC") && name.ends_with('c')) {
            continue;
        }
        let path = std::ffi::CString::new(format!("/dev/snd/{name}")).ok()?;
        if unsafe { access(path.as_ptr(), R_OK_W_OK) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::PermissionDenied {
                return Some(format!("/dev/snd/{name}: {error}"));
            }
        }
    }
    None
}

#[cfg(not(target_os = "linux"))]
fn capture_access_denied() -> Option<String> {
    None
}

fn microphones() -> Vec<Device> {
    use cpal::traits::{DeviceTrait, HostTrait};
    #[cfg(target_os = "linux")]
    alsa_quiet::install();
    let host = cpal::default_host();
    let inputs = match host.input_devices() {
        Ok(inputs) => inputs,
        Err(e) => {
            tracing::warn!("cannot list microphones: {e}");
            return Vec::new();
        }
    };
    inputs
        .filter_map(|device| match device.name() {
            Ok(name) => Some(Device {
                kind: DeviceKind::AudioInput,
                device_id: format!("audio:{name}"),
                label: name,
            }),
            Err(e) => {
                tracing::debug!("skipping a microphone without a name: {e}");
                None
            }
        })
        .collect()
}

/// The screens of the X display, `screen:0` (the primary one) first; none without a display.
fn screens() -> Vec<Device> {
    match media::screen::list() {
        Ok(screens) => screens,
        Err(e) => {
            tracing::debug!("no screens to list: {}", e.message);
            Vec::new()
        }
    }
}

fn cameras() -> Vec<Device> {
    match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(cameras) => cameras
            .into_iter()
            .map(|info| Device {
                kind: DeviceKind::VideoInput,
                device_id: format!("video:{}", info.index()),
                label: info.human_name(),
            })
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list cameras: {e}");
            Vec::new()
        }
    }
}

/// ALSA prints an error to stderr for every configured PCM it cannot open while cpal probes
/// them (absent cards, plugins without a server): routine on machines without sound
/// hardware. Those lines go to our debug log instead, where the host's log routing applies.
#[cfg(target_os = "linux")]
mod alsa_quiet {
    use std::ffi::{c_char, c_int, CStr};
    use std::sync::Once;

    // ALSA declares the handler variadic; the fixed arguments are all we read, and on the
    // C ABIs Linux uses a function taking only them can be called this way.
    unsafe extern "C" fn log_alsa_error(
        file: *const c_char,
        line: c_int,
        function: *const c_char,
        err: c_int,
        fmt: *const c_char,
    ) {
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        tracing::debug!(
            target: "libpublisher::alsa",
            "{}:{line} {}: {} (error {err})",
            text(file),
            text(function),
            text(fmt)
        );
    }

    unsafe extern "C" {
        fn dlopen(filename: *const c_char, flag: c_int) -> *mut std::ffi::c_void;
        fn dlsym(handle: *mut std::ffi::c_void, symbol: *const c_char) -> *mut std::ffi::c_void;
    }

    unsafe extern "C" fn log_jack_message(message: *const c_char) {
        if !message.is_null() {
            let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
            tracing::debug!(target: "libpublisher::jack", "{text}");
        }
    }

    /// ALSA's JACK plugin (libasound2-plugins) tries to reach a JACK server while devices are
    /// probed, and libjack prints every failure to stderr. When libjack is installed, its
    /// error and info printers go to our debug log instead. The library stays loaded, which
    /// is what the plugin would do anyway.
    unsafe fn quiet_jack() {
        const RTLD_LAZY: c_int = 1;
        let jack = unsafe { dlopen(c"libjack.so.0".as_ptr(), RTLD_LAZY) };
        if jack.is_null() {
            return;
        }
        for setter in [c"jack_set_error_function", c"jack_set_info_function"] {
            let set = unsafe { dlsym(jack, setter.as_ptr()) };
            if !set.is_null() {
                // Both are `void (*)(void (*)(const char *))` in jack/jack.h.
                let set: unsafe extern "C" fn(unsafe extern "C" fn(*const c_char)) =
                    unsafe { std::mem::transmute(set) };
                unsafe { set(log_jack_message) };
            }
        }
    }

    pub(super) fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| unsafe {
            quiet_jack();
            let handler: unsafe extern "C" fn(
                *const c_char,
                c_int,
                *const c_char,
                c_int,
                *const c_char,
            ) = log_alsa_error;
            alsa_sys::snd_lib_error_set_handler(Some(std::mem::transmute::<
                unsafe extern "C" fn(*const c_char, c_int, *const c_char, c_int, *const c_char),
                unsafe extern "C" fn(
                    *const c_char,
                    c_int,
                    *const c_char,
                    c_int,
                    *const c_char,
                    ...
                ),
            >(handler)));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_device_id_is_not_found() {
        let e = resolve(
            DeviceKind::VideoInput,
            &SourceSpec::Device("video:9999".into()),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::DeviceNotFound);
    }

    #[test]
    fn every_device_id_carries_its_kind_prefix() {
        for device in get_devices() {
            let prefix = match device.kind {
                DeviceKind::AudioInput => "audio:",
                DeviceKind::VideoInput => "video:",
                DeviceKind::Screen => "screen:",
            };
            assert!(device.device_id.starts_with(prefix), "{device:?}");
        }
    }
}
