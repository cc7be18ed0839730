//! WAV files (`audio_source: "file:…"`): the RIFF header and its chunks, the samples,
//! looping, and resampling to 48 kHz.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libpublisher::fuzzing::read_wav;

/// Samples per channel of the library's 10 ms frames at 48 kHz.
const FRAME_SAMPLES: usize = 480;

fuzz_target!(|data: &[u8]| {
    let Ok((stream, frames)) = read_wav(data, 3) else {
        return;
    };
    // An accepted header gives a sane format, and samples inside the file.
    assert!(matches!(stream.channels, 1 | 2), "{stream:?}");
    assert!((8_000..=192_000).contains(&stream.rate), "{stream:?}");
    assert!(stream.frames > 0);
    let sample_bytes = if stream.pcm16 { 2 } else { 4 };
    let frame_bytes = sample_bytes * u64::from(stream.channels);
    assert!(
        stream.data_start + stream.frames * frame_bytes <= data.len() as u64,
        "{stream:?} in {} bytes",
        data.len()
    );
    for frame in &frames {
        assert_eq!(frame.len(), FRAME_SAMPLES * usize::from(stream.channels));
    }
});
