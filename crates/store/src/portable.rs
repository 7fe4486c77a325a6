//! Moving data: an online backup of an SQLite store to one file, and copying every row of one
//! store into a freshly migrated, empty PostgreSQL store with ids preserved.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sqlx::{AnyConnection, Row};

use crate::connect::Backend;
use crate::{Result, Store, StoreError};

/// One table after a copy: rows read from the source and rows in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    pub table: String,
    pub source_rows: u64,
    pub target_rows: u64,
}

/// A column value as read from the source, whatever its SQL type.
enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Store {
    /// SQLite only: writes a consistent copy of the database to `path` while the store stays
    /// usable (`VACUUM INTO`). The file must not exist yet. Returns the revision the copy
    /// holds (read from the file: writers may have committed since the caller looked).
    pub async fn backup_to(&self, path: &Path) -> Result<u64> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Corrupt(
                "online backup is for SQLite stores; use pg_dump for PostgreSQL".into(),
            ));
        }
        let target = path.to_string_lossy().replace('\'', "''");
        sqlx::query(&format!("VACUUM INTO '{target}'"))
            .execute(&self.pool)
            .await?;
        let path = path.to_owned();
        let revision = tokio::task::spawn_blocking(move || {
            let file = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            file.query_row(
                "SELECT value FROM meta WHERE name = 'revision'",
                [],
                |row| row.get::<_, i64>(0),
            )
        })
        .await
        .map_err(|err| StoreError::Corrupt(format!("reading the backup: {err}")))??;
        Ok(u64::try_from(revision).unwrap_or_default())
    }

    /// How many rows each data table holds.
    pub async fn row_counts(&self) -> Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        for table in self.tables().await? {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&self.pool)
                .await?;
            counts.insert(table, u64::try_from(n).unwrap_or_default());
        }
        Ok(counts)
    }

    /// The data tables (not the migration bookkeeping), by name.
    async fn tables(&self) -> Result<Vec<String>> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name <> '_sqlx_migrations' ORDER BY table_name"
            }
        };
        Ok(sqlx::query_scalar(sql).fetch_all(&self.pool).await?)
    }

    /// Copies every row of this store into `target`, a migrated PostgreSQL store holding no
    /// accounts yet, in one transaction: tables in foreign-key order (parents first), rows in
    /// id order, ids preserved; then moves the identity sequences past the copied ids and
    /// checks every table's row count before committing. Returns the row counts of both sides
    /// per table.
    pub async fn copy_into(&self, target: &Store) -> Result<Vec<CopiedTable>> {
        if target.backend() != Backend::Postgres {
            return Err(StoreError::Corrupt(
                "the migration target must be a PostgreSQL store".into(),
            ));
        }
        let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&target.pool)
            .await?;
        if accounts > 0 {
            return Err(StoreError::Corrupt(
                "the target database already holds accounts; migrate into an empty database".into(),
            ));
        }
        let order = target.tables_in_dependency_order().await?;
        let source_tables: BTreeSet<String> = self.tables().await?.into_iter().collect();
        let mut tx = target.pool.begin().await?;
        // One long transaction that waits on the source between statements: the bounds that
        // protect serving sessions from a stuck peer do not apply to it.
        sqlx::query("SET LOCAL idle_in_transaction_session_timeout = 0")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await?;
        // Rows the migrations seeded (the revision counter, defaults) are replaced by the source's.
        for table in order.iter().rev() {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        let mut report = Vec::new();
        for table in &order {
            let source_rows = if source_tables.contains(table) {
                self.copy_table(table, &mut tx).await?
            } else {
                0
            };
            report.push((table.clone(), source_rows));
        }
        reset_identities(&mut tx).await?;
        // Verified before it becomes visible: a short copy rolls back and leaves the target
        // as empty as it was, never half-migrated.
        for (table, source_rows) in &report {
            let copied: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut *tx)
                .await?;
            if u64::try_from(copied).ok() != Some(*source_rows) {
                return Err(StoreError::Corrupt(format!(
                    "table `{table}`: {copied} rows copied of {source_rows}; nothing was migrated"
                )));
            }
        }
        tx.commit().await?;
        let counts = target.row_counts().await?;
        Ok(report
            .into_iter()
            .map(|(table, source_rows)| CopiedTable {
                target_rows: counts.get(&table).copied().unwrap_or_default(),
                table,
                source_rows,
            })
            .collect())
    }

    /// PostgreSQL: the data tables ordered so that every table comes after those it references.
    async fn tables_in_dependency_order(&self) -> Result<Vec<String>> {
        let tables = self.tables().await?;
        let edges: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE c.contype = 'f' AND n.nspname = current_schema()",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut parents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (child, parent) in &edges {
            if child != parent {
                parents.entry(child).or_default().insert(parent);
            }
        }
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < tables.len() {
            let before = order.len();
            for table in &tables {
                if done.contains(table.as_str()) {
                    continue;
                }
                let ready = parents
                    .get(table.as_str())
                    .is_none_or(|ps| ps.iter().all(|p| done.contains(p)));
                if ready {
                    done.insert(table);
                    order.push(table.clone());
                }
            }
            if order.len() == before {
                return Err(StoreError::Corrupt(
                    "foreign keys form a cycle between tables".into(),
                ));
            }
        }
        Ok(order)
    }

    /// Copies one table's rows (in rowid order, so self-references point backwards) into the
    /// target transaction; returns how many rows it read.
    async fn copy_table(&self, table: &str, target: &mut AnyConnection) -> Result<u64> {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *target)
        .await?;
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let select = format!("SELECT {} FROM {table} ORDER BY rowid", names.join(", "));
        let placeholders: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| match ty.as_str() {
                "bigint" | "text" => format!("${}", i + 1),
                _ => format!("CAST(${} AS {ty})", i + 1),
            })
            .collect();
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            placeholders.join(", ")
        );
        let rows = sqlx::query(&select).fetch_all(&self.pool).await?;
        for row in &rows {
            let mut query = sqlx::query(&insert);
            for (i, (_, ty)) in columns.iter().enumerate() {
                query = match read_value(row, i, ty) {
                    Value::Null => match ty.as_str() {
                        "bigint" | "integer" | "smallint" => query.bind(None::<i64>),
                        "boolean" => query.bind(None::<bool>),
                        "double precision" | "real" | "numeric" => query.bind(None::<f64>),
                        _ => query.bind(None::<String>),
                    },
                    // SQLite keeps flags as integers; a boolean column takes them as such.
                    Value::Int(v) if ty == "boolean" => query.bind(v != 0),
                    Value::Int(v) => query.bind(v),
                    Value::Float(v) => query.bind(v),
                    Value::Text(v) => query.bind(v),
                    Value::Bytes(v) => query.bind(v),
                };
            }
            query.execute(&mut *target).await.map_err(|err| {
                StoreError::Corrupt(format!("cannot copy a row of `{table}`: {err}"))
            })?;
        }
        Ok(rows.len() as u64)
    }
}

