//! The WHIP backend (RFC 9725) for `http://` and `https://` URLs: `connect` probes the
//! endpoint, `publish` POSTs the SDP offer and reads the 201 answer, `unpublish` DELETEs the
//! resource. TLS certificates are verified; the token is sent as a bearer token and never
//! logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::ice::{IceServer, IceTransportPolicy};
use super::peer::PeerConfig;
use super::recovery::PatchReply;
use crate::error::{Error, ErrorCode, Result};
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, IF_MATCH, LINK, LOCATION,
};
use reqwest::{Method, StatusCode, Url};

pub(crate) struct Whip {
    endpoint: Url,
    client: reqwest::Client,
    token: Mutex<Option<String>>,
    /// ICE servers the endpoint advertised (`Link: <…>; rel="ice-server"`).
    ice_servers: Mutex<Vec<IceServer>>,
    /// Resource URL of each published stream, by stream id.
    resources: Mutex<HashMap<String, Url>>,
}

/// How much of an error body goes into a message.
const BODY_EXCERPT: usize = 200;

/// The largest body read from the server. An SDP answer is a few kilobytes; a server that
/// sends more is not answering (and reading 50 MB would only cost memory and time).
const MAX_BODY: usize = 1 << 20;

impl Whip {
    /// Checks the URL (1005 when malformed); nothing is sent yet.
    pub(crate) fn new(url: &str) -> Result<Whip> {
        let endpoint = Url::parse(url).map_err(|e| {
            Error::new(
                ErrorCode::InvalidSessionId,
                format!("session URL {url:?}: {e}"),
            )
        })?;
        if endpoint.host_str().is_none_or(str::is_empty) {
            return Err(Error::new(
                ErrorCode::InvalidSessionId,
                format!("session URL {url:?} has no host"),
            ));
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("libpublisher/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        Ok(Whip {
            endpoint,
            client,
            token: Mutex::new(None),
            ice_servers: Mutex::new(Vec::new()),
            resources: Mutex::new(HashMap::new()),
        })
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &*self.token.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        // reqwest's Display can include the URL but never headers, so the token stays out.
        if e.is_redirect() {
            // The server answered, but only with redirects (a loop, or more than 10).
            return Error::new(
                ErrorCode::UnexpectedServerResponse,
                format!("{}: too many redirects ({e})", self.endpoint),
            );
        }
        let what = if e.is_connect() {
            "cannot connect"
        } else if e.is_timeout() {
            "timed out"
        } else {
            "request failed"
        };
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            detail = format!("{detail}: {inner}");
            source = inner.source();
        }
        Error::new(
            ErrorCode::ConnectFailed,
            format!("{}: {what} ({detail})", self.endpoint),
        )
    }

    /// Maps a refusal the same way for `connect` and `publish`; `None` for other statuses.
    fn refusal(&self, status: StatusCode, body: &str) -> Option<Error> {
        let excerpt: String = body.chars().take(BODY_EXCERPT).collect();
        let (code, what) = match status.as_u16() {
            401 | 403 => (ErrorCode::AuthenticationError, "the token was rejected"),
            404 => (ErrorCode::InvalidSessionId, "no such session"),
            429 | 503 => (
                ErrorCode::ConnectionLimitExceeded,
                "the server is at capacity",
            ),
            _ => return None,
        };
        Some(Error::new(
            code,
            format!(
                "{}: {what} (HTTP {status}{}{excerpt})",
                self.endpoint,
                if excerpt.is_empty() { "" } else { ": " }
            ),
        ))
    }

    /// Probes the endpoint with the token (OPTIONS, which WHIP servers answer without
    /// creating anything): 1004 for a rejected token, 1005 for an unknown endpoint, 1006 when
    /// unreachable, 1027 when at capacity.
    pub(crate) async fn connect(&self, token: Option<&str>) -> Result<()> {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token.map(str::to_owned);
        let response = self
            .auth(self.client.request(Method::OPTIONS, self.endpoint.clone()))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        *self.ice_servers.lock().unwrap_or_else(|e| e.into_inner()) =
            ice_servers(response.headers());
        let body = read_capped(response).await.unwrap_or_default();
        if let Some(e) = self.refusal(status, &body) {
            return Err(e);
        }
        // 405/501: the server does not do OPTIONS, but it is there and did not refuse us.
        if status.is_success() || matches!(status.as_u16(), 405 | 501) {
            tracing::debug!(endpoint = %self.endpoint, %status, "WHIP endpoint reachable");
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::UnexpectedServerResponse,
            format!(
                "{}: unexpected HTTP {status} to the connect probe",
                self.endpoint
            ),
        ))
    }

    pub(crate) fn peer_config(&self) -> PeerConfig {
        let local = matches!(
            self.endpoint.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        );
        PeerConfig {
            // A server on this machine is reached over loopback; others over every interface.
            bind: if local { "127.0.0.1:0" } else { "0.0.0.0:0" }.into(),
            ice_servers: self
                .ice_servers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            ice_transport_policy: IceTransportPolicy::All,
            gather_timeout: Duration::from_secs(3),
            ice_failed_timeout: Duration::from_secs(25),
        }
    }

    /// POSTs the offer: the answer and the stream id (the resource's last path segment).
    pub(crate) async fn publish(&self, offer: String) -> Result<(String, String)> {
        let response = self
            .auth(self.client.post(self.endpoint.clone()))
            .header(CONTENT_TYPE, "application/sdp")
            .body(offer)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let location = response.headers().get(LOCATION).cloned();
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let advertised = ice_servers(response.headers());
        let body = read_capped(response).await;
        if let Some(e) = self.refusal(status, body.as_deref().unwrap_or_default()) {
            return Err(e);
        }
        if status != StatusCode::CREATED {
            let excerpt: String = body
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(BODY_EXCERPT)
                .collect();
            let code = if status.is_client_error() || status.is_server_error() {
                ErrorCode::StreamCreateFailed
            } else {
                ErrorCode::UnexpectedServerResponse
            };
            return Err(Error::new(
                code,
                format!(
                    "{}: the server refused the stream (HTTP {status}: {excerpt})",
                    self.endpoint
                ),
            ));
        }
        let malformed = |why: &str| {
            Error::new(
                ErrorCode::UnexpectedServerResponse,
                format!("{}: malformed WHIP answer: {why}", self.endpoint),
            )
        };
        let (body, resource) = created_answer(
            &self.endpoint,
            location.as_ref(),
            content_type.as_ref(),
            body,
        )
        .map_err(|why| malformed(&why))?;
        let stream_id = stream_id(&resource);
        self.resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stream_id.clone(), resource);
        // ICE servers named with the answer come too late for this offer (its candidates are
        // gathered); the session keeps them for the next ones.
        if !advertised.is_empty() {
            let mut known = self.ice_servers.lock().unwrap_or_else(|e| e.into_inner());
            if *known != advertised {
                tracing::debug!(
                    endpoint = %self.endpoint,
                    "the answer names {} ICE server(s), used from the next publish on",
                    advertised.len()
                );
                *known = advertised;
            }
        }
        Ok((body, stream_id))
    }

    /// PATCHes the stream's resource with an ICE restart offer (RFC 9725 §4.4.2:
    /// `application/trickle-ice-sdpfrag`, `If-Match: "*"`); the server's fragment on 200.
    pub(crate) async fn restart_ice(&self, stream_id: &str, fragment: String) -> PatchReply {
        let resource = self
            .resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(stream_id)
            .cloned();
        let Some(resource) = resource else {
            return PatchReply::Gone;
        };
        let request = self
            .auth(self.client.patch(resource.clone()))
            .header(CONTENT_TYPE, "application/trickle-ice-sdpfrag")
            .header(IF_MATCH, "\"*\"")
            .body(fragment);
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return PatchReply::Failed(self.unreachable(e)),
        };
        let status = response.status();
        let body = read_capped(response).await.unwrap_or_default();
        PatchReply::from_response(status.as_u16(), body, resource.as_str())
    }

    /// Whether the endpoint answers the connect probe at all within `timeout` (any HTTP
    /// status counts: the server is there).
    pub(crate) async fn reachable(&self, timeout: Duration) -> bool {
        let request = self.auth(self.client.request(Method::OPTIONS, self.endpoint.clone()));
        match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::info!(endpoint = %self.endpoint, "unreachable: {}", self.unreachable(e).message);
                false
            }
            Err(_) => {
                tracing::info!(endpoint = %self.endpoint, "no answer within {} ms", timeout.as_millis());
                false
            }
        }
    }

    /// DELETEs the stream's resource; failures are logged, the stream ends regardless.
    pub(crate) async fn unpublish(&self, stream_id: &str) {
        let resource = self
            .resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(stream_id);
        let Some(resource) = resource else { return };
        let request = self.auth(self.client.delete(resource.clone()));
        match tokio::time::timeout(Duration::from_secs(5), request.send()).await {
            Ok(Ok(r)) if r.status().is_success() => {}
            Ok(Ok(r)) => tracing::warn!(%resource, status = %r.status(), "WHIP DELETE refused"),
            Ok(Err(e)) => tracing::warn!(%resource, "WHIP DELETE failed: {e}"),
            Err(_) => tracing::warn!(%resource, "WHIP DELETE timed out"),
        }
    }
}

