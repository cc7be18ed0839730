//! File sources (`file:PATH`): Y4M video and WAV audio, looped and paced in real time.
//!
//! **Video** is a YUV4MPEG2 stream of 4:2:0 frames (`C420`, `C420jpeg`, `C420paldv`,
//! `C420mpeg2`, or no `C` at all) or of grey frames (`Cmono`). Frames go out at the file's own
//! frame rate (`F`; the publisher's `frame_rate` when the header has none) and at the
//! publisher's `resolution`, as OpenTok publishes the size it was asked for: a file of another
//! size is cropped to the requested aspect ratio around its centre and scaled bilinearly, as a
//! browser's `resizeMode: "crop-and-scale"` does with a camera. A file of the requested size
//! passes unchanged.
//!
//! **Audio** is RIFF/WAVE holding 16-bit PCM or 32-bit float samples (plain or
//! `WAVE_FORMAT_EXTENSIBLE`), mono or stereo, at 8–192 kHz. It is resampled linearly to the
//! library's 48 kHz and delivered in 10 ms frames with the file's channel count.
//!
//! Both loop at the end of the file. A file that ends inside a frame (a copy cut short, a
//! recording still being written) loops after its last whole frame. Everything
//! `init_publisher` can find wrong with a file — missing, unreadable, empty, of another
//! format, truncated before its first whole frame — fails it with 1584 MEDIA_SOURCE_INVALID and
//! a message naming the option, the path and the problem. No input makes this module panic.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::resample::Resampler;
use super::scale::{Fit, I420Scaler};
use super::{AudioFrame, MediaKind, Source, VideoFrame, AUDIO_FRAME_MS, AUDIO_FRAME_SAMPLES};
use crate::error::{Error, ErrorCode, Result};
use crate::settings::Resolution;

/// Opens `path` as a Y4M video source delivering `resolution` (see the module's notes);
/// `default_fps` paces a file whose header gives no frame rate.
pub(crate) fn video(
    path: &Path,
    resolution: Resolution,
    default_fps: u32,
) -> Result<Source<VideoFrame>> {
    let fail = |what: String| invalid("video_source", path, what);
    let (file, _) = open_file(path).map_err(fail)?;
    let mut reader = Y4mReader::new(BufReader::with_capacity(1 << 16, file), default_fps)
        .map_err(|e| fail(e.to_string()))?;
    match reader.read_frame() {
        Ok(Next::Frame) => {}
        Ok(Next::End) => return Err(fail("it holds a Y4M header but no frame".into())),
        Ok(Next::Stop(why)) => return Err(fail(format!("it holds no whole frame: {why}"))),
        Err(e) => return Err(fail(format!("cannot read it: {e}"))),
    }
    let header = reader.header.clone();
    tracing::info!(
        path = %path.display(),
        "Y4M file: {}x{} {} at {:.3} fps, sent as {resolution}",
        header.width,
        header.height,
        if header.mono { "mono" } else { "4:2:0" },
        header.fps()
    );
    let scaler = I420Scaler::new(header.width, header.height, resolution, Fit::CropToAspect);
    let mono = header.mono;
    let to_i420 = move |frame: &[u8]| {
        if mono {
            scaler.scale_grey(frame)
        } else {
            scaler.scale_packed(frame)
        }
    };
    let owned_path = path.to_owned();
    Source::spawn(
        MediaKind::Video,
        format!("file:{}", path.display()),
        move |out| {
            let period = Duration::from_secs_f64(1.0 / header.fps());
            let start = Instant::now();
            let mut index: u64 = 0;
            loop {
                let due = start + period.mul_f64(index as f64);
                if !out.sleep_until(due) {
                    return Ok(());
                }
                out.emit(VideoFrame {
                    width: resolution.width,
                    height: resolution.height,
                    timestamp_us: due.duration_since(start).as_micros() as u64,
                    data: to_i420(&reader.frame).into(),
                });
                index += 1;
                // After a long stall (a suspended machine), restart the clock rather than burst.
                if Instant::now() > start + period.mul_f64(index as f64 + 5.0) {
                    index = (start.elapsed().as_secs_f64() / period.as_secs_f64()) as u64;
                }
                reader
                    .advance_looping()
                    .map_err(|why| invalid("video_source", &owned_path, why))?;
            }
        },
    )
}

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
            let period = Duration::from_millis(u64::from(AUDIO_FRAME_MS));
            let mut frames = WavFrames::new(reader);
            let start = Instant::now();
            let mut index: u64 = 0;
            loop {
                let due = start + period.mul_f64(index as f64);
                if !out.sleep_until(due) {
                    return Ok(());
                }
                let samples = frames.next_frame().map_err(|e| {
                    invalid("audio_source", &owned_path, format!("cannot read it: {e}"))
                })?;
                out.emit(AudioFrame {
                    channels,
                    timestamp_us: due.duration_since(start).as_micros() as u64,
                    samples: Arc::from(samples),
                });
                index += 1;
                if Instant::now() > start + period.mul_f64(index as f64 + 5.0) {
                    index = (start.elapsed().as_secs_f64() / period.as_secs_f64()) as u64;
                }
            }
        },
    )
}

