//! Per-handle ordered delivery: one callback thread per handle, so that a handle's callbacks
//! run one at a time, in order, never under an internal lock.
//!
//! Overflow policy: lifecycle events and call completions are never dropped (there are only
//! as many as the host made calls and state changes). Periodic events (audio levels) are
//! *droppable*: when the host's callbacks fall behind by [`DROPPABLE_BACKLOG`] of them, newer
//! ones are dropped, counted and logged, rather than queueing without bound behind a host
//! callback that blocks. A binding that queues again on its side (Node's threadsafe function)
//! bounds its queue the same way with a [`Backlog`].

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

use crate::publisher::PublisherEvent;

/// How many droppable events may wait for a host callback: 5 s of audio levels.
pub const DROPPABLE_BACKLOG: usize = 50;

/// Counts droppable messages queued for a host and not yet delivered; refuses more than
/// [`DROPPABLE_BACKLOG`] (counted, logged).
#[derive(Debug, Default)]
pub struct Backlog {
    queued: AtomicUsize,
    dropped: AtomicU64,
}

/// One droppable message in a [`Backlog`]; dropping it (once delivered, or discarded) frees
/// its place.
#[derive(Debug)]
pub struct BacklogTicket(Arc<Backlog>);

impl Drop for BacklogTicket {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What [`Backlog::admit_event`] decided for one event.
#[derive(Debug)]
pub enum Admission {
    /// Never dropped (a lifecycle event, a completion): queue it.
    Always,
    /// A droppable event with its place; keep the ticket until the event is delivered.
    Periodic(BacklogTicket),
    /// Dropped (counted and logged): do not queue it.
    Dropped,
}

impl Admission {
    /// Whether the event was dropped.
    pub fn is_dropped(&self) -> bool {
        matches!(self, Admission::Dropped)
    }
}

impl Backlog {
    /// A place for one more droppable message, or `None` (and the drop counted and logged)
    /// when the host is [`DROPPABLE_BACKLOG`] behind.
    pub fn admit(self: &Arc<Self>, what: &str) -> Option<BacklogTicket> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= DROPPABLE_BACKLOG {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // The first drop and then one in a hundred: the log must not flood either.
            if dropped == 1 || dropped % 100 == 0 {
                tracing::warn!(
                    "a host callback is blocking: {dropped} {what} event(s) dropped so far"
                );
            }
            return None;
        }
        Some(BacklogTicket(self.clone()))
    }

    /// Whether a publisher event may be queued for the host under the overflow policy:
    /// lifecycle events always, periodic ones while there is room.
    pub fn admit_event(self: &Arc<Self>, event: &PublisherEvent) -> Admission {
        if !event.is_periodic() {
            return Admission::Always;
        }
        match self.admit(event.name()) {
            Some(ticket) => Admission::Periodic(ticket),
            None => Admission::Dropped,
        }
    }

