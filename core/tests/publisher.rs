//! init_publisher from Rust: events and their order, codes, and the threading promises.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{start, synthetic};
use libpublisher::{init_publisher, ErrorCode, OptionValue, PublisherSettings, PublisherState};

#[test]
fn audio_levels_arrive_ten_times_a_second_before_and_without_publishing() {
    let levels = Arc::new(Mutex::new(Vec::new()));
    let seen = levels.clone();
    let (tx, rx) = mpsc::channel();
    let publisher = init_publisher(
        synthetic("320x240"),
        Arc::new(move |_, e| {
            if let libpublisher::PublisherEvent::AudioLevelUpdated { level } = e {
                seen.lock().unwrap().push(level);
            }
        }),
        Box::new(move |_, outcome| tx.send(outcome).unwrap()),
    )
    .unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    // The measured interval: about ten levels in a second, not many more.
    std::thread::sleep(Duration::from_millis(1000));
    publisher.close();
    let shared = levels;
    let levels = shared.lock().unwrap().clone();
    assert!((7..=12).contains(&levels.len()), "{levels:?}");
    // The synthetic tone: amplitude 0.25, RMS 0.177.
    assert!(levels.iter().all(|l| (0.15..0.2).contains(l)), "{levels:?}");
    // None after close: time for levels that must not come.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(shared.lock().unwrap().len(), levels.len());
}

#[test]
fn synthetic_sources_deliver_frames_at_the_requested_rate() {
    let mut settings = synthetic("640x360");
    settings.set("frame_rate", OptionValue::Int(20)).unwrap();
    let (publisher, events, done) = start(settings);
    done.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(*events.lock().unwrap(), ["accessAllowed"]);
    assert_eq!(publisher.state(), PublisherState::Ready);
    let before = publisher.stats();
    // The measured interval: the counts below must fit a second, from below and above.
    std::thread::sleep(Duration::from_secs(1));
    let after = publisher.stats();
    let video = after.video_frames_captured - before.video_frames_captured;
    let audio = after.audio_frames_captured - before.audio_frames_captured;
    assert!(
        (15..=25).contains(&video),
        "{video} video frames in 1 s at 20 fps"
    );
    assert!((80..=120).contains(&audio), "{audio} audio frames in 1 s");
    publisher.close();
    assert_eq!(publisher.state(), PublisherState::Closed);
}

#[test]
fn consent_sees_what_is_opened_and_a_denial_is_1500_after_access_denied() {
    let mut settings = synthetic("320x240");
    let asked = Arc::new(Mutex::new(None));
    let seen = asked.clone();
    settings.access_request = Some(Arc::new(move |request| {
        *seen.lock().unwrap() = Some(request.clone());
        false
    }));
    let (publisher, events, done) = start(settings);
    let error = done
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::UserMediaAccessDenied);
    assert!(error.message.starts_with("Publisher Access Denied:"));
    assert_eq!(*events.lock().unwrap(), ["accessDenied"]);
    let request = asked.lock().unwrap().clone().unwrap();
    assert_eq!(request.video.as_deref(), Some("synthetic"));
    assert_eq!(request.audio.as_deref(), Some("synthetic"));
    assert_eq!(
        publisher.stats().video_frames_captured,
        0,
        "nothing opened after a denial"
    );
    assert_eq!(publisher.state(), PublisherState::Failed);
}

#[test]
fn a_missing_camera_is_1581_and_an_unknown_id_1582_without_asking_consent() {
    for (source, code) in [
        ("default", ErrorCode::NoDevicesFound),
        ("video:gone", ErrorCode::DeviceNotFound),
    ] {
        let mut settings = PublisherSettings::default();
        settings
            .set("video_source", OptionValue::Str(source.into()))
            .unwrap();
        settings.set("audio_source", OptionValue::Null).unwrap();
        let asked = Arc::new(AtomicBool::new(false));
        let flag = asked.clone();
        settings.access_request = Some(Arc::new(move |_| {
            flag.store(true, Ordering::SeqCst);
            true
        }));
        let (_publisher, events, done) = start(settings);
        let error = done
            .recv_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap_err();
        assert_eq!(error.code, code, "{source}: {}", error.message);
        assert!(events.lock().unwrap().is_empty());
        assert!(!asked.load(Ordering::SeqCst));
    }
}

