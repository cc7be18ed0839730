//! H.264 encoding through OpenH264 (the `openh264` crate, built from its bundled source).
//!
//! Constrained baseline profile, as WebRTC endpoints all decode it (`profile-level-id=42e01f`):
//! no B-frames, CAVLC, one slice per frame. The output is an Annex-B byte stream (start code
//! before every NAL unit), which the RTP payloader splits into single NAL units, STAP-A and
//! FU-A packets. Every IDR frame carries its SPS and PPS in front of it, so a receiver that
//! joins late or lost the previous keyframe can decode from any IDR on.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level,
    Profile, RateControlMode, SpsPpsStrategy, UsageType,
};
use openh264::formats::YUVSlices;
use openh264::{OpenH264API, Timestamp};
use openh264_sys2 as sys;

use super::vp8::EncodedFrame;
use crate::error::{Error, Result};

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// A real-time H.264 encoder for I420 frames of one size.
pub struct H264Encoder {
    encoder: Encoder,
    width: u32,
    height: u32,
    fps: u32,
    bitrate_kbps: u32,
    /// OpenH264 initialises itself on the first frame; options can be set only after that.
    started: bool,
    /// The SPS and PPS of the last IDR (Annex-B), for an IDR that came without them.
    parameter_sets: Vec<u8>,
}

fn h264_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("H.264 {what}: {e}"))
}

/// OpenH264's own messages (it prints them to stderr by default) go to our logs.
unsafe extern "C" fn trace(_context: *mut c_void, level: c_int, message: *const c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: OpenH264 passes a NUL-terminated string that lives for the call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    if level <= sys::WELS_LOG_ERROR as c_int {
        tracing::warn!("{}", text.trim_end());
    } else {
        tracing::debug!("{}", text.trim_end());
    }
}

/// An OpenH264 encoder (not initialised until its first frame) whose messages reach our logs.
fn make_encoder(fps: u32, bitrate_kbps: u32) -> Result<Encoder> {
    let mut encoder =
        Encoder::with_api_config(OpenH264API::from_source(), config(fps, bitrate_kbps))
            .map_err(|e| h264_error("encoder init", e))?;
    let mut callback: sys::WelsTraceCallback = Some(trace);
    // SAFETY: the trace options are the ones OpenH264 accepts before initialisation; it
    // copies the callback pointer during the call.
    unsafe {
        encoder.raw_api().set_option(
            sys::ENCODER_OPTION_TRACE_CALLBACK,
            (&raw mut callback).cast::<c_void>(),
        );
    }
    log_warnings(&mut encoder);
    Ok(encoder)
}

/// Lets OpenH264's warnings and errors through to `trace` (the binding turns its messages
/// off once the encoder is initialised, so this is done again after the first frame).
fn log_warnings(encoder: &mut Encoder) {
    let mut level = sys::WELS_LOG_WARNING as c_int;
    // SAFETY: the trace level is accepted in any state; OpenH264 copies the value.
    unsafe {
        encoder.raw_api().set_option(
            sys::ENCODER_OPTION_TRACE_LEVEL,
            (&raw mut level).cast::<c_void>(),
        );
    }
}

fn config(fps: u32, bitrate_kbps: u32) -> EncoderConfig {
    let fps = fps.max(1);
    EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .profile(Profile::Baseline)
        // 3.1 covers 720p30; OpenH264 raises the level itself for larger sizes or rates.
        .level(Level::Level_3_1)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(bitrate_kbps.max(30) * 1000))
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        // Real time: rate control adapts the quantiser, and skips a frame when even that
        // would overshoot, as VP8's does: a stream over its budget piles up in queues.
        .skip_frames(true)
        // A keyframe at least every 3 s bounds how long a receiver that lost one waits, even
        // if its PLI is lost too (as for VP8).
        .intra_frame_period(IntraFramePeriod::from_num_frames(fps * 3))
        // Keyframes only when asked for or due, so their count stays predictable.
        .scene_change_detect(false)
        .sps_pps_strategy(SpsPpsStrategy::ConstantId)
        .complexity(Complexity::Low)
        .num_threads(1)
}

impl H264Encoder {
    /// An encoder for `width`x`height` at `fps`, aiming at `bitrate_kbps`.
    pub fn new(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> Result<Self> {
        if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
            return Err(Error::internal(format!(
                "H.264 needs an even, non-zero size, got {width}x{height}"
            )));
        }
        Ok(H264Encoder {
            encoder: make_encoder(fps, bitrate_kbps)?,
            width,
            height,
            fps,
            bitrate_kbps: bitrate_kbps.max(30),
            started: false,
            parameter_sets: Vec::new(),
        })
    }

    /// The frame size this encoder takes.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The target bitrate in kbit/s.
    pub fn bitrate_kbps(&self) -> u32 {
        self.bitrate_kbps
    }

