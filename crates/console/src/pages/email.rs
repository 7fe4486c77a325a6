//! The pages mailed links open, and the account's address: the verification (or address
//! change) landing page, accepting an invitation from its link (signed in first), resending
//! the verification mail, and changing the address.
//!
//! A link's GET only shows a page with a button: mail scanners fetch links, and a fetch must
//! not use up a single-use token or accept an invitation.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_service::Caller;
use portcullis_service::email_verification::EmailConfirmed;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{
    AnonPosted, Flash, Posted, PreToken, SESSION_COOKIE, cookie, csrf_for, redirect_with,
};
use crate::view::{message_of, render};

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    pub(crate) token: String,
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyEmailPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
    token: String,
    done: Option<String>,
}

pub async fn verify_page(pre: PreToken, Query(query): Query<TokenQuery>) -> Response {
    let page = VerifyEmailPage {
        title: "Verify your email address",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
        token: query.token,
        done: None,
    };
    pre.finish(render(&page, false))
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub(crate) token: String,
}

pub async fn verify(
    State(service): State<ConsoleState>,
    posted: AnonPosted<TokenForm>,
) -> Response {
    let caller = Caller::anonymous(posted.meta.clone());
    let done = match service.confirm_email(&caller, &posted.form.token).await {
        Ok(EmailConfirmed::Verified { email, .. }) => format!("{email} is verified."),
        Ok(EmailConfirmed::Changed { email, .. }) => {
            format!("Your account's email address is now {email}.")
        }
        Err(err) => {
            return redirect_with(&verify_again(&posted.form.token), true, &message_of(&err));
        }
    };
    let page = VerifyEmailPage {
        title: "Email address confirmed",
        flash: None,
        csrf: String::new(),
        token: String::new(),
        done: Some(done),
    };
    render(&page, false)
}

fn verify_again(token: &str) -> String {
    format!("/verify-email?token={}", url_safe(token))
}

/// Tokens are `[A-Za-z0-9_]`; anything else is dropped rather than echoed into a URL.
pub(crate) fn url_safe(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(100)
        .collect()
}

#[derive(Template)]
#[template(path = "invitation_accept.html")]
struct InvitationPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
    token: String,
    signed_in: bool,
    org: String,
    role: String,
    state: String,
}

/// The invitation a mailed link leads to: signed out, an invitation to sign in or sign up
/// first (the link keeps working); signed in, its organization and role with an Accept button.
pub async fn invitation_page(
    State(service): State<ConsoleState>,
    headers: HeaderMap,
    pre: PreToken,
    Query(query): Query<TokenQuery>,
) -> Response {
    let token = url_safe(&query.token);
    let session = cookie(&headers, SESSION_COOKIE).and_then(|t| {
        service
            .authenticate(t, Default::default())
            .ok()
            .map(|c| (c, t))
    });
    let mut page = InvitationPage {
        title: "Invitation",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
        token: token.clone(),
        signed_in: false,
        org: String::new(),
        role: String::new(),
        state: String::new(),
    };
    if let Some((caller, session_token)) = session {
        match service.invitation_by_link(&caller, &token).await {
            Ok(invitation) => {
                page.signed_in = true;
                page.csrf = csrf_for(session_token);
                page.org = invitation.org_id;
                page.role = invitation.role.label().to_owned();
                page.state = invitation.state.as_str().to_owned();
            }
            Err(err) => {
                page.signed_in = true;
                page.flash = Some(Flash {
                    error: true,
                    message: message_of(&err),
                });
            }
        }
    }
    pre.finish(render(&page, page.flash.is_some()))
}

pub async fn accept_invitation(
    State(service): State<ConsoleState>,
    posted: Posted<TokenForm>,
) -> Response {
    match service
        .accept_invitation_by_link(&posted.viewer.caller, &posted.form.token)
        .await
    {
        Ok(accepted) => redirect_with(
            &format!("/a/{}/apps", accepted.value.org_id),
            false,
            &format!("you joined {}", accepted.value.org_id),
        ),
        Err(err) => redirect_with(
            &format!("/invitations/accept?token={}", url_safe(&posted.form.token)),
            true,
            &message_of(&err),
        ),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn resend(State(service): State<ConsoleState>, posted: Posted<Empty>) -> Response {
    match service.resend_verification(&posted.viewer.caller).await {
        Ok(()) => redirect_with("/account", false, "a new verification link is on its way"),
        Err(err) => redirect_with("/account", true, &message_of(&err)),
    }
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    email: String,
}

pub async fn change(State(service): State<ConsoleState>, posted: Posted<ChangeForm>) -> Response {
    match service
        .request_email_change(&posted.viewer.caller, &posted.form.email)
        .await
    {
        Ok(()) => redirect_with(
            "/account",
            false,
            "check the new address: the change takes effect once you follow the link sent there",
        ),
        Err(err) => redirect_with("/account", true, &message_of(&err)),
    }
}
