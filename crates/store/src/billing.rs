//! Financial data: usage records ingested by the platform (idempotent by the client's record
//! id, unique per organization) and each organization's budget settings.
//!
//! Amounts are integer cents; days are `YYYY-MM-DD` text, which sorts as dates do. The store
//! sums per (day, category, model, currency) group; the service rolls groups up.

use portcullis_core::{OrgKey, Timestamp};

use crate::error::conflict_as;
use crate::rows::id_of;
use crate::{Result, Store, Write};

/// One usage record as the platform reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// The client's idempotency key.
    pub id: String,
    /// `prediction`, `training`, `compute`, `storage` or `search` (validated by the service).
    pub category: String,
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    pub model: Option<String>,
    /// `YYYY-MM-DD`.
    pub day: String,
}

/// The sum of the usage of one (day, category, model, currency) group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageGroup {
    pub day: String,
    pub category: String,
    pub model: Option<String>,
    pub currency: String,
    pub amount_cents: i64,
    pub records: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRecord {
    pub monthly_budget_cents: i64,
    pub currency: String,
    pub alert_threshold_percent: i64,
    pub modified_at: Timestamp,
}

/// Statement sizes stay far below every backend's bind-parameter limit.
const CHUNK: usize = 100;

type UsageRow = (String, String, i64, String, Option<String>, String);

impl Store {
    /// Usage of `org` from `from` to `to` (inclusive `YYYY-MM-DD`), summed per group, ordered
    /// by day, category, model and currency.
    pub async fn usage_groups(&self, org: OrgKey, from: &str, to: &str) -> Result<Vec<UsageGroup>> {
        // SUM over BIGINT is NUMERIC in PostgreSQL; the cast keeps one decodable type.
        let rows: Vec<(String, String, Option<String>, String, i64, i64)> = sqlx::query_as(
            "SELECT day, category, model, currency, CAST(SUM(amount_cents) AS BIGINT), \
             CAST(COUNT(*) AS BIGINT) FROM usage_records \
             WHERE org_id = $1 AND day >= $2 AND day <= $3 \
             GROUP BY day, category, model, currency ORDER BY day, category, model, currency",
        )
        .bind(id_of(org.0))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(day, category, model, currency, amount_cents, records)| UsageGroup {
                    day,
                    category,
                    model,
                    currency,
                    amount_cents,
                    records,
                },
            )
            .collect())
    }

    pub async fn budget(&self, org: OrgKey) -> Result<Option<BudgetRecord>> {
        let row: Option<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT monthly_budget_cents, currency, alert_threshold_percent, modified_at \
             FROM budgets WHERE org_id = $1",
        )
        .bind(id_of(org.0))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(monthly_budget_cents, currency, alert_threshold_percent, modified_at)| BudgetRecord {
                monthly_budget_cents,
                currency,
                alert_threshold_percent,
                modified_at,
            },
        ))
    }
}

impl Write {
    /// The already stored records of `org` among `ids`.
    pub async fn usage_records(&mut self, org: OrgKey, ids: &[&str]) -> Result<Vec<UsageRecord>> {
        let mut found = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let placeholders = (0..chunk.len())
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT record_id, category, amount_cents, currency, model, day FROM usage_records \
                 WHERE org_id = $1 AND record_id IN ({placeholders})"
            );
            let mut query = sqlx::query_as::<_, UsageRow>(&sql).bind(id_of(org.0));
            for id in chunk {
                query = query.bind(*id);
            }
            let rows = query.fetch_all(self.conn()).await?;
            found.extend(rows.into_iter().map(
                |(id, category, amount_cents, currency, model, day)| UsageRecord {
                    id,
                    category,
                    amount_cents,
                    currency,
                    model,
                    day,
                },
            ));
        }
        Ok(found)
    }

    /// Inserts new records (the caller filtered out the ones already stored).
    pub async fn insert_usage(&mut self, org: OrgKey, records: &[&UsageRecord]) -> Result<()> {
        let now = self.now();
        for chunk in records.chunks(CHUNK) {
            let values = (0..chunk.len())
                .map(|i| {
                    let b = i * 7 + 2;
                    format!(
                        "($1, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b,
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO usage_records (org_id, record_id, category, amount_cents, currency, model, day, \
                 created_at) VALUES {values}"
            );
            let mut query = sqlx::query(&sql).bind(id_of(org.0));
            for record in chunk {
                query = query
                    .bind(record.id.as_str())
                    .bind(record.category.as_str())
                    .bind(record.amount_cents)
                    .bind(record.currency.as_str())
                    .bind(record.model.as_deref())
                    .bind(record.day.as_str())
                    .bind(now);
            }
            query
                .execute(self.conn())
                .await
                .map_err(conflict_as("usage record"))?;
        }
        Ok(())
    }

    /// Removes the budget; returns the settings before (if any).
    pub async fn clear_budget(&mut self, org: OrgKey) -> Result<Option<BudgetRecord>> {
        let before: Option<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT monthly_budget_cents, currency, alert_threshold_percent, modified_at \
             FROM budgets WHERE org_id = $1",
        )
        .bind(id_of(org.0))
        .fetch_optional(self.conn())
        .await?;
        sqlx::query("DELETE FROM budgets WHERE org_id = $1")
            .bind(id_of(org.0))
            .execute(self.conn())
            .await?;
        Ok(before.map(
            |(monthly_budget_cents, currency, alert_threshold_percent, modified_at)| BudgetRecord {
                monthly_budget_cents,
                currency,
                alert_threshold_percent,
                modified_at,
            },
        ))
    }

    /// Sets the budget; returns the settings before (if any).
    pub async fn set_budget(
        &mut self,
        org: OrgKey,
        monthly_budget_cents: i64,
        currency: &str,
        alert_threshold_percent: i64,
    ) -> Result<Option<BudgetRecord>> {
        let before: Option<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT monthly_budget_cents, currency, alert_threshold_percent, modified_at \
             FROM budgets WHERE org_id = $1",
        )
        .bind(id_of(org.0))
        .fetch_optional(self.conn())
        .await?;
        let now = self.now();
        sqlx::query(
            "INSERT INTO budgets (org_id, monthly_budget_cents, currency, alert_threshold_percent, modified_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id) DO UPDATE SET \
             monthly_budget_cents = excluded.monthly_budget_cents, currency = excluded.currency, \
             alert_threshold_percent = excluded.alert_threshold_percent, modified_at = excluded.modified_at",
        )
        .bind(id_of(org.0))
        .bind(monthly_budget_cents)
        .bind(currency)
        .bind(alert_threshold_percent)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(before.map(
            |(monthly_budget_cents, currency, alert_threshold_percent, modified_at)| BudgetRecord {
                monthly_budget_cents,
                currency,
                alert_threshold_percent,
                modified_at,
            },
        ))
    }
}
