//! A connected sending peer: ICE restarts, its stats, closing.

use std::sync::Arc;
use std::time::Instant;

use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::statistics::StatsSelector;
use tokio::sync::watch;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::peer::{webrtc_error, Bridges};
use super::restart;
use super::retransmit::Retransmitted;
use super::rtt::RtcpFeedback;
use crate::error::{Error, ErrorCode, Result};

/// What the sending side learns from RTCP and its own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransportStats {
    /// RTP packets sent, all tracks, retransmissions included.
    pub packets_sent: u64,
    /// RTP payload bytes sent, all tracks, retransmissions included.
    pub bytes_sent: u64,
    /// Round-trip time from the receiver's reports, in milliseconds (0 until one arrives).
    pub rtt_ms: f64,
    /// Packets the receiver reported lost.
    pub packets_lost: i64,
    /// RTP packets resent because the receiver asked (NACK), all tracks.
    pub retransmitted_packets_sent: u64,
    /// Their payload bytes.
    pub retransmitted_bytes_sent: u64,
}

/// A connected sending peer.
pub(crate) struct Sending {
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) feedback: Arc<RtcpFeedback>,
    pub(super) retransmitted: Arc<Retransmitted>,
    pub(super) state: watch::Receiver<RTCPeerConnectionState>,
    /// An ICE restart offer waiting for the server's answer.
    pub(super) pending_restart: Option<RTCSessionDescription>,
    pub(super) writers: Vec<tokio::task::JoinHandle<()>>,
    /// TURN over TCP/TLS, if the path uses it; closed after the connection.
    pub(super) _bridges: Bridges,
}

impl Sending {
    /// Follows the connection state (for losing connectivity after publishing).
    pub(crate) fn watch_state(&self) -> watch::Receiver<RTCPeerConnectionState> {
        self.state.clone()
    }

    /// Prepares an ICE restart: an offer with fresh credentials, returned as the SDP
    /// fragment a WHIP `PATCH` carries (RFC 9725 §4.4.2). The connection in use is untouched
    /// until [`Sending::apply_restart_answer`]: a server that refuses the restart leaves the
    /// old path free to come back by itself.
    pub(crate) async fn restart_offer(&mut self) -> Result<String> {
        let failed = |what: &str, e: webrtc::error::Error| {
            webrtc_error(ErrorCode::CreatePeerConnectionFailed, what, e)
        };
        self.pc
            .restart_ice()
            .await
            .map_err(|e| failed("ICE restart", e))?;
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| failed("ICE restart offer", e))?;
        // The sockets stay, so do their candidates: the current ones go with the new
        // credentials when the offer has none yet (gathering anew starts once it is applied).
        let current = self.pc.local_description().await.map(|d| d.sdp);
        let fragment = restart::offer_fragment(&offer.sdp, current.as_deref())
            .ok_or_else(|| Error::internal("the ICE restart offer has no ICE credentials"))?;
        self.pending_restart = Some(offer);
        Ok(fragment)
    }

    /// Completes an ICE restart with the server's SDP fragment: the restart offer is applied,
    /// then the answer in effect with the server's new credentials and candidates.
    pub(crate) async fn apply_restart_answer(&mut self, fragment: &str) -> Result<()> {
        let offer = self
            .pending_restart
            .take()
            .ok_or_else(|| Error::internal("no ICE restart under way"))?;
        let current = self
            .pc
            .remote_description()
            .await
            .ok_or_else(|| Error::internal("no remote description to restart from"))?;
        let sdp = restart::answer_with_fragment(&current.sdp, fragment).ok_or_else(|| {
            Error::new(
                ErrorCode::UnexpectedServerResponse,
                "the ICE restart answer carries no ICE credentials",
            )
        })?;
        let answer = RTCSessionDescription::answer(sdp).map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the ICE restart answer",
                e,
            )
        })?;
        self.pc.set_local_description(offer).await.map_err(|e| {
            webrtc_error(
                ErrorCode::CreatePeerConnectionFailed,
                "the ICE restart offer cannot be applied",
                e,
            )
        })?;
        self.pc.set_remote_description(answer).await.map_err(|e| {
            webrtc_error(
                ErrorCode::SetRemoteDescriptionFailed,
                "the ICE restart answer cannot be applied",
                e,
            )
        })
    }

    /// Counters from the stack's stats; round trip and loss from the receiver's reports.
    pub(crate) async fn stats(&self) -> TransportStats {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None).await;
        let mut stats = TransportStats::default();
        for out in report.outbound_rtp_streams() {
            stats.packets_sent += out.sent_rtp_stream_stats.packets_sent;
            stats.bytes_sent += out.sent_rtp_stream_stats.bytes_sent;
        }
        stats.rtt_ms = self
            .feedback
            .rtt()
            .map_or(0.0, |rtt| rtt.as_secs_f64() * 1000.0);
        stats.packets_lost = self.feedback.packets_lost() as i64;
        // The stack counts what leaves on the media SSRCs (plain retransmissions included);
        // retransmissions in RTX leave on SSRCs of their own.
        stats.packets_sent += self.retransmitted.rtx_packets();
        stats.bytes_sent += self.retransmitted.rtx_bytes();
        stats.retransmitted_packets_sent = self.retransmitted.packets();
        stats.retransmitted_bytes_sent = self.retransmitted.bytes();
        stats
    }

    /// Stops the writers and closes the connection.
    pub(crate) async fn close(self) {
        for writer in &self.writers {
            writer.abort();
        }
        let _ = self.pc.close().await;
    }
}
