//! Set-based bulk insert of the data set: a recursive CTE on SQLite, `generate_series` on
//! PostgreSQL, the same integer formulas as [`crate::data`] written in SQL.

use sqlx::{AnyConnection, Connection, Executor};

use crate::data::{Shape, TEAM_APP_STRIDE, hash_sql, role_sql, salt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of(url: &str) -> Self {
        if url.starts_with("postgres") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    /// `SELECT <cols> FROM` a sequence `x` in `0..n`.
    fn seq(self, n: i64) -> String {
        match self {
            Dialect::Sqlite => format!(
                "WITH RECURSIVE seq(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM seq WHERE x < {}) ",
                n - 1
            ),
            Dialect::Postgres => String::new(),
        }
    }

    fn from(self, n: i64) -> String {
        match self {
            Dialect::Sqlite => "FROM seq".to_owned(),
            Dialect::Postgres => {
                format!(
                    "FROM generate_series(0::bigint, {}::bigint) AS seq(x)",
                    n - 1
                )
            }
        }
    }
}

fn insert(d: Dialect, table: &str, n: i64, select: &str, filter: &str) -> String {
    format!(
        "{}INSERT INTO {table} SELECT {select} {} {filter}",
        d.seq(n),
        d.from(n)
    )
    .replace("INSERT INTO", "INSERT INTO")
}

/// The statements that fill an empty, migrated store with `shape`.
pub fn statements(d: Dialect, shape: &Shape) -> Vec<String> {
    let now = 1_700_000_000_000i64;
    let seed = shape.seed;
    let (orgs, mpo, apo, ts, apt) = (
        shape.orgs,
        shape.members_per_org,
        shape.apps_per_org,
        shape.team_size,
        shape.apps_per_team,
    );
    let tpo = shape.teams_per_org();
    let h = |x: &str, s: i64| hash_sql(seed, x, s);
    let mut out = Vec::new();
    // Row insertion order of `insert` is the positional column order of each table.
    out.push(insert(
        d,
        "accounts (id, handle, handle_key, kind, created_at, modified_at)",
        orgs,
        &format!("x + 1, 'org' || x, 'org' || x, 'org', {now}, {now}"),
        "",
    ));
    out.push(insert(
        d,
        "orgs (account_id, name, billing_email)",
        orgs,
        "x + 1, 'Org ' || x, 'billing@org' || x || '.test'",
        "",
    ));
    let members = shape.members();
    out.push(insert(
        d,
        "accounts (id, handle, handle_key, kind, created_at, modified_at)",
        members,
        &format!("{orgs} + x + 1, 'u' || x, 'u' || x, 'user', {now}, {now}"),
        "",
    ));
    out.push(insert(
        d,
        "users (account_id, email, email_key, first_name, last_name, password_hash, state, is_operator)",
        members,
        &format!("{orgs} + x + 1, 'u' || x || '@bench.test', 'u' || x || '@bench.test', 'U', 'Ser', NULL, 'active', 0"),
        "",
    ));
    out.push(insert(
        d,
        "memberships (org_id, user_id, role, created_at)",
        members,
        &format!(
            "x / {mpo} + 1, {orgs} + x + 1, {}, {now}",
            role_sql(
                &format!("(x % {mpo})"),
                &format!("({} % 100)", h("x", salt::ROLE))
            )
        ),
        "",
    ));
    let teams = shape.teams();
    out.push(insert(
        d,
        "teams (id, org_id, handle, handle_key, name, default_role, created_at, modified_at)",
        teams,
        &format!(
            "x + 1, x / {tpo} + 1, 'team' || (x % {tpo}), 'team' || (x % {tpo}), 'Team ' || x, 'labeler_worker', {now}, {now}"
        ),
        "",
    ));
    out.push(insert(
        d,
        "team_members (team_id, user_id, created_at)",
        members,
        &format!("(x / {mpo}) * {tpo} + (x % {mpo}) / {ts} + 1, {orgs} + x + 1, {now}"),
        "",
    ));
    if tpo >= 2 {
        out.push(insert(
            d,
            "team_members (team_id, user_id, created_at)",
            members,
            &format!(
                "(x / {mpo}) * {tpo} + ((x % {mpo}) / {ts} + 1 + {} % {}) % {tpo} + 1, {orgs} + x + 1, {now}",
                h("x", salt::SECOND_TEAM_WHICH),
                tpo - 1
            ),
            &format!("WHERE {} % 100 < 5", h("x", salt::SECOND_TEAM)),
        ));
    }
    let apps = shape.apps();
    out.push(insert(
        d,
        "apps (id, owner_id, handle, handle_key, name, description, notes, visibility, base_workflow, created_at, modified_at)",
        apps,
        &format!(
            "x + 1, x / {apo} + 1, 'app' || (x % {apo}), 'app' || (x % {apo}), 'App ' || x, '', '', \
             CASE {v} % 10 WHEN 0 THEN 'public' WHEN 1 THEN 'org' WHEN 2 THEN 'org' ELSE 'private' END, \
             NULL, {now}, {now}",
            v = h("x", salt::VISIBILITY)
        ),
        "",
    ));
    let t = format!("(x / {apt})");
    let i = format!("(x % {apt})");
    out.push(insert(
        d,
        "team_apps (team_id, app_id, role, created_at)",
        teams * apt,
        &format!(
            "{t} + 1, ({t} / {tpo}) * {apo} + ({base} % {apo} + {TEAM_APP_STRIDE} * {i}) % {apo} + 1, \
             CASE {r} % 4 WHEN 0 THEN 'full_access' WHEN 1 THEN 'model_trainer' WHEN 2 THEN 'labeler_lead' ELSE 'labeler_worker' END, {now}",
            base = h(&t, salt::TEAM_APP_BASE),
            r = h(&format!("({t} * 16 + {i})"), salt::TEAM_APP_ROLE),
        ),
        "",
    ));
    let sets = crate::data::COLLAB_SETS;
    out.push(insert(
        d,
        "collaborators (app_id, user_id, permissions, created_at)",
        apps,
        &format!(
            "x + 1, {orgs} + ({hi} * 32768 + {lo}) % {members} + 1, \
             CASE {set} % 3 WHEN 0 THEN '{}' WHEN 1 THEN '{}' ELSE '{}' END, {now}",
            sets[0],
            sets[1],
            sets[2],
            hi = h("x", salt::COLLAB_USER_HI),
            lo = h("x", salt::COLLAB_USER_LO),
            set = h("x", salt::COLLAB_SET),
        ),
        &format!("WHERE {} % 10 = 0", h("x", salt::COLLAB)),
    ));
    out.push("UPDATE meta SET value = 1 WHERE name = 'revision'".to_owned());
    if d == Dialect::Postgres {
        for table in ["accounts", "teams", "apps"] {
            out.push(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            ));
        }
        out.push("ANALYZE".to_owned());
    }
    out
}

/// Fills the (migrated, empty) store at `url` with `shape`.
pub async fn fill(url: &str, shape: &Shape) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let d = Dialect::of(url);
    let mut conn = AnyConnection::connect(url).await?;
    if d == Dialect::Sqlite {
        conn.execute("PRAGMA synchronous = OFF").await?;
    }
    let mut tx = conn.begin().await?;
    for statement in statements(d, shape) {
        tx.execute(statement.as_str()).await?;
    }
    tx.commit().await?;
    if d == Dialect::Sqlite {
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    }
    conn.close().await?;
    Ok(())
}
