//! Keyframes on the wire: a receiver's requests for one let through to the sending
//! tracks and spaced, and their detection in received RTP (the loopback receiver's counters).

use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Packet, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

use super::tap::Watch;

/// Lets a receiver's keyframe requests (PLI, FIR) through to the sending tracks; the rest of
/// the inbound RTCP (reports, NACKs, congestion feedback) is for the stack's interceptors and
/// stops at the end of the chain as usual.
#[derive(Default)]
pub(super) struct KeyframeRequests;

impl Watch for KeyframeRequests {
    fn inbound(&mut self, mut msg: TaggedPacket) -> Option<TaggedPacket> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<_> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                })
                .cloned()
                .collect();
            if requests.is_empty() {
                return None;
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        Some(msg)
    }
}

/// A receiver's keyframe requests are honoured at most this often per layer, as libwebrtc's
/// minimum keyframe send interval: a keyframe costs several frames' bits, and a receiver that
/// asks every millisecond (or many viewers behind one server) would otherwise make every
/// frame one and starve the rest of the stream.
pub(super) const KEYFRAME_REQUEST_SPACING: Duration = Duration::from_millis(300);

/// Which of a receiver's keyframe requests reach the encoder, and when: sans-IO, time passed
/// in. A request within [`KEYFRAME_REQUEST_SPACING`] of the last one honoured for its layer
/// is not dropped but put off until the spacing ends: the keyframe just sent may be the one
/// the receiver lost. Put-off requests for a layer count as one.
#[derive(Debug)]
pub(super) struct KeyframeSpacing {
    /// Per layer: when a request was last honoured, and when one put off falls due.
    layers: Vec<(Option<Instant>, Option<Instant>)>,
}

impl KeyframeSpacing {
    pub(super) fn new(layers: usize) -> Self {
        KeyframeSpacing {
            layers: vec![(None, None); layers],
        }
    }

    /// A request for `layer` at `now`: whether the encoder is to be asked now.
    pub(super) fn request(&mut self, now: Instant, layer: usize) -> bool {
        let Some((honoured, due)) = self.layers.get_mut(layer) else {
            return false;
        };
        match *honoured {
            Some(at) if now < at + KEYFRAME_REQUEST_SPACING => {
                due.get_or_insert(at + KEYFRAME_REQUEST_SPACING);
                false
            }
            _ => {
                *honoured = Some(now);
                *due = None;
                true
            }
        }
    }

    /// When the earliest put-off request falls due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.layers.iter().filter_map(|(_, due)| *due).min()
    }

    /// The layers whose put-off requests are due at `now`, honoured.
    pub(super) fn due(&mut self, now: Instant) -> Vec<usize> {
        let mut layers = Vec::new();
        for (layer, (honoured, due)) in self.layers.iter_mut().enumerate() {
            if due.is_some_and(|at| at <= now) {
                *honoured = Some(now);
                *due = None;
                layers.push(layer);
            }
        }
        layers
    }
}

/// Whether an RTP payload that starts a VP8 frame carries a keyframe (RFC 7741 §4.1–4.3: the
/// payload descriptor, then the frame tag whose lowest bit is 0 for keyframes).
pub(super) fn vp8_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let mut at = 1;
    if first & 0x80 != 0 {
        let Some(&ext) = payload.get(1) else {
            return false;
        };
        at = 2;
        if ext & 0x80 != 0 {
            // PictureID: one or two bytes.
            at += if payload.get(at).is_some_and(|b| b & 0x80 != 0) {
                2
            } else {
                1
            };
        }
        if ext & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // TID/KEYIDX
        }
    }
    let starts_partition = first & 0x10 != 0 && first & 0x07 == 0;
    starts_partition && payload.get(at).is_some_and(|tag| tag & 0x01 == 0)
}

