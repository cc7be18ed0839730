//! A running source of frames: one thread that produces, any number of subscribers.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{FrameQueue, MediaKind};
use crate::error::{Error, ErrorCode, Result};

/// Where a source is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// Opened, no frame yet.
    Starting,
    /// At least one frame was delivered.
    Running,
    /// The producer ended: `None` when asked to stop, the failure otherwise.
    Stopped(Option<Error>),
}

struct Shared<F> {
    subscribers: Mutex<Vec<Arc<FrameQueue<F>>>>,
    stop: AtomicBool,
    frames: AtomicU64,
    status: watch::Sender<SourceStatus>,
}

/// The producer's side of a source, handed to the thread that makes frames.
pub struct Emitter<F> {
    shared: Arc<Shared<F>>,
}

impl<F: Clone> Emitter<F> {
    /// Hands a frame to every subscriber; a subscriber that closed its queue is dropped.
    pub fn emit(&self, frame: F) {
        let subscribers = self
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut closed = false;
        for queue in subscribers {
            closed |= !queue.push(frame.clone());
        }
        if closed {
            self.shared
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|q| !q.is_closed());
        }
        if self.shared.frames.fetch_add(1, Ordering::Relaxed) == 0 {
            self.shared.status.send_replace(SourceStatus::Running);
        }
    }

    /// How many queues receive the frames now.
    pub fn subscribers(&self) -> usize {
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether the source was asked to stop; producers check it between frames.
    pub fn should_stop(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    /// Sleeps until `deadline`, waking early when asked to stop. Returns false on stop.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        const SLICE: Duration = Duration::from_millis(50);
        loop {
            if self.should_stop() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(SLICE));
        }
    }
}

/// Real-time pacing for a source that makes its own frames: frame `n` is due `n` periods after
/// the start. After a long stall (a suspended machine) the clock restarts rather than bursting.
pub(crate) struct Pacer {
    start: Instant,
    period: Duration,
    index: u64,
}

/// A frame that is due: its number (since the start or the last restart of the clock) and its
/// time in µs since the start.
pub(crate) struct Due {
    pub index: u64,
    pub timestamp_us: u64,
}

impl Pacer {
    /// Frames every `period`, from now.
    pub(crate) fn new(period: Duration) -> Self {
        Pacer {
            start: Instant::now(),
            period,
            index: 0,
        }
    }

    /// Sleeps until the next frame is due; `None` once the source is asked to stop.
    pub(crate) fn next_due<F: Clone>(&mut self, out: &Emitter<F>) -> Option<Due> {
        let due = self.start + self.period.mul_f64(self.index as f64);
        if !out.sleep_until(due) {
            return None;
        }
        let index = self.index;
        self.index += 1;
        if Instant::now() > self.start + self.period.mul_f64(self.index as f64 + 5.0) {
            self.index = (self.start.elapsed().as_secs_f64() / self.period.as_secs_f64()) as u64;
        }
        Some(Due {
            index,
            timestamp_us: due.duration_since(self.start).as_micros() as u64,
        })
    }
}

/// A running source of frames of type `F`.
pub struct Source<F> {
    kind: MediaKind,
    label: String,
    shared: Arc<Shared<F>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Where the host feeds a source it pushes frames to (custom sources); `None` otherwise.
    input: Option<Arc<dyn Any + Send + Sync>>,
}

