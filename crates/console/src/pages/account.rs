//! The home redirect and the personal account page: organizations, invitations, a new org.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_service::sso_links::LinkedIdentity;
use portcullis_service::store::InvitationRecord;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn};
use crate::view::{Nav, after_post, page_error, render, when};

/// `/`: the first organization of the user, or its personal account.
pub async fn home(State(service): State<ConsoleState>, viewer: SignedIn) -> Response {
    let orgs = match service.my_orgs(&viewer.caller).await {
        Ok(orgs) => orgs,
        Err(err) => return page_error(err),
    };
    let target = match orgs.first() {
        Some((org, _)) => org.id.clone(),
        None => match service.me(&viewer.caller).await {
            Ok(me) => me.id,
            Err(err) => return page_error(err),
        },
    };
    Redirect::to(&format!("/a/{target}/apps")).into_response()
}

struct OrgRow {
    id: String,
    name: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    email: String,
    email_verified: bool,
    orgs: Vec<OrgRow>,
    invitations: Vec<InvitationRecord>,
    two_factor: super::two_factor::Status,
    links: Vec<LinkedIdentity>,
}

impl AccountPage {
    fn expires(&self, invitation: &InvitationRecord) -> String {
        when(invitation.expires_at)
    }

    fn linked_at(&self, link: &LinkedIdentity) -> String {
        when(link.linked_at)
    }
}

pub async fn account_page(State(service): State<ConsoleState>, viewer: SignedIn) -> Response {
    let nav = match Nav::build(&service, &viewer, None, "account", "Account").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let load = async {
        let me = service.me(&viewer.caller).await?;
        let orgs = service.my_orgs(&viewer.caller).await?;
        let invitations = service.my_invitations(&viewer.caller).await?;
        let verified = service.email_verified(me.key).await?;
        let links = service.sso_links(&viewer.caller).await?;
        Ok::<_, portcullis_service::ServiceError>((me, orgs, invitations, verified, links))
    };
    let (me, orgs, invitations, email_verified, links) = match load.await {
        Ok(loaded) => loaded,
        Err(err) => return page_error(err),
    };
    let two_factor = match super::two_factor::status(&service, &viewer).await {
        Ok(status) => status,
        Err(response) => return response,
    };
    let page = AccountPage {
        email: me.email,
        email_verified,
        orgs: orgs
            .into_iter()
            .map(|(org, role)| OrgRow {
                id: org.id,
                name: org.name,
                role: role.label(),
            })
            .collect(),
        invitations,
        two_factor,
        links,
        nav,
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct NewOrgForm {
    id: String,
    name: String,
    #[serde(default)]
    billing_email: String,
}

pub async fn create_org(
    State(service): State<ConsoleState>,
    posted: Posted<NewOrgForm>,
) -> Response {
    let form = posted.form;
    // The billing e-mail defaults to the creator's own.
    let billing_email = if form.billing_email.trim().is_empty() {
        match service.me(&posted.viewer.caller).await {
            Ok(me) => me.email,
            Err(err) => return page_error(err),
        }
    } else {
        form.billing_email
    };
    let result = service
        .create_org(&posted.viewer.caller, &form.id, &form.name, &billing_email)
        .await;
    match result {
        Ok(org) => crate::session::redirect_with(
            &format!("/a/{}/apps", org.value.id),
            false,
            &format!(
                "organization {} created; you are its Administrator",
                org.value.id
            ),
        ),
        Err(err) => after_post(Err::<(), _>(err), "/account", ""),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn decide_invitation(
    State(service): State<ConsoleState>,
    Path((id, decision)): Path<(String, String)>,
    posted: Posted<Empty>,
) -> Response {
    let caller = &posted.viewer.caller;
    match decision.as_str() {
        "accept" => after_post(
            service.accept_invitation(caller, &id).await,
            "/account",
            "invitation accepted",
        ),
        "decline" => after_post(
            service.decline_invitation(caller, &id).await,
            "/account",
            "invitation declined",
        ),
        _ => page_error(portcullis_service::ServiceError::NotFound("page")),
    }
}
