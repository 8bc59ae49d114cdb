//! The HTTP side of a connection: reading the request head, checking a WebSocket upgrade, and writing
//! `101 Switching Protocols` or an error status.
//!
//! The mock does its own upgrade (with `httparse` and tungstenite's accept-key derivation) so that it can
//! answer any status, serve REST helpers on the same port, and later delay or withhold the answer. Bytes a
//! client sends after its request head are handed on to the WebSocket layer, never lost.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest request head accepted (request line plus headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target (`/ws/btcusdt@trade?timeUnit=MICROSECOND`).
    pub target: String,
    /// The HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// Headers with lowercase names.
    pub headers: Vec<(String, String)>,
    /// Bytes that followed the head (early WebSocket frames).
    pub leftover: Vec<u8>,
}

impl RequestHead {
    /// The first value of a header (name in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why no request head could be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The client sent nothing complete within the handshake timeout.
    #[error("no complete request head within the handshake timeout")]
    Timeout,
    /// The client closed the socket before its head was complete.
    #[error("the client closed the connection during the handshake")]
    Closed,
    /// The request line alone exceeds the limit (414).
    #[error("request line longer than {MAX_HEAD_BYTES} bytes")]
    LineTooLong,
    /// The head exceeds the limit (431).
    #[error("request head longer than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    /// Not HTTP.
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
    /// The socket failed.
    #[error("socket error during the handshake: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one request head, waiting at most `timeout` for it to be complete.
pub async fn read_head(stream: &mut TcpStream, timeout: Duration) -> Result<RequestHead, HeadError> {
    match tokio::time::timeout(timeout, read_head_unbounded(stream)).await {
        Ok(result) => result,
        Err(_) => Err(HeadError::Timeout),
    }
}

async fn read_head_unbounded(stream: &mut TcpStream) -> Result<RequestHead, HeadError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(head) = parse_head(&buffer)? {
            return Ok(head);
        }
        if buffer.len() > MAX_HEAD_BYTES {
            let line_complete = buffer.windows(2).any(|w| w == b"\r\n");
            return Err(if line_complete { HeadError::TooLarge } else { HeadError::LineTooLong });
        }
    }
}

/// Parses a complete head from `buffer`, or `None` when more bytes are needed.
pub fn parse_head(buffer: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let size = match request.parse(buffer) {
        Ok(httparse::Status::Complete(size)) => size,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let headers = request
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).trim().to_owned()))
        .collect();
    Ok(Some(RequestHead {
        method: request.method.unwrap_or_default().to_owned(),
        target: request.path.unwrap_or_default().to_owned(),
        minor_version: request.version.unwrap_or_default(),
        headers,
        leftover: buffer[size..].to_vec(),
    }))
}

/// Why a request is not a WebSocket upgrade the mock accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeProblem {
    /// Missing `Upgrade: websocket`, `Connection: upgrade` or `Sec-WebSocket-Key` (400).
    NotAnUpgrade,
    /// `Sec-WebSocket-Version` other than 13 (426).
    UnsupportedVersion,
    /// An upgrade over HTTP/1.0: RFC 6455 §4.1 requires HTTP/1.1 or later (400).
    OldHttp,
    /// An upgrade without a `Host` header, which RFC 6455 §4.1 requires (400).
    NoHost,
}

impl UpgradeProblem {
    /// What the refusal says.
    pub fn message(self) -> &'static str {
        match self {
            UpgradeProblem::NotAnUpgrade => "not a WebSocket upgrade",
            UpgradeProblem::UnsupportedVersion => "use WebSocket version 13",
            UpgradeProblem::OldHttp => "a WebSocket upgrade needs HTTP/1.1 (RFC 6455 section 4.1)",
            UpgradeProblem::NoHost => "a WebSocket upgrade needs a Host header (RFC 6455 section 4.1)",
        }
    }
}

