//! Camera capture through nokhwa (V4L2 on Linux, the native API elsewhere).
//!
//! We pick the camera mode ourselves (closest to the requested size and rate, preferring
//! formats we convert without decoding), convert each frame to I420 and scale it to the
//! publisher's resolution. The camera object lives on the source's thread from open to close.
//!
//! No test machine has a camera (no /dev/video*, and v4l2loopback needs a kernel module), so
//! the parts that do not need one — mode choice and error mapping here, pixel conversion in
//! `convert` — are unit tested, and the capture loop is exercised only where a camera exists.

use std::time::{Duration, Instant};

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};

use super::convert::{grey_to_i420, nv12_to_i420, rgb_to_i420, yuyv_to_i420};
use super::scale::{Fit, I420Scaler};
use super::source::Emitter;
use super::{MediaKind, Source, VideoFrame};
use crate::error::{Error, ErrorCode, Result};
use crate::settings::Resolution;

/// A camera that delivered frames and then delivers none for this long has stopped.
const STALL_LIMIT: Duration = Duration::from_secs(3);

/// Opens camera number `index` (from a `video:<index>` device id) and starts capturing,
/// scaled to `resolution`, at about `frame_rate`.
pub(crate) fn open(
    index: u32,
    label: &str,
    resolution: Resolution,
    frame_rate: u32,
) -> Result<Source<VideoFrame>> {
    let name = label.to_string();
    Source::spawn_device(
        MediaKind::Video,
        label,
        move || Capture::start(index, &name, resolution, frame_rate),
        Capture::run,
    )
}

struct Capture {
    camera: nokhwa::Camera,
    label: String,
    output: Resolution,
    scaler: Option<I420Scaler>,
}

impl Capture {
    fn start(index: u32, label: &str, output: Resolution, frame_rate: u32) -> Result<Capture> {
        let fail = |e: nokhwa::NokhwaError| open_error(label, &e.to_string());
        let mut camera = nokhwa::Camera::new(
            CameraIndex::Index(index),
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::None),
        )
        .map_err(fail)?;
        let modes: Vec<Mode> = camera
            .compatible_camera_formats()
            .map_err(fail)?
            .into_iter()
            .map(Mode::from)
            .collect();
        let Some(mode) = best_mode(&modes, output, frame_rate) else {
            return Err(Error::new(
                ErrorCode::ConstraintsNotSatisfied,
                format!(
                    "the camera {label:?} offers no mode we can use for {}x{} at {frame_rate} \
                     fps (it offers {})",
                    output.width,
                    output.height,
                    describe(&modes)
                ),
            ));
        };
        camera
            .set_camera_requset(RequestedFormat::new::<RgbFormat>(
                RequestedFormatType::Exact(mode.into()),
            ))
            .map_err(|e| {
                Error::new(
                    ErrorCode::ConstraintsNotSatisfied,
                    format!("the camera {label:?} refused {mode:?}: {e}"),
                )
            })?;
        camera.open_stream().map_err(fail)?;
        tracing::info!(camera = %label, ?mode, "camera capturing");
        Ok(Capture {
            camera,
            label: label.to_string(),
            output,
            scaler: None,
        })
    }

    fn run(mut self, emitter: &Emitter<VideoFrame>) -> Result<()> {
        let started = Instant::now();
        let mut last_frame = Instant::now();
        while !emitter.should_stop() {
            let buffer = match self.camera.frame() {
                Ok(buffer) => buffer,
                Err(e) if last_frame.elapsed() < STALL_LIMIT => {
                    tracing::debug!("camera frame: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(e) => {
                    let _ = self.camera.stop_stream();
                    return Err(Error::new(
                        ErrorCode::HardwareUnavailable,
                        format!("the camera {:?} stopped: {e}", self.label),
                    ));
                }
            };
            last_frame = Instant::now();
            let size = buffer.resolution();
            let (w, h) = (size.width() & !1, size.height() & !1);
            let i420 = match buffer.source_frame_format() {
                FrameFormat::YUYV => yuyv_to_i420(buffer.buffer(), size.width(), w, h),
                FrameFormat::NV12 => nv12_to_i420(buffer.buffer(), size.width(), w, h),
                FrameFormat::GRAY => grey_to_i420(buffer.buffer(), size.width(), w, h),
                _ => buffer
                    .decode_image::<RgbFormat>()
                    .ok()
                    .and_then(|rgb| rgb_to_i420(rgb.as_raw(), size.width(), w, h)),
            };
            let Some(i420) = i420 else {
                tracing::debug!("camera frame of an unexpected size; skipped");
                continue;
            };
            if self.scaler.as_ref().map(I420Scaler::source_size) != Some((w, h)) {
                self.scaler = Some(I420Scaler::new(w, h, self.output, Fit::CropToAspect));
            }
            let data = match &self.scaler {
                Some(scaler) => scaler.scale_packed(&i420),
                None => i420,
            };
            emitter.emit(VideoFrame {
                width: self.output.width,
                height: self.output.height,
                timestamp_us: started.elapsed().as_micros() as u64,
                data: data.into(),
            });
        }
        let _ = self.camera.stop_stream();
        Ok(())
    }
}

/// One camera mode, in the terms we choose by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    width: u32,
    height: u32,
    fps: u32,
    format: FrameFormat,
}

