//! The portcullis-store crate's integration tests, one binary (one link instead of one per file).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod audit_chain;
mod change_feed;
mod conformance;
mod tls;
