//! Retransmissions: how many sent packets the stack's NACK responder keeps to answer NACKs
//! with, and what it resent, counted for the stats (W3C `retransmittedPacketsSent` /
//! `retransmittedBytesSent`).
//!
//! The responder keeps a fixed number of packets per stream, chosen when the connection is
//! built. [`nack_history_packets`] sizes it from the highest rate the stream's video may reach:
//! a NACK can only be answered while its packets are still held, and a receiver asks for the
//! packets of a whole outage (up to a second and more) once the path is back.
//!
//! The responder tags each packet it resends ([`Attribute::Retransmission`]), whether the copy
//! goes out as it was or wrapped in RTX (RFC 4588). The meter sits wire-side of the responder,
//! so on the write leg it sees every retransmission on its way out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rtc::interceptor::{Attribute, Packet, StreamInfo, TaggedPacket};

use super::tap::Watch;

/// The bits per pixel that hard content (noise, confetti, a camera panning over foliage)
/// costs VP8 and H.264 baseline at their coarsest quantizers: ~0.55 was measured for noise at
/// 640x480@30 (5.1 Mbit/s from a 645 kbit/s target). Rounded up, as the worst case the
/// history has to hold.
const PEAK_BITS_PER_PIXEL: f64 = 1.0;
/// RTP payload bytes of a full packet: the stack packetizes at a 1200-byte MTU.
const FULL_PAYLOAD_BYTES: f64 = 1100.0;
/// How much sending time the history covers at the peak rate.
const HISTORY_SECONDS: f64 = 1.0;
/// The stack's default, and our floor: 1024 packets (~4 s at 2 Mbit/s).
pub(crate) const MIN_HISTORY_PACKETS: u16 = 1024;
/// The ceiling: 8192 full packets are ~9 MB, enough for a second at 70 Mbit/s.
const MAX_HISTORY_PACKETS: u16 = 8192;

/// Packets the NACK responder keeps per stream for video of `width`x`height` at `fps`: one
/// second at the peak rate such video can reach ([`PEAK_BITS_PER_PIXEL`], full packets),
/// rounded up to a power of two (the stack's ring needs one), 1024 to 8192.
pub(crate) fn nack_history_packets(width: u32, height: u32, fps: u32) -> u16 {
    let bits_per_second =
        f64::from(width) * f64::from(height) * f64::from(fps.max(1)) * PEAK_BITS_PER_PIXEL;
    let packets = (bits_per_second * HISTORY_SECONDS / 8.0 / FULL_PAYLOAD_BYTES).ceil();
    let packets = packets.clamp(1.0, f64::from(MAX_HISTORY_PACKETS)) as u16;
    packets
        .next_power_of_two()
        .clamp(MIN_HISTORY_PACKETS, MAX_HISTORY_PACKETS)
}

/// Retransmitted packets and their payload bytes, all streams of a connection.
#[derive(Debug, Default)]
pub(crate) struct Retransmitted {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Of which sent in RTX, which the stack's counters of the media streams leave out.
    rtx_packets: AtomicU64,
    rtx_bytes: AtomicU64,
}

impl Retransmitted {
    /// Packets resent on request.
    pub(crate) fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Their payload bytes (for RTX, the payload of the original packet).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Of [`packets`](Self::packets), those sent in RTX (on their own SSRC): the stack counts
    /// only the media SSRCs as sent, so these are what W3C's `packetsSent` (which includes
    /// retransmissions) lacks.
    pub(crate) fn rtx_packets(&self) -> u64 {
        self.rtx_packets.load(Ordering::Relaxed)
    }

    /// Their payload bytes (each without the 2 bytes of original sequence number).
    pub(crate) fn rtx_bytes(&self) -> u64 {
        self.rtx_bytes.load(Ordering::Relaxed)
    }

    fn count(&self, payload_bytes: usize, rtx: bool) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(payload_bytes as u64, Ordering::Relaxed);
        if rtx {
            self.rtx_packets.fetch_add(1, Ordering::Relaxed);
            self.rtx_bytes
                .fetch_add(payload_bytes as u64, Ordering::Relaxed);
        }
    }
}

/// The interceptor that feeds a [`Retransmitted`]; it passes every packet on unchanged.
pub(crate) struct RetransmissionMeter {
    counts: Arc<Retransmitted>,
    /// The RTX payload types of our streams: their payloads start with the original
    /// sequence number (2 bytes), which is not payload of the original packet.
    rtx_payload_types: Vec<u8>,
}

