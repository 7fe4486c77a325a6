//! The audit log (filters, pages, CSV export) and the access review of an app or a member,
//! with grant paths. Both need `audit.view`; the service checks it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::ServiceError;
use portcullis_service::access_review::{AppAccessPage, MemberAccess, Principal};
use portcullis_service::audit::{AuditQuery, EXPORT_BATCH, operation_name};
use portcullis_service::billing::parse_day;
use portcullis_service::csv_export::csv_text;
use portcullis_service::store::AuditEntry;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::SignedIn;
use crate::view::{Nav, page_error, render, when};

const DAY_MS: i64 = 86_400_000;
/// The most rows one CSV export returns (narrow the filters for more).
const EXPORT_LIMIT: usize = 50_000;

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    cursor: String,
}

impl Filters {
    fn query(&self) -> Result<AuditQuery, ServiceError> {
        let day = |field: &'static str, raw: &str, end: bool| -> Result<_, ServiceError> {
            if raw.is_empty() {
                return Ok(None);
            }
            let days = parse_day(raw).ok_or_else(|| {
                ServiceError::invalid(
                    "audit.invalid_date",
                    field,
                    format!("`{field}` must be a date YYYY-MM-DD"),
                )
            })?;
            Ok(Some((days + i64::from(end)) * DAY_MS))
        };
        Ok(AuditQuery {
            from: day("from", &self.from, false)?,
            to: day("to", &self.to, true)?,
            users: non_empty(&self.user),
            operations: non_empty(&self.operation),
            target: Some(self.target.clone()).filter(|t| !t.is_empty()),
            success: match self.outcome.as_str() {
                "success" => Some(true),
                "failure" => Some(false),
                _ => None,
            },
            source_ip: None,
            order: None,
        })
    }

    /// The filters as a query string (for the export link and the next page).
    fn encoded(&self) -> String {
        let pairs = [
            ("from", &self.from),
            ("to", &self.to),
            ("user", &self.user),
            ("operation", &self.operation),
            ("target", &self.target),
            ("outcome", &self.outcome),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn non_empty(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Row {
    at: String,
    actor: String,
    operation: String,
    targets: String,
    success: bool,
    source_ip: String,
}

fn row(e: &AuditEntry) -> Row {
    Row {
        at: when(e.at),
        actor: e.actor_handle.clone().unwrap_or_else(|| "—".to_owned()),
        operation: operation_name(e.operation)
            .map_or_else(|| e.operation.to_string(), str::to_owned),
        targets: e.targets.clone(),
        success: e.success,
        source_ip: e.source_ip.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    filters: Filters,
    rows: Vec<Row>,
    next: Option<String>,
    query: String,
    error: Option<String>,
}

pub async fn log(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    Query(filters): Query<Filters>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "audit", "Audit log").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let query = filters.encoded();
    let selected = filters
        .query()
        .and_then(|q| service.select_audit_log(&viewer.caller, &account, q));
    let (rows, next, error) = match selected {
        Ok(selection) => {
            let cursor = Some(filters.cursor.as_str()).filter(|c| !c.is_empty());
            match service
                .audit_log_page(&selection, Some("100"), cursor)
                .await
            {
                Ok(page) => (
                    page.entries.iter().map(row).collect(),
                    page.next_cursor,
                    None,
                ),
                Err(err @ ServiceError::Invalid { .. }) => {
                    (Vec::new(), None, Some(err.to_string()))
                }
                Err(err) => return page_error(err),
            }
        }
        Err(err @ ServiceError::Invalid { .. }) => (Vec::new(), None, Some(err.to_string())),
        Err(err) => return page_error(err),
    };
    let page = AuditPage {
        nav,
        filters,
        rows,
        next,
        query,
        error,
    };
    render(&page, viewer.flash.is_some())
}

pub async fn export_csv(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    Query(filters): Query<Filters>,
    viewer: SignedIn,
) -> Response {
    let selection = match filters
        .query()
        .and_then(|q| service.select_audit_log(&viewer.caller, &account, q))
    {
        Ok(selection) => selection,
        Err(err) => return page_error(err),
    };
    let columns = [
        "id",
        "at",
        "actor",
        "operation",
        "success",
        "source_ip",
        "targets",
        "details",
    ];
    let mut rows = vec![columns.map(str::to_owned)];
    let mut cursor = None;
    let mut count = 0;
    loop {
        let batch = match service.audit_rows(&selection, cursor, EXPORT_BATCH).await {
            Ok(batch) => batch,
            Err(err) => return page_error(err),
        };
        rows.extend(batch.iter().map(|e| {
            let r = row(e);
            [
                e.id.to_string(),
                r.at,
                r.actor,
                r.operation,
                r.success.to_string(),
                r.source_ip,
                r.targets,
                e.details.clone(),
            ]
        }));
        count += batch.len();
        match batch.last() {
            Some(last) if batch.len() == EXPORT_BATCH as usize && count < EXPORT_LIMIT => {
                cursor = Some(last.id);
            }
            _ => break,
        }
    }
    let mut response = csv_text(rows).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"audit-{account}.csv\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    #[serde(default)]
    app: String,
    #[serde(default)]
    member: String,
}

struct PrincipalRow {
    who: String,
    permissions: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "access_review.html")]
struct ReviewPage {
    nav: Nav,
    app: String,
    member: String,
    app_rows: Option<Vec<PrincipalRow>>,
    member_view: Option<MemberAccess>,
}

impl ReviewPage {
    fn via(&self, via: &[String]) -> String {
        via.join("; ")
    }
}

fn principal_rows(page: AppAccessPage) -> Vec<PrincipalRow> {
    page.principals
        .into_iter()
        .map(|p| PrincipalRow {
            who: match p.principal {
                Principal::User {
                    id,
                    role,
                    teams,
                    collaborator,
                } => {
                    let mut who = id;
                    if let Some(role) = role {
                        who.push_str(&format!(" ({})", role.label()));
                    }
                    if !teams.is_empty() {
                        who.push_str(&format!(" teams: {}", teams.join(", ")));
                    }
                    if collaborator {
                        who.push_str(" collaborator");
                    }
                    who
                }
                Principal::AppKey { id, user } => format!("app key {id} of {user}"),
                Principal::Anyone => "anyone (public app)".to_owned(),
            },
            permissions: p
                .permissions
                .into_iter()
                .map(|h| (h.permission.as_str().to_owned(), h.via.join("; ")))
                .collect(),
        })
        .collect()
}

pub async fn access_review(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    Query(query): Query<ReviewQuery>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "audit", "Access review").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    if !nav.can("audit.view") {
        return page_error(ServiceError::Forbidden(
            portcullis_core::Permission::AuditView,
        ));
    }
    let app_rows = if query.app.is_empty() {
        None
    } else {
        match service
            .app_access(&viewer.caller, &account, &query.app, Some("200"), None)
            .await
        {
            Ok(page) => Some(principal_rows(page)),
            Err(err) => return page_error(err),
        }
    };
    let member_view = if query.member.is_empty() {
        None
    } else {
        match service
            .member_access(&viewer.caller, &account, &query.member)
            .await
        {
            Ok(view) => Some(view),
            Err(err) => return page_error(err),
        }
    };
    let page = ReviewPage {
        nav,
        app: query.app,
        member: query.member,
        app_rows,
        member_view,
    };
    render(&page, viewer.flash.is_some())
}
