//! Frames the host pushes into custom sources (`push_video_frame`, `push_audio_frame`):
//! any size, strides, format code, plane lengths, sample layout, rate, channels and
//! timestamps, as the C API and the bindings pass them.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use libpublisher::fuzzing::{AudioPush, VideoPush};
use libpublisher::media::frame::VideoFrame;
use libpublisher::settings::Resolution;
use libpublisher::{AudioFrameRef, AudioSamples, VideoFormat, VideoFrameRef};

#[derive(Debug, Arbitrary)]
enum Push {
    /// A frame of planes cut from the input's bytes at `cuts`, as the C API passes them.
    Video {
        format: i32,
        width: u16,
        height: u16,
        strides: [u16; 3],
        cuts: [u16; 2],
        timestamp_us: Option<u64>,
    },
    /// A frame of one packed buffer, as the bindings pass them.
    Packed {
        rgba: bool,
        width: u16,
        height: u16,
        timestamp_us: Option<u64>,
    },
    Audio {
        layout: u8,
        sample_rate: u32,
        channels: u32,
        timestamp_us: Option<u64>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    out_width: u8,
    out_height: u8,
    frame_rate: u8,
    pushes: Vec<Push>,
    data: Vec<u8>,
}

fn check_video(frames: &[VideoFrame], out: Resolution, last: &mut Option<u64>) {
    for frame in frames {
        assert_eq!((frame.width, frame.height), (out.width, out.height));
        assert_eq!(
            frame.data.len(),
            VideoFrame::i420_len(out.width, out.height)
        );
        assert!(
            last.is_none_or(|l| frame.timestamp_us > l),
            "video time goes forward"
        );
        *last = Some(frame.timestamp_us);
    }
}

fuzz_target!(|input: Input| {
    // A small publisher size keeps each run quick; the conversion is the same at any size.
    let even = |v: u8, min: u32| (min + u32::from(v) % 48) & !1;
    let out = Resolution {
        width: even(input.out_width, 16),
        height: even(input.out_height, 16),
    };
    let video = VideoPush::new(out, 1 + u32::from(input.frame_rate) % 60);
    let audio = AudioPush::default();
    let data = &input.data[..];
    let (mut video_time, mut audio_time) = (None, None::<u64>);

    for push in input.pushes.iter().take(8) {
        match *push {
            Push::Video {
                format,
                width,
                height,
                strides,
                cuts,
                timestamp_us,
            } => {
                let Ok(format) = VideoFormat::from_code(format) else {
                    continue;
                };
                let a = usize::from(cuts[0]).min(data.len());
                let b = usize::from(cuts[1]).clamp(a, data.len());
                let frame = VideoFrameRef {
                    format,
                    width: width.into(),
                    height: height.into(),
                    planes: [&data[..a], &data[a..b], &data[b..]],
                    strides: strides.map(usize::from),
                    timestamp_us,
                };
                let pushed = video.push(&frame);
                // A frame is taken exactly when it checks out.
                assert_eq!(pushed.is_ok(), frame.check().is_ok(), "{pushed:?}");
                if let Err(e) = pushed {
                    assert_eq!(e.code, libpublisher::ErrorCode::InvalidParameter);
                }
            }
            Push::Packed {
                rgba,
                width,
                height,
                timestamp_us,
            } => {
                let format = if rgba {
                    VideoFormat::Rgba
                } else {
                    VideoFormat::I420
                };
                if let Ok(frame) =
                    VideoFrameRef::packed(format, width.into(), height.into(), data, timestamp_us)
                {
                    frame.check().expect("a packed frame checks out");
                    video.push(&frame).expect("a packed frame is taken");
                }
            }
            Push::Audio {
                layout,
                sample_rate,
                channels,
                timestamp_us,
            } => {
                let (i16s, f32s): (Vec<i16>, Vec<f32>) = (
                    data.chunks_exact(2)
                        .map(|c| i16::from_ne_bytes([c[0], c[1]]))
                        .collect(),
                    data.chunks_exact(4)
                        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                );
                let samples = match layout % 4 {
                    0 => AudioSamples::I16(&i16s),
                    1 => AudioSamples::F32(&f32s),
                    2 => AudioSamples::I16Bytes(data),
                    _ => AudioSamples::F32Bytes(data),
                };
                // Rates far outside the range are refused alike; keep the ones near it likely.
                let sample_rate = if sample_rate % 2 == 0 {
                    7_000 + (sample_rate / 2) % 190_000
                } else {
                    sample_rate
                };
                let frame = AudioFrameRef {
                    samples,
                    sample_rate,
                    channels,
                    timestamp_us,
                };
                let pushed = audio.push(&frame);
                assert_eq!(pushed.is_ok(), frame.check().is_ok(), "{pushed:?}");
                for out in audio.take() {
                    assert!(matches!(out.channels, 1 | 2));
                    assert_eq!(out.samples.len(), 480 * usize::from(out.channels));
                    let ts = out.timestamp_us;
                    assert!(audio_time.is_none_or(|l| ts > l), "audio time goes forward");
                    audio_time = Some(ts);
                }
            }
        }
        check_video(&video.take(), out, &mut video_time);
    }
});
