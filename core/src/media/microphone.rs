//! Microphone capture through cpal (ALSA on Linux, the native API elsewhere).
//!
//! The device's own callback thread only copies samples into a bounded channel; the source's
//! thread downmixes to mono, resamples to 48 kHz and cuts 10 ms frames. A device that fails
//! while capturing, or that stops delivering, ends the source with an error, which the
//! publisher reports as `mediaStopped`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::resample::Resampler;
use super::source::Emitter;
use super::{AudioFrame, MediaKind, Source, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE};
use crate::error::{Error, ErrorCode, Result};

/// A device that was delivering and then sends nothing for this long has stopped.
const STALL_LIMIT: Duration = Duration::from_secs(2);

/// Opens the microphone named `name` (a label from `get_devices`), or the system's default
/// input when `name` is `None`, and starts capturing from it.
pub(crate) fn open(name: Option<&str>) -> Result<Source<AudioFrame>> {
    let wanted = name.map(str::to_owned);
    // cpal streams must stay on the thread that made them on some hosts.
    Source::spawn_device(
        MediaKind::Audio,
        name.unwrap_or("default"),
        move || Capture::start(wanted.as_deref()),
        Capture::run,
    )
}

/// What the device callback hands to the source thread.
enum Delivery {
    Samples(Vec<f32>),
    Failed(String),
}

struct Capture {
    label: String,
    rate: u32,
    // Kept alive while capturing; dropping it stops the device.
    _stream: cpal::Stream,
    deliveries: mpsc::Receiver<Delivery>,
}

impl Capture {
    fn start(name: Option<&str>) -> Result<Capture> {
        #[cfg(target_os = "linux")]
        crate::devices::quiet_alsa();
        let host = cpal::default_host();
        let device = find_device(&host, name)?;
        let label = device.name().unwrap_or_else(|_| "microphone".into());
        let (config, format) = pick_config(&device, &label)?;
        let channels = usize::from(config.channels).max(1);
        let (tx, deliveries) = mpsc::sync_channel::<Delivery>(64);
        let error_tx = tx.clone();
        let on_error = move |e: cpal::StreamError| {
            let _ = error_tx.try_send(Delivery::Failed(e.to_string()));
        };
        let stream = match format {
            cpal::SampleFormat::I16 => device.build_input_stream(
                &config,
                move |data: &[i16], _: &_| deliver(&tx, data, channels, |s| f32::from(s) / 32768.0),
                on_error,
                None,
            ),
            cpal::SampleFormat::I32 => device.build_input_stream(
                &config,
                move |data: &[i32], _: &_| {
                    deliver(&tx, data, channels, |s| s as f32 / 2_147_483_648.0)
                },
                on_error,
                None,
            ),
            _ => device.build_input_stream(
                &config,
                move |data: &[f32], _: &_| deliver(&tx, data, channels, |s| s),
                on_error,
                None,
            ),
        }
        .map_err(|e| open_error(&label, &e.to_string(), Trouble::of_build(&e)))?;
        stream
            .play()
            .map_err(|e| open_error(&label, &e.to_string(), Trouble::Other))?;
        tracing::info!(
            device = %label,
            rate = config.sample_rate.0,
            channels = config.channels,
            ?format,
            "microphone capturing"
        );
        Ok(Capture {
            label,
            rate: config.sample_rate.0,
            _stream: stream,
            deliveries,
        })
    }

    /// Cuts what the device delivers into 10 ms mono frames at 48 kHz until asked to stop.
    fn run(self, emitter: &Emitter<AudioFrame>) -> Result<()> {
        let mut resampler = Resampler::new(self.rate, 1);
        let mut captured: Vec<i16> = Vec::new();
        let mut pending: Vec<i16> = Vec::with_capacity(AUDIO_FRAME_SAMPLES * 2);
        let mut produced: u64 = 0;
        let mut last_delivery = Instant::now();
        let mut delivering = false;
        while !emitter.should_stop() {
            match self.deliveries.recv_timeout(Duration::from_millis(100)) {
                Ok(Delivery::Samples(mono)) => {
                    last_delivery = Instant::now();
                    delivering = true;
                    captured.clear();
                    captured.extend(mono.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16));
                    resampler.process(&captured, &mut pending);
                    while pending.len() >= AUDIO_FRAME_SAMPLES {
                        let samples: Vec<i16> = pending.drain(..AUDIO_FRAME_SAMPLES).collect();
                        emitter.emit(AudioFrame {
                            channels: 1,
                            timestamp_us: produced * u64::from(super::AUDIO_FRAME_MS) * 1000,
                            samples: samples.into(),
                        });
                        produced += 1;
                    }
                }
                Ok(Delivery::Failed(why)) => return Err(stopped(&self.label, &why)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if delivering && last_delivery.elapsed() > STALL_LIMIT {
                        return Err(stopped(
                            &self.label,
                            &format!("no audio for {} s", STALL_LIMIT.as_secs()),
                        ));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(stopped(&self.label, "the audio stream ended"))
                }
            }
        }
        Ok(())
    }
}

