//! Bearer tokens of the HTTP endpoints (the mock's control API, a run's `--metrics`): the header's token,
//! compared with the configured one in a time that does not tell how much of a guess was right.

/// The token of an `Authorization: Bearer <token>` header value, if it is one.
pub fn bearer(header: &str) -> Option<&str> {
    header.strip_prefix("Bearer ")
}

/// Whether `sent` is `token`, comparing every byte whatever the first difference.
pub fn matches(sent: &str, token: &str) -> bool {
    let (sent, token) = (sent.as_bytes(), token.as_bytes());
    sent.len() == token.len() && sent.iter().zip(token).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        assert!(matches("s3cret", "s3cret"));
        assert!(!matches("s3crex", "s3cret") && !matches("s3cre", "s3cret") && !matches("", "s3cret"));
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }
}
