//! Conformance driver for Rust: `cargo run --example conformance_driver -- scenarios.json`
//! runs every init_publisher scenario and the host-contract script (`host`: calls refused at
//! once, close with a call pending, closed states, missing receiver stats, consent replies)
//! and prints one JSON object (the same shape as the C, Python and Node drivers), which
//! tests/conformance/test_conformance.py compares.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use libpublisher::{
    init_publisher, Error, ErrorCode, OptionValue, Publisher, PublisherSettings, Reason,
};
use serde_json::{json, Value};

// The integration tests' helpers: settings, publishers, sessions and waiting.
#[path = "../tests/common/mod.rs"]
mod common;

fn option_value(value: &Value) -> OptionValue {
    match value {
        Value::Null => OptionValue::Null,
        Value::Bool(b) => OptionValue::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(OptionValue::Int)
            .unwrap_or_else(|| OptionValue::Float(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => OptionValue::Str(s.clone()),
        Value::Array(items) => OptionValue::List(items.iter().map(option_value).collect()),
        Value::Object(entries) => OptionValue::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), option_value(v)))
                .collect(),
        ),
    }
}

fn run(scenario: &Value) -> Value {
    let name = scenario["name"].as_str().unwrap_or_default();
    let allow = scenario["consent"].as_str() != Some("deny");
    let result = |code: ErrorCode, message: &str, events: Vec<String>| {
        json!({"scenario": name, "code": code.code(), "name": code.name(),
               "message": message, "events": events})
    };
    let mut settings = PublisherSettings::default();
    if let Some(options) = scenario["options"].as_object() {
        for (key, value) in options {
            if let Err(e) = settings.set(key, option_value(value)) {
                return result(e.code, &e.message, vec![]);
            }
        }
    }
    settings.access_request = Some(Arc::new(move |_| allow));
    let events = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = mpsc::channel();
    let seen = events.clone();
    let publisher = match init_publisher(
        settings,
        Arc::new(move |_, event| seen.lock().unwrap().push(event.name().to_owned())),
        Box::new(move |_, outcome| {
            let _ = done_tx.send(outcome);
        }),
    ) {
        Ok(p) => p,
        Err(e) => return result(e.code, &e.message, vec![]),
    };
    let outcome = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("init_publisher completes");
    let events = events.lock().unwrap().clone();
    publisher.close();
    match outcome {
        Ok(()) => result(ErrorCode::Ok, "", events),
        Err(e) => result(e.code, &e.message, events),
    }
}

fn outcome(result: &libpublisher::Result<()>) -> Value {
    match result {
        Ok(()) => json!({"code": 0, "name": "OK", "message": ""}),
        Err(e) => json!({"code": e.code(), "name": e.name(), "message": e.message}),
    }
}

/// A call refused at once: `Err` returned, the completion never runs.
fn refused(result: libpublisher::Result<()>) -> Value {
    let mut value = outcome(&result);
    value["at_once"] = json!(result.is_err());
    value
}

/// A synthetic publisher whose access-request callback gives `reply`, once its init completed.
fn synthetic(reply: bool) -> (Publisher, libpublisher::Result<()>) {
    let mut settings = common::synthetic("320x240");
    settings.access_request = Some(Arc::new(move |_| reply));
    let (publisher, _, done) = common::start(settings);
    let outcome = done
        .recv_timeout(Duration::from_secs(20))
        .expect("completes");
    (publisher, outcome)
}

/// The completion of a switch refused at once, which must never run.
fn never_switched() -> libpublisher::publisher::InitDone {
    Box::new(|_, _| panic!("completed"))
}

/// Live control of a ready publisher: refusals at once, a switch that fails through its
/// completion, wrong preferred sizes and rates.
fn live_control(publisher: &Publisher, out: &mut serde_json::Map<String, Value>) {
    out.insert(
        "switch_wrong_string".into(),
        refused(publisher.set_video_source("loudspeaker", never_switched())),
    );
    out.insert(
        "switch_screen_as_audio".into(),
        refused(publisher.set_audio_source("screen", never_switched())),
    );
    let (tx, rx) = mpsc::channel();
    let switched = publisher.set_video_source(
        MISSING_FILE,
        Box::new(move |_, outcome| {
            let _ = tx.send(outcome);
        }),
    );
    let completed = switched.and_then(|()| {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the switch completes")
    });
    out.insert("switch_missing_file".into(), outcome(&completed));
    out.insert(
        "preferred_resolution_wrong".into(),
        outcome(&publisher.set_preferred_resolution("12")),
    );
    out.insert(
        "preferred_frame_rate_0".into(),
        outcome(&publisher.set_preferred_frame_rate(0)),
    );
    out.insert(
        "mute_and_unmute".into(),
        json!([
            outcome(&publisher.publish_video(false)),
            outcome(&publisher.publish_audio(false)),
            outcome(&publisher.publish_video(true)),
            outcome(&publisher.publish_audio(true)),
        ]),
    );
}

