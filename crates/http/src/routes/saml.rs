//! SAML service-provider endpoints (SP metadata, SP-initiated login, the HTTP-POST ACS) and
//! the login page's list of methods.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use portcullis_service::sso::AcsOutcome;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, Meta};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sp_metadata))
        .routes(routes!(sso_login))
        .routes(routes!(sso_acs))
        .routes(routes!(auth_methods))
}

/// The SP metadata for one identity provider connection.
#[utoipa::path(get, path = "/saml/{org}/{idp}/metadata", tag = "saml",
    params(("org" = String, Path), ("idp" = String, Path)), responses(
    (status = 200, content_type = "application/samlmetadata+xml", body = String), (status = 404, body = Problem),
))]
async fn sp_metadata(
    State(service): State<AppState>,
    Path((org, idp)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let xml = service.sp_metadata(&org, &idp).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where to go after login: a path on this site.
    pub relay_state: Option<String>,
}

/// SP-initiated login: redirects to the IdP with an HTTP-Redirect AuthnRequest, and gives the
/// browser a cookie naming the request: only that browser can complete the login.
#[utoipa::path(get, path = "/saml/{org}/{idp}/login", tag = "saml",
    params(("org" = String, Path), ("idp" = String, Path), LoginQuery), responses(
    (status = 303, description = "to the identity provider"), (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn sso_login(
    State(service): State<AppState>,
    Meta(meta): Meta,
    Path((org, idp)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<LoginQuery>,
) -> Result<Response, ApiError> {
    let started = service
        .sso_login_start(meta, &org, &idp, query.relay_state.as_deref())
        .await?;
    let mut response = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, started.redirect_url),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        portcullis_console::sso_request_cookie(&started.request_id),
    );
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: String,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// The assertion consumer service (HTTP-POST binding). A response to an SP-initiated login is
/// accepted only with the cookie the login set (`saml.other_browser`). A valid response signs the browser
/// in to the console (the session cookie) and answers 303 to the validated RelayState or the
/// organization's console home; the session token never appears in a body. API and CLI
/// clients sign in this way in a browser and create a personal access token there. A response
/// to an owner's link request (`/v1/users/me/sso-links`) signs nobody in: it mails the
/// confirmation to the account's address and answers 303 to the account page.
#[utoipa::path(post, path = "/saml/{org}/{idp}/acs", tag = "saml",
    params(("org" = String, Path), ("idp" = String, Path)),
    request_body(content = AcsForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 303, description = "signed in: the console session cookie is set; or, for a link request, the confirmation is mailed"),
    (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn sso_acs(
    State(service): State<AppState>,
    Meta(meta): Meta,
    Path((org, idp)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    form: Result<axum::Form<AcsForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let axum::Form(form) =
        form.map_err(|r| ApiError::bad_request("request.invalid_form", r.body_text()))?;
    let outcome = service
        .sso_acs(
            meta,
            &org,
            &idp,
            &form.saml_response,
            form.relay_state.as_deref(),
            portcullis_console::sso_request_of(&headers),
        )
        .await?;
    match outcome {
        AcsOutcome::SignedIn(login) => {
            let to = login
                .relay_state
                .unwrap_or_else(|| format!("/a/{}/apps", login.org));
            Ok(portcullis_console::sso_signed_in(
                &to,
                &login.session,
                service.now(),
            ))
        }
        AcsOutcome::LinkMailed { org } => Ok(portcullis_console::sso_link_mailed(&org)),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MethodsQuery {
    pub org: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdpMethod {
    pub id: String,
    pub name: String,
    pub login_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthMethods {
    pub password: bool,
    pub identity_providers: Vec<IdpMethod>,
}

/// How members of an organization can sign in (for the login page).
#[utoipa::path(get, path = "/v1/auth/methods", tag = "saml", params(MethodsQuery), responses(
    (status = 200, body = AuthMethods), (status = 404, body = Problem),
))]
async fn auth_methods(
    State(service): State<AppState>,
    ApiQuery(query): ApiQuery<MethodsQuery>,
) -> Result<Json<AuthMethods>, ApiError> {
    let methods = service.login_methods(&query.org).await?;
    Ok(Json(AuthMethods {
        password: true,
        identity_providers: methods
            .into_iter()
            .map(|m| IdpMethod {
                id: m.id,
                name: m.name,
                login_url: m.login_url,
            })
            .collect(),
    }))
}