/// The body as text, read up to [`MAX_BODY`] bytes: `None` when it is longer. A body cut off
/// by the connection is what arrived (as `text()` would have it, empty on error).
async fn read_capped(mut response: reqwest::Response) -> Option<String> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return None;
    }
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_BODY {
                    return None;
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return Some(String::new()),
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A 201's answer and the stream's resource URL, from its `Location` and `Content-Type` and
/// its body (`None` when larger than [`MAX_BODY`]); why the answer is malformed otherwise.
fn created_answer(
    endpoint: &Url,
    location: Option<&HeaderValue>,
    content_type: Option<&HeaderValue>,
    body: Option<String>,
) -> std::result::Result<(String, Url), String> {
    let body = body.ok_or_else(|| format!("the answer is larger than {MAX_BODY} bytes"))?;
    let location = location.ok_or("201 without a Location header")?;
    let resource = location
        .to_str()
        .map_err(|_| "the Location header is not a URL".to_owned())
        .and_then(|l| resource_url(endpoint, l))?;
    // RFC 9725: the answer is application/sdp. No Content-Type at all is let through to
    // the body check; another type is not an answer, whatever the body looks like.
    if let Some(content_type) = content_type {
        let is_sdp = content_type
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/sdp"));
        if !is_sdp {
            let shown: String = String::from_utf8_lossy(content_type.as_bytes())
                .chars()
                .take(BODY_EXCERPT)
                .collect();
            return Err(format!(
                "the content type is {shown:?}, not application/sdp"
            ));
        }
    }
    if !body.trim_start().starts_with("v=") {
        return Err("the body is not an SDP answer".into());
    }
    Ok((body, resource))
}

/// The stream id of a resource: its URL's last path segment, or the whole URL.
fn stream_id(resource: &Url) -> String {
    resource
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| resource.to_string())
}