/// Downmixes an interleaved buffer to mono f32 and hands it over without ever blocking the
/// device's thread (a full channel drops the buffer: the source thread fell far behind).
fn deliver<T: Copy>(
    tx: &mpsc::SyncSender<Delivery>,
    data: &[T],
    channels: usize,
    to_f32: impl Fn(T) -> f32,
) {
    let mono: Vec<f32> = data
        .chunks(channels)
        .map(|frame| frame.iter().map(|&s| to_f32(s)).sum::<f32>() / frame.len() as f32)
        .collect();
    let _ = tx.try_send(Delivery::Samples(mono));
}

fn find_device(host: &cpal::Host, name: Option<&str>) -> Result<cpal::Device> {
    let Some(name) = name else {
        return host.default_input_device().ok_or_else(|| {
            Error::new(
                ErrorCode::NoDevicesFound,
                "no microphone is present (use \"synthetic\" for a test source)",
            )
        });
    };
    let devices = host.input_devices().map_err(|e| {
        Error::new(
            ErrorCode::HardwareUnavailable,
            format!("cannot list microphones: {e}"),
        )
    })?;
    for device in devices {
        if device.name().is_ok_and(|n| n == name) {
            return Ok(device);
        }
    }
    Err(Error::new(
        ErrorCode::DeviceNotFound,
        format!("the microphone {name:?} is no longer present"),
    ))
}

/// The device mode to capture in: 48 kHz if the device can, else the rate closest to it;
/// mono before stereo before more channels; 16-bit, float or 32-bit samples.
fn pick_config(
    device: &cpal::Device,
    label: &str,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat)> {
    let ranges = device
        .supported_input_configs()
        .map_err(|e| open_error(label, &e.to_string(), Trouble::of_configs(&e)))?;
    let modes: Vec<Mode> = ranges
        .filter(|r| {
            matches!(
                r.sample_format(),
                cpal::SampleFormat::I16 | cpal::SampleFormat::F32 | cpal::SampleFormat::I32
            )
        })
        .map(|r| Mode {
            channels: r.channels(),
            min_rate: r.min_sample_rate().0,
            max_rate: r.max_sample_rate().0,
            format: r.sample_format(),
        })
        .collect();
    let Some((mode, rate)) = best_mode(&modes) else {
        return Err(Error::new(
            ErrorCode::ConstraintsNotSatisfied,
            format!("the microphone {label:?} offers no 16-bit, 32-bit or float capture mode"),
        ));
    };
    Ok((
        cpal::StreamConfig {
            channels: mode.channels,
            sample_rate: cpal::SampleRate(rate),
            buffer_size: cpal::BufferSize::Default,
        },
        mode.format,
    ))
}

/// One capture mode a device offers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mode {
    channels: u16,
    min_rate: u32,
    max_rate: u32,
    format: cpal::SampleFormat,
}

/// The mode closest to 48 kHz mono 16-bit, and the rate to ask of it.
fn best_mode(modes: &[Mode]) -> Option<(Mode, u32)> {
    let format_rank = |f: cpal::SampleFormat| match f {
        cpal::SampleFormat::I16 => 0,
        cpal::SampleFormat::F32 => 1,
        _ => 2,
    };
    modes
        .iter()
        .filter(|m| m.channels > 0 && m.max_rate > 0)
        .map(|m| (*m, AUDIO_SAMPLE_RATE.clamp(m.min_rate, m.max_rate)))
        .min_by_key(|(m, rate)| {
            (
                rate.abs_diff(AUDIO_SAMPLE_RATE),
                m.channels,
                format_rank(m.format),
            )
        })
}

