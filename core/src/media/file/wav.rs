//! WAV audio files: RIFF/WAVE holding 16-bit PCM or 32-bit float samples (plain or
//! `WAVE_FORMAT_EXTENSIBLE`), mono or stereo, at 8–192 kHz. They are resampled linearly to the
//! library's 48 kHz and delivered in 10 ms frames with the file's channel count.

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{describe_start, invalid, open_file, read_full};
use crate::error::Result;
use crate::media::resample::Resampler;
use crate::media::source::Pacer;
use crate::media::{AudioFrame, MediaKind, Source, AUDIO_FRAME_MS, AUDIO_FRAME_SAMPLES};

/// Opens `path` as a WAV audio source of 10 ms 48 kHz frames (see the module's notes).
pub(crate) fn audio(path: &Path) -> Result<Source<AudioFrame>> {
    let fail = |what: String| invalid("audio_source", path, what);
    let (file, len) = open_file(path).map_err(fail)?;
    let mut input = BufReader::with_capacity(1 << 16, file);
    let info = parse_wav(&mut input, len).map_err(fail)?;
    tracing::info!(
        path = %path.display(),
        "WAV file: {} Hz, {} channel(s), {:?}, {} sample frames",
        info.rate,
        info.channels,
        info.format,
        info.frames
    );
    let reader = WavReader::new(input, info.clone()).map_err(|e| fail(e.to_string()))?;
    let owned_path = path.to_owned();
    Source::spawn(
        MediaKind::Audio,
        format!("file:{}", path.display()),
        move |out| {
            let channels = info.channels;
            let mut frames = WavFrames::new(reader);
            let mut pacer = Pacer::new(Duration::from_millis(u64::from(AUDIO_FRAME_MS)));
            while let Some(due) = pacer.next_due(out) {
                let samples = frames.next_frame().map_err(|e| {
                    invalid("audio_source", &owned_path, format!("cannot read it: {e}"))
                })?;
                out.emit(AudioFrame {
                    channels,
                    timestamp_us: due.timestamp_us,
                    samples: Arc::from(samples),
                });
            }
            Ok(())
        },
    )
}

/// How a WAV file stores its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleFormat {
    /// Signed 16-bit little-endian PCM.
    I16,
    /// 32-bit IEEE float, little-endian.
    F32,
}

impl SampleFormat {
    fn bytes(self) -> usize {
        match self {
            SampleFormat::I16 => 2,
            SampleFormat::F32 => 4,
        }
    }
}

/// What a WAV file's header says, and where its samples are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WavInfo {
    pub format: SampleFormat,
    /// 1 or 2.
    pub channels: u16,
    /// Sample frames a second.
    pub rate: u32,
    /// Offset of the first sample.
    pub data_start: u64,
    /// Whole sample frames (one sample per channel) in the data.
    pub frames: u64,
}

