//! SCIM provisioning: the organization's SCIM endpoint (what to paste into Okta or Entra ID),
//! its SCIM tokens (create, with the secret shown once on the page the create answers; rotate,
//! which shows the new secret once and keeps the old one working for the overlap; revoke), and
//! the last sync activity with its errors (the org's audit entries made with a SCIM token).
//!
//! Every rule is the service's (`create_scim_token`, `list_scim_tokens`, `rotate_scim_token`,
//! `revoke_scim_token`, `scim_activity`): who may see or use the page, what a token may do, how
//! long the overlap lasts. The console only renders their answers; a secret is never posted
//! back by the browser nor kept after the page that shows it.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_service::audit::operation_name;
use portcullis_service::scim::{CreatedScimToken, ScimTokenRecord};
use portcullis_service::store::AuditEntry;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn};
use crate::view::{Nav, after_post, page_error, render, when};

/// How many of the latest SCIM audit entries the page shows.
const ACTIVITY_ROWS: usize = 50;

/// A SCIM token as the page lists it.
struct TokenRow {
    id: String,
    description: String,
    created: String,
    created_by: String,
    last_used: String,
    /// When the token stops working (a rotated token's end of overlap, or its own expiry).
    expires: String,
    revoked: String,
    /// Neither revoked nor past its expiry.
    live: bool,
}

fn token_row(record: ScimTokenRecord, now: i64) -> TokenRow {
    let at = |t: Option<i64>| t.map(when).unwrap_or_default();
    TokenRow {
        live: record.revoked_at.is_none() && record.expires_at.is_none_or(|t| t > now),
        id: record.id,
        description: record.description,
        created: when(record.created_at),
        created_by: record.created_by.unwrap_or_else(|| "—".to_owned()),
        last_used: record.last_used_at.map_or_else(|| "never".to_owned(), when),
        expires: at(record.expires_at),
        revoked: at(record.revoked_at),
    }
}

/// One entry of the sync activity.
struct ActivityRow {
    at: String,
    operation: String,
    targets: String,
    success: bool,
    details: String,
}

fn activity_row(e: &AuditEntry) -> ActivityRow {
    ActivityRow {
        at: when(e.at),
        operation: operation_name(e.operation)
            .map_or_else(|| e.operation.to_string(), str::to_owned),
        targets: e.targets.clone(),
        success: e.success,
        details: if e.success {
            String::new()
        } else {
            e.details.clone()
        },
    }
}

/// A secret to show once, with what it is.
struct ShownSecret {
    heading: &'static str,
    token_id: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "scim.html")]
struct ScimPage {
    nav: Nav,
    /// The organization's SCIM base URL (what the identity provider is given).
    endpoint: String,
    tokens: Vec<TokenRow>,
    activity: Vec<ActivityRow>,
    shown: Option<ShownSecret>,
}

impl ScimPage {
    fn failures(&self) -> usize {
        self.activity.iter().filter(|a| !a.success).count()
    }
}

/// The page, with `shown` (a secret just created) if any.
async fn page(
    service: &ConsoleState,
    viewer: &SignedIn,
    account: &str,
    shown: Option<ShownSecret>,
) -> Response {
    let nav = match Nav::build(service, viewer, Some(account), "scim", "SCIM provisioning").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let now = service.now();
    let tokens = match service.list_scim_tokens(&viewer.caller, account).await {
        Ok(list) => list.into_iter().map(|r| token_row(r, now)).collect(),
        Err(err) => return page_error(err),
    };
    let activity = match service
        .scim_activity(&viewer.caller, account, ACTIVITY_ROWS)
        .await
    {
        Ok(entries) => entries.iter().map(activity_row).collect(),
        Err(err) => return page_error(err),
    };
    let endpoint = format!(
        "{}/scim/v2/orgs/{account}/",
        service.config().public_url.trim_end_matches('/')
    );
    let page = ScimPage {
        nav,
        endpoint,
        tokens,
        activity,
        shown,
    };
    render(&page, viewer.flash.is_some())
}

/// `GET /a/{account}/scim`.
pub async fn scim_page(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    viewer: SignedIn,
) -> Response {
    page(&service, &viewer, &account, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    description: String,
}

/// The page again with the secret of a token just made, or the refusal.
async fn shown_once(
    service: &ConsoleState,
    viewer: &SignedIn,
    account: &str,
    heading: &'static str,
    created: Result<CreatedScimToken, portcullis_service::ServiceError>,
) -> Response {
    match created {
        Ok(created) => {
            let shown = ShownSecret {
                heading,
                token_id: created.record.id,
                secret: created.token,
            };
            page(service, viewer, account, Some(shown)).await
        }
        Err(err) => after_post(Err::<(), _>(err), &format!("/a/{account}/scim"), ""),
    }
}

/// `POST /a/{account}/scim/tokens`: a new token, its secret shown once.
pub async fn create_token(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<CreateForm>,
) -> Response {
    let created = service
        .create_scim_token(
            &posted.viewer.caller,
            &account,
            posted.form.description.trim(),
        )
        .await
        .map(|c| c.value);
    shown_once(
        &service,
        &posted.viewer,
        &account,
        "New SCIM token",
        created,
    )
    .await
}

/// `POST /a/{account}/scim/tokens/{id}/rotate`: a new secret; the old one works until the
/// overlap ends.
pub async fn rotate_token(
    State(service): State<ConsoleState>,
    Path((account, id)): Path<(String, String)>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let created = service
        .rotate_scim_token(&posted.viewer.caller, &account, &id)
        .await
        .map(|c| c.value);
    shown_once(
        &service,
        &posted.viewer,
        &account,
        "Rotated SCIM token",
        created,
    )
    .await
}

/// `POST /a/{account}/scim/tokens/{id}/revoke`: the token stops working at once.
pub async fn revoke_token(
    State(service): State<ConsoleState>,
    Path((account, id)): Path<(String, String)>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let result = service
        .revoke_scim_token(&posted.viewer.caller, &account, &id)
        .await;
    after_post(
        result,
        &format!("/a/{account}/scim"),
        &format!("SCIM token {id} revoked"),
    )
}
