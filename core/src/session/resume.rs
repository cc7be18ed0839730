//! Video skips its sequence numbers ahead when packets the receiver waits for will not come:
//! when it starts again after the audio-only fallback, and when a packet the receiver asked
//! for was given up (resent [`MAX_COPIES`](super::retransmit) times, or owed too long).
//!
//! A receiver's jitter buffer waits for such packets: aiortc's holds every later frame until
//! the gap is 512 packets old (seconds at the rates a narrow link leaves), libwebrtc's keeps
//! asking for it. Skipping [`SKIP`] numbers tells any receiver at once that those packets will
//! not come: aiortc's buffer overflows and starts over (with a keyframe request), libwebrtc's
//! NACK list overflows and it asks for a keyframe. A keyframe goes with the skip. The
//! receiver's next reports count the skipped numbers as lost; the bandwidth watch takes them
//! out of the loss it follows.

use std::collections::HashMap;
use std::sync::Arc;

use rtc::interceptor::{Packet, StreamInfo, TaggedPacket};

use super::tap::Watch;
use crate::adapt::Adaptation;

/// How far the numbers jump: past aiortc's 512-packet buffer and libwebrtc's 1000-packet
/// NACK list.
pub(super) const SKIP: u16 = 1500;

/// Whether `seq`, sent after `last`, is where a skip landed.
pub(super) fn skipped_to(last: u16, seq: u16) -> bool {
    (SKIP..0x8000).contains(&seq.wrapping_sub(last))
}

/// Adds each video stream's skips to its sequence numbers; sits app-side of the NACK
/// responder, so that what it keeps (and resends) carries the numbers sent.
pub(crate) struct ResumeSkip {
    adaptation: Arc<Adaptation>,
    offsets: HashMap<u32, u16>,
}

impl ResumeSkip {
    pub(crate) fn new(adaptation: Arc<Adaptation>) -> Self {
        ResumeSkip {
            adaptation,
            offsets: HashMap::new(),
        }
    }
}

impl Watch for ResumeSkip {
    fn outbound(&mut self, msg: &mut TaggedPacket) {
        let Packet::Rtp(packet) = &mut msg.message.packet else {
            return;
        };
        let Some(offset) = self.offsets.get_mut(&packet.header.ssrc) else {
            return;
        };
        if self.adaptation.take_skip() {
            *offset = offset.wrapping_add(SKIP);
            tracing::debug!("video skips {SKIP} sequence numbers ahead");
        }
        packet.header.sequence_number = packet.header.sequence_number.wrapping_add(*offset);
    }

    fn local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("video/") {
            self.offsets.insert(info.ssrc, 0);
        }
    }
}
