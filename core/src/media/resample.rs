//! Resampling audio to the library's 48 kHz, for sources whose rate is another (microphones in
//! another mode, WAV files, host-pushed audio).

use super::AUDIO_SAMPLE_RATE;

/// Streaming linear resampler to 48 kHz: the position of the next output sample is kept in
/// exact fractions of an input sample, so long streams neither drift nor click between pushes.
pub(crate) struct Resampler {
    rate: u64,
    channels: usize,
    /// The last input frame of the previous push (index 0 of the next one's sequence).
    previous: Option<[i16; 2]>,
    /// Position of the next output sample in the sequence, in 1/48000 of an input sample.
    position: u64,
}

impl Resampler {
    /// From `rate` Hz with `channels` (1 or 2) interleaved channels.
    pub(crate) fn new(rate: u32, channels: u16) -> Self {
        Resampler {
            rate: u64::from(rate),
            channels: channels as usize,
            previous: None,
            position: 0,
        }
    }

    /// Appends to `out` the 48 kHz samples that `input` (whole frames) completes.
    pub(crate) fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let ch = self.channels;
        if self.rate == u64::from(AUDIO_SAMPLE_RATE) {
            out.extend_from_slice(input);
            return;
        }
        let out_rate = u64::from(AUDIO_SAMPLE_RATE);
        let previous = self.previous;
        let offset = usize::from(previous.is_some());
        let total = input.len() / ch + offset;
        let sample = |frame: usize, c: usize| -> i64 {
            match (previous, frame.checked_sub(offset)) {
                (_, Some(i)) => i64::from(input[i * ch + c]),
                (Some(p), None) => i64::from(p[c]),
                (None, None) => 0,
            }
        };
        out.reserve((total as u64 * out_rate / self.rate) as usize * ch + ch);
        loop {
            let i = (self.position / out_rate) as usize;
            if i + 1 >= total {
                break;
            }
            let frac = (self.position % out_rate) as i64;
            let whole = out_rate as i64;
            for c in 0..ch {
                let (a, b) = (sample(i, c), sample(i + 1, c));
                let mixed = a * (whole - frac) + b * frac;
                out.push(((mixed + whole / 2).div_euclid(whole)) as i16);
            }
            self.position += self.rate;
        }
        if total > 0 {
            let mut last = [0i16; 2];
            for (c, slot) in last.iter_mut().enumerate().take(ch) {
                *slot = sample(total - 1, c) as i16;
            }
            self.previous = Some(last);
            self.position -= (total as u64 - 1) * out_rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input` resampled from `rate`, pushed `per_push` sample frames at a time.
    fn resample(rate: u32, channels: u16, input: &[i16], per_push: usize) -> Vec<i16> {
        let mut resampler = Resampler::new(rate, channels);
        let mut out = Vec::new();
        for piece in input.chunks(per_push * usize::from(channels)) {
            resampler.process(piece, &mut out);
        }
        out
    }

    #[test]
    fn passes_48k_through_and_interpolates_other_rates() {
        let ramp: Vec<i16> = (1..=100).map(|i| i * 100).collect();
        assert_eq!(resample(48_000, 1, &ramp, 7), ramp);
        assert_eq!(
            resample(24_000, 1, &ramp, 7)[..5],
            [100, 150, 200, 250, 300]
        );
        assert_eq!(resample(96_000, 1, &ramp, 7)[..4], [100, 300, 500, 700]);
        // Stereo keeps its channels apart.
        let stereo: Vec<i16> = ramp.iter().flat_map(|&s| [s, -s]).collect();
        assert_eq!(
            resample(24_000, 2, &stereo, 7)[..6],
            [100, -100, 150, -150, 200, -200]
        );
    }

    #[test]
    fn resampling_keeps_the_rate_across_pushes() {
        for rate in [8_000u32, 16_000, 22_050, 44_100, 96_000, 192_000] {
            let mut resampler = Resampler::new(rate, 2);
            let mut out = Vec::new();
            // One second in pushes of 7 ms (an awkward size), stereo, a ramp on the left.
            let per_push = (rate as usize * 7 / 1000).max(1);
            let mut sent = 0usize;
            while sent < rate as usize {
                let n = per_push.min(rate as usize - sent);
                let piece: Vec<i16> = (sent..sent + n)
                    .flat_map(|i| [(i % 1000) as i16, -1])
                    .collect();
                resampler.process(&piece, &mut out);
                sent += n;
            }
            let frames = out.len() / 2;
            assert!((47_990..=48_000).contains(&frames), "{rate}: {frames}");
            assert!(out.chunks_exact(2).all(|f| f[1] == -1), "{rate}");
        }
    }

    #[test]
    fn resampling_keeps_the_waveform_across_pushes() {
        let mut resampler = Resampler::new(44_100, 1);
        let tone: Vec<i16> = (0..44_100)
            .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin() * 8000.0) as i16)
            .collect();
        let mut out = Vec::new();
        for chunk in tone.chunks(441) {
            resampler.process(chunk, &mut out);
        }
        assert!((out.len() as i64 - 48_000).abs() <= 2, "{}", out.len());
        // Sample 4800 of the output is 0.1 s in: the tone's phase there.
        let expected = (0.1f32 * 440.0 * std::f32::consts::TAU).sin() * 8000.0;
        assert!(
            (f32::from(out[4800]) - expected).abs() < 400.0,
            "{}",
            out[4800]
        );
    }

    #[test]
    fn resampling_44k1_keeps_pitch_and_loudness() {
        // One second of a full-scale 1 kHz sine in stereo at 44.1 kHz, read in 10 ms pieces as
        // a WAV file is: 48000 sample frames with 2000 zero crossings and the same peak.
        let tone: Vec<i16> = (0..44_100)
            .flat_map(|n| {
                let x = (std::f32::consts::TAU * 1000.0 * n as f32 / 44_100.0).sin();
                let s = (x * 32767.0).round() as i16;
                [s, s]
            })
            .collect();
        let out = resample(44_100, 2, &tone, 441);
        let left: Vec<i16> = out.chunks_exact(2).map(|f| f[0]).collect();
        assert!((47_998..=48_000).contains(&left.len()), "{}", left.len());
        let crossings = left.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((1998..=2001).contains(&crossings), "{crossings}");
        let peak = left.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((32_400..=32_767).contains(&peak), "{peak}");
        assert!(out.chunks_exact(2).all(|f| f[0] == f[1]));
    }
}
