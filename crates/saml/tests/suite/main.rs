//! The portcullis-saml crate's integration tests, one binary (one link instead of one per file).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod attacks;
mod encrypted;
