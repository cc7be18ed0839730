//! STUN/TURN URLs, from the host's `ice_servers` or a WHIP server's `Link` headers.
//!
//! Input: the URL on the first line; a second and third line, when present, are the
//! username and the credential.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libpublisher::fuzzing::ice_url;
use libpublisher::IceServer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let url = lines.next().unwrap_or_default();
    let username = lines.next();
    let credential = lines.next();

    let parsed = ice_url(url);
    if let Ok(parts) = &parsed {
        assert!(!parts.host.is_empty());
        assert!(parts.port > 0);
        // The URL written back in its plain form reads the same.
        let (scheme, query) = match parts.gathers {
            "srflx" => ("stun", ""),
            "relay udp" => ("turn", ""),
            "relay tcp" => ("turn", "?transport=tcp"),
            "relay tls" => ("turns", ""),
            other => panic!("unknown transport {other}"),
        };
        let plain = format!("{scheme}:{}{query}", parts.host_port);
        assert_eq!(ice_url(&plain).as_ref(), Ok(parts), "{plain}");
        // An IP address is one the stack can connect to as it is.
        if parts.host.parse::<std::net::IpAddr>().is_ok() {
            parts
                .host_port
                .parse::<std::net::SocketAddr>()
                .expect("host:port of an IP address is a socket address");
        }
    }

    // A server is taken when its URL is, and TURN has credentials.
    let present = |s: Option<&str>| s.is_some_and(|s| !s.is_empty());
    let server = IceServer::new([url], username, credential);
    let expected = match &parsed {
        Ok(parts) => parts.gathers == "srflx" || (present(username) && present(credential)),
        Err(_) => false,
    };
    assert_eq!(server.is_ok(), expected, "{server:?}");
    if let Err(e) = server {
        assert_eq!(e.code, libpublisher::ErrorCode::InvalidParameter);
        // The credential is never shown. (One that the URL holds is, as the URL is; so is
        // one that the URL's escaped form holds: "\0" then "0001" shows as "\00001".)
        let shown_url = format!("{url} {url:?}").to_ascii_lowercase();
        let secret = |c: &&str| {
            c.len() >= 12
                && c.chars().all(|c| c.is_ascii_alphanumeric())
                && !shown_url.contains(&c.to_ascii_lowercase())
        };
        if let Some(c) = credential.filter(secret) {
            assert!(!e.message.contains(c), "{}", e.message);
        }
    }
});
