//! How a connection ends: close frames (with a short wait for the client's answer), a silent FIN, a TCP
//! reset, and sorting socket errors into close causes.

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError as WsProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::Connection;
use crate::mock::close::CloseHow;
use crate::mock::stats::CloseCause;

impl Connection {
    /// Ends the connection the way `how` says, as a server-initiated close.
    pub(super) async fn close(&mut self, how: CloseHow) -> CloseCause {
        match how {
            CloseHow::Frame { code, reason } => self.close_frame(code, &reason, CloseCause::ServerInitiated).await,
            CloseHow::Fin => self.close_silently(CloseCause::ServerInitiated).await,
            CloseHow::Reset => {
                if let Err(e) = self.ws.get_ref().set_zero_linger() {
                    tracing::debug!("could not set zero linger for {}: {e}", self.peer);
                }
                CloseCause::ServerInitiated
            }
        }
    }

    /// Sends a close frame and waits (briefly) for the client's reply so the socket ends with FIN.
    pub(super) async fn close_frame(&mut self, code: u16, reason: &str, cause: CloseCause) -> CloseCause {
        let frame = CloseFrame { code: code.into(), reason: reason.into() };
        let grace = self.shared.config.close_grace;
        let ws = &mut self.ws;
        let exchange = async {
            if ws.close(Some(frame)).await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        };
        if tokio::time::timeout(grace, exchange).await.is_err() {
            tracing::debug!("client did not answer the close frame within {grace:?}");
        }
        cause
    }

    /// Ends the TCP connection with a FIN and no close frame (the client sees 1006), draining what the
    /// client still sends so the kernel does not turn the FIN into a reset.
    pub(super) async fn close_silently(&mut self, cause: CloseCause) -> CloseCause {
        let grace = self.shared.config.close_grace;
        let tcp = self.ws.get_mut();
        let drain = async {
            if let Err(e) = tcp.shutdown().await {
                tracing::debug!("shutdown failed: {e}");
            }
            let mut sink = [0u8; 1024];
            while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::debug!("client kept the socket open for {grace:?} after our FIN");
        }
        cause
    }

    /// Sorts a socket error into a close cause, answering with a close frame where the protocol says so.
    pub(super) async fn on_error(&mut self, error: WsError) -> CloseCause {
        match error {
            WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
                self.close_frame(1009, "Message too big", CloseCause::MessageTooBig).await
            }
            WsError::Utf8(_) => self.close_frame(1007, "Invalid UTF-8", CloseCause::ProtocolViolation).await,
            WsError::Protocol(WsProtocolError::ResetWithoutClosingHandshake) => CloseCause::ClientVanished,
            WsError::ConnectionClosed | WsError::AlreadyClosed => CloseCause::ClientClose,
            WsError::Io(e) if is_disconnect(&e) => CloseCause::ClientVanished,
            WsError::Io(e) => {
                tracing::debug!("connection i/o error: {e}");
                CloseCause::IoError
            }
            WsError::Protocol(e) => {
                tracing::debug!("client protocol violation: {e}");
                self.close_frame(1002, "Protocol error", CloseCause::ProtocolViolation).await
            }
            other => {
                tracing::debug!("connection error: {other}");
                CloseCause::IoError
            }
        }
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof)
}
