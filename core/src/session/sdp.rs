//! The codecs we offer and what an SDP answer says about them.

use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters};

use crate::settings::VideoCodec;

const VP8_PT: u8 = 96;
const VP8_RTX_PT: u8 = 97;
const H264_PT: u8 = 102;
const H264_RTX_PT: u8 = 103;
const OPUS_PT: u8 = 111;

fn vp8() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type: VP8_PT,
    }
}

/// H.264 constrained baseline, level 3.1, in non-interleaved mode (FU-A and STAP-A): the one
/// H.264 flavour every WebRTC endpoint decodes.
fn h264() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_H264.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
                .into(),
            rtcp_feedback: vec![],
        },
        payload_type: H264_PT,
    }
}

pub(super) fn video_codec(codec: VideoCodec) -> RTCRtpCodecParameters {
    match codec {
        VideoCodec::Vp8 => vp8(),
        VideoCodec::H264 => h264(),
    }
}

/// The RTX (RFC 4588) payload type that carries retransmissions of `codec`: offered as
/// `a=rtpmap:PT rtx/90000` with `a=fmtp:PT apt=<codec's PT>`. A receiver that answers it gets
/// retransmissions on their own SSRC (the `FID` group of the offer); one that does not, gets
/// them as copies of the original packets.
pub(super) fn rtx(codec: VideoCodec) -> RTCRtpCodecParameters {
    let (pt, apt) = match codec {
        VideoCodec::Vp8 => (VP8_RTX_PT, VP8_PT),
        VideoCodec::H264 => (H264_RTX_PT, H264_PT),
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_RTX.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: format!("apt={apt}"),
            rtcp_feedback: vec![],
        },
        payload_type: pt,
    }
}

pub(super) fn opus() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.into(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
            rtcp_feedback: vec![],
        },
        payload_type: OPUS_PT,
    }
}

/// The encoding name of a codec as SDP's `a=rtpmap` spells it: `VP8`, `H264`, `opus`.
pub(super) fn codec_name(codec: &RTCRtpCodecParameters) -> &str {
    let mime = &codec.rtp_codec.mime_type;
    mime.split_once('/').map_or(mime.as_str(), |(_, name)| name)
}

/// Whether an SDP answer accepts a `kind` section that lists a payload type mapped to the
/// encoding `name`. Port 0 rejects a section (RFC 3264 §6), unless it is marked `bundle-only`
/// (how RFC 8843 answers the bundled sections after the first one).
pub(super) fn answer_accepts(sdp: &str, kind: &str, name: &str) -> bool {
    let sections = sections(sdp);
    sections.iter().any(|(fields, attributes)| {
        let [media, port, _proto, formats @ ..] = fields.as_slice() else {
            return false;
        };
        *media == kind
            && (*port != "0" || attributes.contains(&"a=bundle-only"))
            && formats.iter().any(|pt| {
                attributes.iter().any(|a| {
                    a.strip_prefix("a=rtpmap:")
                        .and_then(|rest| rest.split_once(' '))
                        .is_some_and(|(mapped, encoding)| {
                            mapped == *pt
                                && encoding
                                    .split('/')
                                    .next()
                                    .is_some_and(|e| e.eq_ignore_ascii_case(name))
                        })
                })
            })
    })
}

/// An SDP's media sections: the fields of each `m=` line, with the lines under it.
fn sections(sdp: &str) -> Vec<(Vec<&str>, Vec<&str>)> {
    let mut sections = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            // The media comes right after `m=` (RFC 8866): `m= video` names none.
            let fields: Vec<&str> = if m.starts_with(char::is_whitespace) {
                Vec::new()
            } else {
                m.split_whitespace().collect()
            };
            sections.push((fields, Vec::new()));
        } else if let Some((_, attributes)) = sections.last_mut() {
            attributes.push(line);
        }
    }
    sections
}

/// The value of the first attribute `a=<name>:` of the first `kind` section, if any.
pub(super) fn section_attribute(sdp: &str, kind: &str, name: &str) -> Option<String> {
    let prefix = format!("a={name}:");
    sections(sdp)
        .into_iter()
        .find(|(fields, _)| fields.first() == Some(&kind))?
        .1
        .into_iter()
        .find_map(|a| a.strip_prefix(prefix.as_str()).map(str::to_owned))
}

/// The number of `a=candidate` lines of an SDP.
pub(super) fn candidate_count(sdp: &str) -> usize {
    sdp.lines()
        .filter(|l| l.trim_start().starts_with("a=candidate:"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::{answer_accepts, section_attribute};

    #[test]
    fn an_attribute_is_read_from_the_first_section_of_its_kind() {
        let sdp = "v=0\r\na=mid:x\r\nm=audio 9 RTP 111\r\na=mid:1\r\n\
                   m=video 9 RTP 96\r\na=mid:0\r\na=simulcast:recv f;h;q\r\n";
        assert_eq!(section_attribute(sdp, "video", "mid").as_deref(), Some("0"));
        assert_eq!(section_attribute(sdp, "audio", "mid").as_deref(), Some("1"));
        assert_eq!(
            section_attribute(sdp, "video", "simulcast").as_deref(),
            Some("recv f;h;q")
        );
        assert_eq!(section_attribute(sdp, "audio", "simulcast"), None);
        assert_eq!(section_attribute(sdp, "application", "mid"), None);
    }

    #[test]
    fn an_answer_must_accept_the_offered_codec() {
        let answer = |video: &str| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{video}\
                 m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
            )
        };
        let h264 = answer(
            "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\na=rtpmap:102 H264/90000\r\n\
             a=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n",
        );
        assert!(answer_accepts(&h264, "video", "H264"));
        assert!(!answer_accepts(&h264, "video", "VP8"));
        assert!(answer_accepts(&h264, "audio", "opus"));
        // The server rejected the section (port 0), or left the codec out of its formats.
        let rejected = answer("m=video 0 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n");
        assert!(!answer_accepts(&rejected, "video", "H264"));
        let other = answer("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:102 H264/90000\r\n");
        assert!(!answer_accepts(&other, "video", "H264"));
        // A bundled section answered RFC 8843's way: port 0, but bundle-only.
        let bundled = answer(
            "m=video 0 UDP/TLS/RTP/SAVPF 102\r\na=bundle-only\r\na=rtpmap:102 H264/90000\r\n",
        );
        assert!(answer_accepts(&bundled, "video", "H264"));
        // No video section at all.
        assert!(!answer_accepts(&answer(""), "video", "H264"));
        // A media line with a space before the media names none (a fuzzer's find).
        let spaced = answer("m= video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n");
        assert!(!answer_accepts(&spaced, "video", "H264"));
    }
}