/// 1584 for `field`'s file at `path`: `video_source "file:/x.y4m": what is wrong`.
fn invalid(field: &str, path: &Path, what: impl fmt::Display) -> Error {
    Error::new(
        ErrorCode::MediaSourceInvalid,
        format!("{field} \"file:{}\": {what}", path.display()),
    )
}

/// Opens a regular file for reading, with its length.
fn open_file(path: &Path) -> std::result::Result<(File, u64), String> {
    let file = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if meta.is_dir() {
        return Err("it is a directory, not a file".into());
    }
    if !meta.is_file() {
        return Err("it is not a regular file (a file source is read again when it loops)".into());
    }
    if meta.len() == 0 {
        return Err("the file is empty".into());
    }
    Ok((file, meta.len()))
}

/// Up to 16 leading bytes, escaped, for telling the user what a file holds instead.
fn describe_start(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    let text: String = head
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    format!("\"{text}\"")
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

// ---------------------------------------------------------------------------------------------
// Y4M

const Y4M_MAGIC: &[u8] = b"YUV4MPEG2";
/// Longest stream header accepted (real ones are under 100 bytes).
const MAX_Y4M_HEADER: usize = 4096;
/// Longest frame header accepted (`FRAME` plus optional parameters).
const MAX_FRAME_HEADER: usize = 1024;
/// Largest side accepted, so that a damaged header cannot ask for gigabytes.
const MAX_Y4M_SIDE: u32 = 8192;
/// Fastest frame rate accepted.
const MAX_Y4M_FPS: f64 = 240.0;
/// Slowest frame rate accepted (one frame every 100 s).
const MIN_Y4M_FPS: f64 = 0.01;

/// What a Y4M stream header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Y4mHeader {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second as a fraction: numerator, denominator.
    pub rate: (u32, u32),
    /// Luma only (`Cmono`); otherwise 4:2:0.
    pub mono: bool,
}

impl Y4mHeader {
    /// Frames per second.
    pub fn fps(&self) -> f64 {
        f64::from(self.rate.0) / f64::from(self.rate.1)
    }

    /// Width and height of a chroma plane (4:2:0 rounds odd sides up).
    fn chroma_size(&self) -> (usize, usize) {
        (
            self.width.div_ceil(2) as usize,
            self.height.div_ceil(2) as usize,
        )
    }

    /// Bytes of one frame's planes.
    pub fn frame_len(&self) -> usize {
        let luma = self.width as usize * self.height as usize;
        if self.mono {
            luma
        } else {
            let (cw, ch) = self.chroma_size();
            luma + 2 * cw * ch
        }
    }
}

