//! Members of an organization: list, change role, remove, leave.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::store::MemberRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members))
        .routes(routes!(change_member_role, remove_member))
        .routes(routes!(leave_org))
}

/// A member of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    /// The user's id.
    pub user: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub joined_at: String,
}

impl From<MemberRecord> for MemberDto {
    fn from(m: MemberRecord) -> Self {
        Self {
            user: m.id,
            email: m.email,
            first_name: m.first_name,
            last_name: m.last_name,
            role: m.role.as_str().to_owned(),
            joined_at: rfc3339(m.joined_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPageDto {
    pub members: Vec<MemberDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The members of an organization, ordered by user id (any member; others get 404).
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "members", security(("bearer" = [])),
    params(("org" = String, Path), MembersQuery), responses(
    (status = 200, body = MemberPageDto), (status = 401, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn list_members(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiQuery(query): ApiQuery<MembersQuery>,
) -> Result<Json<MemberPageDto>, ApiError> {
    let page = service
        .list_members(
            &caller,
            &org,
            query.limit.as_deref(),
            query.cursor.as_deref(),
        )
        .await?;
    Ok(Json(MemberPageDto {
        members: page.members.into_iter().map(MemberDto::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    /// One of the six organization roles.
    pub role: String,
}

/// Changes a member's role (`members.manage`). The last administrator cannot be demoted.
#[utoipa::path(put, path = "/v1/orgs/{org}/members/{user}", tag = "members", security(("bearer" = [])),
    params(("org" = String, Path), ("user" = String, Path)), request_body = ChangeRoleRequest, responses(
    (status = 200, body = MemberDto), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`member.last_admin`"), (status = 422, body = Problem),
))]
async fn change_member_role(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, user)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRoleRequest>,
) -> Result<Json<MemberDto>, ApiError> {
    let change = service
        .change_member_role(&caller, &org, &user, &body.role)
        .await?;
    Ok(Json(change.value.member.into()))
}

/// Removes a member (`members.manage`) with its team memberships and its credentials bound to
/// the organization. The last administrator cannot be removed.
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user}", tag = "members", security(("bearer" = [])),
    params(("org" = String, Path), ("user" = String, Path)), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`member.last_admin`"),
))]
async fn remove_member(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.remove_member(&caller, &org, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller leaves the organization. The last administrator cannot leave.
#[utoipa::path(post, path = "/v1/orgs/{org}/leave", tag = "members", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`member.last_admin`"),
))]
async fn leave_org(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<StatusCode, ApiError> {
    service.leave_org(&caller, &org).await?;
    Ok(StatusCode::NO_CONTENT)
}
