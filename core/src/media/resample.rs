//! Resampling audio to the library's 48 kHz, for sources whose rate is another (microphones in
//! another mode, host-pushed audio).

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

    #[test]
    fn resampling_keeps_the_rate_and_the_waveform_across_pushes() {
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
}
