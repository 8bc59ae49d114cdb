//! How the mock ends connections: close frames with a code and reason, a silent FIN (the client sees
//! 1006) or a TCP reset. Shared by the connection task, the configuration checks and the chaos work.

use serde::{Deserialize, Serialize};

/// True when `code` may appear in a close frame (1005, 1006 and 1015 are reserved for local use; RFC 6455
/// §7.4).
pub fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// How a server-side close is carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CloseHow {
    /// A close frame with this code and reason, then a short wait for the client's reply.
    Frame {
        /// The close code (must be sendable).
        code: u16,
        /// The reason text (at most 123 bytes).
        #[serde(default)]
        reason: String,
    },
    /// Shut the TCP connection down without a close frame: the client sees 1006.
    Fin,
    /// Abort the TCP connection (zero linger): the client sees "connection reset by peer".
    Reset,
}

impl CloseHow {
    /// A close frame with `code` and `reason`.
    pub fn frame(code: u16, reason: impl Into<String>) -> Self {
        CloseHow::Frame { code, reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_codes_cannot_be_sent() {
        for code in [1000, 1001, 1008, 1011, 1012, 1013, 4000] {
            assert!(is_sendable_close_code(code), "{code}");
        }
        for code in [999, 1004, 1005, 1006, 1015, 2000, 5000] {
            assert!(!is_sendable_close_code(code), "{code}");
        }
    }
}
