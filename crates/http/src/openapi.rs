//! The OpenAPI document (generated from the handlers' annotations) and the offline `/docs`.

use std::sync::Arc;

use axum::Router;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis", description = "Organization security server: members, teams, apps, permission checks."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub(crate) fn base() -> OpenApiDoc {
    ApiDoc::openapi()
}

/// The full document.
pub fn openapi() -> OpenApiDoc {
    crate::routes::api().split_for_parts().1
}

/// The full document as pretty JSON (what `/v1/openapi.json` serves and CI compares).
pub fn openapi_json() -> String {
    openapi().to_pretty_json().unwrap_or_default()
}

/// `/v1/openapi.json` and the interactive reference at `/docs`, served from vendored files.
pub(crate) fn docs_router(spec: Arc<OpenApiDoc>) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/v1/openapi.json", (*spec).clone()))
}
