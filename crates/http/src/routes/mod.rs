//! The v1 API, one module per use case. Each module returns its own `OpenApiRouter` so paths
//! and their OpenAPI descriptions are registered together.

mod auth;
mod check;
mod keys;
mod orgs;
mod system;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(system::router())
        .merge(auth::router())
        .merge(keys::router())
        .merge(orgs::router())
        .merge(check::router())
}
