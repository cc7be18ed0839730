//! A WHIP server's 201 to our offer: `Location`, `Content-Type` and `Link` headers, and the
//! SDP answer as the session reads it before the WebRTC stack applies it.
//!
//! Input: the endpoint URL on the first line, then `Name: value` header lines, an empty
//! line, and the body (as a server's response reads).

#![no_main]

use libfuzzer_sys::fuzz_target;
use libpublisher::fuzzing::{ice_url, read_answer, whip_created};
use libpublisher::IceServer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (endpoint, rest) = text.split_once('\n').unwrap_or((text, ""));
    let endpoint = endpoint.trim_end_matches('\r');
    let (head, body) = rest
        .split_once("\r\n\r\n")
        .or_else(|| rest.split_once("\n\n"))
        .unwrap_or((rest, ""));
    let headers: Vec<(&[u8], &[u8])> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().as_bytes(), v.trim().as_bytes()))
        .collect();

    if let Some(created) = whip_created(endpoint, &headers, body) {
        if let Ok((answer, resource, stream_id)) = &created.answer {
            // What is taken is an SDP answer, and a resource the token may go to.
            assert!(answer.trim_start().starts_with("v="));
            let resource = url::Url::parse(resource).expect("the resource is a URL");
            let endpoint = url::Url::parse(endpoint).unwrap();
            match endpoint.scheme() {
                "https" => assert_eq!(resource.scheme(), "https", "{resource}"),
                _ => assert!(matches!(resource.scheme(), "http" | "https"), "{resource}"),
            }
            assert!(!stream_id.is_empty());
        }
        // Every ICE server taken from a Link header is one the host could have given.
        for server in &created.ice_servers {
            let again = IceServer::new(
                server.urls.iter().cloned(),
                server.username.as_deref(),
                server.credential.as_deref(),
            )
            .expect("an advertised ICE server passes the host's checks");
            assert_eq!(&again, server);
            for url in &server.urls {
                ice_url(url).expect("an advertised ICE URL parses");
            }
        }
    }

    let reading = read_answer(body);
    for (kind, _, accepted) in &reading.accepts {
        if *accepted {
            assert!(body.contains(&format!("m={kind}")));
        }
    }
    for value in [&reading.simulcast, &reading.mid].into_iter().flatten() {
        assert!(!value.contains('\n'));
    }
    assert!(reading.candidates <= body.lines().count());
});
