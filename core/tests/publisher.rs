//! init_publisher from Rust: events and their order, codes, and the threading promises.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use libpublisher::{
    init_publisher, ErrorCode, OptionValue, Publisher, PublisherSettings, PublisherState,
};

fn synthetic(resolution: &str) -> PublisherSettings {
    let mut s = PublisherSettings::default();
    s.set("videoSource", OptionValue::Str("synthetic".into()))
        .unwrap();
    s.set("audioSource", OptionValue::Str("synthetic".into()))
        .unwrap();
    s.set("resolution", OptionValue::Str(resolution.into()))
        .unwrap();
    s
}

type Outcome = libpublisher::Result<()>;

fn start(
    settings: PublisherSettings,
) -> (Publisher, Arc<Mutex<Vec<String>>>, mpsc::Receiver<Outcome>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let (tx, rx) = mpsc::channel();
    let publisher = init_publisher(
        settings,
        Arc::new(move |_, e| seen.lock().unwrap().push(e.name().to_owned())),
        Box::new(move |_, outcome| tx.send(outcome).unwrap()),
    )
    .unwrap();
    (publisher, events, rx)
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
    settings.set("video_source", OptionValue::Null).unwrap();
    settings
        .set("publish_audio", OptionValue::Bool(false))
        .unwrap();
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
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[test]
fn close_during_init_stops_every_callback() {
    let mut settings = synthetic("320x240");
    settings.access_request = Some(Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(300));
        true
    }));
    let (publisher, events, done) = start(settings);
    std::thread::sleep(Duration::from_millis(50));
    publisher.close();
    assert!(
        done.recv_timeout(Duration::from_millis(700)).is_err(),
        "completion after close"
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
