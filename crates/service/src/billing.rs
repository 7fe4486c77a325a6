//! Financial data: usage ingested by the platform (`usage.write`: administrators and platform
//! service keys), the costs report (`billing.view`) and the monthly budget (`billing.view` to
//! read, `billing.manage` to change).
//!
//! Ingestion is all or nothing and idempotent by the client's record id: a record already
//! stored with the same content is skipped, one stored with other content refuses the whole
//! batch (`usage.conflict`). Amounts are integer cents, 0 to 10^12; anything else (negative,
//! fractional, larger, not a number) is refused with `usage.invalid_amount`.

use std::collections::{BTreeMap, HashMap, HashSet};

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{OrgKey, Permission, Timestamp};
use portcullis_store::{AuditRecord, BudgetRecord, UsageGroup, UsageRecord};
use serde_json::{Value, json};
use time::format_description::BorrowedFormatItem;
use time::macros::{date, format_description};
use time::{Date, Duration};

use crate::csv_export::csv_text;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

pub const MAX_USAGE_RECORDS: usize = 1000;
pub const MAX_AMOUNT_CENTS: i64 = 1_000_000_000_000;
pub const MAX_RECORD_ID_CHARS: usize = 128;
pub const MAX_MODEL_REF_CHARS: usize = 200;
/// The longest costs report, in days (inclusive range).
pub const MAX_REPORT_DAYS: i64 = 366;
pub const CATEGORIES: [&str; 5] = ["prediction", "training", "compute", "storage", "search"];

/// One usage record as received; `amount_cents` is raw JSON so that a fraction, a string or
/// an out-of-range number is a clear validation error rather than a parse failure.
#[derive(Debug, Clone)]
pub struct UsageInput {
    pub id: String,
    pub category: String,
    pub amount_cents: Value,
    pub currency: String,
    pub model: Option<String>,
    pub day: String,
}

/// The outcome of an ingestion: how many records were new and how many already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub inserted: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone)]
pub struct BudgetInput {
    pub monthly_budget_cents: Value,
    pub currency: String,
    pub alert_threshold_percent: Value,
}

/// An amount per key and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Total {
    pub key: Option<String>,
    pub currency: String,
    pub amount_cents: i64,
}

#[derive(Debug, Clone)]
pub struct CostsReport {
    pub org: String,
    pub from: String,
    pub to: String,
    pub by_category: Vec<Total>,
    pub by_day: Vec<Total>,
    pub by_model: Vec<Total>,
    /// Grand total per currency (`key` is `None`).
    pub totals: Vec<Total>,
    /// The detail every total is summed from, for CSV export.
    pub groups: Vec<UsageGroup>,
}

#[derive(Debug, Clone)]
pub struct BudgetStatus {
    pub budget: Option<BudgetRecord>,
    /// `YYYY-MM`, the current month (UTC).
    pub month: String,
    /// Spend this month per currency.
    pub spend: Vec<Total>,
    /// Spend this month in the budget's currency.
    pub spent_cents: i64,
    /// Whole percent of the budget spent (`None` without a budget or with a zero budget).
    pub percent_used: Option<i64>,
    /// Whether spend reached the alert threshold.
    pub alert: bool,
}

