//! Teams of an organization: create, list, read, update, delete; their members and apps.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::store::TeamRecord;
use portcullis_service::teams::{TeamDetail, TeamPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_team, list_teams))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(add_team_member, remove_team_member))
        .routes(routes!(set_team_app, remove_team_app))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDto {
    pub id: String,
    pub name: String,
    /// The role a newly linked app gets when none is given.
    pub default_role: String,
    pub created_at: String,
    pub modified_at: String,
}

impl From<TeamRecord> for TeamDto {
    fn from(t: TeamRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            default_role: t.default_role.as_str().to_owned(),
            created_at: rfc3339(t.created_at),
            modified_at: rfc3339(t.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamMemberDto {
    pub team: String,
    /// The member's user id.
    pub user: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamAppDto {
    pub app: String,
    /// The team's role on the app.
    pub role: String,
}

/// A team with its members and apps.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDetailDto {
    pub id: String,
    pub name: String,
    pub default_role: String,
    /// User ids.
    pub members: Vec<String>,
    pub apps: Vec<TeamAppDto>,
    pub created_at: String,
    pub modified_at: String,
}

impl From<TeamDetail> for TeamDetailDto {
    fn from(d: TeamDetail) -> Self {
        let team = TeamDto::from(d.team);
        Self {
            id: team.id,
            name: team.name,
            default_role: team.default_role,
            members: d.members,
            apps: d
                .apps
                .into_iter()
                .map(|(app, role)| TeamAppDto {
                    app,
                    role: role.as_str().to_owned(),
                })
                .collect(),
            created_at: team.created_at,
            modified_at: team.modified_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<TeamDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    pub id: String,
    pub name: String,
    /// `full_access` (default), `model_trainer`, `labeler_lead` or `labeler_worker`.
    pub default_role: Option<String>,
}

/// Creates a team (`teams.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/teams", tag = "teams", security(("bearer" = [])), params(("org" = String, Path)),
    request_body = CreateTeamRequest, responses(
    (status = 201, body = TeamDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_team(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<CreateTeamRequest>,
) -> Result<(StatusCode, Json<TeamDto>), ApiError> {
    let team = service
        .create_team(
            &caller,
            &org,
            &body.id,
            &body.name,
            body.default_role.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(team.value.into())))
}

/// The organization's teams (any member; others get 404).
#[utoipa::path(get, path = "/v1/orgs/{org}/teams", tag = "teams", security(("bearer" = [])), params(("org" = String, Path)), responses(
    (status = 200, body = TeamList), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn list_teams(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<TeamList>, ApiError> {
    let teams = service.list_teams(&caller, &org).await?;
    Ok(Json(TeamList {
        teams: teams.into_iter().map(TeamDto::from).collect(),
    }))
}

/// A team with its members and apps (any member of the organization).
#[utoipa::path(get, path = "/v1/orgs/{org}/teams/{team}", tag = "teams", security(("bearer" = [])),
    params(("org" = String, Path), ("team" = String, Path)), responses(
    (status = 200, body = TeamDetailDto), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn get_team(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, team)): Path<(String, String)>,
) -> Result<Json<TeamDetailDto>, ApiError> {
    Ok(Json(service.get_team(&caller, &org, &team).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeamRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub default_role: Option<String>,
}

/// Renames a team, changes its id or default role (`teams.manage`).
#[utoipa::path(patch, path = "/v1/orgs/{org}/teams/{team}", tag = "teams", security(("bearer" = [])),
    params(("org" = String, Path), ("team" = String, Path)), request_body = UpdateTeamRequest, responses(
    (status = 200, body = TeamDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn update_team(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, team)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateTeamRequest>,
) -> Result<Json<TeamDto>, ApiError> {
    let patch = TeamPatch {
        id: body.id,
        name: body.name,
        default_role: body.default_role,
    };
    Ok(Json(
        service
            .update_team(&caller, &org, &team, patch)
            .await?
            .value
            .into(),
    ))
}

/// Deletes a team with its member and app links (`teams.manage`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/teams/{team}", tag = "teams", security(("bearer" = [])),
    params(("org" = String, Path), ("team" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_team(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, team)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.delete_team(&caller, &org, &team).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a member of the organization to the team (`teams.add_members`); idempotent.
#[utoipa::path(put, path = "/v1/orgs/{org}/teams/{team}/members/{user}", tag = "teams", security(("bearer" = [])),
    params(("org" = String, Path), ("team" = String, Path), ("user" = String, Path)), responses(
    (status = 200, body = TeamMemberDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem, description = "`team.not_org_member`: the user is not a member of the organization"),
))]
async fn add_team_member(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, team, user)): Path<(String, String, String)>,
) -> Result<Json<TeamMemberDto>, ApiError> {
    let link = service
        .add_team_member(&caller, &org, &team, &user)
        .await?
        .value;
    Ok(Json(TeamMemberDto {
        team: link.team,
        user: link.user,
    }))
}

/// Removes a member from the team (`teams.add_members`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/teams/{team}/members/{user}", tag = "teams", security(("bearer" = [])),
    params(("org" = String, Path), ("team" = String, Path), ("user" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn remove_team_member(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, team, user)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .remove_team_member(&caller, &org, &team, &user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTeamAppRequest {
    /// The team's role on the app; default: the team's `default_role`.
    pub role: Option<String>,
    /// The app's owner; default (and the only one accepted): this organization.
    pub account: Option<String>,
}

/// Links an app of the organization to the team, or changes the team's role on it
/// (`teams.add_apps`).
#[utoipa::path(put, path = "/v1/orgs/{org}/teams/{team}/apps/{app}", tag = "teams", security(("bearer" = [])),
    params(("org" = String, Path), ("team" = String, Path), ("app" = String, Path)), request_body = SetTeamAppRequest, responses(
    (status = 200, body = TeamAppDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem, description = "`team.app_not_in_org`: the app is not owned by the organization"),
))]
async fn set_team_app(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, team, app)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<TeamAppDto>, ApiError> {
    let body: SetTeamAppRequest = optional_json(&body)?;
    let link = service
        .set_team_app(
            &caller,
            &org,
            &team,
            &app,
            body.role.as_deref(),
            body.account.as_deref(),
        )
        .await?
        .value;
    Ok(Json(TeamAppDto {
        app: link.app,
        role: link.role.as_str().to_owned(),
    }))
}

/// A JSON body that may be left out entirely (then every field takes its default). A body that
/// is present must be valid, with the same problem codes as [`ApiJson`].
fn optional_json<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|err| {
        let code = if err.is_data() {
            "request.invalid_body"
        } else {
            "request.malformed_json"
        };
        ApiError::bad_request(code, err.to_string())
    })
}

/// Unlinks an app from the team (`teams.add_apps`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/teams/{team}/apps/{app}", tag = "teams", security(("bearer" = [])),
    params(("org" = String, Path), ("team" = String, Path), ("app" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn remove_team_app(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, team, app)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service.remove_team_app(&caller, &org, &team, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}
