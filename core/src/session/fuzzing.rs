//! What the fuzz targets in `fuzz/` reach of the session (the `fuzzing` feature): thin
//! wrappers over the code that reads what a server or a receiver sends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::interceptor::{Attribute, AttributedPacket, Packet, StreamInfo, TaggedPacket};
use rtc::peer_connection::sdp::RTCSessionDescription;

use super::bandwidth::BandwidthWatch;
use super::keyframe::KeyframeRequests;
use super::resume::ResumeSkip;
use super::retransmit::{NackFilter, RetransmissionMeter, Retransmitted};
use super::rtt::{RtcpFeedback, RttMeter};
use super::sdp::{answer_accepts, candidate_count, section_attribute};
use super::tap::Watch;
use crate::adapt::Adaptation;

pub use super::ice::fuzzing::*;
pub use super::janus::fuzzing::*;
pub use super::whip::fuzzing::*;

/// What a session reads in an SDP answer before and while applying it.
#[derive(Debug)]
pub struct AnswerReading {
    /// Whether the answer takes each (kind, codec) we may offer.
    pub accepts: Vec<(&'static str, &'static str, bool)>,
    /// The video section's `a=simulcast:` value.
    pub simulcast: Option<String>,
    /// The video section's `a=mid:` value.
    pub mid: Option<String>,
    /// Its `a=candidate` lines.
    pub candidates: usize,
    /// Whether the WebRTC stack parses it as SDP.
    pub parses: bool,
}

/// Reads an SDP answer as [`super::offer::Offer`] does.
pub fn read_answer(sdp: &str) -> AnswerReading {
    let accepts = [("video", "VP8"), ("video", "H264"), ("audio", "opus")]
        .into_iter()
        .map(|(kind, name)| (kind, name, answer_accepts(sdp, kind, name)))
        .collect();
    AnswerReading {
        accepts,
        simulcast: section_attribute(sdp, "video", "simulcast"),
        mid: section_attribute(sdp, "video", "mid"),
        candidates: candidate_count(sdp),
        parses: RTCSessionDescription::answer(sdp.to_owned()).is_ok(),
    }
}

/// Our sending streams in [`RtcpChain`]: video (with its RTX stream) and audio.
pub const VIDEO_SSRC: u32 = 1;
/// The video stream's RTX SSRC.
pub const VIDEO_RTX_SSRC: u32 = 2;
/// The audio stream's SSRC.
pub const AUDIO_SSRC: u32 = 3;

/// The interceptors of ours that RTCP from the receiver passes, as a stream with adaptation
/// builds them (`peer::build`), driven by hand: packets sent, RTCP heard, time passing.
pub struct RtcpChain {
    adaptation: Arc<Adaptation>,
    feedback: Arc<RtcpFeedback>,
    bandwidth: BandwidthWatch,
    rtt: RttMeter,
    meter: RetransmissionMeter,
    nacks: NackFilter,
    resume: ResumeSkip,
    keyframes: KeyframeRequests,
    now: Instant,
    /// Packets that came out of the chain inbound (what the stack's responders get).
    pub passed: u64,
}

/// Where a stream's adaptation stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// What video is asked to send.
    pub video_target_bps: u64,
    /// What the path is thought to carry.
    pub available_bps: u64,
    /// What the pacer lets out.
    pub pacing_bps: f64,
    /// The smoothed round trip the adaptation uses.
    pub rtt: Duration,
    /// The round trip the receiver's reports gave, if any.
    pub measured_rtt: Option<Duration>,
    /// Whether video is sent (not stopped by the audio-only fallback).
    pub sends_video: bool,
}

impl Default for RtcpChain {
    fn default() -> Self {
        Self::new()
    }
}

