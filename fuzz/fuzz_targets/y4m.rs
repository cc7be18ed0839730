//! Y4M files (`video_source: "file:…"`): the header, the frames, looping, and their
//! conversion to the publisher's size.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libpublisher::fuzzing::read_y4m;
use libpublisher::media::frame::VideoFrame;
use libpublisher::settings::Resolution;

const OUT: Resolution = Resolution {
    width: 32,
    height: 24,
};

fuzz_target!(|data: &[u8]| {
    let Ok((stream, pictures)) = read_y4m(data, 30, OUT, 4) else {
        return;
    };
    // An accepted header gives a sane picture and rate.
    assert!((1..=8192).contains(&stream.width) && (1..=8192).contains(&stream.height));
    assert!(stream.rate.0 > 0 && stream.rate.1 > 0);
    assert!((0.01..=240.0).contains(&stream.fps), "{stream:?}");
    let (w, h) = (stream.width as usize, stream.height as usize);
    let chroma = if stream.mono {
        0
    } else {
        2 * w.div_ceil(2) * h.div_ceil(2)
    };
    assert_eq!(stream.frame_len, w * h + chroma);
    // A file is taken only with a whole frame after its header.
    assert!(data.len() >= "YUV4MPEG2 W1 H1\nFRAME\n".len() + stream.frame_len);
    for picture in &pictures {
        assert_eq!(picture.len(), VideoFrame::i420_len(OUT.width, OUT.height));
    }
});
