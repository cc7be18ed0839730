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

use super::keyframe::{h264_starts_keyframe, vp8_starts_keyframe};
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
///
/// Besides the skips asked for, the keyframe of a new size skips ahead when the receiver
/// waits for older packets (see [`Adaptation::take_receiver_waits`]): it makes them moot,
/// and aiortc's jitter buffer would hold it behind their repair (on a narrow link, the repair
/// of the keyframe the step down replaced took seconds). Other keyframes do not: one that
/// answers a keyframe request after a skip (aiortc asks when its buffer starts over) would
/// skip the repair of the one before, and so on while loss lasts.
pub(crate) struct ResumeSkip {
    adaptation: Arc<Adaptation>,
    streams: HashMap<u32, VideoStream>,
}

/// One video stream's numbering.
#[derive(Debug)]
struct VideoStream {
    offset: u16,
    h264: bool,
    /// The next packet starts a frame (the one before carried the marker).
    frame_start: bool,
}

impl ResumeSkip {
    pub(crate) fn new(adaptation: Arc<Adaptation>) -> Self {
        ResumeSkip {
            adaptation,
            streams: HashMap::new(),
        }
    }
}

/// Whether an RTP payload that starts a frame starts a keyframe.
fn starts_keyframe(h264: bool, payload: &[u8]) -> bool {
    if h264 {
        h264_starts_keyframe(payload)
    } else {
        vp8_starts_keyframe(payload)
    }
}

impl Watch for ResumeSkip {
    fn outbound(&mut self, msg: &mut TaggedPacket) {
        let Packet::Rtp(packet) = &mut msg.message.packet else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let Some(stream) = self.streams.get_mut(&ssrc) else {
            return;
        };
        let asked = self.adaptation.take_skip();
        let keyframe = stream.frame_start && starts_keyframe(stream.h264, &packet.payload);
        stream.frame_start = packet.header.marker;
        let resized = keyframe && self.adaptation.take_resized();
        // Taken on every skip and keyframe: what the receiver waited for before is moot.
        let waits = (asked || keyframe) && self.adaptation.take_receiver_waits(ssrc);
        if asked || (resized && waits) {
            stream.offset = stream.offset.wrapping_add(SKIP);
            tracing::debug!(
                "video skips {SKIP} sequence numbers ahead{}",
                if asked { "" } else { " with a keyframe" }
            );
        }
        packet.header.sequence_number = packet.header.sequence_number.wrapping_add(stream.offset);
    }