impl RetransmissionMeter {
    pub(crate) fn new(counts: Arc<Retransmitted>) -> Self {
        Self {
            counts,
            rtx_payload_types: Vec::new(),
        }
    }
}

impl Watch for RetransmissionMeter {
    fn outbound(&mut self, msg: &mut TaggedPacket) {
        if let Packet::Rtp(packet) = &msg.message.packet {
            if msg.message.has(&Attribute::Retransmission) {
                let rtx = self.rtx_payload_types.contains(&packet.header.payload_type);
                let osn = if rtx { 2 } else { 0 };
                self.counts
                    .count(packet.payload.len().saturating_sub(osn), rtx);
            }
        }
    }

    fn local_stream(&mut self, info: &StreamInfo) {
        let nack = info
            .rtcp_feedback
            .iter()
            .any(|f| f.typ == "nack" && f.parameter.is_empty());
        tracing::debug!(
            ssrc = info.ssrc,
            mime = %info.mime_type,
            nack,
            rtx_ssrc = ?info.ssrc_rtx,
            rtx_pt = ?info.payload_type_rtx,
            "sending stream bound"
        );
        if let (Some(_), Some(pt)) = (info.ssrc_rtx, info.payload_type_rtx) {
            if !self.rtx_payload_types.contains(&pt) {
                self.rtx_payload_types.push(pt);
            }
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
    use std::time::Instant;

    fn rtp(pt: u8, payload: usize, retransmission: bool) -> TaggedPacket {
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: pt,
                ..Default::default()
            },
            payload: vec![0; payload].into(),
        };
        let message = AttributedPacket::new(Packet::Rtp(packet));
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: if retransmission {
                message.with(Attribute::Retransmission)
            } else {
                message
            },
        }
    }

    #[test]
    fn the_history_holds_a_second_of_hard_content_within_bounds() {
        // Small pictures keep the stack's default: 4 s at the 2 Mbit/s they might reach.
        assert_eq!(nack_history_packets(320, 240, 30), 1024);
        // 640x480@30: up to ~9 Mbit/s, ~1050 full packets a second.
        assert_eq!(nack_history_packets(640, 480, 30), 2048);
        assert_eq!(nack_history_packets(1280, 720, 30), 4096);
        // Bounded above, whatever the size or rate.
        assert_eq!(nack_history_packets(1920, 1080, 60), 8192);
        assert_eq!(nack_history_packets(7680, 4320, 120), 8192);
        // Nonsense in, a valid size out.
        assert_eq!(nack_history_packets(0, 0, 0), 1024);
        for (w, h, fps) in [(160, 120, 5), (1024, 768, 25), (2560, 1440, 30)] {
            let n = nack_history_packets(w, h, fps);
            assert!(n.is_power_of_two() && (1024..=8192).contains(&n), "{n}");
            // Always at least a second at the peak rate, unless capped.
            let per_second = f64::from(w * h * fps) * PEAK_BITS_PER_PIXEL / 8.0 / 1100.0;
            assert!(f64::from(n) >= per_second.min(8192.0), "{w}x{h}@{fps}: {n}");
        }
    }

    #[test]
    fn counts_only_tagged_retransmissions_without_the_rtx_sequence_number() {
        let counts = Arc::new(Retransmitted::default());
        let mut meter = Tap::new(RetransmissionMeter::new(counts.clone()));
        meter.bind_local_stream(&StreamInfo {
            ssrc: 1,
            ssrc_rtx: Some(2),
            payload_type: 96,
            payload_type_rtx: Some(97),
            ..Default::default()
        });
        for packet in [
            rtp(96, 1000, false), // an original
            rtp(96, 800, true),   // resent as it was
            rtp(97, 502, true),   // resent in RTX: 2 bytes of original sequence number
        ] {
            meter.handle_write(packet).unwrap();
        }
        assert_eq!((counts.packets(), counts.bytes()), (2, 1300));
        assert_eq!((counts.rtx_packets(), counts.rtx_bytes()), (1, 500));
        // Everything passes on, in order.
        let sizes: Vec<_> = std::iter::from_fn(|| meter.poll_write())
            .map(|p| match p.message.packet {
                Packet::Rtp(p) => p.payload.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, [1000, 800, 502]);
    }
}
