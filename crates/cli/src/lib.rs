//! The `portcullis` binary's library half: the settings ([`config`]) and the application `serve`
//! runs ([`app::App`]), shared with the integration tests so they start the server the way the
//! binary does. The commands themselves live in the binary (`main.rs`).

pub mod app;
pub mod config;
pub mod error;
pub mod https_redirect;
mod log_fields;
pub mod tls;
