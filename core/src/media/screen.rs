//! Screen capture on X11: `screen` (the primary screen) and `screen:N`.
//!
//! x11rb speaks the X protocol in Rust (no Xlib or libxcb to link) and covers the two
//! extensions we need: RandR lists the monitors of the display, and MIT-SHM lets the server
//! copy the picture into memory we share with it instead of sending it over the socket (a
//! 1280x720 screen is 3.7 MB a frame). Without MIT-SHM (a display on another machine) the
//! picture comes through `GetImage`.
//!
//! The picture is captured at the publisher's frame rate (X has no frame clock to follow),
//! scaled down to fit within the publisher's resolution with the screen's aspect ratio (never
//! up: text stays as sharp as the screen has it), without the cursor.
//!
//! Wayland has no capture API for clients: it goes through the desktop portal and PipeWire,
//! which this build does not include. A Wayland session without an X display gets 1580
//! saying so (under XWayland, only X windows would show).

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use super::convert::bgrx_to_yuv420;
use super::scale::{Fit, I420Scaler};
use super::source::{Emitter, Pacer};
use super::{MediaKind, Source, VideoFrame};
use crate::devices::{Device, DeviceKind};
use crate::error::{Error, ErrorCode, Result};
use crate::settings::Resolution;

/// A monitor: a rectangle of the root window.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Monitor {
    name: String,
    x: i16,
    y: i16,
    width: u16,
    height: u16,
}

/// The screens of the display as devices, `screen:0` (the primary one) first.
pub(crate) fn list() -> Result<Vec<Device>> {
    let (conn, screen) = connect()?;
    let root = conn.setup().roots[screen].root;
    Ok(monitors(&conn, screen, root)
        .into_iter()
        .enumerate()
        .map(|(index, m)| device(index, &m))
        .collect())
}

/// The screen `index` names (`None`: the primary one): 1582 when there is no such screen,
/// 1581 without a display, 1580 on Wayland or when the display cannot be reached.
pub(crate) fn find(index: Option<u32>) -> Result<Device> {
    let screens = list()?;
    let count = screens.len();
    let wanted = index.unwrap_or(0) as usize;
    screens.into_iter().nth(wanted).ok_or_else(|| {
        Error::new(
            ErrorCode::DeviceNotFound,
            format!(
                "there is no screen:{wanted}; the display has {count} (get_devices() lists them)"
            ),
        )
    })
}

/// Starts capturing screen `index` (as [`list`] numbers them) at `frame_rate`, fitted within
/// `resolution`.
pub(crate) fn video(
    index: u32,
    resolution: Resolution,
    frame_rate: u32,
) -> Result<Source<VideoFrame>> {
    Source::spawn_device(
        MediaKind::Video,
        format!("screen:{index}"),
        move || Capture::open(index, resolution),
        move |capture, out| capture.run(frame_rate, out),
    )
}

fn device(index: usize, m: &Monitor) -> Device {
    Device {
        kind: DeviceKind::Screen,
        device_id: format!("screen:{index}"),
        label: format!("Screen {index} ({}, {}x{})", m.name, m.width, m.height),
    }
}

fn connect() -> Result<(RustConnection, usize)> {
    let display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
    let Some(display) = display else {
        if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            return Err(Error::new(
                ErrorCode::HardwareUnavailable,
                "screen capture on Wayland needs the desktop portal and PipeWire, which this \
                 build does not include; run the application in an X11 session (DISPLAY)",
            ));
        }
        return Err(Error::new(
            ErrorCode::NoDevicesFound,
            "no screen to capture: there is no X display (DISPLAY is not set)",
        ));
    };
    x11rb::connect(Some(&display)).map_err(|e| {
        Error::new(
            ErrorCode::HardwareUnavailable,
            format!("cannot connect to the X display {display:?}: {e}"),
        )
    })
}

/// The monitors RandR (1.5) reports, the primary one first; the whole root window when RandR
/// has none to tell.
fn monitors(conn: &RustConnection, screen: usize, root: Window) -> Vec<Monitor> {
    let from_randr = || -> Option<Vec<Monitor>> {
        conn.extension_information(x11rb::protocol::randr::X11_EXTENSION_NAME)
            .ok()??;
        let version = conn.randr_query_version(1, 5).ok()?.reply().ok()?;
        if (version.major_version, version.minor_version) < (1, 5) {
            return None;
        }
        let mut monitors = conn
            .randr_get_monitors(root, true)
            .ok()?
            .reply()
            .ok()?
            .monitors;
        // Primary first; the others keep the server's order.
        monitors.sort_by_key(|m| !m.primary);
        Some(
            monitors
                .into_iter()
                .filter(|m| m.width > 0 && m.height > 0)
                .map(|m| Monitor {
                    name: atom_name(conn, m.name).unwrap_or_else(|| "monitor".into()),
                    x: m.x,
                    y: m.y,
                    width: m.width,
                    height: m.height,
                })
                .collect(),
        )
    };
    match from_randr() {
        Some(monitors) if !monitors.is_empty() => monitors,
        _ => {
            let s = &conn.setup().roots[screen];
            vec![Monitor {
                name: "screen".into(),
                x: 0,
                y: 0,
                width: s.width_in_pixels,
                height: s.height_in_pixels,
            }]
        }
    }
}