    /// Droppable messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

type Job = Box<dyn FnOnce() + Send>;

struct DispatchState {
    closed: AtomicBool,
    /// Held while a callback runs, so that `close` can wait for it to end.
    running: Mutex<()>,
    thread: OnceLock<ThreadId>,
}

/// Runs one handle's callbacks in order on a thread of its own.
pub(crate) struct Dispatcher {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    state: Arc<DispatchState>,
    droppable: Arc<Backlog>,
}

impl Dispatcher {
    pub(crate) fn new(name: &str) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let state = Arc::new(DispatchState {
            closed: AtomicBool::new(false),
            running: Mutex::new(()),
            thread: OnceLock::new(),
        });
        let thread_state = state.clone();
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _ = thread_state.thread.set(std::thread::current().id());
                while let Ok(job) = receiver.recv() {
                    let _running = thread_state
                        .running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if thread_state.closed.load(Ordering::Acquire) {
                        continue;
                    }
                    if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a host callback panicked; the panic was contained");
                    }
                }
            });
        let sender = match spawned {
            Ok(_) => Some(sender),
            Err(e) => {
                tracing::error!("cannot start a callback thread ({e}); callbacks are lost");
                None
            }
        };
        Dispatcher {
            sender: Mutex::new(sender),
            state,
            droppable: Arc::default(),
        }
    }

    /// Queues a callback. After `close`, callbacks are dropped without running.
    pub(crate) fn post(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(sender) = &*self.sender.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = sender.send(Box::new(job));
        }
    }

    /// Queues a periodic callback (an audio level) that may be dropped, under the policy
    /// above, when the host is behind.
    pub(crate) fn post_droppable(&self, what: &str, job: impl FnOnce() + Send + 'static) {
        if let Some(ticket) = self.droppable.admit(what) {
            self.post(move || {
                drop(ticket); // running: no longer waiting
                job()
            });
        }
    }

    /// Resolves once every callback queued before it has run (or been dropped by `close`):
    /// lets one handle's events be ordered after another's.
    pub(crate) fn flush(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (done, flushed) = tokio::sync::oneshot::channel();
        self.post(move || {
            let _ = done.send(());
        });
        flushed
    }

    /// Whether the calling thread is this dispatcher's callback thread.
    pub(crate) fn is_current(&self) -> bool {
        self.state.thread.get() == Some(&std::thread::current().id())
    }

    /// Stops callbacks: when this returns, no callback is running (unless `close` is called
    /// from inside one, which then is the last) and none will start.
    pub(crate) fn close(&self) {
        self.state.closed.store(true, Ordering::Release);
        if !self.is_current() {
            drop(self.state.running.lock().unwrap_or_else(|e| e.into_inner()));
        }
        // Dropping the sender lets the thread drain what is queued (skipping it) and exit.
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_backlog_drops_periodic_events_only() {
        let backlog = Arc::new(Backlog::default());
        let level = PublisherEvent::AudioLevelUpdated { level: 0.5 };
        let held: Vec<_> = (0..DROPPABLE_BACKLOG)
            .map(|_| backlog.admit_event(&level))
            .collect();
        assert!(held.iter().all(|a| matches!(a, Admission::Periodic(_))));
        assert!(backlog.admit_event(&level).is_dropped());
        assert!(matches!(
            backlog.admit_event(&PublisherEvent::AccessAllowed),
            Admission::Always
        ));
        assert_eq!(backlog.dropped(), 1);
        drop(held);
        assert!(
            !backlog.admit_event(&level).is_dropped(),
            "delivered: room again"
        );
    }

    #[test]
    fn callbacks_run_in_order_one_at_a_time() {
        let d = Dispatcher::new("lp-test");
        let log = Arc::new(Mutex::new(Vec::new()));
        for i in 0..50 {
            let log = log.clone();
            d.post(move || log.lock().unwrap().push(i));
        }
        d.flush().blocking_recv().unwrap();
        assert_eq!(*log.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn close_waits_for_a_running_callback_and_drops_the_rest() {
        let d = Dispatcher::new("lp-test");
        let (started_tx, started_rx) = mpsc::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let later = Arc::new(AtomicBool::new(false));
        {
            let finished = finished.clone();
            d.post(move || {
                started_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(200));
                finished.store(true, Ordering::SeqCst);
            });
        }
        {
            let later = later.clone();
            d.post(move || later.store(true, Ordering::SeqCst));
        }
        started_rx.recv().unwrap();
        d.close();
        assert!(
            finished.load(Ordering::SeqCst),
            "close returned during a callback"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !later.load(Ordering::SeqCst),
            "a callback ran after close returned"
        );
    }

    #[test]
    fn close_from_inside_a_callback_does_not_deadlock() {
        let d = Arc::new(Dispatcher::new("lp-test"));
        let (done_tx, done_rx) = mpsc::channel();
        let inner = d.clone();
        d.post(move || {
            inner.close();
            done_tx.send(()).unwrap();
        });
        done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn droppable_events_are_dropped_behind_a_blocked_callback_and_lifecycle_ones_are_not() {
        let d = Dispatcher::new("lp-test");
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        d.post(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        started_rx.recv().unwrap();
        let levels = Arc::new(AtomicUsize::new(0));
        let lifecycle = Arc::new(AtomicUsize::new(0));
        for _ in 0..(DROPPABLE_BACKLOG + 30) {
            let levels = levels.clone();
            d.post_droppable("test", move || {
                levels.fetch_add(1, Ordering::SeqCst);
            });
            let lifecycle = lifecycle.clone();
            d.post(move || {
                lifecycle.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(d.droppable.dropped(), 30);
        release_tx.send(()).unwrap();
        let flushed = d.flush();
        flushed.blocking_recv().unwrap();
        assert_eq!(levels.load(Ordering::SeqCst), DROPPABLE_BACKLOG);
        assert_eq!(lifecycle.load(Ordering::SeqCst), DROPPABLE_BACKLOG + 30);
        // Once the host caught up, droppable events flow again.
        d.post_droppable("test", || {});
        assert_eq!(d.droppable.dropped(), 30);
    }

    #[test]
    fn a_panicking_callback_does_not_stop_the_next() {
        let d = Dispatcher::new("lp-test");
        let (tx, rx) = mpsc::channel();
        d.post(|| panic!("host bug"));
        d.post(move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