/// The stream's resource URL from a 201's `Location` (relative to the endpoint, RFC 9725).
/// A resource on another origin is followed, with the token: RFC 9725 lets the resource live
/// apart from the endpoint (the media server a load balancer picked), and the endpoint, which
/// names it, holds the token already. Refused: a scheme other than http(s), and a step down
/// from https to http, which would send the token in clear with PATCH and DELETE.
fn resource_url(endpoint: &Url, location: &str) -> std::result::Result<Url, String> {
    let resource = endpoint
        .join(location)
        .map_err(|_| "the Location header is not a URL".to_owned())?;
    match (endpoint.scheme(), resource.scheme()) {
        ("https", "https") | ("http", "http" | "https") => Ok(resource),
        (_, scheme) => Err(format!(
            "the Location header names a {scheme}: URL for an {}: endpoint",
            endpoint.scheme()
        )),
    }
}

/// `Link: <stun:host:port>; rel="ice-server"`, with `username`/`credential` for TURN
/// (RFC 9725 §4.6). A server the session could not use (an unknown scheme, TURN without
/// credentials) is left out with a warning rather than failing the publish.
fn ice_servers(headers: &HeaderMap) -> Vec<IceServer> {
    let mut servers = Vec::new();
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let mut parts = link.split(';').map(str::trim);
            let Some(url) = parts
                .next()
                .and_then(|u| u.strip_prefix('<')?.strip_suffix('>'))
            else {
                continue;
            };
            let (mut username, mut credential) = (None, None);
            let mut is_ice = false;
            for param in parts {
                let Some((key, val)) = param.split_once('=') else {
                    continue;
                };
                let val = val.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "rel" => is_ice = val.eq_ignore_ascii_case("ice-server"),
                    "username" => username = Some(val.to_owned()),
                    "credential" => credential = Some(val.to_owned()),
                    _ => {}
                }
            }
            if !is_ice {
                continue;
            }
            match IceServer::new([url], username.as_deref(), credential.as_deref()) {
                Ok(server) => servers.push(server),
                Err(e) => tracing::warn!("ignoring the server's ICE server {url}: {}", e.message),
            }
        }
    }
    servers
}

