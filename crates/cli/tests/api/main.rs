//! The API integration suite: every test starts a real server on a loopback port with a fresh
//! database (SQLite, or PostgreSQL with `PORTCULLIS_TEST_BACKEND=postgres`) and talks HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod helpers;
mod auth;
mod orgs;
mod members;
mod invitations;
mod matrix;
mod system;
mod teams;
mod apps;
