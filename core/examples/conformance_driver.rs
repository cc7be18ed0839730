//! Conformance driver for Rust: `cargo run --example conformance_driver -- scenarios.json`
//! runs every init_publisher scenario and prints one JSON object (the same shape as the C,
//! Python and Node drivers), which tests/conformance/run_conformance.py compares.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use libpublisher::{init_publisher, ErrorCode, OptionValue, PublisherSettings, Reason};
use serde_json::{json, Value};

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
                     "errors": errors, "reasons": reasons, "results": results});
    println!("{out}");
}
