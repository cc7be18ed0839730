//! Sessions on the embedded `loopback://` receiver: real ICE, DTLS and SRTP over 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{wait, wait_for_events, wait_until, Log};
use libpublisher::{
    init_session, ErrorCode, OptionValue, Publisher, PublisherState, Session, SessionSettings,
    SessionState,
};

/// A ready synthetic publisher, its events in `log` as `publisher.<name>`.
fn publisher(resolution: &str, fps: i64, log: &Log) -> Publisher {
    let mut s = common::synthetic(resolution);
    s.set("frame_rate", OptionValue::Int(fps)).unwrap();
    let (p, done) = common::start_logged(s, log, "publisher.");
    done.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    p
}

/// A loopback session, its events in `log` as `session.<name>`.
fn session(log: &Log) -> Session {
    common::loopback(Some(log))
}

#[test]
fn publishes_to_loopback_and_the_receiver_gets_decodable_media() {
    let log = Log::default();
    let p = publisher("640x480", 30, &log);
    let s = session(&log);
    wait(|d| s.connect(None, d)).unwrap();
    assert_eq!(s.state(), SessionState::Connected);
    wait(|d| s.publish(&p, d)).unwrap();
    assert_eq!(p.state(), PublisherState::Publishing);
    // The measured interval: the counts below must fit 3 s of media, from below and above.
    std::thread::sleep(Duration::from_secs(3));

    let received = s.receiver_stats(&p).expect("a loopback stream");
    let sent = p.stats();
    // 3 s at 30 fps and 50 Opus packets a second, with room for a slow machine.
    assert!((60..=100).contains(&received.video_frames), "{received:?}");
    assert!(received.first_frame_was_keyframe, "{received:?}");
    assert!(
        (100..=170).contains(&received.audio_packets),
        "{received:?}"
    );
    assert!(sent.video_frames_sent >= received.video_frames, "{sent:?}");
    assert!(sent.packets_sent > 0 && sent.bytes_sent > 0, "{sent:?}");
    assert!(sent.bitrate_bps > 100_000, "{sent:?}");
    // The receiver's reports answer our sender reports (each side reports about once a
    // second, and stats refresh once a second): a round trip on loopback, no loss.
    let mut sent = sent;
    wait_until(Duration::from_secs(5), || {
        sent = p.stats();
        sent.rtt_ms > 0.0
    });
    assert!(sent.rtt_ms > 0.0 && sent.rtt_ms < 100.0, "{sent:?}");
    assert_eq!(sent.packets_lost, 0, "{sent:?}");

    wait(|d| s.unpublish(&p, d)).unwrap();
    assert_eq!(p.state(), PublisherState::Ready);
    wait(|d| s.disconnect(d)).unwrap();
    assert!(wait_for_events(
        &log,
        &[
            "publisher.streamDestroyed:clientDisconnected",
            "session.sessionDisconnected"
        ]
    ));
    let events = log.lock().unwrap().clone();
    let created = events
        .iter()
        .filter(|e| *e == "publisher.streamCreated")
        .count();
    assert_eq!(created, 1, "{events:?}");
    let tail: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .skip_while(|e| *e != "publisher.streamCreated")
        .collect();
    assert_eq!(
        tail,
        [
            "publisher.streamCreated",
            "publisher.streamDestroyed:clientDisconnected",
            "session.sessionDisconnected"
        ]
    );
    p.close();
    s.close();
}

#[test]
fn publish_without_a_connected_session_is_1010_at_once() {
    let log = Log::default();
    let p = publisher("320x240", 15, &log);
    let s = session(&log);
    let e = s
        .publish(&p, Box::new(|_, _| panic!("no completion")))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotConnected);
    wait(|d| s.connect(None, d)).unwrap();
    wait(|d| s.disconnect(d)).unwrap();
    let e = s
        .publish(&p, Box::new(|_, _| panic!("no completion")))
        .unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::NotConnected,
        "publishing after disconnect"
    );
    assert_eq!(p.state(), PublisherState::Ready);
}