    /// Changes the target bitrate while running.
    pub fn set_bitrate(&mut self, bitrate_kbps: u32) -> Result<()> {
        let kbps = bitrate_kbps.max(30);
        if !self.started {
            // Not initialised yet: start with the new figure instead.
            self.encoder = make_encoder(self.fps, kbps)?;
            self.bitrate_kbps = kbps;
            return Ok(());
        }
        // The layer's maximum must stay at or above its target at every step.
        let bps = (kbps * 1000) as i32;
        let target = (sys::ENCODER_OPTION_BITRATE, sys::SPATIAL_LAYER_ALL);
        let max = (sys::ENCODER_OPTION_MAX_BITRATE, sys::SPATIAL_LAYER_0);
        let order = if kbps > self.bitrate_kbps {
            [max, target]
        } else {
            [target, max]
        };
        for (option, layer) in order {
            let mut info = sys::SBitrateInfo {
                iLayer: layer,
                iBitrate: bps,
            };
            // SAFETY: the encoder is initialised (a frame went through it), and both options
            // take a pointer to an SBitrateInfo that lives for the call.
            let rc = unsafe {
                self.encoder
                    .raw_api()
                    .set_option(option, (&raw mut info).cast::<c_void>())
            };
            if rc != 0 {
                return Err(h264_error("bitrate change", format!("error {rc}")));
            }
        }
        self.bitrate_kbps = kbps;
        Ok(())
    }

    /// Encodes one I420 frame (`width*height*3/2` bytes, no padding) taken at `pts_us`.
    /// `keyframe` forces an IDR frame. Returns the Annex-B access unit, or `None` when the
    /// encoder produced nothing for this frame.
    pub fn encode(
        &mut self,
        i420: &[u8],
        pts_us: i64,
        _duration_us: u64,
        keyframe: bool,
    ) -> Result<Option<EncodedFrame>> {
        let (w, h) = (self.width as usize, self.height as usize);
        let luma = w * h;
        let expected = luma + 2 * (luma / 4);
        if i420.len() != expected {
            return Err(Error::internal(format!(
                "H.264 input of {} bytes, expected {expected}",
                i420.len()
            )));
        }
        let (y, rest) = i420.split_at(luma);
        let (u, v) = rest.split_at(luma / 4);
        let image = YUVSlices::new((y, u, v), (w, h), (w, w / 2, w / 2));
        if keyframe && self.started {
            // The very first frame is an IDR anyway (and forcing before init does nothing).
            self.encoder.force_intra_frame();
        }
        let timestamp = Timestamp::from_millis(pts_us.max(0) as u64 / 1000);
        let stream = self
            .encoder
            .encode_at(&image, timestamp)
            .map_err(|e| h264_error("encode", e))?;
        let frame_type = stream.frame_type();
        let data = stream.to_vec();
        if !self.started {
            self.started = true;
            log_warnings(&mut self.encoder);
        }
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) || data.is_empty() {
            return Ok(None);
        }
        let is_key = frame_type == FrameType::IDR;
        let data = if is_key {
            self.with_parameter_sets(data)
        } else {
            data
        };
        Ok(Some(EncodedFrame {
            data,
            keyframe: is_key,
        }))
    }

    /// Makes sure an IDR access unit starts with its SPS and PPS: OpenH264 writes them before
    /// every IDR; should one ever come without, the last ones seen go in front.
    fn with_parameter_sets(&mut self, access_unit: Vec<u8>) -> Vec<u8> {
        let units = nal_units(&access_unit);
        let has = |kind: u8| units.iter().any(|(t, _)| *t == kind);
        if has(NAL_SPS) && has(NAL_PPS) {
            self.parameter_sets.clear();
            for (kind, range) in &units {
                if *kind == NAL_SPS || *kind == NAL_PPS {
                    self.parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
                    self.parameter_sets
                        .extend_from_slice(&access_unit[range.clone()]);
                }
            }
            return access_unit;
        }
        if self.parameter_sets.is_empty() {
            return access_unit;
        }
        let mut out = Vec::with_capacity(self.parameter_sets.len() + access_unit.len());
        out.extend_from_slice(&self.parameter_sets);
        out.extend_from_slice(&access_unit);
        out
    }
}

