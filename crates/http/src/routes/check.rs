//! `POST /v1/check`, `POST /v1/check/batch` and `GET /v1/me/permissions`.

use axum::Json;
use axum::extract::State;
use portcullis_service::check::{
    CheckRequest, CheckResource, CheckSubject, Consistency, Explained,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, MaybeAuthenticated};

/// Most checks accepted in one batch.
pub const MAX_BATCH: usize = 1000;

/// Revisions are stored as signed 64-bit integers (SQLite and PostgreSQL `BIGINT`).
const MAX_REVISION: u64 = i64::MAX as u64;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(check_batch))
        .routes(routes!(my_permissions))
}

/// Exactly one of `user` (an account id) or `token` (a presented credential).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectDto {
    pub user: Option<String>,
    pub token: Option<String>,
}

/// `{org}`, `{account, app}` or `{account, app, kind, id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceDto {
    pub org: Option<String>,
    pub account: Option<String>,
    pub app: Option<String>,
    /// `model`, `workflow`, `module`, `cluster`, `nodepool` or `deployment`.
    pub kind: Option<String>,
    pub id: Option<String>,
}

/// Answer only once this server has caught up with a revision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyDto {
    /// A revision a write returned (`int64`: at most 2^63-1).
    pub at_least: Option<u64>,
    #[serde(default)]
    pub fully_consistent: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequestDto {
    #[serde(deserialize_with = "crate::extract::object")]
    pub subject: SubjectDto,
    /// A permission id from `GET /v1/roles`.
    pub permission: String,
    #[serde(deserialize_with = "crate::extract::object")]
    pub resource: ResourceDto,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub consistency: Option<ConsistencyDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    pub allowed: bool,
    /// Why it was denied (a stable code), `null` when allowed.
    pub reason: Option<&'static str>,
    /// The grant paths that hold the permission, e.g. `role:org_contributor`, `team:ml(model_trainer)`.
    pub via: Vec<String>,
    /// The data revision the decision was made at.
    pub revision: u64,
}

impl From<Explained> for CheckResponse {
    fn from(e: Explained) -> Self {
        Self {
            allowed: e.allowed,
            reason: e.reason,
            via: e.via,
            revision: e.revision,
        }
    }
}

fn invalid(field: &str, detail: &str) -> ApiError {
    ApiError::invalid("check.invalid_request", field, detail)
}

impl TryFrom<CheckRequestDto> for CheckRequest {
    type Error = ApiError;

    fn try_from(dto: CheckRequestDto) -> Result<Self, ApiError> {
        let subject = match (dto.subject.user, dto.subject.token) {
            (Some(user), None) => CheckSubject::User(user),
            (None, Some(token)) => CheckSubject::Token(token),
            _ => {
                return Err(invalid(
                    "subject",
                    "subject needs exactly one of `user` or `token`",
                ));
            }
        };
        let r = dto.resource;
        let resource = match (r.org, r.account, r.app, r.kind, r.id) {
            (Some(org), None, None, None, None) => CheckResource::Org(org),
            (None, Some(account), Some(app), None, None) => CheckResource::App { account, app },
            (None, Some(account), Some(app), Some(kind), Some(id)) => CheckResource::Item {
                account,
                app,
                kind,
                id,
            },
            _ => {
                return Err(invalid(
                    "resource",
                    "resource must be `{org}`, `{account, app}` or `{account, app, kind, id}`",
                ));
            }
        };
        let consistency = match dto.consistency {
            None => Consistency::Latest,
            Some(ConsistencyDto {
                at_least: None,
                fully_consistent: false,
            }) => Consistency::Latest,
            Some(ConsistencyDto {
                at_least: Some(rev),
                fully_consistent: false,
            }) if rev <= MAX_REVISION => Consistency::AtLeast(rev),
            Some(ConsistencyDto {
                at_least: Some(_),
                fully_consistent: false,
            }) => {
                return Err(invalid(
                    "consistency.at_least",
                    "`at_least` is a revision a write returned, at most 2^63-1",
                ));
            }
            Some(ConsistencyDto {
                at_least: None,
                fully_consistent: true,
            }) => Consistency::Full,
            Some(_) => {
                return Err(invalid(
                    "consistency",
                    "give `at_least` or `fully_consistent`, not both",
                ));
            }
        };
        Ok(CheckRequest {
            subject,
            permission: dto.permission,
            resource,
            consistency,
        })
    }
}

/// Decides whether a subject holds a permission on a resource, and explains why. The caller
/// may ask about itself; about others it needs `authz.check` on the owning organization.
#[utoipa::path(post, path = "/v1/check", tag = "check", security(("bearer" = [])), request_body = CheckRequestDto, responses(
    (status = 200, body = CheckResponse), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
))]
async fn check(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<CheckRequestDto>,
) -> Result<Json<CheckResponse>, ApiError> {
    let request = CheckRequest::try_from(body)?;
    Ok(Json(service.check(&caller, &request).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    #[serde(deserialize_with = "crate::extract::objects")]
    pub checks: Vec<CheckRequestDto>,
}

/// One batch answer: a decision, or the problem that check alone ran into.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Decision(CheckResponse),
    Error { error: Problem },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// In the order of the request.
    pub results: Vec<BatchItem>,
}

/// Up to 1000 checks in one request. A malformed check (a subject, resource or consistency the
/// schema does not allow) refuses the whole batch with 422 naming `checks[i].field`, so nothing
/// is decided from a request the client got wrong; each well-formed check then answers on its
/// own, with a decision or the problem it alone ran into (an unknown user, a missing permission).
#[utoipa::path(post, path = "/v1/check/batch", tag = "check", security(("bearer" = [])), request_body = BatchRequest, responses(
    (status = 200, body = BatchResponse), (status = 401, body = Problem), (status = 422, body = Problem),
))]
async fn check_batch(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    if body.checks.is_empty() || body.checks.len() > MAX_BATCH {
        return Err(invalid("checks", "a batch holds 1 to 1000 checks"));
    }
    let requests = body
        .checks
        .into_iter()
        .enumerate()
        .map(|(i, dto)| {
            CheckRequest::try_from(dto).map_err(|err| err.within(&format!("checks[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut results = Vec::with_capacity(requests.len());
    for request in &requests {
        results.push(match service.check_in_batch(&caller, request).await {
            Ok(explained) => BatchItem::Decision(explained.into()),
            Err(err) => BatchItem::Error {
                error: ApiError::from(err).into_problem(),
            },
        });
    }
    Ok(Json(BatchResponse { results }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PermissionsQuery {
    /// An organization or user id.
    pub account: String,
    /// An app of that account; omitted = the account's org-level permissions.
    pub app: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyPermissions {
    pub account: String,
    pub app: Option<String>,
    pub permissions: Vec<&'static str>,
    pub revision: u64,
}

/// The caller's own effective permissions on an account or one of its apps.
#[utoipa::path(get, path = "/v1/me/permissions", tag = "check", security((), ("bearer" = [])), params(PermissionsQuery), responses(
    (status = 200, body = MyPermissions), (status = 404, body = Problem),
))]
async fn my_permissions(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiQuery(query): ApiQuery<PermissionsQuery>,
) -> Result<Json<MyPermissions>, ApiError> {
    let (set, revision) = service.my_permissions(&caller, &query.account, query.app.as_deref())?;
    Ok(Json(MyPermissions {
        account: query.account,
        app: query.app,
        permissions: set.iter().map(|p| p.as_str()).collect(),
        revision,
    }))
}
