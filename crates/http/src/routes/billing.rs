//! Financial data of an organization: usage ingestion, the costs report (JSON or CSV) and the
//! monthly budget.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::billing::{
    BudgetInput, BudgetStatus, CostsReport, Total, UsageInput, costs_csv,
};
use portcullis_service::store::BudgetRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest_usage))
        .routes(routes!(costs))
        .routes(routes!(get_budget, put_budget, delete_budget))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecordRequest {
    /// The client's id for the record, unique per organization (1–128 of letters, digits,
    /// `.`, `_`, `-`, `:`). Sending the same record again is harmless.
    pub id: String,
    /// `prediction`, `training`, `compute`, `storage` or `search`.
    pub category: String,
    /// Whole cents, 0 to 10^12.
    #[schema(value_type = i64)]
    pub amount_cents: Value,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    /// A free-form model reference (e.g. `acme/app/model`).
    pub model: Option<String>,
    /// `YYYY-MM-DD`.
    pub day: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestUsageRequest {
    /// 1–1000 records, stored all or nothing.
    pub records: Vec<UsageRecordRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestUsageResponse {
    /// Records stored by this request.
    pub inserted: usize,
    /// Records that were already stored with the same content.
    pub unchanged: usize,
}

/// Ingests usage records (`usage.write`: administrators and platform service keys). Idempotent
/// by record id; a known id with different content refuses the batch with 409 `usage.conflict`.
#[utoipa::path(post, path = "/v1/orgs/{org}/usage", tag = "billing", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = IngestUsageRequest, responses(
    (status = 200, body = IngestUsageResponse), (status = 400, body = Problem), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
))]
async fn ingest_usage(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<IngestUsageRequest>,
) -> Result<Json<IngestUsageResponse>, ApiError> {
    let records = body
        .records
        .into_iter()
        .map(|r| UsageInput {
            id: r.id,
            category: r.category,
            amount_cents: r.amount_cents,
            currency: r.currency,
            model: r.model,
            day: r.day,
        })
        .collect();
    let outcome = service.ingest_usage(&caller, &org, records).await?;
    Ok(Json(IngestUsageResponse {
        inserted: outcome.value.inserted,
        unchanged: outcome.value.unchanged,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CostsQuery {
    /// First day, `YYYY-MM-DD` (inclusive) [default: the first day of `to`'s month].
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (inclusive); at most 366 days after `from` [default: today,
    /// UTC].
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AmountDto {
    /// The category, day or model (`null`: usage without a model, or a grand total).
    pub key: Option<String>,
    pub currency: String,
    pub amount_cents: i64,
}

impl From<Total> for AmountDto {
    fn from(t: Total) -> Self {
        Self {
            key: t.key,
            currency: t.currency,
            amount_cents: t.amount_cents,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CostsDto {
    pub org: String,
    pub from: String,
    pub to: String,
    pub by_category: Vec<AmountDto>,
    pub by_day: Vec<AmountDto>,
    pub by_model: Vec<AmountDto>,
    /// Grand total per currency.
    pub totals: Vec<AmountDto>,
}

fn amounts(totals: Vec<Total>) -> Vec<AmountDto> {
    totals.into_iter().map(AmountDto::from).collect()
}

/// The costs report (`billing.view`): totals by category, day and model, and per currency.
/// `format=csv` downloads the detail (one row per day, category, model and currency).
#[utoipa::path(get, path = "/v1/orgs/{org}/costs", tag = "billing", security(("bearer" = [])),
    params(("org" = String, Path), CostsQuery), responses(
    (status = 200, content((CostsDto = "application/json"), (String = "text/csv"))),
    (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn costs(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiQuery(query): ApiQuery<CostsQuery>,
) -> Result<Response, ApiError> {
    let report = service
        .costs(&caller, &org, query.from.as_deref(), query.to.as_deref())
        .await?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "costs.invalid_format",
                "format",
                "`format` must be `json` or `csv`",
            ));
        }
    };
    if csv {
        return Ok(csv_response(&report));
    }
    Ok(Json(CostsDto {
        org: report.org,
        from: report.from,
        to: report.to,
        by_category: amounts(report.by_category),
        by_day: amounts(report.by_day),
        by_model: amounts(report.by_model),
        totals: amounts(report.totals),
    })
    .into_response())
}

fn csv_response(report: &CostsReport) -> Response {
    let body = costs_csv(report);
    let filename = format!("costs-{}-{}-{}.csv", report.org, report.from, report.to);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // Ids and dates are plain ASCII, so the filename needs no escaping.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetSettingsDto {
    pub monthly_budget_cents: i64,
    pub currency: String,
    pub alert_threshold_percent: i64,
    pub modified_at: String,
}

impl From<BudgetRecord> for BudgetSettingsDto {
    fn from(b: BudgetRecord) -> Self {
        Self {
            monthly_budget_cents: b.monthly_budget_cents,
            currency: b.currency,
            alert_threshold_percent: b.alert_threshold_percent,
            modified_at: rfc3339(b.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetDto {
    /// `null` until a budget is set.
    pub budget: Option<BudgetSettingsDto>,
    /// The current month (UTC), `YYYY-MM`.
    pub month: String,
    /// This month's spend per currency (`key` is `null`).
    pub spend: Vec<AmountDto>,
    /// This month's spend in the budget's currency.
    pub spent_cents: i64,
    /// Whole percent of the budget spent.
    pub percent_used: Option<i64>,
    /// Whether spend reached the alert threshold.
    pub alert: bool,
}

impl From<BudgetStatus> for BudgetDto {
    fn from(s: BudgetStatus) -> Self {
        Self {
            budget: s.budget.map(BudgetSettingsDto::from),
            month: s.month,
            spend: amounts(s.spend),
            spent_cents: s.spent_cents,
            percent_used: s.percent_used,
            alert: s.alert,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// Whole cents, 0 to 10^12.
    #[schema(value_type = i64)]
    pub monthly_budget_cents: Value,
    /// ISO 4217 code.
    pub currency: String,
    /// 1–100.
    #[schema(value_type = i64)]
    pub alert_threshold_percent: Value,
}

/// The budget and this month's spend (`billing.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/budget", tag = "billing", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = BudgetDto), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn get_budget(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<BudgetDto>, ApiError> {
    Ok(Json(service.budget(&caller, &org).await?.into()))
}

/// Sets the monthly budget (`billing.manage`).
#[utoipa::path(put, path = "/v1/orgs/{org}/budget", tag = "billing", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = BudgetRequest, responses(
    (status = 200, body = BudgetSettingsDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn put_budget(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<BudgetRequest>,
) -> Result<Json<BudgetSettingsDto>, ApiError> {
    let input = BudgetInput {
        monthly_budget_cents: body.monthly_budget_cents,
        currency: body.currency,
        alert_threshold_percent: body.alert_threshold_percent,
    };
    let budget = service.set_budget(&caller, &org, input).await?;
    Ok(Json(budget.value.into()))
}

/// Removes the monthly budget (`billing.manage`); removing an absent budget is harmless.
#[utoipa::path(delete, path = "/v1/orgs/{org}/budget", tag = "billing", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
))]
async fn delete_budget(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    service.clear_budget(&caller, &org).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
