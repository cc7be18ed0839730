//! What the integration tests share: publisher settings, starting a publisher that records its
//! events, a loopback session, waiting for a call's completion, and waiting for a condition.
//! Each test binary uses part of it.
#![allow(dead_code)]

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use libpublisher::{
    init_publisher, init_session, OptionValue, Publisher, PublisherEvent, PublisherSettings,
    Session, SessionSettings,
};

pub type Outcome = libpublisher::Result<()>;
/// Event names in the order they came.
pub type Log = Arc<Mutex<Vec<String>>>;

/// Settings from string options, e.g. `[("video_source", "synthetic")]`.
pub fn settings(options: &[(&str, &str)]) -> PublisherSettings {
    let mut s = PublisherSettings::default();
    for (key, value) in options {
        s.set(key, OptionValue::Str((*value).into())).unwrap();
    }
    s
}

/// The synthetic camera and microphone at `resolution`.
pub fn synthetic(resolution: &str) -> PublisherSettings {
    settings(&[
        ("video_source", "synthetic"),
        ("audio_source", "synthetic"),
        ("resolution", resolution),
    ])
}

/// Starts `init_publisher`, recording its events in `log` as `prefix` + name (`:reason` after
/// `streamDestroyed`); `audioLevelUpdated` (ten a second, tested on its own) is left out.
/// The completion arrives on the receiver.
pub fn start_logged(
    settings: PublisherSettings,
    log: &Log,
    prefix: &'static str,
) -> (Publisher, mpsc::Receiver<Outcome>) {
    let seen = log.clone();
    let (tx, rx) = mpsc::channel();
    let publisher = init_publisher(
        settings,
        Arc::new(move |_, e| {
            let detail = match &e {
                PublisherEvent::StreamDestroyed { reason } => format!(":{reason}"),
                PublisherEvent::AudioLevelUpdated { .. } => return,
                _ => String::new(),
            };
            seen.lock()
                .unwrap()
                .push(format!("{prefix}{}{detail}", e.name()))
        }),
        Box::new(move |_, outcome| tx.send(outcome).unwrap()),
    )
    .unwrap();
    (publisher, rx)
}

/// `start_logged` with a log of its own and no prefix.
pub fn start(settings: PublisherSettings) -> (Publisher, Log, mpsc::Receiver<Outcome>) {
    let log = Log::default();
    let (publisher, done) = start_logged(settings, &log, "");
    (publisher, log, done)
}

/// A publisher whose init succeeded within 10 s, with its events.
pub fn ready(settings: PublisherSettings) -> (Publisher, Log) {
    let (publisher, log, done) = start(settings);
    done.recv_timeout(Duration::from_secs(10))
        .expect("init completes")
        .unwrap();
    (publisher, log)
}

/// A `loopback://` session with the default settings, its events in `log` as
/// `session.<name>` when given.
pub fn loopback(log: Option<&Log>) -> Session {
    let log = log.cloned();
    init_session(
        "loopback://",
        SessionSettings::default(),
        Arc::new(move |_, e| {
            if let Some(log) = &log {
                log.lock().unwrap().push(format!("session.{}", e.name()))
            }
        }),
    )
    .unwrap()
}

/// Runs a session call and waits (up to 20 s) for its completion.
pub fn wait(
    call: impl FnOnce(libpublisher::session::SessionDone) -> libpublisher::Result<()>,
) -> libpublisher::Result<()> {
    let (tx, rx) = mpsc::channel();
    call(Box::new(move |_, r| tx.send(r).unwrap()))?;
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the call completes")
}

/// Polls `condition` every 10 ms until it holds or `timeout` passed; whether it holds.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Waits (up to 5 s) until every one of `names` is in `log`.
pub fn wait_for_events(log: &Log, names: &[&str]) -> bool {
    wait_until(Duration::from_secs(5), || {
        let log = log.lock().unwrap();
        names.iter().all(|n| log.iter().any(|e| e == n))
    })
}
