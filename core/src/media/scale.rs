//! Scaling pictures to the publisher's resolution, bilinearly: the one scaler of every video
//! source (file, camera, host-pushed). A picture of another shape is either cropped to the
//! requested aspect ratio around its centre (what browsers do with a camera of another shape)
//! or stretched to the exact size (host-pushed frames: their aspect ratio is the host's to keep).

use super::VideoFrame;
use crate::settings::Resolution;

/// One plane of 8-bit samples as it lies in memory: rows of `stride` bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

impl<'a> Plane<'a> {
    /// A plane whose rows follow one another without padding.
    pub(crate) fn packed(data: &'a [u8], width: usize) -> Self {
        Plane {
            data,
            stride: width,
        }
    }
}

/// How a picture of another shape is fitted to the output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    /// The largest centred part with the output's aspect ratio, scaled.
    CropToAspect,
    /// The whole picture, scaled to the exact size.
    Stretch,
}

/// A rectangle of a plane, in pixels (fractional after cropping to an aspect ratio).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Crop {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Crop {
    /// All of a `width`×`height` plane.
    fn whole(width: usize, height: usize) -> Crop {
        Crop {
            x: 0.0,
            y: 0.0,
            w: width as f64,
            h: height as f64,
        }
    }

    /// The largest centred part of a `width`×`height` picture with the aspect ratio of `out`.
    fn centred(width: u32, height: u32, out: Resolution) -> Crop {
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
    fn halved(self) -> Crop {
        Crop {
            x: self.x / 2.0,
            y: self.y / 2.0,
            w: self.w / 2.0,
            h: self.h / 2.0,
        }
    }
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
struct PlaneScaler {
    src_w: usize,
    x: Axis,
    y: Axis,
    /// The output is the input: rows are copied (dropping any padding).
    copies: bool,
}

impl PlaneScaler {
    fn new(src: (usize, usize), crop: Crop, dst: (usize, usize)) -> Self {
        PlaneScaler {
            src_w: src.0,
            x: Axis::new(src.0, crop.x, crop.w, dst.0),
            y: Axis::new(src.1, crop.y, crop.h, dst.1),
            copies: src == dst && crop == Crop::whole(src.0, src.1),
        }
    }

    /// Scales `src` into `dst` (packed rows of the output width); rows `src` lacks leave the
    /// rest of `dst` as it is.
    fn scale(&self, src: Plane<'_>, dst: &mut [u8]) {
        let dst_w = self.x.taps.len();
        if dst_w == 0 || self.src_w == 0 {
            return;
        }
        let row = |i: usize| {
            let start = i.checked_mul(src.stride)?;
            src.data.get(start..start.checked_add(self.src_w)?)
        };
        for (row_out, &(y0, y1, wy)) in dst.chunks_exact_mut(dst_w).zip(&self.y.taps) {
            let (Some(r0), Some(r1)) = (row(y0), row(y1)) else {
                return;
            };
            if self.copies {
                row_out.copy_from_slice(r0);
                continue;
            }
            for (px, &(x0, x1, wx)) in row_out.iter_mut().zip(&self.x.taps) {
                let top = u32::from(r0[x0]) * (256 - wx) + u32::from(r0[x1]) * wx;
                let bottom = u32::from(r1[x0]) * (256 - wx) + u32::from(r1[x1]) * wx;
                *px = ((top * (256 - wy) + bottom * wy + (1 << 15)) >> 16) as u8;
            }
        }
    }
}

/// Scales 4:2:0 pictures of one size into I420 frames of the output size, the sampling worked
/// out once. Sources of odd sides have chroma planes of half the side rounded up.
pub(crate) struct I420Scaler {
    src: (u32, u32),
    out: Resolution,
    luma: PlaneScaler,
    chroma: PlaneScaler,
}

impl I420Scaler {
    /// For pictures of `width`×`height` into `out` (even sides), fitted as `fit` says.
    pub(crate) fn new(width: u32, height: u32, out: Resolution, fit: Fit) -> Self {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (ow, oh) = (out.width as usize, out.height as usize);
        let (luma_crop, chroma_crop) = match fit {
            Fit::CropToAspect => {
                let crop = Crop::centred(width, height, out);
                (crop, crop.halved())
            }
            Fit::Stretch => (Crop::whole(w, h), Crop::whole(cw, ch)),
        };
        I420Scaler {
            src: (width, height),
            out,
            luma: PlaneScaler::new((w, h), luma_crop, (ow, oh)),
            chroma: PlaneScaler::new((cw, ch), chroma_crop, (ow / 2, oh / 2)),
        }
    }

    /// The size of the pictures this scaler takes.
    pub(crate) fn source_size(&self) -> (u32, u32) {
        self.src
    }

    /// The size of the frames it makes.
    pub(crate) fn output_size(&self) -> (u32, u32) {
        (self.out.width, self.out.height)
    }

    /// The output frame for one picture given as its planes; no chroma planes (a grey
    /// picture) gives neutral chroma. Planes shorter than the source size leave the rest of
    /// the output neutral grey.
    pub(crate) fn scale_planes(&self, y: Plane<'_>, chroma: Option<[Plane<'_>; 2]>) -> Vec<u8> {
        let mut data = vec![128u8; VideoFrame::i420_len(self.out.width, self.out.height)];
        let luma_out = self.out.width as usize * self.out.height as usize;
        let (y_out, chroma_out) = data.split_at_mut(luma_out);
        self.luma.scale(y, y_out);
        if let Some([u, v]) = chroma {
            let (u_out, v_out) = chroma_out.split_at_mut(luma_out / 4);
            self.chroma.scale(u, u_out);
            self.chroma.scale(v, v_out);
        }
        data
    }

    /// The output frame for one picture of packed 4:2:0 planes (Y, then U, then V).
    pub(crate) fn scale_packed(&self, picture: &[u8]) -> Vec<u8> {
        let (w, h) = (self.src.0 as usize, self.src.1 as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (y, chroma) = picture.split_at((w * h).min(picture.len()));
        let (u, v) = chroma.split_at((cw * ch).min(chroma.len()));
        self.scale_planes(
            Plane::packed(y, w),
            Some([Plane::packed(u, cw), Plane::packed(v, cw)]),
        )
    }

    /// The output frame for one picture of luma only (packed), with neutral chroma.
    pub(crate) fn scale_grey(&self, luma: &[u8]) -> Vec<u8> {
        self.scale_planes(Plane::packed(luma, self.src.0 as usize), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(width: u32, height: u32) -> Resolution {
        Resolution { width, height }
    }

    /// Packed 4:2:0 planes of `w`×`h`, each plane flat.
    fn flat(w: usize, h: usize, [y, u, v]: [u8; 3]) -> Vec<u8> {
        let chroma = w.div_ceil(2) * h.div_ceil(2);
        let mut out = vec![y; w * h];
        out.extend(vec![u; chroma]);
        out.extend(vec![v; chroma]);
        out
    }

    fn assert_flat(out: &[u8], size: Resolution, [y, u, v]: [u8; 3]) {
        let luma = (size.width * size.height) as usize;
        assert_eq!(out.len(), luma * 3 / 2);
        assert!(out[..luma].iter().all(|&p| p == y), "{size}");
        assert!(out[luma..luma + luma / 4].iter().all(|&p| p == u), "{size}");
        assert!(out[luma + luma / 4..].iter().all(|&p| p == v), "{size}");
    }

    #[test]
    fn a_wider_picture_is_cropped_to_the_centre_then_scaled() {
        // 8x2 → 2x2: the centre 2x2 of a left-to-right ramp.
        let mut frame: Vec<u8> = (0..8).map(|x| x * 10).cycle().take(16).collect();
        frame.extend([1, 2, 3, 4, 5, 6, 7, 8]); // U (4x1) then V (4x1)
        let out = I420Scaler::new(8, 2, res(2, 2), Fit::CropToAspect).scale_packed(&frame);
        assert_eq!(&out[..4], &[30, 40, 30, 40]);
        assert_eq!(out.len(), 6);
        let same = I420Scaler::new(8, 2, res(8, 2), Fit::CropToAspect);
        assert_eq!(same.scale_packed(&frame), frame);
    }

    #[test]
    fn cropping_keeps_the_centre_and_flat_colours_at_odd_sizes() {
        // 8x4 (2:1) whose left and right quarters are dark and middle bright, to 4x4 (1:1):
        // the crop keeps the centre 4x4, the bright part.
        let mut frame = Vec::new();
        for _ in 0..4 {
            frame.extend([16, 16, 200, 200, 200, 200, 16, 16]);
        }
        frame.extend([90u8; 8]); // U 4x2
        frame.extend([160u8; 8]); // V 4x2
        let out = I420Scaler::new(8, 4, res(4, 4), Fit::CropToAspect).scale_packed(&frame);
        assert_eq!(out.len(), 4 * 4 * 3 / 2);
        assert!(out[..16].iter().all(|&y| y == 200), "{:?}", &out[..16]);
        assert_eq!(&out[16..20], [90; 4]);
        assert_eq!(&out[20..24], [160; 4]);

        // Odd sides (chroma rounded up), up and down in size: flat planes stay flat.
        let frame = flat(31, 17, [77, 33, 222]);
        for size in [res(64, 48), res(16, 16), res(30, 16)] {
            let out = I420Scaler::new(31, 17, size, Fit::CropToAspect).scale_packed(&frame);
            assert_flat(&out, size, [77, 33, 222]);
        }
    }

    #[test]
    fn grey_pictures_get_neutral_chroma_and_interpolated_luma() {
        // A 2:1 upscale of a ramp interpolates between neighbours.
        let out = I420Scaler::new(2, 2, res(4, 2), Fit::CropToAspect).scale_grey(&[0, 200, 0, 200]);
        assert_eq!(&out[..4], [0, 50, 150, 200]);
        assert!(out[8..].iter().all(|&c| c == 128), "{out:?}");
    }

    #[test]
    fn stretching_keeps_flat_areas_and_interpolates_edges() {
        let src = [0u8, 0, 255, 255];
        let row = |w: u32| {
            let out = I420Scaler::new(4, 1, res(w, 2), Fit::Stretch)
                .scale_planes(Plane::packed(&src, 4), None);
            out[..w as usize].to_vec()
        };
        let wide = row(8);
        assert_eq!(&wide[..3], &[0, 0, 0]);
        assert_eq!(&wide[5..], &[255, 255, 255]);
        assert!(
            wide[3] > 0 && wide[3] < wide[4] && wide[4] < 255,
            "{wide:?}"
        );
        assert_eq!(row(2), [0, 255]);

        // The whole picture, whatever its shape or (odd) size: no crop.
        for (w, h) in [(33, 17), (640, 480), (64, 48), (8, 2)] {
            let frame = flat(w, h, [82, 90, 240]);
            let out =
                I420Scaler::new(w as u32, h as u32, res(64, 48), Fit::Stretch).scale_packed(&frame);
            assert_flat(&out, res(64, 48), [82, 90, 240]);
        }
        let mut ramp: Vec<u8> = (0..8).map(|x| x * 10).cycle().take(16).collect();
        ramp.extend([128; 8]);
        let out = I420Scaler::new(8, 2, res(2, 2), Fit::Stretch).scale_packed(&ramp);
        assert_eq!(&out[..2], &[15, 55]);
    }

    #[test]
    fn padded_rows_are_copied_without_their_padding() {
        // 4x2 with rows padded to 8 (Y) and 4 (U, V) bytes, at the same size.
        let y = [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0];
        let (u, v) = ([9, 10, 0, 0], [11, 12, 0, 0]);
        let plane = |data, stride| Plane { data, stride };
        let out = I420Scaler::new(4, 2, res(4, 2), Fit::Stretch)
            .scale_planes(plane(&y, 8), Some([plane(&u, 4), plane(&v, 4)]));
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn short_input_leaves_the_rest_neutral() {
        let out = I420Scaler::new(4, 4, res(8, 8), Fit::Stretch).scale_packed(&[50; 6]);
        assert_eq!(out.len(), 8 * 8 * 3 / 2);
        assert!(out[8 * 8..].iter().all(|&p| p == 128));
    }
}