impl Portcullis {
    /// Stores a batch of usage records (1–1000), all or nothing.
    pub async fn ingest_usage(
        &self,
        caller: &Caller,
        org_id: &str,
        records: Vec<UsageInput>,
    ) -> Result<Committed<Ingested>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::UsageIngest,
            caller,
            Permission::UsageWrite,
            org_resource(org),
            "organization",
        )
        .await?;
        if records.is_empty() || records.len() > MAX_USAGE_RECORDS {
            return Err(ServiceError::invalid(
                "usage.invalid_batch",
                "records",
                format!("send 1 to {MAX_USAGE_RECORDS} records"),
            ));
        }
        let mut parsed = Vec::with_capacity(records.len());
        let mut seen = HashSet::with_capacity(records.len());
        for (i, input) in records.iter().enumerate() {
            let record = usage_record(i, input)?;
            if !seen.insert(record.id.clone()) {
                return Err(ServiceError::invalid(
                    "usage.duplicate_id",
                    "id",
                    format!(
                        "`records[{i}].id` `{}` appears more than once in the batch",
                        record.id
                    ),
                ));
            }
            parsed.push(record);
        }
        let org_name = org_handle(self, org);
        self.commit(caller, async |w| {
            let ids: Vec<&str> = parsed.iter().map(|r| r.id.as_str()).collect();
            let stored: HashMap<String, UsageRecord> = w
                .usage_records(org, &ids)
                .await?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            let mut fresh = Vec::new();
            for record in &parsed {
                match stored.get(&record.id) {
                    None => fresh.push(record),
                    Some(existing) if existing == record => {}
                    Some(_) => {
                        return Err(ServiceError::state(
                            "usage.conflict",
                            format!(
                                "usage record `{}` was already stored with different content; \
                                 nothing in this batch was stored",
                                record.id
                            ),
                        ));
                    }
                }
            }
            let outcome = Ingested {
                inserted: fresh.len(),
                unchanged: parsed.len() - fresh.len(),
            };
            if !fresh.is_empty() {
                w.insert_usage(org, &fresh).await?;
                let mut sums: BTreeMap<&str, i128> = BTreeMap::new();
                for r in &fresh {
                    *sums.entry(r.currency.as_str()).or_default() += i128::from(r.amount_cents);
                }
                w.audit(
                    AuditRecord::new(Some(org), Operation::UsageIngest, json!({"org": org_name}))
                        .with_details(json!({
                            "inserted": outcome.inserted,
                            "unchanged": outcome.unchanged,
                            "records": fresh.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                            "amount_cents": sums.iter().map(|(c, a)| (c.to_string(), json!(clamp(*a)))).collect::<serde_json::Map<_, _>>(),
                        })),
                );
            }
            Ok((outcome, vec![]))
        })
        .await
    }

    /// Costs of `org` from `from` to `to` (inclusive days, at most 366).
    pub async fn costs(
        &self,
        caller: &Caller,
        org_id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<CostsReport> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::BillingView,
            org_resource(org),
            "organization",
        )?;
        // Without `to`, the report ends today (UTC); without `from`, it starts on the first
        // day of `to`'s month.
        let to_day = match to {
            Some(raw) => {
                parse_date(raw).ok_or_else(|| bad_day("costs.invalid_range", "to", raw))?
            }
            None => today(self.now())?,
        };
        let from_day = match from {
            Some(raw) => {
                parse_date(raw).ok_or_else(|| bad_day("costs.invalid_range", "from", raw))?
            }
            None => first_of_month(to_day),
        };
        let (from_raw, to_raw) = (format_date(from_day), format_date(to_day));
        let (from_raw, to_raw) = (from_raw.as_str(), to_raw.as_str());
        if from_day > to_day {
            return Err(ServiceError::invalid(
                "costs.invalid_range",
                "from",
                "`from` must not be after `to`",
            ));
        }
        if (to_day - from_day).whole_days() + 1 > MAX_REPORT_DAYS {
            return Err(ServiceError::invalid(
                "costs.invalid_range",
                "to",
                format!("a report covers at most {MAX_REPORT_DAYS} days"),
            ));
        }
        let groups = self.store().usage_groups(org, from_raw, to_raw).await?;
        Ok(CostsReport {
            org: org_handle(self, org),
            from: from_raw.to_owned(),
            to: to_raw.to_owned(),
            by_category: roll_up(&groups, |g| Some(g.category.clone())),
            by_day: roll_up(&groups, |g| Some(g.day.clone())),
            by_model: roll_up(&groups, |g| g.model.clone()),
            totals: roll_up(&groups, |_| None),
            groups,
        })
    }

    /// The budget and this month's spend (`billing.view`).
    pub async fn budget(&self, caller: &Caller, org_id: &str) -> Result<BudgetStatus> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::BillingView,
            org_resource(org),
            "organization",
        )?;
        let budget = self.store().budget(org).await?;
        let first = first_of_month(today(self.now())?);
        let month = first
            .format(MONTH)
            .map_err(|e| ServiceError::Internal(e.into()))?;
        let groups = self
            .store()
            .usage_groups(org, &format_date(first), &format_date(last_of_month(first)))
            .await?;
        let spend = roll_up(&groups, |_| None);
        let spent_cents = budget
            .as_ref()
            .and_then(|b| spend.iter().find(|t| t.currency == b.currency))
            .map_or(0, |t| t.amount_cents);
        let percent_used = budget
            .as_ref()
            .filter(|b| b.monthly_budget_cents > 0)
            .map(|b| clamp(i128::from(spent_cents) * 100 / i128::from(b.monthly_budget_cents)));
        let alert = budget.as_ref().is_some_and(|b| {
            i128::from(spent_cents) * 100
                >= i128::from(b.monthly_budget_cents) * i128::from(b.alert_threshold_percent)
        });
        Ok(BudgetStatus {
            budget,
            month,
            spend,
            spent_cents,
            percent_used,
            alert,
        })
    }

    /// Sets the monthly budget (`billing.manage`).
    pub async fn set_budget(
        &self,
        caller: &Caller,
        org_id: &str,
        input: BudgetInput,
    ) -> Result<Committed<BudgetRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::BudgetUpdate,
            caller,
            Permission::BillingManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let amount = whole_number(&input.monthly_budget_cents)
            .filter(|a| (0..=MAX_AMOUNT_CENTS).contains(a))
            .ok_or_else(|| {
                ServiceError::invalid(
                    "budget.invalid_amount",
                    "monthly_budget_cents",
                    format!(
                        "`monthly_budget_cents` must be a whole number from 0 to {MAX_AMOUNT_CENTS}"
                    ),
                )
            })?;
        let currency = currency("currency", &input.currency)?;
        let threshold = whole_number(&input.alert_threshold_percent)
            .filter(|t| (1..=100).contains(t))
            .ok_or_else(|| {
                ServiceError::invalid(
                    "budget.invalid_threshold",
                    "alert_threshold_percent",
                    "`alert_threshold_percent` must be a whole number from 1 to 100",
                )
            })?;
        let org_name = org_handle(self, org);
        let now = self.now();
        self.commit(caller, async |w| {
            let before = w.set_budget(org, amount, &currency, threshold).await?;
            let after = BudgetRecord {
                monthly_budget_cents: amount,
                currency: currency.clone(),
                alert_threshold_percent: threshold,
                modified_at: now,
            };
            w.audit(
                AuditRecord::new(Some(org), Operation::BudgetUpdate, json!({"org": org_name}))
                    .with_details(json!({
                        "before": before.as_ref().map(budget_json),
                        "after": budget_json(&after),
                    })),
            );
            Ok((after, vec![]))
        })
        .await
    }

    /// Removes the monthly budget (`billing.manage`); clearing an absent budget is harmless.
    pub async fn clear_budget(&self, caller: &Caller, org_id: &str) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::BudgetUpdate,
            caller,
            Permission::BillingManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let org_name = org_handle(self, org);
        self.commit(caller, async |w| {
            let before = w.clear_budget(org).await?;
            w.audit(
                AuditRecord::new(Some(org), Operation::BudgetUpdate, json!({"org": org_name}))
                    .with_details(json!({
                        "before": before.as_ref().map(budget_json),
                        "after": null,
                    })),
            );
            Ok(((), vec![]))
        })
        .await
    }
}

