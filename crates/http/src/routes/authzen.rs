//! The OpenID AuthZEN Authorization API 1.0 over Portcullis' check: `POST /access/v1/evaluation`,
//! `POST /access/v1/evaluations` and the PDP metadata at `/.well-known/authzen-configuration`.
//!
//! Each evaluation is mapped onto one [`CheckRequest`] and answered by the same service call as
//! `POST /v1/check` (same credentials, consistency, problem codes), so an AuthZEN decision is
//! always the `/v1/check` decision. The mapping (docs/authzen.md):
//! - subject `{type: "user", id: <account id>}` or `{type: "token", id: <presented token>}`;
//! - action `{name: <permission id>}`;
//! - resource `{type: "org", id: "<org>"}`, `{type: "app", id: "<account>/<app>"}` or
//!   `{type: <item kind>, id: "<account>/<app>/<item>"}`: the id alone names the resource, as
//!   the specification asks (unique within its type);
//! - `context.consistency`: `{at_least: N}` or `{fully_consistent: true}`, as `/v1/check`'s.
//!
//! `properties` are accepted and ignored: decisions come from Portcullis' own data, never from
//! attributes the caller asserts. Unknown fields are ignored (the specification requires it),
//! unlike the v1 API's DTOs. Errors follow the specification's HTTPS binding: what the v1 API
//! answers with 415 or 422 is a 400 here, a missing credential's 401 names the `Bearer` scheme,
//! and bodies stay `application/problem+json` with the v1 codes.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::Permission;
use portcullis_service::check::{
    CheckRequest, CheckResource, CheckSubject, Consistency, Explained,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated};

/// Most evaluations accepted in one request (as `/v1/check/batch`).
pub const MAX_EVALUATIONS: usize = super::check::MAX_BATCH;

/// Revisions are stored as signed 64-bit integers (SQLite and PostgreSQL `BIGINT`).
const MAX_REVISION: u64 = i64::MAX as u64;

pub const EVALUATION_PATH: &str = "/access/v1/evaluation";
pub const EVALUATIONS_PATH: &str = "/access/v1/evaluations";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(evaluation))
        .routes(routes!(evaluations))
        .routes(routes!(configuration))
}

/// Who the decision is about.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// `id` is an account id.
    User,
    /// `id` is a presented credential (as a gateway forwards it).
    Token,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthzenSubject {
    #[serde(rename = "type")]
    pub kind: SubjectType,
    pub id: String,
    /// Accepted and ignored: Portcullis decides from its own data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[expect(dead_code, reason = "decoded so a non-object is refused; never read")]
    pub properties: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthzenAction {
    /// A permission id from `GET /v1/roles`.
    pub name: String,
    /// Accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[expect(dead_code, reason = "decoded so a non-object is refused; never read")]
    pub properties: Option<Map<String, Value>>,
}

/// What kind of resource `id` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    /// `<org>`: an organization (or a personal account, as `/v1/check`'s `org`).
    Org,
    /// `<account>/<app>`.
    App,
    /// `<account>/<app>/<id>`, and likewise for the other item kinds.
    Model,
    Workflow,
    Module,
    Cluster,
    Nodepool,
    Deployment,
}

