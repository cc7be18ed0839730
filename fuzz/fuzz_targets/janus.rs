//! Janus: the `janus+ws(s)://` session URL, and the JSON messages Janus sends over the
//! WebSocket (answers, acks, refusals, events), as the backend routes and reads them.
//!
//! Input: the URL on the first line, the message after it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libpublisher::fuzzing::{janus_message, janus_redacted, janus_target};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (url, message) = text.split_once('\n').unwrap_or((text, ""));

    match janus_target(url) {
        Ok(target) => {
            assert!(!target.host.is_empty());
            let scheme = if target.tls { "wss://" } else { "ws://" };
            assert!(target.ws_url.starts_with(scheme), "{target:?}");
            assert!(!target.ws_url.contains('?'), "{target:?}");
        }
        Err(e) => assert_eq!(e.code, libpublisher::ErrorCode::InvalidSessionId),
    }
    // The pin never shows: what logs and messages show reads as no pin but "…".
    let shown = janus_redacted(url);
    if let Ok(parsed) = url::Url::parse(&shown) {
        for (key, value) in parsed.query_pairs() {
            if key == "pin" {
                assert!(
                    value == "…" || value.is_empty(),
                    "{url:?} is shown as {shown:?}"
                );
            }
        }
    }
    if let Ok(target) = janus_target(url) {
        // A pin written once in the URL, as itself, is not in what is shown. A pin that holds
        // the mark it is shown as ("…") can read as what the redaction left around it: a pin
        // of "wss://[::1]:8989/ws?pin=…" in "janus+wss://[::1]:8989/ws?pin=<it>" is shown as
        // "janus+wss://[::1]:8989/ws?pin=…", which holds it though nothing of it leaked.
        let once = |p: &String| {
            p.len() >= 4
                && !p.contains('…')
                && url.matches(p.as_str()).count() == 1
                && url.contains(&format!("pin={p}"))
        };
        if let Some(pin) = target.pin.filter(once) {
            assert!(!shown.contains(&pin), "{url:?} is shown as {shown:?}");
        }
    }

    let Some(reading) = janus_message(message) else {
        return;
    };
    let value: Value = serde_json::from_str(message).unwrap();
    let kind = value["janus"].as_str().unwrap_or("");
    let transaction = value["transaction"].as_str();
    // An answer goes to its own request only; an ack ends only a request that waits for one.
    assert_eq!(
        reading.answered[0],
        transaction == Some("t1") && kind != "ack"
    );
    assert_eq!(reading.answered[1], transaction == Some("t2"));
    let refused = kind == "error" || value["plugindata"]["data"]["error_code"].as_i64().is_some();
    assert_eq!(reading.outcome.is_err(), refused, "{reading:?}");
    if let Some(id) = &reading.publisher_id {
        assert!(!id.is_empty(), "a publisher id names the stream");
    }
    if let Some(sdp) = &reading.sdp_answer {
        assert!(sdp.trim_start().starts_with("v="));
    }
});
