//! A publisher's snapshot (OpenTok's `getImgData`): a captured I420 frame as PNG bytes, for
//! previews and thumbnails. The colours go back to RGB by BT.601 limited range, the inverse of
//! `convert`.

use super::VideoFrame;
use crate::error::{Error, Result};

/// The frame as an 8-bit RGB PNG of its size.
pub(crate) fn png_of(frame: &VideoFrame) -> Result<Vec<u8>> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if frame.data.len() < VideoFrame::i420_len(frame.width, frame.height) {
        return Err(Error::internal("snapshot: a frame shorter than its size"));
    }
    let (y_plane, chroma) = frame.data.split_at(w * h);
    let (u_plane, v_plane) = chroma.split_at((w / 2) * (h / 2));
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let c = (row / 2) * (w / 2) + col / 2;
            rgb.extend_from_slice(&yuv_to_rgb(y_plane[row * w + col], u_plane[c], v_plane[c]));
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, frame.width, frame.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&rgb))
        .map_err(|e| Error::internal(format!("snapshot: PNG encoding failed: {e}")))?;
    Ok(png)
}

/// BT.601 limited range to full-range RGB, in fixed point (the usual 298/409/208/100/516).
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
    let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clip(c + 409 * e),
        clip(c - 100 * d - 208 * e),
        clip(c + 516 * d),
    ]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::media::convert::rgb_to_i420;

    #[test]
    fn a_frame_comes_back_in_its_colours_and_size() {
        // Orange, through I420 and back.
        let (w, h) = (32u32, 16u32);
        let rgb: Vec<u8> = [230u8, 120, 30].repeat((w * h) as usize);
        let i420 = rgb_to_i420(&rgb, w, w, h).unwrap();
        let frame = VideoFrame {
            width: w,
            height: h,
            timestamp_us: 0,
            data: Arc::from(i420),
        };
        let png = png_of(&frame).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (w, h));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        for pixel in pixels[..info.buffer_size()].chunks(3) {
            for (got, want) in pixel.iter().zip([230u8, 120, 30]) {
                assert!(got.abs_diff(want) <= 3, "{pixel:?}");
            }
        }
        // A frame whose data is short is an error, not a panic.
        let short = VideoFrame {
            data: Arc::from(vec![0u8; 10]),
            ..frame
        };
        assert!(png_of(&short).is_err());
    }
}
