//! Models and workflows of an app, and its base workflow. Reading follows each item's own
//! visibility (capped by the app's); items the caller may not read are 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::core::index::ItemKind;
use portcullis_service::items::ItemInput;
use portcullis_service::store::ItemRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_model, list_models, delete_all_models))
        .routes(routes!(get_model, update_model, delete_model))
        .routes(routes!(create_workflow, list_workflows))
        .routes(routes!(get_workflow, update_workflow, delete_workflow))
        .routes(routes!(base_workflow))
}

/// A model, workflow or module of an app.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemDto {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `private`, `org` or `public` (never more visible than its app in effect).
    pub visibility: String,
    pub created_at: String,
    pub modified_at: String,
}

impl From<ItemRecord> for ItemDto {
    fn from(i: ItemRecord) -> Self {
        Self {
            id: i.id,
            name: i.name,
            description: i.description,
            visibility: i.visibility.as_str().to_owned(),
            created_at: rfc3339(i.created_at),
            modified_at: rfc3339(i.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList {
    pub items: Vec<ItemDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItemRequest {
    /// Unique in the app (case-insensitive).
    pub id: String,
    /// At most 200 characters; defaults to the id.
    pub name: Option<String>,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// `private` (default), `org` or `public`.
    pub visibility: Option<String>,
}

impl From<CreateItemRequest> for ItemInput {
    fn from(b: CreateItemRequest) -> Self {
        Self {
            id: b.id,
            name: b.name,
            description: b.description,
            visibility: b.visibility,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItemRequest {
    /// `private`, `org` or `public`; needs `resources.change_visibility`.
    pub visibility: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListItemsQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedCount {
    pub deleted: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BaseWorkflowDto {
    /// The app's base workflow id, or `null` when none is set.
    pub base_workflow: Option<String>,
}

pub(crate) async fn create(
    service: &AppState,
    caller: &portcullis_service::Caller,
    (account, app): (String, String),
    kind: ItemKind,
    body: CreateItemRequest,
) -> Result<(StatusCode, Json<ItemDto>), ApiError> {
    let item = service
        .create_item(caller, &account, &app, kind, body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(item.value.into())))
}

pub(crate) async fn list(
    service: &AppState,
    caller: &portcullis_service::Caller,
    (account, app): (String, String),
    kind: ItemKind,
    query: ListItemsQuery,
) -> Result<Json<ItemList>, ApiError> {
    let page = service
        .list_items(
            caller,
            &account,
            &app,
            kind,
            query.limit.as_deref(),
            query.cursor.as_deref(),
        )
        .await?;
    Ok(Json(ItemList {
        items: page.items.into_iter().map(ItemDto::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub(crate) async fn update(
    service: &AppState,
    caller: &portcullis_service::Caller,
    (account, app, id): (String, String, String),
    kind: ItemKind,
    body: UpdateItemRequest,
) -> Result<Json<ItemDto>, ApiError> {
    let item = service
        .set_item_visibility(caller, &account, &app, kind, &id, &body.visibility)
        .await?;
    Ok(Json(item.value.into()))
}

/// Creates a model (`models.create`).
#[utoipa::path(post, path = "/v1/accounts/{account}/apps/{app}/models", tag = "models", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), request_body = CreateItemRequest, responses(
    (status = 201, body = ItemDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_model(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(path): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateItemRequest>,
) -> Result<(StatusCode, Json<ItemDto>), ApiError> {
    create(&service, &caller, path, ItemKind::Model, body).await
}

/// The app's models that the caller may read, in id order.
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/models", tag = "models", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ListItemsQuery), responses(
    (status = 200, body = ItemList), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn list_models(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(path): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ListItemsQuery>,
) -> Result<Json<ItemList>, ApiError> {
    list(&service, &caller, path, ItemKind::Model, query).await
}

/// Deletes every model of the app (`models.delete_all`).
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}/models", tag = "models", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), responses(
    (status = 200, body = DeletedCount), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_all_models(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app)): Path<(String, String)>,
) -> Result<Json<DeletedCount>, ApiError> {
    let deleted = service.delete_all_models(&caller, &account, &app).await?;
    Ok(Json(DeletedCount {
        deleted: deleted.value,
    }))
}

/// A model (`app.view` on it).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/models/{model}", tag = "models", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("model" = String, Path)), responses(
    (status = 200, body = ItemDto), (status = 404, body = Problem),
))]
async fn get_model(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((account, app, id)): Path<(String, String, String)>,
) -> Result<Json<ItemDto>, ApiError> {
    let item = service
        .get_item(&caller, &account, &app, ItemKind::Model, &id)
        .await?;
    Ok(Json(item.into()))
}

/// Changes a model's visibility (`resources.change_visibility`).
#[utoipa::path(patch, path = "/v1/accounts/{account}/apps/{app}/models/{model}", tag = "models", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("model" = String, Path)), request_body = UpdateItemRequest, responses(
    (status = 200, body = ItemDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn update_model(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(path): Path<(String, String, String)>,
    ApiJson(body): ApiJson<UpdateItemRequest>,
) -> Result<Json<ItemDto>, ApiError> {
    update(&service, &caller, path, ItemKind::Model, body).await
}

/// Deletes one model (`models.delete_all`: the matrix has no separate row for one model).
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}/models/{model}", tag = "models", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("model" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_model(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_item(&caller, &account, &app, ItemKind::Model, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a workflow (`workflows.create`).
#[utoipa::path(post, path = "/v1/accounts/{account}/apps/{app}/workflows", tag = "workflows", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), request_body = CreateItemRequest, responses(
    (status = 201, body = ItemDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_workflow(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(path): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateItemRequest>,
) -> Result<(StatusCode, Json<ItemDto>), ApiError> {
    create(&service, &caller, path, ItemKind::Workflow, body).await
}

/// The app's workflows that the caller may read, in id order.
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/workflows", tag = "workflows", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ListItemsQuery), responses(
    (status = 200, body = ItemList), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn list_workflows(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(path): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ListItemsQuery>,
) -> Result<Json<ItemList>, ApiError> {
    list(&service, &caller, path, ItemKind::Workflow, query).await
}

/// A workflow (`app.view` on it).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/workflows/{workflow}", tag = "workflows", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("workflow" = String, Path)), responses(
    (status = 200, body = ItemDto), (status = 404, body = Problem),
))]
async fn get_workflow(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((account, app, id)): Path<(String, String, String)>,
) -> Result<Json<ItemDto>, ApiError> {
    let item = service
        .get_item(&caller, &account, &app, ItemKind::Workflow, &id)
        .await?;
    Ok(Json(item.into()))
}

/// Changes a workflow's visibility (`resources.change_visibility`).
#[utoipa::path(patch, path = "/v1/accounts/{account}/apps/{app}/workflows/{workflow}", tag = "workflows", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("workflow" = String, Path)), request_body = UpdateItemRequest, responses(
    (status = 200, body = ItemDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn update_workflow(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(path): Path<(String, String, String)>,
    ApiJson(body): ApiJson<UpdateItemRequest>,
) -> Result<Json<ItemDto>, ApiError> {
    update(&service, &caller, path, ItemKind::Workflow, body).await
}

/// Deletes a workflow (`workflows.create`); deleting the base workflow clears it.
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}/workflows/{workflow}", tag = "workflows", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("workflow" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_workflow(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_item(&caller, &account, &app, ItemKind::Workflow, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The app's base workflow (`base_workflow.view`); set it with `PATCH .../apps/{app}`.
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/base-workflow", tag = "workflows", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), responses(
    (status = 200, body = BaseWorkflowDto), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn base_workflow(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((account, app)): Path<(String, String)>,
) -> Result<Json<BaseWorkflowDto>, ApiError> {
    let base_workflow = service.base_workflow(&caller, &account, &app).await?;
    Ok(Json(BaseWorkflowDto { base_workflow }))
}