/// Parses the stream header line (without its newline). `default_fps` stands in for a
/// missing `F`.
pub(crate) fn parse_y4m_header(
    line: &[u8],
    default_fps: u32,
) -> std::result::Result<Y4mHeader, String> {
    if !(line == Y4M_MAGIC || line.starts_with(b"YUV4MPEG2 ")) {
        return Err(not_y4m(line));
    }
    let text = std::str::from_utf8(line)
        .map_err(|_| "the Y4M header holds bytes that are not text".to_string())?;
    let (mut width, mut height, mut rate, mut mono) = (None, None, None, false);
    for token in text.split(' ').skip(1).filter(|t| !t.is_empty()) {
        let mut chars = token.chars();
        let tag = chars.next();
        let value = chars.as_str();
        let side = |what: &str| match value.parse::<u32>() {
            Ok(v) if (1..=MAX_Y4M_SIDE).contains(&v) => Ok(v),
            _ => Err(format!(
                "the Y4M header's {what} {token:?} is not a number from 1 to {MAX_Y4M_SIDE}"
            )),
        };
        match tag {
            Some('W') => width = Some(side("width")?),
            Some('H') => height = Some(side("height")?),
            Some('F') => {
                let parsed = value
                    .split_once(':')
                    .and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
                    .filter(|&(n, d)| n > 0 && d > 0);
                let Some((n, d)) = parsed else {
                    return Err(format!(
                        "the Y4M header's frame rate {token:?} is not of the form F30:1"
                    ));
                };
                let fps = f64::from(n) / f64::from(d);
                if !(MIN_Y4M_FPS..=MAX_Y4M_FPS).contains(&fps) {
                    return Err(format!(
                        "the Y4M header's frame rate {token:?} ({fps:.3} fps) is outside \
                         {MIN_Y4M_FPS} to {MAX_Y4M_FPS} fps"
                    ));
                }
                rate = Some((n, d));
            }
            Some('C') => {
                mono = match value {
                    "420" | "420jpeg" | "420paldv" | "420mpeg2" => false,
                    "mono" => true,
                    other => {
                        return Err(format!(
                            "its Y4M colorspace C{other} is not supported: use 4:2:0 (C420, C420jpeg, \
                             C420paldv, C420mpeg2) or Cmono, e.g. ffmpeg -i INPUT -pix_fmt yuv420p OUTPUT.y4m"
                        ))
                    }
                }
            }
            // Interlacing, pixel aspect ratio and extensions do not change how frames are sent.
            _ => {}
        }
    }
    let width = width.ok_or("the Y4M header has no width (W)")?;
    let height = height.ok_or("the Y4M header has no height (H)")?;
    Ok(Y4mHeader {
        width,
        height,
        rate: rate.unwrap_or((default_fps.clamp(1, 240), 1)),
        mono,
    })
}

fn not_y4m(start: &[u8]) -> String {
    format!(
        "not a Y4M file: it begins with {}, a Y4M file begins with \"YUV4MPEG2 \"",
        describe_start(start)
    )
}

/// One line read with a length limit.
enum Line {
    /// The line, without its newline.
    Complete(Vec<u8>),
    /// The input ended at once.
    Eof,
    /// The input ended inside the line.
    Partial(Vec<u8>),
    /// No newline within the limit (the bytes read so far).
    TooLong(Vec<u8>),
}

fn read_line(input: &mut impl BufRead, max: usize) -> io::Result<Line> {
    let mut buf = Vec::new();
    input.take(max as u64 + 1).read_until(b'\n', &mut buf)?;
    Ok(if buf.last() == Some(&b'\n') {
        buf.pop();
        Line::Complete(buf)
    } else if buf.is_empty() {
        Line::Eof
    } else if buf.len() > max {
        Line::TooLong(buf)
    } else {
        Line::Partial(buf)
    })
}

/// Why the input's whole frames ended.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// A whole frame is in `frame`.
    Frame,
    /// The input ended cleanly after the last frame.
    End,
    /// What follows is not a whole frame (it is cut short, or not a frame at all).
    Stop(String),
}