/// Reads column `i` as the target column's type wants it (SQLite's dynamic typing would let
/// a value pass as several).
fn read_value(row: &sqlx::any::AnyRow, i: usize, target_type: &str) -> Value {
    let value = match target_type {
        "bigint" | "integer" | "smallint" | "boolean" => row
            .try_get::<Option<i64>, _>(i)
            .map(|v| v.map_or(Value::Null, Value::Int)),
        "double precision" | "real" | "numeric" => row
            .try_get::<Option<f64>, _>(i)
            .map(|v| v.map_or(Value::Null, Value::Float)),
        "bytea" => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map(|v| v.map_or(Value::Null, Value::Bytes)),
        _ => row
            .try_get::<Option<String>, _>(i)
            .map(|v| v.map_or(Value::Null, Value::Text)),
    };
    value.unwrap_or_else(|_| {
        // A value stored with another type than declared: fall back on what it is.
        row.try_get::<Option<i64>, _>(i)
            .map(|v| v.map_or(Value::Null, Value::Int))
            .or_else(|_| {
                row.try_get::<Option<String>, _>(i)
                    .map(|v| v.map_or(Value::Null, Value::Text))
            })
            .unwrap_or(Value::Null)
    })
}

/// Moves every identity column's sequence past the largest copied id.
async fn reset_identities(tx: &mut AnyConnection) -> Result<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (table, column) in identities {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)::text"
        ))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
