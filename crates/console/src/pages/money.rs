//! Compute (clusters, nodepools, deployments; read-only here, managed through the API) and
//! Costs (the report by category and day with a server-rendered SVG chart, CSV download, and
//! the budget).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::ServiceError;
use portcullis_service::billing::{BudgetStatus, CostsReport, format_day};
use portcullis_service::store::{ClusterRecord, DeploymentRecord, NodepoolRecord};
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::SignedIn;
use crate::view::{Nav, page_error, render};

#[derive(Template)]
#[template(path = "compute.html")]
struct ComputePage {
    nav: Nav,
    clusters: Vec<(ClusterRecord, Vec<NodepoolRecord>)>,
    deployments: Vec<DeploymentRecord>,
}

impl ComputePage {
    fn targets(&self, d: &DeploymentRecord) -> String {
        d.targets
            .iter()
            .map(|t| {
                format!(
                    "{}/{} (priority {})",
                    t.cluster_id, t.nodepool_id, t.priority
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn instances(&self, n: &NodepoolRecord) -> String {
        n.instance_types.join(", ")
    }
}

pub async fn compute(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "compute", "Compute").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let caller = &viewer.caller;
    let loaded = async {
        let mut clusters = Vec::new();
        for cluster in service.list_clusters(caller, &account).await? {
            let pools = service
                .list_nodepools(caller, &account, &cluster.id)
                .await?;
            clusters.push((cluster, pools));
        }
        let deployments = service.list_deployments(caller, &account).await?;
        Ok::<_, ServiceError>((clusters, deployments))
    };
    let (clusters, deployments) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return page_error(err),
    };
    let page = ComputePage {
        nav,
        clusters,
        deployments,
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl RangeQuery {
    /// The asked range, or the last 30 days.
    fn resolve(&self, today_days: i64) -> (String, String) {
        let to = if self.to.is_empty() {
            format_day(today_days)
        } else {
            self.to.clone()
        };
        let from = if self.from.is_empty() {
            format_day(today_days - 29)
        } else {
            self.from.clone()
        };
        (from, to)
    }
}

fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

struct Bar {
    x: u32,
    y: u32,
    height: u32,
    label: String,
}

/// A bar per day of the report's first currency, scaled into a 600×200 box.
fn chart(report: &CostsReport) -> (Vec<Bar>, String) {
    let Some(currency) = report.totals.first().map(|t| t.currency.clone()) else {
        return (Vec::new(), String::new());
    };
    let days: Vec<_> = report
        .by_day
        .iter()
        .filter(|t| t.currency == currency)
        .collect();
    let max = days
        .iter()
        .map(|t| t.amount_cents)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = 600 / u32::try_from(days.len().max(1)).unwrap_or(1);
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let height = u32::try_from(t.amount_cents.max(0) * 180 / max).unwrap_or(0);
            Bar {
                x: u32::try_from(i).unwrap_or(0) * width + 1,
                y: 190 - height,
                height,
                label: format!(
                    "{}: {}",
                    t.key.as_deref().unwrap_or(""),
                    money(t.amount_cents, &t.currency)
                ),
            }
        })
        .collect();
    (bars, currency)
}

#[derive(Template)]
#[template(path = "costs.html")]
struct CostsPage {
    nav: Nav,
    from: String,
    to: String,
    report: Option<CostsReport>,
    error: Option<String>,
    bars: Vec<Bar>,
    bar_width: u32,
    chart_currency: String,
    budget: Option<BudgetStatus>,
}

impl CostsPage {
    fn money(&self, cents: &i64, currency: &str) -> String {
        money(*cents, currency)
    }
}

pub async fn billing(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    Query(range): Query<RangeQuery>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "billing", "Costs").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let (from, to) = range.resolve(service.now().div_euclid(86_400_000));
    let (report, error) = match service
        .costs(&viewer.caller, &account, Some(&from), Some(&to))
        .await
    {
        Ok(report) => (Some(report), None),
        Err(err @ ServiceError::Invalid { .. }) => (None, Some(err.to_string())),
        Err(err) => return page_error(err),
    };
    let budget = service.budget(&viewer.caller, &account).await.ok();
    let (bars, chart_currency) = report.as_ref().map(chart).unwrap_or_default();
    let bar_width = (600 / u32::try_from(bars.len().max(1)).unwrap_or(1)).saturating_sub(2);
    let page = CostsPage {
        nav,
        from,
        to,
        report,
        error,
        bars,
        bar_width: bar_width.max(1),
        chart_currency,
        budget,
    };
    render(&page, viewer.flash.is_some())
}

fn csv_field(raw: &str) -> String {
    let defused = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

pub async fn costs_csv(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    Query(range): Query<RangeQuery>,
    viewer: SignedIn,
) -> Response {
    let (from, to) = range.resolve(service.now().div_euclid(86_400_000));
    let report = match service
        .costs(&viewer.caller, &account, Some(&from), Some(&to))
        .await
    {
        Ok(report) => report,
        Err(err) => return page_error(err),
    };
    let mut out = String::from("day,category,model,currency,amount_cents,records\n");
    for g in &report.groups {
        let fields = [
            g.day.clone(),
            g.category.clone(),
            g.model.clone().unwrap_or_default(),
            g.currency.clone(),
            g.amount_cents.to_string(),
            g.records.to_string(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    let mut response = out.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"costs-{account}-{from}-{to}.csv\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use portcullis_service::billing::{CostsReport, Total};

    use super::{chart, money};

    fn total(key: &str, cents: i64) -> Total {
        Total {
            key: Some(key.to_owned()),
            currency: "USD".to_owned(),
            amount_cents: cents,
        }
    }

    #[test]
    fn the_chart_scales_the_highest_day_to_the_full_height() {
        let report = CostsReport {
            org: "acme".to_owned(),
            from: "2026-01-01".to_owned(),
            to: "2026-01-03".to_owned(),
            by_category: vec![],
            by_day: vec![
                total("2026-01-01", 500),
                total("2026-01-02", 1000),
                total("2026-01-03", 0),
            ],
            by_model: vec![],
            totals: vec![Total {
                key: None,
                currency: "USD".to_owned(),
                amount_cents: 1500,
            }],
            groups: vec![],
        };
        let (bars, currency) = chart(&report);
        assert_eq!(currency, "USD");
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[1].height, 180);
        assert_eq!(bars[0].height, 90);
        assert_eq!(bars[2].height, 0);
        assert_eq!(bars[1].y + bars[1].height, 190);
        assert!(bars[0].x < bars[1].x && bars[1].x < bars[2].x);
        assert_eq!(bars[1].label, "2026-01-02: 10.00 USD");
    }

    #[test]
    fn money_shows_cents_and_sign() {
        assert_eq!(money(123_456, "EUR"), "1234.56 EUR");
        assert_eq!(money(-5, "USD"), "-0.05 USD");
    }
}