/// Reads the frames of a Y4M stream, from the start again when asked.
struct Y4mReader<R> {
    input: R,
    header: Y4mHeader,
    data_start: u64,
    /// The planes of the frame read last.
    frame: Vec<u8>,
    /// Whole frames read since the start or the last rewind.
    frames_in_pass: u64,
    /// Whether the reason a pass ended early was logged already.
    reported_stop: bool,
}

impl<R: BufRead + Seek> Y4mReader<R> {
    fn new(mut input: R, default_fps: u32) -> std::result::Result<Self, String> {
        let io_error = |e: io::Error| format!("cannot read it: {e}");
        let line = read_line(&mut input, MAX_Y4M_HEADER).map_err(io_error)?;
        let line =
            match line {
                Line::Complete(line) => line,
                Line::Eof => return Err("the file is empty".into()),
                Line::Partial(bytes) | Line::TooLong(bytes)
                    if !(bytes.starts_with(Y4M_MAGIC) || Y4M_MAGIC.starts_with(&bytes)) =>
                {
                    return Err(not_y4m(&bytes))
                }
                Line::Partial(_) => return Err(
                    "the Y4M header is truncated: the file ends before the header's end of line"
                        .into(),
                ),
                Line::TooLong(_) => {
                    return Err(format!(
                        "the Y4M header has no end of line within {MAX_Y4M_HEADER} bytes"
                    ))
                }
            };
        let header = parse_y4m_header(&line, default_fps)?;
        Ok(Y4mReader {
            input,
            header,
            data_start: line.len() as u64 + 1,
            frame: Vec::new(),
            frames_in_pass: 0,
            reported_stop: false,
        })
    }

    /// Reads the next frame into `frame`.
    fn read_frame(&mut self) -> io::Result<Next> {
        let number = self.frames_in_pass + 1;
        let not_a_frame = |line: &[u8]| {
            Next::Stop(format!(
                "frame {number} does not begin with \"FRAME\" but with {}",
                describe_start(line)
            ))
        };
        match read_line(&mut self.input, MAX_FRAME_HEADER)? {
            Line::Eof => return Ok(Next::End),
            Line::Complete(line) if line == b"FRAME" || line.starts_with(b"FRAME ") => {}
            Line::Partial(line) if b"FRAME".starts_with(&line) || line.starts_with(b"FRAME ") => {
                return Ok(Next::Stop(format!(
                    "frame {number} is cut short in its FRAME line"
                )))
            }
            Line::Complete(line) | Line::TooLong(line) | Line::Partial(line) => {
                return Ok(not_a_frame(&line))
            }
        }
        let wanted = self.header.frame_len();
        self.frame.clear();
        let got = (&mut self.input)
            .take(wanted as u64)
            .read_to_end(&mut self.frame)?;
        if got < wanted {
            return Ok(Next::Stop(format!(
                "frame {number} is cut short: {got} of its {wanted} bytes ({}x{} {})",
                self.header.width,
                self.header.height,
                if self.header.mono { "mono" } else { "4:2:0" }
            )));
        }
        self.frames_in_pass += 1;
        Ok(Next::Frame)
    }