/// The costs report's detail as CSV, one row per day, category, model and currency: the one
/// rendering the API and the console download.
pub fn costs_csv(report: &CostsReport) -> String {
    let header = [
        "day",
        "category",
        "model",
        "currency",
        "amount_cents",
        "records",
    ];
    let rows = report.groups.iter().map(|g| {
        [
            g.day.clone(),
            g.category.clone(),
            g.model.clone().unwrap_or_default(),
            g.currency.clone(),
            g.amount_cents.to_string(),
            g.records.to_string(),
        ]
    });
    csv_text(std::iter::once(header.map(str::to_owned)).chain(rows))
}

fn budget_json(b: &BudgetRecord) -> Value {
    json!({
        "monthly_budget_cents": b.monthly_budget_cents,
        "currency": b.currency,
        "alert_threshold_percent": b.alert_threshold_percent,
    })
}

fn org_resource(org: OrgKey) -> Resource {
    Resource::Account(Account::Org(org))
}

fn org_handle(service: &Portcullis, org: OrgKey) -> String {
    service
        .with_index(|index| index.org(org).map(|o| o.id.to_string()))
        .unwrap_or_default()
}

fn clamp(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// Sums groups per (key, currency), ordered by key then currency.
fn roll_up(groups: &[UsageGroup], key: impl Fn(&UsageGroup) -> Option<String>) -> Vec<Total> {
    let mut sums: BTreeMap<(Option<String>, String), i128> = BTreeMap::new();
    for g in groups {
        *sums.entry((key(g), g.currency.clone())).or_default() += i128::from(g.amount_cents);
    }
    sums.into_iter()
        .map(|((key, currency), amount)| Total {
            key,
            currency,
            amount_cents: clamp(amount),
        })
        .collect()
}

/// A JSON integer as i64; fractions, strings and numbers beyond i64 are `None`.
fn whole_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn usage_record(i: usize, input: &UsageInput) -> Result<UsageRecord> {
    let id_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if input.id.is_empty()
        || input.id.chars().count() > MAX_RECORD_ID_CHARS
        || !input.id.chars().all(id_ok)
    {
        return Err(ServiceError::invalid(
            "usage.invalid_id",
            "id",
            format!(
                "`records[{i}].id` must be 1 to {MAX_RECORD_ID_CHARS} letters, digits, `.`, `_`, `-` or `:`"
            ),
        ));
    }
    if !CATEGORIES.contains(&input.category.as_str()) {
        return Err(ServiceError::invalid(
            "usage.invalid_category",
            "category",
            format!(
                "`records[{i}].category` must be one of {}",
                CATEGORIES.join(", ")
            ),
        ));
    }
    let amount_cents = whole_number(&input.amount_cents)
        .filter(|a| (0..=MAX_AMOUNT_CENTS).contains(a))
        .ok_or_else(|| {
            ServiceError::invalid(
                "usage.invalid_amount",
                "amount_cents",
                format!(
                    "`records[{i}].amount_cents` must be a whole number of cents from 0 to {MAX_AMOUNT_CENTS}"
                ),
            )
        })?;
    let currency = currency("currency", &input.currency).map_err(|_| {
        ServiceError::invalid(
            "usage.invalid_currency",
            "currency",
            format!("`records[{i}].currency` must be an ISO 4217 code such as USD"),
        )
    })?;
    let model = match &input.model {
        None => None,
        Some(m) => {
            if m.is_empty()
                || m.chars().count() > MAX_MODEL_REF_CHARS
                || m.chars().any(char::is_control)
            {
                return Err(ServiceError::invalid(
                    "usage.invalid_model",
                    "model",
                    format!(
                        "`records[{i}].model` must be 1 to {MAX_MODEL_REF_CHARS} characters without control characters"
                    ),
                ));
            }
            Some(m.clone())
        }
    };
    if parse_day(&input.day).is_none() {
        return Err(bad_day("usage.invalid_day", "day", &input.day));
    }
    Ok(UsageRecord {
        id: input.id.clone(),
        category: input.category.clone(),
        amount_cents,
        currency,
        model,
        day: input.day.clone(),
    })
}

fn currency(field: &'static str, raw: &str) -> Result<String> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err(ServiceError::invalid(
            "budget.invalid_currency",
            field,
            format!("`{field}` must be an ISO 4217 code such as USD"),
        ))
    }
}

