//! What the host prefers video to be sent at (`set_preferred_resolution`,
//! `set_preferred_frame_rate`): a ceiling under the source's size and rate, which the
//! adaptation's own steps go below. Shared between a publisher and its encoder, read frame by
//! frame.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::settings::Resolution;

/// The host's preferred size and frame rate; none set means the source's.
#[derive(Debug, Default)]
pub(crate) struct VideoPreference {
    /// Width << 32 | height; 0 when none.
    size: AtomicU64,
    /// 0 when none.
    fps: AtomicU32,
}

impl VideoPreference {
    pub(crate) fn set_size(&self, size: Resolution) {
        let packed = (u64::from(size.width) << 32) | u64::from(size.height);
        self.size.store(packed, Ordering::Release);
    }

    pub(crate) fn set_fps(&self, fps: u32) {
        self.fps.store(fps, Ordering::Release);
    }

    /// The size to send a `width`×`height` frame at, before the adaptation's steps: the
    /// preferred size fitted inside the frame (never larger), even sides, 16 pixels at least.
    pub(crate) fn size_for(&self, width: u32, height: u32) -> (u32, u32) {
        let packed = self.size.load(Ordering::Acquire);
        if packed == 0 {
            return (width, height);
        }
        let side = |preferred: u32, source: u32| (preferred.min(source) & !1).max(16.min(source));
        (
            side((packed >> 32) as u32, width),
            side(packed as u32, height),
        )
    }

    /// The frame rate to send at when the adaptation allows `fps`.
    pub(crate) fn fps_for(&self, fps: u32) -> u32 {
        match self.fps.load(Ordering::Acquire) {
            0 => fps,
            preferred => preferred.min(fps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_caps_the_size_and_rate_and_never_raises_them() {
        let p = VideoPreference::default();
        assert_eq!(p.size_for(640, 480), (640, 480));
        assert_eq!(p.fps_for(30), 30);
        p.set_size(Resolution {
            width: 321,
            height: 241,
        });
        p.set_fps(15);
        assert_eq!(p.size_for(640, 480), (320, 240));
        assert_eq!(p.size_for(160, 120), (160, 120));
        assert_eq!(p.fps_for(30), 15);
        assert_eq!(p.fps_for(10), 10);
    }
}
