//! The library's threads: one tokio runtime for every async step, and one callback thread per
//! handle so that a handle's callbacks run one at a time, never under an internal lock.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

/// The library-owned runtime. Two workers: signalling and the WebRTC stack are I/O bound,
/// and capture and encoding run on threads of their own.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lp-runtime")
            .enable_all()
            .build()
            .expect("the library runtime cannot start: the process is out of threads")
    })
}

/// A fresh id for a handle. Ids are never reused, so a stale id can never reach a new object.
pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
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
        }
    }

    /// Queues a callback. After `close`, callbacks are dropped without running.
    pub(crate) fn post(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(sender) = &*self.sender.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = sender.send(Box::new(job));
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
    fn callbacks_run_in_order_one_at_a_time() {
        let d = Dispatcher::new("lp-test");
        let log = Arc::new(Mutex::new(Vec::new()));
        for i in 0..50 {
            let log = log.clone();
            d.post(move || log.lock().unwrap().push(i));
        }
        std::thread::sleep(Duration::from_millis(100));
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
    fn a_panicking_callback_does_not_stop_the_next() {
        let d = Dispatcher::new("lp-test");
        let (tx, rx) = mpsc::channel();
        d.post(|| panic!("host bug"));
        d.post(move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
