//! Teams of an organization: create with a default role, add and remove members and apps
//! (with a team role), delete.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::TeamRole;
use portcullis_service::ServiceError;
use portcullis_service::store::TeamRecord;
use portcullis_service::teams::TeamDetail;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn, redirect_with};
use crate::view::{Nav, after_post, page_error, render};

fn team_roles() -> Vec<&'static str> {
    TeamRole::ALL.iter().map(|r| r.as_str()).collect()
}

#[derive(Template)]
#[template(path = "teams.html")]
struct TeamsPage {
    nav: Nav,
    teams: Vec<TeamRecord>,
    roles: Vec<&'static str>,
}

pub async fn list(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "teams", "Teams").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let teams = match service.list_teams(&viewer.caller, &account).await {
        Ok(teams) => teams,
        Err(err) => return page_error(err),
    };
    let page = TeamsPage {
        nav,
        teams,
        roles: team_roles(),
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct NewTeamForm {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    default_role: String,
}

pub async fn create(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<NewTeamForm>,
) -> Response {
    let form = posted.form;
    let name = if form.name.trim().is_empty() {
        form.id.clone()
    } else {
        form.name
    };
    let role = Some(form.default_role.as_str()).filter(|r| !r.is_empty());
    match service
        .create_team(&posted.viewer.caller, &account, &form.id, &name, role)
        .await
    {
        Ok(team) => redirect_with(
            &format!("/a/{account}/teams/{}", team.value.id),
            false,
            &format!("team {} created", team.value.id),
        ),
        Err(err) => after_post(Err::<(), _>(err), &format!("/a/{account}/teams"), ""),
    }
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    nav: Nav,
    detail: TeamDetail,
    roles: Vec<&'static str>,
    /// Org members not yet in the team, and org apps not yet linked (for the add forms).
    candidates: Vec<String>,
    apps: Vec<String>,
}

pub async fn detail(
    State(service): State<ConsoleState>,
    Path((account, team)): Path<(String, String)>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "teams", team.clone()).await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let caller = &viewer.caller;
    let detail = match service.get_team(caller, &account, &team).await {
        Ok(detail) => detail,
        Err(err) => return page_error(err),
    };
    let mut candidates = Vec::new();
    if nav.can("teams.add_members")
        && let Ok(page) = service
            .list_members(caller, &account, Some("200"), None)
            .await
    {
        candidates = page
            .members
            .into_iter()
            .map(|m| m.id)
            .filter(|id| !detail.members.contains(id))
            .collect();
    }
    let mut apps = Vec::new();
    if nav.can("teams.add_apps")
        && let Ok(page) = service.list_apps(caller, &account, Some("200"), None).await
    {
        apps = page
            .apps
            .into_iter()
            .map(|a| a.id)
            .filter(|id| !detail.apps.iter().any(|(linked, _)| linked == id))
            .collect();
    }
    let page = TeamPage {
        nav,
        detail,
        roles: team_roles(),
        candidates,
        apps,
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    role: String,
}

pub async fn action(
    State(service): State<ConsoleState>,
    Path((account, team, action)): Path<(String, String, String)>,
    posted: Posted<TeamForm>,
) -> Response {
    let caller = &posted.viewer.caller;
    let form = &posted.form;
    let back = format!("/a/{account}/teams/{team}");
    let role = Some(form.role.as_str()).filter(|r| !r.is_empty());
    let result: Result<String, ServiceError> = match action.as_str() {
        "add-member" => service
            .add_team_member(caller, &account, &team, &form.user)
            .await
            .map(|_| format!("{} added to the team", form.user)),
        "remove-member" => service
            .remove_team_member(caller, &account, &team, &form.user)
            .await
            .map(|_| format!("{} removed from the team", form.user)),
        "add-app" => service
            .set_team_app(caller, &account, &team, &form.app, role, None)
            .await
            .map(|link| format!("app {} linked as {}", link.value.app, link.value.role)),
        "remove-app" => service
            .remove_team_app(caller, &account, &team, &form.app)
            .await
            .map(|_| format!("app {} unlinked", form.app)),
        "delete" => {
            let result = service.delete_team(caller, &account, &team).await;
            return after_post(
                result,
                &format!("/a/{account}/teams"),
                &format!("team {team} deleted"),
            );
        }
        _ => Err(ServiceError::NotFound("page")),
    };
    match result {
        Ok(message) => redirect_with(&back, false, &message),
        Err(err) => after_post(Err::<(), _>(err), &back, ""),
    }
}
