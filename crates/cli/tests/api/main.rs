//! The API integration suite: every test starts a real server on a loopback port with a fresh
//! database (SQLite, or PostgreSQL with `PORTCULLIS_TEST_BACKEND=postgres`) and talks HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod apps;
mod auth;
mod helpers;
mod invitations;
mod matrix;
mod members;
mod orgs;
mod system;
mod teams;