/// Whether an H.264 RTP payload (RFC 6184) carries an IDR slice (NAL type 5): as a single NAL
/// unit, inside a STAP-A aggregate, or as the first fragment of an FU-A.
pub(super) fn h264_carries_idr(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const STAP_A: u8 = 24;
    const FU_A: u8 = 28;
    let Some(&header) = payload.first() else {
        return false;
    };
    match header & 0x1f {
        IDR => true,
        STAP_A => {
            // Each aggregated unit: a 16-bit size, then the unit with its own NAL header.
            let mut at = 1;
            while let (Some(&hi), Some(&lo)) = (payload.get(at), payload.get(at + 1)) {
                let size = usize::from(u16::from_be_bytes([hi, lo]));
                if size == 0 {
                    return false;
                }
                if payload.get(at + 2).is_some_and(|h| h & 0x1f == IDR) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == IDR),
        _ => false,
    }
}

/// Whether an H.264 RTP payload (RFC 6184) that starts a frame starts a keyframe: the
/// parameter sets (NAL types 7 and 8) that lead it, or its IDR slice (5), alone, inside a
/// STAP-A aggregate, or as the first fragment of an FU-A.
pub(super) fn h264_starts_keyframe(payload: &[u8]) -> bool {
    const SPS: u8 = 7;
    const PPS: u8 = 8;
    const STAP_A: u8 = 24;
    match payload.first().map(|h| h & 0x1f) {
        Some(SPS | PPS) => true,
        Some(STAP_A) => {
            payload
                .get(3)
                .is_some_and(|h| matches!(h & 0x1f, SPS | PPS))
                || h264_carries_idr(payload)
        }
        _ => h264_carries_idr(payload),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{h264_carries_idr, vp8_starts_keyframe, KeyframeSpacing, KEYFRAME_REQUEST_SPACING};

    #[test]
    fn requests_are_honoured_once_a_spacing_per_layer_and_none_is_dropped() {
        let start = Instant::now();
        let ms = |n: u64| start + Duration::from_millis(n);
        let mut spacing = KeyframeSpacing::new(2);
        assert!(spacing.request(ms(0), 0), "the first request goes at once");
        assert_eq!(spacing.next_due(), None);
        // A flood for 0.3 s: one request put off, due when the spacing ends.
        for n in 1..300 {
            assert!(!spacing.request(ms(n), 0));
        }
        assert_eq!(spacing.next_due(), Some(ms(0) + KEYFRAME_REQUEST_SPACING));
        // Another layer has a spacing of its own.
        assert!(spacing.request(ms(5), 1));
        assert!(spacing.due(ms(299)).is_empty());
        assert_eq!(spacing.due(ms(300)), vec![0]);
        assert_eq!(spacing.next_due(), None);
        // Spaced from when the put-off one went.
        assert!(!spacing.request(ms(301), 0));
        assert!(spacing.request(ms(600), 0));
        // A layer no stream has is no request.
        assert!(!spacing.request(ms(700), 7));
        // A flood of 1 ms requests for 3 s honours about ten.
        let mut spacing = KeyframeSpacing::new(1);
        let mut honoured = 0;
        for n in 0..3000 {
            honoured += usize::from(spacing.request(ms(n), 0));
            honoured += spacing.due(ms(n)).len();
        }
        assert_eq!(honoured, 10);
    }

    #[test]
    fn h264_idr_detection_reads_single_stap_a_and_fu_a() {
        // Single NAL units: IDR slice (0x65), non-IDR slice (0x41), SPS (0x67).
        assert!(h264_carries_idr(&[0x65, 0x88, 0x84]));
        assert!(!h264_carries_idr(&[0x41, 0x9a]));
        assert!(!h264_carries_idr(&[0x67, 0x42]));
        // STAP-A of SPS + PPS only, and of SPS + PPS + IDR.
        let sps_pps = [0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce];
        assert!(!h264_carries_idr(&sps_pps));
        let with_idr = [&sps_pps[..], &[0, 2, 0x65, 0x88]].concat();
        assert!(h264_carries_idr(&with_idr));
        // FU-A: start of an IDR, a later IDR fragment, start of a non-IDR slice.
        assert!(h264_carries_idr(&[0x7c, 0x85, 0xb8]));
        assert!(!h264_carries_idr(&[0x7c, 0x05, 0xb8]));
        assert!(!h264_carries_idr(&[0x5c, 0x81, 0x9a]));
        // Truncated or empty payloads are not keyframes (and do not panic).
        assert!(!h264_carries_idr(&[]));
        assert!(!h264_carries_idr(&[0x78, 0, 9, 0x67]));
        assert!(!h264_carries_idr(&[0x7c]));
    }

    #[test]
    fn vp8_keyframe_detection_reads_the_frame_tag() {
        // S=1, PID 0, no extensions, then a frame tag with the key bit clear / set.
        assert!(vp8_starts_keyframe(&[0x10, 0x00]));
        assert!(!vp8_starts_keyframe(&[0x10, 0x01]));
        // X=1, I=1 with a 15-bit PictureID, then the tag.
        assert!(vp8_starts_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x9c]));
        // Not the start of a partition.
        assert!(!vp8_starts_keyframe(&[0x00, 0x00]));
    }
}
