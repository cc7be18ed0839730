//! Conversion of pictures to I420, the layout every encoder takes: RGB and RGBA by BT.601
//! (limited range), the camera layouts (YUYV, NV12, grey) by moving samples, and a host-pushed
//! frame of any layout and size into an I420 frame of the publisher's size.

use super::frame::{VideoFormat, VideoFrameRef};
use super::scale::{Fit, I420Scaler, Plane};
use super::VideoFrame;
use crate::settings::Resolution;

/// BT.601 limited range ("studio swing"), as video codecs expect: Y 16..235, U/V 16..240.
fn luma(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

fn chroma(r: i32, g: i32, b: i32) -> (u8, u8) {
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (u as u8, v as u8)
}

/// Where red, green and blue lie in a packed pixel.
#[derive(Debug, Clone, Copy)]
struct Packed {
    bytes_per_pixel: usize,
    /// Byte offsets of red, green and blue.
    rgb: [usize; 3],
}

/// RGB, 3 bytes a pixel (as nokhwa decodes MJPEG).
const RGB: Packed = Packed {
    bytes_per_pixel: 3,
    rgb: [0, 1, 2],
};
/// RGBA, 4 bytes a pixel, alpha ignored (host-pushed frames).
const RGBA: Packed = Packed {
    bytes_per_pixel: 4,
    rgb: [0, 1, 2],
};
/// BGRX, 4 bytes a pixel (an X server's 24-bit colour, least significant byte first).
const BGRX: Packed = Packed {
    bytes_per_pixel: 4,
    rgb: [2, 1, 0],
};

/// Packed pixels of `w`×`h` laid out as `layout` says, rows of `stride` bytes, into tightly
/// packed planes: Y of `w`×`h`, U and V of ceil(w/2)×ceil(h/2), each chroma sample from the
/// mean colour of its (up to) 2×2 pixels.
fn rgb_to_yuv(
    src: &[u8],
    layout: Packed,
    stride: usize,
    (w, h): (usize, usize),
    [y, u, v]: [&mut [u8]; 3],
) {
    let Packed {
        bytes_per_pixel,
        rgb: [ri, gi, bi],
    } = layout;
    let cw = w.div_ceil(2);
    for row in 0..h {
        let line = &src[row * stride..row * stride + w * bytes_per_pixel];
        for (x, px) in line.chunks_exact(bytes_per_pixel).enumerate() {
            y[row * w + x] = luma(px[ri].into(), px[gi].into(), px[bi].into());
        }
    }
    for cy in 0..h.div_ceil(2) {
        let rows = 2 * cy..(2 * cy + 2).min(h);
        for cx in 0..cw {
            let cols = 2 * cx..(2 * cx + 2).min(w);
            let (mut r, mut g, mut b, mut n) = (0i32, 0i32, 0i32, 0i32);
            for row in rows.clone() {
                for col in cols.clone() {
                    let p = row * stride + col * bytes_per_pixel;
                    r += i32::from(src[p + ri]);
                    g += i32::from(src[p + gi]);
                    b += i32::from(src[p + bi]);
                    n += 1;
                }
            }
            let (cu, cv) = chroma((r + n / 2) / n, (g + n / 2) / n, (b + n / 2) / n);
            u[cy * cw + cx] = cu;
            v[cy * cw + cx] = cv;
        }
    }
}

/// An I420 frame of `w`×`h` (even) with every sample `fill`.
fn i420_frame(w: usize, h: usize, fill: u8) -> Vec<u8> {
    vec![fill; VideoFrame::i420_len(w as u32, h as u32)]
}

/// The Y, U and V planes of an I420 frame of `w`×`h` (even).
fn split_planes(frame: &mut [u8], w: usize, h: usize) -> [&mut [u8]; 3] {
    let (y, chroma) = frame.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(w * h / 4);
    [y, u, v]
}

/// Packed RGB (as nokhwa decodes MJPEG), `stride_px` pixels a row, to I420 of `w`×`h` (even).
/// `None` if the buffer is too short.
pub(crate) fn rgb_to_i420(src: &[u8], stride_px: u32, w: u32, h: u32) -> Option<Vec<u8>> {
    let (w, h, stride) = (w as usize, h as usize, stride_px as usize * 3);
    if w * 3 > stride || src.len() < stride * h {
        return None;
    }
    let mut out = i420_frame(w, h, 0);
    rgb_to_yuv(src, RGB, stride, (w, h), split_planes(&mut out, w, h));
    Some(out)
}

/// YUYV (4:2:2 packed, `stride_px` pixels a row) to I420 of `w`×`h` (even), averaging the
/// chroma of each pair of rows. `None` if the buffer is too short.
pub(crate) fn yuyv_to_i420(src: &[u8], stride_px: u32, w: u32, h: u32) -> Option<Vec<u8>> {
    let (w, h, stride) = (w as usize, h as usize, stride_px as usize * 2);
    if src.len() < stride * h || w > stride_px as usize {
        return None;
    }
    let mut out = i420_frame(w, h, 0);
    let [y, u, v] = split_planes(&mut out, w, h);
    for row in 0..h {
        let line = &src[row * stride..row * stride + w * 2];
        for x in 0..w {
            y[row * w + x] = line[x * 2];
        }
    }
    for row in 0..h / 2 {
        let (a, b) = (&src[2 * row * stride..], &src[(2 * row + 1) * stride..]);
        for x in 0..w / 2 {
            let at = x * 4;
            u[row * w / 2 + x] = (u16::from(a[at + 1]) + u16::from(b[at + 1])).div_ceil(2) as u8;
            v[row * w / 2 + x] = (u16::from(a[at + 3]) + u16::from(b[at + 3])).div_ceil(2) as u8;
        }
    }
    Some(out)
}

/// NV12 (Y plane, then interleaved UV at half resolution), `stride_px` bytes a row, to I420
/// of `w`×`h` (even). `None` if the buffer is too short.
pub(crate) fn nv12_to_i420(src: &[u8], stride_px: u32, w: u32, h: u32) -> Option<Vec<u8>> {
    let (w, h, stride) = (w as usize, h as usize, stride_px as usize);
    if w > stride || src.len() < stride * h + stride * (h / 2) {
        return None;
    }
    let mut out = i420_frame(w, h, 0);
    let [y, u, v] = split_planes(&mut out, w, h);
    copy_rows(src, stride, w, h, y);
    let uv = &src[stride * h..];
    for row in 0..h / 2 {
        for x in 0..w / 2 {
            u[row * w / 2 + x] = uv[row * stride + 2 * x];
            v[row * w / 2 + x] = uv[row * stride + 2 * x + 1];
        }
    }
    Some(out)
}

/// Grey (luma only), `stride_px` bytes a row, to I420 of `w`×`h` (even) with neutral chroma.
/// `None` if the buffer is too short.
pub(crate) fn grey_to_i420(src: &[u8], stride_px: u32, w: u32, h: u32) -> Option<Vec<u8>> {
    let (w, h, stride) = (w as usize, h as usize, stride_px as usize);
    if w > stride || src.len() < stride * h {
        return None;
    }
    let mut out = i420_frame(w, h, 128);
    copy_rows(src, stride, w, h, &mut out[..w * h]);
    Some(out)
}

/// BGRX of `w`×`h` (any sides), rows of `stride` bytes, as packed 4:2:0 planes (chroma of
/// ceil(w/2)×ceil(h/2), as [`I420Scaler::scale_packed`] takes them). `None` if the buffer is
/// too short.
pub(crate) fn bgrx_to_yuv420(src: &[u8], stride: usize, w: usize, h: usize) -> Option<Vec<u8>> {
    if w * 4 > stride || src.len() < stride * h.saturating_sub(1) + w * 4 {
        return None;
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0u8; w * h + 2 * cw * ch];
    let (y, chroma) = out.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(cw * ch);
    rgb_to_yuv(src, BGRX, stride, (w, h), [y, u, v]);
    Some(out)
}

/// The first `w` bytes of `h` rows of `stride` bytes, packed into `dst`.
fn copy_rows(src: &[u8], stride: usize, w: usize, h: usize, dst: &mut [u8]) {
    for (row, out) in dst.chunks_exact_mut(w).take(h).enumerate() {
        out.copy_from_slice(&src[row * stride..row * stride + w]);
    }
}

/// A host-pushed frame (checked) as I420 of the publisher's size `out`: RGBA converted by
/// BT.601, then the whole picture scaled to the exact size (the aspect ratio is the host's).
pub(crate) fn pushed_frame_to_i420(frame: &VideoFrameRef<'_>, out: Resolution) -> Vec<u8> {
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let scaler = || I420Scaler::new(frame.width, frame.height, out, Fit::Stretch);
    match frame.format {
        VideoFormat::I420 => {
            let plane = |i: usize| Plane {
                data: frame.planes[i],
                stride: frame.strides[i],
            };
            scaler().scale_planes(plane(0), Some([plane(1), plane(2)]))
        }
        // At the publisher's size, straight into the frame.
        VideoFormat::Rgba if (frame.width, frame.height) == (out.width, out.height) => {
            let mut i420 = i420_frame(sw, sh, 0);
            let planes = split_planes(&mut i420, sw, sh);
            rgb_to_yuv(frame.planes[0], RGBA, frame.strides[0], (sw, sh), planes);
            i420
        }
        VideoFormat::Rgba => {
            let (cw, ch) = (sw.div_ceil(2), sh.div_ceil(2));
            let mut yuv = vec![0u8; sw * sh + 2 * cw * ch];
            {
                let (y, chroma) = yuv.split_at_mut(sw * sh);
                let (u, v) = chroma.split_at_mut(cw * ch);
                rgb_to_yuv(frame.planes[0], RGBA, frame.strides[0], (sw, sh), [y, u, v]);
            }
            scaler().scale_packed(&yuv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(width: u32, height: u32) -> Resolution {
        Resolution { width, height }
    }

    fn rgba(w: usize, h: usize, color: [u8; 3]) -> Vec<u8> {
        (0..w * h)
            .flat_map(|_| [color[0], color[1], color[2], 255])
            .collect()
    }

    #[test]
    fn bt601_of_primaries_and_greys() {
        assert_eq!(luma(0, 0, 0), 16);
        assert_eq!(luma(255, 255, 255), 235);
        assert_eq!(chroma(255, 255, 255), (128, 128));
        assert_eq!((luma(255, 0, 0), chroma(255, 0, 0)), (82, (90, 240)));
        assert_eq!((luma(0, 255, 0), chroma(0, 255, 0)), (144, (54, 34)));
        assert_eq!((luma(0, 0, 255), chroma(0, 0, 255)), (41, (240, 110)));
    }

    #[test]
    fn rgb_converts_with_bt601_levels() {
        let white = rgb_to_i420(&[255; 12], 2, 2, 2).unwrap();
        assert_eq!(white, [235, 235, 235, 235, 128, 128]);
        let black = rgb_to_i420(&[0; 12], 2, 2, 2).unwrap();
        assert_eq!(black, [16, 16, 16, 16, 128, 128]);
        // A red pixel among three black ones: chroma of the rounded mean colour.
        let mut quad = [0u8; 12];
        quad[0] = 255;
        let mixed = rgb_to_i420(&quad, 2, 2, 2).unwrap();
        assert_eq!(&mixed[..4], [82, 16, 16, 16]);
        assert_eq!(&mixed[4..], [chroma(64, 0, 0).0, chroma(64, 0, 0).1]);
        // Rows wider than the picture (a camera's odd width trimmed to even) are skipped over.
        let padded = rgb_to_i420(&[255; 18], 3, 2, 2).unwrap();
        assert_eq!(padded, white);
    }

    #[test]
    fn rgba_of_odd_size_averages_partial_chroma_blocks() {
        // 3x1: chroma from pixels (0,1) and (2) alone.
        let src = [255, 0, 0, 9, 255, 0, 0, 9, 0, 0, 255, 9];
        let (mut y, mut u, mut v) = ([0u8; 3], [0u8; 2], [0u8; 2]);
        rgb_to_yuv(&src, RGBA, 12, (3, 1), [&mut y, &mut u, &mut v]);
        assert_eq!(y, [82, 82, 41]);
        assert_eq!((u, v), ([90, 240], [240, 110]));
    }

    #[test]
    fn bgrx_rows_with_padding_convert_blue_first() {
        // 3x1 of an X server (B, G, R, X), rows of 16 bytes: red, red, blue.
        let src = [0, 0, 255, 0, 0, 0, 255, 0, 255, 0, 0, 0, 7, 7, 7, 7];
        let out = bgrx_to_yuv420(&src, 16, 3, 1).unwrap();
        assert_eq!(out, [82, 82, 41, 90, 240, 240, 110]);
        assert!(bgrx_to_yuv420(&src[..11], 16, 3, 1).is_none());
        assert!(bgrx_to_yuv420(&src, 8, 3, 1).is_none());
    }

    #[test]
    fn packed_and_semi_planar_frames_convert_to_i420() {
        // 4x2 YUYV: Y 10..17, U 100/104 over the two rows, V 200/204.
        let yuyv = [
            10, 100, 11, 200, 12, 100, 13, 200, //
            14, 104, 15, 204, 16, 104, 17, 204,
        ];
        let out = yuyv_to_i420(&yuyv, 4, 4, 2).unwrap();
        assert_eq!(&out[..8], &[10, 11, 12, 13, 14, 15, 16, 17]);
        assert_eq!(&out[8..], &[102, 102, 202, 202]);
        // 4x2 NV12.
        let nv12 = [1, 2, 3, 4, 5, 6, 7, 8, 50, 60, 51, 61];
        let out = nv12_to_i420(&nv12, 4, 4, 2).unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 50, 51, 60, 61]);
        // Grey gets neutral chroma; short buffers are refused, not read past.
        assert_eq!(
            grey_to_i420(&[9; 8], 4, 4, 2).unwrap()[8..],
            [128, 128, 128, 128]
        );
        assert!(yuyv_to_i420(&yuyv[..10], 4, 4, 2).is_none());
        assert!(nv12_to_i420(&nv12[..9], 4, 4, 2).is_none());
        assert!(rgb_to_i420(&[0; 5], 2, 2, 2).is_none());
    }

    #[test]
    fn pushed_rgba_converts_and_scales_to_the_publisher_size() {
        for (w, h) in [(64, 48), (33, 17), (640, 480)] {
            let pixels = rgba(w, h, [255, 0, 0]);
            let frame = VideoFrameRef::packed(VideoFormat::Rgba, w as u32, h as u32, &pixels, None)
                .unwrap();
            let out = pushed_frame_to_i420(&frame, res(64, 48));
            assert_eq!(out.len(), VideoFrame::i420_len(64, 48));
            let (y, chroma) = out.split_at(64 * 48);
            let (u, v) = chroma.split_at(32 * 24);
            assert!(y.iter().all(|&p| p == 82), "{w}x{h}");
            assert!(u.iter().all(|&p| p == 90) && v.iter().all(|&p| p == 240));
        }
    }

    #[test]
    fn pushed_i420_with_strides_is_copied_without_padding() {
        // 4x2 with rows padded to 8 (Y) and 4 (U, V) bytes.
        let y = [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0];
        let (u, v) = ([9, 10, 0, 0], [11, 12, 0, 0]);
        let frame = VideoFrameRef {
            format: VideoFormat::I420,
            width: 4,
            height: 2,
            planes: [&y, &u, &v],
            strides: [8, 4, 4],
            timestamp_us: None,
        };
        frame.check().unwrap();
        assert_eq!(
            pushed_frame_to_i420(&frame, res(4, 2)),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
    }
}
