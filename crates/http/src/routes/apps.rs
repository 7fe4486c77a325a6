//! Apps of an account (an organization or a user): create, list, read, edit, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::apps::{AppInput, AppPatch};
use portcullis_service::store::AppRecord;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_app, list_apps))
        .routes(routes!(get_app, update_app, delete_app))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppDto {
    pub id: String,
    /// The owning account: an organization or a user.
    pub owner: String,
    pub name: String,
    pub description: String,
    pub notes: String,
    /// `private`, `org` or `public`.
    pub visibility: String,
    pub base_workflow: Option<String>,
    pub created_at: String,
    pub modified_at: String,
}

impl From<AppRecord> for AppDto {
    fn from(a: AppRecord) -> Self {
        Self {
            id: a.id,
            owner: a.owner_id,
            name: a.name,
            description: a.description,
            notes: a.notes,
            visibility: a.visibility.as_str().to_owned(),
            base_workflow: a.base_workflow,
            created_at: rfc3339(a.created_at),
            modified_at: rfc3339(a.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppList {
    pub apps: Vec<AppDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    pub id: String,
    /// At most 200 characters.
    pub name: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// At most 64 KiB.
    pub notes: Option<String>,
    /// `private` (default), `org` or `public`.
    pub visibility: Option<String>,
}

/// Creates an app in an organization (`apps.create`) or in the caller's personal account.
#[utoipa::path(post, path = "/v1/accounts/{account}/apps", tag = "apps", security(("bearer" = [])), params(("account" = String, Path)),
    request_body = CreateAppRequest, responses(
    (status = 201, body = AppDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_app(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(account): Path<String>,
    ApiJson(body): ApiJson<CreateAppRequest>,
) -> Result<(StatusCode, Json<AppDto>), ApiError> {
    let input = AppInput {
        id: body.id,
        name: body.name,
        description: body.description,
        notes: body.notes,
        visibility: body.visibility,
    };
    let app = service.create_app(&caller, &account, input).await?;
    Ok((StatusCode::CREATED, Json(app.value.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAppsQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The account's apps that the caller may view, in id order (anonymous callers: public apps).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps", tag = "apps", security((), ("bearer" = [])),
    params(("account" = String, Path), ListAppsQuery), responses(
    (status = 200, body = AppList), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn list_apps(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(account): Path<String>,
    ApiQuery(query): ApiQuery<ListAppsQuery>,
) -> Result<Json<AppList>, ApiError> {
    let page = service
        .list_apps(
            &caller,
            &account,
            query.limit.as_deref(),
            query.cursor.as_deref(),
        )
        .await?;
    Ok(Json(AppList {
        apps: page.apps.into_iter().map(AppDto::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// An app (`app.view`, which public and org visibility give; others get 404).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}", tag = "apps", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), responses(
    (status = 200, body = AppDto), (status = 404, body = Problem),
))]
async fn get_app(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((account, app)): Path<(String, String)>,
) -> Result<Json<AppDto>, ApiError> {
    Ok(Json(service.get_app(&caller, &account, &app).await?.into()))
}

/// `null` and absent differ for a clearable field: absent keeps it, `null` clears it.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAppRequest {
    /// Needs `app.edit_id`.
    pub id: Option<String>,
    /// Needs `app.edit_description`.
    pub description: Option<String>,
    /// Needs `app.edit_notes`.
    pub notes: Option<String>,
    /// Needs `app.change_visibility`.
    pub visibility: Option<String>,
    /// A workflow id, or `null` to clear; needs `base_workflow.edit`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub base_workflow: Option<Option<String>>,
}

/// Edits an app. Each field needs its own permission; one missing refuses the whole edit.
#[utoipa::path(patch, path = "/v1/accounts/{account}/apps/{app}", tag = "apps", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), request_body = UpdateAppRequest, responses(
    (status = 200, body = AppDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn update_app(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateAppRequest>,
) -> Result<Json<AppDto>, ApiError> {
    let patch = AppPatch {
        id: body.id,
        description: body.description,
        notes: body.notes,
        visibility: body.visibility,
        base_workflow: body.base_workflow,
    };
    Ok(Json(
        service
            .update_app(&caller, &account, &app, patch)
            .await?
            .value
            .into(),
    ))
}

/// Deletes an app with its team links, collaborators and app keys (`app.delete`).
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}", tag = "apps", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_app(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.delete_app(&caller, &account, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}