impl From<CameraFormat> for Mode {
    fn from(f: CameraFormat) -> Self {
        Mode {
            width: f.width(),
            height: f.height(),
            fps: f.frame_rate(),
            format: f.format(),
        }
    }
}

impl From<Mode> for CameraFormat {
    fn from(m: Mode) -> Self {
        CameraFormat::new_from(m.width, m.height, m.format, m.fps)
    }
}

fn describe(modes: &[Mode]) -> String {
    if modes.is_empty() {
        return "no modes".into();
    }
    let mut list: Vec<String> = modes
        .iter()
        .map(|m| format!("{}x{}@{} {}", m.width, m.height, m.fps, m.format))
        .collect();
    list.truncate(8);
    list.join(", ")
}

/// The mode to capture in for `wanted` at `fps`: at least the requested size if the camera
/// has one (we scale down, never up, when we can), the closest size otherwise; then a frame
/// rate of at least `fps`, as close as possible; then raw formats before MJPEG (no decoding).
fn best_mode(modes: &[Mode], wanted: Resolution, fps: u32) -> Option<Mode> {
    let usable = |m: &&Mode| m.width >= 2 && m.height >= 2 && m.fps > 0;
    let covers = |m: &Mode| m.width >= wanted.width && m.height >= wanted.height;
    let area = |m: &Mode| u64::from(m.width) * u64::from(m.height);
    let wanted_area = u64::from(wanted.width) * u64::from(wanted.height);
    let format_cost = |f: FrameFormat| match f {
        FrameFormat::NV12 | FrameFormat::YUYV => 0,
        FrameFormat::GRAY => 2,
        FrameFormat::MJPEG => 1,
        FrameFormat::RAWRGB | FrameFormat::RAWBGR => 1,
    };
    modes.iter().filter(usable).copied().min_by_key(|m| {
        (
            // Modes that cover the request first, the smallest of them; else the largest.
            !covers(m),
            if covers(m) {
                area(m) - wanted_area
            } else {
                wanted_area.saturating_sub(area(m))
            },
            // A rate that keeps up first, the closest.
            m.fps < fps,
            m.fps.abs_diff(fps),
            format_cost(m.format),
        )
    })
}

/// Maps a failure to open a camera to the error a user can act on.
fn open_error(label: &str, detail: &str) -> Error {
    let lower = detail.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if crate::devices::says_access_denied(detail) {
        return crate::devices::access_denied(&format!("camera {label:?}"), detail);
    }
    if has(&["busy", "ebusy"]) {
        return Error::new(
            ErrorCode::HardwareUnavailable,
            format!("the camera {label:?} is in use by another program ({detail})"),
        );
    }
    if has(&["no such file", "no such device", "enoent", "enodev"]) {
        return Error::new(
            ErrorCode::DeviceNotFound,
            format!("the camera {label:?} is no longer present ({detail})"),
        );
    }
    Error::new(
        ErrorCode::HardwareUnavailable,
        format!("the camera {label:?} cannot be opened ({detail})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(width: u32, height: u32, fps: u32, format: FrameFormat) -> Mode {
        Mode {
            width,
            height,
            fps,
            format,
        }
    }

    const HD: Resolution = Resolution {
        width: 1280,
        height: 720,
    };

    #[test]
    fn picks_the_smallest_mode_covering_the_request_at_a_rate_that_keeps_up() {
        use FrameFormat::{MJPEG, YUYV};
        let modes = [
            mode(640, 480, 30, YUYV),
            mode(1280, 720, 10, YUYV),
            mode(1280, 720, 30, MJPEG),
            mode(1920, 1080, 30, MJPEG),
        ];
        // 720p30 only comes as MJPEG: a rate that keeps up beats a raw format at 10 fps.
        assert_eq!(best_mode(&modes, HD, 30), Some(modes[2]));
        // With raw 720p30 too, the raw one wins.
        let with_raw = [modes[2], mode(1280, 720, 30, YUYV)];
        assert_eq!(best_mode(&with_raw, HD, 30), Some(with_raw[1]));
        // Asking for more than the camera has: the largest it has.
        let small = [mode(320, 240, 30, YUYV), mode(640, 480, 30, YUYV)];
        assert_eq!(best_mode(&small, HD, 30), Some(small[1]));
        // Nothing usable.
        assert_eq!(best_mode(&[], HD, 30), None);
        assert_eq!(best_mode(&[mode(0, 0, 30, YUYV)], HD, 30), None);
    }

    #[test]
    fn os_errors_map_to_codes_a_user_can_act_on() {
        let denied = open_error(
            "cam",
            "Could not open device: Permission denied (os error 13)",
        );
        assert_eq!(denied.code, ErrorCode::UserMediaAccessDenied);
        assert!(denied.message.starts_with("Publisher Access Denied:"));
        let busy = open_error("cam", "Device or resource busy (os error 16)");
        assert_eq!(busy.code, ErrorCode::HardwareUnavailable);
        let gone = open_error("cam", "No such file or directory (os error 2)");
        assert_eq!(gone.code, ErrorCode::DeviceNotFound);
        let other = open_error("cam", "Invalid argument");
        assert_eq!(other.code, ErrorCode::HardwareUnavailable);
    }
}
