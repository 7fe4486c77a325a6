//! Sign in (password, then the two-factor step, the two-factor setup an organization requires,
//! or the forced password change, when the login service asks for them), sign up, sign out.
//!
//! A pending step's token lives in a short-lived HttpOnly cookie, prefixed with its kind
//! (`2fa.`, `enrol.`, `pwd.`). Everything else about the pending login ("remember me"
//! included) stays in the service's state of that token, where a browser cannot change it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_service::authentication::{LoginOutcome, NewSession, SignupInput};
use portcullis_service::password_change::ChangeAuthority;
use portcullis_service::sso::LoginMethod;
use portcullis_service::totp::TotpAuthority;
use portcullis_service::{Caller, ServiceError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::ConsoleState;
use crate::pages::two_factor::{Flow, Shown, shown};
use crate::session::{
    AnonPosted, Flash, PRE_COOKIE, Posted, PreToken, SESSION_COOKIE, STEP_COOKIE, clear_cookie,
    redirect_with, set_cookie,
};
use crate::view::{error_page, message_of, render};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
    email: String,
    signup_enabled: bool,
    /// The organization asked for with `?org=`, and its enabled SSO buttons.
    org: String,
    sso: Vec<LoginMethod>,
    sso_note: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    #[serde(default)]
    org: String,
}

pub async fn sign_in_page(
    State(service): State<ConsoleState>,
    Query(query): Query<SignInQuery>,
    pre: PreToken,
) -> Response {
    // A browser that still holds a session goes home (which sends it back here if it ended).
    if pre.signed_in && pre.flash.is_none() {
        return Redirect::to("/").into_response();
    }
    let org: String = query.org.trim().chars().take(64).collect();
    // The same service call as `GET /v1/auth/methods?org=`.
    let (sso, sso_note) = if org.is_empty() {
        (Vec::new(), None)
    } else {
        match service.login_methods(&org).await {
            Ok(methods) if methods.is_empty() => (
                methods,
                Some(format!(
                    "organization `{org}` has no single sign-on enabled"
                )),
            ),
            Ok(methods) => (methods, None),
            Err(ServiceError::Internal(err)) => {
                tracing::error!(error = %err, "login methods failed");
                (Vec::new(), Some("internal error".to_owned()))
            }
            Err(_) => (Vec::new(), Some(format!("no organization `{org}`"))),
        }
    };
    let page = SignInPage {
        title: "Sign in",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
        email: String::new(),
        signup_enabled: service.config().signup_enabled,
        org,
        sso,
        sso_note,
    };
    pre.finish(render(&page, false))
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    #[serde(default)]
    remember_me: Option<String>,
}

/// Adds the cookie of a new session to `response` (persistent only when the login asked to be
/// remembered, as the service recorded it) and ends the pending step.
fn grant_session(mut response: Response, session: &NewSession, now: i64) -> Response {
    let max_age = session
        .remember_me
        .then(|| (session.expires_at - now).max(0) / 1000);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, session.token.expose_secret(), max_age),
    );
    headers.append(header::SET_COOKIE, clear_cookie(STEP_COOKIE));
    response
}

/// Where a login outcome leads: a session cookie, or the next step with its token in a
/// short-lived cookie.
fn after_login(outcome: LoginOutcome, now: i64) -> Response {
    let (to, cookie) = match outcome {
        LoginOutcome::Session(session) => {
            return grant_session(Redirect::to("/").into_response(), &session, now);
        }
        LoginOutcome::SecondFactorRequired { login_token, .. } => (
            "/sign-in/two-factor",
            format!("2fa.{}", login_token.expose_secret()),
        ),
        LoginOutcome::PasswordChangeRequired { change_token, .. } => (
            "/sign-in/password",
            format!("pwd.{}", change_token.expose_secret()),
        ),
        LoginOutcome::TwoFactorEnrolmentRequired {
            enrolment_token, ..
        } => (
            "/sign-in/two-factor/setup",
            format!("enrol.{}", enrolment_token.expose_secret()),
        ),
    };
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(STEP_COOKIE, &cookie, Some(600)),
    );
    response
}

/// The end of a browser SSO login at the ACS: the session cookie, as for a password sign-in,
/// and a 303 to `to` (the validated RelayState or the organization's home). The token is
/// never in a body the browser shows.
pub fn sso_signed_in(to: &str, session: &NewSession, now: i64) -> Response {
    let mut response = grant_session(Redirect::to(to).into_response(), session, now);
    end_sso_request(&mut response);
    response
}

/// Not cached, and the browser forgets the AuthnRequest: the login it named is done.
fn end_sso_request(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.append(
        header::SET_COOKIE,
        header::HeaderValue::from_static(
            "__Host-portcullis-sso=; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=0",
        ),
    );
}

/// The end of an owner's link request at the ACS: nobody is signed in; back to the account
/// page, which says where the confirmation went.
pub fn sso_link_mailed(org: &str) -> Response {
    let mut response = redirect_with(
        "/account",
        false,
        &format!(
            "check your mail: {org}'s identity provider signs you in once you follow the link \
             sent to your account's address"
        ),
    );
    end_sso_request(&mut response);
    response
}