/// Lowest and highest sample rates accepted.
const WAV_RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;
/// The tail shared by the KSDATAFORMAT_SUBTYPE GUIDs of PCM and float in
/// WAVE_FORMAT_EXTENSIBLE; the first two bytes hold the plain format tag.
const SUBTYPE_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];
const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;
const CONVERT_HINT: &str =
    "use 16-bit PCM or 32-bit float, e.g. ffmpeg -i INPUT -c:a pcm_s16le OUTPUT.wav";

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a RIFF/WAVE header from the start of `input` (a file of `file_len` bytes), leaving
/// the input anywhere.
pub(crate) fn parse_wav(
    input: &mut (impl Read + Seek),
    file_len: u64,
) -> std::result::Result<WavInfo, String> {
    let io_error = |e: io::Error| format!("cannot read it: {e}");
    let truncated = || "the WAV header is truncated: the file ends inside it".to_string();
    let mut riff = [0u8; 12];
    let got = read_full(input, &mut riff).map_err(io_error)?;
    if got == 0 {
        return Err("the file is empty".into());
    }
    let magic_ok = riff[..got.min(4)] == b"RIFF"[..got.min(4)]
        && (got <= 8 || riff[8..got] == b"WAVE"[..got - 8]);
    if !magic_ok {
        return Err(format!(
            "not a WAV file: it begins with {}, a WAV file begins with \"RIFF\" and has \"WAVE\" at byte 8",
            describe_start(&riff[..got])
        ));
    }
    if got < 12 {
        return Err(truncated());
    }
    let mut format: Option<(SampleFormat, u16, u32)> = None;
    let mut pos: u64 = 12;
    loop {
        let mut chunk = [0u8; 8];
        let got = read_full(input, &mut chunk).map_err(io_error)?;
        if got == 0 {
            return Err(match format {
                None => "the WAV file has no fmt chunk".into(),
                Some(_) => "the WAV file has no data chunk".into(),
            });
        }
        if got < 8 {
            return Err(truncated());
        }
        let size = le32(&chunk, 4);
        let body = pos + 8;
        match &chunk[..4] {
            b"fmt " => {
                if size < 16 {
                    return Err(format!("its WAV fmt chunk is {size} bytes, less than 16"));
                }
                let mut fmt = [0u8; 40];
                let want = (size as usize).min(fmt.len());
                if read_full(input, &mut fmt[..want]).map_err(io_error)? < want {
                    return Err(truncated());
                }
                format = Some(parse_fmt(&fmt[..want])?);
            }
            b"data" => {
                let Some((sample, channels, rate)) = format else {
                    return Err("its WAV data chunk comes before the fmt chunk".into());
                };
                let available = file_len.saturating_sub(body);
                // Writers that stream set the size to 0 or 0xFFFFFFFF; a cut copy claims more
                // than it has. Either way, the samples are what the file holds.
                let len = if size == 0 || size == u32::MAX {
                    available
                } else {
                    u64::from(size).min(available)
                };
                let frames = len / (sample.bytes() * channels as usize) as u64;
                if frames == 0 {
                    return Err("the WAV file holds no audio samples".into());
                }
                return Ok(WavInfo {
                    format: sample,
                    channels,
                    rate,
                    data_start: body,
                    frames,
                });
            }
            _ => {}
        }
        pos = body + u64::from(size) + u64::from(size & 1);
        if pos > file_len {
            return Err(truncated());
        }
        input.seek(SeekFrom::Start(pos)).map_err(io_error)?;
    }
}

/// Checks a fmt chunk's body (16 to 40 bytes): sample format, channels, rate.
fn parse_fmt(fmt: &[u8]) -> std::result::Result<(SampleFormat, u16, u32), String> {
    let mut tag = le16(fmt, 0);
    let channels = le16(fmt, 2);
    let rate = le32(fmt, 4);
    let bits = le16(fmt, 14);
    if tag == WAVE_FORMAT_EXTENSIBLE {
        if fmt.len() < 40 || le16(fmt, 16) < 22 {
            return Err("its WAVE_FORMAT_EXTENSIBLE fmt chunk is too short".into());
        }
        if fmt[26..40] != SUBTYPE_GUID_TAIL {
            return Err(format!(
                "its WAVE_FORMAT_EXTENSIBLE subformat is not PCM or float: {CONVERT_HINT}"
            ));
        }
        tag = le16(fmt, 24);
    }
    let sample = match (tag, bits) {
        (WAVE_FORMAT_PCM, 16) => SampleFormat::I16,
        (WAVE_FORMAT_IEEE_FLOAT, 32) => SampleFormat::F32,
        (WAVE_FORMAT_PCM, bits) => {
            return Err(format!(
                "its {bits}-bit PCM samples are not supported: {CONVERT_HINT}"
            ))
        }
        (WAVE_FORMAT_IEEE_FLOAT, bits) => {
            return Err(format!(
                "its {bits}-bit float samples are not supported: {CONVERT_HINT}"
            ))
        }
        (tag, _) => {
            let name = match tag {
                2 => " (ADPCM)",
                6 => " (A-law)",
                7 => " (mu-law)",
                0x11 => " (IMA ADPCM)",
                0x55 => " (MP3)",
                _ => "",
            };
            return Err(format!(
                "its WAV format {tag:#06x}{name} is not supported: {CONVERT_HINT}"
            ));
        }
    };
    if !(1..=2).contains(&channels) {
        return Err(format!(
            "it has {channels} channels: use mono or stereo, e.g. ffmpeg -i INPUT -ac 2 OUTPUT.wav"
        ));
    }
    if !WAV_RATES.contains(&rate) {
        return Err(format!(
            "its sample rate of {rate} Hz is outside {} to {} Hz",
            WAV_RATES.start(),
            WAV_RATES.end()
        ));
    }
    Ok((sample, channels, rate))
}

/// Reads a WAV file's sample frames as 16-bit PCM, from the start again after the last one.
struct WavReader<R> {
    input: R,
    info: WavInfo,
    /// Sample frames read since the start or the last rewind.
    position: u64,
}