/// The NAL units of an Annex-B byte stream: each one's type and its bytes (header included,
/// start code excluded).
fn nal_units(stream: &[u8]) -> Vec<(u8, std::ops::Range<usize>)> {
    // Start codes are 00 00 01 or 00 00 00 01; the payload never contains 00 00 0x (x <= 3)
    // thanks to emulation prevention, so the next 00 00 01 ends the unit.
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (n, &(_, begin)) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(stream.len(), |&(code, _)| code);
        // A four-byte start code leaves its leading zero at the end of the previous unit.
        while end > begin && stream[end - 1] == 0 && n + 1 < starts.len() {
            end -= 1;
        }
        if begin < end {
            units.push((stream[begin] & 0x1f, begin..end));
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAL_IDR: u8 = 5;

    fn types(data: &[u8]) -> Vec<u8> {
        nal_units(data).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn idr_frames_carry_sps_and_pps_in_annex_b() {
        let mut encoder = H264Encoder::new(320, 240, 30, 300).unwrap();
        let mut frame = vec![0u8; 320 * 240 * 3 / 2];
        let mut keys = Vec::new();
        for i in 0..10u64 {
            crate::media::synthetic::render_test_pattern(320, 240, i, &mut frame);
            let out = encoder
                .encode(&frame, (i * 33_333) as i64, 33_333, i == 6)
                .unwrap()
                .expect("no drops at this rate");
            assert!(out.data.starts_with(&[0, 0, 0, 1]), "Annex-B start code");
            let t = types(&out.data);
            if out.keyframe {
                assert_eq!(&t[..2], &[NAL_SPS, NAL_PPS], "{t:?}");
                assert!(t.contains(&NAL_IDR), "{t:?}");
            } else {
                assert!(!t.contains(&NAL_IDR) && !t.contains(&NAL_SPS), "{t:?}");
            }
            keys.push(out.keyframe);
        }
        assert!(keys[0] && keys[6]);
        assert_eq!(keys.iter().filter(|k| **k).count(), 2);
    }

    #[test]
    fn the_stream_is_constrained_baseline() {
        let mut encoder = H264Encoder::new(640, 480, 30, 600).unwrap();
        let mut frame = vec![0u8; 640 * 480 * 3 / 2];
        crate::media::synthetic::render_test_pattern(640, 480, 0, &mut frame);
        let out = encoder.encode(&frame, 0, 33_333, false).unwrap().unwrap();
        let (kind, sps) = nal_units(&out.data).into_iter().next().unwrap();
        assert_eq!(kind, NAL_SPS);
        let sps = &out.data[sps];
        // profile_idc 66 (baseline) with constraint_set1 (constrained baseline), level 3.1.
        assert_eq!(sps[1], 66);
        assert_ne!(sps[2] & 0x40, 0, "constraint_set1_flag");
        assert_eq!(sps[3], 31);
    }

    #[test]
    fn a_keyframe_comes_every_three_seconds() {
        let mut encoder = H264Encoder::new(160, 120, 10, 100).unwrap();
        let mut frame = vec![0u8; 160 * 120 * 3 / 2];
        let mut keys = Vec::new();
        for i in 0..61u64 {
            crate::media::synthetic::render_test_pattern(160, 120, i, &mut frame);
            let out = encoder
                .encode(&frame, (i * 100_000) as i64, 100_000, false)
                .unwrap()
                .unwrap();
            if out.keyframe {
                keys.push(i);
            }
        }
        assert_eq!(keys, [0, 30, 60]);
    }

    #[test]
    fn bitrate_changes_while_running() {
        let mut encoder = H264Encoder::new(320, 240, 30, 300).unwrap();
        encoder.set_bitrate(200).unwrap(); // before the first frame
        let mut frame = vec![0u8; 320 * 240 * 3 / 2];
        for (i, kbps) in [(0u64, 0), (1, 800), (2, 0), (3, 150), (4, 0)] {
            if kbps > 0 {
                encoder.set_bitrate(kbps).unwrap();
                assert_eq!(encoder.bitrate_kbps(), kbps);
            }
            crate::media::synthetic::render_test_pattern(320, 240, i, &mut frame);
            let out = encoder.encode(&frame, (i * 33_333) as i64, 33_333, false);
            assert!(out.unwrap().is_some());
        }
    }

    #[test]
    fn an_idr_without_parameter_sets_gets_the_last_ones() {
        let mut encoder = H264Encoder::new(320, 240, 30, 300).unwrap();
        let with = [
            &[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f][..],
            &[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80],
            &[0, 0, 0, 1, 0x65, 0x88, 0x84],
        ]
        .concat();
        assert_eq!(encoder.with_parameter_sets(with.clone()), with);
        let bare = vec![0, 0, 0, 1, 0x65, 0x88, 0x80];
        let fixed = encoder.with_parameter_sets(bare.clone());
        assert_eq!(types(&fixed), [NAL_SPS, NAL_PPS, NAL_IDR]);
        assert!(fixed.ends_with(&bare));
    }

    #[test]
    fn nal_units_split_on_three_and_four_byte_start_codes() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4,
        ];
        let units = nal_units(&stream);
        assert_eq!(
            units,
            [(NAL_SPS, 4..7), (NAL_PPS, 10..12), (NAL_IDR, 16..18)]
        );
    }

    #[test]
    fn wrong_input_size_is_an_error_not_a_crash() {
        let mut encoder = H264Encoder::new(320, 240, 30, 300).unwrap();
        assert!(encoder.encode(&[0u8; 10], 0, 33_333, false).is_err());
        assert!(H264Encoder::new(321, 240, 30, 300).is_err());
    }
}
