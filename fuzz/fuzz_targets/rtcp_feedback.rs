//! RTCP from the receiver as it reaches our interceptors (bandwidth, round trip,
//! retransmission, NACK filtering, keyframe requests): receiver and sender reports, NACKs,
//! PLI/FIR, REMB, transport-wide feedback, anything else, between packets we send.
//!
//! Input: records of a tag byte, a big-endian 16-bit length and that many bytes:
//! - 0: RTCP heard from the receiver;
//! - 1: RTCP heard, with the congestion controller's estimate (the first 4 bytes, kbit/s);
//! - 2: RTCP of ours leaving (sender reports);
//! - 3: packets we send: stream (0 video, 1 its RTX, 2 audio), count, size (2 bytes),
//!   sequence numbers skipped before them;
//! - 4: time passing: milliseconds (2 bytes);
//! - 5: the encoder polls the adaptation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libpublisher::fuzzing::{RtcpChain, AUDIO_SSRC, VIDEO_RTX_SSRC, VIDEO_SSRC};

fuzz_target!(|data: &[u8]| {
    let mut chain = RtcpChain::new();
    let mut seqs = [0u16; 3];
    let mut rest = data;
    let mut records = 0;
    while rest.len() >= 3 && records < 256 {
        records += 1;
        let (tag, len) = (rest[0], usize::from(u16::from_be_bytes([rest[1], rest[2]])));
        let body = &rest[3..(3 + len).min(rest.len())];
        rest = &rest[3 + body.len()..];
        match tag % 6 {
            0 => {
                chain.receive_rtcp(body, None);
            }
            1 if body.len() >= 4 => {
                let kbps = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) % 1_000_000;
                chain.receive_rtcp(&body[4..], Some(kbps * 1000));
            }
            2 => {
                chain.send_rtcp(body);
            }
            3 if body.len() >= 5 => {
                let stream = usize::from(body[0] % 3);
                let ssrc = [VIDEO_SSRC, VIDEO_RTX_SSRC, AUDIO_SSRC][stream];
                let size = usize::from(u16::from_be_bytes([body[2], body[3]]) % 1400);
                seqs[stream] = seqs[stream].wrapping_add(u16::from(body[4]));
                for _ in 0..body[1] {
                    chain.send_rtp(ssrc, seqs[stream], size, stream == 1);
                    seqs[stream] = seqs[stream].wrapping_add(1);
                    chain.advance(1);
                }
            }
            4 if body.len() >= 2 => chain.advance(u16::from_be_bytes([body[0], body[1]]).into()),
            5 => {
                chain.poll();
            }
            _ => {}
        }
        // Whatever the receiver says, the adaptation stays within its bounds.
        let f = chain.figures();
        assert!(
            (30_000..=2_000_000).contains(&f.video_target_bps),
            "video target {f:?}"
        );
        assert!(f.pacing_bps.is_finite() && f.pacing_bps > 0.0, "{f:?}");
        assert!(f.rtt < std::time::Duration::from_secs(3600), "{f:?}");
    }
});
