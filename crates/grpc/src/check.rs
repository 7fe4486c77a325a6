//! `portcullis.v1.CheckService`: the gRPC face of `POST /v1/check`, `POST /v1/check/batch` and
//! `GET /v1/me/permissions` (crates/http/src/routes/check.rs). Each method does what the HTTP
//! stack does for its route, in the same order: wait for the `portcullis-revision` the call
//! names (the HTTP `around` layer), authenticate the `authorization` metadata (the
//! `Authenticated` extractor), convert the message, call the one service function.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use portcullis_http::ApiError;
use portcullis_service::check::{
    CheckRequest, CheckResource, CheckSubject, Consistency, Explained,
};
use portcullis_service::{Caller, Portcullis, RequestMeta};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::error::{from_service, problem, status};
use crate::pb::{self, check_service_server::CheckService};

/// Metadata naming a revision this server must reach before answering (what a write answered
/// with in the `portcullis-revision` header, on any server).
pub const REVISION_METADATA: &str = "portcullis-revision";

/// Most checks accepted in one batch (as `POST /v1/check/batch`).
const MAX_BATCH: usize = 1000;

/// Revisions are stored as signed 64-bit integers (SQLite and PostgreSQL `BIGINT`).
const MAX_REVISION: u64 = i64::MAX as u64;

/// Longest kept of a metadata value copied into the audit record (as the HTTP request meta).
const META_CHARS: usize = 200;

#[derive(Debug)]
pub(crate) struct CheckApi {
    service: Arc<Portcullis>,
}

impl CheckApi {
    pub(crate) fn new(service: Arc<Portcullis>) -> Self {
        Self { service }
    }

    /// The caller of a call: once this server has reached the revision the call names, the
    /// credential of its `authorization` metadata; without one, refused (`required`) or
    /// anonymous.
    async fn caller<T>(&self, request: &Request<T>, required: bool) -> Result<Caller, Status> {
        if let Some(revision) = wanted_revision(request.metadata())? {
            let wait = Duration::from_millis(u64::from(self.service.config().consistency_wait_ms));
            self.service
                .wait_for_revision(revision, wait)
                .await
                .map_err(from_service)?;
        }
        let meta = request_meta(request);
        match presented_token(request.metadata())? {
            Some(token) => self.service.authenticate(token, meta).map_err(from_service),
            None if required => Err(from_service(
                portcullis_service::ServiceError::Unauthenticated,
            )),
            None => Ok(Caller::anonymous(meta)),
        }
    }
}

