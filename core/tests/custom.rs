//! Custom sources from Rust: the host pushes frames; init does not wait for them, wrong frames
//! are 1011, pushes where they cannot go are 1015, and pushed media reaches the receiver.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{wait, wait_for_events, wait_until, Log};
use libpublisher::{
    AudioFrameRef, AudioSamples, ErrorCode, OptionValue, Publisher, PublisherSettings,
    PublisherState, VideoFormat, VideoFrameRef,
};

fn settings(video: &str, audio: &str) -> PublisherSettings {
    let mut s = common::settings(&[
        ("video_source", video),
        ("audio_source", audio),
        ("resolution", "320x240"),
    ]);
    s.set("frame_rate", OptionValue::Int(30)).unwrap();
    s
}

/// Starts a publisher and waits for init; returns it with its events.
fn ready(settings: PublisherSettings) -> (Publisher, Log) {
    let (publisher, events, done) = common::start(settings);
    done.recv_timeout(Duration::from_secs(5))
        .expect("init completes without a pushed frame")
        .unwrap();
    (publisher, events)
}

fn rgba(color: [u8; 3], w: usize, h: usize) -> Vec<u8> {
    (0..w * h)
        .flat_map(|_| [color[0], color[1], color[2], 255])
        .collect()
}

fn push_rgba(p: &Publisher, data: &[u8], w: u32, h: u32) -> libpublisher::Result<()> {
    p.push_video_frame(&VideoFrameRef::packed(VideoFormat::Rgba, w, h, data, None)?)
}

fn push_tone(p: &Publisher, samples: &[i16], rate: u32) -> libpublisher::Result<()> {
    p.push_audio_frame(&AudioFrameRef {
        samples: AudioSamples::I16(samples),
        sample_rate: rate,
        channels: 1,
        timestamp_us: None,
    })
}

fn code(outcome: libpublisher::Result<()>) -> i32 {
    outcome.err().map_or(0, |e| e.code())
}

#[test]
fn init_completes_at_once_without_consent_and_counts_pushed_frames() {
    let asked = Arc::new(AtomicBool::new(false));
    let mut s = settings("custom", "custom");
    let flag = asked.clone();
    s.access_request = Some(Arc::new(move |_| {
        flag.store(true, Ordering::SeqCst);
        false
    }));
    let started = Instant::now();
    let (p, events) = ready(s);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        !asked.load(Ordering::SeqCst),
        "custom sources need no consent"
    );
    assert!(wait_for_events(&events, &["accessAllowed"]));
    assert_eq!(*events.lock().unwrap(), ["accessAllowed"]);
    assert_eq!(p.state(), PublisherState::Ready);

    let frame = rgba([0, 0, 255], 64, 48);
    for _ in 0..3 {
        push_rgba(&p, &frame, 64, 48).unwrap();
        // A frame interval at 30 fps, so that no frame is thinned out.
        std::thread::sleep(Duration::from_millis(40));
    }
    // 100 ms at 44.1 kHz: ten frames, but the resampler holds back a sample for the next push.
    push_tone(&p, &[0i16; 4410], 44_100).unwrap();
    let counted = |video, audio| {
        wait_until(Duration::from_secs(5), || {
            let stats = p.stats();
            stats.video_frames_captured >= video && stats.audio_frames_captured >= audio
        })
    };
    counted(3, 9);
    let stats = p.stats();
    assert_eq!(stats.video_frames_captured, 3, "{stats:?}");
    assert_eq!(stats.audio_frames_captured, 9, "{stats:?}");
    push_tone(&p, &[0i16; 4410], 44_100).unwrap();
    counted(3, 19);
    assert_eq!(p.stats().audio_frames_captured, 19);
    p.close();
}

#[test]
fn wrong_frames_are_1011_and_pushes_where_they_cannot_go_are_1015() {
    let (custom, _) = ready(settings("custom", "custom"));
    let short = vec![0u8; 10];
    assert_eq!(code(push_rgba(&custom, &short, 64, 48)), 1011);
    let odd = vec![0u8; 15 * 2 * 3 / 2];
    let i420 = VideoFrameRef::packed(VideoFormat::I420, 15, 2, &odd, None);
    assert_eq!(i420.unwrap_err().code(), 1011);
    let empty: [i16; 0] = [];
    assert_eq!(code(push_tone(&custom, &empty, 48_000)), 1011);
    assert_eq!(code(push_tone(&custom, &[0; 480], 0)), 1011);
    let three = custom.push_audio_frame(&AudioFrameRef {
        samples: AudioSamples::I16(&[0; 960]),
        sample_rate: 48_000,
        channels: 3,
        timestamp_us: None,
    });
    let e = three.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParameter.code());
    assert!(e.message.starts_with("channels:"), "{}", e.message);

    // A frame that is fine, to a publisher whose source is not custom, or that is closed.
    let good = rgba([255, 0, 0], 32, 24);
    let (synthetic, _) = ready(settings("synthetic", "synthetic"));
    let e = push_rgba(&synthetic, &good, 32, 24).unwrap_err();
    assert_eq!(e.code(), ErrorCode::IllegalState.code());
    assert!(e.message.contains("not \"custom\""), "{}", e.message);
    assert_eq!(code(push_tone(&synthetic, &[0; 480], 48_000)), 1015);
    synthetic.close();
    custom.close();
    assert_eq!(code(push_rgba(&custom, &good, 32, 24)), 1015);
    assert_eq!(code(push_tone(&custom, &[0; 480], 48_000)), 1015);

    // Video custom, audio synthetic: audio pushes are 1015, video pushes work.
    let (mixed, _) = ready(settings("custom", "synthetic"));
    assert_eq!(code(push_rgba(&mixed, &good, 32, 24)), 0);
    assert_eq!(code(push_tone(&mixed, &[0; 480], 48_000)), 1015);
    mixed.close();
}

