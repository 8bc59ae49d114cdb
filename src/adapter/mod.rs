//! External managers: the team's own manager code run in processes of its own and driven through the
//! adapter protocol ([`protocol`]: newline-delimited JSON over stdin and stdout), one [`process`] each.
//! `adapters/node/` and `adapters/python/` put the protocol in front of a manager with the seeds' APIs.

pub mod account;
pub mod cohort;
pub mod launch;
pub mod migration;
pub mod process;
pub mod protocol;
pub mod truth;