    fn local_stream(&mut self, info: &StreamInfo) {
        let mime = info.mime_type.to_ascii_lowercase();
        if mime.starts_with("video/") {
            self.streams.insert(
                info.ssrc,
                VideoStream {
                    offset: 0,
                    h264: mime == "video/h264",
                    frame_start: true,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tap::Tap;
    use super::*;
    use rtc::interceptor::{AttributedPacket, Interceptor};
    use rtc::sansio::Protocol;
    use rtc::shared::TransportContext;
    use std::time::{Duration, Instant};

    /// VP8 payloads that start a frame: a keyframe's, another's.
    const KEY: &[u8] = &[0x10, 0x00, 0x00];
    const DELTA: &[u8] = &[0x10, 0x01, 0x00];

    /// Sends `packets` (a payload, and whether it ends its frame) through, one a millisecond
    /// from `at`; the numbers they left with.
    fn send_packets(
        skip: &mut Tap<ResumeSkip>,
        at: Instant,
        first: u16,
        packets: &[(&[u8], bool)],
    ) -> Vec<u16> {
        for (i, (payload, marker)) in packets.iter().enumerate() {
            let packet = rtc::rtp::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    ssrc: 7,
                    sequence_number: first + i as u16,
                    marker: *marker,
                    ..Default::default()
                },
                payload: payload.to_vec().into(),
            };
            skip.handle_write(TaggedPacket {
                now: at + Duration::from_millis(i as u64),
                transport: TransportContext::default(),
                message: AttributedPacket::new(Packet::Rtp(packet)),
            })
            .unwrap();
        }
        std::iter::from_fn(|| skip.poll_write())
            .map(|m| match m.message.packet {
                Packet::Rtp(p) => p.header.sequence_number,
                _ => unreachable!("only RTP was sent"),
            })
            .collect()
    }

    /// Frames of one packet each.
    fn send(skip: &mut Tap<ResumeSkip>, at: Instant, first: u16, frames: &[&[u8]]) -> Vec<u16> {
        let packets: Vec<_> = frames.iter().map(|p| (*p, true)).collect();
        send_packets(skip, at, first, &packets)
    }

    #[test]
    fn a_new_sizes_keyframe_skips_ahead_while_the_receiver_waits_for_older_packets() {
        let adaptation = Arc::new(Adaptation::new(2_000_000.0, 4_000_000.0, false));
        let mut skip = Tap::new(ResumeSkip::new(adaptation.clone()));
        skip.bind_local_stream(&StreamInfo {
            ssrc: 7,
            mime_type: "video/VP8".into(),
            ..Default::default()
        });
        let t0 = Instant::now();
        // A new size, the receiver waiting for nothing: its keyframe keeps its number.
        adaptation.on_resized();
        assert_eq!(send(&mut skip, t0, 0, &[DELTA, KEY]), [0, 1]);
        // It waits for older packets, and video changes size: other frames keep their
        // numbers, the next keyframe jumps, once.
        adaptation.set_receiver_waits(7, true);
        adaptation.on_resized();
        assert_eq!(send(&mut skip, t0, 2, &[DELTA]), [2]);
        assert_eq!(
            send(&mut skip, t0, 3, &[KEY, DELTA, KEY]),
            [3 + SKIP, 4 + SKIP, 5 + SKIP]
        );
        // A keyframe at the same size (one asked for) is repaired like any frame.
        adaptation.set_receiver_waits(7, true);
        assert_eq!(send(&mut skip, t0, 6, &[KEY]), [6 + SKIP]);
        // Only a frame's first packet starts a keyframe: one after a packet without the
        // marker continues its frame, whatever its first bytes.
        adaptation.set_receiver_waits(7, true);
        adaptation.on_resized();
        let frame = [(DELTA, false), (KEY, true), (KEY, true)];
        assert_eq!(
            send_packets(&mut skip, t0, 7, &frame),
            [7 + SKIP, 8 + SKIP, 9 + 2 * SKIP]
        );
        // Waiting no more, or another stream's receiver waiting, says nothing of this one.
        adaptation.set_receiver_waits(7, true);
        adaptation.set_receiver_waits(7, false);
        adaptation.set_receiver_waits(8, true);
        adaptation.on_resized();
        assert_eq!(send(&mut skip, t0, 10, &[KEY]), [10 + 2 * SKIP]);
        // A skip asked for makes what the receiver waited for moot too.
        adaptation.set_receiver_waits(7, true);
        adaptation.on_resized();
        adaptation.skip_ahead();
        assert_eq!(
            send(&mut skip, t0, 11, &[DELTA, KEY]),
            [11 + 3 * SKIP, 12 + 3 * SKIP]
        );
        // The encoder, stepping to a new rate at the same size, asks whether any receiver
        // waits (and skips ahead if one does): asking takes nothing.
        adaptation.set_receiver_waits(7, true);
        assert!(adaptation.receiver_waits());
        assert!(adaptation.receiver_waits());
        assert!(adaptation.take_receiver_waits(7));
        assert!(adaptation.take_receiver_waits(8));
        assert!(!adaptation.receiver_waits());
    }

    #[test]
    fn h264_keyframes_start_with_their_parameter_sets_or_idr_slice() {
        use super::super::keyframe::h264_starts_keyframe;
        // SPS alone; a STAP-A of SPS and PPS; an IDR slice; the first fragment of one.
        assert!(h264_starts_keyframe(&[0x67, 0x42]));
        assert!(h264_starts_keyframe(&[
            0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68
        ]));
        assert!(h264_starts_keyframe(&[0x65, 0x88]));
        assert!(h264_starts_keyframe(&[0x7c, 0x85, 0x88]));
        // A non-IDR slice, its fragment, an empty payload.
        assert!(!h264_starts_keyframe(&[0x41, 0x9a]));
        assert!(!h264_starts_keyframe(&[0x7c, 0x81, 0x9a]));
        assert!(!h264_starts_keyframe(&[]));
    }
}