fn login_failed(err: &ServiceError, back: &str) -> Response {
    let message = match err {
        ServiceError::InvalidCredentials => "invalid email or password".to_owned(),
        ServiceError::Internal(_) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "internal error",
            );
        }
        other => other.to_string(),
    };
    redirect_with(back, true, &message)
}

pub async fn sign_in(
    State(service): State<ConsoleState>,
    posted: AnonPosted<SignInForm>,
) -> Response {
    let form = posted.form;
    let remember = form.remember_me.is_some();
    match service
        .login(
            posted.meta,
            &form.email,
            SecretString::from(form.password),
            remember,
        )
        .await
    {
        Ok(outcome) => after_login(outcome, service.now()),
        Err(err) => login_failed(&err, "/sign-in"),
    }
}

#[derive(Template)]
#[template(path = "two_factor.html")]
struct TwoFactorPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
}

/// The pending step token of `kind` (`2fa` or `pwd`), from the step cookie.
fn step_token<'a>(step: Option<&'a str>, kind: &str) -> Option<&'a str> {
    step?.strip_prefix(kind)?.strip_prefix('.')
}

pub async fn two_factor_page(pre: PreToken) -> Response {
    if step_token(pre.step.as_deref(), "2fa").is_none() {
        return Redirect::to("/sign-in").into_response();
    }
    let page = TwoFactorPage {
        title: "Two-factor authentication",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
    };
    pre.finish(render(&page, false))
}

#[derive(Deserialize)]
pub struct TwoFactorForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
}

pub async fn two_factor(
    State(service): State<ConsoleState>,
    posted: AnonPosted<TwoFactorForm>,
) -> Response {
    let step = crate::session::cookie(&posted.headers, STEP_COOKIE);
    let Some(token) = step_token(step, "2fa") else {
        return redirect_with("/sign-in", true, "the sign-in step expired; sign in again");
    };
    let form = posted.form;
    let code = Some(form.code.trim()).filter(|c| !c.is_empty());
    let recovery = Some(form.recovery_code.trim()).filter(|c| !c.is_empty());
    match service
        .login_second_factor(posted.meta, token, code, recovery)
        .await
    {
        Ok(outcome) => after_login(outcome, service.now()),
        // The service answers a wrong code like a wrong password; here the password was right.
        Err(ServiceError::InvalidCredentials) => redirect_with(
            "/sign-in/two-factor",
            true,
            "that code was not accepted: enter the current six-digit code from your \
             authenticator app, or a recovery code you have not used yet",
        ),
        Err(err) => login_failed(&err, "/sign-in/two-factor"),
    }
}

