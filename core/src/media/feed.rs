//! What an encoder reads: the frames of whichever source its publisher has now. The queues
//! of a feed move from source to source (video turned off and on again, a source switched),
//! so a stream keeps its encoder and its track, and the receiver needs no new offer.

use std::sync::{Arc, Mutex};

use super::{FrameQueue, Source};

/// The readers' queues of one kind of media, attached to the current source, if any.
pub(crate) struct Feed<F> {
    queues: Mutex<Vec<Arc<FrameQueue<F>>>>,
}

impl<F> Default for Feed<F> {
    fn default() -> Self {
        Feed {
            queues: Mutex::new(Vec::new()),
        }
    }
}

impl<F: Clone + Send + 'static> Feed<F> {
    /// A queue of at most `capacity` frames, fed by `source` now and by every source that
    /// follows it, until its reader closes it.
    pub(crate) fn subscribe(
        &self,
        source: Option<&Source<F>>,
        capacity: usize,
    ) -> Arc<FrameQueue<F>> {
        let queue = Arc::new(FrameQueue::new(capacity));
        if let Some(source) = source {
            source.attach(&queue);
        }
        let mut queues = self.lock();
        queues.retain(|q| !q.is_closed());
        queues.push(queue.clone());
        queue
    }

    /// Moves every open queue from `from` to `to` (either may be none: video turned off, or
    /// on again). Frames of `to` follow at once; `from` may be stopped afterwards without
    /// closing them.
    pub(crate) fn switch(&self, from: Option<&Source<F>>, to: Option<&Source<F>>) {
        let mut queues = self.lock();
        queues.retain(|q| !q.is_closed());
        for queue in queues.iter() {
            if let Some(to) = to {
                to.attach(queue);
            }
            if let Some(from) = from {
                from.detach(queue);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<FrameQueue<F>>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::media::MediaKind;

    /// A source that emits `value` every 5 ms until stopped.
    fn counting(value: u32) -> Source<u32> {
        Source::spawn(MediaKind::Video, format!("n{value}"), move |out| {
            while !out.should_stop() {
                out.emit(value);
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
        .unwrap()
    }

    fn next(queue: &FrameQueue<u32>) -> Option<u32> {
        queue.pop(Duration::from_millis(200)).ok()
    }

    #[test]
    fn a_queue_follows_the_source_it_is_switched_to_and_survives_the_old_one() {
        let feed = Feed::default();
        let one = counting(1);
        let queue = feed.subscribe(Some(&one), 1);
        assert_eq!(next(&queue), Some(1));
        // Switched off: nothing comes, and stopping the old source does not close it.
        feed.switch(Some(&one), None);
        one.stop();
        while next(&queue).is_some() {}
        assert!(!queue.is_closed());
        // On again, from another source.
        let two = counting(2);
        feed.switch(None, Some(&two));
        assert_eq!(next(&queue), Some(2));
        // A queue its reader closed is forgotten, and the source drops it.
        queue.close();
        let three = counting(3);
        feed.switch(Some(&two), Some(&three));
        assert!(feed.lock().is_empty());
        std::thread::sleep(Duration::from_millis(30));
        two.stop();
        three.stop();
    }
}
