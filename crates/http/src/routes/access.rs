//! Access review: who can reach an app, what one member can do, the whole matrix of an
//! organization, and what a proposed change would do. All need `audit.view`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use portcullis_service::ServiceError;
use portcullis_service::access_review::{
    AccessDelta, AccessMatrixCsv, AppPermissions, HeldPermission, MatrixCell, Principal,
    PrincipalAccess, ProposedChange,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app_access))
        .routes(routes!(member_access))
        .routes(routes!(access_matrix))
        .routes(routes!(what_if))
}

/// A permission and every grant path that gives it (`role:admin`, `team:ml(model_trainer)`,
/// `collaborator`, `owner`, `visibility:org`...).
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldPermissionDto {
    pub permission: String,
    pub via: Vec<String>,
}

impl From<HeldPermission> for HeldPermissionDto {
    fn from(h: HeldPermission) -> Self {
        Self {
            permission: h.permission.as_str().to_owned(),
            via: h.via,
        }
    }
}

/// One principal that can reach the app.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalDto {
    /// `user`, `app_key` or `anyone` (a public app).
    pub kind: &'static str,
    /// The user id, or the key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The organization role, for members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The member's teams linked to the app, as `team(team_role)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    pub collaborator: bool,
    /// For app keys: the user holding the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    pub permissions: Vec<HeldPermissionDto>,
}

