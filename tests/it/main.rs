//! The one integration-test binary: real sockets on loopback, real WebSocket clients.

mod conformance;
mod support;