impl ResourceType {
    /// The kind `/v1/check` names, for items.
    fn item_kind(self) -> Option<&'static str> {
        Some(match self {
            ResourceType::Org | ResourceType::App => return None,
            ResourceType::Model => "model",
            ResourceType::Workflow => "workflow",
            ResourceType::Module => "module",
            ResourceType::Cluster => "cluster",
            ResourceType::Nodepool => "nodepool",
            ResourceType::Deployment => "deployment",
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthzenResource {
    #[serde(rename = "type")]
    pub kind: ResourceType,
    /// `<org>`, `<account>/<app>` or `<account>/<app>/<item>` by `type`.
    pub id: String,
    /// Accepted and ignored.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[expect(dead_code, reason = "decoded so a non-object is refused; never read")]
    pub properties: Option<Map<String, Value>>,
}

/// Answer only once this server has caught up with a revision (as `/v1/check`'s).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthzenConsistency {
    /// A revision a write returned (`int64`: at most 2^63-1).
    pub at_least: Option<u64>,
    #[serde(default)]
    pub fully_consistent: bool,
}

/// The environment of the evaluation. Portcullis reads `consistency`; other keys are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthzenContext {
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub consistency: Option<AuthzenConsistency>,
}

/// One access evaluation: may `subject` do `action` to `resource`?
#[derive(Debug, Deserialize, ToSchema)]
pub struct EvaluationRequest {
    #[serde(deserialize_with = "crate::extract::object")]
    pub subject: AuthzenSubject,
    #[serde(deserialize_with = "crate::extract::object")]
    pub action: AuthzenAction,
    #[serde(deserialize_with = "crate::extract::object")]
    pub resource: AuthzenResource,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub context: Option<AuthzenContext>,
}

/// One evaluation of a batch: what it omits comes from the request's top level.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EvaluationItem {
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub subject: Option<AuthzenSubject>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub action: Option<AuthzenAction>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub resource: Option<AuthzenResource>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub context: Option<AuthzenContext>,
}

/// How far a batch is evaluated.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationsSemantic {
    /// Every evaluation, every answer.
    #[default]
    ExecuteAll,
    /// Stop after the first denial (or failure), which is the last answer.
    DenyOnFirstDeny,
    /// Stop after the first permit, which is the last answer.
    PermitOnFirstPermit,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EvaluationsOptions {
    #[serde(default)]
    pub evaluations_semantic: Option<EvaluationsSemantic>,
}

/// Several evaluations (1 to 1000). The top-level `subject`, `action`, `resource` and `context`
/// are the defaults each evaluation may replace, whole. Without `evaluations` (or with an empty
/// array) the request is one evaluation of the top-level entities.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EvaluationsRequest {
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub subject: Option<AuthzenSubject>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub action: Option<AuthzenAction>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub resource: Option<AuthzenResource>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub context: Option<AuthzenContext>,
    #[serde(default, deserialize_with = "crate::extract::objects")]
    pub evaluations: Vec<EvaluationItem>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub options: Option<EvaluationsOptions>,
}

/// What Portcullis adds to a decision: the `/v1/check` explanation, or the problem one
/// evaluation of a batch ran into.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionContext {
    /// Why it was denied (a stable code, as `/v1/check`'s `reason`); absent when allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The grant paths that hold the permission, e.g. `role:org_contributor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Vec<String>>,
    /// The data revision the decision was made at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// The problem this evaluation alone ran into (in a batch); the decision is then `false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// An access decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decision {
    pub decision: bool,
    pub context: DecisionContext,
}

impl From<Explained> for Decision {
    fn from(e: Explained) -> Self {
        Self {
            decision: e.allowed,
            context: DecisionContext {
                reason: e.reason,
                via: Some(e.via),
                revision: Some(e.revision),
                error: None,
            },
        }
    }
}

impl Decision {
    /// A failed evaluation of a batch: closed, with its problem.
    fn failed(err: ApiError) -> Self {
        Self {
            decision: false,
            context: DecisionContext {
                reason: None,
                via: None,
                revision: None,
                error: Some(AuthzenError(err).into_problem()),
            },
        }
    }
}

/// The answer to `POST /access/v1/evaluations`: one decision per evaluation, in order (fewer
/// when a short-circuit semantic stopped early), or a single decision when the request held no
/// `evaluations`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EvaluationsResponse {
    Batch { evaluations: Vec<Decision> },
    Single(Decision),
}

/// The AuthZEN face of an [`ApiError`]: the specification's HTTPS binding has 400 for every bad
/// request (the v1 API's 415 and 422), and a 401 names the authentication scheme.
#[derive(Debug)]
pub struct AuthzenError(ApiError);

impl From<ApiError> for AuthzenError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<portcullis_service::ServiceError> for AuthzenError {
    fn from(err: portcullis_service::ServiceError) -> Self {
        Self(err.into())
    }
}

impl AuthzenError {
    fn adapted(mut self) -> ApiError {
        if matches!(
            self.0.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY
        ) {
            self.0.status = StatusCode::BAD_REQUEST;
        }
        self.0
    }