/// A file no machine has: every driver switches to it.
const MISSING_FILE: &str = "file:/nonexistent/libpublisher-conformance.y4m";

/// The host-contract script every driver runs (tests/conformance/scenarios.json, `host`).
fn host_script() -> Value {
    let mut out = serde_json::Map::new();
    let (publisher, ready) = synthetic(true);
    ready.expect("a synthetic publisher");
    let session = common::loopback(None);
    let never = || -> libpublisher::session::SessionDone { Box::new(|_, _| panic!("completed")) };
    out.insert(
        "publish_not_connected".into(),
        refused(session.publish(&publisher, never())),
    );
    out.insert(
        "receiver_stats_not_published".into(),
        json!(session.receiver_stats(&publisher).map(|_| "stats")),
    );
    out.insert(
        "connect".into(),
        outcome(&common::wait(|done| session.connect(None, done))),
    );
    out.insert(
        "connect_twice".into(),
        refused(session.connect(None, never())),
    );
    out.insert(
        "unpublish_not_published".into(),
        refused(session.unpublish(&publisher, never())),
    );
    let completions: Arc<Mutex<Vec<Error>>> = Arc::default();
    let seen = completions.clone();
    session
        .publish(
            &publisher,
            Box::new(move |_, o| seen.lock().unwrap().push(o.unwrap_err())),
        )
        .unwrap();
    session.close();
    let at_close: Vec<Value> = completions
        .lock()
        .unwrap()
        .iter()
        .map(|e| outcome(&Err(e.clone())))
        .collect();
    out.insert("close_with_publish_pending".into(), json!(at_close));
    out.insert(
        "session_state_after_close".into(),
        json!(session.state().as_str()),
    );
    out.insert(
        "session_call_after_close".into(),
        refused(session.connect(None, never())),
    );
    live_control(&publisher, &mut out);
    publisher.close();
    out.insert(
        "publisher_state_after_close".into(),
        json!(publisher.state().as_str()),
    );
    out.insert(
        "switch_after_close".into(),
        refused(publisher.set_video_source("synthetic", never_switched())),
    );
    out.insert(
        "cycle_after_close".into(),
        refused(
            publisher.cycle_video(Box::new(|_, _: libpublisher::Result<String>| {
                panic!("completed")
            })),
        ),
    );
    out.insert(
        "mute_after_close".into(),
        outcome(&publisher.publish_video(false)),
    );
    out.insert(
        "snapshot_after_close".into(),
        outcome(&publisher.snapshot().map(|_| ())),
    );
    // Rust's access-request callback returns a bool: the replies it can give.
    let mut consent = serde_json::Map::new();
    for reply in [true, false] {
        let (publisher, result) = synthetic(reply);
        publisher.close();
        consent.insert(reply.to_string(), json!(outcome(&result)["code"]));
    }
    out.insert("consent".into(), Value::Object(consent));
    Value::Object(out)
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: conformance_driver scenarios.json");
    let text = std::fs::read_to_string(&path).expect("scenarios file is readable");
    let scenarios: Value = serde_json::from_str(&text).expect("scenarios file is JSON");
    let results: Vec<Value> = scenarios["init_publisher"]
        .as_array()
        .expect("init_publisher scenarios")
        .iter()
        .map(run)
        .collect();
    let errors: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({"code": c.code(), "name": c.name()}))
        .collect();
    let reasons: Vec<Value> = Reason::ALL
        .iter()
        .map(|r| json!({"code": r.code(), "name": r.name()}))
        .collect();
    let out = json!({"language": "rust", "version": libpublisher::VERSION,
                     "errors": errors, "reasons": reasons, "results": results,
                     "host": host_script()});
    println!("{out}");
}
