//! Costs: the report by category and day with a server-rendered SVG chart, CSV download, and
//! the budget (set or clear).
//!
//! Controls the caller may not use are disabled with the permission they need; every change
//! goes through the service, which checks `billing.manage` itself.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::ServiceError;
use portcullis_service::billing::{BudgetInput, BudgetStatus, CostsReport, format_day};
use serde::Deserialize;
use serde_json::Value;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn};
use crate::view::{Nav, after_post, page_error, render};

#[derive(Deserialize)]
pub struct BudgetForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    alert_threshold_percent: String,
}

/// `12`, `12.5` or `12.34` (in the currency's units) as whole cents; anything else is passed
/// on as text for the service to refuse by name.
fn cents(raw: &str) -> Value {
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(whole) && (frac.is_empty() || (digits(frac) && frac.len() <= 2)) {
        let frac = format!("{frac:0<2}");
        if let (Ok(w), Ok(f)) = (whole.parse::<i64>(), frac.parse::<i64>())
            && let Some(total) = w.checked_mul(100).and_then(|c| c.checked_add(f))
        {
            return Value::from(total);
        }
    }
    Value::from(raw.to_owned())
}

pub async fn set_budget(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<BudgetForm>,
) -> Response {
    let f = posted.form;
    let threshold = f.alert_threshold_percent.trim();
    let input = BudgetInput {
        monthly_budget_cents: cents(&f.amount),
        currency: f.currency.trim().to_uppercase(),
        alert_threshold_percent: threshold
            .parse::<i64>()
            .map_or_else(|_| Value::from(threshold.to_owned()), Value::from),
    };
    let result = service
        .set_budget(&posted.viewer.caller, &account, input)
        .await;
    after_post(result, &format!("/a/{account}/billing"), "budget saved")
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn clear_budget(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let result = service.clear_budget(&posted.viewer.caller, &account).await;
    after_post(result, &format!("/a/{account}/billing"), "budget cleared")
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
    fn record(&self) -> Option<&portcullis_service::store::BudgetRecord> {
        self.budget.as_ref().and_then(|b| b.budget.as_ref())
    }
    fn has_budget(&self) -> bool {
        self.record().is_some()
    }
    fn budget_amount(&self) -> String {
        self.record().map_or(String::new(), |b| {
            format!(
                "{}.{:02}",
                b.monthly_budget_cents / 100,
                b.monthly_budget_cents % 100
            )
        })
    }
    fn budget_currency(&self) -> String {
        self.record()
            .map_or_else(|| "USD".to_owned(), |b| b.currency.clone())
    }
    fn budget_alert(&self) -> i64 {
        self.record().map_or(80, |b| b.alert_threshold_percent)
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
    // The same bytes as the API's `format=csv`.
    let mut response = portcullis_service::billing::costs_csv(&report).into_response();
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

    use super::{cents, chart, money};

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
    fn budget_amounts_become_whole_cents_or_stay_text() {
        assert_eq!(cents("12"), serde_json::json!(1200));
        assert_eq!(cents("12.5"), serde_json::json!(1250));
        assert_eq!(cents(" 0.07 "), serde_json::json!(7));
        assert_eq!(cents("12.345"), serde_json::json!("12.345"));
        assert_eq!(cents("-3"), serde_json::json!("-3"));
    }

    #[test]
    fn money_shows_cents_and_sign() {
        assert_eq!(money(123_456, "EUR"), "1234.56 EUR");
        assert_eq!(money(-5, "USD"), "-0.05 USD");
    }
}
