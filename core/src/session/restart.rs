//! ICE restart over WHIP (RFC 9725 §4.4.2): the offer's new credentials and candidates go to
//! the server as an SDP fragment (`application/trickle-ice-sdpfrag`, RFC 8840), and the
//! server's fragment replaces the credentials and candidates of the answer in effect.

/// ICE credentials and candidates of an SDP or SDP fragment.
#[derive(Debug, Default, PartialEq)]
struct IceLines<'a> {
    ufrag: Option<&'a str>,
    pwd: Option<&'a str>,
    candidates: Vec<&'a str>,
}

fn ice_lines(sdp: &str) -> IceLines<'_> {
    let mut found = IceLines::default();
    for line in sdp.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
            found.ufrag.get_or_insert(v);
        } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
            found.pwd.get_or_insert(v);
        } else if line.starts_with("a=candidate:") && !found.candidates.contains(&line) {
            found.candidates.push(line);
        }
    }
    found
}

/// The fragment of an ICE restart offer: credentials, then the first media section's line
/// and mid (bundled: one transport serves every section) with the candidates — the offer's
/// own, or those of `current` (the description in use) when it has none.
pub(crate) fn offer_fragment(offer: &str, current: Option<&str>) -> Option<String> {
    let mut ice = ice_lines(offer);
    let (ufrag, pwd) = (ice.ufrag?, ice.pwd?);
    if ice.candidates.is_empty() {
        ice.candidates = current.map(|c| ice_lines(c).candidates).unwrap_or_default();
    }
    let mut fragment = format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n");
    let mut lines = offer.lines().map(str::trim);
    if let Some(m) = lines.find(|l| l.starts_with("m=")) {
        fragment.push_str(m);
        fragment.push_str("\r\n");
        if let Some(mid) = lines
            .take_while(|l| !l.starts_with("m="))
            .find(|l| l.starts_with("a=mid:"))
        {
            fragment.push_str(mid);
            fragment.push_str("\r\n");
        }
    }
    for candidate in &ice.candidates {
        fragment.push_str(candidate);
        fragment.push_str("\r\n");
    }
    fragment.push_str("a=end-of-candidates\r\n");
    Some(fragment)
}

/// `answer` with the ICE credentials and candidates of the server's `fragment` in every
/// media section; None when the fragment has no credentials.
pub(crate) fn answer_with_fragment(answer: &str, fragment: &str) -> Option<String> {
    let ice = ice_lines(fragment);
    let (ufrag, pwd) = (ice.ufrag?, ice.pwd?);
    let mut out = String::with_capacity(answer.len());
    let mut in_media = false;
    let flush_candidates = |out: &mut String| {
        for candidate in &ice.candidates {
            out.push_str(candidate);
            out.push_str("\r\n");
        }
        out.push_str("a=end-of-candidates\r\n");
    };
    for line in answer.lines().map(str::trim_end) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("m=") {
            if in_media {
                flush_candidates(&mut out);
            }
            in_media = true;
        }
        let replaced = if line.starts_with("a=ice-ufrag:") {
            format!("a=ice-ufrag:{ufrag}")
        } else if line.starts_with("a=ice-pwd:") {
            format!("a=ice-pwd:{pwd}")
        } else if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
            continue;
        } else {
            line.to_owned()
        };
        out.push_str(&replaced);
        out.push_str("\r\n");
    }
    if in_media {
        flush_candidates(&mut out);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:newU\r\n\
        a=ice-pwd:newPasswordnewPassword\r\na=mid:0\r\n\
        a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:newU\r\n\
        a=ice-pwd:newPasswordnewPassword\r\na=mid:1\r\n\
        a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n";

    #[test]
    fn the_offer_fragment_carries_credentials_one_section_and_its_candidates() {
        assert_eq!(
            offer_fragment(OFFER, None).unwrap(),
            "a=ice-ufrag:newU\r\na=ice-pwd:newPasswordnewPassword\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
             a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n\
             a=end-of-candidates\r\n"
        );
        assert_eq!(
            offer_fragment("v=0\r\nm=video 9 x 96\r\n", Some(OFFER)),
            None
        );
        // An offer without candidates borrows those in use.
        let bare = OFFER.replace(
            "a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n",
            "",
        );
        let fragment = offer_fragment(&bare, Some(OFFER)).unwrap();
        assert!(fragment.contains("a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n"));
    }

    #[test]
    fn the_server_fragment_replaces_credentials_and_candidates_everywhere() {
        let answer = "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:old\r\n\
            a=ice-pwd:oldpwd\r\na=mid:0\r\na=candidate:9 1 udp 1 10.0.0.2 6000 typ host\r\n\
            a=end-of-candidates\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:old\r\n\
            a=ice-pwd:oldpwd\r\na=mid:1\r\n";
        let fragment = "a=ice-ufrag:srv2\r\na=ice-pwd:serverpassword2\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
            a=candidate:7 1 udp 5 10.0.0.2 6000 typ host\r\na=end-of-candidates\r\n";
        let rewritten = answer_with_fragment(answer, fragment).unwrap();
        let ice = ice_lines(&rewritten);
        assert_eq!(ice.ufrag, Some("srv2"));
        assert_eq!(ice.pwd, Some("serverpassword2"));
        assert_eq!(
            ice.candidates,
            ["a=candidate:7 1 udp 5 10.0.0.2 6000 typ host"]
        );
        assert!(!rewritten.contains("old"), "{rewritten}");
        // Each section keeps its mid and gets the candidates and the end marker.
        assert_eq!(rewritten.matches("a=end-of-candidates").count(), 2);
        assert_eq!(rewritten.matches("a=candidate:7").count(), 2);
        assert!(rewritten.contains("a=mid:1\r\n"));
        assert_eq!(answer_with_fragment(answer, "a=candidate:1 x\r\n"), None);
    }
}
