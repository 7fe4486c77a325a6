//! The audit log of an organization: query (paged JSON, or a streamed JSON lines / CSV export)
//! and hash-chain verification. Both need `audit.view`. The platform's log, the same way, for
//! the platform operator.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use portcullis_service::Portcullis;
use portcullis_service::audit::{AuditQuery, AuditSelection, EXPORT_BATCH, operation_name};
use portcullis_service::core::audit_chain::Verification;
use portcullis_service::csv_export::csv_text;
use portcullis_service::store::AuditEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{parse_rfc3339, rfc3339};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_log))
        .routes(routes!(verify_audit_log))
        .routes(routes!(platform_audit_log))
        .routes(routes!(verify_platform_audit_log))
}

/// The first entry at which the chain is broken.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLinkDto {
    /// The sequence number of the entry (or, for a removed tail, of the first missing one).
    pub seq: i64,
    /// The stored row id; `null` when the entry is missing.
    pub id: Option<i64>,
    /// `hash_mismatch`, `prev_hash_mismatch`, `seq_gap`, `truncated_tail`, `head_mismatch` or
    /// `beyond_head`.
    pub problem: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationDto {
    pub ok: bool,
    /// Entries read.
    pub entries: u64,
    pub first_broken: Option<BrokenLinkDto>,
}

impl From<Verification> for VerificationDto {
    fn from(v: Verification) -> Self {
        Self {
            ok: v.ok,
            entries: v.entries,
            first_broken: v.first_broken.map(|b| BrokenLinkDto {
                seq: b.seq,
                id: b.id,
                problem: b.problem.code(),
            }),
        }
    }
}

