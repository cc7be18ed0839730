//! A bounded queue between a producer thread and a consumer thread that drops the oldest item
//! when full, so that a slow consumer sees fresh frames rather than growing latency.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A bounded, drop-oldest, closable queue.
#[derive(Debug)]
pub struct FrameQueue<T> {
    state: Mutex<QueueState<T>>,
    ready: Condvar,
    capacity: usize,
}

#[derive(Debug)]
struct QueueState<T> {
    items: VecDeque<T>,
    closed: bool,
    dropped: u64,
}

/// Why `pop` returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopError {
    /// Nothing arrived within the timeout.
    Timeout,
    /// The queue was closed and is empty.
    Closed,
}

impl<T> FrameQueue<T> {
    /// A queue holding at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        FrameQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::with_capacity(capacity.max(1)),
                closed: false,
                dropped: 0,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState<T>> {
        // A poisoned queue only means a consumer panicked; the items are still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item, dropping the oldest when full. Returns false if the queue is closed.
    pub fn push(&self, item: T) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        if state.items.len() == self.capacity {
            state.items.pop_front();
            state.dropped += 1;
        }
        state.items.push_back(item);
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Waits up to `timeout` for an item. Items pushed before `close` are still delivered.
    pub fn pop(&self, timeout: Duration) -> Result<T, PopError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Ok(item);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(PopError::Timeout);
            }
            state = self
                .ready
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Closes the queue: pushes fail from now on and waiting consumers wake up.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// How many items were dropped because the consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_oldest_when_full() {
        let q = FrameQueue::new(2);
        for i in 0..5 {
            assert!(q.push(i));
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.pop(Duration::ZERO), Ok(3));
        assert_eq!(q.pop(Duration::ZERO), Ok(4));
        assert_eq!(q.pop(Duration::from_millis(5)), Err(PopError::Timeout));
    }

    #[test]
    fn close_wakes_a_waiting_consumer_and_refuses_pushes() {
        let q = std::sync::Arc::new(FrameQueue::<u32>::new(4));
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || q.pop(Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        assert_eq!(consumer.join().unwrap(), Err(PopError::Closed));
        assert!(!q.push(1));
    }
}
