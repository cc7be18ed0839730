//! The audio level a hardware-setup screen shows: the loudest 10 ms frame of each 100 ms of
//! the publisher's audio, as RMS in 0..1, whether or not the publisher is published.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::queue::PopError;
use super::{AudioFrame, Source};
use crate::error::{Error, Result};

/// How often a level is reported (about ten times a second, as OpenTok does).
pub const LEVEL_INTERVAL: Duration = Duration::from_millis(100);

/// A thread that reads the audio source and reports its level; stops when dropped.
pub struct LevelMeter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LevelMeter {
    /// Starts reporting the level of `source` to `on_level` every [`LEVEL_INTERVAL`].
    pub fn start(
        source: &Arc<Source<AudioFrame>>,
        on_level: impl Fn(f32) + Send + 'static,
    ) -> Result<LevelMeter> {
        let stop = Arc::new(AtomicBool::new(false));
        let queue = source.subscribe(32);
        let thread = {
            let stop = stop.clone();
            let source = Arc::downgrade(source);
            std::thread::Builder::new()
                .name("lp-audio-level".into())
                .spawn(move || {
                    let mut loudest: Option<f32> = None;
                    let mut window_end = Instant::now() + LEVEL_INTERVAL;
                    while !stop.load(Ordering::Acquire) {
                        let wait = window_end.saturating_duration_since(Instant::now());
                        match queue.pop(wait.min(LEVEL_INTERVAL)) {
                            Ok(frame) => {
                                let level = frame.rms_level();
                                loudest = Some(loudest.map_or(level, |l| l.max(level)));
                            }
                            Err(PopError::Closed) => break,
                            Err(PopError::Timeout) => {}
                        }
                        if Instant::now() >= window_end {
                            // No frame in a whole window reports nothing: the source stalled.
                            if let Some(level) = loudest.take() {
                                on_level(level);
                            }
                            window_end += LEVEL_INTERVAL;
                            if window_end < Instant::now() {
                                window_end = Instant::now() + LEVEL_INTERVAL;
                            }
                        }
                    }
                    if let Some(source) = source.upgrade() {
                        source.unsubscribe(&queue);
                    }
                })
                .map_err(|e| Error::internal(format!("cannot start the level meter: {e}")))?
        };
        Ok(LevelMeter {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LevelMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_the_tone_level_about_ten_times_a_second() {
        let source = Arc::new(crate::media::synthetic::audio(1).unwrap());
        let levels = Arc::new(Mutex::new(Vec::new()));
        let meter = {
            let levels = levels.clone();
            LevelMeter::start(&source, move |l| levels.lock().unwrap().push(l)).unwrap()
        };
        std::thread::sleep(Duration::from_millis(1050));
        drop(meter);
        source.stop();
        let levels = levels.lock().unwrap().clone();
        // 10 windows in a second; a slow machine may lose one or two, never gain many.
        assert!((7..=12).contains(&levels.len()), "{levels:?}");
        let expected = crate::media::synthetic::TONE_AMPLITUDE / std::f32::consts::SQRT_2;
        assert!(
            levels.iter().all(|l| (l - expected).abs() < 0.02),
            "{levels:?}"
        );
    }
}
