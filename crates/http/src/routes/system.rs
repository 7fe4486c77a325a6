//! Liveness and the published permission matrix.

use axum::Json;
use portcullis_service::core::permissions::CATALOGUE;
use portcullis_service::core::{MATRIX_VERSION, OrgRole, TeamRole};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(roles))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The server is alive.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleDto {
    pub id: &'static str,
    pub label: &'static str,
    /// Whether the role holds its app-level permissions on every app of the organization.
    pub all_apps: bool,
    pub permissions: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionDto {
    pub id: &'static str,
    /// `org` or `app`.
    pub level: &'static str,
    pub label: &'static str,
    /// The roles that hold it.
    pub roles: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamRoleDto {
    pub id: &'static str,
    pub permissions: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Matrix {
    /// Bumped whenever a cell changes meaning.
    pub version: u32,
    pub roles: Vec<RoleDto>,
    pub permissions: Vec<PermissionDto>,
    pub team_roles: Vec<TeamRoleDto>,
}

/// The permission matrix: every permission, its level, and the roles holding it.
#[utoipa::path(get, path = "/v1/roles", tag = "system", responses((status = 200, body = Matrix)))]
async fn roles() -> Json<Matrix> {
    let roles = OrgRole::ALL
        .iter()
        .map(|role| RoleDto {
            id: role.as_str(),
            label: role.label(),
            all_apps: role.covers_all_apps(),
            permissions: CATALOGUE
                .iter()
                .filter(|r| r.roles.contains(role))
                .map(|r| r.permission.as_str())
                .collect(),
        })
        .collect();
    let permissions = CATALOGUE
        .iter()
        .map(|row| PermissionDto {
            id: row.permission.as_str(),
            level: row.level.as_str(),
            label: row.label,
            roles: row.roles.iter().map(|r| r.as_str()).collect(),
        })
        .collect();
    let team_roles = TeamRole::ALL
        .iter()
        .map(|tr| TeamRoleDto {
            id: tr.as_str(),
            permissions: tr.permissions().iter().map(|p| p.as_str()).collect(),
        })
        .collect();
    Json(Matrix {
        version: MATRIX_VERSION,
        roles,
        permissions,
        team_roles,
    })
}
