//! Modules of an app (create / delete: `modules.manage`; list / view: `modules.use`) and
//! modules installed into an app (`modules.install`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::core::index::ItemKind;
use portcullis_service::items::ModuleSource;
use portcullis_service::store::InstalledModule;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::items::{
    CreateItemRequest, ItemDto, ItemList, ListItemsQuery, UpdateItemRequest, create, list, update,
};
use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_module, list_modules))
        .routes(routes!(get_module, update_module, delete_module))
        .routes(routes!(list_installed_modules))
        .routes(routes!(install_module, uninstall_module))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstalledModuleDto {
    pub module: ItemDto,
    /// The account and app the module comes from.
    pub account: String,
    pub app: String,
    pub installed_at: String,
}

impl From<InstalledModule> for InstalledModuleDto {
    fn from(m: InstalledModule) -> Self {
        Self {
            module: m.module.into(),
            account: m.source_account,
            app: m.source_app,
            installed_at: rfc3339(m.installed_at),
        }
    }
}

/// The app a module comes from; both or neither (default: the app it is installed into).
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModuleSourceRequest {
    pub account: Option<String>,
    pub app: Option<String>,
}

impl ModuleSourceRequest {
    fn into_source(self) -> Result<ModuleSource, ApiError> {
        match (self.account, self.app) {
            (Some(account), Some(app)) => Ok(Some((account, app))),
            (None, None) => Ok(None),
            (account, _) => Err(ApiError::invalid(
                "field.required",
                if account.is_none() { "account" } else { "app" },
                "give both `account` and `app` of the module's source app, or neither",
            )),
        }
    }
}

/// Creates a module in the app (`modules.manage`).
#[utoipa::path(post, path = "/v1/accounts/{account}/apps/{app}/modules", tag = "modules", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), request_body = CreateItemRequest, responses(
    (status = 201, body = ItemDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_module(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(path): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateItemRequest>,
) -> Result<(StatusCode, Json<ItemDto>), ApiError> {
    create(&service, &caller, path, ItemKind::Module, body).await
}

/// The app's modules the caller may read (`modules.use`), in id order.
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/modules", tag = "modules", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ListItemsQuery), responses(
    (status = 200, body = ItemList), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn list_modules(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path(path): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ListItemsQuery>,
) -> Result<Json<ItemList>, ApiError> {
    list(&service, &caller, path, ItemKind::Module, query).await
}

/// A module (`modules.use`).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/modules/{module}", tag = "modules", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("module" = String, Path)), responses(
    (status = 200, body = ItemDto), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn get_module(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((account, app, id)): Path<(String, String, String)>,
) -> Result<Json<ItemDto>, ApiError> {
    let item = service
        .get_item(&caller, &account, &app, ItemKind::Module, &id)
        .await?;
    Ok(Json(item.into()))
}

/// Changes a module's visibility (`resources.change_visibility`).
#[utoipa::path(patch, path = "/v1/accounts/{account}/apps/{app}/modules/{module}", tag = "modules", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("module" = String, Path)), request_body = UpdateItemRequest, responses(
    (status = 200, body = ItemDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn update_module(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(path): Path<(String, String, String)>,
    ApiJson(body): ApiJson<UpdateItemRequest>,
) -> Result<Json<ItemDto>, ApiError> {
    update(&service, &caller, path, ItemKind::Module, body).await
}

/// Deletes a module (`modules.manage`); its installations go with it.
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}/modules/{module}", tag = "modules", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("module" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_module(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_item(&caller, &account, &app, ItemKind::Module, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The modules installed into the app (`modules.use`).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/installed-modules", tag = "modules", security((), ("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), responses(
    (status = 200, body = Vec<InstalledModuleDto>), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn list_installed_modules(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    Path((account, app)): Path<(String, String)>,
) -> Result<Json<Vec<InstalledModuleDto>>, ApiError> {
    let installed = service.installed_modules(&caller, &account, &app).await?;
    Ok(Json(installed.into_iter().map(Into::into).collect()))
}

/// An optional JSON body: empty means the default.
fn optional_body(body: &Bytes) -> Result<ModuleSourceRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ModuleSourceRequest::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("request.invalid_body", e.to_string()))
}

/// Installs a module into the app (`modules.install` there). The body names the module's
/// source app (default: this app); the caller must be able to read the module.
#[utoipa::path(put, path = "/v1/accounts/{account}/apps/{app}/installed-modules/{module}", tag = "modules", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("module" = String, Path)),
    request_body(content = Option<ModuleSourceRequest>), responses(
    (status = 200, body = InstalledModuleDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn install_module(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, module)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<InstalledModuleDto>, ApiError> {
    let source = optional_body(&body)?.into_source()?;
    let installed = service
        .install_module(&caller, &account, &app, &module, source)
        .await?;
    Ok(Json(installed.value.into()))
}

/// Uninstalls a module from the app (`modules.install` there); the query names its source
/// app (default: this app).
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}/installed-modules/{module}", tag = "modules", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("module" = String, Path), ModuleSourceRequest), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn uninstall_module(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, module)): Path<(String, String, String)>,
    ApiQuery(query): ApiQuery<ModuleSourceRequest>,
) -> Result<StatusCode, ApiError> {
    service
        .uninstall_module(&caller, &account, &app, &module, query.into_source()?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
