//! One module per console screen. Handlers extract, call service functions, render.

pub mod account;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod compute;
pub mod costs;
pub mod domains;
pub mod email;
pub mod identity_links;
pub mod members;
pub mod passwords;
pub mod scim;
pub mod security;
pub mod teams;
pub mod two_factor;
