//! SAML identity providers of an organization and its SSO enforcement (`security.manage`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::identity_providers::{IdpInput, IdpView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_idp, list_idps))
        .routes(routes!(get_idp, update_idp, delete_idp))
        .routes(routes!(refresh_idp))
        .routes(routes!(get_sso_enforcement, set_sso_enforcement))
        .routes(routes!(sso_authorize_key))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateDto {
    /// Base64 DER.
    pub certificate: String,
    pub subject: Option<String>,
    pub fingerprint_sha256: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub expired: bool,
    pub expiring_soon: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdpDto {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub entity_id: String,
    pub sso_url: String,
    pub certificates: Vec<CertificateDto>,
    pub name_id_format: String,
    pub attribute_mapping: BTreeMap<String, String>,
    pub jit_enabled: bool,
    pub default_role: String,
    pub group_teams: BTreeMap<String, String>,
    pub idp_initiated: bool,
    /// AuthnRequests to this IdP are signed with the server's SAML SP key.
    pub sign_requests: bool,
    pub allow_sha1: bool,
    pub clock_skew_secs: i64,
    pub metadata_url: Option<String>,
    pub metadata_fetched_at: Option<String>,
    /// This server's SP entity id and ACS URL for the IdP's configuration.
    pub sp_entity_id: String,
    pub acs_url: String,
    /// Expired or expiring certificates.
    pub warnings: Vec<String>,
    pub created_at: String,
    pub modified_at: String,
}

impl From<IdpView> for IdpDto {
    fn from(v: IdpView) -> Self {
        let s = v.record.settings;
        let (sp_entity_id, acs_url) = (v.sp_entity_id, v.acs_url);
        Self {
            id: s.id.as_str().to_owned(),
            name: s.name,
            enabled: s.enabled,
            entity_id: s.entity_id,
            sso_url: s.sso_url,
            certificates: v
                .certificates
                .into_iter()
                .map(|c| CertificateDto {
                    certificate: c.certificate,
                    subject: c.info.as_ref().map(|i| i.subject.clone()),
                    fingerprint_sha256: c.info.as_ref().map(|i| i.fingerprint_sha256.clone()),
                    not_before: c.info.as_ref().map(|i| rfc3339(i.not_before_ms)),
                    not_after: c.info.as_ref().map(|i| rfc3339(i.not_after_ms)),
                    expired: c.expired,
                    expiring_soon: c.expiring_soon,
                })
                .collect(),
            name_id_format: s.name_id_format,
            attribute_mapping: s.attribute_mapping,
            jit_enabled: s.jit_enabled,
            default_role: s.default_role.as_str().to_owned(),
            group_teams: s.group_teams,
            idp_initiated: s.idp_initiated,
            sign_requests: s.sign_requests,
            allow_sha1: s.allow_sha1,
            clock_skew_secs: s.clock_skew_secs,
            metadata_url: s.metadata_url,
            metadata_fetched_at: s.metadata_fetched_at.map(rfc3339),
            sp_entity_id,
            acs_url,
            warnings: v.warnings,
            created_at: rfc3339(v.record.created_at),
            modified_at: rfc3339(v.record.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdpList {
    pub identity_providers: Vec<IdpDto>,
}

/// Every field optional on update; `metadata_xml` / `metadata_url` fill entity id, SSO URL,
/// certificates and NameID format.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct IdpRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub entity_id: Option<String>,
    pub sso_url: Option<String>,
    /// Base64 DER or PEM signing certificates (one or more).
    pub certificates: Option<Vec<String>>,
    pub name_id_format: Option<String>,
    /// Keys `email`, `first_name`, `last_name`, `groups` -> attribute names.
    pub attribute_mapping: Option<BTreeMap<String, String>>,
    pub jit_enabled: Option<bool>,
    pub default_role: Option<String>,
    /// IdP group -> team id.
    pub group_teams: Option<BTreeMap<String, String>>,
    pub idp_initiated: Option<bool>,
    /// Sign AuthnRequests (HTTP-Redirect, `SigAlg` + `Signature`) with the server's SAML SP key;
    /// refused with 422 `idp.sp_key_missing` when the server has none configured.
    pub sign_requests: Option<bool>,
    pub allow_sha1: Option<bool>,
    pub clock_skew_secs: Option<i64>,
    pub metadata_xml: Option<String>,
    pub metadata_url: Option<String>,
}

impl From<IdpRequest> for IdpInput {
    fn from(r: IdpRequest) -> Self {
        Self {
            id: r.id,
            name: r.name,
            enabled: r.enabled,
            entity_id: r.entity_id,
            sso_url: r.sso_url,
            certificates: r.certificates,
            name_id_format: r.name_id_format,
            attribute_mapping: r.attribute_mapping,
            jit_enabled: r.jit_enabled,
            default_role: r.default_role,
            group_teams: r.group_teams,
            idp_initiated: r.idp_initiated,
            sign_requests: r.sign_requests,
            allow_sha1: r.allow_sha1,
            clock_skew_secs: r.clock_skew_secs,
            metadata_xml: r.metadata_xml,
            metadata_url: r.metadata_url,
        }
    }
}

/// Creates an identity provider (`security.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/identity-providers", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = IdpRequest, responses(
    (status = 201, body = IdpDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn create_idp(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<IdpRequest>,
) -> Result<(StatusCode, Json<IdpDto>), ApiError> {
    let idp = service
        .create_identity_provider(&caller, &org, body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(idp.value.into())))
}

/// The organization's identity providers (`security.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/identity-providers", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = IdpList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn list_idps(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<IdpList>, ApiError> {
    let list = service.identity_providers(&caller, &org).await?;
    Ok(Json(IdpList {
        identity_providers: list.into_iter().map(IdpDto::from).collect(),
    }))
}

/// One identity provider (`security.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/identity-providers/{idp}", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path), ("idp" = String, Path)), responses(
    (status = 200, body = IdpDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn get_idp(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, idp)): Path<(String, String)>,
) -> Result<Json<IdpDto>, ApiError> {
    Ok(Json(
        service.identity_provider(&caller, &org, &idp).await?.into(),
    ))
}

/// Updates an identity provider (`security.manage`).
#[utoipa::path(patch, path = "/v1/orgs/{org}/identity-providers/{idp}", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path), ("idp" = String, Path)), request_body = IdpRequest, responses(
    (status = 200, body = IdpDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn update_idp(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, idp)): Path<(String, String)>,
    ApiJson(body): ApiJson<IdpRequest>,
) -> Result<Json<IdpDto>, ApiError> {
    let idp = service
        .update_identity_provider(&caller, &org, &idp, body.into(), false)
        .await?;
    Ok(Json(idp.value.into()))
}

/// Re-reads the identity provider's metadata URL (`security.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/identity-providers/{idp}/refresh", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path), ("idp" = String, Path)), responses(
    (status = 200, body = IdpDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn refresh_idp(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, idp)): Path<(String, String)>,
) -> Result<Json<IdpDto>, ApiError> {
    let idp = service
        .update_identity_provider(&caller, &org, &idp, IdpInput::default(), true)
        .await?;
    Ok(Json(idp.value.into()))
}

