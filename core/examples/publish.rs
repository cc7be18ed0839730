//! The main job: acquire a camera and microphone (or the synthetic ones), connect a session
//! and publish, printing one progress line a second and a summary.
//!
//! cargo run --release --example publish -- [--url URL] [--token T] [--video SOURCE]
//!     [--audio SOURCE] [--resolution WxH] [--fps N] [--seconds N] [--log LEVEL]
//!     [--video-codec VP8|H264] [--ice-server URL]... [--turn-username U]
//!     [--turn-credential P] [--relay] [--reconnect-timeout-ms N] [--video-off S]
//!     [--video-on S] [--audio-on S] [--switch-video S:SOURCE]... [--refuse-switch-to SOURCE]
//!
//! The URL defaults to `loopback://`, the receiver embedded in the library. `--ice-server`
//! (repeatable) adds a STUN or TURN server (`stun:HOST`, `turn:HOST[:PORT]`,
//! `turn:HOST?transport=tcp`, `turns:HOST`), with the TURN username and credential given once;
//! `--relay` sends media through TURN only. A lost connection is recovered for
//! `--reconnect-timeout-ms` (default 15000) before the stream ends. `--video-off S` and
//! `--video-on S` turn video off and on again S seconds into publishing (a mute button),
//! printing the wall time of each call. `--audio-on S` starts with audio off (sending
//! silence) and turns it on S seconds in. `--switch-video S:SOURCE` (repeatable) switches the
//! video to SOURCE S seconds in, printing `switch SOURCE ok at T` or
//! `switch SOURCE failed CODE at T` (T: the wall time the switch completed).
//! `--refuse-switch-to SOURCE` makes the consent callback refuse a request for video SOURCE
//! alone, which is what a switch to it asks (1500).
//! Sources are "default", a device id, "synthetic", "file:PATH" (a Y4M video or a WAV
//! audio file, looped), "screen", "screen:N" or "none". With "default" and no device of that kind present, the
//! example falls back to "synthetic" and says so.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use libpublisher::{
    devices, get_devices, init_publisher, init_session, set_log_sink, DeviceKind, Error, LogLevel,
    LogRecord, OptionValue, PublisherEvent, PublisherSettings, PublisherState, Reason, Session,
    SessionEvent, SessionSettings,
};

struct Args {
    url: String,
    token: Option<String>,
    video: String,
    audio: String,
    resolution: String,
    fps: i64,
    seconds: u64,
    log: Option<String>,
    video_codec: String,
    ice_servers: Vec<String>,
    turn_username: Option<String>,
    turn_credential: Option<String>,
    relay: bool,
    reconnect_timeout_ms: Option<i64>,
    video_off: Option<u64>,
    video_on: Option<u64>,
    audio_on: Option<u64>,
    switch_video: Vec<(u64, String)>,
    refuse_switch_to: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: "loopback://".into(),
        token: None,
        video: "default".into(),
        audio: "default".into(),
        resolution: "1280x720".into(),
        fps: 30,
        seconds: 10,
        log: None,
        video_codec: "VP8".into(),
        ice_servers: Vec::new(),
        turn_username: None,
        turn_credential: None,
        relay: false,
        reconnect_timeout_ms: None,
        video_off: None,
        video_on: None,
        audio_on: None,
        switch_video: Vec::new(),
        refuse_switch_to: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--log" => args.log = Some(value()?),
            "--token" => args.token = Some(value()?),
            "--video" => args.video = value()?,
            "--audio" => args.audio = value()?,
            "--resolution" => args.resolution = value()?,
            "--fps" => args.fps = value()?.parse().map_err(|_| "--fps needs a number")?,
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|_| "--seconds needs a number")?
            }
            "--video-codec" => args.video_codec = value()?,
            "--ice-server" => args.ice_servers.push(value()?),
            "--turn-username" => args.turn_username = Some(value()?),
            "--turn-credential" => args.turn_credential = Some(value()?),
            "--relay" => args.relay = true,
            "--video-off" => args.video_off = Some(seconds(&flag, value()?)?),
            "--video-on" => args.video_on = Some(seconds(&flag, value()?)?),
            "--audio-on" => args.audio_on = Some(seconds(&flag, value()?)?),
            "--switch-video" => {
                let value = value()?;
                let (at, source) = value
                    .split_once(':')
                    .and_then(|(at, source)| Some((at.parse().ok()?, source.to_string())))
                    .ok_or("--switch-video needs SECONDS:SOURCE")?;
                args.switch_video.push((at, source));
            }
            "--refuse-switch-to" => args.refuse_switch_to = Some(value()?),
            "--reconnect-timeout-ms" => {
                args.reconnect_timeout_ms = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--reconnect-timeout-ms needs a number")?,
                )
            }
            "--help" | "-h" => {
                return Err(
                    "usage: publish [--video SOURCE] [--audio SOURCE] [--resolution WxH] \
                            [--fps N] [--seconds N] [--log error|warn|info|debug|trace] \
                            [--video-codec VP8|H264] [--ice-server URL]... \
                            [--turn-username U] [--turn-credential P] [--relay] \
                            [--reconnect-timeout-ms N] [--video-off S] [--video-on S] \
                            [--audio-on S] [--switch-video S:SOURCE]... \
                            [--refuse-switch-to SOURCE]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// The whole seconds `flag` was given.
fn seconds(flag: &str, value: String) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} needs whole seconds"))
}