/// Checks the upgrade's HTTP version and headers; returns the `Sec-WebSocket-Accept` value.
pub fn accept_key(head: &RequestHead) -> Result<String, UpgradeProblem> {
    let has_token = |name: &str, token: &str| {
        head.header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return Err(UpgradeProblem::NotAnUpgrade);
    }
    if head.minor_version < 1 {
        return Err(UpgradeProblem::OldHttp);
    }
    if head.header("host").is_none_or(str::is_empty) {
        return Err(UpgradeProblem::NoHost);
    }
    if head.header("sec-websocket-version") != Some("13") {
        return Err(UpgradeProblem::UnsupportedVersion);
    }
    let key = head.header("sec-websocket-key").ok_or(UpgradeProblem::NotAnUpgrade)?;
    Ok(derive_accept_key(key.as_bytes()))
}

/// The `101 Switching Protocols` response.
pub fn switching_protocols(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

/// The reason phrase of the statuses the mock sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        401 => "Unauthorized",
        408 => "Request Timeout",
        413 => "Content Too Large",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        418 => "I'm a teapot",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// A complete HTTP response with a body, `Connection: close`, and any extra headers.
pub fn http_response(status: u16, content_type: &str, body: &str, extra_headers: &[(&str, String)]) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason_phrase(status),
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    head
}

/// A Binance-style JSON error body (`{"code":-1,"msg":"…"}`).
pub fn error_body(message: &str) -> String {
    serde_json::json!({ "code": -1, "msg": message }).to_string()
}

/// Writes a response and shuts the write side down, bounded by `timeout` so a client that does not read
/// cannot hold the task.
pub async fn respond_and_close(stream: &mut TcpStream, response: &str, timeout: Duration) {
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    if let Ok(Err(e)) = tokio::time::timeout(timeout, write).await {
        tracing::debug!("could not write HTTP response: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &[u8] = b"GET /ws/btcusdt@trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\x80";

    #[test]
    fn parses_a_head_and_keeps_early_bytes() {
        assert_eq!(parse_head(&UPGRADE[..20]).unwrap(), None);
        let head = parse_head(UPGRADE).unwrap().unwrap();
        assert_eq!(head.target, "/ws/btcusdt@trade");
        assert_eq!(head.leftover, b"\x81\x80");
        assert_eq!(accept_key(&head), Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned()), "RFC 6455 sample");
    }

    #[test]
    fn rejects_non_upgrades() {
        let plain = parse_head(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().unwrap();
        assert_eq!(accept_key(&plain), Err(UpgradeProblem::NotAnUpgrade));
        let text = String::from_utf8_lossy(UPGRADE).replace("Version: 13", "Version: 8");
        let old = parse_head(text.as_bytes()).unwrap().unwrap();
        assert_eq!(accept_key(&old), Err(UpgradeProblem::UnsupportedVersion));
        assert!(matches!(parse_head(b"\x16\x03\x01 garbage\r\n\r\n"), Err(HeadError::Malformed(_))));
    }

    #[test]
    fn an_upgrade_needs_http_1_1_and_a_host() {
        let text = String::from_utf8_lossy(UPGRADE);
        let old = parse_head(text.replace("HTTP/1.1", "HTTP/1.0").as_bytes()).unwrap().unwrap();
        assert_eq!(accept_key(&old), Err(UpgradeProblem::OldHttp));
        let hostless = parse_head(text.replace("Host: x\r\n", "").as_bytes()).unwrap().unwrap();
        assert_eq!(accept_key(&hostless), Err(UpgradeProblem::NoHost));
        let empty_host = parse_head(text.replace("Host: x", "Host:").as_bytes()).unwrap().unwrap();
        assert_eq!(accept_key(&empty_host), Err(UpgradeProblem::NoHost));
    }

    #[test]
    fn responses_are_well_formed() {
        let r = http_response(429, "application/json", "{}", &[("Retry-After", "30".into())]);
        assert!(r.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
        assert!(r.contains("Retry-After: 30\r\n") && r.ends_with("\r\n\r\n{}"));
    }
}
