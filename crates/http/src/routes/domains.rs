//! Email domains an organization proves it controls by a DNS TXT record (`security.manage` to
//! change, `security.view` to list).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::domains::DomainView;
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
        .routes(routes!(add_domain, list_domains))
        .routes(routes!(delete_domain))
        .routes(routes!(verify_domain))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainDto {
    /// Canonical: UTS-46 ASCII, lower case.
    pub domain: String,
    /// `pending` (never verified), `verified`, or `suspended` (a re-check no longer found the
    /// record; verify again to restore it).
    pub status: String,
    /// The DNS TXT record to publish: its name and exact value.
    pub record_name: String,
    pub record_value: String,
    pub verified_at: Option<String>,
    pub checked_at: Option<String>,
    pub created_at: String,
}

impl From<DomainView> for DomainDto {
    fn from(v: DomainView) -> Self {
        let r = v.record;
        Self {
            domain: r.domain,
            status: r.status.as_str().to_owned(),
            record_name: v.record_name,
            record_value: v.record_value,
            verified_at: r.verified_at.map(rfc3339),
            checked_at: r.checked_at.map(rfc3339),
            created_at: rfc3339(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DomainList {
    pub domains: Vec<DomainDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    /// A domain name (international names are accepted and stored in ASCII form).
    pub domain: String,
}

/// Claims a domain: answers the TXT record to publish (`security.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/domains", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = AddDomain, responses(
    (status = 201, body = DomainDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn add_domain(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<AddDomain>,
) -> Result<(StatusCode, Json<DomainDto>), ApiError> {
    let domain = service.add_domain(&caller, &org, &body.domain).await?;
    Ok((StatusCode::CREATED, Json(domain.value.into())))
}

/// The organization's domains and their state (`security.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/domains", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = DomainList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn list_domains(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<DomainList>, ApiError> {
    let list = service.domains(&caller, &org).await?;
    Ok(Json(DomainList {
        domains: list.into_iter().map(DomainDto::from).collect(),
    }))
}

/// Resolves the domain's TXT challenge now (`security.manage`): 409 `domain.record_not_found`,
/// `domain.record_mismatch` or `domain.claimed_elsewhere` when it cannot be verified, 503
/// `domain.dns_unavailable` when the look-up itself failed.
#[utoipa::path(post, path = "/v1/orgs/{org}/domains/{domain}/verify", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path), ("domain" = String, Path)), responses(
    (status = 200, body = DomainDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
))]
async fn verify_domain(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, domain)): Path<(String, String)>,
) -> Result<Json<DomainDto>, ApiError> {
    let domain = service.verify_domain(&caller, &org, &domain).await?;
    Ok(Json(domain.value.into()))
}

/// Gives up the claim on a domain (`security.manage`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/domains/{domain}", tag = "security", security(("bearer" = [])),
    params(("org" = String, Path), ("domain" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn delete_domain(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, domain)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.delete_domain(&caller, &org, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}
