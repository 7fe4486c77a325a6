//! The portcullis-service crate's integration tests, one binary (one link instead of one per file).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod email_keys;
mod last_admin;
mod sealed_secrets;
mod two_factor_login;
mod views_agree;
