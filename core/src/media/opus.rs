//! Opus encoding through libopus (Debian's `libopus-dev`, via the `opus` crate).

use super::{AudioFrame, AUDIO_FRAME_SAMPLES};
use crate::error::{Error, Result};

/// Milliseconds of audio in one Opus packet: 20 ms, what browsers send.
pub const OPUS_PACKET_MS: u32 = 20;
const FRAMES_PER_PACKET: usize = (OPUS_PACKET_MS / super::AUDIO_FRAME_MS) as usize;

/// Gathers 10 ms frames into 20 ms packets and encodes them.
pub struct OpusEncoder {
    encoder: opus::Encoder,
    channels: u16,
    pending: Vec<i16>,
    pending_frames: usize,
    out: Vec<u8>,
}

impl OpusEncoder {
    /// A VoIP-tuned encoder for 48 kHz audio with `channels` channels at `bitrate_bps`.
    pub fn new(channels: u16, bitrate_bps: i32) -> Result<Self> {
        let layout = if channels == 2 {
            opus::Channels::Stereo
        } else {
            opus::Channels::Mono
        };
        let mut encoder =
            opus::Encoder::new(super::AUDIO_SAMPLE_RATE, layout, opus::Application::Voip)
                .map_err(|e| Error::internal(format!("Opus encoder: {e}")))?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(bitrate_bps))
            .map_err(|e| Error::internal(format!("Opus bitrate: {e}")))?;
        // In-band FEC lets a receiver rebuild a lost packet from the next one.
        let _ = encoder.set_inband_fec(true);
        Ok(OpusEncoder {
            encoder,
            channels: channels.clamp(1, 2),
            pending: Vec::with_capacity(AUDIO_FRAME_SAMPLES * FRAMES_PER_PACKET * 2),
            pending_frames: 0,
            out: vec![0; 4000],
        })
    }

    /// The channel count it encodes.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Adds one 10 ms frame; returns a packet every 20 ms.
    pub fn push(&mut self, frame: &AudioFrame) -> Result<Option<Vec<u8>>> {
        if frame.channels != self.channels {
            return Err(Error::internal("Opus input changed its channel count"));
        }
        self.pending.extend_from_slice(&frame.samples);
        self.pending_frames += 1;
        if self.pending_frames < FRAMES_PER_PACKET {
            return Ok(None);
        }
        let len = self
            .encoder
            .encode(&self.pending, &mut self.out)
            .map_err(|e| Error::internal(format!("Opus encode: {e}")))?;
        self.pending.clear();
        self.pending_frames = 0;
        Ok(Some(self.out[..len].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_frames_make_one_packet() {
        let mut encoder = OpusEncoder::new(1, 32_000).unwrap();
        let frame = AudioFrame {
            channels: 1,
            timestamp_us: 0,
            samples: vec![1000i16; AUDIO_FRAME_SAMPLES].into(),
        };
        assert!(encoder.push(&frame).unwrap().is_none());
        let packet = encoder.push(&frame).unwrap().expect("a packet every 20 ms");
        assert!(!packet.is_empty() && packet.len() < 400);
    }
}