fn bad_day(code: &'static str, field: &'static str, raw: &str) -> ServiceError {
    let shown: String = raw.chars().take(32).collect();
    ServiceError::invalid(
        code,
        field,
        format!("`{shown}` is not a date in the form YYYY-MM-DD"),
    )
}

/// Days since 1970-01-01 of a strict `YYYY-MM-DD` date (years 1970–9999).
pub fn parse_day(raw: &str) -> Option<i64> {
    parse_date(raw).map(|date| (date - EPOCH).whole_days())
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (empty outside the calendar `time` knows).
pub fn format_day(days: i64) -> String {
    EPOCH
        .checked_add(Duration::days(days))
        .map(format_date)
        .unwrap_or_default()
}

/// How every day is written: in usage records, report ranges and the store's `day` column.
const DAY: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");
const MONTH: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]");
const EPOCH: Date = date!(1970 - 01 - 01);

fn parse_date(raw: &str) -> Option<Date> {
    // The length keeps out a signed year, which `[year]` would accept.
    Date::parse(raw, DAY)
        .ok()
        .filter(|date| raw.len() == 10 && date.year() >= 1970)
}

fn format_date(date: Date) -> String {
    date.format(DAY).unwrap_or_default()
}

/// The UTC day of `now`.
fn today(now: Timestamp) -> Result<Date> {
    EPOCH
        .checked_add(Duration::days(now.div_euclid(86_400_000)))
        .ok_or_else(|| ServiceError::Internal("the clock is outside the calendar".into()))
}