/// What kind of failure an open error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// cpal's "not available": gone, or (on ALSA) busy.
    NotAvailable,
    /// The device refused the mode.
    Unsupported,
    /// Anything else; the text decides.
    Other,
}

impl Trouble {
    fn of_build(e: &cpal::BuildStreamError) -> Trouble {
        match e {
            cpal::BuildStreamError::DeviceNotAvailable => Trouble::NotAvailable,
            cpal::BuildStreamError::StreamConfigNotSupported
            | cpal::BuildStreamError::InvalidArgument => Trouble::Unsupported,
            _ => Trouble::Other,
        }
    }

    fn of_configs(e: &cpal::SupportedStreamConfigsError) -> Trouble {
        match e {
            cpal::SupportedStreamConfigsError::DeviceNotAvailable => Trouble::NotAvailable,
            cpal::SupportedStreamConfigsError::InvalidArgument => Trouble::Unsupported,
            _ => Trouble::Other,
        }
    }
}

/// Maps a failure to open a microphone to the error a user can act on: the OS refusing
/// access is 1500 (with the `Publisher Access Denied:` prefix), a busy or failing device 1580,
/// a mode the device refuses 1583.
fn open_error(label: &str, detail: &str, trouble: Trouble) -> Error {
    let lower = detail.to_ascii_lowercase();
    if crate::devices::says_access_denied(detail) {
        return crate::devices::access_denied(&format!("microphone {label:?}"), detail);
    }
    match trouble {
        Trouble::Unsupported => Error::new(
            ErrorCode::ConstraintsNotSatisfied,
            format!("the microphone {label:?} cannot capture in a usable mode ({detail})"),
        ),
        Trouble::NotAvailable => Error::new(
            ErrorCode::HardwareUnavailable,
            format!(
                "the microphone {label:?} is busy or unavailable; close other programs using it \
                 ({detail})"
            ),
        ),
        Trouble::Other if lower.contains("busy") => Error::new(
            ErrorCode::HardwareUnavailable,
            format!("the microphone {label:?} is in use by another program ({detail})"),
        ),
        Trouble::Other => Error::new(
            ErrorCode::HardwareUnavailable,
            format!("the microphone {label:?} cannot be opened ({detail})"),
        ),
    }
}

fn stopped(label: &str, why: &str) -> Error {
    Error::new(
        ErrorCode::HardwareUnavailable,
        format!("the microphone {label:?} stopped: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(channels: u16, min_rate: u32, max_rate: u32, format: cpal::SampleFormat) -> Mode {
        Mode {
            channels,
            min_rate,
            max_rate,
            format,
        }
    }

    #[test]
    fn prefers_48k_mono_16_bit_and_falls_back_to_the_closest_rate() {
        use cpal::SampleFormat::{F32, I16};
        let modes = [
            mode(2, 8000, 192_000, F32),
            mode(1, 8000, 192_000, F32),
            mode(1, 8000, 192_000, I16),
        ];
        assert_eq!(best_mode(&modes), Some((modes[2], 48_000)));
        let only_44k = [mode(2, 44_100, 44_100, I16), mode(1, 16_000, 16_000, I16)];
        assert_eq!(best_mode(&only_44k), Some((only_44k[0], 44_100)));
        assert_eq!(best_mode(&[]), None);
    }

    #[test]
    fn os_errors_map_to_codes_a_user_can_act_on() {
        let denied = open_error(
            "hw",
            "ALSA function 'snd_pcm_open' failed with error 'EACCES: Permission denied'",
            Trouble::Other,
        );
        assert_eq!(denied.code, ErrorCode::UserMediaAccessDenied);
        assert!(denied.message.starts_with("Publisher Access Denied:"));
        let busy = open_error("hw", "The requested device is no longer available", {
            Trouble::NotAvailable
        });
        assert_eq!(busy.code, ErrorCode::HardwareUnavailable);
        let mode = open_error("hw", "not supported", Trouble::Unsupported);
        assert_eq!(mode.code, ErrorCode::ConstraintsNotSatisfied);
        let other = open_error("hw", "Device or resource busy", Trouble::Other);
        assert_eq!(other.code, ErrorCode::HardwareUnavailable);
    }
}
