//! Identity-provider identities linked to the caller's account: starting a link (the owner,
//! signed in by their own means), following the confirmation mailed to the account's address,
//! listing and unlinking.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::sso_links::LinkedIdentity;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_links, start_link))
        .routes(routes!(unlink))
        .routes(routes!(confirm_link))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartLinkRequest {
    /// The organization whose identity provider is to sign the account in.
    pub org: String,
    /// The identity provider's id within the organization.
    pub identity_provider: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStartedDto {
    /// Where to send the browser: the identity provider, with an AuthnRequest. The answer's
    /// `Set-Cookie` names the request; the ACS accepts the IdP's response only with it.
    pub redirect_url: String,
}

/// Starts linking an organization's identity provider to the caller's account (a login
/// session the owner established by their own means; a verified address; no second factor).
/// After the IdP authenticates the owner, a confirmation goes to the account's address; the
/// identity signs the account in only once it is followed.
#[utoipa::path(post, path = "/v1/users/me/sso-links", tag = "saml", security(("bearer" = [])),
    request_body = StartLinkRequest, responses(
    (status = 200, body = LinkStartedDto), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`credential.session_required`, \
        `sso.session_restricted`, `email.unverified`, `saml.operator_refused`, \
        `sso.second_factor_enrolled`"),
    (status = 404, body = Problem),
))]
async fn start_link(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<StartLinkRequest>,
) -> Result<Response, ApiError> {
    let started = service
        .start_sso_link(&caller, &body.org, &body.identity_provider)
        .await?;
    let mut response = (
        [(header::CACHE_CONTROL, "no-store")],
        Json(LinkStartedDto {
            redirect_url: started.redirect_url,
        }),
    )
        .into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        portcullis_console::sso_request_cookie(&started.request_id),
    );
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedIdentityDto {
    pub org: String,
    pub identity_provider: String,
    pub name_id: String,
    /// `owner_linked`: the account's owner linked it; `organization`: the organization's own
    /// rules did (it provisioned the account, or verified its address's domain).
    pub linked_by: String,
    pub linked_at: String,
    pub last_login_at: String,
}

impl From<LinkedIdentity> for LinkedIdentityDto {
    fn from(link: LinkedIdentity) -> Self {
        Self {
            org: link.org,
            identity_provider: link.identity_provider,
            name_id: link.name_id,
            linked_by: link.linked_by.to_owned(),
            linked_at: rfc3339(link.linked_at),
            last_login_at: rfc3339(link.last_login_at),
        }
    }
}

/// The identity-provider identities that sign the caller's account in.
#[utoipa::path(get, path = "/v1/users/me/sso-links", tag = "saml", security(("bearer" = [])),
    responses((status = 200, body = Vec<LinkedIdentityDto>), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`credential.bound`")))]
async fn list_links(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<LinkedIdentityDto>>, ApiError> {
    let links = service.sso_links(&caller).await?;
    Ok(Json(links.into_iter().map(Into::into).collect()))
}

/// Unlinks an organization's identity provider from the caller's account and ends the
/// sessions it signed in (a login session the owner established by their own means).
#[utoipa::path(delete, path = "/v1/users/me/sso-links/{org}/{idp}", tag = "saml", security(("bearer" = [])),
    params(("org" = String, Path), ("idp" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`credential.session_required`, `sso.session_restricted`"),
    (status = 404, body = Problem),
))]
async fn unlink(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, idp)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.unlink_sso(&caller, &org, &idp).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmLinkRequest {
    /// The secret of the confirmation mailed to the account's address.
    #[schema(value_type = String, format = Password)]
    pub token: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkConfirmedDto {
    pub user: String,
    pub org: String,
    pub identity_provider: String,
}

/// Follows a link confirmation: single use, expiring within an hour. Needs no sign-in: the
/// mailed secret is the proof.
#[utoipa::path(post, path = "/v1/sso-links/confirm", tag = "saml", security((), ("bearer" = [])),
    request_body = ConfirmLinkRequest, responses(
    (status = 200, body = LinkConfirmedDto),
    (status = 409, body = Problem, description = "`sso.identity_linked_elsewhere`"),
    (status = 422, body = Problem, description = "`token.invalid`"),
))]
async fn confirm_link(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<ConfirmLinkRequest>,
) -> Result<Json<LinkConfirmedDto>, ApiError> {
    let made = service
        .confirm_sso_link(&caller, body.token.expose_secret())
        .await?;
    Ok(Json(LinkConfirmedDto {
        user: made.user,
        org: made.org,
        identity_provider: made.identity_provider,
    }))
}