/// Deletes an identity provider (`security.manage`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/identity-providers/{idp}", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path), ("idp" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn delete_idp(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, idp)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_identity_provider(&caller, &org, &idp)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoEnforcement {
    pub enforced: bool,
    /// User ids of administrators exempt from enforcement.
    #[serde(default)]
    pub break_glass: Vec<String>,
}

/// The organization's SSO enforcement (`security.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/sso-enforcement", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = SsoEnforcement), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn get_sso_enforcement(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<SsoEnforcement>, ApiError> {
    let (enforced, break_glass) = service.sso_enforcement(&caller, &org).await?;
    Ok(Json(SsoEnforcement {
        enforced,
        break_glass,
    }))
}

/// Turns SSO enforcement on or off, with break-glass administrators (`security.manage`).
#[utoipa::path(put, path = "/v1/orgs/{org}/sso-enforcement", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = SsoEnforcement, responses(
    (status = 200, body = SsoEnforcement), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn set_sso_enforcement(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<SsoEnforcement>,
) -> Result<Json<SsoEnforcement>, ApiError> {
    let done = service
        .set_sso_enforcement(&caller, &org, body.enforced, &body.break_glass)
        .await?;
    let (enforced, break_glass) = done.value;
    Ok(Json(SsoEnforcement {
        enforced,
        break_glass,
    }))
}

/// SSO-authorizes one of the caller's personal access tokens for an organization; the caller
/// must present a session from that organization's SSO.
#[utoipa::path(post, path = "/v1/users/me/keys/{key}/sso-authorize/{org}", tag = "security", security(("bearer" = [])),
    params(("key" = String, Path), ("org" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn sso_authorize_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((key, org)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.sso_authorize_key(&caller, &key, &org).await?;
    Ok(StatusCode::NO_CONTENT)
}