impl<F: Clone + Send + 'static> Source<F> {
    /// Starts `produce` on a thread of its own. It runs until it returns or
    /// [`Emitter::should_stop`] turns true; an `Err` it returns becomes the source's status.
    pub fn spawn(
        kind: MediaKind,
        label: impl Into<String>,
        produce: impl FnOnce(&Emitter<F>) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let label = label.into();
        let shared = Arc::new(Shared {
            subscribers: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            status: watch::channel(SourceStatus::Starting).0,
        });
        let emitter = Emitter {
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("lp-{}-src", kind.as_str()))
            .spawn(move || {
                let outcome = produce(&emitter);
                let shared = &emitter.shared;
                let failure = match outcome {
                    Err(e) if !shared.stop.load(Ordering::Acquire) => Some(e),
                    _ => None,
                };
                if let Some(e) = &failure {
                    tracing::warn!(code = e.code(), "source stopped: {}", e.message);
                }
                shared.status.send_replace(SourceStatus::Stopped(failure));
                for queue in shared
                    .subscribers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                {
                    queue.close();
                }
            })
            .map_err(|e| Error::internal(format!("cannot start a source thread: {e}")))?;
        Ok(Source {
            kind,
            label,
            shared,
            thread: Mutex::new(Some(thread)),
            input: None,
        })
    }

    /// Attaches the entry point through which the host feeds this source.
    pub(crate) fn with_input(mut self, input: Arc<dyn Any + Send + Sync>) -> Self {
        self.input = Some(input);
        self
    }

    /// The entry point attached by [`Source::with_input`], if it is a `T`.
    pub(crate) fn input<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.input.clone()?.downcast::<T>().ok()
    }

    /// Opens a device with `open` on the source's own thread (some device APIs must stay on
    /// the thread that opened them), returns once opening succeeded or failed, then produces
    /// frames with `run` on that thread.
    pub fn spawn_device<D>(
        kind: MediaKind,
        label: impl Into<String>,
        open: impl FnOnce() -> Result<D> + Send + 'static,
        run: impl FnOnce(D, &Emitter<F>) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel::<Result<()>>(1);
        let source = Source::spawn(kind, label, move |emitter| match open() {
            Ok(device) => {
                let _ = opened_tx.send(Ok(()));
                run(device, emitter)
            }
            Err(e) => {
                let _ = opened_tx.send(Err(e));
                Ok(())
            }
        })?;
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(source),
            Ok(Err(e)) => {
                source.stop();
                Err(e)
            }
            Err(_) => Err(Error::internal(format!(
                "the {} thread ended while opening",
                kind.as_str()
            ))),
        }
    }

    /// A queue that receives every frame from now on, holding at most `capacity` frames.
    pub fn subscribe(&self, capacity: usize) -> Arc<FrameQueue<F>> {
        let queue = Arc::new(FrameQueue::new(capacity));
        if !self.attach(&queue) {
            queue.close();
        }
        queue
    }

    /// Delivers every frame from now on to `queue` as well; false (and nothing delivered) when
    /// the source has stopped. A queue its reader closed is dropped at the next frame.
    pub(crate) fn attach(&self, queue: &Arc<FrameQueue<F>>) -> bool {
        let mut subscribers = self
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if matches!(*self.shared.status.borrow(), SourceStatus::Stopped(_)) {
            return false;
        }
        if !subscribers.iter().any(|q| Arc::ptr_eq(q, queue)) {
            subscribers.push(queue.clone());
        }
        true
    }

    /// Stops delivering to `queue`, leaving it open (its reader may get another source's
    /// frames next).
    pub(crate) fn detach(&self, queue: &Arc<FrameQueue<F>>) {
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|q| !Arc::ptr_eq(q, queue));
    }

    /// Stops delivering to `queue` and closes it.
    pub fn unsubscribe(&self, queue: &Arc<FrameQueue<F>>) {
        self.detach(queue);
        queue.close();
    }

    /// Waits up to `timeout` for the first frame. A source that ends first, or sends
    /// nothing in time, fails with 1580 HARDWARE_UNAVAILABLE (or its own error).
    pub async fn first_frame(&self, timeout: Duration) -> Result<()> {
        let mut status = self.shared.status.subscribe();
        let wait = status.wait_for(|s| !matches!(s, SourceStatus::Starting));
        let outcome = match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => Ok(s.clone()),
            Ok(Err(_)) => Ok(SourceStatus::Stopped(None)),
            Err(elapsed) => Err(elapsed),
        };
        match outcome {
            Ok(SourceStatus::Running) => Ok(()),
            Ok(SourceStatus::Stopped(Some(e))) => Err(e),
            Ok(_) => Err(self.unavailable("it stopped before delivering a frame")),
            Err(_) => Err(self.unavailable(&format!(
                "it delivered no frame within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    fn unavailable(&self, why: &str) -> Error {
        Error::new(
            ErrorCode::HardwareUnavailable,
            format!("{} source {:?}: {why}", self.kind.as_str(), self.label),
        )
    }

    /// Follows the source's status, e.g. to learn that it stopped.
    pub fn watch_status(&self) -> watch::Receiver<SourceStatus> {
        self.shared.status.subscribe()
    }

    /// Frames produced so far.
    pub fn frames(&self) -> u64 {
        self.shared.frames.load(Ordering::Relaxed)
    }

    /// What kind of media this source makes.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// A label for people (device name, "synthetic").
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Stops the producer and waits for its thread. Safe to call more than once.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl<F> Drop for Source<F> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self
            .thread
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}
