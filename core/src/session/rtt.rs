//! Round-trip time and loss from RTCP, as RFC 3550 §6.4.1 defines them.
//!
//! The receiver's report blocks echo the middle 32 bits of our last sender report's NTP time
//! (LSR) and how long they held it (DLSR). Remembering when each of our sender reports left
//! gives the round trip: arrival of the report − departure of that SR − DLSR. We time both ends
//! on our own clock, so the NTP clock the SR carries never has to agree with anything.
//!
//! The meter sits just above the pacer: on the write leg it sees the sender reports the
//! generators above it emit, on the read leg the receiver reports as they arrive.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rtc::interceptor::{Packet, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;

use super::tap::Watch;

/// Sender reports remembered; receivers answer the latest few.
const REMEMBERED_REPORTS: usize = 16;

/// What the receiver's reports told us, shared with whoever reads stats.
#[derive(Debug, Default)]
pub(crate) struct RtcpFeedback {
    state: Mutex<FeedbackState>,
}

#[derive(Debug, Default)]
struct FeedbackState {
    /// (LSR, when that sender report left), oldest first.
    sent_reports: VecDeque<(u32, Instant)>,
    /// The latest round trip measured.
    rtt: Option<Duration>,
    /// Cumulative loss the receiver reported, per SSRC of ours.
    lost: HashMap<u32, u32>,
}

impl RtcpFeedback {
    /// The latest round-trip time, if a receiver report answered one of our sender reports.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.lock().rtt
    }

    /// Packets the receiver reported lost, all our streams.
    pub(crate) fn packets_lost(&self) -> u64 {
        self.lock().lost.values().map(|&n| u64::from(n)).sum()
    }

    fn lock(&self) -> MutexGuard<'_, FeedbackState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sender_report_sent(&self, report: &SenderReport, at: Instant) {
        let mut state = self.lock();
        if state.sent_reports.len() == REMEMBERED_REPORTS {
            state.sent_reports.pop_front();
        }
        state
            .sent_reports
            .push_back((middle_32_bits(report.ntp_time), at));
    }

    fn receiver_report_arrived(&self, report: &ReceiverReport, at: Instant) {
        let mut state = self.lock();
        for block in &report.reports {
            // An SSRC we never announced is not ours to count.
            if !state.lost.contains_key(&block.ssrc) && state.lost.len() >= 64 {
                continue;
            }
            state.lost.insert(block.ssrc, block.total_lost);
            if block.last_sender_report == 0 {
                continue; // no SR received yet (RFC 3550: LSR 0)
            }
            let sent = state
                .sent_reports
                .iter()
                .rev()
                .find(|(lsr, _)| *lsr == block.last_sender_report)
                .map(|(_, at)| *at);
            if let Some(sent) = sent {
                let held = Duration::from_secs_f64(f64::from(block.delay) / 65536.0);
                if let Some(rtt) = at
                    .checked_duration_since(sent)
                    .and_then(|d| d.checked_sub(held))
                {
                    state.rtt = Some(rtt);
                }
            }
        }
    }
}

/// NTP's middle 32 bits: the LSR field of RFC 3550.
fn middle_32_bits(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// The interceptor that feeds an [`RtcpFeedback`]; it passes every packet on unchanged.
pub(crate) struct RttMeter {
    feedback: Arc<RtcpFeedback>,
}

impl RttMeter {
    pub(crate) fn new(feedback: Arc<RtcpFeedback>) -> Self {
        Self { feedback }
    }
}

impl Watch for RttMeter {
    fn inbound(&mut self, msg: TaggedPacket) -> Option<TaggedPacket> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                if let Some(rr) = packet.as_any().downcast_ref::<ReceiverReport>() {
                    self.feedback.receiver_report_arrived(rr, msg.now);
                } else if let Some(sr) = packet.as_any().downcast_ref::<SenderReport>() {
                    // A sender report may carry report blocks about our streams too.
                    let rr = ReceiverReport {
                        ssrc: sr.ssrc,
                        reports: sr.reports.clone(),
                        ..Default::default()
                    };
                    self.feedback.receiver_report_arrived(&rr, msg.now);
                }
            }
        }
        Some(msg)
    }

    fn outbound(&mut self, msg: &mut TaggedPacket) {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                if let Some(sr) = packet.as_any().downcast_ref::<SenderReport>() {
                    self.feedback.sender_report_sent(sr, msg.now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::reception_report::ReceptionReport;

    fn sr(ntp: u64) -> SenderReport {
        SenderReport {
            ssrc: 7,
            ntp_time: ntp,
            ..Default::default()
        }
    }

    fn rr(lsr: u32, dlsr: u32, lost: u32) -> ReceiverReport {
        ReceiverReport {
            ssrc: 9,
            reports: vec![ReceptionReport {
                ssrc: 7,
                last_sender_report: lsr,
                delay: dlsr,
                total_lost: lost,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn rtt_is_arrival_minus_departure_minus_the_receivers_delay() {
        let feedback = RtcpFeedback::default();
        let t0 = Instant::now();
        let ntp = 0x1234_5678_9abc_def0_u64;
        feedback.sender_report_sent(&sr(ntp), t0);
        feedback.sender_report_sent(&sr(ntp + (1 << 32)), t0 + Duration::from_secs(1));
        // The receiver held the first SR 0.5 s (32768/65536) and its report came back 540 ms
        // after the SR left: 40 ms of round trip.
        let answer = rr(middle_32_bits(ntp), 32768, 3);
        feedback.receiver_report_arrived(&answer, t0 + Duration::from_millis(540));
        let rtt = feedback.rtt().unwrap();
        assert!((rtt.as_secs_f64() - 0.040).abs() < 1e-3, "{rtt:?}");
        assert_eq!(feedback.packets_lost(), 3);
    }

    #[test]
    fn reports_without_a_known_sender_report_leave_rtt_unknown() {
        let feedback = RtcpFeedback::default();
        feedback.receiver_report_arrived(&rr(0, 0, 0), Instant::now());
        feedback.receiver_report_arrived(&rr(42, 10, 1), Instant::now());
        assert_eq!(feedback.rtt(), None);
        assert_eq!(feedback.packets_lost(), 1);
        // A delay longer than the time since the SR (a confused receiver) is ignored.
        let t0 = Instant::now();
        feedback.sender_report_sent(&sr(1 << 16), t0);
        feedback.receiver_report_arrived(&rr(1, 65536 * 5, 0), t0 + Duration::from_millis(10));
        assert_eq!(feedback.rtt(), None);
    }
}
