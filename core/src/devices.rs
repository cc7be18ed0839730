//! Capture devices present on this machine: microphones through cpal, cameras through nokhwa.

use crate::error::{Error, ErrorCode, Result};
use crate::media::MediaKind;
use crate::settings::SourceSpec;

/// A device's kind, named as in the browser's `MediaDeviceInfo.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A microphone.
    AudioInput,
    /// A camera.
    VideoInput,
}

impl DeviceKind {
    /// `"audioInput"` or `"videoInput"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::AudioInput => "audioInput",
            DeviceKind::VideoInput => "videoInput",
        }
    }

    /// The media this kind of device captures.
    pub fn media(self) -> MediaKind {
        match self {
            DeviceKind::AudioInput => MediaKind::Audio,
            DeviceKind::VideoInput => MediaKind::Video,
        }
    }
}

/// One capture device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Microphone or camera.
    pub kind: DeviceKind,
    /// Stable id to pass as `audioSource`/`videoSource`; `audio:` or `video:` prefixed so that
    /// it never collides with the keywords `default`, `synthetic`, `custom` or `file:`.
    pub device_id: String,
    /// Name for people.
    pub label: String,
}

/// Every microphone and camera present. A machine without any gives an empty list; a backend
/// that cannot enumerate is logged and skipped, so one broken backend hides only its devices.
pub fn get_devices() -> Vec<Device> {
    let mut devices = microphones();
    devices.extend(cameras());
    devices
}

/// Devices of one kind.
pub fn devices_of(kind: DeviceKind) -> Vec<Device> {
    match kind {
        DeviceKind::AudioInput => microphones(),
        DeviceKind::VideoInput => cameras(),
    }
}

/// The device a source string names, for the sources that are devices: `default` is the
/// first device of the kind (1581 NO_DEVICES_FOUND when there is none), a device id must be
/// present and of the kind (1582 DEVICE_NOT_FOUND). Other sources need no device: `None`.
pub fn resolve(kind: DeviceKind, spec: &SourceSpec) -> Result<Option<Device>> {
    let what = match kind {
        DeviceKind::AudioInput => "microphone",
        DeviceKind::VideoInput => "camera",
    };
    match spec {
        SourceSpec::Default => devices_of(kind)
            .into_iter()
            .next()
            .map(Some)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NoDevicesFound,
                    format!("no {what} is present (use \"synthetic\" for a test source)"),
                )
            }),
        SourceSpec::Device(id) => {
            let all = get_devices();
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

    pub(super) fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| unsafe {
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
            };
            assert!(device.device_id.starts_with(prefix), "{device:?}");
        }
    }
}