#[derive(Template)]
#[template(path = "sign_in_enrol.html")]
struct EnrolPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "sign_in_enrol_setup.html")]
struct EnrolSetupPage {
    title: &'static str,
    flash: Option<Flash>,
    flow: Flow,
    shown: Option<Shown>,
    code_error: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in_enrol_codes.html")]
struct EnrolCodesPage {
    title: &'static str,
    flash: Option<Flash>,
    codes: Vec<String>,
}

const ENROL_TITLE: &str = "Set up two-factor authentication";

fn enrol_flow(csrf: &str) -> Flow {
    Flow {
        csrf: csrf.to_owned(),
        confirm: "/sign-in/two-factor/confirm",
        restart: "/sign-in/two-factor/setup",
    }
}

fn step_expired() -> Response {
    redirect_with("/sign-in", true, "the sign-in step expired; sign in again")
}

/// `GET /sign-in/two-factor/setup`: an organization requires two-factor and the user has none.
pub async fn enrol_page(pre: PreToken) -> Response {
    if step_token(pre.step.as_deref(), "enrol").is_none() {
        return Redirect::to("/sign-in").into_response();
    }
    let page = EnrolPage {
        title: ENROL_TITLE,
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
    };
    pre.finish(render(&page, false))
}

/// `POST /sign-in/two-factor/setup`: a new secret for the pending login's user.
pub async fn enrol_start(
    State(service): State<ConsoleState>,
    posted: AnonPosted<Empty>,
) -> Response {
    let step = crate::session::cookie(&posted.headers, STEP_COOKIE);
    let Some(token) = step_token(step, "enrol") else {
        return step_expired();
    };
    let csrf = crate::session::cookie(&posted.headers, PRE_COOKIE).unwrap_or_default();
    let caller = Caller::anonymous(posted.meta);
    match service
        .enrol_totp(TotpAuthority::EnrolmentToken(&caller, token))
        .await
    {
        Ok(enrolment) => render(
            &EnrolSetupPage {
                title: ENROL_TITLE,
                flash: None,
                flow: enrol_flow(csrf),
                shown: Some(shown(&enrolment.value)),
                code_error: None,
            },
            false,
        ),
        Err(ServiceError::Invalid { .. }) => step_expired(),
        Err(err) => login_failed(&err, "/sign-in/two-factor/setup"),
    }
}

#[derive(Deserialize)]
pub struct EnrolCodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /sign-in/two-factor/confirm`: turns the factor on and signs in, in one service call;
/// the recovery codes are shown once, on the first signed-in page.
pub async fn enrol_confirm(
    State(service): State<ConsoleState>,
    posted: AnonPosted<EnrolCodeForm>,
) -> Response {
    let step = crate::session::cookie(&posted.headers, STEP_COOKIE);
    let Some(token) = step_token(step, "enrol") else {
        return step_expired();
    };
    let csrf = crate::session::cookie(&posted.headers, PRE_COOKIE).unwrap_or_default();
    match service
        .login_enrolling_second_factor(posted.meta, token, &posted.form.code)
        .await
    {
        Ok(done) => {
            let page = EnrolCodesPage {
                title: "Two-factor authentication is on",
                flash: None,
                codes: done.recovery_codes,
            };
            grant_session(render(&page, false), &done.session, service.now())
        }
        // A wrong code: the same form again, with the reason beside the field.
        Err(err @ ServiceError::Invalid { field: "code", .. }) => render(
            &EnrolSetupPage {
                title: ENROL_TITLE,
                flash: None,
                flow: enrol_flow(csrf),
                shown: None,
                code_error: Some(message_of(&err)),
            },
            false,
        ),
        Err(ServiceError::Invalid { .. }) => step_expired(),
        // Suspended or locked since the password step: back to the start, as any login.
        Err(err @ ServiceError::InvalidCredentials) => login_failed(&err, "/sign-in"),
        Err(err) => login_failed(&err, "/sign-in/two-factor/setup"),
    }
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
}

pub async fn password_page(pre: PreToken) -> Response {
    if step_token(pre.step.as_deref(), "pwd").is_none() {
        return Redirect::to("/sign-in").into_response();
    }
    let page = PasswordPage {
        title: "Change your password",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
    };
    pre.finish(render(&page, false))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
}

pub async fn password_change(
    State(service): State<ConsoleState>,
    posted: AnonPosted<PasswordForm>,
) -> Response {
    let step = crate::session::cookie(&posted.headers, STEP_COOKIE);
    let Some(token) = step_token(step, "pwd") else {
        return redirect_with("/sign-in", true, "the sign-in step expired; sign in again");
    };
    let caller = Caller::anonymous(posted.meta);
    let result = service
        .change_password(
            ChangeAuthority::ChangeToken(&caller, token),
            SecretString::from(posted.form.current),
            SecretString::from(posted.form.new),
        )
        .await;
    match result {
        Ok(()) => {
            let mut response = redirect_with(
                "/sign-in",
                false,
                "password changed: sign in with the new password",
            );
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_cookie(STEP_COOKIE));
            response
        }
        Err(err) => login_failed(&err, "/sign-in/password"),
    }
}

#[derive(Template)]
#[template(path = "sign_up.html")]
struct SignUpPage {
    title: &'static str,
    flash: Option<Flash>,
    csrf: String,
}

pub async fn sign_up_page(State(service): State<ConsoleState>, pre: PreToken) -> Response {
    if !service.config().signup_enabled {
        return error_page(
            StatusCode::NOT_FOUND,
            "Sign-up is disabled",
            "ask an administrator of your organization for an invitation",
        );
    }
    let page = SignUpPage {
        title: "Create your account",
        flash: pre.flash.clone(),
        csrf: pre.token.clone(),
    };
    pre.finish(render(&page, false))
}

#[derive(Deserialize)]
pub struct SignUpForm {
    id: String,
    email: String,
    password: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

pub async fn sign_up(
    State(service): State<ConsoleState>,
    posted: AnonPosted<SignUpForm>,
) -> Response {
    let form = posted.form;
    let email = form.email.clone();
    let password = form.password.clone();
    let input = SignupInput {
        id: form.id,
        email: form.email,
        password: SecretString::from(form.password),
        first_name: form.first_name,
        last_name: form.last_name,
    };
    let caller = Caller::anonymous(posted.meta.clone());
    if let Err(err) = service.signup(&caller, input).await {
        return login_failed(&err, "/sign-up");
    }
    match service
        .login(posted.meta, &email, SecretString::from(password), false)
        .await
    {
        Ok(outcome) => {
            // Sign-up ends on "check your mail": the account is unverified until then.
            let mut response = after_login(outcome, service.now());
            response.headers_mut().append(
                header::SET_COOKIE,
                crate::session::Flash::cookie(
                    false,
                    "check your mail: follow the link we sent to verify your address",
                ),
            );
            response
        }
        Err(err) => login_failed(&err, "/sign-in"),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(State(service): State<ConsoleState>, posted: Posted<Empty>) -> Response {
    // Ending a session that is already gone is still a sign-out.
    let _ = service.logout(&posted.viewer.caller).await;
    let mut response = redirect_with("/sign-in", false, "signed out");
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    response
}