fn first_of_month(date: Date) -> Date {
    date - Duration::days(i64::from(date.day()) - 1)
}

fn last_of_month(date: Date) -> Date {
    first_of_month(date) + Duration::days(i64::from(date.month().length(date.year())) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(
            parse_day("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2024-13-01"), None);
        assert_eq!(parse_day("2024-1-01"), None);
        assert_eq!(parse_day("+024-01-01"), None);
        for z in [0, 59, 365, 11_016, 20_000, 2_932_896] {
            assert_eq!(parse_day(&format_day(z)), Some(z));
        }
        for (day, first, last) in [
            ("2024-02-10", "2024-02-01", "2024-02-29"),
            ("2023-02-28", "2023-02-01", "2023-02-28"),
            ("2024-12-31", "2024-12-01", "2024-12-31"),
            ("2100-02-01", "2100-02-01", "2100-02-28"),
        ] {
            let date = parse_date(day).unwrap_or(EPOCH);
            assert_eq!(
                (
                    format_date(first_of_month(date)),
                    format_date(last_of_month(date))
                ),
                (first.to_owned(), last.to_owned()),
                "{day}"
            );
        }
        let now = parse_day("2024-02-10").unwrap_or_default() * 86_400_000 + 3_600_000;
        assert_eq!(
            today(now).ok().map(format_date).as_deref(),
            Some("2024-02-10")
        );
        assert_eq!(format_day(-1), "1969-12-31");
    }

    #[test]
    fn amounts_are_whole_bounded_numbers() {
        let record = |amount: Value| UsageInput {
            id: "r1".into(),
            category: "prediction".into(),
            amount_cents: amount,
            currency: "USD".into(),
            model: None,
            day: "2024-01-01".into(),
        };
        assert!(usage_record(0, &record(json!(0))).is_ok());
        assert!(usage_record(0, &record(json!(MAX_AMOUNT_CENTS))).is_ok());
        for bad in [
            json!(-1),
            json!(1.5),
            json!(100.0),
            json!(MAX_AMOUNT_CENTS + 1),
            json!(u64::MAX),
            json!("5"),
            json!(null),
        ] {
            assert!(
                matches!(
                    usage_record(0, &record(bad.clone())),
                    Err(ServiceError::Invalid {
                        code: "usage.invalid_amount",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