#[tonic::async_trait]
impl CheckService for CheckApi {
    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let caller = self.caller(&request, true).await?;
        let check = check_request(request.into_inner()).map_err(status)?;
        let explained = self
            .service
            .check(&caller, &check)
            .await
            .map_err(from_service)?;
        Ok(Response::new(decision(explained)))
    }

    async fn check_batch(
        &self,
        request: Request<pb::CheckBatchRequest>,
    ) -> Result<Response<pb::CheckBatchResponse>, Status> {
        let caller = self.caller(&request, true).await?;
        let checks = request.into_inner().checks;
        if checks.is_empty() || checks.len() > MAX_BATCH {
            return Err(status(invalid("checks", "a batch holds 1 to 1000 checks")));
        }
        let requests = checks
            .into_iter()
            .enumerate()
            .map(|(i, check)| {
                check_request(check).map_err(|err| status(err.within(&format!("checks[{i}]"))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut results = Vec::with_capacity(requests.len());
        for request in &requests {
            let result = match self.service.check_in_batch(&caller, request).await {
                Ok(explained) => pb::check_batch_result::Result::Decision(decision(explained)),
                Err(err) => pb::check_batch_result::Result::Error(problem(err)),
            };
            results.push(pb::CheckBatchResult {
                result: Some(result),
            });
        }
        Ok(Response::new(pb::CheckBatchResponse { results }))
    }

    async fn lookup_permissions(
        &self,
        request: Request<pb::LookupPermissionsRequest>,
    ) -> Result<Response<pb::LookupPermissionsResponse>, Status> {
        let caller = self.caller(&request, false).await?;
        let pb::LookupPermissionsRequest { account, app } = request.into_inner();
        let (set, revision) = self
            .service
            .my_permissions(&caller, &account, app.as_deref())
            .map_err(from_service)?;
        Ok(Response::new(pb::LookupPermissionsResponse {
            account,
            app,
            permissions: set.iter().map(|p| p.as_str().to_owned()).collect(),
            revision,
        }))
    }
}

fn decision(explained: Explained) -> pb::CheckResponse {
    pb::CheckResponse {
        allowed: explained.allowed,
        reason: explained.reason.map(str::to_owned),
        via: explained.via,
        revision: explained.revision,
    }
}

fn invalid(field: &str, detail: &str) -> ApiError {
    ApiError::invalid("check.invalid_request", field, detail)
}

/// The message as the service's request; what the schema cannot express (a missing subject,
/// resource or part of one, a revision out of range) is `check.invalid_request` naming the
/// field, as over HTTP.
fn check_request(check: pb::CheckRequest) -> Result<CheckRequest, ApiError> {
    use pb::consistency::Requirement;
    use pb::resource::Kind as ResourceKind;
    use pb::subject::Kind as SubjectKind;

    let subject = match check.subject.and_then(|s| s.kind) {
        Some(SubjectKind::User(user)) => CheckSubject::User(user),
        Some(SubjectKind::Token(token)) => CheckSubject::Token(token),
        None => {
            return Err(invalid(
                "subject",
                "subject needs exactly one of `user` or `token`",
            ));
        }
    };
    let resource = match check.resource.and_then(|r| r.kind) {
        Some(ResourceKind::Org(org)) => CheckResource::Org(org),
        Some(ResourceKind::App(pb::AppResource { account, app })) => {
            CheckResource::App { account, app }
        }
        Some(ResourceKind::Item(pb::ItemResource {
            account,
            app,
            kind,
            id,
        })) => CheckResource::Item {
            account,
            app,
            kind,
            id,
        },
        None => {
            return Err(invalid(
                "resource",
                "resource must be one of `org`, `app` or `item`",
            ));
        }
    };
    let consistency = match check.consistency.and_then(|c| c.requirement) {
        None | Some(Requirement::FullyConsistent(false)) => Consistency::Latest,
        Some(Requirement::FullyConsistent(true)) => Consistency::Full,
        Some(Requirement::AtLeast(revision)) if revision <= MAX_REVISION => {
            Consistency::AtLeast(revision)
        }
        Some(Requirement::AtLeast(_)) => {
            return Err(invalid(
                "consistency.at_least",
                "`at_least` is a revision a write returned, at most 2^63-1",
            ));
        }
    };
    Ok(CheckRequest {
        subject,
        permission: check.permission,
        resource,
        consistency,
    })
}

/// The revision a call asks this server to have reached, if it names one.
fn wanted_revision(metadata: &MetadataMap) -> Result<Option<u64>, Status> {
    let Some(value) = metadata.get(REVISION_METADATA) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            status(ApiError::new(
                StatusCode::BAD_REQUEST,
                "consistency.invalid_revision",
                "the portcullis-revision metadata must be a revision number",
            ))
        })
}

/// The token of `authorization: Bearer <token>` (or `Key <token>`), as over HTTP.
fn presented_token(metadata: &MetadataMap) -> Result<Option<&str>, Status> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(None);
    };
    let unauthenticated = || from_service(portcullis_service::ServiceError::Unauthenticated);
    let value = value.to_str().map_err(|_| unauthenticated())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(unauthenticated)?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("key") {
        Ok(Some(token.trim()))
    } else {
        Err(unauthenticated())
    }
}

/// What the audit record keeps of a call: its request id, peer address and user agent.
fn request_meta<T>(request: &Request<T>) -> RequestMeta {
    let text = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(META_CHARS).collect::<String>())
    };
    RequestMeta {
        request_id: text("x-request-id"),
        source_ip: request
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_string()),
        user_agent: text("user-agent"),
    }
}