impl<R: Read + Seek> WavReader<R> {
    fn new(mut input: R, info: WavInfo) -> io::Result<Self> {
        input.seek(SeekFrom::Start(info.data_start))?;
        Ok(WavReader {
            input,
            info,
            position: 0,
        })
    }

    /// The next sample frame: `[left, right]`, or `[mono, mono]`, as 16-bit PCM.
    fn next(&mut self) -> io::Result<[i16; 2]> {
        let size = self.info.format.bytes() * self.info.channels as usize;
        let mut bytes = [0u8; 8];
        for _ in 0..2 {
            if self.position >= self.info.frames {
                self.input.seek(SeekFrom::Start(self.info.data_start))?;
                self.position = 0;
            }
            if read_full(&mut self.input, &mut bytes[..size])? == size {
                self.position += 1;
                let mut frame = [0i16; 2];
                for (c, out) in frame.iter_mut().enumerate() {
                    let c = c.min(self.info.channels as usize - 1);
                    let at = c * self.info.format.bytes();
                    *out = match self.info.format {
                        SampleFormat::I16 => i16::from_le_bytes([bytes[at], bytes[at + 1]]),
                        SampleFormat::F32 => float_to_i16(f32::from_le_bytes([
                            bytes[at],
                            bytes[at + 1],
                            bytes[at + 2],
                            bytes[at + 3],
                        ])),
                    };
                }
                return Ok(frame);
            }
            // The file is shorter than when it was opened: loop at what it still holds.
            if self.position == 0 {
                break;
            }
            self.info.frames = self.position;
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file no longer holds any audio sample",
        ))
    }
}

/// A float sample, full scale ±1.0, as 16-bit PCM: beyond full scale is clipped, NaN and
/// infinities are silence.
fn float_to_i16(x: f32) -> i16 {
    if x.is_finite() {
        (x.clamp(-1.0, 1.0) * 32767.0).round() as i16
    } else {
        0
    }
}

/// A WAV file's samples, looping, as the library's 10 ms frames of 48 kHz.
struct WavFrames<R> {
    reader: WavReader<R>,
    resampler: Resampler,
    /// Samples of one read of the file, interleaved (kept to reuse the allocation).
    input: Vec<i16>,
    /// 48 kHz samples not yet handed out.
    pending: Vec<i16>,
}

impl<R: Read + Seek> WavFrames<R> {
    fn new(reader: WavReader<R>) -> Self {
        WavFrames {
            resampler: Resampler::new(reader.info.rate, reader.info.channels),
            reader,
            input: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The next frame: `AUDIO_FRAME_SAMPLES` samples per channel, interleaved.
    fn next_frame(&mut self) -> io::Result<Vec<i16>> {
        let channels = usize::from(self.reader.info.channels);
        let wanted = AUDIO_FRAME_SAMPLES * channels;
        // About a frame's worth of the file a read.
        let per_read = (self.reader.info.rate / (1000 / AUDIO_FRAME_MS)).max(1);
        while self.pending.len() < wanted {
            self.input.clear();
            for _ in 0..per_read {
                let frame = self.reader.next()?;
                self.input.extend_from_slice(&frame[..channels]);
            }
            self.resampler.process(&self.input, &mut self.pending);
        }
        Ok(self.pending.drain(..wanted).collect())
    }
}

/// What the fuzz targets reach of the WAV reader (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::*;
    use std::io::Cursor;

    /// What a WAV file's header says, as the source reads it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct WavStream {
        /// 16-bit PCM (false: 32-bit float).
        pub pcm16: bool,
        /// 1 or 2.
        pub channels: u16,
        /// Sample frames a second.
        pub rate: u32,
        /// Offset of the first sample.
        pub data_start: u64,
        /// Whole sample frames in the data.
        pub frames: u64,
    }

