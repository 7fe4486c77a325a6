//! The `portcullis` crate's integration tests, one binary: the HTTP API against the assembled
//! application (`api`), and the built executable as an operator runs it (the other modules).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod api;
mod cli;
mod cluster;
mod common;
mod crash;
mod database_tls;
mod faults;
mod https;
mod mail;
mod packaging;
mod portability;