/// What the fuzz targets reach of this backend (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::*;

    /// What a WHIP server's 201 gives a session.
    #[derive(Debug)]
    pub struct WhipCreated {
        /// The ICE servers its `Link` headers name.
        pub ice_servers: Vec<IceServer>,
        /// The SDP answer, the resource URL and the stream id; otherwise why the answer is
        /// malformed.
        pub answer: std::result::Result<(String, String, String), String>,
    }

    /// Reads a 201 to a POST to `endpoint` (`None` when that is no URL) with these headers
    /// (those that are no HTTP header are left out, as no HTTP client delivers them) and body.
    pub fn whip_created(
        endpoint: &str,
        headers: &[(&[u8], &[u8])],
        body: &str,
    ) -> Option<WhipCreated> {
        let endpoint = Url::parse(endpoint).ok()?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name),
                HeaderValue::from_bytes(value),
            ) {
                map.append(name, value);
            }
        }
        let answer = created_answer(
            &endpoint,
            map.get(LOCATION),
            map.get(CONTENT_TYPE),
            Some(body.to_owned()),
        )
        .map(|(answer, resource)| (answer, resource.to_string(), stream_id(&resource)));
        Some(WhipCreated {
            ice_servers: ice_servers(&map),
            answer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_become_ice_servers() {
        let mut headers = HeaderMap::new();
        headers.append(
            LINK,
            r#"<stun:stun.example.net:3478>; rel="ice-server", <turn:turn.example.net?transport=tcp>; rel="ice-server"; username="u"; credential="p"; credential-type="password""#
                .parse()
                .unwrap(),
        );
        headers.append(
            LINK,
            r#"<https://example.net/docs>; rel="help""#.parse().unwrap(),
        );
        headers.append(
            LINK,
            r#"<turn:nocreds.example.net>; rel="ice-server", <ftp:x>; rel="ice-server""#
                .parse()
                .unwrap(),
        );
        let servers = ice_servers(&headers);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:stun.example.net:3478"]);
        assert_eq!(
            (
                servers[1].username.as_deref(),
                servers[1].credential.as_deref()
            ),
            (Some("u"), Some("p"))
        );
    }

    #[test]
    fn resource_urls_may_move_but_not_to_clear_text() {
        let http = Url::parse("http://a.example/whip/ep").unwrap();
        let https = Url::parse("https://a.example/whip/ep").unwrap();
        let ok = |e: &Url, l: &str| resource_url(e, l).map(|u| u.to_string());
        assert_eq!(
            ok(&http, "/whip/resource/1").as_deref(),
            Ok("http://a.example/whip/resource/1")
        );
        assert_eq!(
            ok(&https, "https://b.example:8443/r/2").as_deref(),
            Ok("https://b.example:8443/r/2")
        );
        assert_eq!(
            ok(&http, "https://b.example/r/3").as_deref(),
            Ok("https://b.example/r/3")
        );
        for (endpoint, location) in [
            (&https, "http://b.example/r/4"),
            (&https, "http://a.example/whip/resource/4"),
            (&http, "ftp://b.example/r/5"),
            (&http, "file:///etc/passwd"),
        ] {
            assert!(resource_url(endpoint, location).is_err(), "{location}");
        }
    }

    #[test]
    fn malformed_urls_are_1005() {
        for url in ["http://", "https://[::1/whip", "http://exa mple.com/"] {
            assert_eq!(
                Whip::new(url).err().map(|e| e.code),
                Some(ErrorCode::InvalidSessionId),
                "{url}"
            );
        }
    }
}