#[test]
fn disconnect_ends_streams_first_then_the_session() {
    let log = Log::default();
    let p = publisher("320x240", 15, &log);
    let s = session(&log);
    wait(|d| s.connect(None, d)).unwrap();
    wait(|d| s.publish(&p, d)).unwrap();
    wait(|d| s.disconnect(d)).unwrap();
    assert!(wait_for_events(
        &log,
        &[
            "publisher.streamDestroyed:clientDisconnected",
            "session.sessionDisconnected"
        ]
    ));
    let events = log.lock().unwrap().clone();
    let pos = |name: &str| {
        events
            .iter()
            .position(|e| e == name)
            .unwrap_or_else(|| panic!("{name} in {events:?}"))
    };
    assert!(pos("session.sessionConnected") < pos("publisher.streamCreated"));
    assert!(
        pos("publisher.streamDestroyed:clientDisconnected") < pos("session.sessionDisconnected")
    );
    assert_eq!(p.state(), PublisherState::Ready);
}

#[test]
fn wrong_calls_give_their_codes() {
    let log = Log::default();
    for url in [
        "ftp://example.com",
        "no scheme",
        "janus+ws://127.0.0.1:8188",
    ] {
        let e = init_session(url, SessionSettings::default(), Arc::new(|_, _| {})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSessionId, "{url}");
    }
    let p = publisher("320x240", 15, &log);
    let s = session(&log);
    wait(|d| s.connect(None, d)).unwrap();
    let e = s.connect(None, Box::new(|_, _| {})).unwrap_err();
    assert_eq!(e.code, ErrorCode::IllegalState, "connect twice");
    wait(|d| s.publish(&p, d)).unwrap();
    let e = s.publish(&p, Box::new(|_, _| {})).unwrap_err();
    assert_eq!(e.code, ErrorCode::IllegalState, "publish twice");
    wait(|d| s.unpublish(&p, d)).unwrap();
    let e = s.unpublish(&p, Box::new(|_, _| {})).unwrap_err();
    assert_eq!(e.code, ErrorCode::IllegalState, "unpublish twice");
    s.close();
    let e = s.connect(None, Box::new(|_, _| {})).unwrap_err();
    assert_eq!(e.code, ErrorCode::IllegalState, "connect after close");
}

#[test]
fn closing_a_published_publisher_ends_its_stream_quietly() {
    let log = Log::default();
    let p = publisher("320x240", 15, &log);
    let s = session(&log);
    wait(|d| s.connect(None, d)).unwrap();
    wait(|d| s.publish(&p, d)).unwrap();
    p.close();
    assert!(
        s.receiver_stats(&p).is_none(),
        "the session forgot the stream"
    );
    // The session is still connected and can publish another publisher.
    let q = publisher("320x240", 15, &log);
    wait(|d| s.publish(&q, d)).unwrap();
    q.close();
    s.close();
}

#[test]
fn publishes_h264_to_loopback_and_the_receiver_counts_frames_and_keyframes() {
    let log = Log::default();
    let mut settings = common::settings(&[
        ("video_source", "synthetic"),
        ("resolution", "640x480"),
        ("video_codec", "H264"),
    ]);
    settings.set("audio_source", OptionValue::Null).unwrap();
    settings.set("frame_rate", OptionValue::Int(30)).unwrap();
    let (p, _) = common::ready(settings);
    let s = session(&log);
    wait(|d| s.connect(None, d)).unwrap();
    wait(|d| s.publish(&p, d)).unwrap();
    assert_eq!(p.state(), PublisherState::Publishing);
    // The measured interval: the counts below must fit 3.5 s of media, from below and above.
    std::thread::sleep(Duration::from_millis(3500));

    let received = s.receiver_stats(&p).expect("a loopback stream");
    let sent = p.stats();
    // 3.5 s at 30 fps, with room for a slow machine; H.264 IDRs (SPS and PPS in a STAP-A,
    // then the slice) are recognised as keyframes: the first one and the one due after 3 s.
    assert!((60..=115).contains(&received.video_frames), "{received:?}");
    assert!(received.first_frame_was_keyframe, "{received:?}");
    assert!((1..=3).contains(&received.video_keyframes), "{received:?}");
    assert!(
        received.video_keyframes <= sent.video_keyframes_sent,
        "{received:?} {sent:?}"
    );
    assert!(sent.video_frames_sent >= received.video_frames, "{sent:?}");
    assert!(sent.bitrate_bps > 100_000, "{sent:?}");
    assert_eq!(received.audio_packets, 0, "{received:?}");

    wait(|d| s.unpublish(&p, d)).unwrap();
    assert_eq!(p.state(), PublisherState::Ready);
    s.close();
    p.close();
}

