//! Y4M video files: a YUV4MPEG2 stream of 4:2:0 frames (`C420`, `C420jpeg`, `C420paldv`,
//! `C420mpeg2`, or no `C` at all) or of grey frames (`Cmono`). Frames go out at the file's own
//! frame rate (`F`; the publisher's `frame_rate` when the header has none) and at the
//! publisher's `resolution`, as OpenTok publishes the size it was asked for: a file of another
//! size is cropped to the requested aspect ratio around its centre and scaled bilinearly, as a
//! browser's `resizeMode: "crop-and-scale"` does with a camera. A file of the requested size
//! passes unchanged.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use super::{describe_start, invalid, open_file};
use crate::error::Result;
use crate::media::scale::{Fit, I420Scaler};
use crate::media::source::Pacer;
use crate::media::{MediaKind, Source, VideoFrame};
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
    let to_i420 = picture_scaler(&header, resolution);
    let owned_path = path.to_owned();
    Source::spawn(
        MediaKind::Video,
        format!("file:{}", path.display()),
        move |out| {
            let mut pacer = Pacer::new(Duration::from_secs_f64(1.0 / header.fps()));
            while let Some(due) = pacer.next_due(out) {
                out.emit(VideoFrame {
                    width: resolution.width,
                    height: resolution.height,
                    timestamp_us: due.timestamp_us,
                    data: to_i420(&reader.frame).into(),
                });
                reader
                    .advance_looping()
                    .map_err(|why| invalid("video_source", &owned_path, why))?;
            }
            Ok(())
        },
    )
}

/// Turns the file's pictures into I420 frames of `out`.
fn picture_scaler(header: &Y4mHeader, out: Resolution) -> impl Fn(&[u8]) -> Vec<u8> {
    let scaler = I420Scaler::new(header.width, header.height, out, Fit::CropToAspect);
    let mono = header.mono;
    move |picture| {
        if mono {
            scaler.scale_grey(picture)
        } else {
            scaler.scale_packed(picture)
        }
    }
}

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

/// What the fuzz targets reach of the Y4M reader (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::*;

    /// What a Y4M file's header says, as the source reads it.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Y4mStream {
        /// Width in pixels.
        pub width: u32,
        /// Height in pixels.
        pub height: u32,
        /// Frames per second as numerator, denominator.
        pub rate: (u32, u32),
        /// Frames per second.
        pub fps: f64,
        /// Luma only.
        pub mono: bool,
        /// Bytes of one frame's planes.
        pub frame_len: usize,
    }

    /// Reads a Y4M file's bytes as the file source does (header, first frame, then up to
    /// `frames` frames looping), converting each frame to I420 of `out`: the header and the
    /// I420 frames, or why the file is refused or stopped.
    pub fn read_y4m(
        bytes: &[u8],
        default_fps: u32,
        out: Resolution,
        frames: usize,
    ) -> std::result::Result<(Y4mStream, Vec<Vec<u8>>), String> {
        let mut reader = Y4mReader::new(io::Cursor::new(bytes), default_fps)?;
        let h = &reader.header;
        let stream = Y4mStream {
            width: h.width,
            height: h.height,
            rate: h.rate,
            fps: h.fps(),
            mono: h.mono,
            frame_len: h.frame_len(),
        };
        match reader.read_frame().map_err(|e| e.to_string())? {
            Next::Frame => {}
            Next::End => return Err("it holds a Y4M header but no frame".into()),
            Next::Stop(why) => return Err(format!("it holds no whole frame: {why}")),
        }
        let to_i420 = picture_scaler(&reader.header, out);
        let mut pictures = vec![to_i420(&reader.frame)];
        while pictures.len() < frames {
            reader.advance_looping()?;
            pictures.push(to_i420(&reader.frame));
        }
        Ok((stream, pictures))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{damaged_copies, open_error, res, TempFile};
    use super::*;
    use crate::error::{Error, ErrorCode};
    use std::io::Cursor;

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

    fn video_error(bytes: &[u8]) -> Error {
        open_error("video_source", "bad.y4m", bytes, |path| {
            video(path, res(320, 240), 30)
        })
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
        for bytes in damaged_copies(&y4m(6, 4, "F30:1", &[1, 2]), 1500) {
            if let Ok(mut reader) = Y4mReader::new(Cursor::new(bytes), 30) {
                if reader.read_frame().unwrap() == Next::Frame {
                    let to_i420 = picture_scaler(&reader.header, res(16, 16));
                    for _ in 0..4 {
                        to_i420(&reader.frame);
                        if reader.advance_looping().is_err() {
                            break;
                        }
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
}