#[test]
fn invalid_settings_fail_synchronously_without_callbacks() {
    let mut settings = PublisherSettings::default();
    // No source at all (publish_audio false would only start the audio silent).
    settings.set("video_source", OptionValue::Null).unwrap();
    settings.set("audio_source", OptionValue::Null).unwrap();
    let called = Arc::new(AtomicUsize::new(0));
    let (c1, c2) = (called.clone(), called.clone());
    let error = init_publisher(
        settings,
        Arc::new(move |_, _| {
            c1.fetch_add(1, Ordering::SeqCst);
        }),
        Box::new(move |_, _| {
            c2.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidParameter);
    // Time for callbacks that must not come.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[test]
fn close_during_init_completes_it_once_with_1015_and_stops_every_callback() {
    let mut settings = synthetic("320x240");
    let (asking, asked) = mpsc::channel();
    let asking = Mutex::new(asking);
    settings.access_request = Some(Arc::new(move |_| {
        asking.lock().unwrap().send(()).unwrap();
        // A host slow to answer: close comes while it decides.
        std::thread::sleep(Duration::from_millis(300));
        true
    }));
    let (publisher, events, done) = start(settings);
    asked
        .recv_timeout(Duration::from_secs(10))
        .expect("consent is asked");
    publisher.close();
    // Completed before close returned: already there, without waiting.
    let closed = done
        .try_recv()
        .expect("the pending init completed in close");
    let error = closed.unwrap_err();
    assert_eq!(error.code, ErrorCode::IllegalState);
    assert_eq!(
        error.message,
        "the publisher was closed before init_publisher completed"
    );
    assert!(
        done.recv_timeout(Duration::from_millis(700)).is_err(),
        "a second completion"
    );
    assert!(events.lock().unwrap().is_empty());
    assert_eq!(publisher.state(), PublisherState::Closed);
}

#[test]
fn a_publisher_can_be_closed_from_its_own_completion() {
    let (tx, rx) = mpsc::channel();
    let publisher = init_publisher(
        synthetic("320x240"),
        Arc::new(|_, _| {}),
        Box::new(move |p, outcome| {
            p.close();
            tx.send((outcome, p.state())).unwrap();
        }),
    )
    .unwrap();
    let (outcome, state) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    outcome.unwrap();
    assert_eq!(state, PublisherState::Closed);
    assert_eq!(publisher.state(), PublisherState::Closed);
}

// ---------------------------------------------------------------------------------------------
// file: sources

/// A file in the temp dir, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "lp-publisher-test-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }

    fn source(&self) -> OptionValue {
        OptionValue::Str(format!("file:{}", self.0.display()))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 320x240 at 30 fps: ten frames of distinct flat colours.
fn y4m_320x240() -> Vec<u8> {
    let mut out = b"YUV4MPEG2 W320 H240 F30:1 Ip A1:1 C420jpeg\n".to_vec();
    for i in 0..10u8 {
        out.extend_from_slice(b"FRAME\n");
        out.extend(std::iter::repeat_n(20 + i * 20, 320 * 240));
        out.extend(std::iter::repeat_n(255 - i * 25, 160 * 120));
        out.extend(std::iter::repeat_n(i * 25, 160 * 120));
    }
    out
}

/// Half a second of a 440 Hz tone in 44.1 kHz stereo 16-bit PCM.
fn wav_44k1_stereo() -> Vec<u8> {
    let mut data = Vec::new();
    for n in 0..22_050 {
        let x = (std::f32::consts::TAU * 440.0 * n as f32 / 44_100.0).sin();
        let s = (x * 8000.0) as i16;
        data.extend(s.to_le_bytes());
        data.extend((-s).to_le_bytes());
    }
    let mut out = b"RIFF".to_vec();
    out.extend((36 + data.len() as u32).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend(16u32.to_le_bytes());
    out.extend(1u16.to_le_bytes()); // PCM
    out.extend(2u16.to_le_bytes()); // channels
    out.extend(44_100u32.to_le_bytes());
    out.extend((44_100u32 * 4).to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend(16u16.to_le_bytes());
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

/// Settings for the two files; consent, if asked, is recorded in the flag.
fn file_settings(
    video: &TempFile,
    audio: &TempFile,
    resolution: &str,
) -> (PublisherSettings, Arc<AtomicBool>) {
    let mut s = PublisherSettings::default();
    s.set("video_source", video.source()).unwrap();
    s.set("audio_source", audio.source()).unwrap();
    s.set("resolution", OptionValue::Str(resolution.into()))
        .unwrap();
    // The file's own rate (30 fps) paces it, not this.
    s.set("frame_rate", OptionValue::Int(10)).unwrap();
    let asked = Arc::new(AtomicBool::new(false));
    let flag = asked.clone();
    s.access_request = Some(Arc::new(move |_| {
        flag.store(true, Ordering::SeqCst);
        true
    }));
    (s, asked)
}

#[test]
fn file_sources_are_ready_without_consent_and_run_at_the_files_rate() {
    let video = TempFile::new("colours.y4m", &y4m_320x240());
    let audio = TempFile::new("tone.wav", &wav_44k1_stereo());
    let (settings, asked) = file_settings(&video, &audio, "320x240");
    let (publisher, events, done) = start(settings);
    done.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(publisher.state(), PublisherState::Ready);
    assert_eq!(*events.lock().unwrap(), ["accessAllowed"]);
    assert!(!asked.load(Ordering::SeqCst), "consent asked for files");
    let before = publisher.stats();
    // The measured interval: the counts below must fit a second, from below and above.
    std::thread::sleep(Duration::from_secs(1));
    let after = publisher.stats();
    let video_frames = after.video_frames_captured - before.video_frames_captured;
    let audio_frames = after.audio_frames_captured - before.audio_frames_captured;
    // The 10-frame file loops three times a second at its 30 fps.
    assert!(
        (25..=35).contains(&video_frames),
        "{video_frames} video frames in 1 s of a 30 fps file"
    );
    assert!(
        (80..=120).contains(&audio_frames),
        "{audio_frames} audio frames in 1 s"
    );
    publisher.close();
}

#[test]
fn bad_files_fail_init_with_1584_naming_the_file_without_asking_consent() {
    let good_video = TempFile::new("good.y4m", &y4m_320x240());
    let good_audio = TempFile::new("good.wav", &wav_44k1_stereo());
    let text = TempFile::new("text.y4m", b"this is not a video\n");
    let text_wav = TempFile::new("text.wav", b"this is not audio either\n");
    let truncated = TempFile::new("cut.y4m", &y4m_320x240()[..1000]);
    let missing = std::env::temp_dir().join("lp-publisher-test-missing.y4m");
    let cases = [
        (
            "video_source",
            missing.clone(),
            "cannot open it: No such file",
        ),
        ("video_source", text.0.clone(), "not a Y4M file"),
        ("video_source", truncated.0.clone(), "holds no whole frame"),
        ("audio_source", text_wav.0.clone(), "not a WAV file"),
        ("audio_source", good_video.0.clone(), "not a WAV file"),
    ];
    for (field, path, expect) in cases {
        let (mut settings, asked) = file_settings(&good_video, &good_audio, "320x240");
        let source = OptionValue::Str(format!("file:{}", path.display()));
        settings.set(field, source).unwrap();
        let (publisher, events, done) = start(settings);
        let error = done
            .recv_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap_err();
        assert_eq!(
            error.code,
            ErrorCode::MediaSourceInvalid,
            "{}",
            error.message
        );
        assert_eq!(error.name(), "MEDIA_SOURCE_INVALID");
        let prefix = format!("{field} \"file:{}\": ", path.display());
        assert!(error.message.starts_with(&prefix), "{}", error.message);
        assert!(error.message.contains(expect), "{}", error.message);
        assert!(events.lock().unwrap().is_empty());
        assert!(!asked.load(Ordering::SeqCst));
        assert_eq!(publisher.state(), PublisherState::Failed);
    }
}

#[test]
fn file_sources_publish_to_loopback_scaled_to_the_requested_size() {
    use common::wait;
    let video = TempFile::new("colours.y4m", &y4m_320x240());
    let audio = TempFile::new("tone.wav", &wav_44k1_stereo());
    let (settings, _) = file_settings(&video, &audio, "640x480");
    let (publisher, _events, done) = start(settings);
    done.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    let session = common::loopback(None);
    wait(|d| session.connect(None, d)).unwrap();
    wait(|d| session.publish(&publisher, d)).unwrap();
    assert_eq!(publisher.state(), PublisherState::Publishing);
    // The measured interval: the counts below must fit 2 s of media, from below and above.
    std::thread::sleep(Duration::from_secs(2));
    let received = session
        .receiver_stats(&publisher)
        .expect("a loopback stream");
    // 2 s of a 30 fps file and 50 Opus packets a second, with room for a slow machine.
    assert!((35..=70).contains(&received.video_frames), "{received:?}");
    assert!(received.first_frame_was_keyframe, "{received:?}");
    assert!((60..=120).contains(&received.audio_packets), "{received:?}");
    wait(|d| session.unpublish(&publisher, d)).unwrap();
    wait(|d| session.disconnect(d)).unwrap();
    session.close();
    publisher.close();
}