#[test]
fn frames_pushed_faster_than_the_frame_rate_are_thinned() {
    let (p, _) = ready(settings("custom", "custom"));
    let frame = rgba([0, 255, 0], 320, 240);
    let start = Instant::now();
    for i in 0..60u64 {
        let ts = i * 16_667; // 60 fps of host timestamps
        p.push_video_frame(
            &VideoFrameRef::packed(VideoFormat::Rgba, 320, 240, &frame, Some(ts)).unwrap(),
        )
        .unwrap();
        let due = start + Duration::from_micros(ts + 16_667);
        std::thread::sleep(due.saturating_duration_since(Instant::now())); // paces the pushes
    }
    // The kept frames are counted once the source passed them on; then time for frames beyond
    // the rate, which must not come.
    wait_until(Duration::from_secs(5), || {
        p.stats().video_frames_captured >= 28
    });
    std::thread::sleep(Duration::from_millis(100));
    let captured = p.stats().video_frames_captured;
    assert!(
        (28..=32).contains(&captured),
        "{captured} of 60 frames kept at 30 fps"
    );
    p.close();
}

#[test]
fn pushed_media_reaches_the_loopback_receiver() {
    let (p, events) = ready(settings("custom", "custom"));
    let session = common::loopback(None);
    // I420 at another size (scaled). The latest frame pushed before publish is what the
    // encoder starts from, so publish completes though nothing is pushed while it runs.
    let (w, h) = (640usize, 360usize);
    let mut i420 = vec![128u8; w * h * 3 / 2];
    let first = VideoFrameRef::packed(VideoFormat::I420, w as u32, h as u32, &i420, None);
    p.push_video_frame(&first.unwrap()).unwrap();
    wait(|d| session.connect(None, d)).unwrap();
    wait(|d| session.publish(&p, d)).unwrap();

    // 2 s at 30 fps, and 20 ms pieces of a stereo tone.
    let start = Instant::now();
    let mut audio_sent = Duration::ZERO;
    let mut phase = 0f32;
    for i in 0..60u32 {
        i420[..w * h].fill((i * 4) as u8);
        let frame = VideoFrameRef::packed(VideoFormat::I420, w as u32, h as u32, &i420, None);
        p.push_video_frame(&frame.unwrap()).unwrap();
        while audio_sent < start.elapsed() + Duration::from_millis(40) {
            let mut tone = Vec::with_capacity(1920);
            for _ in 0..960 {
                let s = (phase.sin() * 8000.0) as i16;
                tone.extend([s, s]);
                phase += std::f32::consts::TAU * 440.0 / 48_000.0;
            }
            p.push_audio_frame(&AudioFrameRef {
                samples: AudioSamples::I16(&tone),
                sample_rate: 48_000,
                channels: 2,
                timestamp_us: None,
            })
            .unwrap();
            audio_sent += Duration::from_millis(20);
        }
        let due = start + Duration::from_micros(u64::from(i + 1) * 33_333);
        std::thread::sleep(due.saturating_duration_since(Instant::now())); // paces the pushes
    }
    // What was pushed reaches the receiver.
    wait_until(Duration::from_secs(5), || {
        session
            .receiver_stats(&p)
            .is_some_and(|r| r.video_frames >= 45 && r.audio_packets >= 60)
    });
    let received = session.receiver_stats(&p).expect("a loopback stream");
    let sent = p.stats();
    wait(|d| session.unpublish(&p, d)).unwrap();
    session.close();
    p.close();
    assert!(received.video_frames >= 45, "{received:?} {sent:?}");
    assert!(received.first_frame_was_keyframe, "{received:?}");
    assert!(received.audio_packets >= 60, "{received:?} {sent:?}");
    assert!(events.lock().unwrap().contains(&"streamCreated".to_owned()));
}