    fn into_problem(self) -> Problem {
        self.adapted().into_problem()
    }
}

impl IntoResponse for AuthzenError {
    fn into_response(self) -> Response {
        let err = self.adapted();
        let unauthorized = err.status == StatusCode::UNAUTHORIZED;
        let mut response = err.into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn invalid(code: &'static str, field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, detail).with_field(field)
}

fn subject(s: &AuthzenSubject) -> CheckSubject {
    match s.kind {
        SubjectType::User => CheckSubject::User(s.id.clone()),
        SubjectType::Token => CheckSubject::Token(s.id.clone()),
    }
}

/// The action's permission id, once known to name one (so a batch is refused whole, not item
/// by item, for a name the document's enum does not list).
fn permission(a: &AuthzenAction) -> Result<String, ApiError> {
    match Permission::parse(&a.name) {
        Some(_) => Ok(a.name.clone()),
        None => Err(invalid(
            "authzen.unknown_action",
            "action.name",
            format!(
                "unknown action `{}`: a permission id from /v1/roles",
                a.name
            ),
        )),
    }
}

fn resource(r: &AuthzenResource) -> Result<CheckResource, ApiError> {
    let parts: Vec<&str> = r.id.split('/').collect();
    let owned = |i: usize| parts[i].to_owned();
    if parts.iter().all(|p| !p.is_empty()) {
        match (r.kind, parts.len()) {
            (ResourceType::Org, 1) => return Ok(CheckResource::Org(owned(0))),
            (ResourceType::App, 2) => {
                return Ok(CheckResource::App {
                    account: owned(0),
                    app: owned(1),
                });
            }
            (kind, 3) => {
                if let Some(item) = kind.item_kind() {
                    return Ok(CheckResource::Item {
                        account: owned(0),
                        app: owned(1),
                        kind: item.to_owned(),
                        id: owned(2),
                    });
                }
            }
            _ => {}
        }
    }
    let form = match r.kind {
        ResourceType::Org => "`<org>`",
        ResourceType::App => "`<account>/<app>`",
        _ => "`<account>/<app>/<id>`",
    };
    Err(invalid(
        "authzen.invalid_resource_id",
        "resource.id",
        format!("the id of this resource type is {form}"),
    ))
}

fn consistency(context: Option<&AuthzenContext>) -> Result<Consistency, ApiError> {
    let Some(c) = context.and_then(|c| c.consistency.as_ref()) else {
        return Ok(Consistency::Latest);
    };
    match (c.at_least, c.fully_consistent) {
        (None, false) => Ok(Consistency::Latest),
        (Some(rev), false) if rev <= MAX_REVISION => Ok(Consistency::AtLeast(rev)),
        (Some(_), false) => Err(invalid(
            "authzen.invalid_consistency",
            "context.consistency.at_least",
            "`at_least` is a revision a write returned, at most 2^63-1",
        )),
        (None, true) => Ok(Consistency::Full),
        (Some(_), true) => Err(invalid(
            "authzen.invalid_consistency",
            "context.consistency",
            "give `at_least` or `fully_consistent`, not both",
        )),
    }
}

/// The check one evaluation asks for.
fn check_request(
    s: &AuthzenSubject,
    a: &AuthzenAction,
    r: &AuthzenResource,
    c: Option<&AuthzenContext>,
) -> Result<CheckRequest, ApiError> {
    Ok(CheckRequest {
        subject: subject(s),
        permission: permission(a)?,
        resource: resource(r)?,
        consistency: consistency(c)?,
    })
}

/// Decides one access evaluation with `/v1/check`'s decision (the caller may ask about itself,
/// about others with `authz.check` on the owning organization). `context.reason`, `via` and
/// `revision` explain it as `/v1/check` does.
#[utoipa::path(post, path = "/access/v1/evaluation", tag = "authzen", security(("bearer" = [])), request_body = EvaluationRequest, responses(
    (status = 200, body = Decision), (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
))]
async fn evaluation(
    State(service): State<AppState>,
    caller: Result<Authenticated, ApiError>,
    body: Result<ApiJson<EvaluationRequest>, ApiError>,
) -> Result<Json<Decision>, AuthzenError> {
    let Authenticated(caller) = caller?;
    let ApiJson(body) = body?;
    let request = check_request(
        &body.subject,
        &body.action,
        &body.resource,
        body.context.as_ref(),
    )?;
    Ok(Json(service.check(&caller, &request).await?.into()))
}

