//! Identity providers the account's owner links to their account: starting a link from the
//! account page (off to the IdP), the page the mailed confirmation opens, and unlinking.
//!
//! The confirmation's GET only shows a button: mail scanners fetch links, and a fetch must not
//! use up the single-use secret.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::Response;
use portcullis_service::Caller;
use serde::Deserialize;

use crate::ConsoleState;
use crate::pages::account::Empty;
use crate::pages::email::{TokenForm, TokenQuery, url_safe};
use crate::session::{AnonPosted, Flash, Posted, PreToken, redirect_with, sso_request_cookie};
use crate::view::{Nav, after_post, message_of, render};

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    org: String,
    #[serde(default)]
    identity_provider: String,
}

#[derive(Template)]
#[template(path = "link_identity_go.html")]
struct GoPage {
    nav: Nav,
    org: String,
    redirect_url: String,
}

/// A page with the link to the IdP, and the cookie naming the request: its answer comes back
/// to the ACS, which mails the confirmation. A page rather than a redirect: the console's
/// `form-action 'self'` keeps a form from ending on another site.
pub async fn start(State(service): State<ConsoleState>, posted: Posted<StartForm>) -> Response {
    let form = &posted.form;
    let (org, idp) = (form.org.trim(), form.identity_provider.trim());
    let started = match service
        .start_sso_link(&posted.viewer.caller, org, idp)
        .await
    {
        Ok(started) => started,
        Err(err) => return redirect_with("/account", true, &message_of(&err)),
    };
    let nav = match Nav::build(
        &service,
        &posted.viewer,
        None,
        "account",
        "Link an identity provider",
    )
    .await
    {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let mut response = render(
        &GoPage {
            nav,
            org: org.to_owned(),
            redirect_url: started.redirect_url,
        },
        false,
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.append(header::SET_COOKIE, sso_request_cookie(&started.request_id));
    response
}

pub async fn unlink(
    State(service): State<ConsoleState>,
    Path((org, idp)): Path<(String, String)>,
    posted: Posted<Empty>,
) -> Response {
    after_post(
        service.unlink_sso(&posted.viewer.caller, &org, &idp).await,
        "/account",
        &format!("{org}'s identity provider {idp} no longer signs you in"),
    )
}

#[derive(Template)]
#[template(path = "link_identity.html")]
struct ConfirmPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
    token: String,
    done: Option<String>,
}

pub async fn confirm_page(pre: PreToken, Query(query): Query<TokenQuery>) -> Response {
    let page = ConfirmPage {
        title: "Link an identity provider",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
        token: url_safe(&query.token),
        done: None,
    };
    pre.finish(render(&page, false))
}

pub async fn confirm(
    State(service): State<ConsoleState>,
    posted: AnonPosted<TokenForm>,
) -> Response {
    let caller = Caller::anonymous(posted.meta.clone());
    match service.confirm_sso_link(&caller, &posted.form.token).await {
        Ok(made) => render(
            &ConfirmPage {
                title: "Identity provider linked",
                flash: None,
                csrf: String::new(),
                token: String::new(),
                done: Some(format!(
                    "{}'s identity provider {} now signs in your account {} (to {} only).",
                    made.org, made.identity_provider, made.user, made.org
                )),
            },
            false,
        ),
        Err(err) => redirect_with(
            &format!("/link-identity?token={}", url_safe(&posted.form.token)),
            true,
            &message_of(&err),
        ),
    }
}