fn atom_name(conn: &RustConnection, atom: u32) -> Option<String> {
    let reply = conn.get_atom_name(atom).ok()?.reply().ok()?;
    Some(String::from_utf8_lossy(&reply.name).into_owned())
}

/// The largest even size within `within` with the aspect ratio of `width`×`height`, no
/// larger than it.
fn fitted(width: u16, height: u16, within: Resolution) -> Resolution {
    let (w, h) = (f64::from(width), f64::from(height));
    let scale = (f64::from(within.width) / w)
        .min(f64::from(within.height) / h)
        .min(1.0);
    let even = |v: f64| ((v.round() as u32) & !1).max(Resolution::MIN);
    Resolution {
        width: even(w * scale),
        height: even(h * scale),
    }
}

/// Memory shared with the X server, which writes the picture into it.
struct SharedImage {
    segment: u32,
    data: *mut u8,
    len: usize,
    /// The memory's file, kept open for as long as it is mapped.
    file: File,
}

impl SharedImage {
    /// A segment of `len` bytes attached to the server, or `None` when the server cannot
    /// share memory with us (no MIT-SHM 1.2, another machine).
    fn attach(conn: &RustConnection, len: usize) -> Option<SharedImage> {
        conn.extension_information(x11rb::protocol::shm::X11_EXTENSION_NAME)
            .ok()??;
        let version = conn.shm_query_version().ok()?.reply().ok()?;
        if (version.major_version, version.minor_version) < (1, 2) {
            return None;
        }
        // SAFETY: memfd_create takes a NUL-terminated name and returns a new descriptor we
        // own (or -1).
        let fd = unsafe { libc::memfd_create(c"libpublisher-screen".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.set_len(len as u64).ok()?;
        // SAFETY: a fresh shared mapping of the whole file, which stays open alongside it
        // (`file`); unmapped in `drop`.
        let data = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if data == libc::MAP_FAILED {
            return None;
        }
        // From here on, dropping `image` unmaps.
        let image = SharedImage {
            segment: conn.generate_id().ok()?,
            data: data.cast(),
            len,
            file,
        };
        let server_fd: OwnedFd = image.file.try_clone().ok()?.into();
        conn.shm_attach_fd(image.segment, server_fd, false)
            .ok()?
            .check()
            .ok()?;
        Some(image)
    }

    /// What the server last wrote.
    fn bytes(&self) -> &[u8] {
        // SAFETY: `data` maps `len` bytes for as long as `self` lives; the server writes
        // them only while we wait for its reply to `shm_get_image`.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for SharedImage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `attach`, unmapped once.
        unsafe {
            libc::munmap(self.data.cast(), self.len);
        }
    }
}

struct Capture {
    conn: RustConnection,
    screen: usize,
    root: Window,
    index: u32,
    monitor: Monitor,
    within: Resolution,
    shared: Option<SharedImage>,
    scaler: Option<I420Scaler>,
}

impl Capture {
    fn open(index: u32, within: Resolution) -> Result<Capture> {
        let (conn, screen) = connect()?;
        check_pixel_format(&conn, screen)?;
        let root = conn.setup().roots[screen].root;
        let monitor = monitors(&conn, screen, root)
            .into_iter()
            .nth(index as usize)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::DeviceNotFound,
                    format!("there is no screen:{index} (get_devices() lists them)"),
                )
            })?;
        let mut capture = Capture {
            conn,
            screen,
            root,
            index,
            monitor,
            within,
            shared: None,
            scaler: None,
        };
        capture.size_for_monitor();
        // A first picture now: a screen that cannot be read fails the open, not the stream.
        capture.grab()?;
        tracing::debug!(
            "capturing {} ({}x{}) {}",
            capture.monitor.name,
            capture.monitor.width,
            capture.monitor.height,
            if capture.shared.is_some() {
                "through shared memory"
            } else {
                "through GetImage"
            }
        );
        Ok(capture)
    }

    /// Buffers and scaler for the monitor's size.
    fn size_for_monitor(&mut self) {
        let (w, h) = (self.monitor.width, self.monitor.height);
        let len = usize::from(w) * usize::from(h) * 4;
        self.release_shared();
        self.shared = SharedImage::attach(&self.conn, len);
        let out = fitted(w, h, self.within);
        self.scaler = ((out.width, out.height) != (u32::from(w), u32::from(h)))
            .then(|| I420Scaler::new(w.into(), h.into(), out, Fit::Stretch));
    }

    fn run(mut self, frame_rate: u32, out: &Emitter<VideoFrame>) -> Result<()> {
        let mut pacer = Pacer::new(std::time::Duration::from_secs_f64(
            1.0 / f64::from(frame_rate.max(1)),
        ));
        while let Some(due) = pacer.next_due(out) {
            let (width, height, data) = match self.grab() {
                Ok(picture) => picture,
                Err(e) if self.conn_alive() => {
                    // The screen changed size (a monitor unplugged or resized): read it again.
                    tracing::debug!(
                        "screen capture failed ({}); reading the monitors again",
                        e.message
                    );
                    let monitors = monitors(&self.conn, self.screen, self.root);
                    match monitors.into_iter().nth(self.index as usize) {
                        Some(monitor) if monitor != self.monitor => {
                            self.monitor = monitor;
                            self.size_for_monitor();
                            continue;
                        }
                        _ => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            out.emit(VideoFrame {
                width,
                height,
                timestamp_us: due.timestamp_us,
                data: data.into(),
            });
        }
        self.release_shared();
        Ok(())
    }

    /// Detaches the shared memory from the server, then unmaps it.
    fn release_shared(&mut self) {
        if let Some(shared) = self.shared.take() {
            let _ = self.conn.shm_detach(shared.segment);
            let _ = self.conn.flush();
        }
    }

    fn conn_alive(&self) -> bool {
        self.conn
            .get_input_focus()
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some()
    }

    /// One picture of the monitor as I420 of the output size.
    fn grab(&self) -> Result<(u32, u32, Vec<u8>)> {
        let m = &self.monitor;
        let lost = |e: &dyn std::fmt::Display| {
            Error::new(
                ErrorCode::HardwareUnavailable,
                format!("cannot capture the screen {:?}: {e}", m.name),
            )
        };
        let (x, y, width, height) = (m.x, m.y, m.width, m.height);
        let owned;
        let pixels: &[u8] = match &self.shared {
            Some(shared) => {
                let format = u8::from(ImageFormat::Z_PIXMAP);
                let (root, segment) = (self.root, shared.segment);
                self.conn
                    .shm_get_image(root, x, y, width, height, !0, format, segment, 0)
                    .map_err(|e| lost(&e))?
                    .reply()
                    .map_err(|e| lost(&e))?;
                shared.bytes()
            }
            None => {
                let format = ImageFormat::Z_PIXMAP;
                let reply = self
                    .conn
                    .get_image(format, self.root, x, y, width, height, !0)
                    .map_err(|e| lost(&e))?
                    .reply()
                    .map_err(|e| lost(&e))?;
                owned = reply.data;
                &owned
            }
        };
        let (w, h) = (usize::from(m.width), usize::from(m.height));
        let yuv = bgrx_to_yuv420(pixels, w * 4, w, h)
            .ok_or_else(|| lost(&"the server sent a picture shorter than the screen"))?;
        Ok(match &self.scaler {
            Some(scaler) => {
                let (ow, oh) = scaler.output_size();
                (ow, oh, scaler.scale_packed(&yuv))
            }
            None => (u32::from(m.width), u32::from(m.height), yuv),
        })
    }
}

/// Only 24-bit colour in 32-bit pixels, as every desktop has it, is read.
fn check_pixel_format(conn: &RustConnection, screen: usize) -> Result<()> {
    let setup = conn.setup();
    let root = &setup.roots[screen];
    let bits = setup
        .pixmap_formats
        .iter()
        .find(|f| f.depth == root.root_depth)
        .map(|f| f.bits_per_pixel);
    let visual = root
        .allowed_depths
        .iter()
        .flat_map(|d| d.visuals.iter())
        .find(|v| v.visual_id == root.root_visual);
    let masks = visual.map(|v| (v.red_mask, v.green_mask, v.blue_mask));
    let supported = matches!(root.root_depth, 24 | 32)
        && bits == Some(32)
        && setup.image_byte_order == ImageOrder::LSB_FIRST
        && masks == Some((0xff_0000, 0xff00, 0xff));
    if supported {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::HardwareUnavailable,
            format!(
                "the X display's pixel format is not supported (depth {}, {} bits a pixel); \
                 24-bit colour is",
                root.root_depth,
                bits.unwrap_or(0)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(width: u32, height: u32) -> Resolution {
        Resolution { width, height }
    }

    #[test]
    fn a_screen_fits_within_the_resolution_with_its_own_shape_and_is_never_enlarged() {
        assert_eq!(fitted(1280, 720, res(640, 480)), res(640, 360));
        assert_eq!(fitted(1920, 1080, res(1280, 720)), res(1280, 720));
        assert_eq!(fitted(1280, 1024, res(1280, 720)), res(900, 720));
        assert_eq!(fitted(800, 600, res(1280, 720)), res(800, 600));
        // Odd sides become even.
        assert_eq!(fitted(1001, 601, res(3840, 2160)), res(1000, 600));
    }
}
