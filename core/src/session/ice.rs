//! ICE servers (STUN and TURN) and the ICE transport policy of a session: the settings a host
//! gives, checked here once for every binding, and the URL forms the rest of the session code
//! works with.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::settings::OptionValue;

/// A STUN or TURN server, like the browser's `RTCIceServer`: one or more URLs of one server
/// (`stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]`, `turns:host[:port]`) and,
/// for TURN, the long-term credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct IceServer {
    /// The server's URLs.
    pub urls: Vec<String>,
    /// TURN username.
    pub username: Option<String>,
    /// TURN password.
    pub credential: Option<String>,
}

impl fmt::Debug for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credential stays out of logs.
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field("credential", &self.credential.as_ref().map(|_| "…"))
            .finish()
    }
}

impl IceServer {
    /// Checks a server: at least one URL, each of a known scheme and well formed, and a
    /// username and credential when a URL is TURN. 1011 naming `ice_servers` otherwise.
    pub fn new<I, S>(urls: I, username: Option<&str>, credential: Option<&str>) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        IceServer::checked(
            "ice_servers",
            urls.into_iter().map(Into::into).collect(),
            username.map(str::to_owned),
            credential.map(str::to_owned),
        )
    }

    /// Like [`IceServer::new`]; errors name `field` (`ice_servers[2]`).
    pub(crate) fn checked(
        field: &str,
        urls: Vec<String>,
        username: Option<String>,
        credential: Option<String>,
    ) -> Result<Self> {
        if urls.is_empty() {
            return Err(Error::invalid_parameter(
                &format!("{field}.urls"),
                "must list at least one URL (stun:, turn: or turns:)",
            ));
        }
        let mut turn = None;
        for (i, url) in urls.iter().enumerate() {
            let name = if urls.len() == 1 {
                format!("{field}.urls")
            } else {
                format!("{field}.urls[{i}]")
            };
            let parsed = IceUrl::parse(url).map_err(|e| Error::invalid_parameter(&name, e))?;
            if parsed.transport != IceTransport::Stun && turn.is_none() {
                turn = Some(url);
            }
        }
        let present = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        if let Some(url) = turn {
            for (what, value) in [("username", &username), ("credential", &credential)] {
                if !present(value) {
                    return Err(Error::invalid_parameter(
                        &format!("{field}.{what}"),
                        format!("the TURN URL {url:?} needs a username and a credential"),
                    ));
                }
            }
        }
        Ok(IceServer {
            urls,
            username,
            credential,
        })
    }

    /// The parsed URLs (checked when the server was made).
    pub(crate) fn parsed_urls(&self) -> impl Iterator<Item = (&str, IceUrl)> + '_ {
        self.urls
            .iter()
            .filter_map(|u| IceUrl::parse(u).ok().map(|p| (u.as_str(), p)))
    }
}

/// Which candidates ICE may use, like the browser's `iceTransportPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceTransportPolicy {
    /// Every candidate: host, server-reflexive (STUN) and relayed (TURN). The default.
    #[default]
    All,
    /// Relayed candidates only: media always goes through a TURN server.
    Relay,
}

impl IceTransportPolicy {
    /// `"all"` or `"relay"`.
    pub fn as_str(self) -> &'static str {
        match self {
            IceTransportPolicy::All => "all",
            IceTransportPolicy::Relay => "relay",
        }
    }
}

impl FromStr for IceTransportPolicy {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "all" => Ok(IceTransportPolicy::All),
            "relay" => Ok(IceTransportPolicy::Relay),
            _ => Err(format!("expected \"all\" or \"relay\", got {s:?}")),
        }
    }
}

impl fmt::Display for IceTransportPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a URL reaches its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IceTransport {
    /// `stun:`: server-reflexive candidates, over UDP.
    Stun,
    /// `turn:` (UDP).
    TurnUdp,
    /// `turn:…?transport=tcp`.
    TurnTcp,
    /// `turns:` (TLS over TCP).
    TurnTls,
}

impl IceTransport {
    /// How a failure message names what this transport gathers.
    pub(crate) fn candidate_label(self) -> &'static str {
        match self {
            IceTransport::Stun => "srflx",
            IceTransport::TurnUdp => "relay udp",
            IceTransport::TurnTcp => "relay tcp",
            IceTransport::TurnTls => "relay tls",
        }
    }
}