/// An entity of one evaluation: its own, else the top-level default.
fn pick<'a, T>(own: &'a Option<T>, default: &'a Option<T>) -> Option<&'a T> {
    own.as_ref().or(default.as_ref())
}

/// Evaluates several checks in one request, with the specification's defaults and
/// `options.evaluations_semantic`. A request the client got wrong (a malformed entity, an
/// unknown action, more than 1000 evaluations) is refused whole with 400 naming
/// `evaluations[i].field`; an evaluation lacking an entity that has no default, and each
/// problem a check alone runs into (an organization the caller may not ask about), is that
/// evaluation's `decision: false` with `context.error`.
#[utoipa::path(post, path = "/access/v1/evaluations", tag = "authzen", security(("bearer" = [])), request_body = EvaluationsRequest, responses(
    (status = 200, body = EvaluationsResponse), (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem),
))]
async fn evaluations(
    State(service): State<AppState>,
    caller: Result<Authenticated, ApiError>,
    body: Result<ApiJson<EvaluationsRequest>, ApiError>,
) -> Result<Json<EvaluationsResponse>, AuthzenError> {
    let Authenticated(caller) = caller?;
    let ApiJson(body) = body?;
    if body.evaluations.is_empty() {
        // The single evaluation of the top-level entities.
        let missing = |field: &str| {
            ApiError::bad_request("request.invalid_body", format!("missing field `{field}`"))
                .with_field(field)
        };
        let request = check_request(
            body.subject.as_ref().ok_or_else(|| missing("subject"))?,
            body.action.as_ref().ok_or_else(|| missing("action"))?,
            body.resource.as_ref().ok_or_else(|| missing("resource"))?,
            body.context.as_ref(),
        )?;
        let decision = service.check(&caller, &request).await?.into();
        return Ok(Json(EvaluationsResponse::Single(decision)));
    }
    if body.evaluations.len() > MAX_EVALUATIONS {
        return Err(invalid(
            "authzen.too_many_evaluations",
            "evaluations",
            format!("a request holds at most {MAX_EVALUATIONS} evaluations"),
        )
        .into());
    }
    let planned = plan(&body)?;
    let semantic = body
        .options
        .and_then(|o| o.evaluations_semantic)
        .unwrap_or_default();
    let evaluations = decide_all(&service, &caller, planned, semantic).await;
    Ok(Json(EvaluationsResponse::Batch { evaluations }))
}

/// The checks a batch asks for, in order: an evaluation lacking an entity that has no default
/// is that evaluation's own failure; any malformed entity (default or not, used or not) refuses
/// the request.
fn plan(body: &EvaluationsRequest) -> Result<Vec<Result<CheckRequest, ApiError>>, ApiError> {
    // Every entity given, default or not, must be well-formed, whether or not it is used.
    if let Some(s) = &body.action {
        permission(s)?;
    }
    if let Some(r) = &body.resource {
        resource(r)?;
    }
    consistency(body.context.as_ref())?;
    let mut planned = Vec::with_capacity(body.evaluations.len());
    for (i, item) in body.evaluations.iter().enumerate() {
        let within = |err: ApiError| err.within(&format!("evaluations[{i}]"));
        if let Some(a) = &item.action {
            permission(a).map_err(within)?;
        }
        if let Some(r) = &item.resource {
            resource(r).map_err(within)?;
        }
        if item.context.is_some() {
            consistency(item.context.as_ref()).map_err(within)?;
        }
        let entities = (
            pick(&item.subject, &body.subject),
            pick(&item.action, &body.action),
            pick(&item.resource, &body.resource),
        );
        planned.push(match entities {
            (Some(s), Some(a), Some(r)) => {
                let c = item.context.as_ref().or(body.context.as_ref());
                Ok(check_request(s, a, r, c).map_err(within)?)
            }
            (s, a, _) => {
                let field = match (s, a) {
                    (None, _) => "subject",
                    (_, None) => "action",
                    _ => "resource",
                };
                Err(ApiError::bad_request(
                    "authzen.missing_entity",
                    format!("the evaluation has no `{field}` and the request no default one"),
                )
                .with_field(format!("evaluations[{i}].{field}")))
            }
        });
    }
    Ok(planned)
}