    /// Reads a WAV file's bytes as the file source does: the header, then up to `frames`
    /// 10 ms frames of 48 kHz (looping); or why the file is refused or stopped.
    pub fn read_wav(
        bytes: &[u8],
        frames: usize,
    ) -> std::result::Result<(WavStream, Vec<Vec<i16>>), String> {
        let info = parse_wav(&mut Cursor::new(bytes), bytes.len() as u64)?;
        let stream = WavStream {
            pcm16: info.format == SampleFormat::I16,
            channels: info.channels,
            rate: info.rate,
            data_start: info.data_start,
            frames: info.frames,
        };
        let reader = WavReader::new(Cursor::new(bytes), info).map_err(|e| e.to_string())?;
        let mut wav = WavFrames::new(reader);
        let mut out = Vec::new();
        for _ in 0..frames {
            out.push(wav.next_frame().map_err(|e| e.to_string())?);
        }
        Ok((stream, out))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{damaged_copies, open_error, TempFile};
    use super::*;
    use crate::error::{Error, ErrorCode};
    use std::io::Cursor;

    /// A WAV file; `fmt_tag` 0xFFFE wraps `sub_tag` in WAVE_FORMAT_EXTENSIBLE.
    fn wav(
        fmt_tag: u16,
        sub_tag: u16,
        channels: u16,
        rate: u32,
        bits: u16,
        data: &[u8],
    ) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend(fmt_tag.to_le_bytes());
        fmt.extend(channels.to_le_bytes());
        fmt.extend(rate.to_le_bytes());
        let align = channels * bits / 8;
        fmt.extend((rate * u32::from(align)).to_le_bytes());
        fmt.extend(align.to_le_bytes());
        fmt.extend(bits.to_le_bytes());
        if fmt_tag == WAVE_FORMAT_EXTENSIBLE {
            fmt.extend(22u16.to_le_bytes());
            fmt.extend(bits.to_le_bytes());
            fmt.extend(3u32.to_le_bytes());
            fmt.extend(sub_tag.to_le_bytes());
            fmt.extend(SUBTYPE_GUID_TAIL);
        }
        let mut out = b"RIFF".to_vec();
        out.extend((4 + 8 + fmt.len() as u32 + 8 + 8 + data.len() as u32).to_le_bytes());
        out.extend(b"WAVE");
        // An unknown chunk first, as real files have (LIST/INFO), with an odd size and padding.
        out.extend(b"LIST");
        out.extend(3u32.to_le_bytes());
        out.extend(b"abc\0");
        out.extend(b"fmt ");
        out.extend((fmt.len() as u32).to_le_bytes());
        out.extend(&fmt);
        out.extend(b"data");
        out.extend((data.len() as u32).to_le_bytes());
        out.extend(data);
        out
    }