    /// Reads the next frame, going back to the first one after the last whole frame.
    fn advance_looping(&mut self) -> std::result::Result<(), String> {
        let io_error = |e: io::Error| format!("cannot read it: {e}");
        match self.read_frame().map_err(io_error)? {
            Next::Frame => return Ok(()),
            Next::End => {}
            Next::Stop(why) => {
                if !self.reported_stop {
                    self.reported_stop = true;
                    tracing::warn!(
                        "Y4M file: looping after {} whole frames: {why}",
                        self.frames_in_pass
                    );
                }
            }
        }
        self.input
            .seek(SeekFrom::Start(self.data_start))
            .map_err(io_error)?;
        self.frames_in_pass = 0;
        match self.read_frame().map_err(io_error)? {
            Next::Frame => Ok(()),
            Next::End => Err("it no longer holds a frame".into()),
            Next::Stop(why) => Err(format!("it no longer holds a whole frame: {why}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// WAV

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

/// Reads a WAV file's sample frames as floats, from the start again after the last one.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A unique path in the temp dir holding `bytes`; removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "lp-file-test-{}-{}-{name}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, bytes).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A Y4M stream of `w`x`h` frames whose planes are filled with (luma, 128, 128 + i).
    fn y4m(w: u32, h: u32, params: &str, lumas: &[u8]) -> Vec<u8> {
        let mut out = format!("YUV4MPEG2 W{w} H{h} {params}\n").into_bytes();
        let luma = (w * h) as usize;
        let chroma = (w.div_ceil(2) * h.div_ceil(2)) as usize;
        let mono = params.contains("Cmono");
        for (i, &l) in lumas.iter().enumerate() {
            out.extend_from_slice(b"FRAME\n");
            out.extend(std::iter::repeat_n(l, luma));
            if !mono {
                out.extend(std::iter::repeat_n(128, chroma));
                out.extend(std::iter::repeat_n(128 + i as u8, chroma));
            }
        }
        out
    }

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

    fn res(width: u32, height: u32) -> Resolution {
        Resolution { width, height }
    }

    fn video_error(bytes: &[u8]) -> Error {
        let file = TempFile::new("bad.y4m", bytes);
        let error = video(&file.0, res(320, 240), 30).err().expect("an error");
        assert_eq!(
            error.code,
            ErrorCode::MediaSourceInvalid,
            "{}",
            error.message
        );
        let prefix = format!("video_source \"file:{}\": ", file.0.display());
        assert!(error.message.starts_with(&prefix), "{}", error.message);
        error
    }

    fn audio_error(bytes: &[u8]) -> Error {
        let file = TempFile::new("bad.wav", bytes);
        let error = audio(&file.0).err().expect("an error");
        assert_eq!(
            error.code,
            ErrorCode::MediaSourceInvalid,
            "{}",
            error.message
        );
        let prefix = format!("audio_source \"file:{}\": ", file.0.display());
        assert!(error.message.starts_with(&prefix), "{}", error.message);
        error
    }

    #[test]
    fn y4m_header_fields_and_defaults() {
        let h = parse_y4m_header(
            b"YUV4MPEG2 W320 H240 F30000:1001 It A1:1 C420jpeg XYSCSS=420JPEG",
            25,
        )
        .unwrap();
        assert_eq!(
            h,
            Y4mHeader {
                width: 320,
                height: 240,
                rate: (30000, 1001),
                mono: false
            }
        );
        assert!((h.fps() - 29.97).abs() < 0.01);
        assert_eq!(h.frame_len(), 320 * 240 * 3 / 2);
        for cs in ["C420", "C420paldv", "C420mpeg2", ""] {
            let line = format!("YUV4MPEG2 W2 H2 F1:1 {cs}");
            assert!(!parse_y4m_header(line.as_bytes(), 1).unwrap().mono, "{cs}");
        }
        // No F: the publisher's frame rate. Mono: luma only. Odd sides round chroma up.
        let h = parse_y4m_header(b"YUV4MPEG2 W5 H3 Cmono", 25).unwrap();
        assert_eq!((h.rate, h.mono, h.frame_len()), ((25, 1), true, 15));
        let h = parse_y4m_header(b"YUV4MPEG2 W5 H3", 25).unwrap();
        assert_eq!(h.frame_len(), 15 + 2 * 3 * 2);
    }

    #[test]
    fn y4m_headers_that_are_refused_say_why() {
        for (line, expect) in [
            (
                &b"YUV4MPEG2 W320 H240 C444"[..],
                "colorspace C444 is not supported",
            ),
            (b"YUV4MPEG2 W320 H240 C420p10", "C420p10"),
            (b"YUV4MPEG2 W320 H240 Cmono16", "Cmono16"),
            (b"YUV4MPEG2 H240", "no width (W)"),
            (b"YUV4MPEG2 W320", "no height (H)"),
            (b"YUV4MPEG2", "no width"),
            (b"YUV4MPEG2 W0 H240", "width \"W0\""),
            (b"YUV4MPEG2 W320 H99999", "height \"H99999\""),
            (b"YUV4MPEG2 W320 H240 F30:0", "frame rate \"F30:0\""),
            (b"YUV4MPEG2 W320 H240 F30", "frame rate"),
            (b"YUV4MPEG2 W320 H240 F1000:1", "outside 0.01 to 240 fps"),
            (b"YUV4MPEG2 W320 H240 F1:1000", "outside"),
            (b"YUV4MPEG2 W\xff H2", "not text"),
            (b"YUV4MPEG2X W2 H2", "not a Y4M file"),
            (b"RIFF\0\0\0\0WAVE", "begins with \"RIFF"),
        ] {
            let e = parse_y4m_header(line, 30).unwrap_err();
            assert!(e.contains(expect), "{e:?} lacks {expect:?}");
        }
        // Non-ASCII where a tag is expected does not trip over char boundaries.
        assert!(parse_y4m_header("YUV4MPEG2 é W2 H2".as_bytes(), 30).is_ok());
    }

    #[test]
    fn bad_y4m_files_are_1584_naming_the_path_and_the_problem() {
        let missing = std::env::temp_dir().join("lp-file-test-no-such-file.y4m");
        let e = video(&missing, res(320, 240), 30).err().unwrap();
        assert_eq!(e.code, ErrorCode::MediaSourceInvalid);
        assert!(e.message.contains("cannot open it"), "{}", e.message);
        assert!(e.message.contains("no-such-file.y4m"), "{}", e.message);

        let dir = video(&std::env::temp_dir(), res(320, 240), 30)
            .err()
            .unwrap();
        assert!(dir.message.contains("a directory"), "{}", dir.message);

        let frame_len = 32 * 24 * 3 / 2;
        let whole = y4m(32, 24, "F30:1", &[16]);
        for (bytes, expect) in [
            (&b""[..], "the file is empty"),
            (
                b"hello, this is text\n",
                "not a Y4M file: it begins with \"hello, this is t\"",
            ),
            (b"YUV4MPEG2 W32 H24", "header is truncated"),
            (b"YUV4", "header is truncated"),
            (b"YUV4MPEG2 W32 H24 F30:1\n", "a Y4M header but no frame"),
            (
                b"YUV4MPEG2 W32 H24 F30:1\nFRA",
                "cut short in its FRAME line",
            ),
            (
                b"YUV4MPEG2 W32 H24 F30:1\nJUNK\n",
                "does not begin with \"FRAME\"",
            ),
            (&whole[..whole.len() - 1], "cut short"),
        ] {
            let e = video_error(bytes);
            assert!(
                e.message.contains(expect),
                "{:?} lacks {expect:?}",
                e.message
            );
        }
        let e = video_error(&whole[..whole.len() - 100]);
        assert!(
            e.message.ends_with(&format!(
                "no whole frame: frame 1 is cut short: {} of its {frame_len} bytes (32x24 4:2:0)",
                frame_len - 100
            )),
            "{}",
            e.message
        );
        let mut long = b"YUV4MPEG2 W32 H24 X".to_vec();
        long.extend(std::iter::repeat_n(b'x', 5000));
        let e = video_error(&long);
        assert!(e.message.contains("no end of line"), "{}", e.message);
    }

    #[test]
    fn y4m_reader_loops_and_stops_at_the_last_whole_frame() {
        let mut bytes = y4m(4, 2, "F30:1", &[10, 20, 30]);
        bytes.extend_from_slice(b"FRAME\n\x01\x02"); // a fourth frame, cut short
        let mut reader = Y4mReader::new(Cursor::new(bytes), 30).unwrap();
        let mut lumas = Vec::new();
        assert_eq!(reader.read_frame().unwrap(), Next::Frame);
        for _ in 0..7 {
            lumas.push(reader.frame[0]);
            assert_eq!(reader.frame.len(), 12);
            reader.advance_looping().unwrap();
        }
        assert_eq!(lumas, [10, 20, 30, 10, 20, 30, 10]);

        // Frame parameters after FRAME are allowed; a clean end loops too.
        let bytes = b"YUV4MPEG2 W2 H2 Cmono\nFRAME Ixyz\n\x05\x05\x05\x05FRAME\n\x06\x06\x06\x06";
        let mut reader = Y4mReader::new(Cursor::new(bytes.to_vec()), 30).unwrap();
        assert_eq!(reader.read_frame().unwrap(), Next::Frame);
        let mut lumas = vec![reader.frame[0]];
        for _ in 0..3 {
            reader.advance_looping().unwrap();
            lumas.push(reader.frame[0]);
        }
        assert_eq!(lumas, [5, 6, 5, 6]);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small xorshift generator: the same inputs every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid_video = y4m(6, 4, "F30:1", &[1, 2]);
        let valid_audio = wav(1, 0, 2, 8000, 16, &pcm16(&[1, 2, 3, 4, 5, 6]));
        for round in 0..3000 {
            let base = if round % 2 == 0 {
                &valid_video
            } else {
                &valid_audio
            };
            let mut bytes = base.clone();
            let cut = (next() as usize) % (bytes.len() + 1);
            bytes.truncate(cut.max(bytes.len() * (round % 3) / 3));
            for _ in 0..(next() % 4) {
                if !bytes.is_empty() {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            if let Ok(mut reader) = Y4mReader::new(Cursor::new(bytes.clone()), 30) {
                if reader.read_frame().unwrap() == Next::Frame {
                    let header = &reader.header;
                    let scaler = I420Scaler::new(
                        header.width,
                        header.height,
                        res(16, 16),
                        Fit::CropToAspect,
                    );
                    for _ in 0..4 {
                        scaler.scale_packed(&reader.frame);
                        if reader.advance_looping().is_err() {
                            break;
                        }
                    }
                }
            }
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
    fn video_source_is_paced_at_the_file_rate_and_loops() {
        let lumas: Vec<u8> = (0..8).map(|i| 20 + i * 25).collect();
        let file = TempFile::new("paced.y4m", &y4m(32, 24, "F50:1 C420jpeg", &lumas));
        // The publisher's own frame rate (5) does not matter: the file says 50.
        let source = video(&file.0, res(32, 24), 5).unwrap();
        let queue = source.subscribe(100);
        std::thread::sleep(Duration::from_millis(500));
        source.stop();
        let mut seen = Vec::new();
        while let Ok(f) = queue.pop(Duration::ZERO) {
            assert_eq!((f.width, f.height, f.data.len()), (32, 24, 32 * 24 * 3 / 2));
            seen.push(f.data[0]);
        }
        assert!((10..=30).contains(&seen.len()), "{} frames", seen.len());
        for pair in seen.windows(2) {
            let (a, b) = (
                lumas.iter().position(|&l| l == pair[0]).unwrap(),
                lumas.iter().position(|&l| l == pair[1]).unwrap(),
            );
            assert_eq!((a + 1) % lumas.len(), b, "{seen:?}");
        }
    }

    #[test]
    fn video_source_scales_to_the_requested_resolution() {
        let file = TempFile::new("small.y4m", &y4m(32, 24, "F30:1", &[100]));
        let source = video(&file.0, res(64, 48), 30).unwrap();
        let queue = source.subscribe(10);
        let frame = queue.pop(Duration::from_secs(2)).unwrap();
        source.stop();
        assert_eq!((frame.width, frame.height), (64, 48));
        let (y, u, v) = frame.planes();
        assert!(y.iter().all(|&p| p == 100));
        assert!(u.iter().all(|&p| p == 128));
        assert!(v.iter().all(|&p| p == 128));
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
