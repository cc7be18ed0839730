//! Keyframes on the wire: a receiver's requests for one let through to the sending
//! tracks, and their detection in received RTP (the loopback receiver's counters).

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

#[cfg(test)]
mod tests {
    use super::{h264_carries_idr, vp8_starts_keyframe};

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