impl From<PrincipalAccess> for PrincipalDto {
    fn from(p: PrincipalAccess) -> Self {
        let permissions = p.permissions.into_iter().map(Into::into).collect();
        match p.principal {
            Principal::User {
                id,
                role,
                teams,
                collaborator,
            } => Self {
                kind: "user",
                id: Some(id),
                role: role.map(|r| r.as_str().to_owned()),
                teams,
                collaborator,
                holder: None,
                permissions,
            },
            Principal::AppKey { id, user } => Self {
                kind: "app_key",
                id: Some(id),
                role: None,
                teams: vec![],
                collaborator: false,
                holder: Some(user),
                permissions,
            },
            Principal::Anyone => Self {
                kind: "anyone",
                id: None,
                role: None,
                teams: vec![],
                collaborator: false,
                holder: None,
                permissions,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppAccessDto {
    pub account: String,
    pub app: String,
    pub visibility: String,
    pub principals: Vec<PrincipalDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    pub revision: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Every principal that can reach the app, with its effective permissions and the grant path
/// of each (`audit.view` on the owning organization).
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/access", tag = "access", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), PageQuery), responses(
    (status = 200, body = AppAccessDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn app_access(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AppAccessDto>, ApiError> {
    let page = service
        .app_access(
            &caller,
            &account,
            &app,
            query.limit.as_deref(),
            query.cursor.as_deref(),
        )
        .await?;
    Ok(Json(AppAccessDto {
        account: page.account,
        app: page.app,
        visibility: page.visibility,
        principals: page.principals.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
        revision: page.revision,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppPermissionsDto {
    pub account: String,
    pub app: String,
    pub permissions: Vec<HeldPermissionDto>,
}

impl From<AppPermissions> for AppPermissionsDto {
    fn from(a: AppPermissions) -> Self {
        Self {
            account: a.account,
            app: a.app,
            permissions: a.permissions.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberAccessDto {
    pub user: String,
    pub role: String,
    pub org_permissions: Vec<HeldPermissionDto>,
    /// Every app of the organization on which the member holds anything.
    pub apps: Vec<AppPermissionsDto>,
    pub revision: u64,
}

/// Every org-level permission of a member and every app of the organization it can reach,
/// with paths (`audit.view`, or the member itself).
#[utoipa::path(get, path = "/v1/orgs/{org}/members/{user}/access", tag = "access", security(("bearer" = [])),
    params(("org" = String, Path), ("user" = String, Path)), responses(
    (status = 200, body = MemberAccessDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
))]
async fn member_access(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, user)): Path<(String, String)>,
) -> Result<Json<MemberAccessDto>, ApiError> {
    let access = service.member_access(&caller, &org, &user).await?;
    Ok(Json(MemberAccessDto {
        user: access.user,
        role: access.role.as_str().to_owned(),
        org_permissions: access.org_permissions.into_iter().map(Into::into).collect(),
        apps: access.apps.into_iter().map(Into::into).collect(),
        revision: access.revision,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MatrixQuery {
    /// `csv` (default) or `jsonl`.
    pub format: Option<String>,
}

/// The whole matrix of an organization: every member × (the organization and each app) ×
/// every permission of that level, allowed or not, with paths (`audit.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/access-matrix", tag = "access", security(("bearer" = [])),
    params(("org" = String, Path), MatrixQuery), responses(
    (status = 200, description = "`text/csv` (user,role,app,permission,allowed,via) or JSON lines"),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn access_matrix(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiQuery(query): ApiQuery<MatrixQuery>,
) -> Result<Response, ApiError> {
    let csv = match query.format.as_deref() {
        None | Some("csv") => true,
        Some("jsonl") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "access.invalid_format",
                "format",
                format!("`format` must be `csv` or `jsonl`, not `{other}`"),
            ));
        }
    };
    let cells = service.access_matrix(&caller, &org)?;
    if csv {
        let body = matrix_csv(&cells).map_err(|err| ServiceError::Internal(err.into()))?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    let mut out = String::new();
    for cell in cells {
        out.push_str(&cell.json_line());
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], out).into_response())
}

fn matrix_csv(cells: &[MatrixCell]) -> std::io::Result<Vec<u8>> {
    let mut csv = AccessMatrixCsv::new(Vec::new())?;
    for cell in cells {
        csv.cell(cell)?;
    }
    csv.finish()
}

/// A proposed change. `kind` is `role` {user, role}, `team_member` {team, user, add},
/// `team_app` {team, app, remove?, role?} or `collaborator` {app, user, permissions? (absent:
/// remove)}.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeDto {
    pub kind: String,
    pub user: Option<String>,
    pub role: Option<String>,
    pub team: Option<String>,
    pub app: Option<String>,
    pub add: Option<bool>,
    pub remove: Option<bool>,
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    pub change: ChangeDto,
}

/// Permissions one user would gain and lose on the organization (`app: null`) or one app.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessDeltaDto {
    pub user: String,
    pub app: Option<String>,
    pub gained: Vec<String>,
    pub lost: Vec<String>,
}

impl From<AccessDelta> for AccessDeltaDto {
    fn from(d: AccessDelta) -> Self {
        let names = |ps: Vec<portcullis_service::core::Permission>| {
            ps.into_iter().map(|p| p.as_str().to_owned()).collect()
        };
        Self {
            user: d.user,
            app: d.app,
            gained: names(d.gained),
            lost: names(d.lost),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhatIfResponse {
    pub changes: Vec<AccessDeltaDto>,
}

fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    value.ok_or_else(|| {
        ApiError::invalid(
            "field.required",
            &format!("change.{field}"),
            format!("`change.{field}` is required for this kind of change"),
        )
    })
}

impl TryFrom<ChangeDto> for ProposedChange {
    type Error = ApiError;

    fn try_from(c: ChangeDto) -> Result<Self, ApiError> {
        Ok(match c.kind.as_str() {
            "role" => ProposedChange::Role {
                user: required(c.user, "user")?,
                role: required(c.role, "role")?,
            },
            "team_member" => ProposedChange::TeamMember {
                team: required(c.team, "team")?,
                user: required(c.user, "user")?,
                add: c.add.unwrap_or(true),
            },
            "team_app" => ProposedChange::TeamApp {
                team: required(c.team, "team")?,
                app: required(c.app, "app")?,
                role: if c.remove.unwrap_or(false) {
                    None
                } else {
                    Some(c.role)
                },
            },
            "collaborator" => ProposedChange::Collaborator {
                app: required(c.app, "app")?,
                user: required(c.user, "user")?,
                permissions: c.permissions,
            },
            other => {
                return Err(ApiError::invalid(
                    "access.unknown_change",
                    "change.kind",
                    format!(
                        "unknown change kind `{other}` (role, team_member, team_app, collaborator)"
                    ),
                ));
            }
        })
    }
}

/// What a proposed change would grant and take away, per user and resource, without applying
/// it (`audit.view`).
#[utoipa::path(post, path = "/v1/orgs/{org}/access/what-if", tag = "access", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = WhatIfRequest, responses(
    (status = 200, body = WhatIfResponse), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn what_if(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<WhatIfRequest>,
) -> Result<Json<WhatIfResponse>, ApiError> {
    let change = ProposedChange::try_from(body.change)?;
    let deltas = service.what_if(&caller, &org, &change)?;
    Ok(Json(WhatIfResponse {
        changes: deltas.into_iter().map(Into::into).collect(),
    }))
}
