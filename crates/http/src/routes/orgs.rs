//! Organizations: create, read, update, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::orgs::OrgPatch;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::OrgDto;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_org))
        .routes(routes!(get_org, update_org, delete_org))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    pub id: String,
    pub name: String,
    pub billing_email: String,
}

/// Creates an organization; the caller becomes its first administrator.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])), request_body = CreateOrgRequest, responses(
    (status = 201, body = OrgDto), (status = 401, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_org(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<CreateOrgRequest>,
) -> Result<(StatusCode, Json<OrgDto>), ApiError> {
    let org = service
        .create_org(&caller, &body.id, &body.name, &body.billing_email)
        .await?;
    Ok((StatusCode::CREATED, Json(org.value.into())))
}

/// An organization (members only; others get 404).
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)), responses(
    (status = 200, body = OrgDto), (status = 404, body = Problem),
))]
async fn get_org(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(org): Path<String>,
) -> Result<Json<OrgDto>, ApiError> {
    Ok(Json(service.get_org(&caller, &org).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    pub name: Option<String>,
    pub billing_email: Option<String>,
}

/// Renames the organization or changes its billing email (`org.manage`).
#[utoipa::path(patch, path = "/v1/orgs/{org}", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)), request_body = UpdateOrgRequest, responses(
    (status = 200, body = OrgDto), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn update_org(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<UpdateOrgRequest>,
) -> Result<Json<OrgDto>, ApiError> {
    let patch = OrgPatch {
        name: body.name,
        billing_email: body.billing_email,
    };
    Ok(Json(
        service.update_org(&caller, &org, patch).await?.value.into(),
    ))
}

/// Deletes the organization with its teams, apps and memberships (`org.manage`).
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_org(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<StatusCode, ApiError> {
    service.delete_org(&caller, &org).await?;
    Ok(StatusCode::NO_CONTENT)
}
