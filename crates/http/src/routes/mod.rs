//! The v1 API, one module per use case. Each module returns its own `OpenApiRouter` so paths
//! and their OpenAPI descriptions are registered together.

mod apps;
mod auth;
mod check;
mod invitations;
mod keys;
mod members;
mod orgs;
mod system;
mod teams;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(system::router())
        .merge(auth::router())
        .merge(keys::router())
        .merge(orgs::router())
        .merge(members::router())
        .merge(invitations::router())
        .merge(check::router())
        .merge(teams::router())
        .merge(apps::router())
}
