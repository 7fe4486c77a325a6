//! Passwords outside the sign-in steps: the live policy check behind `password-check.js`,
//! the signed-in password change, and reset by the single-use token from the outbox.
//!
//! Every rule comes from the service (`validate_password`, `validate_password_with_token`,
//! `change_password`, `confirm_password_reset`); the console only shows its answers.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::password_policy::Violation;
use portcullis_service::ServiceError;
use portcullis_service::password_change::ChangeAuthority;
use portcullis_service::password_hashing::MAX_PASSWORD_BYTES;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::ConsoleState;
use crate::session::{
    AnonPosted, AnyPosted, Flash, Posted, PreToken, STEP_COOKIE, cookie, redirect_with,
};
use crate::view::{error_page, message_of, render};

#[derive(Deserialize)]
pub struct CheckForm {
    #[serde(default)]
    password: String,
    /// The reset token typed in the same form, if any.
    #[serde(default)]
    token: String,
}

#[derive(Serialize)]
struct Rule {
    field: &'static str,
    message: String,
}

#[derive(Serialize)]
struct CheckAnswer {
    valid: bool,
    violations: Vec<Rule>,
}

fn answer(violations: Vec<Violation>) -> Response {
    Json(CheckAnswer {
        valid: violations.is_empty(),
        violations: violations
            .into_iter()
            .map(|v| Rule {
                field: v.field,
                message: v.message,
            })
            .collect(),
    })
    .into_response()
}

/// `POST /password-check`: every rule of the applicable policy the typed password breaks.
/// The policy is the one the next submit will be checked against: the signed-in user's, the
/// user of a pending forced change or of a typed reset token, or else the server-wide one.
pub async fn password_check(
    State(service): State<ConsoleState>,
    posted: AnyPosted<CheckForm>,
) -> Response {
    let form = posted.form;
    if form.password.len() > MAX_PASSWORD_BYTES {
        return answer(vec![Violation {
            field: "maximum_length",
            message: format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        }]);
    }
    let step = cookie(&posted.headers, STEP_COOKIE).and_then(|s| s.strip_prefix("pwd."));
    let token = Some(form.token.trim())
        .filter(|t| !t.is_empty())
        .or(step.filter(|_| !posted.signed_in));
    if let Some(token) = token {
        match service
            .validate_password_with_token(token, &form.password)
            .await
        {
            Ok(violations) => return answer(violations),
            // A mistyped token: the server-wide policy still says something useful.
            Err(ServiceError::Invalid { .. }) => {}
            Err(err) => return failed(&err),
        }
    }
    match service
        .validate_password(&posted.caller, &form.password, None)
        .await
    {
        Ok(violations) => answer(violations),
        Err(err) => failed(&err),
    }
}

fn failed(err: &ServiceError) -> Response {
    if let ServiceError::Internal(inner) = err {
        tracing::error!(error = %inner, "password check failed");
    }
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

#[derive(Deserialize)]
pub struct ChangeForm {
    current: String,
    new: String,
}

/// `POST /account/password`: the signed-in change; the other sessions of the user end.
pub async fn change(State(service): State<ConsoleState>, posted: Posted<ChangeForm>) -> Response {
    let result = service
        .change_password(
            ChangeAuthority::Caller(&posted.viewer.caller),
            SecretString::from(posted.form.current),
            SecretString::from(posted.form.new),
        )
        .await;
    match result {
        Ok(()) => redirect_with(
            "/account",
            false,
            "password changed; your other sessions were signed out",
        ),
        Err(ServiceError::Internal(err)) => {
            tracing::error!(error = %err, "password change failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "internal error",
            )
        }
        Err(err) => redirect_with("/account#password-h", true, &message_of(&err)),
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
}

pub async fn reset_page(pre: PreToken) -> Response {
    let page = ResetPage {
        title: "Reset your password",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
    };
    pre.finish(render(&page, false))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    email: String,
}

/// Starts a reset; the answer never says whether the address has an account.
pub async fn reset_request(
    State(service): State<ConsoleState>,
    posted: AnonPosted<ResetForm>,
) -> Response {
    let caller = portcullis_service::Caller::anonymous(posted.meta);
    if let Err(err) = service
        .request_password_reset(&caller, posted.form.email.trim())
        .await
    {
        return failed(&err);
    }
    redirect_with(
        "/password-reset/confirm",
        false,
        "if the address belongs to an account, a single-use reset token is on its way",
    )
}

#[derive(Template)]
#[template(path = "reset_confirm.html")]
struct ResetConfirmPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
}

pub async fn reset_confirm_page(pre: PreToken) -> Response {
    let page = ResetConfirmPage {
        title: "Choose a new password",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
    };
    pre.finish(render(&page, false))
}

#[derive(Deserialize)]
pub struct ResetConfirmForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new: String,
}

pub async fn reset_confirm(
    State(service): State<ConsoleState>,
    posted: AnonPosted<ResetConfirmForm>,
) -> Response {
    let caller = portcullis_service::Caller::anonymous(posted.meta);
    let form = posted.form;
    match service
        .confirm_password_reset(&caller, form.token.trim(), SecretString::from(form.new))
        .await
    {
        Ok(()) => redirect_with(
            "/sign-in",
            false,
            "password reset: sign in with the new password",
        ),
        Err(err @ ServiceError::Internal(_)) => failed(&err),
        Err(err) => redirect_with("/password-reset/confirm", true, &message_of(&err)),
    }
}
