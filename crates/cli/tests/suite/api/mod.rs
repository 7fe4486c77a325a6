//! The API integration suite: every test starts a real server on a loopback port with a fresh
//! database (SQLite, or PostgreSQL with `PORTCULLIS_TEST_BACKEND=postgres`) and talks HTTP.

mod access_review;
mod app_keys;
mod apps;
mod audit;
mod auth;
mod billing;
mod collaborators;
mod compute;
mod conformance;
mod domains;
mod email_addresses;
mod hardening;
mod helpers;
mod invitations;
mod isolation;
mod lockout;
mod matrix;
mod members;
mod orgs;
mod passwords;
mod policy;
mod races;
mod refusals;
mod resources;
mod saml;
mod scim;
mod sessions;
mod system;
mod teams;
mod totp;
mod verification;