/// Answers the planned checks in order, stopping where `semantic` says.
async fn decide_all(
    service: &AppState,
    caller: &portcullis_service::Caller,
    planned: Vec<Result<CheckRequest, ApiError>>,
    semantic: EvaluationsSemantic,
) -> Vec<Decision> {
    let mut answers = Vec::with_capacity(planned.len());
    // The lowest revision whose wait ran out, with its problem: an evaluation asking for it or
    // a later one, while this server is still behind it, fails at once instead of waiting
    // again (a thousand evaluations would otherwise wait a thousand times).
    let mut unreached: Option<(u64, &'static str, String)> = None;
    for request in planned {
        let decision = match request {
            Ok(request) => {
                let wanted = match request.consistency {
                    Consistency::AtLeast(revision) => Some(revision),
                    Consistency::Latest | Consistency::Full => None,
                };
                match (&unreached, wanted) {
                    (Some((failed, code, detail)), Some(revision))
                        if revision >= *failed && service.revision() < revision =>
                    {
                        Decision::failed(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            code,
                            detail.clone(),
                        ))
                    }
                    _ => match service.check(caller, &request).await {
                        Ok(explained) => Decision::from(explained),
                        Err(err) => {
                            let err = ApiError::from(err);
                            if let Some(revision) = wanted
                                && err.status == StatusCode::SERVICE_UNAVAILABLE
                                && unreached.as_ref().is_none_or(|(r, _, _)| revision < *r)
                            {
                                unreached = Some((revision, err.code, err.detail.clone()));
                            }
                            Decision::failed(err)
                        }
                    },
                }
            }
            Err(err) => Decision::failed(err),
        };
        let stop = match semantic {
            EvaluationsSemantic::ExecuteAll => false,
            EvaluationsSemantic::DenyOnFirstDeny => !decision.decision,
            EvaluationsSemantic::PermitOnFirstPermit => decision.decision,
        };
        answers.push(decision);
        if stop {
            break;
        }
    }
    answers
}

/// The PDP metadata document (AuthZEN 1.0 §"Policy Decision Point Metadata").
#[derive(Debug, Serialize, ToSchema)]
pub struct PdpMetadata {
    /// This server's `public_url`: the identifier a client checks against the URL it asked.
    pub policy_decision_point: String,
    pub access_evaluation_endpoint: String,
    pub access_evaluations_endpoint: String,
}

/// The AuthZEN Policy Decision Point metadata: where the evaluation endpoints are, under the
/// configured `public_url`. No search endpoints are offered.
#[utoipa::path(get, path = "/.well-known/authzen-configuration", tag = "authzen", responses(
    (status = 200, body = PdpMetadata),
))]
async fn configuration(State(service): State<AppState>) -> Response {
    let base = service.config().public_url.trim_end_matches('/');
    let metadata = PdpMetadata {
        policy_decision_point: base.to_owned(),
        access_evaluation_endpoint: format!("{base}{EVALUATION_PATH}"),
        access_evaluations_endpoint: format!("{base}{EVALUATIONS_PATH}"),
    };
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=3600"),
        )],
        Json(metadata),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_types_are_the_kinds_check_names() {
        let kinds: Vec<&str> = [
            ResourceType::Model,
            ResourceType::Workflow,
            ResourceType::Module,
            ResourceType::Cluster,
            ResourceType::Nodepool,
            ResourceType::Deployment,
        ]
        .into_iter()
        .filter_map(ResourceType::item_kind)
        .collect();
        assert_eq!(kinds, portcullis_service::check::ITEM_KINDS);
    }
}
