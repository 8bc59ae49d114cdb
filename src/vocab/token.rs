//! Bearer tokens of the HTTP endpoints (the mock's control API, a run's `--metrics`): whether a request
//! carries the configured token, compared in a time that does not tell how much of a guess was right, and
//! the challenge a refusal carries.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

/// Whether `headers` hold `Authorization: Bearer <token>`.
pub fn carries(headers: &HeaderMap, token: &str) -> bool {
    let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    sent.is_some_and(|sent| matches(sent, token))
}

/// `response` (a 401) with the `WWW-Authenticate: Bearer` challenge.
pub fn challenged(mut response: Response) -> Response {
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Whether `sent` is `token`, comparing every byte whatever the first difference.
fn matches(sent: &str, token: &str) -> bool {
    let (sent, token) = (sent.as_bytes(), token.as_bytes());
    sent.len() == token.len() && sent.iter().zip(token).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_same_token_matches() {
        assert!(matches("s3cret", "s3cret"));
        assert!(!matches("s3crex", "s3cret") && !matches("s3cre", "s3cret") && !matches("", "s3cret"));
        assert!(carries(&headers("Bearer abc"), "abc"));
        assert!(!carries(&headers("Basic abc"), "abc") && !carries(&HeaderMap::new(), "abc"));
    }
}
