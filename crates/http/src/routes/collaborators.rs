//! Collaborators of an app (`collaborators.view` / `collaborators.edit`), the apps the caller
//! collaborates on, and the transfer of a personal app into an organization.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::core::PermissionSet;
use portcullis_service::store::{CollaborationRecord, CollaboratorRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::apps::AppDto;
use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_collaborators))
        .routes(routes!(set_collaborator, remove_collaborator))
        .routes(routes!(my_collaborations))
        .routes(routes!(transfer_app))
}

fn names(set: PermissionSet) -> Vec<String> {
    set.iter().map(|p| p.as_str().to_owned()).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollaboratorDto {
    pub user: String,
    pub permissions: Vec<String>,
    pub created_at: String,
}

impl From<CollaboratorRecord> for CollaboratorDto {
    fn from(c: CollaboratorRecord) -> Self {
        Self {
            user: c.user_id,
            permissions: names(c.permissions),
            created_at: rfc3339(c.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollaborationDto {
    pub account: String,
    pub app: String,
    pub permissions: Vec<String>,
    pub created_at: String,
}

impl From<CollaborationRecord> for CollaborationDto {
    fn from(c: CollaborationRecord) -> Self {
        Self {
            account: c.account,
            app: c.app_id,
            permissions: names(c.permissions),
            created_at: rfc3339(c.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCollaboratorRequest {
    /// App-level permission ids; never `app.delete`, `app.edit_id`, `app.change_visibility`.
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetCollaboratorReply {
    pub user: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferAppRequest {
    /// The organization to move the app into (needs `apps.create` there).
    pub org: String,
}

/// The app's collaborators (`collaborators.view`).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/collaborators", tag = "collaborators", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), responses(
    (status = 200, body = Vec<CollaboratorDto>), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn list_collaborators(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((account, app)): Path<(String, String)>,
) -> Result<Json<Vec<CollaboratorDto>>, ApiError> {
    let collaborators = service.list_collaborators(&caller, &account, &app).await?;
    Ok(Json(collaborators.into_iter().map(Into::into).collect()))
}

/// Grants or replaces a user's permissions on the app (`collaborators.edit`); the editor can
/// only grant permissions it holds itself.
#[utoipa::path(put, path = "/v1/accounts/{account}/apps/{app}/collaborators/{user}", tag = "collaborators", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("user" = String, Path)), request_body = SetCollaboratorRequest, responses(
    (status = 200, body = SetCollaboratorReply), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn set_collaborator(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, user)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<SetCollaboratorRequest>,
) -> Result<Json<SetCollaboratorReply>, ApiError> {
    let set = service
        .set_collaborator(&caller, &account, &app, &user, &body.permissions)
        .await?;
    Ok(Json(SetCollaboratorReply {
        user,
        permissions: names(set.value),
    }))
}

/// Removes a collaborator (`collaborators.edit`).
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}/collaborators/{user}", tag = "collaborators", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("user" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn remove_collaborator(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, user)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .remove_collaborator(&caller, &account, &app, &user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The apps the caller collaborates on.
#[utoipa::path(get, path = "/v1/users/me/collaborations", tag = "collaborators", security(("bearer" = [])), responses(
    (status = 200, body = Vec<CollaborationDto>), (status = 401, body = Problem),
))]
async fn my_collaborations(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<CollaborationDto>>, ApiError> {
    let collaborations = service.my_collaborations(&caller).await?;
    Ok(Json(collaborations.into_iter().map(Into::into).collect()))
}

/// Moves the caller's personal app into an organization where it holds `apps.create`; the
/// app keeps its models, workflows, modules, collaborators and keys.
#[utoipa::path(post, path = "/v1/accounts/{account}/apps/{app}/transfer", tag = "apps", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), request_body = TransferAppRequest, responses(
    (status = 200, body = AppDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem),
))]
async fn transfer_app(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app)): Path<(String, String)>,
    ApiJson(body): ApiJson<TransferAppRequest>,
) -> Result<Json<AppDto>, ApiError> {
    let moved = service
        .transfer_app(&caller, &account, &app, &body.org)
        .await?;
    Ok(Json(moved.value.into()))
}