impl RtcpChain {
    /// A chain for a 900 kbit/s video stream that may rise to 2 Mbit/s, with audio and the
    /// audio-only fallback.
    pub fn new() -> Self {
        let adaptation = Arc::new(Adaptation::with_fallback(
            900_000.0,
            2_000_000.0,
            true,
            true,
        ));
        let feedback = Arc::new(RtcpFeedback::default());
        let mut chain = RtcpChain {
            bandwidth: BandwidthWatch::new(adaptation.clone()),
            rtt: RttMeter::new(feedback.clone()),
            meter: RetransmissionMeter::new(Arc::new(Retransmitted::default())),
            nacks: NackFilter::new(adaptation.clone()),
            resume: ResumeSkip::new(adaptation.clone()),
            keyframes: KeyframeRequests,
            adaptation,
            feedback,
            now: Instant::now(),
            passed: 0,
        };
        for info in [
            StreamInfo {
                ssrc: VIDEO_SSRC,
                ssrc_rtx: Some(VIDEO_RTX_SSRC),
                mime_type: "video/VP8".into(),
                ..Default::default()
            },
            StreamInfo {
                ssrc: AUDIO_SSRC,
                mime_type: "audio/opus".into(),
                ..Default::default()
            },
        ] {
            for watch in chain.watches() {
                watch.local_stream(&info);
            }
        }
        chain
    }

    /// The watches in the order of their slots (wire-most first).
    fn watches(&mut self) -> [&mut dyn Watch; 6] {
        [
            &mut self.bandwidth,
            &mut self.rtt,
            &mut self.meter,
            &mut self.nacks,
            &mut self.resume,
            &mut self.keyframes,
        ]
    }

    /// Lets `ms` milliseconds pass.
    pub fn advance(&mut self, ms: u32) {
        self.now += Duration::from_millis(u64::from(ms));
    }

    fn tagged(&self, packet: Packet) -> TaggedPacket {
        TaggedPacket {
            now: self.now,
            transport: Default::default(),
            message: AttributedPacket::new(packet),
        }
    }

    fn outbound(&mut self, mut msg: TaggedPacket) {
        for watch in self.watches().into_iter().rev() {
            watch.outbound(&mut msg);
        }
    }

    /// Sends an RTP packet of `payload` bytes on `ssrc` (a retransmission when
    /// `retransmission`).
    pub fn send_rtp(&mut self, ssrc: u32, seq: u16, payload: usize, retransmission: bool) {
        let mut packet = rtc::rtp::Packet::default();
        packet.header.ssrc = ssrc;
        packet.header.sequence_number = seq;
        packet.payload = Bytes::from(vec![0; payload]);
        let mut msg = self.tagged(Packet::Rtp(packet));
        if retransmission {
            msg.message.add(Attribute::Retransmission);
        }
        self.outbound(msg);
    }

    /// Sends an RTCP compound packet of ours (a sender report, for one); false when it is
    /// not RTCP.
    pub fn send_rtcp(&mut self, raw: &[u8]) -> bool {
        let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut Bytes::copy_from_slice(raw)) else {
            return false;
        };
        let msg = self.tagged(Packet::Rtcp(packets));
        self.outbound(msg);
        true
    }

    /// Hears an RTCP compound packet from the receiver, with the congestion controller's
    /// estimate when it gave one; false when it is not RTCP (the stack drops it).
    pub fn receive_rtcp(&mut self, raw: &[u8], controller_bps: Option<u32>) -> bool {
        let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut Bytes::copy_from_slice(raw)) else {
            return false;
        };
        let mut msg = Some(self.tagged(Packet::Rtcp(packets)));
        if let (Some(msg), Some(bps)) = (msg.as_mut(), controller_bps) {
            msg.message.add(Attribute::TargetBitrateChanged {
                bits_per_second: f64::from(bps),
            });
        }
        for watch in self.watches() {
            msg = msg.and_then(|m| watch.inbound(m));
        }
        if msg.is_some() {
            self.passed += 1;
        }
        true
    }

    /// What the encoder asks between frames: whether to send video, a skip, a keyframe.
    pub fn poll(&mut self) -> (bool, bool, bool) {
        let (video, _) = self.adaptation.poll_video(self.now);
        (
            video,
            self.adaptation.take_skip(),
            self.adaptation.take_keyframe(),
        )
    }

    /// Where the adaptation stands.
    pub fn figures(&self) -> Figures {
        Figures {
            video_target_bps: self.adaptation.video_target_bps(),
            available_bps: self.adaptation.available_bps(),
            pacing_bps: self.adaptation.pacing_bps(),
            rtt: self.adaptation.rtt(),
            measured_rtt: self.feedback.rtt(),
            sends_video: self.adaptation.sends_video(),
        }
    }
}