/// "default" without a device of the kind becomes "synthetic", with a note.
fn pick_source(requested: &str, kind: DeviceKind) -> OptionValue {
    match requested {
        "none" => OptionValue::Null,
        "default" if devices::devices_of(kind).is_empty() => {
            println!(
                "note: no {} present, using the synthetic one",
                kind.as_str()
            );
            OptionValue::Str("synthetic".into())
        }
        other => OptionValue::Str(other.into()),
    }
}

/// The library's logs on stderr, each with the milliseconds since start.
fn log_to_stderr(level: &str) -> Result<(), String> {
    let level = match level {
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        other => return Err(format!("--log: unknown level {other:?}")),
    };
    let start = Instant::now();
    let sink = Arc::new(move |record: &LogRecord| {
        eprintln!(
            "{:>8.1} ms {:5} {}: {}",
            start.elapsed().as_secs_f64() * 1000.0,
            record.level.as_str(),
            record.target,
            record.message
        )
    });
    set_log_sink(level, Some(sink)).map_err(|e| e.message)
}

fn fail(error: &Error) -> ExitCode {
    eprintln!("error {} {}: {}", error.code(), error.name(), error.message);
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Some(level) = &args.log {
        if let Err(message) = log_to_stderr(level) {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    }
    let devices = get_devices();
    println!("devices: {}", devices.len());
    for d in &devices {
        println!("  {} {} ({})", d.kind.as_str(), d.device_id, d.label);
    }

    let mut settings = PublisherSettings::default();
    let options = [
        (
            "video_source",
            pick_source(&args.video, DeviceKind::VideoInput),
        ),
        (
            "audio_source",
            pick_source(&args.audio, DeviceKind::AudioInput),
        ),
        ("resolution", OptionValue::Str(args.resolution.clone())),
        ("frame_rate", OptionValue::Int(args.fps)),
        ("video_codec", OptionValue::Str(args.video_codec.clone())),
        ("publish_audio", OptionValue::Bool(args.audio_on.is_none())),
    ];
    for (key, value) in options {
        if let Err(e) = settings.set(key, value) {
            return fail(&e);
        }
    }
    if let Some(refused) = args.refuse_switch_to.clone() {
        settings.access_request = Some(Arc::new(move |request| {
            !(request.audio.is_none() && request.video.as_deref() == Some(refused.as_str()))
        }));
    }

    let started = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    // Levels come ten times a second: shown on the progress line, not as event lines.
    let level = Arc::new(AtomicU32::new(0));
    let latest_level = level.clone();
    let network_lost = Arc::new(AtomicBool::new(false));
    let network_lost_by_event = network_lost.clone();
    let publisher = match init_publisher(
        settings,
        Arc::new(move |_, event| match event {
            PublisherEvent::AudioLevelUpdated { level } => {
                latest_level.store(level.to_bits(), Ordering::Relaxed)
            }
            PublisherEvent::StreamDestroyed { reason } => {
                println!("event: streamDestroyed ({reason})");
                if reason == Reason::NetworkDisconnected {
                    network_lost_by_event.store(true, Ordering::Release);
                }
            }
            PublisherEvent::VideoDisabled { reason } => println!("event: videoDisabled ({reason})"),
            PublisherEvent::VideoEnabled { reason } => println!("event: videoEnabled ({reason})"),
            PublisherEvent::AudioDisabled { reason } => println!("event: audioDisabled ({reason})"),
            PublisherEvent::AudioEnabled { reason } => println!("event: audioEnabled ({reason})"),
            PublisherEvent::VideoDimensionsChanged {
                new_width,
                new_height,
                ..
            } => println!("event: videoDimensionsChanged ({new_width}x{new_height})"),
            event => println!("event: {}", event.name()),
        }),
        Box::new(move |_, outcome| {
            let _ = done_tx.send(outcome);
        }),
    ) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    match done_rx.recv() {
        Ok(Ok(())) => println!(
            "publisher ready in {} ms: video {:?}, audio {:?}, {} at {} fps",
            started.elapsed().as_millis(),
            publisher
                .settings()
                .video_source
                .as_ref()
                .map(|s| s.to_string()),
            publisher
                .settings()
                .audio_source
                .as_ref()
                .map(|s| s.to_string()),
            args.resolution,
            args.fps
        ),
        Ok(Err(e)) => return fail(&e),
        Err(_) => return fail(&Error::internal("init_publisher never completed")),
    }
    let mut session_settings = SessionSettings::default();
    for url in &args.ice_servers {
        let user = args.turn_username.as_deref();
        if let Err(e) =
            session_settings.add_ice_server([url.as_str()], user, args.turn_credential.as_deref())
        {
            return fail(&e);
        }
    }
    if args.relay {
        if let Err(e) =
            session_settings.set("ice_transport_policy", OptionValue::Str("relay".into()))
        {
            return fail(&e);
        }
    }
    if let Some(ms) = args.reconnect_timeout_ms {
        if let Err(e) = session_settings.set("reconnect_timeout_ms", OptionValue::Int(ms)) {
            return fail(&e);
        }
    }
    // After a lost stream the session settles: back (sessionReconnected) or gone.
    let settled = Arc::new(AtomicBool::new(false));
    let settled_by_event = settled.clone();
    let session = match init_session(
        &args.url,
        session_settings,
        Arc::new(move |_, event| match event {
            SessionEvent::SessionDisconnected { reason } => {
                println!("event: sessionDisconnected ({reason})");
                settled_by_event.store(true, Ordering::Release);
            }
            SessionEvent::SessionReconnected => {
                println!("event: sessionReconnected");
                settled_by_event.store(true, Ordering::Release);
            }
            SessionEvent::SessionReconnecting => {
                println!("event: sessionReconnecting");
                settled_by_event.store(false, Ordering::Release);
            }
            event => println!("event: {}", event.name()),
        }),
    ) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let wait = |call: &dyn Fn(libpublisher::session::SessionDone) -> libpublisher::Result<()>| {
        let (tx, rx) = mpsc::channel();
        call(Box::new(move |_, outcome| {
            let _ = tx.send(outcome);
        }))?;
        rx.recv()
            .unwrap_or_else(|_| Err(Error::internal("the call never completed")))
    };
    let connected_at = Instant::now();
    if let Err(e) = wait(&|done| session.connect(args.token.clone(), done)) {
        return fail(&e);
    }
    // (Not the URL: a Janus URL may carry the room's pin.)
    println!("connected in {} ms", connected_at.elapsed().as_millis());
    let publish_at = Instant::now();
    if let Err(e) = wait(&|done| session.publish(&publisher, done)) {
        return fail(&e);
    }
    println!("publishing after {} ms", publish_at.elapsed().as_millis());

    let begin = publisher.stats();
    let begin_at = Instant::now();
    let mut last = begin;
    let mut ended = false;
    for second in 1..=args.seconds {
        std::thread::sleep(Duration::from_secs(1));
        if publisher.state() != PublisherState::Publishing {
            // A source stopped or the connection was lost: the events above say which.
            println!("the stream ended after {second} s");
            ended = true;
            break;
        }
        let now = publisher.stats();
        println!(
            "[{second:>3}s] sent {:>3} fps, {:>7.1} kbit/s, RTT {:>5.1} ms, lost {}, \
             audio level {:.2}{}",
            now.video_frames_sent - last.video_frames_sent,
            now.bitrate_bps as f64 / 1000.0,
            now.rtt_ms,
            now.packets_lost,
            f32::from_bits(level.load(Ordering::Relaxed)),
            receiver_line(&session, &publisher),
        );
        last = now;
        for (at, on) in [(args.video_off, false), (args.video_on, true)] {
            if at == Some(second) {
                if let Err(e) = publisher.publish_video(on) {
                    return fail(&e);
                }
                println!(
                    "video {} at {:.3}",
                    if on { "on" } else { "off" },
                    wall_now()
                );
            }
        }
        if args.audio_on == Some(second) {
            if let Err(e) = publisher.publish_audio(true) {
                return fail(&e);
            }
            println!("audio on at {:.3}", wall_now());
        }
        for (_, source) in args.switch_video.iter().filter(|(at, _)| *at == second) {
            let (tx, rx) = mpsc::channel();
            let outcome = publisher
                .set_video_source(
                    source,
                    Box::new(move |_, outcome| {
                        let _ = tx.send(outcome);
                    }),
                )
                .and_then(|()| {
                    rx.recv()
                        .unwrap_or_else(|_| Err(Error::internal("the switch never completed")))
                });
            match outcome {
                Ok(()) => println!("switch {source} ok at {:.3}", wall_now()),
                Err(e) => println!("switch {source} failed {} at {:.3}", e.code(), wall_now()),
            }
        }
    }
    let elapsed = begin_at.elapsed().as_secs_f64().max(1e-3);
    let end = publisher.stats();
    let received = receiver_line(&session, &publisher);
    if !ended {
        if let Err(e) = wait(&|done| session.unpublish(&publisher, done)) {
            return fail(&e);
        }
    } else if network_lost.load(Ordering::Acquire) {
        // Whether the session survived the stream is known once the server was asked.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !settled.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = wait(&|done| session.disconnect(done));
    session.close();
    publisher.close();
    let frames = end.video_frames_sent - begin.video_frames_sent;
    println!(
        "summary: {:.1} s, {} video frames sent ({:.1} fps, {} keyframes), {} audio packets, \
         {} RTP packets, {:.0} kbit/s average{}",
        elapsed,
        frames,
        frames as f64 / elapsed,
        end.video_keyframes_sent,
        end.audio_packets_sent - begin.audio_packets_sent,
        end.packets_sent,
        (end.bytes_sent - begin.bytes_sent) as f64 * 8.0 / elapsed / 1000.0,
        received,
    );
    if ended {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Seconds since the Unix epoch, as the tests' clocks read them.
fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// What the embedded receiver counted, on `loopback://`.
fn receiver_line(session: &Session, publisher: &libpublisher::Publisher) -> String {
    match session.receiver_stats(publisher) {
        Some(r) => format!(
            "; receiver: {} frames, {} audio packets{}",
            r.video_frames,
            r.audio_packets,
            if r.first_frame_was_keyframe {
                ", first frame a keyframe"
            } else {
                ""
            }
        ),
        None => String::new(),
    }
}
