//! Waiting on a deadline that may not be set: the one helper the mock's connections, the managers'
//! sockets and the load driver share for `select!` branches that are armed only sometimes.

use tokio::time::Instant;

/// Resolves at `deadline`, or never when there is none.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
