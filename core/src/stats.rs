//! The publisher's counters, as every language reads them. C receives this struct as it is:
//! it is `#[repr(C)]`, and the C header declares it (as `lp_publisher_stats`) from this file,
//! which cbindgen reads on its own; so this file holds nothing else.

/// Counters of a publisher. The sending figures cover the current stream (zero when not
/// published); transport figures are at most a second old.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PublisherStats {
    /// Video frames the video source produced.
    pub video_frames_captured: u64,
    /// 10 ms audio frames the audio source produced.
    pub audio_frames_captured: u64,
    /// Video frames encoded and sent.
    pub video_frames_sent: u64,
    /// Of which keyframes.
    pub video_keyframes_sent: u64,
    /// Audio packets (20 ms each) encoded and sent.
    pub audio_packets_sent: u64,
    /// RTP packets sent, retransmissions included.
    pub packets_sent: u64,
    /// RTP payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Send bitrate over the last second, bit/s.
    pub bitrate_bps: u64,
    /// Round-trip time from the receiver's RTCP reports, ms (0 before the first report).
    pub rtt_ms: f64,
    /// Packets the receiver reported lost.
    pub packets_lost: i64,
    /// RTP packets resent because the receiver reported them lost (NACK), W3C
    /// `retransmittedPacketsSent`.
    pub retransmitted_packets_sent: u64,
    /// Payload bytes of those packets, W3C `retransmittedBytesSent`.
    pub retransmitted_bytes_sent: u64,
    /// What the video encoder is asked for now, bit/s (W3C `targetBitrate`; 0 without video
    /// or before publishing).
    pub target_bitrate_bps: u64,
    /// What the path is estimated to carry for all our media, bit/s (W3C
    /// `availableOutgoingBitrate`; 0 before publishing).
    pub available_outgoing_bitrate_bps: u64,
    /// The width video is sent at now (0 before the first frame).
    pub frame_width: u32,
    /// The height video is sent at now (0 before the first frame).
    pub frame_height: u32,
    /// Video frames encoded over the last second.
    pub frames_per_second: f64,
    /// Why video is sent below the source's size or frame rate (W3C
    /// `qualityLimitationReason`).
    pub quality_limitation_reason: QualityLimitation,
}

/// Why video is sent below the source's size or frame rate, as W3C's
/// `RTCQualityLimitationReason` (`"none"`, `"bandwidth"`, `"cpu"`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QualityLimitation {
    /// It is not.
    #[default]
    None,
    /// The path carries too little.
    Bandwidth,
    /// The encoder cannot keep up.
    Cpu,
}

impl QualityLimitation {
    /// Its W3C name: `"none"`, `"bandwidth"` or `"cpu"`.
    pub fn as_str(self) -> &'static str {
        match self {
            QualityLimitation::None => "none",
            QualityLimitation::Bandwidth => "bandwidth",
            QualityLimitation::Cpu => "cpu",
        }
    }
}