#[test]
fn ice_servers_and_the_relay_policy_are_set_by_name_or_by_method() {
    use libpublisher::{IceServer, IceTransportPolicy};
    let map = |entries: &[(&str, OptionValue)]| {
        OptionValue::Map(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    let s = |v: &str| OptionValue::Str(v.into());
    let mut settings = SessionSettings::default();
    assert_eq!(settings.ice_transport_policy, IceTransportPolicy::All);
    settings
        .set(
            "iceServers",
            OptionValue::List(vec![
                map(&[("urls", s("stun:127.0.0.1:3478"))]),
                map(&[
                    (
                        "urls",
                        OptionValue::List(vec![s("turn:h"), s("turn:h?transport=tcp")]),
                    ),
                    ("username", s("u")),
                    ("credential", s("p")),
                ]),
            ]),
        )
        .unwrap();
    settings.set("ice_transport_policy", s("relay")).unwrap();
    settings
        .add_ice_server(["turns:turn.example.net:443"], Some("u"), Some("p"))
        .unwrap();
    assert_eq!(settings.ice_transport_policy, IceTransportPolicy::Relay);
    assert_eq!(settings.ice_servers.len(), 3);
    assert_eq!(
        settings.ice_servers[2],
        IceServer::new(["turns:turn.example.net:443"], Some("u"), Some("p")).unwrap()
    );

    // Bad values are 1011 naming the option, and change nothing.
    let before = format!("{settings:?}");
    for (key, value, says) in [
        (
            "ice_servers",
            OptionValue::List(vec![map(&[("urls", s("https://turn.example.net"))])]),
            "ice_servers[0].urls: \"https://turn.example.net\": unsupported scheme",
        ),
        (
            "ice_servers",
            OptionValue::List(vec![map(&[("urls", OptionValue::List(vec![]))])]),
            "ice_servers[0].urls: must list at least one URL",
        ),
        (
            "iceServers",
            OptionValue::List(vec![map(&[("urls", s("turn:h"))])]),
            "ice_servers[0].username: the TURN URL \"turn:h\" needs",
        ),
        (
            "iceTransportPolicy",
            s("public"),
            "ice_transport_policy: expected",
        ),
        (
            "ice_transport_policy",
            OptionValue::Int(1),
            "ice_transport_policy: expected",
        ),
    ] {
        let e = settings.set(key, value).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameter, "{key}");
        assert!(e.message.starts_with(says), "{key}: {}", e.message);
    }
    let e = settings
        .add_ice_server(["turn:h"], Some("u"), None)
        .unwrap_err();
    assert!(
        e.message.starts_with("ice_servers.credential:"),
        "{}",
        e.message
    );
    assert_eq!(format!("{settings:?}"), before);
    // null clears the list.
    settings.set("ice_servers", OptionValue::Null).unwrap();
    assert!(settings.ice_servers.is_empty());
}

#[test]
fn the_relay_policy_without_a_turn_server_fails_publish_with_1553_at_once() {
    let log = Log::default();
    let p = publisher("320x240", 15, &log);
    let mut settings = SessionSettings::default();
    settings
        .set("ice_transport_policy", OptionValue::Str("relay".into()))
        .unwrap();
    settings
        .add_ice_server(["stun:127.0.0.1:3478"], None, None)
        .unwrap();
    let s = init_session("loopback://", settings, Arc::new(|_, _| {})).unwrap();
    wait(|d| s.connect(None, d)).unwrap();
    let started = std::time::Instant::now();
    let e = wait(|d| s.publish(&p, d)).unwrap_err();
    assert_eq!(e.code, ErrorCode::CreatePeerConnectionFailed);
    assert!(
        e.message
            .contains("ice_transport_policy is relay, but no TURN server is configured"),
        "{}",
        e.message
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(p.state(), PublisherState::Ready);
    assert_eq!(s.state(), SessionState::Connected);
    s.close();
    p.close();
}
