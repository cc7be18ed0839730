//! Video that starts again after the audio-only fallback skips its sequence numbers ahead.
//!
//! Packets lost before video stopped, and never repaired, are still awaited by the
//! receiver's jitter buffer: aiortc's holds every later frame until the gap is 512 packets
//! old, libwebrtc's keeps asking for it. Skipping [`SKIP`] numbers tells any receiver at once
//! that those packets will not come: aiortc's buffer overflows and starts over (with a
//! keyframe request), libwebrtc's NACK list overflows and it asks for a keyframe. The resumed
//! video starts with a keyframe anyway. The receiver's next reports count the skipped numbers
//! as lost; the bandwidth watch knows a skip when it sees one and does not take that loss as
//! congestion.

use std::collections::HashMap;
use std::sync::Arc;

use rtc::interceptor::{Packet, StreamInfo, TaggedPacket};

use super::tap::Watch;
use crate::adapt::Adaptation;

/// How far the numbers jump: past aiortc's 512-packet buffer and libwebrtc's 1000-packet
/// NACK list.
pub(super) const SKIP: u16 = 1500;

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
        if self.adaptation.take_resumed() {
            *offset = offset.wrapping_add(SKIP);
            tracing::debug!("video resumes {SKIP} sequence numbers ahead");
        }
        packet.header.sequence_number = packet.header.sequence_number.wrapping_add(*offset);
    }

    fn local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("video/") {
            self.offsets.insert(info.ssrc, 0);
        }
    }
}
