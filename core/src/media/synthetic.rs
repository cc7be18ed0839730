//! Synthetic sources, like a browser's fake camera and microphone: a moving test pattern at
//! the requested size and rate, and a steady tone, both paced by the wall clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::Pacer;
use super::{
    AudioFrame, MediaKind, Source, VideoFrame, AUDIO_FRAME_MS, AUDIO_FRAME_SAMPLES,
    AUDIO_SAMPLE_RATE,
};
use crate::error::Result;

/// Frequency of the synthetic tone, in Hz.
pub const TONE_HZ: f32 = 440.0;
/// Peak amplitude of the synthetic tone, as a fraction of full scale.
pub const TONE_AMPLITUDE: f32 = 0.25;

/// Starts a moving test pattern of `width`x`height` at `fps` frames a second.
pub fn video(width: u32, height: u32, fps: u32) -> Result<Source<VideoFrame>> {
    let period = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
    Source::spawn(MediaKind::Video, "synthetic", move |out| {
        let mut pacer = Pacer::new(period);
        while let Some(due) = pacer.next_due(out) {
            let mut data = vec![0u8; VideoFrame::i420_len(width, height)];
            render_test_pattern(width, height, due.index, &mut data);
            out.emit(VideoFrame {
                width,
                height,
                timestamp_us: due.timestamp_us,
                data: data.into(),
            });
        }
        Ok(())
    })
}

/// Starts a steady tone in 10 ms frames of 48 kHz PCM with `channels` channels.
pub fn audio(channels: u16) -> Result<Source<AudioFrame>> {
    let channels = channels.clamp(1, 2);
    let period = Duration::from_millis(u64::from(AUDIO_FRAME_MS));
    Source::spawn(MediaKind::Audio, "synthetic", move |out| {
        let start = Instant::now();
        let mut index: u64 = 0;
        let step = std::f32::consts::TAU * TONE_HZ / AUDIO_SAMPLE_RATE as f32;
        let mut phase = 0f32;
        loop {
            let due = start + period * index as u32;
            if !out.sleep_until(due) {
                return Ok(());
            }
            let mut samples = Vec::with_capacity(AUDIO_FRAME_SAMPLES * channels as usize);
            for _ in 0..AUDIO_FRAME_SAMPLES {
                let s = (phase.sin() * TONE_AMPLITUDE * i16::MAX as f32) as i16;
                samples.extend(std::iter::repeat_n(s, channels as usize));
                phase = (phase + step) % std::f32::consts::TAU;
            }
            out.emit(AudioFrame {
                channels,
                timestamp_us: due.duration_since(start).as_micros() as u64,
                samples: Arc::from(samples),
            });
            index += 1;
        }
    })
}

/// Draws frame `index` of the test pattern into `data` (I420): vertical colour bars that
/// scroll one step a frame, with a white square that sweeps across, so that a receiver (and a
/// person) can tell frames apart and see motion.
pub fn render_test_pattern(width: u32, height: u32, index: u64, data: &mut [u8]) {
    const BARS: [(u8, u8, u8); 8] = [
        (235, 128, 128), // white
        (210, 16, 146),  // yellow
        (170, 166, 16),  // cyan
        (145, 54, 34),   // green
        (106, 202, 222), // magenta
        (81, 90, 240),   // red
        (41, 240, 110),  // blue
        (16, 128, 128),  // black
    ];
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w / 2, h / 2);
    let shift = (index as usize * 4) % w.max(1);
    let bar_of = |x: usize| ((x + shift) % w) * BARS.len() / w;
    let (y_plane, chroma) = data.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for row in y_plane.chunks_exact_mut(w) {
        for (x, px) in row.iter_mut().enumerate() {
            *px = BARS[bar_of(x)].0;
        }
    }
    for (u_row, v_row) in u_plane
        .chunks_exact_mut(cw)
        .zip(v_plane.chunks_exact_mut(cw))
    {
        for x in 0..cw {
            let (_, u, v) = BARS[bar_of(x * 2)];
            u_row[x] = u;
            v_row[x] = v;
        }
    }
    // The sweeping square: an eighth of the height, moving one square per second at 30 fps.
    let side = (h / 8).max(2) & !1;
    let travel = w.saturating_sub(side).max(1);
    let left = ((index as usize * side / 30 * 4) % travel) & !1;
    let top = ((h - side) / 2) & !1;
    for y in top..top + side {
        y_plane[y * w + left..y * w + left + side].fill(235);
    }
    for y in top / 2..(top + side) / 2 {
        u_plane[y * cw + left / 2..y * cw + (left + side) / 2].fill(128);
        v_plane[y * cw + left / 2..y * cw + (left + side) / 2].fill(128);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_moves_between_frames() {
        let len = VideoFrame::i420_len(64, 48);
        let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
        render_test_pattern(64, 48, 0, &mut a);
        render_test_pattern(64, 48, 1, &mut b);
        assert_ne!(a, b);
        assert!(a.iter().all(|&p| p >= 16));
    }

    #[test]
    fn video_source_is_paced_at_the_requested_rate() {
        let source = video(160, 120, 50).unwrap();
        let queue = source.subscribe(100);
        std::thread::sleep(Duration::from_millis(500));
        source.stop();
        let mut frames = 0;
        while let Ok(f) = queue.pop(Duration::ZERO) {
            assert_eq!(
                (f.width, f.height, f.data.len()),
                (160, 120, 160 * 120 * 3 / 2)
            );
            frames += 1;
        }
        // 25 frames are due in 500 ms; allow for a slow machine but not for an unpaced loop.
        assert!((10..=30).contains(&frames), "{frames} frames");
    }

    #[test]
    fn audio_source_makes_a_tone_of_the_documented_level() {
        let source = audio(1).unwrap();
        let queue = source.subscribe(100);
        let frame = queue.pop(Duration::from_secs(2)).unwrap();
        source.stop();
        assert_eq!(frame.samples.len(), AUDIO_FRAME_SAMPLES);
        let expected = TONE_AMPLITUDE / std::f32::consts::SQRT_2;
        assert!(
            (frame.rms_level() - expected).abs() < 0.01,
            "{}",
            frame.rms_level()
        );
    }
}
