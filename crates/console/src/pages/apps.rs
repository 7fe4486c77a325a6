//! Apps of an account: list, create, settings (id, description, notes, base workflow,
//! visibility), what is in them (collaborators, models, workflows, modules), the teams that
//! reach them, and delete with a confirmation that names the app.
//!
//! Fields the caller may not edit are disabled with the permission they need; the service
//! checks every field of an edit anyway.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use portcullis_core::index::ItemKind;
use portcullis_core::roles::collaborator_forbidden;
use portcullis_core::{Level, Permission, PermissionSet, TeamRole, Visibility};
use portcullis_service::ServiceError;
use portcullis_service::apps::{AppInput, AppPatch};
use portcullis_service::store::{AppRecord, CollaboratorRecord, InstalledModule, ItemRecord};
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn, redirect_with};
use crate::view::{Nav, after_post, page_error, render, when};

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    nav: Nav,
    apps: Vec<AppRecord>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    cursor: Option<String>,
}

pub async fn list(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    Query(query): Query<PageQuery>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "apps", "Apps").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let page = match service
        .list_apps(
            &viewer.caller,
            &account,
            Some("200"),
            query.cursor.as_deref(),
        )
        .await
    {
        Ok(page) => page,
        Err(err) => return page_error(err),
    };
    let page = AppsPage {
        nav,
        apps: page.apps,
        next_cursor: page.next_cursor,
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct NewAppForm {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: String,
}

pub async fn create(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<NewAppForm>,
) -> Response {
    let form = posted.form;
    let input = AppInput {
        name: form.id.clone(),
        id: form.id,
        description: Some(form.description).filter(|d| !d.is_empty()),
        notes: None,
        visibility: Some(form.visibility).filter(|v| !v.is_empty()),
    };
    match service
        .create_app(&posted.viewer.caller, &account, input)
        .await
    {
        Ok(app) => redirect_with(
            &format!("/a/{account}/apps/{}", app.value.id),
            false,
            &format!("app {} created", app.value.id),
        ),
        Err(err) => after_post(Err::<(), _>(err), &format!("/a/{account}/apps"), ""),
    }
}

struct TeamReach {
    id: String,
    name: String,
    role: TeamRole,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    nav: Nav,
    app: AppRecord,
    app_perms: PermissionSet,
    visibilities: Vec<&'static str>,
    collaborators: Option<Vec<CollaboratorRecord>>,
    models: Vec<ItemRecord>,
    workflows: Vec<ItemRecord>,
    modules: Vec<ItemRecord>,
    installed: Vec<InstalledModule>,
    teams: Vec<TeamReach>,
    /// The app-level permissions a collaborator may be given (id, label).
    grantable: Vec<(&'static str, &'static str)>,
}

impl AppPage {
    fn may(&self, permission: &str) -> bool {
        Permission::parse(permission).is_some_and(|p| self.app_perms.contains(p))
    }
    /// `disabled` plus the reason, for a field the caller may not change.
    fn lock(&self, permission: &str) -> &'static str {
        if self.may(permission) { "" } else { "disabled" }
    }
    fn base_workflow(&self) -> &str {
        self.app.base_workflow.as_deref().unwrap_or("")
    }
    fn created(&self) -> String {
        when(self.app.created_at)
    }
    fn holds(&self, c: &CollaboratorRecord, permission: &str) -> bool {
        Permission::parse(permission).is_some_and(|p| c.permissions.contains(p))
    }
    fn perms_of(&self, c: &CollaboratorRecord) -> String {
        c.permissions
            .iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn items(
    service: &ConsoleState,
    viewer: &SignedIn,
    account: &str,
    app: &str,
    kind: ItemKind,
) -> Result<Vec<ItemRecord>, ServiceError> {
    Ok(service
        .list_items(&viewer.caller, account, app, kind, Some("200"), None)
        .await?
        .items)
}

pub async fn settings(
    State(service): State<ConsoleState>,
    Path((account, app_id)): Path<(String, String)>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "apps", app_id.clone()).await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let caller = &viewer.caller;
    let app = match service.get_app(caller, &account, &app_id).await {
        Ok(app) => app,
        Err(err) => return page_error(err),
    };
    let app_perms = match service.my_permissions(caller, &account, Some(&app_id)) {
        Ok((perms, _)) => perms,
        Err(err) => return page_error(err),
    };
    let collaborators = if app_perms.contains(Permission::CollaboratorsView) {
        match service.list_collaborators(caller, &account, &app_id).await {
            Ok(list) => Some(list),
            Err(err) => return page_error(err),
        }
    } else {
        None
    };
    let loaded = async {
        let models = items(&service, &viewer, &account, &app_id, ItemKind::Model).await?;
        let workflows = items(&service, &viewer, &account, &app_id, ItemKind::Workflow).await?;
        // Modules, own and installed, are listed to those who may use them (`modules.use`).
        let (modules, installed) = if app_perms.contains(Permission::ModulesUse) {
            (
                items(&service, &viewer, &account, &app_id, ItemKind::Module).await?,
                service.installed_modules(caller, &account, &app_id).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok::<_, ServiceError>((models, workflows, modules, installed))
    };
    let (models, workflows, modules, installed) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return page_error(err),
    };
    let mut teams = Vec::new();
    if nav.account_is_org {
        // Every member may read the org's teams; keep those that link this app.
        if let Ok(list) = service.list_teams(caller, &account).await {
            for team in list {
                if let Ok(detail) = service.get_team(caller, &account, &team.id).await
                    && let Some((_, role)) = detail.apps.iter().find(|(a, _)| *a == app.id)
                {
                    teams.push(TeamReach {
                        id: team.id,
                        name: team.name,
                        role: *role,
                    });
                }
            }
        }
    }
    let page = AppPage {
        nav,
        app,
        app_perms,
        visibilities: Visibility::ALL.iter().map(|v| v.as_str()).collect(),
        collaborators,
        models,
        workflows,
        modules,
        installed,
        teams,
        grantable: PermissionSet::all_at(Level::App)
            .difference(collaborator_forbidden())
            .iter()
            .map(|p| (p.as_str(), p.label()))
            .collect(),
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct AppForm {
    id: Option<String>,
    description: Option<String>,
    notes: Option<String>,
    base_workflow: Option<String>,
    visibility: Option<String>,
}

pub async fn update(
    State(service): State<ConsoleState>,
    Path((account, app_id)): Path<(String, String)>,
    posted: Posted<AppForm>,
) -> Response {
    let caller = &posted.viewer.caller;
    let back = format!("/a/{account}/apps/{app_id}");
    let current = match service.get_app(caller, &account, &app_id).await {
        Ok(app) => app,
        Err(err) => return page_error(err),
    };
    let form = posted.form;
    // Only what changed is sent, so an unchanged field needs no permission.
    let changed = |new: Option<String>, old: &str| new.filter(|n| n != old);
    let patch = AppPatch {
        id: changed(form.id, &current.id),
        description: changed(form.description, &current.description),
        notes: changed(form.notes.map(|n| n.replace("\r\n", "\n")), &current.notes),
        visibility: changed(form.visibility, current.visibility.as_str()),
        base_workflow: changed(
            form.base_workflow,
            current.base_workflow.as_deref().unwrap_or(""),
        )
        .map(|w| Some(w).filter(|w| !w.is_empty())),
    };
    if patch.id.is_none()
        && patch.description.is_none()
        && patch.notes.is_none()
        && patch.visibility.is_none()
        && patch.base_workflow.is_none()
    {
        return redirect_with(&back, false, "nothing changed");
    }
    match service.update_app(caller, &account, &app_id, patch).await {
        Ok(app) => redirect_with(
            &format!("/a/{account}/apps/{}", app.value.id),
            false,
            "app settings saved",
        ),
        Err(err) => after_post(Err::<(), _>(err), &back, ""),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    State(service): State<ConsoleState>,
    Path((account, app_id)): Path<(String, String)>,
    posted: Posted<DeleteForm>,
) -> Response {
    let back = format!("/a/{account}/apps/{app_id}");
    if posted.form.confirm.trim() != app_id {
        return redirect_with(
            &back,
            true,
            &format!("to delete the app, type its id `{app_id}` in the confirmation field"),
        );
    }
    let result = service
        .delete_app(&posted.viewer.caller, &account, &app_id)
        .await;
    after_post(
        result,
        &format!("/a/{account}/apps"),
        &format!("app {app_id} deleted"),
    )
}

/// Adds a collaborator or replaces its permissions: `user` and one `permissions` field per
/// ticked box (the service refuses what the caller itself does not hold).
pub async fn set_collaborator(
    State(service): State<ConsoleState>,
    Path((account, app_id)): Path<(String, String)>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let user = posted
        .form
        .iter()
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let permissions: Vec<String> = posted
        .form
        .iter()
        .filter(|(k, _)| k == "permissions")
        .map(|(_, v)| v.clone())
        .collect();
    let result = service
        .set_collaborator(
            &posted.viewer.caller,
            &account,
            &app_id,
            &user,
            &permissions,
        )
        .await;
    after_post(
        result,
        &format!("/a/{account}/apps/{app_id}#collab-h"),
        &format!("collaborator {user} saved"),
    )
}

pub async fn remove_collaborator(
    State(service): State<ConsoleState>,
    Path((account, app_id, user)): Path<(String, String, String)>,
    posted: Posted<DeleteForm>,
) -> Response {
    let result = service
        .remove_collaborator(&posted.viewer.caller, &account, &app_id, &user)
        .await;
    after_post(
        result,
        &format!("/a/{account}/apps/{app_id}#collab-h"),
        &format!("collaborator {user} removed"),
    )
}
