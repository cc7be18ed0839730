//! The main job: acquire a camera and microphone (or the synthetic ones) and report progress.
//!
//! cargo run --release --example publish -- [--video SOURCE] [--audio SOURCE]
//!     [--resolution WxH] [--fps N] [--seconds N]
//!
//! Sources are "default", a device id, "synthetic" or "none". With "default" and no device of
//! that kind present, the example falls back to "synthetic" and says so.

use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use libpublisher::{
    devices, get_devices, init_publisher, DeviceKind, Error, OptionValue, PublisherSettings,
};

struct Args {
    video: String,
    audio: String,
    resolution: String,
    fps: i64,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        video: "default".into(),
        audio: "default".into(),
        resolution: "1280x720".into(),
        fps: 30,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--video" => args.video = value()?,
            "--audio" => args.audio = value()?,
            "--resolution" => args.resolution = value()?,
            "--fps" => args.fps = value()?.parse().map_err(|_| "--fps needs a number")?,
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|_| "--seconds needs a number")?
            }
            "--help" | "-h" => {
                return Err(
                    "usage: publish [--video SOURCE] [--audio SOURCE] [--resolution WxH] \
                            [--fps N] [--seconds N]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
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
    ];
    for (key, value) in options {
        if let Err(e) = settings.set(key, value) {
            return fail(&e);
        }
    }

    let started = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    let publisher = match init_publisher(
        settings,
        Arc::new(|_, event| println!("event: {}", event.name())),
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
    println!("sessions are not part of this build yet: reporting capture only");

    let begin = publisher.stats();
    let begin_at = Instant::now();
    let mut last = begin;
    for second in 1..=args.seconds {
        std::thread::sleep(Duration::from_secs(1));
        let now = publisher.stats();
        println!(
            "[{second:>3}s] video {:>3} fps, audio {:>3} frames/s",
            now.video_frames_captured - last.video_frames_captured,
            now.audio_frames_captured - last.audio_frames_captured
        );
        last = now;
    }
    let elapsed = begin_at.elapsed().as_secs_f64().max(1e-3);
    let end = publisher.stats();
    publisher.close();
    println!(
        "summary: {:.1} s, {} video frames ({:.1} fps), {} audio frames ({:.1}/s)",
        elapsed,
        end.video_frames_captured - begin.video_frames_captured,
        (end.video_frames_captured - begin.video_frames_captured) as f64 / elapsed,
        end.audio_frames_captured - begin.audio_frames_captured,
        (end.audio_frames_captured - begin.audio_frames_captured) as f64 / elapsed,
    );
    ExitCode::SUCCESS
}
