//! Option values as the bindings hand them to the core: any key, any value (nested lists and
//! mappings included), to publisher and session settings.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use libpublisher::settings::{
    camel_case, Resolution, KNOWN_KEYS, MAX_FRAME_RATE, MAX_VIDEO_BITRATE_KBPS,
};
use libpublisher::{
    ErrorCode, IceServer, OptionValue, PublisherSettings, SessionSettings, SourceSpec,
    SESSION_OPTION_KEYS,
};
use std::time::Duration;

#[derive(Debug, Arbitrary)]
enum Key {
    Known(u8),
    CamelCase(u8),
    Other(String),
}

/// An [`OptionValue`], nested at most as deep as the bindings let a value be.
#[derive(Debug, Arbitrary)]
enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    fn option(&self, depth: usize) -> OptionValue {
        if depth >= OptionValue::MAX_DEPTH {
            return OptionValue::Null;
        }
        match self {
            Value::Null => OptionValue::Null,
            Value::Bool(b) => OptionValue::Bool(*b),
            Value::Int(i) => OptionValue::Int(*i),
            Value::Float(f) => OptionValue::Float(*f),
            Value::Str(s) => OptionValue::Str(s.clone()),
            Value::List(l) => OptionValue::List(l.iter().map(|v| v.option(depth + 1)).collect()),
            Value::Map(m) => OptionValue::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.option(depth + 1)))
                    .collect(),
            ),
        }
    }
}

fn key_of(key: &Key) -> String {
    let all: Vec<&str> = KNOWN_KEYS
        .iter()
        .chain(SESSION_OPTION_KEYS)
        .copied()
        .collect();
    match key {
        Key::Known(i) => all[*i as usize % all.len()].to_owned(),
        Key::CamelCase(i) => camel_case(all[*i as usize % all.len()]),
        Key::Other(s) => s.clone(),
    }
}

/// What a user relies on of publisher settings that were accepted.
fn check_publisher(s: &PublisherSettings) {
    assert!((1..=MAX_FRAME_RATE).contains(&s.frame_rate));
    assert!(s.max_video_bitrate_kbps <= MAX_VIDEO_BITRATE_KBPS);
    assert!(matches!(s.simulcast, 0 | 2 | 3));
    let Resolution { width, height } = s.resolution;
    for side in [width, height] {
        assert!((Resolution::MIN..=Resolution::MAX).contains(&side) && side % 2 == 0);
    }
    check_timeout(s.init_timeout);
    assert!(!matches!(s.audio_source, Some(SourceSpec::Screen(_))));
    for spec in [&s.video_source, &s.audio_source].into_iter().flatten() {
        let again: SourceSpec = spec.to_string().parse().expect("a source reads back");
        assert_eq!(&again, spec);
    }
}

fn check_session(s: &SessionSettings) {
    for t in [
        s.connect_timeout,
        s.publish_timeout,
        s.ice_timeout,
        s.reconnect_timeout,
    ] {
        check_timeout(t);
    }
    for server in &s.ice_servers {
        let again = IceServer::new(
            server.urls.iter().cloned(),
            server.username.as_deref(),
            server.credential.as_deref(),
        );
        assert_eq!(again.as_ref().ok(), Some(server));
    }
}

fn check_timeout(t: Duration) {
    assert!(t >= Duration::from_millis(1) && t <= Duration::from_secs(600));
}

fuzz_target!(|input: Vec<(Key, Value)>| {
    let mut publisher = PublisherSettings::default();
    let mut session = SessionSettings::default();
    for (key, value) in input.iter().take(16) {
        let key = key_of(key);
        let value = value.option(0);

        let before = format!("{publisher:?}");
        let mut camel_copy = publisher.clone();
        let outcome = publisher.set(&key, value.clone());
        match &outcome {
            Ok(()) => check_publisher(&publisher),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidParameter, "{e:?}");
                assert_eq!(
                    format!("{publisher:?}"),
                    before,
                    "a refused value changed nothing"
                );
            }
        }
        // camelCase keys set the same field as snake_case ones.
        if key.contains('_') && !key.chars().any(|c| c.is_ascii_uppercase()) {
            let again = camel_copy.set(&camel_case(&key), value.clone());
            assert_eq!(again.is_ok(), outcome.is_ok(), "{key}");
            if again.is_ok() {
                assert_eq!(format!("{camel_copy:?}"), format!("{publisher:?}"));
            }
        }

        let before = format!("{session:?}");
        match session.set(&key, value.clone()) {
            Ok(()) => check_session(&session),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidParameter, "{e:?}");
                assert_eq!(
                    format!("{session:?}"),
                    before,
                    "a refused value changed nothing"
                );
            }
        }

        // Strings read as sources and sizes write back as they read.
        if let OptionValue::Str(s) = &value {
            if let Ok(spec) = s.parse::<SourceSpec>() {
                assert_eq!(spec.to_string().parse::<SourceSpec>(), Ok(spec));
            }
            if let Ok(res) = s.parse::<Resolution>() {
                assert_eq!(res.to_string().parse::<Resolution>(), Ok(res));
            }
        }
    }
});
