//! The v1 API, one module per use case. Each module returns its own `OpenApiRouter` so paths
//! and their OpenAPI descriptions are registered together.

mod access;
mod app_keys;
mod apps;
mod audit;
mod auth;
mod billing;
mod check;
mod collaborators;
mod compute;
mod domains;
mod email;
mod identity_providers;
mod invitations;
mod items;
mod keys;
mod members;
mod modules;
mod orgs;
mod passwords;
mod saml;
pub mod scim;
mod security;
mod sessions;
mod sso_links;
mod system;
mod teams;
mod totp;

use utoipa_axum::router::OpenApiRouter;

pub use passwords::OutboxMessageDto;

use crate::AppState;

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(system::router())
        .merge(audit::router())
        .merge(access::router())
        .merge(auth::router())
        .merge(security::router())
        .merge(identity_providers::router())
        .merge(domains::router())
        .merge(saml::router())
        .merge(sso_links::router())
        .merge(passwords::router())
        .merge(email::router())
        .merge(sessions::router())
        .merge(totp::router())
        .merge(keys::router())
        .merge(orgs::router())
        .merge(members::router())
        .merge(invitations::router())
        .merge(check::router())
        .merge(teams::router())
        .merge(apps::router())
        .merge(items::router())
        .merge(modules::router())
        .merge(collaborators::router())
        .merge(app_keys::router())
        .merge(compute::router())
        .merge(billing::router())
        .merge(scim::tokens::router())
}
