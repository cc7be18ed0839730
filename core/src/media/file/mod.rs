//! File sources (`file:PATH`): Y4M video ([`y4m`]) and WAV audio ([`wav`]), looped and paced
//! in real time.
//!
//! Both loop at the end of the file. A file that ends inside a frame (a copy cut short, a
//! recording still being written) loops after its last whole frame. Everything
//! `init_publisher` can find wrong with a file — missing, unreadable, empty, of another
//! format, truncated before its first whole frame — fails it with 1584 MEDIA_SOURCE_INVALID and
//! a message naming the option, the path and the problem. No input makes these modules panic.

mod wav;
mod y4m;

/// What the fuzz targets reach of the file readers (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    pub use super::wav::fuzzing::*;
    pub use super::y4m::fuzzing::*;
}

pub(crate) use wav::audio;
pub(crate) use y4m::video;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, ErrorCode};

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

#[cfg(test)]
mod testing {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::error::{Error, ErrorCode, Result};
    use crate::settings::Resolution;

    /// A unique path in the temp dir holding `bytes`; removed when dropped.
    pub(super) struct TempFile(pub(super) PathBuf);

    impl TempFile {
        pub(super) fn new(name: &str, bytes: &[u8]) -> Self {
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

    pub(super) fn res(width: u32, height: u32) -> Resolution {
        Resolution { width, height }
    }

    /// What `open` says of a file holding `bytes`, checked to be 1584 with a message that
    /// begins with `field "file:PATH": `.
    pub(super) fn open_error<T>(
        field: &str,
        name: &str,
        bytes: &[u8],
        open: impl FnOnce(&Path) -> Result<T>,
    ) -> Error {
        let file = TempFile::new(name, bytes);
        let error = open(&file.0).err().expect("an error");
        assert_eq!(
            error.code,
            ErrorCode::MediaSourceInvalid,
            "{}",
            error.message
        );
        let prefix = format!("{field} \"file:{}\": ", file.0.display());
        assert!(error.message.starts_with(&prefix), "{}", error.message);
        error
    }

    /// `rounds` damaged copies of `valid`: cut short at some point, with a few bytes changed.
    /// A small xorshift generator makes them the same every run.
    pub(super) fn damaged_copies(valid: &[u8], rounds: usize) -> Vec<Vec<u8>> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..rounds)
            .map(|round| {
                let mut bytes = valid.to_vec();
                let cut = (next() as usize) % (bytes.len() + 1);
                bytes.truncate(cut.max(bytes.len() * (round % 3) / 3));
                for _ in 0..(next() % 4) {
                    if !bytes.is_empty() {
                        let at = (next() as usize) % bytes.len();
                        bytes[at] = next() as u8;
                    }
                }
                bytes
            })
            .collect()
    }
}