/// Verifies the organization's audit hash chain from its first kept entry to its head.
#[utoipa::path(get, path = "/v1/orgs/{org}/audit-log/verify", tag = "audit", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = VerificationDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
))]
async fn verify_audit_log(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<VerificationDto>, ApiError> {
    Ok(Json(service.verify_audit_log(&caller, &org).await?.into()))
}

/// Verifies the platform's audit hash chain (the platform operator).
#[utoipa::path(get, path = "/v1/audit-log/verify", tag = "audit", security(("bearer" = [])),
    responses(
    (status = 200, body = VerificationDto), (status = 401, body = Problem), (status = 403, body = Problem),
))]
async fn verify_platform_audit_log(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<VerificationDto>, ApiError> {
    Ok(Json(
        service.verify_platform_audit_log(&caller).await?.into(),
    ))
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActorDto {
    /// The acting user's account id (`null`: anonymous, the system, or a deleted account).
    pub user: Option<String>,
    /// `session`, `pat`, `app_key`, `service_key` or `scim_token`.
    pub credential_kind: Option<String>,
    pub credential_id: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub id: i64,
    pub at: String,
    pub revision: i64,
    pub operation: i64,
    pub operation_name: Option<&'static str>,
    pub actor: AuditActorDto,
    #[schema(value_type = Object)]
    pub targets: Value,
    #[schema(value_type = Object)]
    pub details: Value,
    pub success: bool,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Position in the organization's hash chain.
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        let json = |raw: &str| serde_json::from_str(raw).unwrap_or(Value::String(raw.to_owned()));
        Self {
            id: e.id,
            at: rfc3339(e.at),
            revision: e.revision,
            operation: e.operation,
            operation_name: operation_name(e.operation),
            actor: AuditActorDto {
                user: e.actor_handle,
                credential_kind: e.actor_credential_kind,
                credential_id: e.actor_credential,
            },
            targets: json(&e.targets),
            details: json(&e.details),
            success: e.success,
            request_id: e.request_id,
            source_ip: e.source_ip,
            user_agent: e.user_agent,
            seq: e.seq,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageDto {
    pub entries: Vec<AuditEntryDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    /// Entries at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Entries before this time (RFC 3339).
    pub to: Option<String>,
    /// Comma-separated acting user ids.
    pub users: Option<String>,
    /// Comma-separated operation codes or names.
    pub operations: Option<String>,
    /// A substring of the targets (case-insensitive).
    pub target: Option<String>,
    /// `true` or `false`.
    pub success: Option<String>,
    pub source_ip: Option<String>,
    /// `newest` (default) or `oldest`.
    pub order: Option<String>,
    /// Page size, 1 to 200 (default 50); ignored by exports.
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `json` (default, one page), `jsonl` or `csv` (every matching entry, streamed).
    pub format: Option<String>,
}

fn time(field: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|t| {
        parse_rfc3339(t).ok_or_else(|| {
            ApiError::invalid(
                "audit.invalid_time",
                field,
                format!("`{field}` must be an RFC 3339 time"),
            )
        })
    })
    .transpose()
}

fn list(raw: Option<&str>) -> Vec<String> {
    raw.map(|r| {
        r.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

impl AuditLogQuery {
    fn to_query(&self) -> Result<AuditQuery, ApiError> {
        let success = match self.success.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(ApiError::invalid(
                    "audit.invalid_success",
                    "success",
                    "`success` must be `true` or `false`",
                ));
            }
        };
        Ok(AuditQuery {
            from: time("from", self.from.as_deref())?,
            to: time("to", self.to.as_deref())?,
            users: list(self.users.as_deref()),
            operations: list(self.operations.as_deref()),
            target: self.target.clone(),
            success,
            source_ip: self.source_ip.clone(),
            order: self.order.clone(),
        })
    }
}

/// The organization's audit log, filtered, newest or oldest first, with cursor pagination
/// (`format=json`), or every matching entry streamed as JSON lines or CSV.
#[utoipa::path(get, path = "/v1/orgs/{org}/audit-log", tag = "audit", security(("bearer" = [])),
    params(("org" = String, Path), AuditLogQuery), responses(
    (status = 200, body = AuditPageDto, description = "a page; `text/csv` or `application/jsonl` for exports"),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn audit_log(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiQuery(query): ApiQuery<AuditLogQuery>,
) -> Result<Response, ApiError> {
    let format = export_format(&query)?;
    let selection = service.select_audit_log(&caller, &org, query.to_query()?)?;
    respond(service, selection, &query, format).await
}

/// The platform's audit log (the platform operator): its own actions, and every account's
/// authentication events (also recorded in the logs of the account's organizations). The same
/// filters, pagination and exports as an organization's log.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", security(("bearer" = [])),
    params(AuditLogQuery), responses(
    (status = 200, body = AuditPageDto, description = "a page; `text/csv` or `application/jsonl` for exports"),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
))]
async fn platform_audit_log(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiQuery(query): ApiQuery<AuditLogQuery>,
) -> Result<Response, ApiError> {
    let format = export_format(&query)?;
    let selection = service.select_platform_audit_log(&caller, query.to_query()?)?;
    respond(service, selection, &query, format).await
}

fn export_format(query: &AuditLogQuery) -> Result<Option<Export>, ApiError> {
    Ok(match query.format.as_deref() {
        None | Some("json") => None,
        Some("jsonl") => Some(Export::JsonLines),
        Some("csv") => Some(Export::Csv),
        Some(other) => {
            return Err(ApiError::invalid(
                "audit.invalid_format",
                "format",
                format!("`format` must be `json`, `jsonl` or `csv`, not `{other}`"),
            ));
        }
    })
}

/// A page of the selection, or the whole selection streamed as an export.
async fn respond(
    service: AppState,
    selection: AuditSelection,
    query: &AuditLogQuery,
    format: Option<Export>,
) -> Result<Response, ApiError> {
    let Some(export) = format else {
        let page = service
            .audit_log_page(&selection, query.limit.as_deref(), query.cursor.as_deref())
            .await?;
        return Ok(Json(AuditPageDto {
            entries: page.entries.into_iter().map(AuditEntryDto::from).collect(),
            next_cursor: page.next_cursor,
        })
        .into_response());
    };
    let content_type = match export {
        Export::JsonLines => "application/jsonl",
        Export::Csv => "text/csv; charset=utf-8",
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(export_stream(service, selection, export)),
    )
        .into_response())
}

#[derive(Debug, Clone, Copy)]
enum Export {
    JsonLines,
    Csv,
}

const CSV_HEADER: [&str; 14] = [
    "id",
    "at",
    "seq",
    "operation",
    "operation_name",
    "actor_user",
    "credential_kind",
    "targets",
    "details",
    "success",
    "request_id",
    "source_ip",
    "user_agent",
    "hash",
];

/// Reads the selection batch by batch (never the whole log at once) and renders each batch.
fn export_stream(
    service: Arc<Portcullis>,
    selection: AuditSelection,
    export: Export,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    struct State {
        service: Arc<Portcullis>,
        selection: AuditSelection,
        cursor: Option<i64>,
        header_sent: bool,
        done: bool,
    }
    let state = State {
        service,
        selection,
        cursor: None,
        header_sent: false,
        done: false,
    };
    futures_util::stream::unfold(state, move |mut s| async move {
        if s.done {
            return None;
        }
        let header = match export {
            Export::Csv if !s.header_sent => Some(CSV_HEADER.map(str::to_owned)),
            _ => None,
        };
        s.header_sent = true;
        let rows = match s
            .service
            .audit_rows(&s.selection, s.cursor, EXPORT_BATCH)
            .await
        {
            Ok(rows) => rows,
            Err(err) => {
                s.done = true;
                tracing::error!(error = %err, "audit export failed");
                return Some((Err(std::io::Error::other("audit export failed")), s));
            }
        };
        if rows.len() < EXPORT_BATCH as usize {
            s.done = true;
        }
        s.cursor = rows.last().map(|e| e.id).or(s.cursor);
        let out: String = match export {
            Export::JsonLines => rows.into_iter().map(json_line).collect(),
            Export::Csv => csv_text(header.into_iter().chain(rows.into_iter().map(csv_row))),
        };
        Some((Ok(Bytes::from(out)), s))
    })
}

fn json_line(entry: AuditEntry) -> String {
    let mut line = serde_json::to_string(&AuditEntryDto::from(entry)).unwrap_or_default();
    line.push('\n');
    line
}

fn csv_row(entry: AuditEntry) -> [String; 14] {
    let dto = AuditEntryDto::from(entry);
    [
        dto.id.to_string(),
        dto.at,
        dto.seq.to_string(),
        dto.operation.to_string(),
        dto.operation_name.unwrap_or_default().to_owned(),
        dto.actor.user.unwrap_or_default(),
        dto.actor.credential_kind.unwrap_or_default(),
        dto.targets.to_string(),
        dto.details.to_string(),
        dto.success.to_string(),
        dto.request_id.unwrap_or_default(),
        dto.source_ip.unwrap_or_default(),
        dto.user_agent.unwrap_or_default(),
        dto.hash,
    ]
}
