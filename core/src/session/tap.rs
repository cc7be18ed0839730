//! The plumbing every interceptor of ours shares: packets queue through unchanged in both
//! directions, and a [`Watch`] looks at them (or narrows what goes on inbound) on the way.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Interceptor, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;

/// What one interceptor of ours does with the packets passing it.
pub(super) trait Watch: Send + Sync {
    /// An inbound packet (from the network towards the application); what is returned goes
    /// on, `None` stops it here.
    fn inbound(&mut self, packet: TaggedPacket) -> Option<TaggedPacket> {
        Some(packet)
    }

    /// An outbound packet, on its way to the wire; it goes on as this leaves it.
    fn outbound(&mut self, _packet: &mut TaggedPacket) {}

    /// A sending stream was bound (its SSRCs, payload types, feedback).
    fn local_stream(&mut self, _info: &StreamInfo) {}
}

/// The report blocks an RTCP packet carries about the streams we send: a receiver report's,
/// or a sender report's (a peer that sends as well puts them there). None for any other.
pub(super) fn report_blocks(packet: &dyn rtc::rtcp::Packet) -> Option<&[ReceptionReport]> {
    let any = packet.as_any();
    if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
        Some(&rr.reports)
    } else {
        any.downcast_ref::<SenderReport>().map(|sr| &sr.reports[..])
    }
}

/// An interceptor made of a [`Watch`].
pub(super) struct Tap<W> {
    pub(super) watch: W,
    inbound: VecDeque<TaggedPacket>,
    outbound: VecDeque<TaggedPacket>,
}

impl<W: Watch> Tap<W> {
    pub(super) fn new(watch: W) -> Self {
        Tap {
            watch,
            inbound: VecDeque::new(),
            outbound: VecDeque::new(),
        }
    }
}

impl<W: Watch> rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for Tap<W> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.inbound.extend(self.watch.inbound(msg));
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inbound.pop_front()
    }

    fn handle_write(&mut self, mut msg: TaggedPacket) -> std::result::Result<(), Self::Error> {
        self.watch.outbound(&mut msg);
        self.outbound.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.outbound.pop_front()
    }
}

impl<W: Watch> Interceptor for Tap<W> {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.watch.local_stream(info);
    }
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}