/// A checked STUN/TURN URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IceUrl {
    pub transport: IceTransport,
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl IceUrl {
    /// Parses `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]` or
    /// `turns:host[:port][?transport=tcp]` (RFC 7064, RFC 7065). The error says what is wrong.
    pub(crate) fn parse(url: &str) -> std::result::Result<IceUrl, String> {
        const EXPECTED: &str =
            "expected stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]";
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| format!("{url:?}: {EXPECTED}"))?;
        let scheme = scheme.to_ascii_lowercase();
        let (address, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let transport_param = match query {
            None => None,
            Some(q) => match q.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("transport") => {
                    Some(value.to_ascii_lowercase())
                }
                _ => {
                    return Err(format!(
                    "{url:?}: the only query a TURN URL takes is ?transport=udp or ?transport=tcp"
                ))
                }
            },
        };
        let (transport, default_port) = match (scheme.as_str(), transport_param.as_deref()) {
            ("stun", None) => (IceTransport::Stun, 3478),
            ("stun", Some(_)) => {
                return Err(format!(
                    "{url:?}: a stun: URL takes no ?transport (STUN runs over UDP)"
                ))
            }
            ("turn", None | Some("udp")) => (IceTransport::TurnUdp, 3478),
            ("turn", Some("tcp")) => (IceTransport::TurnTcp, 3478),
            ("turns", None | Some("tcp")) => (IceTransport::TurnTls, 5349),
            ("turns", Some("udp")) => {
                return Err(format!(
                    "{url:?}: TURN over DTLS is not supported; use turns:HOST[:PORT] (TLS over TCP)"
                ))
            }
            ("turn" | "turns", Some(other)) => {
                return Err(format!(
                    "{url:?}: unknown transport {other:?}; expected udp or tcp"
                ))
            }
            ("stuns", _) => {
                return Err(format!(
                    "{url:?}: stuns: is not supported; use stun: or a TURN server"
                ))
            }
            (other, _) => return Err(format!("{url:?}: unsupported scheme {other:?}; {EXPECTED}")),
        };
        if address.starts_with("//") {
            return Err(format!(
                "{url:?}: write {scheme}:HOST[:PORT], without \"//\" (RFC 7064)"
            ));
        }
        let (host, port) = if let Some(v6) = address.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{url:?}: {host:?} is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("{url:?}: expected :PORT after the address"))?,
                ),
            };
            (host, port)
        } else {
            match address.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (address, None),
            }
        };
        let valid_name = |h: &str| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        };
        if !valid_name(host) {
            return Err(format!(
                "{url:?}: {host:?} is not a host name or IP address"
            ));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(format!("{url:?}: {p:?} is not a port number")),
            },
        };
        Ok(IceUrl {
            transport,
            host: host.to_owned(),
            port,
        })
    }

    /// `host:port` (IPv6 in brackets), as the WebRTC stack resolves it.
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `ice_servers` as a binding gives it: a list of mappings with `urls` (a string or a list of
/// strings), `username` and `credential`; null for none.
pub(crate) fn ice_servers_option(field: &str, value: &OptionValue) -> Result<Vec<IceServer>> {
    let items = match value {
        OptionValue::Null => return Ok(Vec::new()),
        OptionValue::List(items) => items,
        other => {
            return Err(Error::invalid_parameter(
                field,
                format!(
                    "expected a list of servers such as [{{\"urls\": \"turn:HOST:3478\", \"username\": \"…\", \"credential\": \"…\"}}], got {}",
                    other.kind()
                ),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| ice_server_option(&format!("{field}[{i}]"), item))
        .collect()
}

fn ice_server_option(field: &str, value: &OptionValue) -> Result<IceServer> {
    let OptionValue::Map(entries) = value else {
        return Err(Error::invalid_parameter(
            field,
            format!(
                "expected a mapping with urls, username and credential, got {}",
                value.kind()
            ),
        ));
    };
    let string = |name: &str, v: &OptionValue| match v {
        OptionValue::Str(s) => Ok(Some(s.clone())),
        OptionValue::Null => Ok(None),
        other => Err(Error::invalid_parameter(
            &format!("{field}.{name}"),
            format!("expected a string, got {}", other.kind()),
        )),
    };
    let (mut urls, mut username, mut credential) = (None, None, None);
    for (key, v) in entries {
        match crate::settings::canonical_key(key).as_str() {
            "urls" => {
                urls = Some(match v {
                    OptionValue::Str(s) => vec![s.clone()],
                    OptionValue::List(list) => list
                        .iter()
                        .enumerate()
                        .map(|(j, u)| match u {
                            OptionValue::Str(s) => Ok(s.clone()),
                            other => Err(Error::invalid_parameter(
                                &format!("{field}.urls[{j}]"),
                                format!("expected a string, got {}", other.kind()),
                            )),
                        })
                        .collect::<Result<Vec<_>>>()?,
                    other => {
                        return Err(Error::invalid_parameter(
                            &format!("{field}.urls"),
                            format!("expected a URL or a list of URLs, got {}", other.kind()),
                        ))
                    }
                })
            }
            "username" => username = string("username", v)?,
            "credential" => credential = string("credential", v)?,
            _ => {
                return Err(Error::invalid_parameter(
                    &format!("{field}.{key}"),
                    "unknown key; an ICE server has urls, username and credential",
                ))
            }
        }
    }
    let urls = urls.ok_or_else(|| {
        Error::invalid_parameter(
            &format!("{field}.urls"),
            "missing; give the server's URL, e.g. \"turn:HOST:3478\"",
        )
    })?;
    IceServer::checked(field, urls, username, credential)
}

/// What the fuzz targets reach of the URL parser (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::*;

    /// A STUN/TURN URL as the session reads it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IceUrlParts {
        /// What it gathers: `srflx`, `relay udp`, `relay tcp` or `relay tls`.
        pub gathers: &'static str,
        /// A host name or an IP address (IPv6 without brackets).
        pub host: String,
        /// The port (the scheme's default when the URL has none).
        pub port: u16,
        /// `host:port` as the WebRTC stack resolves it.
        pub host_port: String,
    }

    /// Parses a URL as a session's ICE servers are read.
    pub fn ice_url(url: &str) -> std::result::Result<IceUrlParts, String> {
        let parsed = IceUrl::parse(url)?;
        Ok(IceUrlParts {
            gathers: parsed.transport.candidate_label(),
            host_port: parsed.host_port(),
            host: parsed.host,
            port: parsed.port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_url_forms_of_rfc_7064_and_7065() {
        let p = |u: &str| IceUrl::parse(u).unwrap();
        assert_eq!(
            p("stun:stun.example.net"),
            IceUrl {
                transport: IceTransport::Stun,
                host: "stun.example.net".into(),
                port: 3478
            }
        );
        assert_eq!(p("turn:10.0.0.1:3479").transport, IceTransport::TurnUdp);
        assert_eq!(p("turn:10.0.0.1:3479").port, 3479);
        assert_eq!(p("turn:h?transport=udp").transport, IceTransport::TurnUdp);
        assert_eq!(p("TURN:h?transport=TCP").transport, IceTransport::TurnTcp);
        assert_eq!(p("turns:h").transport, IceTransport::TurnTls);
        assert_eq!(p("turns:h").port, 5349);
        assert_eq!(p("turns:h:443?transport=tcp").port, 443);
        let v6 = p("turn:[2001:db8::1]:3478?transport=tcp");
        assert_eq!((v6.host.as_str(), v6.port), ("2001:db8::1", 3478));
        assert_eq!(v6.host_port(), "[2001:db8::1]:3478");
        assert_eq!(p("stun:[::1]").host_port(), "[::1]:3478");
    }

    #[test]
    fn rejects_other_schemes_and_malformed_urls() {
        for (url, says) in [
            ("http://turn.example.net", "unsupported scheme"),
            ("turn://h:3478", "without \"//\""),
            ("stuns:h", "not supported"),
            ("turns:h?transport=udp", "DTLS"),
            ("turn:h?transport=sctp", "unknown transport"),
            ("turn:h?foo=bar", "?transport"),
            ("stun:h?transport=udp", "no ?transport"),
            ("turn:", "not a host"),
            ("turn:h:0", "not a port"),
            ("turn:h:99999", "not a port"),
            ("turn:[::1", "unclosed"),
            ("turn:[nope]:1", "IPv6"),
            ("turn:h o:1", "not a host"),
            ("example.net", "expected stun:"),
        ] {
            let e = IceUrl::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn a_server_needs_urls_and_turn_needs_credentials() {
        assert!(IceServer::new(["stun:h"], None, None).is_ok());
        assert!(IceServer::new(["turn:h"], Some("u"), Some("p")).is_ok());
        // URLs, username, credential, and how the error begins.
        type Case = (
            Vec<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            &'static str,
        );
        let cases: [Case; 5] = [
            (
                vec![],
                None,
                None,
                "ice_servers.urls: must list at least one URL",
            ),
            (
                vec!["turn:h"],
                None,
                Some("p"),
                "ice_servers.username: the TURN URL",
            ),
            (vec!["turn:h"], Some("u"), None, "ice_servers.credential:"),
            (
                vec!["stun:h", "turns:h"],
                Some(""),
                Some("p"),
                "ice_servers.username:",
            ),
            (
                vec!["stun:h", "ftp:h"],
                None,
                None,
                "ice_servers.urls[1]: \"ftp:h\": unsupported scheme",
            ),
        ];
        for (urls, user, pass, says) in cases {
            let e = IceServer::new(urls.clone(), user, pass).unwrap_err();
            assert_eq!(e.code(), 1011);
            assert!(e.message.starts_with(says), "{urls:?}: {}", e.message);
        }
    }

    #[test]
    fn the_option_form_names_the_item_at_fault() {
        let server = |entries: Vec<(&str, OptionValue)>| {
            OptionValue::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        };
        let s = |v: &str| OptionValue::Str(v.into());
        let good = server(vec![("urls", s("stun:h"))]);
        let turn = server(vec![
            (
                "urls",
                OptionValue::List(vec![s("turn:h"), s("turn:h?transport=tcp")]),
            ),
            ("username", s("u")),
            ("credential", s("p")),
        ]);
        let servers =
            ice_servers_option("ice_servers", &OptionValue::List(vec![good, turn.clone()]))
                .unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[1].urls.len(), 2);
        assert_eq!(servers[1].username.as_deref(), Some("u"));
        assert!(ice_servers_option("ice_servers", &OptionValue::Null)
            .unwrap()
            .is_empty());
        for (value, says) in [
            (
                OptionValue::Str("turn:h".into()),
                "ice_servers: expected a list",
            ),
            (
                OptionValue::List(vec![s("turn:h")]),
                "ice_servers[0]: expected a mapping",
            ),
            (
                OptionValue::List(vec![turn.clone(), server(vec![("username", s("u"))])]),
                "ice_servers[1].urls: missing",
            ),
            (
                OptionValue::List(vec![server(vec![("urls", OptionValue::List(vec![]))])]),
                "ice_servers[0].urls: must list at least one URL",
            ),
            (
                OptionValue::List(vec![server(vec![("urls", s("turn:h"))])]),
                "ice_servers[0].username:",
            ),
            (
                OptionValue::List(vec![server(vec![("urls", s("turn:h")), ("user", s("u"))])]),
                "ice_servers[0].user: unknown key",
            ),
            (
                OptionValue::List(vec![server(vec![("urls", OptionValue::Int(3))])]),
                "ice_servers[0].urls: expected a URL",
            ),
        ] {
            let e = ice_servers_option("ice_servers", &value).unwrap_err();
            assert_eq!(e.code(), 1011);
            assert!(e.message.starts_with(says), "{says}: {}", e.message);
        }
    }

    #[test]
    fn the_credential_stays_out_of_debug_output() {
        let server = IceServer::new(["turn:h"], Some("user"), Some("hunter2")).unwrap();
        let shown = format!("{server:?}");
        assert!(
            shown.contains("user") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn policy_names() {
        assert_eq!("relay".parse(), Ok(IceTransportPolicy::Relay));
        assert_eq!("ALL".parse(), Ok(IceTransportPolicy::All));
        assert!("none".parse::<IceTransportPolicy>().is_err());
        assert_eq!(IceTransportPolicy::default().as_str(), "all");
    }
}