    fn pcm16(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    fn audio_error(bytes: &[u8]) -> Error {
        open_error("audio_source", "bad.wav", bytes, audio)
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let valid = wav(1, 0, 2, 8000, 16, &pcm16(&[1, 2, 3, 4, 5, 6]));
        for bytes in damaged_copies(&valid, 1500) {
            let len = bytes.len() as u64;
            if let Ok(info) = parse_wav(&mut Cursor::new(bytes.clone()), len) {
                let reader = WavReader::new(Cursor::new(bytes), info).unwrap();
                let mut frames = WavFrames::new(reader);
                for _ in 0..3 {
                    if frames.next_frame().is_err() {
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn wav_headers_are_read() {
        let data = pcm16(&[0, 1000, -1000, 0]);
        let bytes = wav(1, 0, 1, 16_000, 16, &data);
        let info = parse_wav(&mut Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(
            info,
            WavInfo {
                format: SampleFormat::I16,
                channels: 1,
                rate: 16_000,
                data_start: bytes.len() as u64 - 8,
                frames: 4
            }
        );
        let floats: Vec<u8> = [0.5f32, -0.5]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        for bytes in [
            wav(3, 0, 2, 44_100, 32, &floats),
            wav(0xFFFE, 3, 2, 44_100, 32, &floats),
        ] {
            let info = parse_wav(&mut Cursor::new(&bytes), bytes.len() as u64).unwrap();
            assert_eq!(
                (info.format, info.channels, info.frames),
                (SampleFormat::F32, 2, 1)
            );
        }
        let bytes = wav(0xFFFE, 1, 2, 22_050, 16, &data);
        let info = parse_wav(&mut Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(
            (info.format, info.rate, info.frames),
            (SampleFormat::I16, 22_050, 2)
        );
        // A data size larger than the file (a cut copy) counts what is there; a trailing odd
        // byte is not a sample.
        let mut cut = wav(1, 0, 1, 8_000, 16, &pcm16(&[1, 2, 3, 4]));
        cut.truncate(cut.len() - 3);
        let info = parse_wav(&mut Cursor::new(&cut), cut.len() as u64).unwrap();
        assert_eq!(info.frames, 2);
    }

    #[test]
    fn bad_wav_files_are_1584_naming_the_problem() {
        let ok = pcm16(&[0; 8]);
        let mut data_first = b"RIFF\x24\0\0\0WAVEdata\x04\0\0\0\0\0\0\0".to_vec();
        data_first.extend(&wav(1, 0, 1, 8_000, 16, &ok)[12..]);
        let mut bad_guid = wav(0xFFFE, 1, 1, 8_000, 16, &ok);
        let guid_at = 12 + 12 + 8 + 26;
        bad_guid[guid_at] ^= 0xFF;
        for (bytes, expect) in [
            (b"".to_vec(), "the file is empty".to_string()),
            (
                b"just some text".to_vec(),
                "not a WAV file: it begins with \"just some te\"".into(),
            ),
            (b"RIFF\0\0\0\0AVI LIST".to_vec(), "not a WAV file".into()),
            (b"RIF".to_vec(), "header is truncated".into()),
            (
                b"RIFF\0\0\0\0WAVEfmt \x10\0".to_vec(),
                "header is truncated".into(),
            ),
            (b"RIFF\0\0\0\0WAVE".to_vec(), "no fmt chunk".into()),
            (
                wav(1, 0, 1, 8_000, 16, &ok)[..48].to_vec(),
                "no data chunk".into(),
            ),
            (
                wav(1, 0, 1, 8_000, 16, &[]),
                "holds no audio samples".into(),
            ),
            (
                wav(1, 0, 1, 8_000, 16, &[7]),
                "holds no audio samples".into(),
            ),
            (data_first, "data chunk comes before the fmt chunk".into()),
            (
                wav(1, 0, 1, 8_000, 24, &ok),
                "24-bit PCM samples are not supported".into(),
            ),
            (wav(1, 0, 1, 8_000, 8, &ok), "8-bit PCM".into()),
            (wav(3, 0, 1, 8_000, 64, &ok), "64-bit float".into()),
            (
                wav(0x55, 0, 1, 8_000, 16, &ok),
                "format 0x0055 (MP3) is not supported".into(),
            ),
            (wav(0xFFFE, 0x55, 1, 8_000, 16, &ok), "format 0x0055".into()),
            (bad_guid, "subformat is not PCM or float".into()),
            (wav(1, 0, 6, 8_000, 16, &ok), "it has 6 channels".into()),
            (wav(1, 0, 0, 8_000, 16, &ok), "it has 0 channels".into()),
            (wav(1, 0, 1, 4_000, 16, &ok), "4000 Hz is outside".into()),
        ] {
            let e = audio_error(&bytes);
            assert!(
                e.message.contains(&expect),
                "{:?} lacks {expect:?}",
                e.message
            );
        }
        let e = audio(&std::env::temp_dir().join("lp-file-test-none.wav"))
            .err()
            .unwrap();
        assert_eq!(e.code, ErrorCode::MediaSourceInvalid);
        assert!(
            e.message.contains("none.wav\": cannot open it: "),
            "{}",
            e.message
        );
    }

    #[test]
    fn audio_source_delivers_48k_frames_with_the_files_channels_and_loops() {
        // 8 kHz stereo: left a constant +0.5, right -0.25; 15 ms long, so it loops within
        // the first frames.
        let mut samples = Vec::new();
        for _ in 0..120 {
            samples.extend([16384i16, -8192]);
        }
        let file = TempFile::new("stereo.wav", &wav(1, 0, 2, 8_000, 16, &pcm16(&samples)));
        let source = audio(&file.0).unwrap();
        let queue = source.subscribe(100);
        std::thread::sleep(Duration::from_millis(300));
        source.stop();
        let mut frames = 0;
        while let Ok(f) = queue.pop(Duration::ZERO) {
            assert_eq!((f.channels, f.samples.len()), (2, AUDIO_FRAME_SAMPLES * 2));
            for pair in f.samples.chunks_exact(2) {
                assert!(
                    (pair[0] - 16384).abs() <= 1 && (pair[1] + 8192).abs() <= 1,
                    "{pair:?}"
                );
            }
            frames += 1;
        }
        // 30 frames are due in 300 ms.
        assert!((15..=35).contains(&frames), "{frames} frames");

        let floats: Vec<u8> = (0..800)
            .flat_map(|i| ((i as f32 / 800.0) * 2.0 - 1.0).to_le_bytes())
            .collect();
        let file = TempFile::new("mono.wav", &wav(3, 0, 1, 22_050, 32, &floats));
        let source = audio(&file.0).unwrap();
        let frame = source.subscribe(10).pop(Duration::from_secs(2)).unwrap();
        source.stop();
        assert_eq!(
            (frame.channels, frame.samples.len()),
            (1, AUDIO_FRAME_SAMPLES)
        );
    }
}
