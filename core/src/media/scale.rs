//! Scaling I420 pictures to the publisher's resolution: the largest centred part of the
//! picture with the requested aspect ratio, scaled bilinearly (what browsers do with a camera
//! of another shape). Used by file, camera and host-pushed sources.

use super::VideoFrame;
use crate::settings::Resolution;

/// A rectangle of a plane, in pixels (fractional after cropping to an aspect ratio).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Crop {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// Where each output pixel along one axis samples the input: two neighbours and the weight
/// (out of 256) of the second.
struct Axis {
    taps: Vec<(usize, usize, u32)>,
}

impl Axis {
    fn new(src_len: usize, start: f64, len: f64, dst_len: usize) -> Self {
        let last = src_len.saturating_sub(1);
        let taps = (0..dst_len)
            .map(|d| {
                // Pixel centres: output pixel d covers [d, d+1) of dst_len, mapped into the crop.
                let s =
                    (start + (d as f64 + 0.5) * len / dst_len as f64 - 0.5).clamp(0.0, last as f64);
                let i0 = (s.floor() as usize).min(last);
                let weight = ((s - i0 as f64) * 256.0).round() as u32;
                (i0, (i0 + 1).min(last), weight.min(256))
            })
            .collect();
        Axis { taps }
    }
}

/// Bilinear scaling of one plane, with its sampling positions worked out once.
pub(crate) struct PlaneScaler {
    src_w: usize,
    x: Axis,
    y: Axis,
}

impl PlaneScaler {
    pub(crate) fn new(src: (usize, usize), crop: Crop, dst: (usize, usize)) -> Self {
        PlaneScaler {
            src_w: src.0,
            x: Axis::new(src.0, crop.x, crop.w, dst.0),
            y: Axis::new(src.1, crop.y, crop.h, dst.1),
        }
    }

    /// Scales `src` (`src_w` wide) into `dst`; a short `src` leaves the rest of `dst` as is.
    pub(crate) fn scale(&self, src: &[u8], dst: &mut [u8]) {
        let dst_w = self.x.taps.len();
        if dst_w == 0 || self.src_w == 0 {
            return;
        }
        for (row_out, &(y0, y1, wy)) in dst.chunks_exact_mut(dst_w).zip(&self.y.taps) {
            let (Some(r0), Some(r1)) = (
                src.get(y0 * self.src_w..(y0 + 1) * self.src_w),
                src.get(y1 * self.src_w..(y1 + 1) * self.src_w),
            ) else {
                return;
            };
            for (px, &(x0, x1, wx)) in row_out.iter_mut().zip(&self.x.taps) {
                let top = u32::from(r0[x0]) * (256 - wx) + u32::from(r0[x1]) * wx;
                let bottom = u32::from(r1[x0]) * (256 - wx) + u32::from(r1[x1]) * wx;
                *px = ((top * (256 - wy) + bottom * wy + (1 << 15)) >> 16) as u8;
            }
        }
    }
}

impl Crop {
    /// The largest centred part of a `width`×`height` picture with the aspect ratio of `out`.
    pub(crate) fn centred(width: u32, height: u32, out: Resolution) -> Crop {
        let (sw, sh) = (f64::from(width), f64::from(height));
        let (dw, dh) = (f64::from(out.width), f64::from(out.height));
        let (w, h) = if sw * dh > dw * sh {
            (sh * dw / dh, sh)
        } else {
            (sw, sw * dh / dw)
        };
        Crop {
            x: (sw - w) / 2.0,
            y: (sh - h) / 2.0,
            w,
            h,
        }
    }

    /// The same rectangle on a half-resolution (chroma) plane.
    pub(crate) fn halved(self) -> Crop {
        Crop {
            x: self.x / 2.0,
            y: self.y / 2.0,
            w: self.w / 2.0,
            h: self.h / 2.0,
        }
    }
}

/// Scales whole I420 frames of one size to another, the sampling worked out once.
pub(crate) struct I420Scaler {
    src: (u32, u32),
    out: Resolution,
    planes: Option<(PlaneScaler, PlaneScaler)>,
}

impl I420Scaler {
    /// For frames of `width`×`height` (even) into `out`.
    pub(crate) fn new(width: u32, height: u32, out: Resolution) -> Self {
        let same = (width, height) == (out.width, out.height);
        let planes = (!same).then(|| {
            let crop = Crop::centred(width, height, out);
            let (w, h) = (width as usize, height as usize);
            let (ow, oh) = (out.width as usize, out.height as usize);
            (
                PlaneScaler::new((w, h), crop, (ow, oh)),
                PlaneScaler::new((w / 2, h / 2), crop.halved(), (ow / 2, oh / 2)),
            )
        });
        I420Scaler {
            src: (width, height),
            out,
            planes,
        }
    }

    /// The size of the frames this scaler takes.
    pub(crate) fn source_size(&self) -> (u32, u32) {
        self.src
    }

    /// `frame` (I420 of the source size) at the output size.
    pub(crate) fn scale(&self, frame: &[u8]) -> Vec<u8> {
        let Some((luma, chroma)) = &self.planes else {
            return frame.to_vec();
        };
        let (sw, sh) = (self.src.0 as usize, self.src.1 as usize);
        let mut data = vec![128u8; VideoFrame::i420_len(self.out.width, self.out.height)];
        let luma_out = self.out.width as usize * self.out.height as usize;
        let (y_in, chroma_in) = frame.split_at((sw * sh).min(frame.len()));
        let (u_in, v_in) = chroma_in.split_at((sw * sh / 4).min(chroma_in.len()));
        let (y_out, chroma_out) = data.split_at_mut(luma_out);
        let (u_out, v_out) = chroma_out.split_at_mut(luma_out / 4);
        luma.scale(y_in, y_out);
        chroma.scale(u_in, u_out);
        chroma.scale(v_in, v_out);
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wider_picture_is_cropped_to_the_centre_then_scaled() {
        // 8x2 → 2x2: the centre 2x2 of a left-to-right ramp.
        let mut frame: Vec<u8> = (0..8).map(|x| x * 10).cycle().take(16).collect();
        frame.extend([1, 2, 3, 4, 5, 6, 7, 8]); // U (4x1) then V (4x1)
        let out = I420Scaler::new(
            8,
            2,
            Resolution {
                width: 2,
                height: 2,
            },
        )
        .scale(&frame);
        assert_eq!(&out[..4], &[30, 40, 30, 40]);
        assert_eq!(out.len(), 6);
        let same = I420Scaler::new(
            8,
            2,
            Resolution {
                width: 8,
                height: 2,
            },
        );
        assert_eq!(same.scale(&frame), frame);
    }
}
